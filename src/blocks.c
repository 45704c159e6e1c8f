/* The live-block table: every block handed out while a spy was registered, keyed by the
 * program's pointer.  16 bytes a block in open-addressed shards (linear probing, deletion
 * by backward shift, so no tombstones), each shard biased to one thread or under its own
 * lock: threads freeing and allocating at once rarely meet.  A uthash entry would cost 56 bytes of handle alone;
 * what is shared by many blocks (stack, spies, kind) lives in the block's site. */
#include <string.h>

#include "internal.h"

#define SHARD_BITS 8
#define NSHARDS (1u << SHARD_BITS)
/* Capacities grow by half, from 256 slots, and a shard grows when 60% full: the load
 * stays between 40% and 60%, where linear probing's runs are short, and the table costs
 * 27 to 40 bytes a block.  Doubling at 75% would cost 21 to 43 bytes, with runs four
 * times longer at the top. */
#define INITIAL_CAP 256u
#define LOAD_NUM 3
#define LOAD_DEN 5

struct shard {
    ms_lock lock;              /* everything below, once the shard is shared */
    atomic_int shared;         /* 0 while biased: its owner alone may enter, without the lock */
    atomic_int busy;           /* the owner is inside, biased */
    _Atomic(struct thread_state *) owner;  /* the one thread that used it, while biased */
    uint32_t count;
    uint32_t cap;              /* slots; 0 before the first insert */
    struct block *slots;
} __attribute__((aligned(64)));

/* Sizes of 4 GiB and more do not fit in a block's 32 bits: kept here, few and rare. */
struct big {
    uintptr_t addr;
    size_t size;
};

static struct {
    struct shard shard[NSHARDS];
    ms_lock big_lock;          /* big, nbig, big_cap */
    struct big *big;
    size_t nbig, big_cap;
} tab;

atomic_bool ms_blocks_used;

/* A block's home slot, from a full mix of the address, scaled to the capacity. */
static inline uint32_t home_of(uintptr_t a, uint32_t cap)
{
    uint64_t h = (uint64_t)a;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (uint32_t)(((h >> 32) * cap) >> 32);   /* any capacity, no division */
}

static inline uint32_t next_slot(uint32_t i, uint32_t cap) { return i + 1 == cap ? 0 : i + 1; }

/* The shard is chosen by the block's 1 MiB region, not by the block: allocators give
 * each thread its own arena or cache of regions (glibc's per-thread heaps, jemalloc's
 * arenas), so threads allocating and freeing their own blocks keep to their own shards,
 * and their locks and slots stay in their own core's cache.  Hashed by block, every
 * shard's lock line would bounce between the cores at every call. */
#define REGION_SHIFT 20

static inline struct shard *shard_of(uintptr_t addr)
{
    return &tab.shard[(uint32_t)(((uint64_t)(addr >> REGION_SHIFT) * 0x9e3779b97f4a7c15ULL) >>
                                 (64 - SHARD_BITS))];
}

/* The table's locks are the only ones a stop-the-world request waits for: inside them a
 * shard may be half-moved.  While one thread alone takes part, it takes none (see
 * threads_mark_threaded); it still counts itself inside, for a stop request.
 *
 * Once there are threads, a shard is first biased to the one thread that uses it: as
 * shards follow the allocator's per-thread regions (shard_of), most are only ever used by
 * one thread, which then enters with plain stores, no atomic read-modify-write and no
 * lock line to share.  The first other thread to come revokes the bias for good, under the
 * lock: it marks the shard shared, makes every thread's stores visible with one
 * membarrier (the owner pays no fence for it: the asymmetric Dekker of userspace RCU), and
 * waits for the owner to leave.  From then on, everyone takes the lock. */
enum shard_hold { HOLD_NONE, HOLD_BIASED, HOLD_LOCKED };
static bool bias_ok;           /* membarrier is there: threads_init ran first */

static void revoke(struct shard *s)
{
    atomic_store_explicit(&s->shared, 1, memory_order_relaxed);
    threads_barrier();
    while (atomic_load_explicit(&s->busy, memory_order_acquire))
        __builtin_ia32_pause();
}

static inline enum shard_hold shard_lock(struct shard *s)
{
    ms_tls.crit++;
    if (likely(!atomic_load_explicit(&ms_threaded, memory_order_relaxed)))
        return HOLD_NONE;
    struct thread_state *ts = ms_tls.ts;
    if (likely(bias_ok && ts && !atomic_load_explicit(&s->shared, memory_order_relaxed))) {
        struct thread_state *o = atomic_load_explicit(&s->owner, memory_order_relaxed);
        if (!o && atomic_compare_exchange_strong(&s->owner, &o, ts))
            o = ts;
        if (o == ts) {
            atomic_store_explicit(&s->busy, 1, memory_order_relaxed);
            /* The revoker's membarrier orders this store before the load below. */
            atomic_signal_fence(memory_order_seq_cst);
            if (likely(!atomic_load_explicit(&s->shared, memory_order_relaxed)))
                return HOLD_BIASED;
            atomic_store_explicit(&s->busy, 0, memory_order_release);
        }
    }
    ms_lock_acquire(&s->lock);
    if (unlikely(!atomic_load_explicit(&s->shared, memory_order_relaxed)) && bias_ok)
        revoke(s);
    return HOLD_LOCKED;
}

void stop_park_deferred(void);
static inline void shard_unlock(struct shard *s, enum shard_hold held)
{
    if (held == HOLD_BIASED)
        atomic_store_explicit(&s->busy, 0, memory_order_release);
    else if (held == HOLD_LOCKED)
        ms_lock_release(&s->lock);
    if (--ms_tls.crit == 0 && unlikely(ms_tls.stop_deferred))
        stop_park_deferred();
}

void blocks_init(void) { bias_ok = threads_can_barrier(); }

static bool grow(struct shard *s)
{
    uint32_t ncap = s->cap ? (s->cap + s->cap / 2 + 255) & ~255u : INITIAL_CAP;
    struct block *n = pages_alloc((size_t)ncap * sizeof *n);
    if (!n)
        return false;
    if (s->slots) {
        for (uint32_t i = 0; i < s->cap; i++) {
            struct block *b = &s->slots[i];
            if (!b->addr)
                continue;
            uint32_t j = home_of(b->addr, ncap);
            while (n[j].addr)
                j = next_slot(j, ncap);
            n[j] = *b;
        }
        pages_free(s->slots, (size_t)s->cap * sizeof *n);
    }
    s->slots = n;
    s->cap = ncap;
    return true;
}

static void big_set(uintptr_t addr, size_t size)
{
    ms_lock_acquire(&tab.big_lock);
    for (size_t i = 0; i < tab.nbig; i++)
        if (tab.big[i].addr == addr) {
            tab.big[i].size = size;
            ms_lock_release(&tab.big_lock);
            return;
        }
    if (!arena_reserve(&tab.big, tab.nbig, &tab.big_cap, sizeof *tab.big, 16)) {
        ms_lock_release(&tab.big_lock);
        return;
    }
    tab.big[tab.nbig].addr = addr;
    tab.big[tab.nbig].size = size;
    tab.nbig++;
    ms_lock_release(&tab.big_lock);
}

static size_t big_get(uintptr_t addr, bool remove)
{
    size_t size = BLOCK_BIG_SIZE;
    ms_lock_acquire(&tab.big_lock);
    for (size_t i = 0; i < tab.nbig; i++)
        if (tab.big[i].addr == addr) {
            size = tab.big[i].size;
            if (remove)
                tab.big[i] = tab.big[--tab.nbig];
            break;
        }
    ms_lock_release(&tab.big_lock);
    return size;
}

size_t block_size(const struct block *b)
{
    return b->size == BLOCK_BIG_SIZE ? big_get(b->addr, false) : b->size;
}

bool blocks_insert(uintptr_t addr, size_t size, uint32_t site)
{
    struct shard *s = shard_of(addr);
    uint32_t sz32 = size >= BLOCK_BIG_SIZE ? BLOCK_BIG_SIZE : (uint32_t)size;
    if (sz32 == BLOCK_BIG_SIZE)
        big_set(addr, size);
    enum shard_hold held = shard_lock(s);
    if ((uint64_t)(s->count + 1) * LOAD_DEN > (uint64_t)s->cap * LOAD_NUM || !s->slots) {
        if (!grow(s)) {
            shard_unlock(s, held);
            return false;
        }
    }
    uint32_t i = home_of(addr, s->cap);
    while (s->slots[i].addr && s->slots[i].addr != addr)
        i = next_slot(i, s->cap);
    if (!s->slots[i].addr)
        s->count++;
    /* A key already present means the real allocator reused an address whose free we
     * never saw (a block freed from inside a hook, say): the new block wins. */
    s->slots[i].site = site;
    s->slots[i].size = sz32;
    s->slots[i].addr = addr;
    shard_unlock(s, held);
    if (unlikely(!atomic_load_explicit(&ms_blocks_used, memory_order_relaxed)))
        atomic_store(&ms_blocks_used, true);
    return true;
}

static inline bool lookup(struct shard *s, uintptr_t addr, uint32_t *pos)
{
    if (!s->slots)
        return false;
    uint32_t i = home_of(addr, s->cap);
    for (;;) {
        uintptr_t a = s->slots[i].addr;
        if (a == addr) {
            *pos = i;
            return true;
        }
        if (!a)
            return false;
        i = next_slot(i, s->cap);
    }
}

bool blocks_take(uintptr_t addr, struct block *out, size_t *size)
{
    struct shard *s = shard_of(addr);
    uint32_t i;
    enum shard_hold held = shard_lock(s);
    if (!lookup(s, addr, &i)) {
        shard_unlock(s, held);
        return false;
    }
    *out = s->slots[i];
    /* Backward-shift deletion: pull later members of the probe run into the hole. */
    uint32_t hole = i, j = i;
    for (;;) {
        j = next_slot(j, s->cap);
        uintptr_t a = s->slots[j].addr;
        if (!a)
            break;
        uint32_t home = home_of(a, s->cap);
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        bool between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!between) {
            s->slots[hole] = s->slots[j];
            hole = j;
        }
    }
    s->slots[hole].addr = 0;
    s->count--;
    shard_unlock(s, held);
    *size = out->size == BLOCK_BIG_SIZE ? big_get(addr, true) : out->size;
    return true;
}

bool blocks_find(uintptr_t addr, struct block *out, size_t *size)
{
    struct shard *s = shard_of(addr);
    uint32_t i;
    enum shard_hold held = shard_lock(s);
    bool found = lookup(s, addr, &i);
    if (found)
        *out = s->slots[i];
    shard_unlock(s, held);
    if (found)
        *size = out->size == BLOCK_BIG_SIZE ? big_get(addr, false) : out->size;
    return found;
}

bool blocks_containing(uintptr_t p, struct block *out, size_t *size)
{
    bool found = false;
    for (unsigned k = 0; k < NSHARDS && !found; k++) {
        struct shard *s = &tab.shard[k];
        enum shard_hold held = shard_lock(s);
        for (uint32_t i = 0; s->slots && i < s->cap; i++) {
            const struct block *b = &s->slots[i];
            if (!b->addr || b->site == SITE_INTERNAL || p < b->addr)
                continue;
            size_t sz = b->size == BLOCK_BIG_SIZE ? BLOCK_BIG_SIZE : b->size;
            if (p - b->addr < sz) {
                *out = *b;
                found = true;
                break;
            }
        }
        shard_unlock(s, held);
    }
    if (found)
        *size = block_size(out);
    return found;
}

void blocks_for_each(void (*fn)(const struct block *, void *), void *arg)
{
    for (unsigned k = 0; k < NSHARDS; k++) {
        struct shard *s = &tab.shard[k];
        enum shard_hold held = shard_lock(s);
        for (uint32_t i = 0; s->slots && i < s->cap; i++)
            if (s->slots[i].addr)
                fn(&s->slots[i], arg);
        shard_unlock(s, held);
    }
}

/* For a stopped world: no lock (the threads that could hold one are parked outside). */
void blocks_for_each_unlocked(void (*fn)(const struct block *, void *), void *arg)
{
    for (unsigned k = 0; k < NSHARDS; k++) {
        struct shard *s = &tab.shard[k];
        for (uint32_t i = 0; s->slots && i < s->cap; i++)
            if (s->slots[i].addr)
                fn(&s->slots[i], arg);
    }
}

size_t blocks_count(void)
{
    size_t n = 0;
    for (unsigned k = 0; k < NSHARDS; k++)
        n += __atomic_load_n(&tab.shard[k].count, __ATOMIC_RELAXED);
    return n;
}

size_t blocks_table_bytes(void)
{
    size_t n = sizeof tab;
    for (unsigned k = 0; k < NSHARDS; k++)
        if (tab.shard[k].slots)
            n += (size_t)tab.shard[k].cap * sizeof(struct block);
    return n;
}

/* Across fork, every shard is locked, and so revoked first: its owner could be inside.
 * Both sides then start afresh, unbiased, before anyone else can enter. */
void blocks_fork_prepare(void)
{
    for (unsigned k = 0; k < NSHARDS; k++) {
        ms_lock_acquire(&tab.shard[k].lock);
        atomic_store_explicit(&tab.shard[k].shared, 1, memory_order_relaxed);
    }
    threads_barrier();
    for (unsigned k = 0; k < NSHARDS; k++)
        while (atomic_load_explicit(&tab.shard[k].busy, memory_order_acquire))
            __builtin_ia32_pause();
    ms_lock_acquire(&tab.big_lock);
}

static void unbias_all(void)
{
    for (unsigned k = 0; k < NSHARDS; k++) {
        atomic_store_explicit(&tab.shard[k].owner, NULL, memory_order_relaxed);
        atomic_store_explicit(&tab.shard[k].shared, 0, memory_order_relaxed);
    }
}

/* A thread that waits for a lock now finds its shard unbiased and revokes it again. */
void blocks_fork_parent(void)
{
    unbias_all();
    ms_lock_release(&tab.big_lock);
    for (unsigned k = 0; k < NSHARDS; k++)
        ms_lock_release(&tab.shard[k].lock);
}
void blocks_fork_child(void)
{
    unbias_all();
    ms_lock_reset(&tab.big_lock);
    for (unsigned k = 0; k < NSHARDS; k++) {
        atomic_store_explicit(&tab.shard[k].busy, 0, memory_order_relaxed);
        ms_lock_reset(&tab.shard[k].lock);
    }
}
