/* Call stacks: walked by the modules' CFI (unwind.c), interned in a uthash table (identical stacks are
 * stored once), and cached per thread so that a call chain seen before is recognised
 * without unwinding it again.
 *
 * The cache is validated on the stack itself: an entry lists the stack slots that hold
 * each return address (and, for frames whose CFA is computed from rbp, the slot rbp came
 * from), with the values they held, as offsets from the caller's stack pointer.  The slots
 * are derived from the modules' CFI, never guessed, and only frames whose CFA is rsp or
 * rbp plus a constant are cached; so when every listed slot holds its value again, each
 * frame's CFA is where it was and an unwinder would walk exactly the same frames, wherever
 * the chain sits on the stack.
 *
 * It is keyed on the first few return addresses: the first is at hand, and each next one
 * is read from the slot its caller's CFI rule names, remembered per return address (the
 * memo).  A key that ignores the stack pointer lets a chain recur at another depth (a
 * recursive program's usual case) and still hit; one made of several return addresses
 * keeps apart the many chains that share an allocation wrapper.  How many is learned per
 * call site: when two chains of one site share a key, the site's keys grow longer.
 * Chains through signal frames or frames with other rules are never cached and always
 * unwound by the general walk.  No lock of the loader's is taken: modules are found with
 * _dl_find_object. */
#include <string.h>

#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/thread.h"
#include "base/ut.h"
#include "stacks/modules.h"
#include "stacks/rules.h"
#include "stacks/stacks.h"
#include "stacks/unwind.h"

#define WAYS 8
#define SKIP_MAX 24                 /* frames of mallocspy above the program's */
#define KEY_DEPTH 3                 /* return addresses read beyond the first for the key, */
#define KEY_DEPTH_MAX 12            /* more for a call site whose chains share them */
#define MEMO 65536                  /* entries of the per-thread rule memo; a power of two */
#define DEPTHS 1024                 /* entries of the per-thread table of key depths */
#define EXACT 512                   /* entries of the per-thread table by exact position */

struct check {
    int32_t off;                    /* slot address minus the caller's CFA */
    uint32_t rel;                   /* compare the slot minus that CFA (a saved rbp) */
    uintptr_t expect;
};

struct chain_rec {
    const struct stack_rec *stack;
    _Alignas(8) unsigned char memo[STACK_MEMO_BYTES]; /* the layer above's */
    uint32_t nchecks;
    struct check checks[];
};

struct cache_way {
    uintptr_t ra0;
    uint64_t key;
    struct chain_rec *rec;
};

/* The unwind rule of a return address, as cfi_rule_get gave it: kept per thread, so that
 * walking a stack takes no lock; packed in 16 bytes, so that more fit in the caches. */
struct memo {
    uintptr_t pc;
    int32_t cfa_off;
    int16_t rbp_off;
    uint8_t flags;                  /* M_* */
};
enum { M_OK = 1, M_RBP_CFA = 2, M_END = 4, M_RBP_SHIFT = 3 };

/* How many return addresses beyond the first make the key of a call site's chains. */
struct key_depth {
    uintptr_t ra0;
    uint32_t depth;
};

/* A chain by where it was last seen: its first return address and its CFA.  A loop that
 * allocates at one place finds its chain here with two loads and a compare, before any
 * key is computed; the entry is validated as any other. */
struct exact {
    uintptr_t ra0, cfa0;
    struct chain_rec *rec;
};

struct stack_cache {
    uint32_t nsets;
    uint32_t epoch;                 /* ms_stack_epoch when the entries were made */
    struct exact exact[EXACT];
    struct memo memo[MEMO];
    struct key_depth depths[DEPTHS];
    struct cache_way ways[];
};

struct stack_node {
    UT_hash_handle hh;
    struct stack_rec rec;           /* last: ends with the frames */
};

static struct {
    spinlock lock;                   /* table, next_id, pages */
    struct stack_node *table;
    uint32_t next_id;
    atomic_uint epoch;              /* bumped when a module goes away: caches are stale */
    _Atomic uint64_t exited_hits, exited_misses; /* of recycled thread states */
} st = { .lock = SPIN_INIT, .next_id = 1 };

#define STACK_PAGE_BITS 12
#define STACK_MAX_PAGES (1u << 14)
static struct stack_rec **stack_pages[STACK_MAX_PAGES];

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
    spin_lock(&st.lock);
    HASH_FIND(hh, st.table, frames, keylen, node);
    if (node) {
        spin_unlock(&st.lock);
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
    spin_unlock(&st.lock);
    return &node->rec;
fail:
    spin_unlock(&st.lock);
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

static inline struct exact *exact_of(struct stack_cache *c, uintptr_t ra0, uintptr_t cfa0)
{
    uint64_t h = (ra0 ^ (cfa0 << 7)) * 0x9E3779B97F4A7C15ULL;
    return &c->exact[h >> 55 & (EXACT - 1)];
}

/* A chain record goes (evicted): no exact entry may still point to it. */
static void exact_forget(struct stack_cache *c, const struct chain_rec *r)
{
    for (unsigned i = 0; i < EXACT; i++)
        if (c->exact[i].rec == r)
            c->exact[i] = (struct exact){ 0 };
}

static void cache_clear(struct stack_cache *c)
{
    memset(c->exact, 0, sizeof c->exact);
    for (uint32_t i = 0; i < c->nsets * WAYS; i++) {
        if (c->ways[i].rec)
            arena_free(c->ways[i].rec, chain_size(c->ways[i].rec->nchecks));
        c->ways[i] = (struct cache_way){ 0 };
    }
    memset(c->memo, 0, sizeof c->memo);
    memset(c->depths, 0, sizeof c->depths);
}

/* Each thread's cache and counts: its part of the thread state. */
struct stack_thread {
    struct stack_cache *cache;
    struct chain_rec *last_chain;   /* cache entry of this thread's last captured stack */
    uint64_t hits, misses;
};
static size_t part;                 /* offset of struct stack_thread in a thread state */

static inline struct stack_thread *mine(struct thread_state *ts)
{
    return thread_part(ts, part);
}

/* The state goes to a new thread: its chains were another stack's. */
static void thread_reused(struct thread_state *ts, void *p)
{
    (void)ts;
    struct stack_thread *t = p;
    if (t->cache)
        cache_clear(t->cache);
    t->last_chain = NULL;
    atomic_fetch_add(&st.exited_hits, t->hits);
    atomic_fetch_add(&st.exited_misses, t->misses);
    t->hits = t->misses = 0;
}

void stacks_init(void)
{
    part = thread_part_register(sizeof(struct stack_thread), NULL, thread_reused);
}

void *stack_chain_memo(void)
{
    struct thread_state *ts = thread_tls.ts;
    struct chain_rec *c = ts ? mine(ts)->last_chain : NULL;
    return c ? c->memo : NULL;
}

/* ---- walking a stack by its CFI rules --------------------------------------------------- */

static inline struct memo *memo_of(struct stack_cache *c, uintptr_t pc)
{
    return &c->memo[(pc * 0x9E3779B97F4A7C15ULL) >> 40 & (MEMO - 1)];
}

/* The rule at return address pc: from the memo, else (when `fill`) from cfi_rule_get, which
 * needs the modules synced.  False for a frame that is not a plain one, or unknown. */
static inline bool rule_of(struct stack_cache *c, uintptr_t pc, bool fill, struct cfi_rule *r)
{
    struct memo *m = memo_of(c, pc);
    if (likely(m->pc == pc)) {
        *r = (struct cfi_rule){ .ok = m->flags & M_OK, .cfa_reg = m->flags & M_RBP_CFA ? 6 : 7,
                                .rbp = m->flags >> M_RBP_SHIFT, .end = !!(m->flags & M_END),
                                .cfa_off = m->cfa_off, .rbp_off = m->rbp_off };
        return r->ok;
    }
    if (!fill)
        return false;
    rule_get(pc - 1, r);
    /* A saved rbp further than 32 KiB from the CFA does not fit: such a frame is unwound
     * by the general walk, as one without a plain rule. */
    if (r->rbp_off != (int16_t)r->rbp_off)
        r->ok = 0;
    *m = (struct memo){ pc, r->cfa_off, (int16_t)r->rbp_off,
                        (uint8_t)((r->ok ? M_OK : 0) | (r->cfa_reg == 6 ? M_RBP_CFA : 0) |
                                  (r->end ? M_END : 0) | r->rbp << M_RBP_SHIFT) };
    return r->ok;
}

/* Where a walk is: the CFA of the last frame done, and the caller's rbp if known (with the
 * slot it came from, relative to cfa0). */
struct walk {
    uintptr_t cfa0, sp, rbp;
    intptr_t rbp_loc;
    bool rbp_known;
};

static inline void walk_start(struct walk *w, uintptr_t cfa0)
{
    /* The entry point pushed the program's rbp just below the return address. */
    *w = (struct walk){ cfa0, cfa0, *(const uintptr_t *)(cfa0 - 16), -16, true };
}

enum step { STEP_OK, STEP_END, STEP_FAIL };

/* One frame up from the frame that returns to pc: the caller's return address in *ra, and
 * (when chk is not NULL) the slots that decided it appended to chk.  STEP_END: the CFI says
 * this frame is the outermost. */
static inline enum step walk_step(struct walk *w, const struct cfi_rule *r, uintptr_t *ra,
                                  struct check *chk, unsigned *nchk)
{
    if (r->end)
        return STEP_END;
    uintptr_t cfa;
    if (r->cfa_reg == 7) {
        cfa = w->sp + (intptr_t)r->cfa_off;
    } else {
        if (!w->rbp_known)
            return STEP_FAIL;
        cfa = w->rbp + (intptr_t)r->cfa_off;
        if (chk)
            chk[(*nchk)++] = (struct check){ (int32_t)w->rbp_loc, 1, w->rbp - w->cfa0 };
    }
    if (cfa <= w->sp || cfa - w->cfa0 > (1u << 30))
        return STEP_FAIL;
    uintptr_t ra_slot = cfa - 8;
    *ra = *(const uintptr_t *)ra_slot;
    if (chk)
        chk[(*nchk)++] = (struct check){ (int32_t)(ra_slot - w->cfa0), 0, *ra };
    if (r->rbp == RBP_SAVED) {
        w->rbp_loc = (intptr_t)(cfa + (intptr_t)r->rbp_off - w->cfa0);
        w->rbp = *(const uintptr_t *)(cfa + (intptr_t)r->rbp_off);
        w->rbp_known = true;
    } else if (r->rbp == RBP_LOST) {
        w->rbp_known = false;
    }
    w->sp = cfa;
    return STEP_OK;
}

/* ---- the cache -------------------------------------------------------------------------- */

static inline struct key_depth *depth_of(struct stack_cache *c, uintptr_t ra0)
{
    return &c->depths[(ra0 * 0xc4ceb9fe1a85ec53ULL) >> 54 & (DEPTHS - 1)];
}

/* Two chains of this call site had one key: its keys read further from now on (the
 * entries made with shorter keys are no longer found, and age out). */
static void deepen(struct stack_cache *c, uintptr_t ra0)
{
    struct key_depth *d = depth_of(c, ra0);
    unsigned cur = d->ra0 == ra0 ? d->depth : KEY_DEPTH;
    if (cur < KEY_DEPTH_MAX)
        *d = (struct key_depth){ ra0, cur * 2 < KEY_DEPTH_MAX ? cur * 2 : KEY_DEPTH_MAX };
}

/* The key of the chain at (ra0, cfa0): ra0 and the return addresses after it, as far as
 * the call site's key depth and the memo go.  Only a key: the entry is still validated. */
static inline uint64_t chain_key(struct stack_cache *c, uintptr_t ra0, uintptr_t cfa0)
{
    uint64_t k = ra0 * 0xff51afd7ed558ccdULL;
    const struct key_depth *d = depth_of(c, ra0);
    unsigned depth = d->ra0 == ra0 ? d->depth : KEY_DEPTH;
    struct walk w;
    walk_start(&w, cfa0);
    uintptr_t pc = ra0;
    for (unsigned i = 0; i < depth; i++) {
        struct cfi_rule r;
        if (!rule_of(c, pc, false, &r) || walk_step(&w, &r, &pc, NULL, NULL) != STEP_OK)
            break;
        k = (k ^ pc) * 0xc4ceb9fe1a85ec53ULL;
        k ^= k >> 29;
    }
    return k;
}

static inline uint32_t set_of(const struct stack_cache *c, uint64_t key)
{
    return (uint32_t)(key >> 40) & (c->nsets - 1);
}

static struct stack_cache *cache_of(struct stack_thread *t)
{
    if (t->cache || !options.stack_cache)
        return t->cache;
    uint32_t sets = 1;
    while (sets * WAYS < options.stack_cache)
        sets <<= 1;
    struct stack_cache *c = pages_alloc(sizeof *c + sets * WAYS * sizeof(struct cache_way));
    if (c) {
        c->nsets = sets;
        c->epoch = atomic_load(&st.epoch);
    }
    t->cache = c;
    return c;
}

static void cache_insert(struct stack_thread *t, struct stack_cache *c, uintptr_t ra0,
                         uintptr_t cfa0, const struct check *chk, unsigned nchk,
                         const struct stack_rec *rec)
{
    struct chain_rec *cr = arena_alloc(chain_size(nchk));
    if (!cr)
        return;
    cr->stack = rec;
    memset(cr->memo, 0, sizeof cr->memo);
    cr->nchecks = nchk;
    memcpy(cr->checks, chk, nchk * sizeof *chk);
    uint64_t key = chain_key(c, ra0, cfa0);
    struct cache_way *w = &c->ways[set_of(c, key) * WAYS];
    if (w[WAYS - 1].rec) {
        exact_forget(c, w[WAYS - 1].rec);
        arena_free(w[WAYS - 1].rec, chain_size(w[WAYS - 1].rec->nchecks));
    }
    memmove(&w[1], &w[0], (WAYS - 1) * sizeof *w);
    w[0] = (struct cache_way){ ra0, key, cr };
    *exact_of(c, ra0, cfa0) = (struct exact){ ra0, cfa0, cr };
    t->last_chain = cr;
}

/* After dlclose: if a module went away, the rules and the cached chains that might
 * involve its addresses are dropped everywhere (the code there may become another's). */
void stacks_after_dlclose(void)
{
    if (modules_refresh()) {
        rules_forget();
        atomic_fetch_add(&st.epoch, 1);
    }
}

/* ---- capture ------------------------------------------------------------------------------ */

/* A stack not in the cache, walked by its CFI rules: the frames (up to `depth`) and the
 * slots that decide them, all plain frames.  NULL when a frame is not plain (a signal
 * frame, code without CFI): then the general walk does it. */
static const struct stack_rec *walk_stack(struct stack_thread *t, struct stack_cache *c,
                                          uintptr_t ra0, uintptr_t cfa0)
{
    unsigned depth = options.depth;
    uintptr_t frames[256];
    struct check chk[2 * 256 + 2];
    unsigned n = 1, nchk = 0;
    frames[0] = ra0;
    struct walk w;
    walk_start(&w, cfa0);
    while (n < depth) {
        struct cfi_rule r;
        if (!rule_of(c, frames[n - 1], true, &r))
            return NULL;
        enum step s = walk_step(&w, &r, &frames[n], chk, &nchk);
        if (s == STEP_FAIL)
            return NULL;
        if (s == STEP_END)
            break;
        n++;
    }
    const struct stack_rec *rec = intern(frames, n, modules_cover(frames, n));
    if (rec)
        cache_insert(t, c, ra0, cfa0, chk, nchk, rec);
    return rec;
}

/* The general walk, for what walk_stack cannot do (a signal frame, a CFA by expression or
 * by another register): from this very frame, with every callee-saved register, up
 * through mallocspy's own frames to the program's, then on.  The stack is not cached. */
__attribute__((noinline)) static const struct stack_rec *unwind_stack(uintptr_t ra0,
                                                                      uintptr_t cfa0)
{
    unsigned depth = options.depth;
    uintptr_t frames[256];
    unsigned n = 0;
    struct unw_regs rg;
    UNW_CONTEXT(&rg);
    bool found = false;
    for (unsigned k = 0; k < SKIP_MAX + 1 && !found; k++) {
        if (unw_step(&rg) <= 0)
            break;
        found = rg.r[UNW_RA] == ra0 && rg.r[UNW_RSP] == cfa0;
    }
    if (found) {
        frames[n++] = ra0;
        while (n < depth && unw_step(&rg) > 0)
            frames[n++] = rg.r[UNW_RA];
    } else {
        frames[n++] = ra0;    /* lost the way inside mallocspy: the caller at least */
    }
    return intern(frames, n, modules_cover(frames, n));
}

static const struct stack_rec *capture_slow(struct stack_thread *t, uintptr_t ra0,
                                            uintptr_t cfa0)
{
    t->misses++;
    t->last_chain = NULL;
    struct stack_cache *c = cache_of(t);
    const struct stack_rec *rec = c ? walk_stack(t, c, ra0, cfa0) : NULL;
    return rec ? rec : unwind_stack(ra0, cfa0);
}

const struct stack_rec *stack_capture(void *fp)
{
    if (unlikely(!fp))
        return NULL;   /* an internal caller with no program frame: no stack */
    const uintptr_t *f = fp;
    uintptr_t ra0 = f[1], cfa0 = (uintptr_t)(f + 2);
    struct stack_thread *t = mine(thread_tls.ts);
    struct stack_cache *c = t->cache;
    if (likely(c)) {
        if (unlikely(c->epoch != atomic_load_explicit(&st.epoch, memory_order_relaxed))) {
            cache_clear(c);
            c->epoch = atomic_load(&st.epoch);
        } else {
            struct exact *e = exact_of(c, ra0, cfa0);
            if (likely(e->ra0 == ra0 && e->cfa0 == cfa0 && e->rec && validate(e->rec, cfa0))) {
                t->hits++;
                t->last_chain = e->rec;
                return e->rec->stack;
            }
            uint64_t key = chain_key(c, ra0, cfa0);
            struct cache_way *w = &c->ways[set_of(c, key) * WAYS];
            bool clash = false;
            for (unsigned i = 0; i < WAYS; i++) {
                if (w[i].key != key || w[i].ra0 != ra0 || !w[i].rec)
                    continue;
                if (!validate(w[i].rec, cfa0)) {
                    clash = true;
                    continue;
                }
                t->hits++;
                if (i) {
                    struct cache_way t = w[i];
                    memmove(&w[1], &w[0], i * sizeof *w);
                    w[0] = t;
                }
                t->last_chain = w[0].rec;
                *e = (struct exact){ ra0, cfa0, w[0].rec };
                return w[0].rec->stack;
            }
            if (clash)
                deepen(c, ra0);
        }
    }
    return capture_slow(t, ra0, cfa0);
}

static void add_stats(struct thread_state *ts, void *arg)
{
    uint64_t *acc = arg;
    acc[0] += mine(ts)->hits;
    acc[1] += mine(ts)->misses;
}

/* Captures answered from the cache and unwound, over all threads (racy reads). */
void stack_stats(uint64_t *hits, uint64_t *misses)
{
    uint64_t acc[2] = { atomic_load(&st.exited_hits), atomic_load(&st.exited_misses) };
    threads_for_each(add_stats, acc);
    *hits = acc[0];
    *misses = acc[1];
}

void stacks_fork_prepare(void) { spin_lock(&st.lock); }
void stacks_fork_parent(void) { spin_unlock(&st.lock); }
void stacks_fork_child(void)
{
    spin_reset(&st.lock);
    rules_fork_child();
}
