/* Sites: what the blocks allocated at one place in one way share (their allocation
 * stack, the spies that saw them, the kind of call, the heap, the debug tag, the bytes the
 * spies added).  A block points to its site with 32 bits, so that its header stays at 16
 * bytes; a site is never freed, so a pointer to one stays good. */
#ifndef MS_SITES_H
#define MS_SITES_H

#include <stdatomic.h>
#include <stdint.h>

#include "base/thread.h"

enum {
    SITE_INTERNAL = 0,         /* allocated inside mallocspy or a hook: not the program's */
    SITE_HELD = 1,             /* freed by the program, kept by a spy that took it in charge
                                  (a quarantine): the program's pointer is no block any more */
};
/* The site kind of a page mapping (beyond the calls spies see). */
#define CALL_MMAP 100

struct site_key {
    uint32_t stack;            /* stack id, 0: none */
    uint32_t mask;             /* spies that saw the blocks */
    uint32_t kind;             /* ms_call_kind of the allocating call */
    uint32_t heap;             /* 0: the task allocator */
    uint64_t delta;            /* real size minus requested size */
    uint32_t tag;              /* debug tag (file, line), 0: none */
    uint32_t epoch;            /* the snapshot window it was allocated in (set by site_get) */
};
struct stack_rec;
struct site {
    struct site_key key;
    uint32_t id;
    uint32_t flags;
    const struct stack_rec *stack;   /* key.stack's record, NULL for none */
};

/* Registers the sites' part of the thread states (a cache of recent keys). */
void sites_init(void);
/* Snapshots: blocks allocated between two snapshots have sites of their own window, so a
 * snapshot can tell what grew since the one before.  The window a new block falls in: */
extern _Atomic uint32_t sites_window;
static inline uint32_t sites_epoch(void)
{
    return atomic_load_explicit(&sites_window, memory_order_relaxed);
}
/* A snapshot is taken: a new window begins; returns the one that ended. */
uint32_t sites_new_window(void);

/* The site of `key` in the current window (SITE_INTERNAL when out of memory). */
uint32_t site_get(struct thread_state *ts, const struct site_key *key);
/* The same, for a key whose stack this thread has just captured: remembered with the
 * stack's call chain, so that a loop allocating at one place finds it at once. */
uint32_t site_for_stack(struct thread_state *ts, const struct site_key *key);

#define SITE_PAGE_BITS 12
#define SITE_PAGE_SIZE (1u << SITE_PAGE_BITS)
#define SITE_MAX_PAGES (1u << 14)
extern struct site **site_pages[SITE_MAX_PAGES];
static inline const struct site *site_by_id(uint32_t id)
{
    struct site **page = atomic_load_explicit(
        (_Atomic(struct site **) *)&site_pages[(id >> SITE_PAGE_BITS) & (SITE_MAX_PAGES - 1)],
        memory_order_acquire);
    return page ? atomic_load_explicit((_Atomic(struct site *) *)&page[id & (SITE_PAGE_SIZE - 1)],
                                       memory_order_acquire)
                : NULL;
}
static inline uint32_t site_stack(uint32_t id)
{
    const struct site *s = site_by_id(id);
    return s ? s->key.stack : 0;
}
uint32_t sites_count(void);
void sites_fork_prepare(void);
void sites_fork_parent(void);
void sites_fork_child(void);

#endif
