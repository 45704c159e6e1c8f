/* The leak tracker: a spy like any other, registered through the same registry as users'
 * spies at start-up.  Registered with MS_SPY_STACKS, it makes the core keep each live block
 * with its stack; its hooks count the allocation profile (per stack: allocations, bytes,
 * bytes live at the peak, temporary allocations), the live and peak bytes, and the
 * timeline of live bytes.  The report (report/) reads what it counted.
 *
 * The hot path touches only the calling thread's memory: each thread counts into a small
 * direct-mapped table of stacks, flushed into the stack's totals when another stack takes
 * the slot, when the thread exits, and read where it stands when a report adds it up. */
#ifndef MS_TRACKER_H
#define MS_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Registers the tracker spy and the tracker's part of the thread states; false (with a
 * warning) if it could not be. */
bool tracker_init(void);
/* The tracker is counting (leak_check=1 and it registered). */
bool tracker_active(void);
/* leak_check=0: says once which options that need the tracker are ignored. */
void tracker_warn_off(void);
void tracker_fork_child(void);

/* The calling thread's highest live bytes since its last free become the peak, if they
 * are (a report does it first: a program may end on a growing heap). */
void tracker_settle(void);
/* Allocations and frees so far, and the peak of live bytes. */
void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak);

/* One call stack's totals. */
struct prof_stack {
    uint32_t stack;
    uint64_t allocs, bytes, temps;
    int64_t live, at_peak;
};
struct prof_summary {
    uint64_t allocs, frees, bytes, temps;
    int64_t peak, live;
};
/* Adds up every stack's totals and every thread's slots; *n gets how many stacks had any
 * allocation.  Sorted by bytes allocated, largest first; free with tracker_profile_free.
 * NULL (and *n 0) when out of memory or not counting. */
struct prof_stack *tracker_profile(size_t *n, struct prof_summary *sum);
void tracker_profile_free(struct prof_stack *s, size_t n);

/* The timeline (timeline=1): live bytes when each sample was taken, and the most live
 * since the sample before. */
struct tl_sample { uint64_t ns; int64_t bytes, max; };
bool tracker_timeline_on(void);
/* A last sample, at exit. */
void tracker_timeline_end(void);
/* A copy of the samples (free with pages_free(*s, *cap)); *interval is in nanoseconds, or
 * in operations with timeline_events.  0 samples when off or out of memory. */
size_t tracker_timeline(struct tl_sample **s, size_t *cap, uint64_t *interval);

#endif
