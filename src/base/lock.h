/* Spinlocks, and the order in which mallocspy's locks may be taken.
 *
 * Test-and-test-and-set: unlock is a plain release store, which matters on the malloc
 * path; waiters yield so that a preempted holder gets the CPU back.
 *
 * Lock order.  No path from an interposed entry point waits for another thread, and none
 * takes a lock that a thread waiting for mallocspy can hold:
 *  - The loader's locks (dl_iterate_phdr's, dlopen's, dlsym's) are never taken on an
 *    allocation's path: stacks are walked from unwind tables found with _dl_find_object,
 *    which takes no lock.  They are taken only at start-up, after dlclose (the module
 *    table's refresh) and by a report (the scan runs inside dl_iterate_phdr), and never
 *    while holding a lock an allocation may need (only the report's own is held then), so
 *    that a thread inside the loader that allocates can always go on.
 *  - A spy's own locks (MS_SPY_SERIALIZED included) are held only around its hook; nothing
 *    of mallocspy's is held then.
 *  - mallocspy's own spinlocks are held around a few loads and stores of their module's
 *    state.  A lock is taken only while holding locks listed before it, never after:
 *        report (report/report.c: one report at a time)
 *      < heap errors (output/errors.c) < heap leaks (output/heap_leaks.c)
 *      < the symbolizer client (output/symclient.c)
 *      < the quarantine (detect/detectors.c)
 *      < the registry (core/registry.c) < the thread list (base/thread.c)
 *      < sites (core/sites.c) < stacks (stacks/stacks.c) < modules (stacks/modules.c)
 *      < mappings (family/mappings.c) < the block side table (core/blocks.c)
 *      < tags (base/tags.c), the tracker's totals (leaks/tracker.c)
 *      < the arena (base/mem.c), under which nothing is taken.
 *    So no cycle exists; fork's prepare handler (init/init.c) takes those it takes in
 *    this order.
 *    A private heap's serializing lock (core/heaps.h) is a caller's lock, as HeapAlloc's:
 *    it is held around the heap's call, hooks included, and not taken inside a hook.
 *  - A signal handler that allocates while its thread holds one of these locks finds the
 *    per-thread guard set and goes straight to the real allocator through paths that take
 *    no lock (core/dispatch.c, the guarded paths).
 *  - Grace periods (thread_synchronize) wait for other threads' operations to end; they are
 *    used only by spy registration and revocation, never on an allocation's path.
 *  - A world stop for a scan parks threads only outside the critical sections that count
 *    themselves (crit_enter): the side table's and the mappings' locks. */
#ifndef MS_LOCK_H
#define MS_LOCK_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

typedef struct { atomic_int v; } spinlock;
#define SPIN_INIT { 0 }

static inline void spin_lock(spinlock *l)
{
    for (unsigned spins = 0;; spins++) {
        if (!atomic_load_explicit(&l->v, memory_order_relaxed) &&
            !atomic_exchange_explicit(&l->v, 1, memory_order_acquire))
            return;
        if (spins < 64)
            __builtin_ia32_pause();
        else
            sched_yield();
    }
}
static inline bool spin_trylock(spinlock *l)
{
    return !atomic_load_explicit(&l->v, memory_order_relaxed) &&
           !atomic_exchange_explicit(&l->v, 1, memory_order_acquire);
}
static inline void spin_unlock(spinlock *l)
{
    atomic_store_explicit(&l->v, 0, memory_order_release);
}
/* In a child after fork: the lock's holder is gone. */
static inline void spin_reset(spinlock *l) { atomic_store(&l->v, 0); }

#endif
