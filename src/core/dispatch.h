/* The dispatcher's entries: every allocation of the program, through whichever door it
 * came (malloc, operator new, ms_alloc, CoTaskMemAlloc, a private heap), is made here,
 * through the spy chain.  Layers above ask it what the running hook was called for, and
 * whether the block map holds every block. */
#ifndef MS_DISPATCH_H
#define MS_DISPATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Registers the dispatcher's part of the thread states (at start-up). */
void core_init(void);

/* `heap` 0 is the task allocator (malloc); `tag` a debug location (0: none); `fp` the
 * frame of the entry point the program called (where its stack starts), NULL for none. */
void *core_heap_alloc(size_t size, size_t align, bool zero, ms_call_kind kind, uint32_t heap,
                      uint32_t tag, void *fp);
void core_heap_free(void *p, ms_call_kind kind, uint32_t heap, void *fp);
void *core_heap_realloc(void *p, size_t size, ms_call_kind kind, uint32_t heap, void *fp);
size_t core_heap_get_size(const void *p, ms_call_kind kind, uint32_t heap, void *fp);
int core_heap_did_alloc(const void *p, uint32_t heap, void *fp);
void core_heap_minimize(void);

/* The call as the reports name it ("malloc", "operator delete[]"...). */
const char *core_call_name(ms_call_kind kind);

/* Which family a call allocates (release false) or releases (true): blocks of one family
 * must be released by the same (malloc/free, new/delete, new[]/delete[]). */
enum { FAMILY_MALLOC, FAMILY_NEW, FAMILY_NEW_ARRAY, FAMILY_NONE };
static inline int core_kind_family(ms_call_kind kind, bool release)
{
    /* Indexed by ms_call_kind: [0] what it allocates, [1] what it releases. */
    static const unsigned char family[][2] = {
        [MS_CALL_MALLOC] = { FAMILY_MALLOC, FAMILY_NONE },
        [MS_CALL_CALLOC] = { FAMILY_MALLOC, FAMILY_NONE },
        [MS_CALL_REALLOC] = { FAMILY_MALLOC, FAMILY_MALLOC },
        [MS_CALL_MEMALIGN] = { FAMILY_MALLOC, FAMILY_NONE },
        [MS_CALL_FREE] = { FAMILY_NONE, FAMILY_MALLOC },
        [MS_CALL_USABLE_SIZE] = { FAMILY_NONE, FAMILY_NONE },
        [MS_CALL_TASK_ALLOC] = { FAMILY_MALLOC, FAMILY_NONE },
        [MS_CALL_TASK_REALLOC] = { FAMILY_MALLOC, FAMILY_MALLOC },
        [MS_CALL_TASK_FREE] = { FAMILY_NONE, FAMILY_MALLOC },
        [MS_CALL_GET_SIZE] = { FAMILY_NONE, FAMILY_NONE },
        [MS_CALL_DID_ALLOC] = { FAMILY_NONE, FAMILY_NONE },
        [MS_CALL_HEAP_MINIMIZE] = { FAMILY_NONE, FAMILY_NONE },
        [MS_CALL_NEW] = { FAMILY_NEW, FAMILY_NONE },
        [MS_CALL_NEW_ARRAY] = { FAMILY_NEW_ARRAY, FAMILY_NONE },
        [MS_CALL_DELETE] = { FAMILY_NONE, FAMILY_NEW },
        [MS_CALL_DELETE_ARRAY] = { FAMILY_NONE, FAMILY_NEW_ARRAY },
    };
    return (unsigned)kind < ARRAY_SIZE(family) && kind ? family[kind][release] : FAMILY_NONE;
}

/* The leak tracker's counting, called directly when the chain holds only mallocspy's own
 * spies (core/registry.h: SPY_FAST_COUNT): the same work as its hooks, with what they
 * would have read from the call. */
struct core_fast_counter {
    void (*alloc)(const ms_stack *stack, size_t size, void *p);
    void (*free)(const ms_stack *stack, size_t size, const void *p);
};
void core_set_fast_counter(const struct core_fast_counter *c);

/* What this thread's running hook was called for (ms_spy_call), and that call's entry
 * frame (ms_spy_stack); call NULL outside a hook. */
struct core_tls {
    const ms_call *call;
    void *call_fp;
    int64_t sample_left;       /* sampling: bytes to this thread's next sample (0: unset) */
};
extern TLS_IE struct core_tls core_tls;
static inline const ms_call *core_call(void) { return core_tls.call; }

/* Whether allocations are recorded now (start=0 loads mallocspy dormant; ms_start_tracking
 * and start_signal start it).  While not, allocations of the task allocator go straight
 * to the real allocator and no spy sees them. */
extern atomic_bool core_rec;
static inline bool core_recording(void)
{
    return atomic_load_explicit(&core_rec, memory_order_relaxed);
}
void core_set_recording(bool on);

/* Poisson sampling over bytes (sample_bytes=N): each byte is sampled with probability
 * 1/N, and an allocation is recorded when one of its bytes is; the others go straight to
 * the real allocator.  A recorded allocation of `size` bytes stands for this many bytes
 * and (on average) allocations; exactly `size` and 1 when not sampling. */
extern size_t core_sample_bytes;
static inline bool core_sampling(void) { return core_sample_bytes != 0; }
uint64_t core_sample_weight_bytes(uint64_t size);
double core_sample_weight_count(uint64_t size);

/* Whether the block map holds every block of the program since start-up (the leak
 * tracker is registered and memory never ran out): an unknown pointer is then a bad one. */
extern bool core_complete;
static inline bool core_table_complete(void) { return core_complete; }
void core_set_table_complete(bool complete);

#endif
