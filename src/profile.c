/* The allocation profile (see profile.h): the slow half of the per-thread counters, the
 * sums a report needs, the "sites" of the JSON report and report=profile's text, and the
 * timeline of live bytes. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profile.h"
#include "report.h"
#include "symbolize.h"
#include "writer.h"

struct prof_state prof;

const char *const prof_weight_name[NWEIGHTS] = { "leaked", "allocated", "allocations", "peak",
                                                 "temporary" };

/* Blocks allocated with no stack (none could be taken) share one record. */
static struct prof_stats no_stack = { .lock = MS_LOCK_INIT };

static inline struct prof_stats *stats_of(uint32_t key)
{
    if (key == 1)
        return &no_stack;
    const struct stack_rec *r = stack_by_id(key - 1);
    return r ? (struct prof_stats *)&r->stats : NULL;
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
    struct prof_stats *st = e->stack ? stats_of(e->stack) : NULL;
    if (st) {
        uint64_t cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed);
        int64_t e_peak = e->epoch == cur ? e->at_peak : e->live;
        ms_lock_acquire(&st->lock);
        sync_peak(&st->epoch, st->live, &st->at_peak, cur);
        st->allocs += e->allocs;
        st->bytes += e->bytes;
        st->temps += e->temps;
        st->live += e->live;
        st->at_peak += e_peak;
        ms_lock_release(&st->lock);
    }
    PSET(e->stack, 0);
    PSET(e->allocs, 0);
    PSET(e->bytes, 0);
    PSET(e->temps, 0);
    PSET(e->live, 0);
    PSET(e->at_peak, 0);
}

void prof_evict(struct thread_state *ts, struct prof_entry *e, uint32_t key)
{
    (void)ts;
    flush(e);
    PSET(e->epoch, atomic_load_explicit(&prof.epoch, memory_order_relaxed));
    PSET(e->stack, key);
}

/* The thread is gone, or its state goes to a new thread: its counts go to the sites. */
void prof_thread_reset(struct thread_state *ts)
{
    for (unsigned i = 0; i < PROF_SLOTS; i++)
        if (ts->prof[i].stack)
            flush(&ts->prof[i]);
    ts->last_alloc = NULL;
    ts->tl_events = 0;
}

void prof_thread_exit(struct thread_state *ts)
{
    prof_thread_reset(ts);
}

/* ---- adding it up ----------------------------------------------------------------------- */

struct agg { uint64_t allocs, bytes, temps; int64_t live, at_peak; };
struct sum_ctx { struct agg *by_key; uint32_t nkeys; uint64_t cur; uint64_t allocs, frees; };

static void add_thread(struct thread_state *ts, void *arg)
{
    struct sum_ctx *c = arg;
    c->allocs += PGET(ts->tracker.allocs);
    c->frees += PGET(ts->tracker.frees);
    for (unsigned i = 0; i < PROF_SLOTS; i++) {
        struct prof_entry *e = &ts->prof[i];
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

struct prof_stack *prof_stacks(size_t *n, struct prof_summary *sum)
{
    *n = 0;
    memset(sum, 0, sizeof *sum);
    if (!prof.on)
        return NULL;
    /* Keys run from 1 (no stack) to the last stack id plus one. */
    struct sum_ctx c = { .nkeys = stacks_count() + 2,
                         .cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed),
                         .allocs = atomic_load(&prof.allocs), .frees = atomic_load(&prof.frees) };
    size_t key_bytes = (size_t)c.nkeys * sizeof *c.by_key;
    c.by_key = pages_alloc(key_bytes);
    if (!c.by_key)
        return NULL;
    size_t used = 0;
    for (uint32_t k = 1; k < c.nkeys; k++) {
        struct prof_stats *st = stats_of(k);
        if (!st)
            continue;
        ms_lock_acquire(&st->lock);
        sync_peak(&st->epoch, st->live, &st->at_peak, c.cur);
        c.by_key[k] = (struct agg){ st->allocs, st->bytes, st->temps, st->live, st->at_peak };
        ms_lock_release(&st->lock);
    }
    threads_for_each(add_thread, &c);
    for (uint32_t k = 1; k < c.nkeys; k++)
        used += c.by_key[k].allocs != 0;
    sum->allocs = c.allocs;
    sum->frees = c.frees;
    sum->peak = atomic_load(&prof.peak);
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
        ms_sort(out, i, sizeof *out, more_bytes);
        *n = i;
    }
    pages_free(c.by_key, key_bytes);
    return out;
}

void prof_stacks_free(struct prof_stack *s, size_t n)
{
    if (s)
        pages_free(s, n * sizeof *s);
}

/* ---- top sites ----------------------------------------------------------------------- */

enum { M_BYTES, M_ALLOCS, M_PEAK, M_TEMPS, NMEASURES };
static const char *const measure_name[NMEASURES] = { "bytes", "allocations", "peak_bytes",
                                                     "temporary" };

static uint64_t measure(const struct prof_stack *s, int m)
{
    switch (m) {
    case M_BYTES: return s->bytes;
    case M_ALLOCS: return s->allocs;
    case M_PEAK: return (uint64_t)s->at_peak;
    default: return s->temps;
    }
}

/* The indices of the top `k` stacks by measure m (ties: the earlier, so the larger in
 * bytes), largest first, in idx[0..return). */
static size_t top_by(const struct prof_stack *s, size_t n, int m, size_t k, uint32_t *idx)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = measure(&s[i], m);
        if (!v)
            continue;
        if (got == k && v <= measure(&s[idx[got - 1]], m))
            continue;
        size_t j = got < k ? got++ : got - 1;
        while (j > 0 && measure(&s[idx[j - 1]], m) < v) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = (uint32_t)i;
    }
    return got;
}

/* Which measures each stack is among the top of: bit m set.  NULL when none. */
static uint8_t *top_marks(const struct prof_stack *s, size_t n, size_t *bytes_out)
{
    size_t k = ms_opt.sites_top;
    *bytes_out = n;
    if (!n || !k)
        return NULL;
    uint8_t *mark = pages_alloc(n);
    uint32_t *idx = pages_alloc(k * sizeof *idx);
    if (!mark || !idx) {
        if (mark)
            pages_free(mark, n);
        if (idx)
            pages_free(idx, k * sizeof *idx);
        return NULL;
    }
    for (int m = 0; m < NMEASURES; m++) {
        size_t got = top_by(s, n, m, k, idx);
        for (size_t i = 0; i < got; i++)
            mark[idx[i]] |= (uint8_t)(1u << m);
    }
    pages_free(idx, k * sizeof *idx);
    return mark;
}

void prof_write_json(struct writer *w, struct symbolizer *sym, const struct prof_stack *s,
                     size_t n, const struct prof_summary *sum)
{
    if (!prof.on) {
        w_str(w, "\"profile\":null,\n\"sites\":null");   /* leak_check=0: nothing counted */
        return;
    }
    w_fmt(w, "\"profile\":{\"allocations\":%lu,\"frees\":%lu,\"bytes\":%lu,\"temporary\":%lu,"
             "\"peak_bytes\":%ld,\"stacks\":%lu,\"sites_top\":%u},\n\"sites\":[",
          (unsigned long)sum->allocs, (unsigned long)sum->frees, (unsigned long)sum->bytes,
          (unsigned long)sum->temps, (long)sum->peak, (unsigned long)n, ms_opt.sites_top);
    size_t mbytes;
    uint8_t *mark = top_marks(s, n, &mbytes);
    bool first = true;
    for (size_t i = 0; mark && i < n; i++) {
        if (!mark[i])
            continue;
        const struct prof_stack *p = &s[i];
        w_fmt(w, "%s\n{\"allocations\":%lu,\"bytes\":%lu,\"peak_bytes\":%ld,\"temporary\":%lu,"
                 "\"live_bytes\":%ld,\"top\":[",
              first ? "" : ",", (unsigned long)p->allocs, (unsigned long)p->bytes,
              (long)p->at_peak, (unsigned long)p->temps, (long)p->live);
        bool f2 = true;
        for (int m = 0; m < NMEASURES; m++)
            if (mark[i] & (1u << m)) {
                w_fmt(w, "%s\"%s\"", f2 ? "" : ",", measure_name[m]);
                f2 = false;
            }
        w_str(w, "],\"stack\":");
        report_json_stack(w, sym, p->stack ? stack_by_id(p->stack) : NULL);
        w_str(w, "}");
        first = false;
    }
    w_str(w, "]");
    if (mark)
        pages_free(mark, mbytes);
}

void prof_write_text(struct writer *w, struct symbolizer *sym, const struct prof_stack *s,
                     size_t n, const struct prof_summary *sum)
{
    w_str(w, "\n=================================================================\n");
    w_fmt(w, "==%d==PROFILE: mallocspy: %lu allocation(s) (%lu temporary), %lu byte(s) "
             "allocated in total, %ld byte(s) live at the peak\n",
          (int)getpid(), (unsigned long)sum->allocs, (unsigned long)sum->temps,
          (unsigned long)sum->bytes, (long)sum->peak);
    size_t k = ms_opt.sites_top;
    uint32_t *idx = k && n ? pages_alloc(k * sizeof *idx) : NULL;
    static const char *const title[NMEASURES] = {
        "Most bytes allocated", "Most allocations", "Most bytes live at the peak",
        "Most temporary allocations",
    };
    static const int order[NMEASURES] = { M_PEAK, M_BYTES, M_ALLOCS, M_TEMPS };
    for (int o = 0; idx && o < NMEASURES; o++) {
        int m = order[o];
        size_t got = top_by(s, n, m, k, idx);
        if (!got)
            continue;
        w_fmt(w, "\n%s:\n", title[m]);
        for (size_t i = 0; i < got; i++) {
            const struct prof_stack *p = &s[idx[i]];
            w_fmt(w, "\n%lu byte(s) in %lu allocation(s) (%lu temporary), %ld byte(s) live at "
                     "the peak, from:\n",
                  (unsigned long)p->bytes, (unsigned long)p->allocs, (unsigned long)p->temps,
                  (long)p->at_peak);
            report_text_stack(w, sym, p->stack ? stack_by_id(p->stack) : NULL);
        }
    }
    if (idx)
        pages_free(idx, k * sizeof *idx);
    w_str(w, "\n");
}

/* ---- the timeline ------------------------------------------------------------------------ */

#define TL_MAX 65536           /* samples kept; then every other one goes, and the interval
                                  doubles */
#define TL_CLOCK_EVERY 32      /* operations between two looks at the clock */

/* bytes: live when the sample was taken; max: the most live since the sample before. */
struct tl_sample { uint64_t ns; int64_t bytes, max; };

static struct {
    ms_lock lock;              /* everything below but wmax */
    struct tl_sample *s;
    size_t n;
    uint64_t t0, last;         /* ns: start, last sample */
    uint64_t interval;         /* ns, or operations (events mode) */
    _Atomic int64_t wmax;      /* most live bytes since the last sample */
} tl = { .lock = MS_LOCK_INIT };

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
    ms_lock_acquire(&tl.lock);
    bool due = ms_opt.timeline_events || t - tl.last >= tl.interval;
    if (due) {
        tl_append(t, est, atomic_exchange(&tl.wmax, est));
        tl.last = t;
    }
    ms_lock_release(&tl.lock);
}

void prof_timeline_tick(struct thread_state *ts, int64_t est)
{
    int64_t m = atomic_load_explicit(&tl.wmax, memory_order_relaxed);
    while (est > m && !atomic_compare_exchange_weak(&tl.wmax, &m, est)) {}
    uint64_t every = ms_opt.timeline_events ? tl.interval : TL_CLOCK_EVERY;
    if (++ts->tl_events < every)
        return;
    ts->tl_events = 0;
    tl_sample(est);
}

struct live_sum { int64_t live; };
static void add_live(struct thread_state *ts, void *arg)
{
    struct live_sum *ls = arg;
    if (!atomic_load(&ts->exiting))
        ls->live += PGET(ts->tracker.live_delta);
}

void prof_timeline_end(void)
{
    if (!prof.timeline)
        return;
    struct live_sum ls = { atomic_load(&prof.live) };
    threads_for_each(add_live, &ls);
    ms_lock_acquire(&tl.lock);
    uint64_t t = now_ns();
    tl_append(t, ls.live, atomic_exchange(&tl.wmax, ls.live));
    tl.last = t;
    ms_lock_release(&tl.lock);
}

void prof_write_timeline(struct writer *w)
{
    if (!prof.timeline)
        return;
    ms_lock_acquire(&tl.lock);
    int64_t top = 0;
    size_t at = 0;
    for (size_t i = 0; i < tl.n; i++)
        if (tl.s[i].max > top) {
            top = tl.s[i].max;
            at = i;
        }
    if (ms_opt.timeline_events)
        w_fmt(w, ",\n\"timeline\":{\"interval_events\":%lu,", (unsigned long)tl.interval);
    else
        w_fmt(w, ",\n\"timeline\":{\"interval_ms\":%lu.%03lu,",
              (unsigned long)(tl.interval / 1000000), (unsigned long)(tl.interval / 1000 % 1000));
    w_fmt(w, "\"peak_bytes\":%ld,\"peak_ms\":%lu.%03lu,\"samples\":[", (long)top,
          (unsigned long)(tl.n ? tl.s[at].ns / 1000000 : 0),
          (unsigned long)(tl.n ? tl.s[at].ns / 1000 % 1000 : 0));
    for (size_t i = 0; i < tl.n; i++)
        w_fmt(w, "%s{\"ms\":%lu.%03lu,\"bytes\":%ld,\"max\":%ld}", i ? "," : "",
              (unsigned long)(tl.s[i].ns / 1000000), (unsigned long)(tl.s[i].ns / 1000 % 1000),
              (long)tl.s[i].bytes, (long)tl.s[i].max);
    w_str(w, "]}");
    ms_lock_release(&tl.lock);
}

/* ---- set-up ---------------------------------------------------------------------------- */

/* leak_check=0: what needs the tracker's counts says so, once. */
void prof_warn_off(void)
{
    if (ms_opt.report == REPORT_PROFILE || ms_opt.folded_path[0] ||
        ms_opt.flamegraph_path[0] || ms_opt.timeline)
        ms_warn("leak_check=0: report=profile, folded_path, flamegraph_path and timeline "
                "need the leak tracker and are ignored");
}

void prof_init(void)
{
    prof.on = true;
    if (!ms_opt.timeline)
        return;
    tl.s = pages_alloc(TL_MAX * sizeof *tl.s);
    if (!tl.s) {
        ms_warn("out of memory for the timeline; timeline=1 is off");
        return;
    }
    tl.t0 = tl.last = now_ns();
    tl.interval = ms_opt.timeline_events ? ms_opt.timeline_events
                                         : (uint64_t)ms_opt.timeline_ms * 1000000u;
    tl_append(tl.t0, 0, 0);
    prof.timeline = true;
}

void prof_fork_child(void)
{
    ms_lock_reset(&tl.lock);
    for (uint32_t k = 1; k < stacks_count() + 2; k++) {
        struct prof_stats *st = stats_of(k);
        if (st)
            ms_lock_reset(&st->lock);
    }
}
