/* The live-block table: every block handed out while a spy was registered, keyed by the
 * program's pointer.  16 bytes a block in open-addressed shards (linear probing, deletion
 * by backward shift, so no tombstones), each shard under its own lock: threads freeing and
 * allocating at once rarely meet.  A uthash entry would cost 56 bytes of handle alone;
 * what is shared by many blocks (stack, spies, kind) lives in the block's site. */
#include <string.h>

#include "internal.h"

#define SHARD_BITS 8
#define NSHARDS (1u << SHARD_BITS)
#define INITIAL_CAP 256u

struct shard {
    ms_lock lock;              /* everything below */
    uint32_t count;
    uint32_t mask;             /* capacity - 1; 0 before the first insert */
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

static inline uint64_t mix(uintptr_t a)
{
    uint64_t h = (uint64_t)a;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* The table's locks are the only ones a stop-the-world request waits for: inside them a
 * shard may be half-moved.  While one thread alone takes part, it takes none (see
 * threads_mark_threaded); it still counts itself inside, for a stop request. */
static inline bool shard_lock(struct shard *s)
{
    ms_tls.crit++;
    if (likely(!atomic_load_explicit(&ms_threaded, memory_order_relaxed)))
        return false;
    ms_lock_acquire(&s->lock);
    return true;
}

void stop_park_deferred(void);
static inline void shard_unlock(struct shard *s, bool held)
{
    if (held)
        ms_lock_release(&s->lock);
    if (--ms_tls.crit == 0 && unlikely(ms_tls.stop_deferred))
        stop_park_deferred();
}

void blocks_init(void) {}

static bool grow(struct shard *s)
{
    uint32_t ncap = s->mask ? (s->mask + 1) * 2 : INITIAL_CAP;
    struct block *n = pages_alloc((size_t)ncap * sizeof *n);
    if (!n)
        return false;
    uint32_t nmask = ncap - 1;
    if (s->slots) {
        for (uint32_t i = 0; i <= s->mask; i++) {
            struct block *b = &s->slots[i];
            if (!b->addr)
                continue;
            uint32_t j = (uint32_t)(mix(b->addr) >> SHARD_BITS) & nmask;
            while (n[j].addr)
                j = (j + 1) & nmask;
            n[j] = *b;
        }
        pages_free(s->slots, (size_t)(s->mask + 1) * sizeof *n);
    }
    s->slots = n;
    s->mask = nmask;
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
    if (tab.nbig == tab.big_cap) {
        size_t ncap = tab.big_cap ? tab.big_cap * 2 : 16;
        struct big *nb = arena_realloc(tab.big, tab.big_cap * sizeof *nb, ncap * sizeof *nb);
        if (!nb) {
            ms_lock_release(&tab.big_lock);
            return;
        }
        tab.big = nb;
        tab.big_cap = ncap;
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
    uint64_t h = mix(addr);
    struct shard *s = &tab.shard[h & (NSHARDS - 1)];
    uint32_t sz32 = size >= BLOCK_BIG_SIZE ? BLOCK_BIG_SIZE : (uint32_t)size;
    if (sz32 == BLOCK_BIG_SIZE)
        big_set(addr, size);
    bool held = shard_lock(s);
    if ((s->count + 1) * 4 > (s->mask + 1) * 3 || !s->slots) {
        if (!grow(s)) {
            shard_unlock(s, held);
            return false;
        }
    }
    uint32_t i = (uint32_t)(h >> SHARD_BITS) & s->mask;
    while (s->slots[i].addr && s->slots[i].addr != addr)
        i = (i + 1) & s->mask;
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

static inline bool lookup(struct shard *s, uint64_t h, uintptr_t addr, uint32_t *pos)
{
    if (!s->slots)
        return false;
    uint32_t i = (uint32_t)(h >> SHARD_BITS) & s->mask;
    for (;;) {
        uintptr_t a = s->slots[i].addr;
        if (a == addr) {
            *pos = i;
            return true;
        }
        if (!a)
            return false;
        i = (i + 1) & s->mask;
    }
}

bool blocks_take(uintptr_t addr, struct block *out, size_t *size)
{
    uint64_t h = mix(addr);
    struct shard *s = &tab.shard[h & (NSHARDS - 1)];
    uint32_t i;
    bool held = shard_lock(s);
    if (!lookup(s, h, addr, &i)) {
        shard_unlock(s, held);
        return false;
    }
    *out = s->slots[i];
    /* Backward-shift deletion: pull later members of the probe run into the hole. */
    uint32_t hole = i, j = i;
    for (;;) {
        j = (j + 1) & s->mask;
        uintptr_t a = s->slots[j].addr;
        if (!a)
            break;
        uint32_t home = (uint32_t)(mix(a) >> SHARD_BITS) & s->mask;
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
    uint64_t h = mix(addr);
    struct shard *s = &tab.shard[h & (NSHARDS - 1)];
    uint32_t i;
    bool held = shard_lock(s);
    bool found = lookup(s, h, addr, &i);
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
        bool held = shard_lock(s);
        for (uint32_t i = 0; s->slots && i <= s->mask; i++) {
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
        bool held = shard_lock(s);
        for (uint32_t i = 0; s->slots && i <= s->mask; i++)
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
        for (uint32_t i = 0; s->slots && i <= s->mask; i++)
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
            n += (size_t)(tab.shard[k].mask + 1) * sizeof(struct block);
    return n;
}

void blocks_fork_prepare(void)
{
    for (unsigned k = 0; k < NSHARDS; k++)
        ms_lock_acquire(&tab.shard[k].lock);
    ms_lock_acquire(&tab.big_lock);
}
void blocks_fork_parent(void)
{
    ms_lock_release(&tab.big_lock);
    for (unsigned k = 0; k < NSHARDS; k++)
        ms_lock_release(&tab.shard[k].lock);
}
void blocks_fork_child(void)
{
    ms_lock_reset(&tab.big_lock);
    for (unsigned k = 0; k < NSHARDS; k++)
        ms_lock_reset(&tab.shard[k].lock);
}
