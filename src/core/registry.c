/* The spy registry: CoRegisterMallocSpy / CoRevokeMallocSpy, with several spies nesting
 * like wrappers.  Operations read the chain of spies without a lock; registration and
 * revocation publish a new chain and use grace periods (thread_synchronize) to know
 * when no operation can still be using the old one. */
#include <string.h>

#include "base/mem.h"
#include "base/options.h"
#include "base/start.h"
#include "core/registry.h"

struct registry registry;

#define PENDING_BIAS ((int64_t)1 << 60)
#define MAX_RETIRED 32

static struct {
    spinlock lock;                          /* slots' spy/ops/flags, chain publication,
                                              retired chains, thread-exit merges */
    struct chain *retired[MAX_RETIRED];    /* old chains, freed after a grace period */
    unsigned nretired;
    uint32_t recycle;                      /* released slots waiting for a grace period */
} reg = { .lock = SPIN_INIT };

TLS_IE uint32_t registry_deferred;  /* revokes asked from inside a hook */

/* Each thread's share of each spy's live blocks: its part of the thread state. */
static size_t part;
static inline _Atomic int64_t *shares(struct thread_state *ts)
{
    return thread_part(ts, part);
}

static inline bool in_operation(void) { return tls_guard != 0; }

/* Publishes a chain made of `first` (if >= 0) followed by the current chain's slots that
 * are still active or pending.  Under reg.lock. */
static int publish_chain(int first)
{
    const struct chain *old = atomic_load(&registry.chain);
    struct chain tmp = { 0 };
    if (first >= 0) {
        tmp.slot[tmp.n++] = (uint8_t)first;
        tmp.mask |= 1u << first;
    }
    for (uint32_t i = 0; old && i < old->n; i++) {
        unsigned s = old->slot[i];
        int st = atomic_load(&registry.slots[s].state);
        if (st == SLOT_ACTIVE || st == SLOT_PENDING) {
            tmp.slot[tmp.n++] = (uint8_t)s;
            tmp.mask |= 1u << s;
        }
    }
    bool fast = tmp.n > 0;
    for (uint32_t i = 0; i < tmp.n; i++) {
        const struct spy_slot *sl = &registry.slots[tmp.slot[i]];
        if (sl->flags & MS_SPY_STACKS)
            tmp.want_stacks = true;
        if (sl->flags & MS_SPY_FREE_STACKS)
            tmp.want_free_stacks = true;
        if (sl->flags & SPY_FAST_COUNT) {
            tmp.fast |= FAST_COUNT;
            tmp.count_slot = tmp.slot[i];
        } else if (sl->flags & SPY_FAST_MISMATCH) {
            tmp.fast |= FAST_MISMATCH;
        } else {
            fast = false;
        }
    }
    if (!fast || !options.fast_path)
        tmp.fast = 0;
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
    atomic_store_explicit(&registry.chain, c, memory_order_release);
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
    spin_lock(&reg.lock);
    unsigned n = reg.nretired;
    memcpy(old, reg.retired, n * sizeof old[0]);
    reg.nretired = 0;
    uint32_t recycle = reg.recycle;
    reg.recycle = 0;
    spin_unlock(&reg.lock);
    if (!n && !recycle)
        return;
    thread_synchronize();
    for (unsigned i = 0; i < n; i++)
        arena_free(old[i], sizeof(struct chain));
    spin_lock(&reg.lock);
    for (unsigned s = 0; s < MS_MAX_SPIES; s++)
        if (recycle & (1u << s))
            atomic_store(&registry.slots[s].state, SLOT_FREE);
    spin_unlock(&reg.lock);
}

static void zero_share(struct thread_state *ts, void *arg)
{
    atomic_store(&shares(ts)[(uintptr_t)arg], 0);
}

static void thread_exited(struct thread_state *ts, void *p);

void registry_init(void)
{
    part = thread_part_register(MS_MAX_SPIES * sizeof(_Atomic int64_t), thread_exited, NULL);
}

int registry_register(ms_spy *spy, unsigned flags)
{
    if (!spy || !spy->ops)
        return MS_E_INVALIDARG;   /* IMallocSpy: checked before anything else */
    reclaim();
    spin_lock(&reg.lock);
    int free_slot = -1;
    for (int s = 0; s < MS_MAX_SPIES; s++) {
        int st = atomic_load(&registry.slots[s].state);
        if ((st == SLOT_ACTIVE || st == SLOT_PENDING) && registry.slots[s].spy == spy) {
            spin_unlock(&reg.lock);
            return MS_E_ALREADY_REGISTERED;
        }
        if (st == SLOT_FREE && free_slot < 0)
            free_slot = s;
    }
    if (free_slot < 0) {
        spin_unlock(&reg.lock);
        return MS_E_OUTOFMEMORY;
    }
    struct spy_slot *sl = &registry.slots[free_slot];
    /* The last spy to use this slot is gone with no block left, but the shares of
     * threads need not each be zero (+n on one thread, -n on another). */
    threads_for_each(zero_share, (void *)(uintptr_t)free_slot);
    atomic_store(&sl->retired_live, 0);
    atomic_store(&sl->pending_live, 0);
    sl->spy = spy;
    sl->ops = spy->ops;
    sl->flags = flags;
    if (flags & (SPY_FAST_COUNT | SPY_FAST_MISMATCH))
        atomic_fetch_or(&registry.uncounted, 1u << free_slot);
    spin_reset(&sl->serial);
    atomic_store(&sl->state, SLOT_ACTIVE);
    int rc = publish_chain(free_slot);
    if (rc != MS_OK) {
        atomic_store(&sl->state, SLOT_FREE);
        sl->spy = NULL;
    }
    spin_unlock(&reg.lock);
    return rc;
}

static void call_release(unsigned s)
{
    struct spy_slot *sl = &registry.slots[s];
    ms_spy *spy = sl->spy;
    const ms_spy_ops *ops = sl->ops;
    unsigned guard = tls_guard;
    tls_guard = 1;
    if (ops->release)
        ops->release(spy);
    tls_guard = guard;
}

/* The spy has no live block left and no operation can start using it: release it. */
static void release_slot(unsigned s)
{
    int expect = SLOT_PENDING;
    if (!atomic_compare_exchange_strong(&registry.slots[s].state, &expect, SLOT_RELEASED))
        return;
    call_release(s);
    spin_lock(&reg.lock);
    publish_chain(-1);
    reg.recycle |= 1u << s;
    spin_unlock(&reg.lock);
}


static void sum_share(struct thread_state *ts, void *arg)
{
    int64_t *acc = arg;   /* acc[0]: slot, acc[1]: sum */
    acc[1] += atomic_load(&shares(ts)[acc[0]]);
}

/* After the grace period every operation that counted the spy as active has finished, so
 * the per-thread shares are final: move them into pending_live and see who is last. */
static int revoke_finish(unsigned s)
{
    thread_synchronize();
    spin_lock(&reg.lock);
    int64_t acc[2] = { s, 0 };
    threads_for_each(sum_share, acc);
    acc[1] += atomic_load(&registry.slots[s].retired_live);
    spin_unlock(&reg.lock);
    int64_t adj = acc[1] - PENDING_BIAS;
    int64_t v = atomic_fetch_add(&registry.slots[s].pending_live, adj) + adj;
    if (v == 0) {
        release_slot(s);
        return MS_OK;
    }
    return MS_E_PENDING;
}

PUBLIC int ms_revoke_spy(ms_spy *spy)
{
    if (!spy)
        return MS_E_INVALIDARG;
    start_wait();
    spin_lock(&reg.lock);
    int s;
    for (s = 0; s < MS_MAX_SPIES; s++)
        if (atomic_load(&registry.slots[s].state) == SLOT_ACTIVE && registry.slots[s].spy == spy)
            break;
    if (s == MS_MAX_SPIES) {
        spin_unlock(&reg.lock);
        return MS_E_NOT_REGISTERED;
    }
    /* The bias keeps frees that race with the count below from reaching zero early. */
    atomic_store(&registry.slots[s].pending_live, PENDING_BIAS);
    atomic_store(&registry.slots[s].state, SLOT_PENDING);
    spin_unlock(&reg.lock);
    if (in_operation()) {
        /* Called from a hook: this thread's operation is still running, and waiting for
         * a grace period here could wait for another thread doing the same.  Finish when
         * the operation ends. */
        registry_deferred |= 1u << s;
        return MS_E_PENDING;
    }
    int rc = revoke_finish((unsigned)s);
    reclaim();
    return rc;
}

void registry_after_operation(void)
{
    while (registry_deferred) {
        unsigned s = (unsigned)__builtin_ctz(registry_deferred);
        registry_deferred &= registry_deferred - 1;
        revoke_finish(s);
    }
}


void registry_count(struct thread_state *ts, uint32_t mask, int64_t d)
{
    mask &= ~atomic_load_explicit(&registry.uncounted, memory_order_relaxed);
    while (mask) {
        unsigned s = (unsigned)__builtin_ctz(mask);
        mask &= mask - 1;
        struct spy_slot *sl = &registry.slots[s];
        if (unlikely(atomic_load_explicit(&sl->state, memory_order_relaxed) == SLOT_PENDING)) {
            if (atomic_fetch_add(&sl->pending_live, d) + d == 0)
                release_slot(s);
        } else if (unlikely(atomic_load_explicit(&ts->exiting, memory_order_relaxed))) {
            atomic_fetch_add(&sl->retired_live, d);
        } else {
            _Atomic int64_t *sh = &shares(ts)[s];
            atomic_store_explicit(sh, atomic_load_explicit(sh, memory_order_relaxed) + d,
                                  memory_order_relaxed);
        }
    }
}

/* The thread exits: its shares go to the spies. */
static void thread_exited(struct thread_state *ts, void *p)
{
    (void)ts;
    _Atomic int64_t *sh = p;
    spin_lock(&reg.lock);
    for (unsigned s = 0; s < MS_MAX_SPIES; s++) {
        int64_t v = atomic_exchange(&sh[s], 0);
        if (v)
            atomic_fetch_add(&registry.slots[s].retired_live, v);
    }
    spin_unlock(&reg.lock);
}

PUBLIC int ms_register_spy(ms_spy *spy)
{
    start_wait();
    return registry_register(spy, 0);
}

PUBLIC int ms_register_spy_flags(ms_spy *spy, unsigned flags)
{
    if (flags & ~(MS_SPY_SERIALIZED | MS_SPY_STACKS | MS_SPY_FREE_STACKS))
        return MS_E_INVALIDARG;
    start_wait();
    return registry_register(spy, flags);
}

int registry_slot_of(const ms_spy *spy)
{
    for (int s = 0; s < MS_MAX_SPIES; s++) {
        int st = atomic_load(&registry.slots[s].state);
        if ((st == SLOT_ACTIVE || st == SLOT_PENDING) && registry.slots[s].spy == spy)
            return s;
    }
    return -1;
}

void registry_fork_prepare(void) { spin_lock(&reg.lock); }
void registry_fork_parent(void) { spin_unlock(&reg.lock); }
void registry_fork_child(void)
{
    spin_reset(&reg.lock);
    registry_deferred = 0;
    for (unsigned s = 0; s < MS_MAX_SPIES; s++)
        spin_reset(&registry.slots[s].serial);
}
