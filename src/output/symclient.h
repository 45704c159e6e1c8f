/* The symbolizer process: names for return addresses are found outside the program, by
 * mallocspy-symbolizer, over a socket. */
#ifndef MS_SYMCLIENT_H
#define MS_SYMCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbol;
/* Fills in the names of the n symbols (whose module, module_id, build_id and offset are
 * set).  Each either gets its names or stays as it was (module+offset only).  Returns
 * false when the symbolizer could not be used at all or stopped answering, with the reason
 * in why (the caller says it once); true when it answered, even if it knew nothing. */
bool symclient_resolve(struct symbol *const *s, size_t n, char *why, size_t cap);

/* A pprof profile: its samples, each the four values of a Go heap profile (alloc_objects,
 * alloc_space, inuse_objects, inuse_space) and a stack, as the report's symbolizer sees its
 * frames (module, build ID, offset), innermost first. */
struct profile_sample {
    uint64_t value[4];
    const struct symbol *const *frame;
    unsigned nframes;
};
struct profile_head {
    uint64_t time_ns;          /* when it was taken (CLOCK_REALTIME) */
    uint64_t duration_ns;      /* what the alloc_ values cover */
    uint64_t period;           /* sampling: mean bytes between two samples; 0 unsampled */
    bool names;                /* the helper names the frames (symbolize=0: pprof may later) */
};
/* Hands the samples to the symbolizer process, which writes the profile into fd (gzip'd
 * profile.proto) and closes its copy; *bytes gets the file's size.  False, with the reason
 * in why, when it could not (the file may then hold part of a profile). */
bool symclient_profile(int fd, const struct profile_head *h, const struct profile_sample *s,
                       size_t n, uint64_t *bytes, char *why, size_t cap);
void symclient_fork_child(void);

#endif
