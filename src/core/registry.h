/* The spy registry: which spies are registered, in what order, and how many live blocks
 * each still has (a revoked spy is released when its last block goes).  Operations read
 * the chain without a lock; registration and revocation publish a new chain and wait for
 * a grace period before freeing the old one. */
#ifndef MS_REGISTRY_H
#define MS_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/lock.h"
#include "base/thread.h"

enum { SLOT_FREE = 0, SLOT_ACTIVE, SLOT_PENDING, SLOT_RELEASED };

/* Flags of mallocspy's own spies, beyond the public MS_SPY_* ones: the dispatcher may do
 * their work itself, without walking the chain, when the chain holds nothing else (the
 * configuration almost everyone runs).  Such a spy is never revoked, so its live count is
 * not kept. */
#define SPY_FAST_COUNT    (1u << 28)   /* the leak tracker: counts through core_fast_counter */
#define SPY_FAST_MISMATCH (1u << 29)   /* the mismatch detector: a hook only on a mismatch */

struct spy_slot {
    ms_spy *spy;               /* under the registry's lock; read by operations via a chain */
    const ms_spy_ops *ops;     /* copied at registration */
    unsigned flags;
    atomic_int state;
    spinlock serial;           /* MS_SPY_SERIALIZED */
    _Atomic int64_t pending_live; /* blocks still live once the revoke is pending */
    _Atomic int64_t retired_live; /* shares of exited threads */
};

#define CHAIN_ALIGNS 21      /* alignments 16 to 16 MiB */
/* The registered spies, outermost first; immutable once published (but for `shift`). */
struct chain {
    uint32_t n;
    uint32_t mask;             /* slots in the chain */
    bool want_stacks;
    bool want_free_stacks;
    uint8_t fast;              /* FAST_*: every spy is one of mallocspy's fast ones */
    uint8_t count_slot;        /* FAST_COUNT: the tracker's slot */
    int32_t shift[CHAIN_ALIGNS]; /* the spies' total shift of the pointer modulo each
                                  alignment 16 << i, as last seen (core/dispatch.c);
                                  written with relaxed atomics */
    uint8_t slot[MS_MAX_SPIES];
};

enum { FAST_COUNT = 1, FAST_MISMATCH = 2 };

/* The registry's state that every operation reads. */
struct registry {
    struct spy_slot slots[MS_MAX_SPIES];
    _Atomic(const struct chain *) chain;
    _Atomic uint32_t uncounted; /* slots of fast spies: no live count */
};
extern struct registry registry;

static inline const struct chain *registry_chain(void)
{
    return atomic_load_explicit(&registry.chain, memory_order_acquire);
}

/* Only mallocspy's own spies (the tracker, the mismatch detector): a block the sampler
 * left alone is none of theirs.  Other spies (the quarantine, a user's) still see every
 * free the dispatcher sees. */
static inline bool registry_only_ours(void)
{
    const struct chain *ch = registry_chain();
    return ch && ch->fast;
}
static inline struct spy_slot *registry_slot(unsigned s) { return &registry.slots[s]; }

/* Registers the registry's part of the thread states (their shares of the live counts). */
void registry_init(void);
/* For the built-in spies: register before any user spy can. */
int registry_register(ms_spy *spy, unsigned flags);
/* The slot of a registered (or pending) spy, -1 if none. */
int registry_slot_of(const ms_spy *spy);
/* Adds a share to the live counts of the spies in mask (how a revoke knows when to end). */
void registry_count(struct thread_state *ts, uint32_t mask, int64_t d);
/* At the end of an operation: revokes asked from inside its hooks are finished. */
extern TLS_IE uint32_t registry_deferred;
void registry_after_operation(void);
void registry_fork_prepare(void);
void registry_fork_parent(void);
void registry_fork_child(void);

#endif
