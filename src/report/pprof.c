/* The heap profile in pprof's format (pprof_path): the four sample types of a Go heap
 * profile per stack, alloc_objects and alloc_space from the tracker's profile, inuse_objects
 * and inuse_space from the blocks live now.  This process only gathers those raw numbers and
 * the stacks' module offsets; the symbolizer process names the frames, encodes profile.proto
 * and compresses it into the file opened here (output/symclient.c). */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/sites.h"
#include "leaks/scan.h"
#include "leaks/tracker.h"
#include "output/channels.h"
#include "output/symbolize.h"
#include "output/symclient.h"
#include "report/pprof.h"
#include "stacks/stacks.h"

static struct {
    _Atomic long number;       /* profiles begun by this process: the next one's %n - 1 */
    uint64_t start_ns;         /* CLOCK_REALTIME at start-up; read-only after */
} pp;

static uint64_t realtime_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void pprof_init(void)
{
    pp.start_ns = realtime_ns();
    if (!options.leak_check && (options.pprof_path[0] || options.pprof_interval))
        diag_warn("leak_check=0: pprof_path and pprof_interval need the leak tracker and are "
                  "ignored");
    else if (options.pprof_interval && !options.pprof_path[0])
        diag_warn("pprof_interval=%u without pprof_path: no profile is written",
                  options.pprof_interval);
}

/* A child numbers its own profiles (with %p in the name, they are its own files). */
void pprof_fork_child(void) { atomic_store(&pp.number, 0); }

/* Per stack id: the four values of its sample. */
struct tally {
    uint64_t *v;               /* 4 per stack id */
    uint32_t n;                /* stack ids */
};

static void add_live(struct tally *t, uint32_t site, uint64_t size)
{
    uint32_t st = site_stack(site);
    if (st >= t->n)
        return;                /* a stack newer than the profile's count: next time */
    /* Sampling: each sampled block stands for more (the same weights as the tracker's). */
    t->v[4 * st + 2] += core_sampling() ? (uint64_t)(core_sample_weight_count(size) + 0.5) : 1;
    t->v[4 * st + 3] += core_sample_weight_bytes(size);
}

static void live_block(const struct block *b, void *arg)
{
    if (b->site > SITE_HELD)   /* as the scan: mallocspy's own and spies' are not the program's */
        add_live(arg, b->site, b->size);
}

/* Removes the file if it is still the one written through fd: a profile that could not be
 * written leaves no empty or broken file for a collection agent to pick up. */
static void remove_if_ours(const char *path, int fd)
{
    struct stat a, b;
    if (fstat(fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino && S_ISREG(b.st_mode))
        unlink(path);
}

void pprof_write(const struct snapshot *snap, const struct prof_stack *ps, size_t nps,
                 uint64_t period)
{
    if (!options.pprof_path[0] || !tracker_active())
        return;
    int saved = errno;
    uint64_t now = realtime_ns();
    struct tally t = { .n = stacks_count() + 1 };
    size_t vbytes = (size_t)t.n * 4 * sizeof *t.v;
    t.v = pages_alloc(vbytes);
    struct prof_stack *own = NULL;
    size_t nown = 0;
    struct profile_sample *smp = NULL;
    const struct symbol **frames = NULL;
    size_t ns = 0, nf = 0;
    struct symbolizer *sym = symbolizer_new();
    if (!t.v || !sym)
        goto oom;
    if (!ps) {
        struct prof_summary sum;
        ps = own = tracker_profile(&nown, &sum);
        nps = nown;
    }
    for (size_t i = 0; i < nps; i++)
        if (ps[i].stack < t.n) {
            t.v[4 * ps[i].stack] += ps[i].allocs;
            t.v[4 * ps[i].stack + 1] += ps[i].bytes;
        }
    if (snap) {
        for (size_t i = 0; i < snap->n; i++)
            if (!(snap->b[i].flags & SNAP_MAPPING))
                add_live(&t, snap->b[i].site, snap->b[i].size);
    } else {
        blocks_for_each(live_block, &t);
    }
    for (uint32_t id = 0; id < t.n; id++) {
        const uint64_t *v = &t.v[4 * id];
        if (!(v[0] | v[1] | v[2] | v[3]))
            continue;
        const struct stack_rec *st = id ? stack_by_id(id) : NULL;
        ns++;
        nf += st ? st->pub.depth : 0;
    }
    smp = pages_alloc((ns ? ns : 1) * sizeof *smp);
    frames = pages_alloc((nf ? nf : 1) * sizeof *frames);
    if (!smp || !frames)
        goto oom;
    size_t k = 0, f = 0;
    for (uint32_t id = 0; id < t.n && k < ns; id++) {
        const uint64_t *v = &t.v[4 * id];
        if (!(v[0] | v[1] | v[2] | v[3]))
            continue;
        const struct stack_rec *st = id ? stack_by_id(id) : NULL;
        struct profile_sample *s = &smp[k++];
        memcpy(s->value, v, sizeof s->value);
        s->frame = &frames[f];
        s->nframes = 0;
        for (uint32_t i = 0; st && i < st->pub.depth && f < nf; i++, s->nframes++)
            frames[f++] = symbolize(sym, st->frames[i], st->modgen);
    }
    char path[4096], why[320];
    long number = atomic_fetch_add(&pp.number, 1) + 1;
    int fd = chan_open_n(options.pprof_path, number, "pprof profile", path, sizeof path);
    if (fd >= 0) {
        struct profile_head h = { now, now - pp.start_ns, period,
                                  options.symbolize != SYMBOLIZE_NEVER };
        uint64_t bytes = 0;
        if (!symclient_profile(fd, &h, smp, k, &bytes, why, sizeof why)) {
            diag_warn("cannot write the pprof profile to '%s': %s", path, why);
            remove_if_ours(path, fd);
        }
        close(fd);
    }
    goto out;
oom:
    diag_warn("out of memory for the pprof profile; none is written");
out:
    symbolizer_free(sym);
    if (frames)
        pages_free(frames, (nf ? nf : 1) * sizeof *frames);
    if (smp)
        pages_free(smp, (ns ? ns : 1) * sizeof *smp);
    tracker_profile_free(own, nown);
    if (t.v)
        pages_free(t.v, vbytes);
    errno = saved;
}
