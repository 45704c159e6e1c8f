/* Start-up: mallocspy initialises on the first allocation of the process, or from its
 * constructor, whichever comes first.  The work itself is the top layer's (init/); the
 * layers below only ask whether it is done. */
#ifndef MS_START_H
#define MS_START_H

#include <stdatomic.h>
#include <stdbool.h>

#include "base/base.h"

extern atomic_int start_state;         /* 0 not started, 1 running, 2 done */
/* Runs the start-up if nobody has; true once it is done (init/init.c). */
bool start_try(void);
void start_wait_slow(void);

/* For the API: starts on first use, waiting if another thread is at it. */
static inline void start_wait(void)
{
    if (unlikely(atomic_load_explicit(&start_state, memory_order_acquire) != 2))
        start_wait_slow();
}

/* For allocations: starts on first use; false while another thread is at it, and the
 * caller then goes straight to the real allocator (or the static arena) rather than wait
 * for a thread that may itself be waiting for it (inside the loader's lock). */
static inline bool start_ready(void)
{
    return likely(atomic_load_explicit(&start_state, memory_order_acquire) == 2) ||
           start_try();
}

#endif
