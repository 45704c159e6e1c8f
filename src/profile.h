/* The allocation profile: per call stack, how many allocations, how many bytes, how many
 * bytes were live at the moment of the peak and how many allocations were temporary; and
 * the process's live bytes over time.  The leak tracker's hooks count them.
 *
 * The hot path touches only the calling thread's memory: each thread counts into a small
 * direct-mapped table of stacks, flushed into the stack's record when another stack takes
 * the slot, when the thread exits, and read where it stands when a report adds it up.
 *
 * "Live at the peak" is kept without copying every site at each new peak: a global epoch
 * counts the peaks, and every counter (a thread's slot or a site) remembers the epoch of
 * its last change.  A counter changed since the latest peak remembers its value at that
 * peak; one that was not still holds it.  Exact for one thread; with several, a change
 * racing a new peak may land on either side of it. */
#ifndef MS_PROFILE_H
#define MS_PROFILE_H

#include "internal.h"

/* Everything the hot path reads. */
struct prof_state {
    _Atomic int64_t live;      /* published live bytes (threads flush every FLUSH_BYTES) */
    _Atomic int64_t peak;
    _Atomic uint64_t epoch;    /* new peaks so far */
    _Atomic uint64_t allocs, frees; /* of threads that have exited */
    bool on;                   /* the tracker is registered: count */
    bool timeline;             /* timeline=1 */
};
extern struct prof_state prof;

/* Bytes a thread may allocate or free before it publishes its live-byte count: the price
 * of not sharing one counter between threads.  The peak is exact for a single thread and
 * may be low by up to this much per other thread. */
#define FLUSH_BYTES (1 << 20)

void prof_evict(struct thread_state *ts, struct prof_entry *e, uint32_t key);
void prof_timeline_tick(struct thread_state *ts, int64_t est);

/* The owner thread writes its slots with relaxed stores: a report on another thread reads
 * them while the owner may be running. */
#define PSET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define PGET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* A slot's key: the stack id plus one (0 is an empty slot; id 0, no stack, is key 1). */
static inline uint32_t prof_key(const ms_stack *stack) { return (stack ? stack->id : 0) + 1; }

static inline struct prof_entry *prof_slot(struct thread_state *ts, uint32_t key)
{
    struct prof_entry *e = &ts->prof[key & (PROF_SLOTS - 1)];
    if (unlikely(e->stack != key))
        prof_evict(ts, e, key);
    return e;
}

static inline void prof_live(struct prof_entry *e, int64_t d)
{
    uint64_t cur = atomic_load_explicit(&prof.epoch, memory_order_relaxed);
    if (unlikely(e->epoch != cur)) {
        PSET(e->at_peak, e->live);
        PSET(e->epoch, cur);
    }
    PSET(e->live, e->live + d);
}

/* Live and peak bytes: after the site's counters, so that a new peak sees them. */
static inline void prof_account(struct thread_state *ts, int64_t d)
{
    struct tracker_counters *c = &ts->tracker;
    int64_t est;
    if (unlikely(atomic_load_explicit(&ts->exiting, memory_order_relaxed))) {
        est = atomic_fetch_add(&prof.live, d) + d;
    } else {
        /* What the others published, and this thread's own unflushed bytes: off by at most
         * the others' unflushed bytes.  The shared counter changes once a megabyte of a
         * thread's activity, so reading it stays cheap. */
        c->live_delta += d;
        est = atomic_load_explicit(&prof.live, memory_order_relaxed) + c->live_delta;
        if (unlikely(c->live_delta > FLUSH_BYTES || c->live_delta < -FLUSH_BYTES)) {
            atomic_fetch_add(&prof.live, c->live_delta);
            c->live_delta = 0;
        }
    }
    if (unlikely(est > atomic_load_explicit(&prof.peak, memory_order_relaxed))) {
        int64_t p = atomic_load_explicit(&prof.peak, memory_order_relaxed);
        while (est > p && !atomic_compare_exchange_weak(&prof.peak, &p, est)) {}
        if (est > p)
            atomic_fetch_add_explicit(&prof.epoch, 1, memory_order_relaxed);
    }
    if (unlikely(prof.timeline))
        prof_timeline_tick(ts, est);
}

/* A block of `size` bytes at p allocated with `stack`. */
static inline void prof_alloc(struct thread_state *ts, const ms_stack *stack, size_t size,
                              void *p)
{
    struct prof_entry *e = prof_slot(ts, prof_key(stack));
    PSET(e->allocs, e->allocs + 1);
    PSET(e->bytes, e->bytes + size);
    prof_live(e, (int64_t)size);
    ts->last_alloc = p;
    ts->tracker.allocs++;
    prof_account(ts, (int64_t)size);
}

/* The block at p, of `size` bytes allocated with `stack`, freed.  Temporary, as heaptrack
 * counts it: the thread allocated nothing since this block. */
static inline void prof_free(struct thread_state *ts, const ms_stack *stack, size_t size,
                             const void *p)
{
    struct prof_entry *e = prof_slot(ts, prof_key(stack));
    if (p == ts->last_alloc)
        PSET(e->temps, e->temps + 1);
    ts->last_alloc = NULL;
    prof_live(e, -(int64_t)size);
    ts->tracker.frees++;
    prof_account(ts, -(int64_t)size);
}

/* ---- reports ------------------------------------------------------------------------- */

/* One call stack's totals (the sites that share it added up). */
struct prof_stack {
    uint32_t stack;
    uint64_t allocs, bytes, temps;
    int64_t live, at_peak;
};

struct prof_summary {
    uint64_t allocs, frees, bytes, temps;
    int64_t peak, live;
};

/* Adds up every stack's record and every thread's slots; *n gets how many stacks had any
 * allocation.  The array is sorted by bytes allocated, largest first; free it with
 * prof_stacks_free.  NULL (and *n 0) when out of memory or not counting. */
struct prof_stack *prof_stacks(size_t *n, struct prof_summary *sum);
void prof_stacks_free(struct prof_stack *s, size_t n);

/* What a flame graph or folded line is weighted by (option `weight`). */
enum prof_weight { W_LEAKED = 0, W_ALLOCATED, W_COUNT, W_PEAK, W_TEMPORARY, NWEIGHTS };
extern const char *const prof_weight_name[NWEIGHTS];

struct writer;
struct symbolizer;
/* The JSON report's "profile" object and "sites" array (top sites_top by each measure). */
void prof_write_json(struct writer *w, struct symbolizer *sym, const struct prof_stack *s,
                     size_t n, const struct prof_summary *sum);
/* report=profile: the same, as text. */
void prof_write_text(struct writer *w, struct symbolizer *sym, const struct prof_stack *s,
                     size_t n, const struct prof_summary *sum);
/* The JSON report's "timeline" object. */
void prof_write_timeline(struct writer *w);
/* A last sample, at exit. */
void prof_timeline_end(void);

void prof_thread_exit(struct thread_state *ts);
void prof_thread_reset(struct thread_state *ts);
void prof_init(void);
void prof_warn_off(void);
void prof_fork_child(void);

#endif
