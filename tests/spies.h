/* Spies used by the tests: one that counts every hook, and one that adds a header and a
 * canary trailer to each block and checks every pointer adjustment. */
#ifndef TEST_SPIES_H
#define TEST_SPIES_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mallocspy.h"

enum {
    H_PRE_ALLOC, H_POST_ALLOC, H_PRE_FREE, H_POST_FREE, H_PRE_REALLOC, H_POST_REALLOC,
    H_PRE_GET_SIZE, H_POST_GET_SIZE, H_PRE_DID_ALLOC, H_POST_DID_ALLOC,
    H_PRE_HEAP_MINIMIZE, H_POST_HEAP_MINIMIZE, H_RELEASE, H_COUNT
};

/* Counts every hook; remembers the last arguments; optionally records a trace of the
 * order in which the spies of a test were called (shared `trace`). */
struct counting_spy {
    ms_spy base;
    atomic_long calls[H_COUNT];
    atomic_long spied_true[H_COUNT];
    atomic_bool armed;           /* counts only while set: Check itself allocates in every
                                    assertion, so tests arm the spy around what they test */
    char name;                   /* letter written into the trace */
    char *trace;                 /* optional: hooks append "<name><hook letter>" */
    atomic_size_t *trace_len;
    size_t trace_cap;
    /* last arguments */
    size_t last_request;
    void *last_actual;
    void *last_free;
    bool last_spied;
    /* make pre_alloc fail (return 0) for requests of this size; 0: never */
    size_t fail_size;
    /* allocate inside every hook (tests that allocations there bypass spies) */
    bool alloc_in_hooks;
    /* a pointer the test watches for: set when post_alloc returns it */
    atomic_long matched;
    const void *watch;
};
void counting_spy_init(struct counting_spy *s, char name);
extern const ms_spy_ops counting_ops;

/* Adds a header of max(16, alignment) bytes and an 8-byte canary trailer; checks both on
 * every free, realloc and query, and counts what it finds wrong. */
struct header_spy {
    ms_spy base;
    atomic_long blocks;          /* live blocks with our header */
    atomic_long errors;          /* canary or magic found damaged, or bad adjustment */
    atomic_long allocs, frees, reallocs, sizes, dids;
    atomic_long released;
};
void header_spy_init(struct header_spy *s);
extern const ms_spy_ops header_ops;
#define HEADER_MAGIC 0x5350594855414431ull
#define CANARY 0xC0FFEE11DEADBEEFull

#endif
