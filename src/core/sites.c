/* Sites: what the blocks allocated at one place in one way share (stack, spies that saw
 * them, kind of call, bytes the spies added).  A block points to its site with 32 bits,
 * so that the per-block record stays at 16 bytes. */
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/ut.h"
#include "core/sites.h"
#include "stacks/stacks.h"

struct site_node {
    struct site site;          /* first: site_pages points here */
    UT_hash_handle hh;
};

struct site **site_pages[SITE_MAX_PAGES];
_Atomic uint32_t sites_window;

uint32_t sites_new_window(void) { return atomic_fetch_add(&sites_window, 1); }

static struct {
    spinlock lock;              /* table, next_id, pages */
    struct site_node *table;
    uint32_t next_id;
} sites = { .lock = SPIN_INIT, .next_id = 2 };

/* Each thread's cache of recent keys: its part of the thread state. */
#define SITE_CACHE 64
struct site_cache_entry {
    struct site_key key;
    uint32_t id;
};
static size_t part;

/* What the stack module keeps for us with a call chain (stack_chain_memo). */
struct chain_memo {
    struct site_key key;
    uint32_t site;
};
_Static_assert(sizeof(struct chain_memo) <= STACK_MEMO_BYTES, "the memo holds a site");

void sites_init(void)
{
    part = thread_part_register(SITE_CACHE * sizeof(struct site_cache_entry), NULL, NULL);
    /* Site 0 is SITE_INTERNAL: blocks allocated inside mallocspy or a spy's hook; site 1
     * SITE_HELD: blocks a spy took in charge when the program freed them. */
    static struct site internal = { .id = SITE_INTERNAL }, held = { .id = SITE_HELD };
    static struct site *page0[SITE_PAGE_SIZE];
    page0[SITE_INTERNAL] = &internal;
    page0[SITE_HELD] = &held;
    site_pages[0] = page0;
}

/* Keys are four words with no padding: compared word by word, without a memcmp call. */
_Static_assert(sizeof(struct site_key) == 32, "a site key is four words");
static inline bool key_eq(const struct site_key *a, const struct site_key *b)
{
    const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) == 0;
}

static inline uint32_t cache_index(const struct site_key *k)
{
    uint64_t h = (uint64_t)k->stack * 0x9E3779B97F4A7C15ULL ^ (uint64_t)k->mask << 7 ^
                 (uint64_t)k->kind << 17 ^ k->delta * 31 ^ (uint64_t)k->heap << 23 ^ k->tag;
    return (uint32_t)(h >> 40) & (SITE_CACHE - 1);
}

static uint32_t site_lookup(const struct site_key *key)
{
    struct site_node *n;
    spin_lock(&sites.lock);
    HASH_FIND(hh, sites.table, key, sizeof *key, n);
    if (n) {
        spin_unlock(&sites.lock);
        return n->site.id;
    }
    uint32_t id = sites.next_id;
    if (id >= SITE_MAX_PAGES * SITE_PAGE_SIZE)
        goto fail;
    struct site **page = site_pages[id >> SITE_PAGE_BITS];
    if (!page) {
        page = arena_alloc(SITE_PAGE_SIZE * sizeof *page);
        if (!page)
            goto fail;
        atomic_store_explicit((_Atomic(struct site **) *)&site_pages[id >> SITE_PAGE_BITS],
                              page, memory_order_release);
    }
    n = arena_alloc(sizeof *n);
    if (!n)
        goto fail;
    n->site.key = *key;
    n->site.id = id;
    n->site.stack = key->stack ? stack_by_id(key->stack) : NULL;
    HASH_ADD(hh, sites.table, site.key, sizeof *key, n);
    sites.next_id++;
    /* Published last: a reader that finds the id finds a complete site. */
    atomic_store_explicit((_Atomic(struct site *) *)&page[id & (SITE_PAGE_SIZE - 1)], &n->site,
                          memory_order_release);
    spin_unlock(&sites.lock);
    return id;
fail:
    spin_unlock(&sites.lock);
    return SITE_INTERNAL;
}

uint32_t site_get(struct thread_state *ts, const struct site_key *in)
{
    struct site_key k = *in;
    k.epoch = sites_epoch();
    const struct site_key *key = &k;
    if (unlikely(!part))
        return site_lookup(key);      /* no room for the cache was left */
    struct site_cache_entry *e =
        (struct site_cache_entry *)thread_part(ts, part) + cache_index(key);
    if (likely(e->id && key_eq(&e->key, key)))
        return e->id;
    uint32_t id = site_lookup(key);
    if (id != SITE_INTERNAL) {
        e->key = *key;
        e->id = id;
    }
    return id;
}

uint32_t site_for_stack(struct thread_state *ts, const struct site_key *in)
{
    struct site_key k = *in;
    k.epoch = sites_epoch();
    const struct site_key *key = &k;
    struct chain_memo *m = stack_chain_memo();
    if (likely(m && m->site && key_eq(&m->key, key)))
        return m->site;
    uint32_t site = site_get(ts, key);
    if (m) {
        m->key = *key;
        m->site = site;
    }
    return site;
}

uint32_t sites_count(void) { return sites.next_id; }

void sites_fork_prepare(void) { spin_lock(&sites.lock); }
void sites_fork_parent(void) { spin_unlock(&sites.lock); }
void sites_fork_child(void) { spin_reset(&sites.lock); }
