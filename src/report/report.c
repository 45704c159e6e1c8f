/* The leak report: what is live, where it came from, and how it is held.  Everything here
 * runs with the recursion guard set and takes its memory from mallocspy's own arenas, so
 * nothing is allocated by tracked code while a report is written; the tables are left in
 * place at exit on purpose (the process is going away, and late frees may still come). */
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/lock.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/start.h"
#include "core/blocks.h"
#include "core/dispatch.h"
#include "core/sites.h"
#include "detect/detectors.h"
#include "family/pool.h"
#include "leaks/scan.h"
#include "leaks/suppress.h"
#include "leaks/tracker.h"
#include "output/channels.h"
#include "output/errors.h"
#include "output/heap_leaks.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "report/model.h"
#include "report/pictures.h"
#include "report/pprof.h"
#include "report/report.h"
#include "stacks/stacks.h"
#include "stacks/unwind.h"

static spinlock report_lock = SPIN_INIT;   /* one report at a time */
static bool report_exited;                 /* the report at exit is written: no more pprof
                                              profiles (under report_lock) */

/* The mean bytes between two sampled allocations, for the pprof profiles; 0 while every
 * allocation is counted.  Sampling (sample_bytes=) is to give its period here. */
/* pprof's period: the mean sampling interval in bytes, 0 when every block is recorded. */
static uint64_t sample_period(void) { return core_sample_bytes; }

/* ---- grouping ---------------------------------------------------------------------------- */

static uint64_t group_hash(uint32_t stack, uint8_t kind, uint32_t heap, uint32_t tag)
{
    uint64_t h = ((uint64_t)stack << 3 | kind) * 0x9E3779B97F4A7C15ULL;
    h ^= ((uint64_t)heap << 32 | tag) * 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 29);
}

static void group_blocks(struct report *r)
{
    /* Open addressing on (stack, kind, heap, tag): a few thousand groups at most. */
    size_t cap = 1024;
    while (cap < r->snap.n / 4)
        cap *= 2;
    uint32_t *slot = pages_alloc(cap * sizeof *slot);   /* group index + 1; 0 empty */
    if (!slot)
        return;
    for (size_t i = 0; i < r->snap.n; i++) {
        const struct snap_block *b = &r->snap.b[i];
        const struct site *st = site_by_id(b->site);
        uint32_t stack = st ? st->key.stack : 0;
        uint32_t heap = st ? st->key.heap : 0, tag = st ? st->key.tag : 0;
        size_t h = (size_t)group_hash(stack, b->kind, heap, tag) & (cap - 1);
        for (;;) {
            uint32_t gi = slot[h];
            if (!gi) {
                if (!arena_reserve(&r->g, r->ng, &r->capg, sizeof *r->g, 256))
                    goto out;
                r->g[r->ng] = (struct group){ stack, b->kind, heap, tag, NULL, -1, 0, 0,
                                              (b->flags & SNAP_MAPPING) != 0 };
                slot[h] = (uint32_t)++r->ng;
                gi = slot[h];
                if (r->ng * 2 > cap) {
                    /* Too full to stay fast: rebuild bigger, and look again. */
                    pages_free(slot, cap * sizeof *slot);
                    cap *= 4;
                    slot = pages_alloc(cap * sizeof *slot);
                    if (!slot)
                        return;
                    for (size_t k = 0; k < r->ng; k++) {
                        const struct group *g = &r->g[k];
                        size_t hh = (size_t)group_hash(g->stack, g->kind, g->heap, g->tag) &
                                    (cap - 1);
                        while (slot[hh])
                            hh = (hh + 1) & (cap - 1);
                        slot[hh] = (uint32_t)(k + 1);
                    }
                    h = (size_t)group_hash(stack, b->kind, heap, tag) & (cap - 1);
                    continue;
                }
            }
            struct group *g = &r->g[gi - 1];
            if (g->stack == stack && g->kind == b->kind && g->heap == heap && g->tag == tag) {
                g->bytes += b->size;
                g->blocks += !(b->flags & SNAP_PIECE);
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
out:
    pages_free(slot, cap * sizeof *slot);
}

static bool group_before(const void *pa, const void *pb)
{
    const struct group *a = pa, *b = pb;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks;
    return a->stack < b->stack;
}


/* ---- suppressions ------------------------------------------------------------------- */

static int suppression_for(struct report *r, uint32_t stack_id)
{
    const struct stack_rec *st = stack_by_id(stack_id);
    if (!st || !r->supp || !r->supp->n)
        return -1;
    const struct symbol *fr[256];
    unsigned n = st->pub.depth < 256 ? st->pub.depth : 256;
    for (unsigned i = 0; i < n; i++)
        fr[i] = symbolize(r->sym, st->frames[i], st->modgen);
    return supp_match(r->supp, fr, n);
}

struct supp_ctx { struct report *r; int *by_stack; uint32_t nstacks; };

static bool site_suppressed(uint32_t site, void *arg)
{
    struct supp_ctx *c = arg;
    uint32_t st = site_stack(site);
    if (st >= c->nstacks)
        return false;
    if (c->by_stack[st] == -2)
        c->by_stack[st] = suppression_for(c->r, st);
    return c->by_stack[st] >= 0;
}

/* ---- summary ----------------------------------------------------------------------------- */

static void tally(struct report *r)
{
    memset(r->bytes, 0, sizeof r->bytes);
    memset(r->blocks, 0, sizeof r->blocks);
    r->live_bytes = r->live_blocks = 0;
    for (size_t i = 0; i < r->snap.n; i++) {
        const struct snap_block *b = &r->snap.b[i];
        r->bytes[b->kind] += b->size;
        r->blocks[b->kind] += !(b->flags & SNAP_PIECE);
        if (!(b->flags & SNAP_MAPPING)) {
            r->live_bytes += b->size;
            r->live_blocks++;
        }
    }
    for (size_t i = 0; i < r->ng; i++)
        if (r->g[i].kind == KIND_POOL) {
            r->bytes[KIND_POOL] += r->g[i].bytes;
            r->blocks[KIND_POOL] += r->g[i].blocks;
        }
    tracker_counters(&r->allocs, &r->frees, &r->peak);
}

/* A pool buffer still held: grouped by pool and by the stack that took it. */
static void add_pool_buffer(const char *pool, size_t bytes, const struct stack_rec *taken,
                            void *arg)
{
    struct report *r = arg;
    uint32_t stack = taken ? taken->pub.id : 0;
    for (size_t i = 0; i < r->ng; i++)
        if (r->g[i].kind == KIND_POOL && r->g[i].stack == stack && r->g[i].pool == pool) {
            r->g[i].bytes += bytes;
            r->g[i].blocks++;
            return;
        }
    if (!arena_reserve(&r->g, r->ng, &r->capg, sizeof *r->g, 256))
        return;
    r->g[r->ng++] = (struct group){ stack, KIND_POOL, 0, 0, pool, -1, bytes, 1, false };
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmHWM from /proc/self/status, in bytes; 0 if unknown.  Read before the report, it
 * tells what the run cost apart from the report's own work (symbolizing may decompress
 * whole debug sections: libc6-dbg's are tens of megabytes). */
static uint64_t rss_peak_now(void)
{
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t len, cap;
    char *text = pages_read_fd(fd, &len, &cap);
    close(fd);
    if (!text)
        return 0;
    uint64_t kb = 0;
    const char *p = strstr(text, "\nVmHWM:");
    if (p) {
        for (p += 8; *p == ' ' || *p == '\t'; p++)
            ;
        for (; *p >= '0' && *p <= '9'; p++)
            kb = kb * 10 + (uint64_t)(*p - '0');
    }
    pages_free(text, cap);
    return kb * 1024;
}

/* ---- snapshots ---------------------------------------------------------------------------- */

static struct {
    unsigned taken;            /* snapshots so far (reports of a running process) */
    double start, last;        /* start-up, and the last snapshot (monotonic seconds) */
} shots;

static bool growth_before(const void *pa, const void *pb)
{
    const struct growth *a = pa, *b = pb;
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->stack < b->stack;
}

/* Live blocks and bytes per stack at the previous snapshot (index: stack id). */
struct live { uint64_t blocks, bytes; };
static struct {
    struct live *by_stack;
    size_t n;
} prev;

/* What grew since the previous snapshot, by stack: live bytes now minus live bytes then
 * (a site that keeps a steady amount live, freeing as it allocates, does not show), with
 * how much of it was allocated since then (the blocks of the window that ended). */
static void growth(struct report *r, uint32_t window)
{
    size_t nstacks = (size_t)stacks_count() + 1;
    struct live *cur = pages_alloc(nstacks * sizeof *cur);
    struct live *fresh = pages_alloc(nstacks * sizeof *fresh);
    if (!cur || !fresh) {
        if (cur)
            pages_free(cur, nstacks * sizeof *cur);
        if (fresh)
            pages_free(fresh, nstacks * sizeof *fresh);
        return;
    }
    for (size_t i = 0; i < r->snap.n; i++) {
        const struct snap_block *b = &r->snap.b[i];
        const struct site *st = site_by_id(b->site);
        if (!st || (b->flags & SNAP_MAPPING) || st->key.stack >= nstacks)
            continue;
        /* Sampling: each block stands for more. */
        uint64_t n = core_sampling() ? (uint64_t)(core_sample_weight_count(b->size) + 0.5) : 1;
        uint64_t bytes = core_sample_weight_bytes(b->size);
        cur[st->key.stack].blocks += n;
        cur[st->key.stack].bytes += bytes;
        if (st->key.epoch == window) {
            fresh[st->key.stack].blocks += n;
            fresh[st->key.stack].bytes += bytes;
        }
    }
    for (size_t k = 0; k < nstacks; k++) {
        struct live was = k < prev.n ? prev.by_stack[k] : (struct live){ 0, 0 };
        if (cur[k].bytes <= was.bytes)
            continue;
        if (!arena_reserve(&r->gr, r->ngr, &r->capgr, sizeof *r->gr, 64))
            break;
        r->gr[r->ngr++] = (struct growth){ (uint32_t)k,
                                           cur[k].blocks > was.blocks ? cur[k].blocks - was.blocks
                                                                      : 0,
                                           cur[k].bytes - was.bytes, fresh[k].blocks,
                                           fresh[k].bytes };
        r->grow_blocks += r->gr[r->ngr - 1].blocks;
        r->grow_bytes += r->gr[r->ngr - 1].bytes;
    }
    pages_free(fresh, nstacks * sizeof *fresh);
    if (prev.by_stack)
        pages_free(prev.by_stack, prev.n * sizeof *prev.by_stack);
    prev.by_stack = cur;
    prev.n = nstacks;
    sort_small(r->gr, r->ngr, sizeof *r->gr, growth_before);
}

static bool build(struct report *r, const struct scan_entry *entry, pid_t exclude, bool at_exit)
{
    memset(r, 0, sizeof *r);
    /* A snapshot: from here, new blocks belong to the next window. */
    uint32_t window = sites_new_window();
    double now = seconds();
    r->at_exit = at_exit;
    r->number = at_exit ? shots.taken + 1 : ++shots.taken;
    r->seconds = now - shots.start;
    r->since = shots.last ? shots.last - shots.start : 0;
    shots.last = now;
    chan_set_number(at_exit ? 0 : r->number);
    r->tracking_bytes = arena_bytes() + blocks_map_bytes();
    r->rss_peak = rss_peak_now();
    double t0 = seconds();
    r->scan_ok = scan_classify(&r->snap, &r->graph, entry, exclude, &r->stats);
    r->scan_seconds = seconds() - t0;
    if (core_sampling()) {
        /* Only sampled blocks are known: one that no root reaches through them may still
         * be held by unsampled memory.  None is called leaked. */
        for (size_t i = 0; i < r->snap.n; i++)
            if (r->snap.b[i].kind == KIND_DEFINITE || r->snap.b[i].kind == KIND_INDIRECT)
                r->snap.b[i].kind = KIND_UNKNOWN;
    }
    if (!r->scan_ok)
        diag_warn("out of memory while scanning for leaks; the report may list reachable "
                "blocks as leaked");
    if (r->stats.threads_unscanned)
        diag_warn("%u thread(s) could neither be stopped for the leak scan nor found where "
                "they ran; blocks only they hold may be reported as leaked",
                r->stats.threads_unscanned);
    r->sym = symbolizer_new();
    r->supp = supp_load(options.suppressions, options.use_default_suppressions);
    /* Only leaks are matched: a process without any starts no symbolizer for them. */
    bool any = false;
    for (size_t i = 0; i < r->snap.n && !any; i++)
        any = r->snap.b[i].kind == KIND_DEFINITE || r->snap.b[i].kind == KIND_MAPPING;
    if (any && r->supp && r->supp->n && r->sym) {
        struct supp_ctx c = { r, NULL, stacks_count() + 1 };
        c.by_stack = pages_alloc(c.nstacks * sizeof *c.by_stack);
        if (c.by_stack) {
            /* Patterns match names: the stacks a suppression may silence are named
             * first, all in one request. */
            symbolizer_collect(r->sym);
            for (size_t i = 0; i < r->snap.n; i++) {
                const struct snap_block *b = &r->snap.b[i];
                uint32_t st = site_stack(b->site);
                if ((b->kind == KIND_DEFINITE || b->kind == KIND_MAPPING) && st < c.nstacks &&
                    !c.by_stack[st]) {
                    c.by_stack[st] = 1;
                    symbolizer_want_stack(r->sym, stack_by_id(st));
                }
            }
            symbolizer_resolve(r->sym);
            for (uint32_t i = 0; i < c.nstacks; i++)
                c.by_stack[i] = -2;
            leaks_apply_suppressions(&r->snap, &r->graph, site_suppressed, &c);
            pages_free(c.by_stack, c.nstacks * sizeof *c.by_stack);
        }
    }
    group_blocks(r);
    pools_for_each_held(add_pool_buffer, r);
    for (size_t i = 0; r->supp && i < r->ng; i++) {
        struct group *g = &r->g[i];
        if (g->kind == KIND_SUPPRESSED) {
            g->supp = suppression_for(r, g->stack);
            if (g->supp >= 0) {
                r->supp->s[g->supp].hits += g->blocks;
                r->supp->s[g->supp].bytes += g->bytes;
            }
        }
    }
    sort_small(r->g, r->ng, sizeof *r->g, group_before);
    tally(r);
    growth(r, window);
    if (options.report == REPORT_PROFILE || options.json_path[0] || options.pprof_path[0] ||
        ((options.folded_path[0] || options.flamegraph_path[0]) && options.weight != W_LEAKED))
        r->ps = tracker_profile(&r->nps, &r->psum);
    return true;
}

static void release(struct report *r)
{
    snapshot_free(&r->snap);
    if (r->graph.edge)
        pages_free(r->graph.edge, r->graph.capedge * sizeof *r->graph.edge);
    if (r->g)
        arena_free(r->g, r->capg * sizeof *r->g);
    if (r->gr)
        arena_free(r->gr, r->capgr * sizeof *r->gr);
    symbolizer_free(r->sym);
    supp_free(r->supp);
    tracker_profile_free(r->ps, r->nps);
}

/* ---- output ------------------------------------------------------------------------------ */

static void write_file(const char *pattern, struct report *r, bool json)
{
    char path[4096];
    int fd = chan_open(pattern, json ? "JSON report" : "leak report", path, sizeof path);
    if (fd < 0)
        return;
    struct writer w;
    w_open(&w, fd, NULL);
    if (json)
        report_write_json(&w, r);
    else
        report_write_text(&w, r);
    w_close(&w);
    if (close(fd) != 0 && !w.err)
        w.err = errno;
    if (w.err)
        diag_warn("cannot write the %s report to '%s': %s", json ? "JSON" : "leak", path,
                strerror(w.err));
}

/* What the report will print needs names: leaks or errors to show, the profile in the
 * text, pictures.  A process that leaked nothing and erred nowhere needs none (its JSON
 * keeps module, offset and build ID), and starts no symbolizer. */
static bool needs_names(const struct report *r, bool text, bool json, bool pictures)
{
    bool leaks = report_leaked(r->blocks) || (options.report_reachable && r->blocks[KIND_REACHABLE]);
    return pictures || errors_count() || ((text || json) && leaks) ||
           (json && options.symbolize == SYMBOLIZE_ALL) ||
           (json && heap_leaks_count()) ||
           (text && options.report == REPORT_PROFILE && tracker_active()) ||
           (text && options.report == REPORT_GROWTH && r->ngr);
}

/* The report is written once into nothing, to learn which frames it prints; they are named
 * in one request, and the report is then written for real. */
static void name_frames(struct report *r, bool text, bool json, const struct fg_item *it,
                        size_t n)
{
    if (!r->sym)
        return;
    symbolizer_collect(r->sym);
    struct writer w;
    w_open_null(&w);
    if (text)
        report_write_text(&w, r);
    if (json)
        report_write_json(&w, r);
    w_close(&w);
    for (size_t i = 0; i < n; i++)
        symbolizer_want_stack(r->sym, it[i].stack);
    double t0 = seconds();
    symbolizer_resolve(r->sym);
    if (symbolizer_note(r->sym))
        diag_warn("%s", symbolizer_note(r->sym));
    r->symbol_seconds = seconds() - t0;
}

long report_run(bool at_exit, FILE *stream, const struct scan_entry *entry)
{
    /* Redzones and the quarantine are checked by every report, and at exit. */
    detectors_check_all();
    if (!tracker_active()) {
        /* No leak tracking: only the errors found, and their exit status. */
        if (at_exit && options.json_path[0]) {
            unsigned guard = tls_guard;
            tls_guard = 1;
            struct report r;
            memset(&r, 0, sizeof r);
            r.sym = symbolizer_new();
            if (errors_count())
                name_frames(&r, false, true, NULL, 0);
            write_file(options.json_path, &r, true);
            symbolizer_free(r.sym);
            tls_guard = guard;
        }
        if (at_exit && errors_count() && options.error_exitcode) {
            fflush(NULL);
            _exit(options.error_exitcode);
        }
        return -1;
    }
    unsigned guard = tls_guard;
    tls_guard = 1;
    spin_lock(&report_lock);
    tracker_settle();
    if (at_exit)
        tracker_timeline_end();
    struct report r;
    double t0 = seconds();
    build(&r, entry, report_signal_thread(), at_exit);
    long leaked_n = (long)report_leaked(r.blocks);
    diag_note("%s: %zu live block(s) scanned in %lu ms; %ld leaked, %lu suppressed, %lu "
              "still reachable", at_exit ? "at exit" : "report", r.snap.n,
              (unsigned long)(r.scan_seconds * 1000), leaked_n,
              (unsigned long)r.blocks[KIND_SUPPRESSED], (unsigned long)r.blocks[KIND_REACHABLE]);
    /* Nothing to say goes unsaid on the program's stderr (LeakSanitizer's way); a log the
     * user named, or a stream, still gets the summary line. */
    bool quiet = !stream && options.report == REPORT_QUIET;
    bool clean = !needs_names(&r, true, false, false) && !errors_count();
    bool text = stream || (!quiet && (!clean || options.log_path[0]));
    bool json = !stream && options.json_path[0];
    size_t nit = 0, capit = 0;
    struct fg_item *it = stream ? NULL : pictures_items(&r, &nit, &capit);
    if (seconds() - t0 > 1.0)
        diag_warn("scanned %zu block(s) in %lu ms; writing the report", r.snap.n,
                (unsigned long)((seconds() - t0) * 1000));
    if (needs_names(&r, text, json, it != NULL))
        name_frames(&r, text, json, it, nit);
    if (stream) {
        struct writer w;
        w_open(&w, -1, stream);
        report_write_text(&w, &r);
        w_close(&w);
    } else {
        if (text && !at_exit && strstr(options.log_path, "%n")) {
            /* A log per snapshot: this one's own file. */
            write_file(options.log_path, &r, false);
        } else if (text) {
            /* The text log stays open for the process: errors found while it ran come
             * before the report, and snapshot reports follow one another. */
            int fd = chan_log_fd();
            if (fd >= 0) {
                struct writer w;
                w_open(&w, fd, NULL);
                report_write_text(&w, &r);
                w_close(&w);
                if (w.err)
                    diag_warn("cannot write the leak report to '%s': %s",
                            options.log_path[0] ? options.log_path : "stderr", strerror(w.err));
            }
        }
        if (json)
            write_file(options.json_path, &r, true);
        if (it) {
            if (seconds() - t0 > 1.0)
                diag_warn("writing the pictures (%zu stacks)", nit);
            pictures_write(&r, it, nit);
        }
        if (options.pprof_path[0]) {
            if (seconds() - t0 > 1.0)
                diag_warn("writing the pprof profile");
            pprof_write(&r.snap, r.ps, r.nps, sample_period());
        }
    }
    pictures_free(it, capit);
    release(&r);
    if (at_exit)
        report_exited = true;
    spin_unlock(&report_lock);
    tls_guard = guard;
    int status = 0;
    if (at_exit && errors_count() && options.error_exitcode)
        status = options.error_exitcode;
    else if (at_exit && leaked_n && options.exitcode)
        status = options.exitcode;
    if (status) {
        /* The program's own atexit handlers and destructors have run; flush what stdio
         * still holds, as exit would, and end with the leak (or error) status. */
        fflush(NULL);
        _exit(status);
    }
    return leaked_n;
}

void report_pprof_now(void)
{
    unsigned guard = tls_guard;
    tls_guard = 1;
    spin_lock(&report_lock);
    /* One begun after the report at exit could be cut short by the process's end. */
    if (!report_exited)
        pprof_write(NULL, NULL, 0, sample_period());
    spin_unlock(&report_lock);
    tls_guard = guard;
}

/* At exit the stack below exit()'s caller holds only libc's exit path, whose frames are
 * full of stale words left there by the program's earlier calls (main's own frame among
 * them, when main has returned): scanning them would keep leaked blocks "reachable".
 * So the thread's roots start where exit() was called, with the registers its caller had
 * then, recovered by unwinding through exit's own frames. */
__attribute__((noinline)) static bool exit_caller_entry(struct scan_entry *e)
{
    uintptr_t lo, hi;
    if (!unw_function_bounds((uintptr_t)exit, &lo, &hi))
        return false;
    struct unw_regs rg;
    UNW_CONTEXT(&rg);
    for (int i = 0; i < 32 && unw_step(&rg) > 0; i++) {
        uintptr_t pc = rg.r[UNW_RA] - 1;
        if (pc < lo || pc >= hi)
            continue;
        if (unw_step(&rg) <= 0)
            return false;
        static const int regs[] = { UNW_RBX, UNW_RBP, UNW_R12, UNW_R13, UNW_R14, UNW_R15 };
        e->nregs = 0;
        for (unsigned k = 0; k < ARRAY_SIZE(regs); k++)
            if (rg.known & (1u << regs[k]))
                e->regs[e->nregs++] = rg.r[regs[k]];
        e->sp = rg.r[UNW_RSP];
        return true;
    }
    return false;
}

static void report_at_exit(void *arg)
{
    (void)arg;
    struct scan_entry e;
    SCAN_ENTRY(&e);
    unsigned guard = tls_guard;
    tls_guard = 1;
    struct scan_entry caller;
    bool found = false;
    found = exit_caller_entry(&caller);
    tls_guard = guard;
    report_run(true, NULL, found ? &caller : &e);
}

PUBLIC int ms_report_leaks(FILE *out)
{
    struct scan_entry e;
    SCAN_ENTRY(&e);
    if (!out)
        return MS_E_INVALIDARG;
    start_wait();
    long n = report_run(false, out, &e);
    if (n < 0)
        return MS_E_NOT_REGISTERED;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

/* With no DSO handle: our own destructor must not run it early.  Registered before
 * __libc_start_main registers the loader's destructors, it runs after them. */
void report_register_exit(void)
{
    shots.start = seconds();
    __cxa_atexit(report_at_exit, NULL, NULL);
}

void report_fork_child(void)
{
    spin_reset(&report_lock);
    pprof_fork_child();
}
