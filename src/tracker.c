/* The leak tracker: a spy like any other, registered through the same registry as users'
 * spies at start-up.  Registered with MS_SPY_STACKS, it makes the core keep each live block
 * with its stack (in the block table, 16 bytes a block); its hooks count the allocation
 * profile and the live and peak bytes (profile.h); the report at exit is its work. */
#include <string.h>

#include "profile.h"

static void *tracker_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    if (actual) {
        const ms_call *c = ms_tls.call;
        prof_alloc(ms_tls.ts, c->stack, c->request, actual);
    }
    return actual;
}

/* The outermost spy: `request` is the program's own pointer. */
static void *tracker_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    if (spied) {
        const ms_call *c = ms_tls.call;
        prof_free(ms_tls.ts, c->block_stack, c->block_size, request);
    }
    return request;
}

/* A successful realloc counts as the free of the old block and an allocation. */
static void *tracker_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    if (actual) {
        const ms_call *c = ms_tls.call;
        if (spied)
            prof_free(ms_tls.ts, c->block_stack, c->block_size, c->block);
        prof_alloc(ms_tls.ts, c->stack, c->request, actual);
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
    prof_thread_exit(ts);
    atomic_fetch_add(&prof.allocs, c->allocs);
    atomic_fetch_add(&prof.frees, c->frees);
    atomic_fetch_add(&prof.live, c->live_delta);
    memset(c, 0, sizeof *c);
}

struct totals { uint64_t allocs, frees; };
static void add_thread(struct thread_state *ts, void *arg)
{
    struct totals *t = arg;
    t->allocs += PGET(ts->tracker.allocs);
    t->frees += PGET(ts->tracker.frees);
}

void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak)
{
    struct totals t = { atomic_load(&prof.allocs), atomic_load(&prof.frees) };
    threads_for_each(add_thread, &t);
    *allocs = t.allocs;
    *frees = t.frees;
    *peak = atomic_load(&prof.peak);
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
    prof_init();
}

/* With no DSO handle: our own destructor must not run it early.  Registered before
 * __libc_start_main registers the loader's destructors, it runs after them. */
void report_register_exit(void)
{
    __cxa_atexit(report_at_exit, NULL, NULL);
}

void tracker_fork_child(void) { prof_fork_child(); }

bool tracker_registered(void) { return ms_table_complete; }
