/* The leak tracker: a spy like any other, registered through the public API at start-up.
 * It has no hooks: registered with MS_SPY_STACKS, it makes the core keep each live block
 * with its site (and so its stack), and the core counts what the profile needs
 * (profile.h) once it knows the block's site.  The report at exit is its work. */
#include <string.h>

#include "profile.h"

static const ms_spy_ops tracker_ops = { 0 };
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
