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

#include "channels.h"
#include "internal.h"
#include "modules.h"
#include "report.h"
#include "blocks.h"
#include "scan.h"
#include "suppress.h"
#include "symbolize.h"
#include "unwind.h"
#include "writer.h"
#include "errors.h"
#include "heap.h"
#include "pool.h"
#include "profile.h"
#include "flamegraph.h"

void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak);

struct group {
    uint32_t stack;
    uint8_t kind;
    uint32_t heap, tag;        /* blocks of a private heap, with a debug location */
    const char *pool;          /* KIND_POOL: the pool's name */
    int supp;                  /* suppression that matched, -1 */
    uint64_t bytes, blocks;
    bool mapping;              /* page mappings, not heap blocks */
};

struct report {
    struct snapshot snap;
    struct leak_graph graph;
    struct scan_stats stats;
    double scan_seconds;
    double symbol_seconds;     /* waiting for the symbolizer */
    size_t tracking_bytes;     /* own memory before the report took any */
    uint64_t rss_peak;         /* the process's peak RSS (VmHWM) before the report */
    bool scan_ok;
    struct group *g;
    size_t ng, capg;
    uint64_t bytes[NKINDS], blocks[NKINDS];
    uint64_t live_bytes, live_blocks;
    uint64_t allocs, frees;
    int64_t peak;
    struct symbolizer *sym;
    struct suppressions *supp;
    struct prof_stack *ps;     /* the profile, by stack, when a report needs it */
    size_t nps;
    struct prof_summary psum;
};

static ms_lock report_lock = MS_LOCK_INIT;   /* one report at a time */

/* ---- snapshot -------------------------------------------------------------------------- */

static void snapshot_free(struct snapshot *s)
{
    if (s->b)
        pages_free(s->b, s->cap * sizeof *s->b);
    memset(s, 0, sizeof *s);
}

/* ---- grouping ---------------------------------------------------------------------------- */

static uint32_t stack_of(uint32_t site)
{
    const struct site *s = site_by_id(site);
    return s ? s->key.stack : 0;
}

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
        uint32_t heap = st ? st->key.heap : 0, tag = st ? (uint32_t)st->key.tag : 0;
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
    uint32_t st = stack_of(site);
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

static bool build(struct report *r, const struct scan_entry *entry, pid_t exclude)
{
    memset(r, 0, sizeof *r);
    r->tracking_bytes = arena_bytes() + blocks_map_bytes();
    r->rss_peak = rss_peak_now();
    double t0 = seconds();
    r->scan_ok = scan_classify(&r->snap, &r->graph, entry, exclude, &r->stats);
    r->scan_seconds = seconds() - t0;
    if (!r->scan_ok)
        ms_warn("out of memory while scanning for leaks; the report may list reachable "
                "blocks as leaked");
    if (r->stats.threads_unscanned)
        ms_warn("%u thread(s) could neither be stopped for the leak scan nor found where "
                "they ran; blocks only they hold may be reported as leaked",
                r->stats.threads_unscanned);
    r->sym = symbolizer_new();
    if (ms_opt.suppressions[0])
        r->supp = supp_load(ms_opt.suppressions);
    if (r->supp && r->supp->n && r->sym) {
        struct supp_ctx c = { r, NULL, stacks_count() + 1 };
        c.by_stack = pages_alloc(c.nstacks * sizeof *c.by_stack);
        if (c.by_stack) {
            /* Patterns match names: the stacks a suppression may silence are named
             * first, all in one request. */
            symbolizer_collect(r->sym);
            for (size_t i = 0; i < r->snap.n; i++) {
                const struct snap_block *b = &r->snap.b[i];
                uint32_t st = stack_of(b->site);
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
    ms_sort(r->g, r->ng, sizeof *r->g, group_before);
    tally(r);
    if (ms_opt.report == REPORT_PROFILE || ms_opt.json_path[0] ||
        ((ms_opt.folded_path[0] || ms_opt.flamegraph_path[0]) && ms_opt.weight != W_LEAKED))
        r->ps = prof_stacks(&r->nps, &r->psum);
    return true;
}

static void release(struct report *r)
{
    snapshot_free(&r->snap);
    if (r->graph.edge)
        pages_free(r->graph.edge, r->graph.capedge * sizeof *r->graph.edge);
    if (r->g)
        arena_free(r->g, r->capg * sizeof *r->g);
    symbolizer_free(r->sym);
    supp_free(r->supp);
    prof_stacks_free(r->ps, r->nps);
}

/* ---- text ---------------------------------------------------------------------------- */

void report_text_stack(struct writer *w, struct symbolizer *sym, const struct stack_rec *st)
{
    if (!st) {
        w_str(w, "    <no stack recorded>\n");
        return;
    }
    unsigned k = 0;
    for (uint32_t i = 0; i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        /* Functions inlined at the address come first, each a frame of its own, as
         * LeakSanitizer shows them. */
        for (unsigned j = 0; j <= s->ninline; j++) {
            const char *fn, *file;
            int line;
            symbol_frame(s, j, &fn, &file, &line);
            w_fmt(w, "    #%u 0x%lx", k++, (unsigned long)s->addr);
            if (fn)
                w_fmt(w, " in %s", fn);
            if (file && line)
                w_fmt(w, " %s:%d", file, line);
            if (s->has_module)
                w_fmt(w, " (%s+0x%lx)", s->module ? s->module : "?", (unsigned long)s->offset);
            w_str(w, "\n");
        }
    }
}

/* " in heap 'name'", " at file:line": the heap and the debug location of a group. */
static void write_where(struct writer *w, uint32_t heap, uint32_t tag)
{
    const char *file;
    int line;
    if (heap && heap_name(heap))
        w_fmt(w, " in heap '%s'", heap_name(heap));
    if (tag && tag_lookup(tag, &file, &line))
        w_fmt(w, " at %s:%d", file, line);
}

static void json_where(struct writer *w, uint32_t heap, uint32_t tag)
{
    const char *file;
    int line;
    w_str(w, ",\"heap\":");
    w_json_str(w, heap ? heap_name(heap) : NULL);
    w_str(w, ",\"tag\":");
    if (tag && tag_lookup(tag, &file, &line)) {
        w_str(w, "{\"file\":");
        w_json_str(w, file);
        w_fmt(w, ",\"line\":%d}", line);
    } else {
        w_str(w, "null");
    }
}

static const char *const kind_title[NKINDS] = {
    "Direct leak of", "Indirect leak of", "Still reachable:", "Suppressed leak of",
    "Mapping leak of", "Pool leak of",
};

/* What counts as leaked: definite and indirect leaks, mappings nothing points to, and
 * pool buffers still held; not what is reachable or suppressed. */
static uint64_t leaked(const struct report *r, const uint64_t *by_kind)
{
    (void)r;
    return by_kind[KIND_DEFINITE] + by_kind[KIND_INDIRECT] + by_kind[KIND_MAPPING] +
           by_kind[KIND_POOL];
}

static void write_text(struct writer *w, struct report *r)
{
    uint64_t leaked_bytes = leaked(r, r->bytes), leaked_blocks = leaked(r, r->blocks);
    bool reachable = ms_opt.report_reachable && r->blocks[KIND_REACHABLE];
    if (ms_opt.report == REPORT_PROFILE && prof.on)
        prof_write_text(w, r->sym, r->ps, r->nps, &r->psum);
    if (leaked_blocks || reachable) {
        w_str(w, "\n=================================================================\n");
        w_fmt(w, "==%d==ERROR: mallocspy: detected memory leaks\n", (int)getpid());
        /* Direct leaks first, then indirect ones, then what is still reachable (when
         * asked), each largest first: the order LeakSanitizer uses. */
        static const uint8_t order[] = { KIND_DEFINITE, KIND_INDIRECT, KIND_MAPPING, KIND_POOL,
                                         KIND_REACHABLE };
        for (unsigned k = 0; k < ARRAY_SIZE(order); k++)
            for (size_t i = 0; i < r->ng; i++) {
                const struct group *g = &r->g[i];
                if (g->kind != order[k] || (g->kind == KIND_REACHABLE && !reachable))
                    continue;
                if (g->kind == KIND_MAPPING || g->mapping) {
                    w_fmt(w, "\n%s %lu byte(s) in %lu mapping(s) made by:\n",
                          g->kind == KIND_MAPPING ? "Mapping leak of" : kind_title[g->kind],
                          (unsigned long)g->bytes, (unsigned long)g->blocks);
                } else if (g->kind == KIND_POOL) {
                    w_fmt(w, "\nPool leak of %lu byte(s) in %lu buffer(s) of pool '%s' "
                             "still held, taken by:\n", (unsigned long)g->bytes,
                          (unsigned long)g->blocks, g->pool ? g->pool : "?");
                } else {
                    w_fmt(w, "\n%s %lu byte(s) in %lu object(s) allocated", kind_title[g->kind],
                          (unsigned long)g->bytes, (unsigned long)g->blocks);
                    write_where(w, g->heap, g->tag);
                    w_str(w, " from:\n");
                }
                report_text_stack(w, r->sym, stack_by_id(g->stack));
            }
        if (r->supp && r->blocks[KIND_SUPPRESSED]) {
            w_str(w, "\n-----------------------------------------------------\n");
            w_str(w, "Suppressions used:\n  count      bytes template\n");
            for (unsigned k = 0; k < r->supp->n; k++)
                if (r->supp->s[k].hits)
                    w_fmt(w, "%7lu %10lu %s\n", (unsigned long)r->supp->s[k].hits,
                          (unsigned long)r->supp->s[k].bytes, r->supp->s[k].pattern);
            w_str(w, "-----------------------------------------------------\n");
        }
        w_str(w, "\n");
    }
    w_fmt(w, "SUMMARY: mallocspy: %lu byte(s) leaked in %lu allocation(s).\n",
          (unsigned long)leaked_bytes, (unsigned long)leaked_blocks);
}

/* ---- JSON ------------------------------------------------------------------------------- */

void json_heap_leaks(struct writer *w, struct report *r);

static const char *const kind_name[NKINDS] = { "definite", "indirect", "reachable",
                                                "suppressed", "mapping", "pool" };

void report_json_stack(struct writer *w, struct symbolizer *sym, const struct stack_rec *st)
{
    if (!st) {
        w_str(w, "null");
        return;
    }
    w_str(w, "[");
    bool first = true;
    for (uint32_t i = 0; i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        for (unsigned j = 0; j <= s->ninline; j++) {
            const char *fn, *file;
            int line;
            symbol_frame(s, j, &fn, &file, &line);
            w_fmt(w, "%s{\"address\":\"0x%lx\",\"function\":", first ? "" : ",",
                  (unsigned long)s->addr);
            first = false;
            w_json_str(w, fn);
            w_str(w, ",\"module\":");
            w_json_str(w, s->has_module ? s->module : NULL);
            w_str(w, ",\"build_id\":");
            w_json_str(w, s->has_module ? s->build_id : NULL);
            if (s->has_module)
                w_fmt(w, ",\"offset\":\"0x%lx\"", (unsigned long)s->offset);
            else
                w_str(w, ",\"offset\":null");
            w_str(w, ",\"file\":");
            w_json_str(w, file && line ? file : NULL);
            if (file && line)
                w_fmt(w, ",\"line\":%d", line);
            else
                w_str(w, ",\"line\":null");
            w_str(w, j < s->ninline ? ",\"inlined\":true}" : ",\"inlined\":false}");
        }
    }
    w_str(w, "]");
}

static void write_json(struct writer *w, struct report *r)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = 0;
    w_fmt(w, "{\"tool\":\"mallocspy\",\"version\":\"%s\",\"pid\":%d,\"exe\":", MALLOCSPY_VERSION,
          (int)getpid());
    w_json_str(w, n > 0 ? exe : NULL);
    /* false: frames carry module, offset and build ID only (nothing to report needed names,
     * or they could not be had); mallocspy-report --symbolize names them. */
    w_fmt(w, ",\"symbolized\":%s", symbolizer_named(r->sym) ? "true" : "false");
    w_fmt(w, ",\n\"summary\":{\"allocations\":%lu,\"frees\":%lu,\"peak_bytes\":%ld,"
             "\"live_bytes\":%lu,\"live_blocks\":%lu,",
          (unsigned long)r->allocs, (unsigned long)r->frees, (long)r->peak,
          (unsigned long)r->live_bytes, (unsigned long)r->live_blocks);
    w_fmt(w, "\"definite_bytes\":%lu,\"definite_blocks\":%lu,\"indirect_bytes\":%lu,"
             "\"indirect_blocks\":%lu,",
          (unsigned long)r->bytes[KIND_DEFINITE], (unsigned long)r->blocks[KIND_DEFINITE],
          (unsigned long)r->bytes[KIND_INDIRECT], (unsigned long)r->blocks[KIND_INDIRECT]);
    w_fmt(w, "\"reachable_bytes\":%lu,\"reachable_blocks\":%lu,\"suppressed_bytes\":%lu,"
             "\"suppressed_blocks\":%lu,",
          (unsigned long)r->bytes[KIND_REACHABLE], (unsigned long)r->blocks[KIND_REACHABLE],
          (unsigned long)r->bytes[KIND_SUPPRESSED], (unsigned long)r->blocks[KIND_SUPPRESSED]);
    w_fmt(w, "\"mapping_bytes\":%lu,\"mapping_blocks\":%lu,\"pool_bytes\":%lu,"
             "\"pool_blocks\":%lu,\"errors\":%u},\n",
          (unsigned long)r->bytes[KIND_MAPPING], (unsigned long)r->blocks[KIND_MAPPING],
          (unsigned long)r->bytes[KIND_POOL], (unsigned long)r->blocks[KIND_POOL],
          errors_count());
    w_str(w, "\"leaks\":[");
    bool first = true;
    for (size_t i = 0; i < r->ng; i++) {
        const struct group *g = &r->g[i];
        if (g->kind == KIND_SUPPRESSED || (g->kind == KIND_REACHABLE && !ms_opt.report_reachable))
            continue;
        w_fmt(w, "%s\n{\"kind\":\"%s\",\"bytes\":%lu,\"blocks\":%lu", first ? "" : ",",
              kind_name[g->kind], (unsigned long)g->bytes, (unsigned long)g->blocks);
        json_where(w, g->heap, g->tag);
        if (g->mapping)
            w_str(w, ",\"mapping\":true");
        if (g->kind == KIND_POOL) {
            w_str(w, ",\"pool\":");
            w_json_str(w, g->pool);
        }
        w_str(w, ",\"stack\":");
        report_json_stack(w, r->sym, stack_by_id(g->stack));
        w_str(w, "}");
        first = false;
    }
    w_str(w, "],\n\"heap_leaks\":[");
    json_heap_leaks(w, r);
    w_str(w, "],\n\"errors\":[");
    errors_write_json(w, r->sym);
    w_str(w, "],\n\"suppressions\":[");
    for (unsigned k = 0; r->supp && k < r->supp->n; k++) {
        w_str(w, k ? ",{\"pattern\":" : "{\"pattern\":");
        w_json_str(w, r->supp->s[k].pattern);
        w_fmt(w, ",\"blocks\":%lu,\"bytes\":%lu}", (unsigned long)r->supp->s[k].hits,
              (unsigned long)r->supp->s[k].bytes);
    }
    w_str(w, "],\n");
    prof_write_json(w, r->sym, r->ps, r->nps, &r->psum);
    prof_write_timeline(w);
    char secs[32];
    ms_format(secs, sizeof secs, "%lu.%06lu", (unsigned long)r->scan_seconds,
              (unsigned long)((r->scan_seconds - (double)(unsigned long)r->scan_seconds) * 1e6));
    uint64_t hits, misses;
    stack_stats(&hits, &misses);
    w_fmt(w, ",\n\"mallocspy\":{\"own_bytes\":%lu,\"tracking_bytes\":%lu,"
             "\"rss_peak_before_report\":%lu,\"table_bytes\":%lu,\"stacks\":%u,"
             "\"sites\":%u,\"scan_seconds\":%s,\"threads_stopped\":%u,"
             "\"threads_not_stopped\":%u,\"threads_not_scanned\":%u,"
             "\"stack_cache_hits\":%lu,"
             "\"stack_cache_misses\":%lu}}\n",
          (unsigned long)(arena_bytes() + blocks_map_bytes()), (unsigned long)r->tracking_bytes,
          (unsigned long)r->rss_peak, (unsigned long)blocks_map_bytes(), stacks_count(),
          sites_count(), secs, r->stats.threads_stopped, r->stats.threads_unstopped,
          r->stats.threads_unscanned,
          (unsigned long)hits, (unsigned long)misses);
}

/* ---- heaps destroyed with blocks in them ------------------------------------------ */

struct heap_leak {
    const char *heap;
    uint32_t stack, tag;
    uint64_t bytes, blocks;
};

static struct {
    ms_lock lock;              /* everything below */
    struct heap_leak *l;
    size_t n, cap;
} hl = { .lock = MS_LOCK_INIT };

/* ms_heap_destroy with MS_HEAP_REPORT_LEAKS: the blocks left, by stack, written now and
 * kept for the JSON report. */
void report_heap_leaks(const char *name, const uintptr_t *addr, const size_t *size,
                       const uint32_t *site, size_t n)
{
    (void)addr;
    ms_lock_acquire(&hl.lock);
    size_t first = hl.n;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct site *st = site_by_id(site[i]);
        uint32_t stack = st ? st->key.stack : 0, tag = st ? (uint32_t)st->key.tag : 0;
        size_t k;
        for (k = first; k < hl.n; k++)
            if (hl.l[k].stack == stack && hl.l[k].tag == tag)
                break;
        if (k == hl.n) {
            if (!arena_reserve(&hl.l, hl.n, &hl.cap, sizeof *hl.l, 64))
                break;
            hl.l[hl.n++] = (struct heap_leak){ name, stack, tag, 0, 0 };
        }
        hl.l[k].bytes += size[i];
        hl.l[k].blocks++;
        total += size[i];
    }
    int fd = chan_log_fd();
    struct symbolizer *sym = fd >= 0 ? symbolizer_new() : NULL;
    struct writer w;
    if (sym) {
        symbolizer_collect(sym);
        for (size_t k = first; k < hl.n; k++)
            symbolizer_want_stack(sym, stack_by_id(hl.l[k].stack));
        if (!symbolizer_resolve(sym) && symbolizer_note(sym))
            ms_warn("%s", symbolizer_note(sym));
    }
    if (sym && w_open(&w, fd, NULL)) {
        w_fmt(&w, "\n==%d==mallocspy: heap '%s' destroyed with %lu byte(s) in %lu block(s) "
                  "still allocated\n", (int)getpid(), name, (unsigned long)total,
              (unsigned long)n);
        for (size_t k = first; k < hl.n; k++) {
            w_fmt(&w, "\nHeap leak of %lu byte(s) in %lu object(s) allocated",
                  (unsigned long)hl.l[k].bytes, (unsigned long)hl.l[k].blocks);
            const char *file;
            int line;
            if (hl.l[k].tag && tag_lookup(hl.l[k].tag, &file, &line))
                w_fmt(&w, " at %s:%d", file, line);
            w_str(&w, " from:\n");
            report_text_stack(&w, sym, stack_by_id(hl.l[k].stack));
        }
        w_str(&w, "\n");
        w_close(&w);
    }
    symbolizer_free(sym);
    ms_lock_release(&hl.lock);
}

static size_t heap_leak_groups(void)
{
    ms_lock_acquire(&hl.lock);
    size_t n = hl.n;
    ms_lock_release(&hl.lock);
    return n;
}

void json_heap_leaks(struct writer *w, struct report *r)
{
    ms_lock_acquire(&hl.lock);
    for (size_t k = 0; k < hl.n; k++) {
        w_fmt(w, "%s\n{\"heap\":", k ? "," : "");
        w_json_str(w, hl.l[k].heap);
        w_fmt(w, ",\"bytes\":%lu,\"blocks\":%lu,\"tag\":", (unsigned long)hl.l[k].bytes,
              (unsigned long)hl.l[k].blocks);
        const char *file;
        int line;
        if (hl.l[k].tag && tag_lookup(hl.l[k].tag, &file, &line)) {
            w_str(w, "{\"file\":");
            w_json_str(w, file);
            w_fmt(w, ",\"line\":%d}", line);
        } else {
            w_str(w, "null");
        }
        w_str(w, ",\"stack\":");
        report_json_stack(w, r->sym, stack_by_id(hl.l[k].stack));
        w_str(w, "}");
    }
    ms_lock_release(&hl.lock);
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
        write_json(&w, r);
    else
        write_text(&w, r);
    w_close(&w);
    if (close(fd) != 0 && !w.err)
        w.err = errno;
    if (w.err)
        ms_warn("cannot write the %s report to '%s': %s", json ? "JSON" : "leak", path,
                strerror(w.err));
}

/* folded_path and flamegraph_path: the leaks, or the profile, by `weight`.  NULL when
 * none is asked (or out of memory); *n items, *cap to free. */
static struct fg_item *picture_items(struct report *r, size_t *n, size_t *cap)
{
    *n = *cap = 0;
    if (!ms_opt.folded_path[0] && !ms_opt.flamegraph_path[0])
        return NULL;
    bool leaks = ms_opt.weight == W_LEAKED;
    *cap = leaks ? r->ng : r->nps;
    struct fg_item *it = pages_alloc((*cap ? *cap : 1) * sizeof *it);
    if (!it) {
        ms_warn("out of memory for the flame graph");
        return NULL;
    }
    for (size_t i = 0; leaks && i < r->ng; i++) {
        const struct group *g = &r->g[i];
        if (g->kind == KIND_DEFINITE || g->kind == KIND_INDIRECT || g->kind == KIND_MAPPING ||
            g->kind == KIND_POOL)
            it[(*n)++] = (struct fg_item){ stack_by_id(g->stack), g->bytes, g->blocks, g->bytes };
    }
    for (size_t i = 0; !leaks && i < r->nps; i++) {
        const struct prof_stack *p = &r->ps[i];
        uint64_t v = ms_opt.weight == W_ALLOCATED ? p->bytes
                   : ms_opt.weight == W_COUNT     ? p->allocs
                   : ms_opt.weight == W_PEAK      ? (uint64_t)p->at_peak
                                                  : p->temps;
        if (v)
            it[(*n)++] = (struct fg_item){ p->stack ? stack_by_id(p->stack) : NULL, v,
                                           p->allocs, p->bytes };
    }
    return it;
}

static void write_pictures(struct report *r, const struct fg_item *it, size_t n)
{
    if (ms_opt.folded_path[0])
        folded_write(ms_opt.folded_path, r->sym, it, n);
    if (ms_opt.flamegraph_path[0]) {
        static const char *const what[NWEIGHTS] = {
            "Leaked bytes", "Bytes allocated", "Allocations", "Bytes live at the peak",
            "Temporary allocations",
        };
        char exe[4096], title[4200], sub[256];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[len > 0 ? len : 0] = 0;
        const char *base = strrchr(exe, '/');
        ms_format(title, sizeof title, "%s by stack: %s (pid %d)", what[ms_opt.weight],
                  len > 0 ? (base ? base + 1 : exe) : "?", (int)getpid());
        ms_format(sub, sizeof sub, "mallocspy %s, weight=%s", MALLOCSPY_VERSION,
                  prof_weight_name[ms_opt.weight]);
        bool counts = ms_opt.weight == W_COUNT || ms_opt.weight == W_TEMPORARY;
        struct fg_info info = { title, sub, prof_weight_name[ms_opt.weight],
                                counts ? "allocations" : "bytes",
                                ms_opt.weight == W_LEAKED ? "blocks" : "allocations" };
        flamegraph_write(ms_opt.flamegraph_path, r->sym, it, n, &info);
    }
}

/* What the report will print needs names: leaks or errors to show, the profile in the
 * text, pictures.  A process that leaked nothing and erred nowhere needs none (its JSON
 * keeps module, offset and build ID), and starts no symbolizer. */
static size_t heap_leak_groups(void);

static bool needs_names(const struct report *r, bool text, bool json, bool pictures)
{
    bool leaks = leaked(r, r->blocks) || (ms_opt.report_reachable && r->blocks[KIND_REACHABLE]);
    return pictures || errors_count() || ((text || json) && leaks) ||
           (json && ms_opt.symbolize == SYMBOLIZE_ALL) ||
           (json && heap_leak_groups()) || (text && ms_opt.report == REPORT_PROFILE && prof.on);
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
        write_text(&w, r);
    if (json)
        write_json(&w, r);
    w_close(&w);
    for (size_t i = 0; i < n; i++)
        symbolizer_want_stack(r->sym, it[i].stack);
    double t0 = seconds();
    symbolizer_resolve(r->sym);
    if (symbolizer_note(r->sym))
        ms_warn("%s", symbolizer_note(r->sym));
    r->symbol_seconds = seconds() - t0;
}

long report_run(bool at_exit, FILE *stream, const struct scan_entry *entry)
{
    /* Redzones and the quarantine are checked by every report, and at exit. */
    extern void guard_check_all(void);
    extern void quarantine_check_all(void);
    guard_check_all();
    quarantine_check_all();
    if (!ms_table_complete) {
        /* No leak tracking: only the errors found, and their exit status. */
        if (at_exit && ms_opt.json_path[0]) {
            unsigned guard = ms_tls.guard;
            ms_tls.guard = 1;
            struct report r;
            memset(&r, 0, sizeof r);
            r.sym = symbolizer_new();
            if (errors_count())
                name_frames(&r, false, true, NULL, 0);
            write_file(ms_opt.json_path, &r, true);
            symbolizer_free(r.sym);
            ms_tls.guard = guard;
        }
        if (at_exit && errors_count() && ms_opt.error_exitcode) {
            fflush(NULL);
            _exit(ms_opt.error_exitcode);
        }
        return -1;
    }
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    ms_lock_acquire(&report_lock);
    if (at_exit)
        prof_timeline_end();
    struct report r;
    double t0 = seconds();
    build(&r, entry, report_signal_thread());
    long leaked_n = (long)leaked(&r, r.blocks);
    /* Nothing to say goes unsaid on the program's stderr (LeakSanitizer's way); a log the
     * user named, or a stream, still gets the summary line. */
    bool quiet = !stream && ms_opt.report == REPORT_QUIET;
    bool clean = !needs_names(&r, true, false, false) && !errors_count();
    bool text = stream || (!quiet && (!clean || ms_opt.log_path[0]));
    bool json = !stream && ms_opt.json_path[0];
    size_t nit = 0, capit = 0;
    struct fg_item *it = stream ? NULL : picture_items(&r, &nit, &capit);
    if (seconds() - t0 > 1.0)
        ms_warn("scanned %zu block(s) in %lu ms; writing the report", r.snap.n,
                (unsigned long)((seconds() - t0) * 1000));
    if (needs_names(&r, text, json, it != NULL))
        name_frames(&r, text, json, it, nit);
    if (stream) {
        struct writer w;
        w_open(&w, -1, stream);
        write_text(&w, &r);
        w_close(&w);
    } else {
        if (text) {
            /* The text log stays open for the process: errors found while it ran come
             * before the report, and snapshot reports follow one another. */
            int fd = chan_log_fd();
            if (fd >= 0) {
                struct writer w;
                w_open(&w, fd, NULL);
                write_text(&w, &r);
                w_close(&w);
                if (w.err)
                    ms_warn("cannot write the leak report to '%s': %s",
                            ms_opt.log_path[0] ? ms_opt.log_path : "stderr", strerror(w.err));
            }
        }
        if (json)
            write_file(ms_opt.json_path, &r, true);
        if (it) {
            if (seconds() - t0 > 1.0)
                ms_warn("writing the pictures (%zu stacks)", nit);
            write_pictures(&r, it, nit);
        }
    }
    if (it)
        pages_free(it, (capit ? capit : 1) * sizeof *it);
    release(&r);
    ms_lock_release(&report_lock);
    ms_tls.guard = guard;
    int status = 0;
    if (at_exit && errors_count() && ms_opt.error_exitcode)
        status = ms_opt.error_exitcode;
    else if (at_exit && leaked_n && ms_opt.exitcode)
        status = ms_opt.exitcode;
    if (status) {
        /* The program's own atexit handlers and destructors have run; flush what stdio
         * still holds, as exit would, and end with the leak (or error) status. */
        fflush(NULL);
        _exit(status);
    }
    return leaked_n;
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

void report_at_exit(void *arg)
{
    (void)arg;
    struct scan_entry e;
    SCAN_ENTRY(&e);
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    struct scan_entry caller;
    bool found = false;
    found = exit_caller_entry(&caller);
    ms_tls.guard = guard;
    report_run(true, NULL, found ? &caller : &e);
}

MS_EXPORT int ms_report_leaks(FILE *out)
{
    struct scan_entry e;
    SCAN_ENTRY(&e);
    if (!out)
        return MS_E_INVALIDARG;
    ms_ensure_init();
    long n = report_run(false, out, &e);
    if (n < 0)
        return MS_E_NOT_REGISTERED;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

void report_fork_child(void)
{
    ms_lock_reset(&report_lock);
    ms_lock_reset(&hl.lock);
}
