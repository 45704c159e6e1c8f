/* Call stacks: captured with libunwind, interned in a uthash table (identical stacks are
 * stored once), and cached per thread so that a call chain seen before is recognised
 * without unwinding it again.
 *
 * The cache is keyed on (return address into the caller, the caller's stack pointer) and
 * validated on the stack itself: an entry lists the stack slots that hold each return
 * address (and, for frames whose CFA is computed from rbp, the slot rbp came from), with
 * the values they held.  The slots are derived from the modules' CFI, never guessed, and
 * only frames whose CFA is rsp or rbp plus a constant are cached; so when every listed
 * slot holds its value again, each frame's CFA is where it was and libunwind would walk
 * exactly the same frames.  Chains through signal frames or code without CFI are never
 * cached and always unwound. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <string.h>

#include "cfi.h"
#include "modules.h"
#include "ut.h"

#define WAYS 2
#define SKIP_MAX 24                 /* frames of mallocspy above the program's */
#define SYNC_EVERY 4096             /* cache hits between two looks at the loader */

struct check {
    int32_t off;                    /* slot address minus the caller's CFA */
    uint32_t rel;                   /* compare the slot minus that CFA (a saved rbp) */
    uintptr_t expect;
};

struct chain_rec {
    const struct stack_rec *stack;
    struct site_key site_key;       /* the site the last allocation from here went to, */
    uint32_t site;                  /* so that the next one need not look it up */
    uint32_t nchecks;
    struct check checks[];
};

struct cache_way {
    uintptr_t ra0, cfa0;
    struct chain_rec *rec;
};

struct stack_cache {
    uint32_t nsets;
    uint32_t epoch;                 /* ms_stack_epoch when the entries were made */
    uint32_t hits;
    struct cache_way ways[];
};

struct stack_node {
    UT_hash_handle hh;
    struct stack_rec rec;           /* last: ends with the frames */
};

static struct {
    ms_lock lock;                   /* table, next_id, pages */
    struct stack_node *table;
    uint32_t next_id;
    atomic_uint epoch;              /* bumped when a module goes away: caches are stale */
    uint32_t last_gen;              /* module generation seen by the last sync */
    _Atomic uint64_t exited_hits, exited_misses; /* of recycled thread states */
} st = { .lock = MS_LOCK_INIT, .next_id = 1 };

#define STACK_PAGE_BITS 12
#define STACK_MAX_PAGES (1u << 14)
static struct stack_rec **stack_pages[STACK_MAX_PAGES];

void stacks_init(void)
{
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

const struct stack_rec *stack_by_id(uint32_t id)
{
    struct stack_rec **page =
        atomic_load_explicit((_Atomic(struct stack_rec **) *)&stack_pages[(id >> STACK_PAGE_BITS) &
                                                                        (STACK_MAX_PAGES - 1)],
                             memory_order_acquire);
    return page ? page[id & ((1u << STACK_PAGE_BITS) - 1)] : NULL;
}

uint32_t stacks_count(void) { return st.next_id - 1; }

static uint64_t hash_frames(const uintptr_t *f, unsigned n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    for (unsigned i = 0; i < n; i++) {
        h ^= f[i];
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    return h;
}

static const struct stack_rec *intern(const uintptr_t *frames, unsigned n, uint32_t gen)
{
    size_t keylen = n * sizeof(uintptr_t);
    struct stack_node *node;
    ms_lock_acquire(&st.lock);
    HASH_FIND(hh, st.table, frames, keylen, node);
    if (node) {
        ms_lock_release(&st.lock);
        return &node->rec;
    }
    uint32_t id = st.next_id;
    if (id >= STACK_MAX_PAGES << STACK_PAGE_BITS)
        goto fail;
    struct stack_rec **page = stack_pages[id >> STACK_PAGE_BITS];
    if (!page) {
        page = arena_alloc(sizeof(*page) << STACK_PAGE_BITS);
        if (!page)
            goto fail;
        atomic_store_explicit((_Atomic(struct stack_rec **) *)&stack_pages[id >> STACK_PAGE_BITS],
                              page, memory_order_release);
    }
    node = arena_alloc(sizeof *node + keylen);
    if (!node)
        goto fail;
    memcpy(node->rec.frames, frames, keylen);
    node->rec.pub.id = id;
    node->rec.pub.depth = n;
    node->rec.pub.frames = node->rec.frames;
    node->rec.hash = hash_frames(frames, n);
    node->rec.modgen = gen;
    HASH_ADD_KEYPTR(hh, st.table, node->rec.frames, keylen, node);
    st.next_id++;
    atomic_store_explicit((_Atomic(struct stack_rec *) *)&page[id & ((1u << STACK_PAGE_BITS) - 1)],
                          &node->rec, memory_order_release);
    ms_lock_release(&st.lock);
    return &node->rec;
fail:
    ms_lock_release(&st.lock);
    return NULL;
}

static size_t chain_size(uint32_t nchecks)
{
    return sizeof(struct chain_rec) + nchecks * sizeof(struct check);
}

static inline bool validate(const struct chain_rec *r, uintptr_t cfa0)
{
    const struct check *c = r->checks;
    for (uint32_t i = 0; i < r->nchecks; i++) {
        uintptr_t v = *(const uintptr_t *)(cfa0 + (intptr_t)c[i].off);
        if (c[i].rel)
            v -= cfa0;
        if (v != c[i].expect)
            return false;
    }
    return true;
}

static void cache_clear(struct stack_cache *c)
{
    for (uint32_t i = 0; i < c->nsets * WAYS; i++) {
        if (c->ways[i].rec)
            arena_free(c->ways[i].rec, chain_size(c->ways[i].rec->nchecks));
        c->ways[i] = (struct cache_way){ 0 };
    }
}

void stack_thread_exit(struct thread_state *ts)
{
    if (ts->stack_cache)
        cache_clear(ts->stack_cache);
    ts->last_chain = NULL;
    atomic_fetch_add(&st.exited_hits, ts->stack_hits);
    atomic_fetch_add(&st.exited_misses, ts->stack_misses);
    ts->stack_hits = ts->stack_misses = 0;
}

static inline uint32_t set_of(const struct stack_cache *c, uintptr_t ra0, uintptr_t cfa0)
{
    uint64_t h = (ra0 * 0x9E3779B97F4A7C15ULL) ^ (cfa0 * 0xc4ceb9fe1a85ec53ULL);
    return (uint32_t)(h >> 40) & (c->nsets - 1);
}

/* Walks the frames libunwind found, using the CFI rules, and records the slots that
 * decide them.  Fails (returns NULL) when a frame's rule is not a plain one or when the
 * walk and libunwind disagree: such a chain is not cached. */
static struct chain_rec *make_chain(const uintptr_t *frames, unsigned n, bool complete,
                                    uintptr_t cfa0, uint32_t stack_id)
{
    struct check tmp[2 * 256 + 2];
    unsigned nc = 0;
    uintptr_t sp = cfa0;
    /* The entry point pushed the program's rbp just below the return address. */
    intptr_t rbp_loc = -16;
    bool rbp_known = true;
    uintptr_t rbp = *(const uintptr_t *)(cfa0 - 16);
    for (unsigned i = 0; i < n; i++) {
        struct cfi_rule r;
        bool last = i + 1 == n;
        if (last && !complete)
            break;     /* cut at `depth`: the frames so far are decided by the slots so far */
        if (!cfi_rule_get(frames[i] - 1, &r))
            return NULL;
        if (last || r.end) {
            /* libunwind ended the walk here: cacheable only if the CFI says this frame
             * is the outermost, so that it would end here again. */
            if (!(last && r.end))
                return NULL;
            break;
        }
        uintptr_t cfa;
        if (r.cfa_reg == 7) {
            cfa = sp + (intptr_t)r.cfa_off;
        } else {
            if (!rbp_known)
                return NULL;
            cfa = rbp + (intptr_t)r.cfa_off;
            tmp[nc++] = (struct check){ (int32_t)rbp_loc, 1, rbp - cfa0 };
        }
        if (cfa <= sp || cfa - cfa0 > (1u << 30))
            return NULL;
        uintptr_t ra_slot = cfa - 8;
        if (*(const uintptr_t *)ra_slot != frames[i + 1])
            return NULL;
        tmp[nc++] = (struct check){ (int32_t)(ra_slot - cfa0), 0, frames[i + 1] };
        if (r.rbp == RBP_SAVED) {
            rbp_loc = (intptr_t)(cfa + (intptr_t)r.rbp_off - cfa0);
            rbp = *(const uintptr_t *)(cfa + (intptr_t)r.rbp_off);
            rbp_known = true;
        } else if (r.rbp == RBP_LOST) {
            rbp_known = false;
        }
        sp = cfa;
    }
    struct chain_rec *rec = arena_alloc(chain_size(nc));
    if (!rec)
        return NULL;
    rec->stack = stack_by_id(stack_id);
    rec->site = 0;
    rec->nchecks = nc;
    memcpy(rec->checks, tmp, nc * sizeof tmp[0]);
    return rec;
}

static struct stack_cache *cache_of(struct thread_state *ts)
{
    if (ts->stack_cache || !ms_opt.stack_cache)
        return ts->stack_cache;
    uint32_t sets = 1;
    while (sets * WAYS < ms_opt.stack_cache)
        sets <<= 1;
    struct stack_cache *c = pages_alloc(sizeof *c + sets * WAYS * sizeof(struct cache_way));
    if (c) {
        c->nsets = sets;
        c->epoch = atomic_load(&st.epoch);
    }
    ts->stack_cache = c;
    return c;
}

/* Brings the module table up to date; if a module went away, the rules and the cached
 * chains that might involve its addresses are dropped everywhere. */
static uint32_t sync_modules(void)
{
    uint32_t gen = modules_sync();
    if (gen != st.last_gen) {
        bool unloaded = false;
        struct module m;
        for (uint32_t id = 0; module_by_id(id, &m); id++)
            if (m.unload_gen != UINT32_MAX && m.unload_gen > st.last_gen)
                unloaded = true;
        st.last_gen = gen;
        if (unloaded) {
            cfi_forget();
            atomic_fetch_add(&st.epoch, 1);
        }
    }
    return gen;
}

static const struct stack_rec *capture_slow(struct thread_state *ts, uintptr_t ra0,
                                            uintptr_t cfa0)
{
    ts->stack_misses++;
    ts->last_chain = NULL;
    uint32_t gen = sync_modules();
    unsigned depth = ms_opt.depth;
    void *buf[256 + SKIP_MAX];
    int n = 0;
    ms_loader_call(n = unw_backtrace(buf, (int)(depth + SKIP_MAX)));
    int k = 0;
    while (k < n && (uintptr_t)buf[k] != ra0)
        k++;
    uintptr_t one = ra0;
    const uintptr_t *frames = &one;
    unsigned nf = 1;
    bool complete = true;
    if (k < n) {
        frames = (const uintptr_t *)&buf[k];
        nf = (unsigned)(n - k);
        /* libunwind stopped because our buffer was full: the stack goes on. */
        complete = n < (int)(depth + SKIP_MAX);
        if (nf > depth) {
            nf = depth;
            complete = false;
        }
    }
    const struct stack_rec *rec = intern(frames, nf, gen);
    if (!rec)
        return NULL;
    struct stack_cache *c = cache_of(ts);
    if (c && k < n) {
        struct chain_rec *cr = make_chain(frames, nf, complete, cfa0, rec->pub.id);
        if (cr) {
            struct cache_way *w = &c->ways[set_of(c, ra0, cfa0) * WAYS];
            if (w[WAYS - 1].rec)
                arena_free(w[WAYS - 1].rec, chain_size(w[WAYS - 1].rec->nchecks));
            memmove(&w[1], &w[0], (WAYS - 1) * sizeof *w);
            w[0] = (struct cache_way){ ra0, cfa0, cr };
            ts->last_chain = cr;
        }
    }
    return rec;
}

/* The site of an allocation whose stack was just captured on this thread: remembered in
 * the call chain's cache entry, looked up only when the chain is new or the key differs
 * (another spy set, another kind of call). */
uint32_t stack_site(struct thread_state *ts, const struct site_key *key)
{
    struct chain_rec *c = ts->last_chain;
    if (likely(c && c->site && c->site_key.mask == key->mask && c->site_key.kind == key->kind &&
               c->site_key.delta == key->delta && c->site_key.stack == key->stack &&
               c->site_key.heap == key->heap && c->site_key.tag == key->tag))
        return c->site;
    uint32_t site = site_get(ts, key);
    if (c) {
        c->site_key = *key;
        c->site = site;
    }
    return site;
}

const struct stack_rec *stack_capture(void *fp)
{
    if (unlikely(!fp))
        return NULL;   /* an internal caller with no program frame: no stack */
    const uintptr_t *f = fp;
    uintptr_t ra0 = f[1], cfa0 = (uintptr_t)(f + 2);
    struct thread_state *ts = ms_tls.ts;
    struct stack_cache *c = ts->stack_cache;
    if (likely(c)) {
        if (unlikely(c->epoch != atomic_load_explicit(&st.epoch, memory_order_relaxed))) {
            cache_clear(c);
            c->epoch = atomic_load(&st.epoch);
        } else if (unlikely(++c->hits >= SYNC_EVERY)) {
            /* A library may have been swapped under cached chains: look now and then. */
            c->hits = 0;
            sync_modules();
        } else {
            struct cache_way *w = &c->ways[set_of(c, ra0, cfa0) * WAYS];
            for (unsigned i = 0; i < WAYS; i++) {
                if (w[i].ra0 == ra0 && w[i].cfa0 == cfa0 && w[i].rec &&
                    validate(w[i].rec, cfa0)) {
                    ts->stack_hits++;
                    if (i) {
                        struct cache_way t = w[i];
                        memmove(&w[1], &w[0], i * sizeof *w);
                        w[0] = t;
                    }
                    ts->last_chain = w[0].rec;
                    return w[0].rec->stack;
                }
            }
        }
    }
    return capture_slow(ts, ra0, cfa0);
}

static void add_stats(struct thread_state *ts, void *arg)
{
    uint64_t *acc = arg;
    acc[0] += ts->stack_hits;
    acc[1] += ts->stack_misses;
}

/* Captures answered from the cache and unwound, over all threads (racy reads). */
void stack_stats(uint64_t *hits, uint64_t *misses)
{
    uint64_t acc[2] = { atomic_load(&st.exited_hits), atomic_load(&st.exited_misses) };
    threads_for_each(add_stats, acc);
    *hits = acc[0];
    *misses = acc[1];
}

void stacks_fork_prepare(void) { ms_lock_acquire(&st.lock); }
void stacks_fork_parent(void) { ms_lock_release(&st.lock); }
void stacks_fork_child(void)
{
    ms_lock_reset(&st.lock);
    cfi_fork_child();
}
