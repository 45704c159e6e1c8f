/* The spy registry: CoRegisterMallocSpy / CoRevokeMallocSpy, with several spies nesting
 * like wrappers.  Operations read the chain of spies without a lock; registration and
 * revocation publish a new chain and use grace periods (threads_synchronize) to know
 * when no operation can still be using the old one. */
#include <string.h>

#include "internal.h"

struct spy_slot ms_slots[MS_MAX_SPIES];
_Atomic(const struct chain *) ms_chain;

#define PENDING_BIAS ((int64_t)1 << 60)
#define MAX_RETIRED 32

static struct {
    ms_lock lock;                          /* slots' spy/ops/flags, chain publication,
                                              retired chains, thread-exit merges */
    struct chain *retired[MAX_RETIRED];    /* old chains, freed after a grace period */
    unsigned nretired;
    uint32_t recycle;                      /* released slots waiting for a grace period */
} reg = { .lock = MS_LOCK_INIT };

static MS_TLS uint32_t deferred_revokes;  /* revokes asked from inside a hook */

static inline bool in_operation(void) { return ms_tls.guard != 0; }

/* Publishes a chain made of `first` (if >= 0) followed by the current chain's slots that
 * are still active or pending.  Under reg.lock. */
static int publish_chain(int first)
{
    const struct chain *old = atomic_load(&ms_chain);
    struct chain tmp = { 0 };
    if (first >= 0) {
        tmp.slot[tmp.n++] = (uint8_t)first;
        tmp.mask |= 1u << first;
    }
    for (uint32_t i = 0; old && i < old->n; i++) {
        unsigned s = old->slot[i];
        int st = atomic_load(&ms_slots[s].state);
        if (st == SLOT_ACTIVE || st == SLOT_PENDING) {
            tmp.slot[tmp.n++] = (uint8_t)s;
            tmp.mask |= 1u << s;
        }
    }
    for (uint32_t i = 0; i < tmp.n; i++) {
        if (ms_slots[tmp.slot[i]].flags & MS_SPY_STACKS)
            tmp.want_stacks = true;
        if (ms_slots[tmp.slot[i]].flags & MS_SPY_FREE_STACKS)
            tmp.want_free_stacks = true;
    }
    struct chain *c = NULL;
    if (tmp.n) {
        c = arena_alloc(sizeof *c);
        if (!c)
            return MS_E_OUTOFMEMORY;
        *c = tmp;
    }
    if (reg.nretired == MAX_RETIRED && old) {
        /* Cannot wait for a grace period here (reg.lock is held): keep the old chain
         * forever rather than risk freeing it under a running operation.  A few dozen
         * bytes, and only for programs that register spies thousands of times. */
    } else if (old) {
        reg.retired[reg.nretired++] = (struct chain *)old;
    }
    atomic_store_explicit(&ms_chain, c, memory_order_release);
    return MS_OK;
}

/* Frees retired chains and lets released slots be reused, once no operation can be using
 * them.  Not from inside an operation (its own would never end). */
static void reclaim(void)
{
    if (in_operation())
        return;
    /* Only what was retired before the grace period begins may go: take it now. */
    struct chain *old[MAX_RETIRED];
    ms_lock_acquire(&reg.lock);
    unsigned n = reg.nretired;
    memcpy(old, reg.retired, n * sizeof old[0]);
    reg.nretired = 0;
    uint32_t recycle = reg.recycle;
    reg.recycle = 0;
    ms_lock_release(&reg.lock);
    if (!n && !recycle)
        return;
    threads_synchronize();
    for (unsigned i = 0; i < n; i++)
        arena_free(old[i], sizeof(struct chain));
    ms_lock_acquire(&reg.lock);
    for (unsigned s = 0; s < MS_MAX_SPIES; s++)
        if (recycle & (1u << s))
            atomic_store(&ms_slots[s].state, SLOT_FREE);
    ms_lock_release(&reg.lock);
}

static void zero_share(struct thread_state *ts, void *arg)
{
    atomic_store(&ts->spy_live[(uintptr_t)arg], 0);
}

int registry_register(ms_spy *spy, unsigned flags)
{
    if (!spy || !spy->ops)
        return MS_E_INVALIDARG;   /* IMallocSpy: checked before anything else */
    reclaim();
    ms_lock_acquire(&reg.lock);
    int free_slot = -1;
    for (int s = 0; s < MS_MAX_SPIES; s++) {
        int st = atomic_load(&ms_slots[s].state);
        if ((st == SLOT_ACTIVE || st == SLOT_PENDING) && ms_slots[s].spy == spy) {
            ms_lock_release(&reg.lock);
            return MS_E_ALREADY_REGISTERED;
        }
        if (st == SLOT_FREE && free_slot < 0)
            free_slot = s;
    }
    if (free_slot < 0) {
        ms_lock_release(&reg.lock);
        return MS_E_OUTOFMEMORY;
    }
    struct spy_slot *sl = &ms_slots[free_slot];
    /* The last spy to use this slot is gone with no block left, but the shares of
     * threads need not each be zero (+n on one thread, -n on another). */
    threads_for_each(zero_share, (void *)(uintptr_t)free_slot);
    atomic_store(&sl->retired_live, 0);
    atomic_store(&sl->pending_live, 0);
    sl->spy = spy;
    sl->ops = spy->ops;
    sl->flags = flags;
    ms_lock_reset(&sl->serial);
    atomic_store(&sl->state, SLOT_ACTIVE);
    int rc = publish_chain(free_slot);
    if (rc != MS_OK) {
        atomic_store(&sl->state, SLOT_FREE);
        sl->spy = NULL;
    }
    ms_lock_release(&reg.lock);
    return rc;
}

static void call_release(unsigned s)
{
    struct spy_slot *sl = &ms_slots[s];
    ms_spy *spy = sl->spy;
    const ms_spy_ops *ops = sl->ops;
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    if (ops->release)
        ops->release(spy);
    ms_tls.guard = guard;
}

/* The spy has no live block left and no operation can start using it: release it. */
static void release_slot(unsigned s)
{
    int expect = SLOT_PENDING;
    if (!atomic_compare_exchange_strong(&ms_slots[s].state, &expect, SLOT_RELEASED))
        return;
    call_release(s);
    ms_lock_acquire(&reg.lock);
    publish_chain(-1);
    reg.recycle |= 1u << s;
    ms_lock_release(&reg.lock);
}

void registry_release_pending(unsigned s) { release_slot(s); }

static void sum_share(struct thread_state *ts, void *arg)
{
    int64_t *acc = arg;   /* acc[0]: slot, acc[1]: sum */
    acc[1] += atomic_load(&ts->spy_live[acc[0]]);
}

/* After the grace period every operation that counted the spy as active has finished, so
 * the per-thread shares are final: move them into pending_live and see who is last. */
static int revoke_finish(unsigned s)
{
    threads_synchronize();
    ms_lock_acquire(&reg.lock);
    int64_t acc[2] = { s, 0 };
    threads_for_each(sum_share, acc);
    acc[1] += atomic_load(&ms_slots[s].retired_live);
    ms_lock_release(&reg.lock);
    int64_t adj = acc[1] - PENDING_BIAS;
    int64_t v = atomic_fetch_add(&ms_slots[s].pending_live, adj) + adj;
    if (v == 0) {
        release_slot(s);
        return MS_OK;
    }
    return MS_E_PENDING;
}

MS_EXPORT int ms_revoke_spy(ms_spy *spy)
{
    if (!spy)
        return MS_E_INVALIDARG;
    ms_ensure_init();
    ms_lock_acquire(&reg.lock);
    int s;
    for (s = 0; s < MS_MAX_SPIES; s++)
        if (atomic_load(&ms_slots[s].state) == SLOT_ACTIVE && ms_slots[s].spy == spy)
            break;
    if (s == MS_MAX_SPIES) {
        ms_lock_release(&reg.lock);
        return MS_E_NOT_REGISTERED;
    }
    /* The bias keeps frees that race with the count below from reaching zero early. */
    atomic_store(&ms_slots[s].pending_live, PENDING_BIAS);
    atomic_store(&ms_slots[s].state, SLOT_PENDING);
    ms_lock_release(&reg.lock);
    if (in_operation()) {
        /* Called from a hook: this thread's operation is still running, and waiting for
         * a grace period here could wait for another thread doing the same.  Finish when
         * the operation ends. */
        deferred_revokes |= 1u << s;
        return MS_E_PENDING;
    }
    int rc = revoke_finish((unsigned)s);
    reclaim();
    return rc;
}

void registry_after_operation(void)
{
    while (deferred_revokes) {
        unsigned s = (unsigned)__builtin_ctz(deferred_revokes);
        deferred_revokes &= deferred_revokes - 1;
        revoke_finish(s);
    }
}

bool registry_has_deferred(void) { return deferred_revokes != 0; }

void registry_count(struct thread_state *ts, uint32_t mask, int64_t d)
{
    while (mask) {
        unsigned s = (unsigned)__builtin_ctz(mask);
        mask &= mask - 1;
        struct spy_slot *sl = &ms_slots[s];
        if (unlikely(atomic_load_explicit(&sl->state, memory_order_relaxed) == SLOT_PENDING)) {
            if (atomic_fetch_add(&sl->pending_live, d) + d == 0)
                release_slot(s);
        } else if (unlikely(atomic_load_explicit(&ts->exiting, memory_order_relaxed))) {
            atomic_fetch_add(&sl->retired_live, d);
        } else {
            atomic_store_explicit(&ts->spy_live[s],
                                  atomic_load_explicit(&ts->spy_live[s], memory_order_relaxed) + d,
                                  memory_order_relaxed);
        }
    }
}

void registry_thread_exit(struct thread_state *ts)
{
    ms_lock_acquire(&reg.lock);
    for (unsigned s = 0; s < MS_MAX_SPIES; s++) {
        int64_t v = atomic_exchange(&ts->spy_live[s], 0);
        if (v)
            atomic_fetch_add(&ms_slots[s].retired_live, v);
    }
    ms_lock_release(&reg.lock);
}

MS_EXPORT int ms_register_spy(ms_spy *spy)
{
    ms_ensure_init();
    return registry_register(spy, 0);
}

MS_EXPORT int ms_register_spy_flags(ms_spy *spy, unsigned flags)
{
    if (flags & ~(MS_SPY_SERIALIZED | MS_SPY_STACKS | MS_SPY_FREE_STACKS))
        return MS_E_INVALIDARG;
    ms_ensure_init();
    return registry_register(spy, flags);
}

int registry_slot_of(const ms_spy *spy)
{
    for (int s = 0; s < MS_MAX_SPIES; s++) {
        int st = atomic_load(&ms_slots[s].state);
        if ((st == SLOT_ACTIVE || st == SLOT_PENDING) && ms_slots[s].spy == spy)
            return s;
    }
    return -1;
}

void registry_fork_prepare(void) { ms_lock_acquire(&reg.lock); }
void registry_fork_parent(void) { ms_lock_release(&reg.lock); }
void registry_fork_child(void)
{
    ms_lock_reset(&reg.lock);
    deferred_revokes = 0;
    for (unsigned s = 0; s < MS_MAX_SPIES; s++)
        ms_lock_reset(&ms_slots[s].serial);
}
