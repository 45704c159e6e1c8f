/* The leak tracker (leaks/tracker.h): its hooks, its counters, the per-stack profile and
 * the timeline.
 *
 * "Live at the peak" is kept without copying every stack's count at each new peak: a
 * global epoch counts the peaks, and every counter (a thread's slot or a stack's totals)
 * remembers the epoch of its last change.  A counter changed since the latest peak
 * remembers its value at that peak; one that was not still holds it.  Exact for one
 * thread; with several, a change racing a new peak may land on either side of it. */
#include <string.h>
#include <time.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/thread.h"
#include "core/dispatch.h"
#include "core/registry.h"
#include "leaks/tracker.h"
#include "stacks/stacks.h"

/* Bytes a thread may allocate or free before it publishes its live-byte count: the price
 * of not sharing one counter between threads.  The peak is exact for a single thread and
 * may be low by up to this much per other thread. */
#define FLUSH_BYTES (1 << 20)
#define PROF_SLOTS 256         /* per thread; a power of two */

/* Everything the hot path reads. */
static struct {
    _Atomic int64_t live;      /* published live bytes (threads flush every FLUSH_BYTES) */
    _Atomic int64_t peak;
    _Atomic uint64_t epoch;    /* new peaks so far */
    _Atomic uint64_t allocs, frees; /* of threads that have exited */
    atomic_int pending;        /* some thread has a high not published yet */
    bool on;                   /* the tracker is registered: count */
    bool timeline;             /* timeline=1 */
    size_t part;               /* offset of struct tracker_thread in a thread state */
} prof;

/* A thread's share of one stack's counts.  The owner writes its slots with relaxed
 * stores: a report on another thread reads them while the owner may be running. */
struct prof_entry {
    uint32_t stack;            /* stack id + 1; 0: empty */
    uint32_t temps;
    uint64_t epoch;            /* prof.epoch when `live` last changed */
    uint64_t allocs, bytes;
    int64_t live;              /* bytes allocated here minus freed here */
    int64_t at_peak;           /* `live` as it was at the peak of `epoch` */
};
#define PSET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define PGET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The tracker's part of a thread state. */
struct tracker_thread {
    uint64_t allocs, frees;
    int64_t live_delta;        /* bytes allocated minus freed since the last flush */
    void *last_alloc;          /* this thread's latest allocation, until its next free */
    uint64_t tl_events;        /* timeline: operations since the clock was last read */
    uint64_t rng;              /* sampling: rounds estimated counts without bias */
    _Atomic int64_t local_max; /* the most live bytes this thread has seen, published as the
                                  peak at the next free of any thread (see settle) */
    atomic_int pending;        /* local_max is above the peak published */
    struct prof_entry prof[PROF_SLOTS];
};

static inline struct tracker_thread *mine(struct thread_state *ts)
{
    return thread_part(ts, prof.part);
}

/* ---- per-stack totals ------------------------------------------------------------------
 * One record per stack id, in pages made when a stack's slot is first flushed. */
struct prof_stats {
    spinlock lock;
    uint64_t epoch, allocs, bytes, temps;
    int64_t live, at_peak;
};
#define STATS_PAGE_BITS 12
#define STATS_MAX_PAGES (1u << 15)
static struct {
    spinlock lock;             /* page creation */
    _Atomic(struct prof_stats *) page[STATS_MAX_PAGES];
} totals = { .lock = SPIN_INIT };

/* The totals of stack id `id`; made when `make`, else NULL until then. */
static struct prof_stats *stats_of(uint32_t id, bool make)
{
    uint32_t pg = id >> STATS_PAGE_BITS;
    if (pg >= STATS_MAX_PAGES)
        return NULL;
    struct prof_stats *p = atomic_load_explicit(&totals.page[pg], memory_order_acquire);
    if (!p && make) {
        spin_lock(&totals.lock);
        p = atomic_load(&totals.page[pg]);
        if (!p) {
            p = pages_alloc(sizeof *p << STATS_PAGE_BITS);
            atomic_store_explicit(&totals.page[pg], p, memory_order_release);
        }
        spin_unlock(&totals.lock);
    }
    return p ? &p[id & ((1u << STATS_PAGE_BITS) - 1)] : NULL;
}

/* Brings a counter up to the latest peak: one unchanged since still holds its value then. */
static inline void sync_peak(uint64_t *epoch, int64_t live, int64_t *at_peak, uint64_t cur)
{
    if (*epoch != cur) {
        *at_peak = live;
        *epoch = cur;
    }
}

static void flush(struct prof_entry *e)
{
    struct prof_stats *st = e->stack ? stats_of(e->stack - 1, true) : NULL;
    if (st) {
        uint64_t cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed);
        int64_t e_peak = e->epoch == cur ? e->at_peak : e->live;
        spin_lock(&st->lock);
        sync_peak(&st->epoch, st->live, &st->at_peak, cur);
        st->allocs += e->allocs;
        st->bytes += e->bytes;
        st->temps += e->temps;
        st->live += e->live;
        st->at_peak += e_peak;
        spin_unlock(&st->lock);
    }
    PSET(e->stack, 0);
    PSET(e->allocs, 0);
    PSET(e->bytes, 0);
    PSET(e->temps, 0);
    PSET(e->live, 0);
    PSET(e->at_peak, 0);
}

__attribute__((noinline)) static void evict(struct prof_entry *e, uint32_t key)
{
    flush(e);
    PSET(e->epoch, atomic_load_explicit(&prof.epoch, memory_order_relaxed));
    PSET(e->stack, key);
}

/* ---- the hot path ------------------------------------------------------------------------ */

static void timeline_tick(struct tracker_thread *t, int64_t est);

/* A slot's key: the stack id plus one (0 is an empty slot; id 0, no stack, is key 1). */
static inline uint32_t key_of(const ms_stack *stack) { return (stack ? stack->id : 0) + 1; }

static inline struct prof_entry *slot(struct tracker_thread *t, uint32_t key)
{
    struct prof_entry *e = &t->prof[key & (PROF_SLOTS - 1)];
    if (unlikely(e->stack != key))
        evict(e, key);
    return e;
}

static inline void add_live(struct prof_entry *e, int64_t d)
{
    uint64_t cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed);
    if (unlikely(e->epoch != cur)) {
        PSET(e->at_peak, e->live);
        PSET(e->epoch, cur);
    }
    PSET(e->live, e->live + d);
}

/* Live and peak bytes: after the stack's counters, so that a new peak sees them. */
static inline void account(struct thread_state *ts, struct tracker_thread *t, int64_t d)
{
    int64_t est;
    if (unlikely(atomic_load_explicit(&ts->exiting, memory_order_relaxed))) {
        est = atomic_fetch_add(&prof.live, d) + d;
    } else {
        /* What the others published, and this thread's own unflushed bytes: off by at most
         * the others' unflushed bytes.  The shared counter changes once a megabyte of a
         * thread's activity, so reading it stays cheap. */
        t->live_delta += d;
        est = atomic_load_explicit(&prof.live, memory_order_relaxed) + t->live_delta;
        if (unlikely(t->live_delta > FLUSH_BYTES || t->live_delta < -FLUSH_BYTES)) {
            atomic_fetch_add(&prof.live, t->live_delta);
            t->live_delta = 0;
        }
    }
    /* A new high is kept by the thread itself and published as the peak at the next free
     * of any thread (settle), not at every allocation of a growing heap: the shared line is
     * written once per growing run, not per allocation.  Nothing is freed between the high
     * and its publication, so the stacks' values at the peak stay exact. */
    if (unlikely(est > atomic_load_explicit(&t->local_max, memory_order_relaxed))) {
        atomic_store_explicit(&t->local_max, est, memory_order_relaxed);
        if (!atomic_load_explicit(&t->pending, memory_order_relaxed)) {
            atomic_store_explicit(&t->pending, 1, memory_order_relaxed);
            if (!atomic_load_explicit(&prof.pending, memory_order_relaxed))
                atomic_store_explicit(&prof.pending, 1, memory_order_release);
        }
    }
    if (unlikely(prof.timeline))
        timeline_tick(t, est);
}

/* Sampling: what one recorded allocation of `size` bytes stands for: *bytes bytes and,
 * on average, the return value in allocations (rounded up or down at random, so that the
 * sums stay unbiased). */
__attribute__((noinline)) static uint64_t weigh(struct tracker_thread *t, uint64_t *bytes)
{
    uint64_t size = *bytes;
    *bytes = core_sample_weight_bytes(size);
    double w = core_sample_weight_count(size);
    uint64_t whole = (uint64_t)w;
    if (!t->rng)
        t->rng = (uint64_t)(uintptr_t)t * 0x9E3779B97F4A7C15ULL | 1;
    t->rng ^= t->rng << 13;
    t->rng ^= t->rng >> 7;
    t->rng ^= t->rng << 17;
    double frac = w - (double)whole;
    return whole + ((double)(t->rng >> 11) / 9007199254740992.0 < frac);
}

/* The thread's high becomes the peak, if it is one: before anything is freed. */
static void publish_peak(int64_t v)
{
    int64_t p = atomic_load_explicit(&prof.peak, memory_order_relaxed);
    while (v > p && !atomic_compare_exchange_weak(&prof.peak, &p, v)) {}
    if (v > p)
        atomic_fetch_add_explicit(&prof.epoch, 1, memory_order_relaxed);
}


/* Every thread's high not yet published becomes the peak: before anything is freed. */
__attribute__((noinline)) static void settle_all(void)
{
    atomic_store(&prof.pending, 0);
    for (struct thread_state *ts = threads_head(); ts; ts = ts->next) {
        struct tracker_thread *o = mine(ts);
        if (atomic_exchange(&o->pending, 0))
            publish_peak(atomic_load_explicit(&o->local_max, memory_order_relaxed));
    }
}

static inline void settle(struct tracker_thread *t)
{
    (void)t;
    if (unlikely(atomic_load_explicit(&prof.pending, memory_order_acquire)))
        settle_all();
}

/* A block of `size` bytes at p allocated with `stack`. */
static inline void count_alloc(const ms_stack *stack, size_t size, void *p)
{
    struct thread_state *ts = thread_tls.ts;
    struct tracker_thread *t = mine(ts);
    uint64_t bytes = size, n = 1;
    if (unlikely(core_sampling()))
        n = weigh(t, &bytes);
    struct prof_entry *e = slot(t, key_of(stack));
    PSET(e->allocs, e->allocs + n);
    PSET(e->bytes, e->bytes + bytes);
    add_live(e, (int64_t)bytes);
    t->last_alloc = p;
    PSET(t->allocs, t->allocs + n);
    account(ts, t, (int64_t)bytes);
}

/* The block at p, of `size` bytes allocated with `stack`, freed.  Temporary, as heaptrack
 * counts it: the thread allocated nothing since this block. */
static inline void count_free(const ms_stack *stack, size_t size, const void *p)
{
    struct thread_state *ts = thread_tls.ts;
    struct tracker_thread *t = mine(ts);
    uint64_t bytes = size, n = 1;
    if (unlikely(core_sampling()))
        n = weigh(t, &bytes);
    settle(t);
    struct prof_entry *e = slot(t, key_of(stack));
    if (p == t->last_alloc)
        PSET(e->temps, e->temps + n);
    t->last_alloc = NULL;
    add_live(e, -(int64_t)bytes);
    PSET(t->frees, t->frees + n);
    account(ts, t, -(int64_t)bytes);
}

/* ---- the spy ---------------------------------------------------------------------------- */

static void *tracker_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    if (actual) {
        const ms_call *c = core_call();
        count_alloc(c->stack, c->request, actual);
    }
    return actual;
}

/* The outermost spy: `request` is the program's own pointer. */
static void *tracker_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    if (spied) {
        const ms_call *c = core_call();
        count_free(c->block_stack, c->block_size, request);
    }
    return request;
}

/* A successful realloc counts as the free of the old block and an allocation. */
static void *tracker_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    if (actual) {
        const ms_call *c = core_call();
        if (spied)
            count_free(c->block_stack, c->block_size, c->block);
        count_alloc(c->stack, c->request, actual);
    }
    return actual;
}

/* The same counting, called by the dispatcher's fast path (core/dispatch.h). */
static void tracker_fast_alloc(const ms_stack *stack, size_t size, void *p)
{
    count_alloc(stack, size, p);
}
static void tracker_fast_free(const ms_stack *stack, size_t size, const void *p)
{
    count_free(stack, size, p);
}
static const struct core_fast_counter fast_counter = { tracker_fast_alloc, tracker_fast_free };

static const ms_spy_ops tracker_ops = {
    .post_alloc = tracker_post_alloc,
    .pre_free = tracker_pre_free,
    .post_realloc = tracker_post_realloc,
};
static ms_spy tracker_spy = { &tracker_ops };

/* ---- threads ------------------------------------------------------------------------------ */

/* The thread is gone, or its state goes to a new thread: its counts go to the totals. */
static void thread_flush(struct thread_state *ts, void *p)
{
    (void)ts;
    struct tracker_thread *t = p;
    settle(t);
    for (unsigned i = 0; i < PROF_SLOTS; i++)
        if (t->prof[i].stack)
            flush(&t->prof[i]);
    t->last_alloc = NULL;
    t->tl_events = 0;
    atomic_fetch_add(&prof.allocs, t->allocs);
    atomic_fetch_add(&prof.frees, t->frees);
    atomic_fetch_add(&prof.live, t->live_delta);
    PSET(t->allocs, 0);
    PSET(t->frees, 0);
    PSET(t->live_delta, 0);
}

/* ---- adding it up ----------------------------------------------------------------------- */

struct totals { uint64_t allocs, frees; int64_t peak; };
static void add_thread(struct thread_state *ts, void *arg)
{
    struct totals *c = arg;
    c->allocs += PGET(mine(ts)->allocs);
    c->frees += PGET(mine(ts)->frees);
    int64_t m = atomic_load_explicit(&mine(ts)->local_max, memory_order_relaxed);
    if (m > c->peak)
        c->peak = m;
}

void tracker_settle(void)
{
    struct thread_state *ts = thread_tls.ts;
    if (prof.on && ts)
        settle(mine(ts));
}

void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak)
{
    struct totals c = { atomic_load(&prof.allocs), atomic_load(&prof.frees),
                        atomic_load(&prof.peak) };
    if (prof.on)
        threads_for_each(add_thread, &c);
    *allocs = c.allocs;
    *frees = c.frees;
    *peak = c.peak;
}

struct agg { uint64_t allocs, bytes, temps; int64_t live, at_peak; };
struct sum_ctx { struct agg *by_key; uint32_t nkeys; uint64_t cur; uint64_t allocs, frees;
                 int64_t peak; };

static void add_slots(struct thread_state *ts, void *arg)
{
    struct sum_ctx *c = arg;
    struct tracker_thread *t = mine(ts);
    c->allocs += PGET(t->allocs);
    c->frees += PGET(t->frees);
    int64_t m = atomic_load_explicit(&t->local_max, memory_order_relaxed);
    if (m > c->peak)
        c->peak = m;
    for (unsigned i = 0; i < PROF_SLOTS; i++) {
        struct prof_entry *e = &t->prof[i];
        uint32_t key = PGET(e->stack);
        if (!key || key >= c->nkeys)
            continue;
        struct agg *a = &c->by_key[key];
        int64_t live = PGET(e->live);
        a->allocs += PGET(e->allocs);
        a->bytes += PGET(e->bytes);
        a->temps += PGET(e->temps);
        a->live += live;
        a->at_peak += PGET(e->epoch) == c->cur ? PGET(e->at_peak) : live;
    }
}

/* Largest first; equal ones by stack id, so that the order does not depend on timing. */
static bool more_bytes(const void *pa, const void *pb)
{
    const struct prof_stack *a = pa, *b = pb;
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->stack < b->stack;
}

struct prof_stack *tracker_profile(size_t *n, struct prof_summary *sum)
{
    *n = 0;
    memset(sum, 0, sizeof *sum);
    if (!prof.on)
        return NULL;
    /* Keys run from 1 (no stack) to the last stack id plus one. */
    struct sum_ctx c = { .nkeys = stacks_count() + 2,
                         .cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed),
                         .allocs = atomic_load(&prof.allocs), .frees = atomic_load(&prof.frees),
                         .peak = atomic_load(&prof.peak) };
    size_t key_bytes = (size_t)c.nkeys * sizeof *c.by_key;
    c.by_key = pages_alloc(key_bytes);
    if (!c.by_key)
        return NULL;
    for (uint32_t k = 1; k < c.nkeys; k++) {
        struct prof_stats *st = stats_of(k - 1, false);
        if (!st)
            continue;
        spin_lock(&st->lock);
        sync_peak(&st->epoch, st->live, &st->at_peak, c.cur);
        c.by_key[k] = (struct agg){ st->allocs, st->bytes, st->temps, st->live, st->at_peak };
        spin_unlock(&st->lock);
    }
    threads_for_each(add_slots, &c);
    size_t used = 0;
    for (uint32_t k = 1; k < c.nkeys; k++)
        used += c.by_key[k].allocs != 0;
    sum->allocs = c.allocs;
    sum->frees = c.frees;
    sum->peak = c.peak;
    struct prof_stack *out = used ? pages_alloc(used * sizeof *out) : NULL;
    if (out) {
        size_t i = 0;
        for (uint32_t k = 1; k < c.nkeys; k++) {
            const struct agg *a = &c.by_key[k];
            if (!a->allocs)
                continue;
            out[i++] = (struct prof_stack){ k - 1, a->allocs, a->bytes, a->temps,
                                            a->live < 0 ? 0 : a->live,
                                            a->at_peak < 0 ? 0 : a->at_peak };
            sum->bytes += a->bytes;
            sum->temps += a->temps;
            sum->live += a->live;
        }
        sort_small(out, i, sizeof *out, more_bytes);
        *n = i;
    }
    pages_free(c.by_key, key_bytes);
    return out;
}

void tracker_profile_free(struct prof_stack *s, size_t n)
{
    if (s)
        pages_free(s, n * sizeof *s);
}

/* ---- the timeline ------------------------------------------------------------------------ */

#define TL_MAX 65536           /* samples kept; then every other one goes, and the interval
                                  doubles */
#define TL_CLOCK_EVERY 32      /* operations between two looks at the clock */

static struct {
    spinlock lock;             /* everything below but wmax */
    struct tl_sample *s;
    size_t n;
    uint64_t t0, last;         /* ns: start, last sample */
    uint64_t interval;         /* ns, or operations (events mode) */
    _Atomic int64_t wmax;      /* most live bytes since the last sample */
} tl = { .lock = SPIN_INIT };

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void tl_append(uint64_t ns, int64_t bytes, int64_t max)
{
    if (!tl.s)
        return;
    if (tl.n == TL_MAX) {
        /* Half the resolution, the same picture: each pair keeps its larger value. */
        for (size_t i = 0; i < TL_MAX / 2; i++) {
            struct tl_sample a = tl.s[2 * i], b = tl.s[2 * i + 1];
            tl.s[i] = (struct tl_sample){ b.ns, b.bytes, a.max > b.max ? a.max : b.max };
        }
        tl.n = TL_MAX / 2;
        tl.interval *= 2;
    }
    tl.s[tl.n++] = (struct tl_sample){ ns - tl.t0, bytes, max > bytes ? max : bytes };
}

static void tl_sample(int64_t est)
{
    uint64_t t = now_ns();
    spin_lock(&tl.lock);
    bool due = options.timeline_events || t - tl.last >= tl.interval;
    if (due) {
        tl_append(t, est, atomic_exchange(&tl.wmax, est));
        tl.last = t;
    }
    spin_unlock(&tl.lock);
}

static void timeline_tick(struct tracker_thread *t, int64_t est)
{
    int64_t m = atomic_load_explicit(&tl.wmax, memory_order_relaxed);
    while (est > m && !atomic_compare_exchange_weak(&tl.wmax, &m, est)) {}
    uint64_t every = options.timeline_events ? tl.interval : TL_CLOCK_EVERY;
    if (++t->tl_events < every)
        return;
    t->tl_events = 0;
    tl_sample(est);
}

bool tracker_timeline_on(void) { return prof.timeline; }

struct live_sum { int64_t live; };
static void add_unflushed(struct thread_state *ts, void *arg)
{
    struct live_sum *ls = arg;
    if (!atomic_load(&ts->exiting))
        ls->live += PGET(mine(ts)->live_delta);
}

void tracker_timeline_end(void)
{
    if (!prof.timeline)
        return;
    struct live_sum ls = { atomic_load(&prof.live) };
    threads_for_each(add_unflushed, &ls);
    spin_lock(&tl.lock);
    uint64_t t = now_ns();
    tl_append(t, ls.live, atomic_exchange(&tl.wmax, ls.live));
    tl.last = t;
    spin_unlock(&tl.lock);
}

size_t tracker_timeline(struct tl_sample **s, size_t *cap, uint64_t *interval)
{
    *s = NULL;
    *cap = 0;
    *interval = 0;
    if (!prof.timeline)
        return 0;
    spin_lock(&tl.lock);
    size_t n = tl.n;
    *interval = tl.interval;
    *cap = (n ? n : 1) * sizeof **s;
    *s = pages_alloc(*cap);
    if (*s)
        memcpy(*s, tl.s, n * sizeof **s);
    spin_unlock(&tl.lock);
    return *s ? n : 0;
}

/* ---- set-up ---------------------------------------------------------------------------- */

bool tracker_active(void) { return prof.on; }

void tracker_warn_off(void)
{
    if (options.report == REPORT_PROFILE || options.folded_path[0] ||
        options.flamegraph_path[0] || options.timeline)
        diag_warn("leak_check=0: report=profile, folded_path, flamegraph_path and timeline "
                  "need the leak tracker and are ignored");
}

bool tracker_init(void)
{
    prof.part = thread_part_register(sizeof(struct tracker_thread), thread_flush, thread_flush);
    core_set_fast_counter(&fast_counter);
    if (!prof.part ||
        registry_register(&tracker_spy, MS_SPY_STACKS | SPY_FAST_COUNT) != MS_OK) {
        diag_warn("cannot register the leak tracker; leak checking is off");
        return false;
    }
    prof.on = true;
    if (!options.timeline)
        return true;
    tl.s = pages_alloc(TL_MAX * sizeof *tl.s);
    if (!tl.s) {
        diag_warn("out of memory for the timeline; timeline=1 is off");
        return true;
    }
    tl.t0 = tl.last = now_ns();
    tl.interval = options.timeline_events ? options.timeline_events
                                          : (uint64_t)options.timeline_ms * 1000000u;
    tl_append(tl.t0, 0, 0);
    prof.timeline = true;
    return true;
}

void tracker_fork_child(void)
{
    spin_reset(&tl.lock);
    spin_reset(&totals.lock);
    for (uint32_t id = 0; id < stacks_count() + 1; id++) {
        struct prof_stats *st = stats_of(id, false);
        if (st)
            spin_reset(&st->lock);
    }
}
