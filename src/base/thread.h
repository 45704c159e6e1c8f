/* Per-thread state.  A thread gets its state on its first operation; the state lives in
 * mallocspy's own memory, never in the thread's TLS, so that other threads (a report) may
 * read it, also after the thread is gone.  Each module that keeps something per thread
 * registers its part at start-up (thread_part_register) with what to do when the thread
 * exits and when its state goes to a new thread: this module knows none of them. */
#ifndef MS_THREAD_H
#define MS_THREAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"

struct thread_state {
    _Atomic uint64_t op_seq;   /* odd while an operation runs: see thread_synchronize */
    pid_t tid;
    uintptr_t tp;              /* its thread pointer (TLS), for a scan that cannot stop it */
    atomic_int exiting;        /* the thread's exit destructor ran */
    struct thread_state *next; /* all states, linked under the list's lock; never unlinked */
    int *errno_ptr;            /* __errno_location() of this thread */
    /* the modules' parts follow, at the offsets thread_part_register gave */
};

/* What a thread needs before it has a state, in static TLS. */
struct thread_tls {
    struct thread_state *ts;   /* created on the thread's first operation */
    unsigned crit;             /* inside critical sections a world stop must not split */
    unsigned stop_deferred;    /* a stop request came inside one */
};
extern TLS_IE struct thread_tls thread_tls;

/* A module's part of every thread state: `size` bytes, zeroed, at the offset returned (to
 * give thread_part).  `exited` runs when the thread exits (its counts go to the module's
 * globals; it may still allocate afterwards, with `exiting` set), `reused` when its state
 * goes to a new thread; either may be NULL.  Only at start-up, before any state exists;
 * 0 when it is too late or too much. */
size_t thread_part_register(size_t size, void (*exited)(struct thread_state *, void *),
                            void (*reused)(struct thread_state *, void *));
static inline void *thread_part(struct thread_state *ts, size_t offset)
{
    return (char *)ts + offset;
}

struct thread_state *thread_state_slow(void);
static inline struct thread_state *thread_state(void)
{
    struct thread_state *ts = thread_tls.ts;
    return likely(ts) ? ts : thread_state_slow();
}

void threads_init(void);
void threads_fork_prepare(void);
void threads_fork_parent(void);
void threads_fork_child(void);
/* The thread pointer of thread tid, 0 if unknown; takes no lock (for a stopped world). */
uintptr_t threads_tp_of(pid_t tid);
/* The first of every thread state ever made, for a walk along `next` that takes no lock
 * (the list only grows, at its head). */
struct thread_state *threads_head(void);
/* Calls fn for every thread state ever created (live or exited), under the list's lock. */
void threads_for_each(void (*fn)(struct thread_state *, void *), void *arg);

/* Grace period: when it returns, every operation that was running on another thread has
 * finished.  Never on an allocation's path (see base/lock.h). */
void thread_synchronize(void);
extern bool thread_fence_on_op;  /* no membarrier: operations pay for a full fence */

/* An operation of mallocspy's: the guard set, and the thread's operation counter odd
 * while it runs. */
static inline void op_begin(struct thread_state *ts)
{
    tls_guard = 1;
    atomic_store_explicit(&ts->op_seq,
                          atomic_load_explicit(&ts->op_seq, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (unlikely(thread_fence_on_op))
        atomic_thread_fence(memory_order_seq_cst);
    else
        atomic_signal_fence(memory_order_seq_cst);
}
static inline void op_end(struct thread_state *ts)
{
    atomic_store_explicit(&ts->op_seq,
                          atomic_load_explicit(&ts->op_seq, memory_order_relaxed) + 1,
                          memory_order_release);
    tls_guard = 0;
}

/* A critical section a world stop must not split (a table half-changed): a stop request
 * that comes inside one parks the thread as it leaves the last (leaks/stop.c sets what
 * parking does). */
void thread_set_park(void (*park)(void));
void thread_park_deferred(void);
static inline void crit_enter(void) { thread_tls.crit++; }
static inline void crit_leave(void)
{
    if (--thread_tls.crit == 0 && unlikely(thread_tls.stop_deferred))
        thread_park_deferred();
}

#endif
