/* pprof_path: the heap profile in pprof's format, as a continuous profiler ingests it. */
#ifndef MS_PPROF_H
#define MS_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct snapshot;
struct prof_stack;

/* At start-up: the time the profiles' alloc_ values count from; warns about pprof options
 * that cannot apply. */
void pprof_init(void);
/* Writes one profile to pprof_path (its %n: this process's profiles, 1, 2, ...): per stack,
 * the allocations and bytes of the tracker's profile `ps` (taken here when NULL) and the
 * blocks live in `snap` (the block map is walked, with no thread stopped, when NULL).
 * `period`: the mean bytes between two samples when allocations are sampled, 0 when every
 * one is counted.  The symbolizer process names, encodes and compresses; a failure is one
 * warning. */
void pprof_write(const struct snapshot *snap, const struct prof_stack *ps, size_t nps,
                 uint64_t period);
void pprof_fork_child(void);

#endif
