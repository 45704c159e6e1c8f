/* The leak tracker: a spy like any other, registered through the public API at start-up.
 * The core keeps each live block with its site (and so its stack) because the tracker
 * asks for stacks; the tracker counts allocations, frees, live and peak bytes, and writes
 * the report at exit. */
#include <string.h>

#include "internal.h"

/* Bytes a thread may allocate or free before it publishes its live-byte count: the
 * price of not sharing one counter between threads.  The peak is exact for a single
 * thread and may be low by up to this much per other thread. */
#define FLUSH_BYTES (1 << 20)

static struct {
    _Atomic int64_t live;          /* published live bytes */
    _Atomic int64_t peak;
    _Atomic uint64_t allocs, frees; /* of threads that have exited */
} tk;

static inline void account(struct thread_state *ts, int64_t d)
{
    struct tracker_counters *c = &ts->tracker;
    if (unlikely(atomic_load_explicit(&ts->exiting, memory_order_relaxed))) {
        int64_t v = atomic_fetch_add(&tk.live, d) + d;
        int64_t p = atomic_load_explicit(&tk.peak, memory_order_relaxed);
        while (v > p && !atomic_compare_exchange_weak(&tk.peak, &p, v)) {}
        return;
    }
    c->live_delta += d;
    int64_t est = c->flushed_base + c->live_delta;
    if (unlikely(est > atomic_load_explicit(&tk.peak, memory_order_relaxed))) {
        int64_t p = atomic_load_explicit(&tk.peak, memory_order_relaxed);
        while (est > p && !atomic_compare_exchange_weak(&tk.peak, &p, est)) {}
    }
    if (unlikely(c->live_delta > FLUSH_BYTES || c->live_delta < -FLUSH_BYTES)) {
        c->flushed_base = atomic_fetch_add(&tk.live, c->live_delta) + c->live_delta;
        c->live_delta = 0;
    }
}

static void *tracker_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    if (actual) {
        struct thread_state *ts = ms_tls.ts;
        ts->tracker.allocs++;
        account(ts, (int64_t)ms_tls.call->request);
    }
    return actual;
}

static void *tracker_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    if (spied) {
        struct thread_state *ts = ms_tls.ts;
        ts->tracker.frees++;
        account(ts, -(int64_t)ms_tls.call->block_size);
    }
    return request;
}

/* A successful realloc counts as one allocation and one free of the old block. */
static void *tracker_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    if (actual) {
        struct thread_state *ts = ms_tls.ts;
        const ms_call *c = ms_tls.call;
        ts->tracker.allocs++;
        int64_t d = (int64_t)c->request;
        if (spied) {
            ts->tracker.frees++;
            d -= (int64_t)c->block_size;
        }
        account(ts, d);
    }
    return actual;
}

static const ms_spy_ops tracker_ops = {
    .post_alloc = tracker_post_alloc,
    .pre_free = tracker_pre_free,
    .post_realloc = tracker_post_realloc,
};
static ms_spy tracker_spy = { &tracker_ops };

void tracker_thread_exit(struct thread_state *ts)
{
    struct tracker_counters *c = &ts->tracker;
    atomic_fetch_add(&tk.allocs, c->allocs);
    atomic_fetch_add(&tk.frees, c->frees);
    atomic_fetch_add(&tk.live, c->live_delta);
    memset(c, 0, sizeof *c);
}

struct totals { uint64_t allocs, frees; };
static void add_thread(struct thread_state *ts, void *arg)
{
    struct totals *t = arg;
    t->allocs += ts->tracker.allocs;
    t->frees += ts->tracker.frees;
}

void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak)
{
    struct totals t = { atomic_load(&tk.allocs), atomic_load(&tk.frees) };
    threads_for_each(add_thread, &t);
    *allocs = t.allocs;
    *frees = t.frees;
    *peak = atomic_load(&tk.peak);
}

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);
void report_at_exit(void *arg);

void tracker_init(void)
{
    if (registry_register(&tracker_spy, MS_SPY_STACKS) != MS_OK) {
        ms_warn("cannot register the leak tracker; leak checking is off");
        ms_table_complete = false;
        return;
    }
}

/* With no DSO handle: our own destructor must not run it early.  Registered before
 * __libc_start_main registers the loader's destructors, it runs after them. */
void report_register_exit(void)
{
    __cxa_atexit(report_at_exit, NULL, NULL);
}

void tracker_fork_child(void) {}

bool tracker_registered(void) { return ms_table_complete; }
