/* The leak report: what is live, where it came from, and how it is held.  Everything here
 * runs with the recursion guard set and takes its memory from mallocspy's own arenas, so
 * nothing is allocated by tracked code while a report is written; the tables are left in
 * place at exit on purpose (the process is going away, and late frees may still come). */
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "modules.h"
#include "report.h"
#include "suppress.h"
#include "symbolize.h"
#include "writer.h"

void tracker_counters(uint64_t *allocs, uint64_t *frees, int64_t *peak);

struct group {
    uint32_t stack;
    uint8_t kind;
    int supp;                  /* suppression that matched, -1 */
    uint64_t bytes, blocks;
};

struct report {
    struct snapshot snap;
    struct group *g;
    size_t ng, capg;
    uint64_t bytes[NKINDS], blocks[NKINDS];
    uint64_t live_bytes, live_blocks;
    uint64_t allocs, frees;
    int64_t peak;
    struct symbolizer *sym;
    struct suppressions *supp;
};

static ms_lock report_lock = MS_LOCK_INIT;   /* one report at a time */

/* ---- snapshot -------------------------------------------------------------------------- */

static void add_block(const struct block *b, void *arg)
{
    struct snapshot *s = arg;
    if (b->site == SITE_INTERNAL)
        return;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        struct snap_block *nb = pages_alloc(ncap * sizeof *nb);
        if (!nb)
            return;
        if (s->b) {
            memcpy(nb, s->b, s->n * sizeof *nb);
            pages_free(s->b, s->cap * sizeof *nb);
        }
        s->b = nb;
        s->cap = ncap;
    }
    struct snap_block *d = &s->b[s->n++];
    d->addr = b->addr;
    d->size = block_size(b);
    d->site = b->site;
    d->kind = KIND_DEFINITE;
    d->mark = 0;
}

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

static void group_blocks(struct report *r)
{
    /* Open addressing on (stack, kind): a few thousand groups at most in practice. */
    size_t cap = 1024;
    while (cap < r->snap.n / 4)
        cap *= 2;
    uint32_t *slot = pages_alloc(cap * sizeof *slot);   /* group index + 1; 0 empty */
    if (!slot)
        return;
    for (size_t i = 0; i < r->snap.n; i++) {
        const struct snap_block *b = &r->snap.b[i];
        uint32_t st = stack_of(b->site);
        uint64_t key = (uint64_t)st << 3 | b->kind;
        size_t h = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1);
        for (;;) {
            uint32_t gi = slot[h];
            if (!gi) {
                if (r->ng == r->capg) {
                    size_t ng = r->capg ? r->capg * 2 : 256;
                    struct group *n = arena_realloc(r->g, r->capg * sizeof *n, ng * sizeof *n);
                    if (!n)
                        goto out;
                    r->g = n;
                    r->capg = ng;
                }
                r->g[r->ng] = (struct group){ st, b->kind, -1, 0, 0 };
                slot[h] = (uint32_t)++r->ng;
                gi = slot[h];
                if (r->ng * 2 > cap) {
                    /* Too full to stay fast: rebuild bigger. */
                    pages_free(slot, cap * sizeof *slot);
                    cap *= 4;
                    slot = pages_alloc(cap * sizeof *slot);
                    if (!slot)
                        return;
                    for (size_t k = 0; k < r->ng; k++) {
                        uint64_t kk = (uint64_t)r->g[k].stack << 3 | r->g[k].kind;
                        size_t hh = (size_t)((kk * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1);
                        while (slot[hh])
                            hh = (hh + 1) & (cap - 1);
                        slot[hh] = (uint32_t)(k + 1);
                    }
                    gi = 0;
                    continue;   /* find it again in the new table */
                }
            }
            struct group *g = &r->g[gi - 1];
            if (g->stack == st && g->kind == b->kind) {
                g->bytes += b->size;
                g->blocks++;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
    }
out:
    pages_free(slot, cap * sizeof *slot);
}

static bool group_before(const struct group *a, const struct group *b)
{
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks;
    return a->stack < b->stack;
}

/* Heapsort: no allocation, and n log n for the rare report with very many groups. */
static void sift(struct group *g, size_t n, size_t i)
{
    for (;;) {
        size_t m = i, l = 2 * i + 1, rr = l + 1;
        if (l < n && group_before(&g[m], &g[l]))
            m = l;
        if (rr < n && group_before(&g[m], &g[rr]))
            m = rr;
        if (m == i)
            return;
        struct group t = g[i];
        g[i] = g[m];
        g[m] = t;
        i = m;
    }
}

static void sort_groups(struct group *g, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift(g, n, i);
    for (size_t end = n; end > 1; end--) {
        struct group t = g[0];
        g[0] = g[end - 1];
        g[end - 1] = t;
        sift(g, end - 1, 0);
    }
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

/* Definite leaks whose stack matches a suppression are suppressed, and with them the
 * blocks that hang only from suppressed ones (leaks_classify marks those). */
void leaks_apply_suppressions(struct snapshot *s, bool (*suppressed)(uint32_t site, void *),
                              void *arg);

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
        r->blocks[b->kind]++;
        r->live_bytes += b->size;
        r->live_blocks++;
    }
    tracker_counters(&r->allocs, &r->frees, &r->peak);
}

static bool build(struct report *r)
{
    memset(r, 0, sizeof *r);
    blocks_for_each(add_block, &r->snap);
    leaks_classify(&r->snap);
    r->sym = symbolizer_new();
    if (ms_opt.suppressions[0])
        r->supp = supp_load(ms_opt.suppressions);
    if (r->supp && r->supp->n) {
        struct supp_ctx c = { r, NULL, stacks_count() + 1 };
        c.by_stack = pages_alloc(c.nstacks * sizeof *c.by_stack);
        if (c.by_stack) {
            for (uint32_t i = 0; i < c.nstacks; i++)
                c.by_stack[i] = -2;
            leaks_apply_suppressions(&r->snap, site_suppressed, &c);
            pages_free(c.by_stack, c.nstacks * sizeof *c.by_stack);
        }
    }
    group_blocks(r);
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
    sort_groups(r->g, r->ng);
    tally(r);
    return true;
}

static void release(struct report *r)
{
    snapshot_free(&r->snap);
    if (r->g)
        arena_free(r->g, r->capg * sizeof *r->g);
    symbolizer_free(r->sym);
    supp_free(r->supp);
}

/* ---- text ---------------------------------------------------------------------------- */

static void text_stack(struct writer *w, struct report *r, uint32_t stack_id)
{
    const struct stack_rec *st = stack_by_id(stack_id);
    if (!st) {
        w_str(w, "    <no stack recorded>\n");
        return;
    }
    for (uint32_t i = 0; i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(r->sym, st->frames[i], st->modgen);
        w_fmt(w, "    #%u 0x%lx", i, (unsigned long)s->addr);
        if (s->function)
            w_fmt(w, " in %s", s->function);
        if (s->file)
            w_fmt(w, " %s:%d", s->file, s->line);
        if (s->has_module)
            w_fmt(w, " (%s+0x%lx)", s->module ? s->module : "?", (unsigned long)s->offset);
        w_str(w, "\n");
    }
}

static const char *const kind_title[NKINDS] = {
    "Direct leak", "Indirect leak", "Still reachable", "Suppressed leak",
};

static void write_text(struct writer *w, struct report *r)
{
    uint64_t leaked_bytes = r->bytes[KIND_DEFINITE] + r->bytes[KIND_INDIRECT];
    uint64_t leaked_blocks = r->blocks[KIND_DEFINITE] + r->blocks[KIND_INDIRECT];
    bool reachable = ms_opt.report_reachable && r->blocks[KIND_REACHABLE];
    if (leaked_blocks || reachable) {
        w_str(w, "\n=================================================================\n");
        w_fmt(w, "==%d==ERROR: mallocspy: detected memory leaks\n", (int)getpid());
        for (size_t i = 0; i < r->ng; i++) {
            const struct group *g = &r->g[i];
            if (g->kind == KIND_SUPPRESSED || (g->kind == KIND_REACHABLE && !reachable))
                continue;
            w_fmt(w, "\n%s of %lu byte(s) in %lu object(s) allocated from:\n",
                  kind_title[g->kind], (unsigned long)g->bytes, (unsigned long)g->blocks);
            text_stack(w, r, g->stack);
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

static const char *const kind_name[NKINDS] = { "definite", "indirect", "reachable", "suppressed" };

static void json_stack(struct writer *w, struct report *r, uint32_t stack_id)
{
    const struct stack_rec *st = stack_by_id(stack_id);
    w_str(w, "[");
    for (uint32_t i = 0; st && i < st->pub.depth; i++) {
        const struct symbol *s = symbolize(r->sym, st->frames[i], st->modgen);
        w_fmt(w, "%s{\"address\":\"0x%lx\",\"function\":", i ? "," : "", (unsigned long)s->addr);
        w_json_str(w, s->function);
        w_str(w, ",\"module\":");
        w_json_str(w, s->has_module ? s->module : NULL);
        if (s->has_module)
            w_fmt(w, ",\"offset\":\"0x%lx\"", (unsigned long)s->offset);
        else
            w_str(w, ",\"offset\":null");
        w_str(w, ",\"file\":");
        w_json_str(w, s->file);
        if (s->line)
            w_fmt(w, ",\"line\":%d}", s->line);
        else
            w_str(w, ",\"line\":null}");
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
    w_fmt(w, ",\n\"summary\":{\"allocations\":%lu,\"frees\":%lu,\"peak_bytes\":%ld,"
             "\"live_bytes\":%lu,\"live_blocks\":%lu,",
          (unsigned long)r->allocs, (unsigned long)r->frees, (long)r->peak,
          (unsigned long)r->live_bytes, (unsigned long)r->live_blocks);
    w_fmt(w, "\"definite_bytes\":%lu,\"definite_blocks\":%lu,\"indirect_bytes\":%lu,"
             "\"indirect_blocks\":%lu,",
          (unsigned long)r->bytes[KIND_DEFINITE], (unsigned long)r->blocks[KIND_DEFINITE],
          (unsigned long)r->bytes[KIND_INDIRECT], (unsigned long)r->blocks[KIND_INDIRECT]);
    w_fmt(w, "\"reachable_bytes\":%lu,\"reachable_blocks\":%lu,\"suppressed_bytes\":%lu,"
             "\"suppressed_blocks\":%lu},\n",
          (unsigned long)r->bytes[KIND_REACHABLE], (unsigned long)r->blocks[KIND_REACHABLE],
          (unsigned long)r->bytes[KIND_SUPPRESSED], (unsigned long)r->blocks[KIND_SUPPRESSED]);
    w_str(w, "\"leaks\":[");
    bool first = true;
    for (size_t i = 0; i < r->ng; i++) {
        const struct group *g = &r->g[i];
        if (g->kind == KIND_SUPPRESSED || (g->kind == KIND_REACHABLE && !ms_opt.report_reachable))
            continue;
        w_fmt(w, "%s\n{\"kind\":\"%s\",\"bytes\":%lu,\"blocks\":%lu,\"stack\":", first ? "" : ",",
              kind_name[g->kind], (unsigned long)g->bytes, (unsigned long)g->blocks);
        json_stack(w, r, g->stack);
        w_str(w, "}");
        first = false;
    }
    w_str(w, "],\n\"suppressions\":[");
    for (unsigned k = 0; r->supp && k < r->supp->n; k++) {
        w_str(w, k ? ",{\"pattern\":" : "{\"pattern\":");
        w_json_str(w, r->supp->s[k].pattern);
        w_fmt(w, ",\"blocks\":%lu,\"bytes\":%lu}", (unsigned long)r->supp->s[k].hits,
              (unsigned long)r->supp->s[k].bytes);
    }
    w_fmt(w, "],\n\"mallocspy\":{\"own_bytes\":%lu,\"table_bytes\":%lu,\"stacks\":%u,"
             "\"sites\":%u}}\n",
          (unsigned long)arena_bytes(), (unsigned long)blocks_table_bytes(), stacks_count(),
          sites_count());
}

/* ---- output ------------------------------------------------------------------------------ */

static void write_file(const char *pattern, struct report *r, bool json)
{
    char path[4096];
    int fd = report_open(pattern, path, sizeof path);
    if (fd < 0) {
        ms_warn("cannot write the %s report to '%s': %s", json ? "JSON" : "leak", path,
                strerror(errno));
        return;
    }
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

long report_run(bool at_exit, FILE *stream)
{
    if (!ms_table_complete)
        return -1;
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    ms_lock_acquire(&report_lock);
    struct report r;
    build(&r);
    long leaked = (long)(r.blocks[KIND_DEFINITE] + r.blocks[KIND_INDIRECT]);
    if (stream) {
        struct writer w;
        w_open(&w, -1, stream);
        write_text(&w, &r);
        w_close(&w);
    } else {
        if (ms_opt.report != REPORT_QUIET) {
            if (ms_opt.log_path[0]) {
                write_file(ms_opt.log_path, &r, false);
            } else {
                struct writer w;
                w_open(&w, 2, NULL);
                write_text(&w, &r);
                w_close(&w);
            }
        }
        if (ms_opt.json_path[0])
            write_file(ms_opt.json_path, &r, true);
    }
    release(&r);
    ms_lock_release(&report_lock);
    ms_tls.guard = guard;
    if (at_exit && leaked && ms_opt.exitcode) {
        /* The program's own atexit handlers and destructors have run; flush what stdio
         * still holds, as exit would, and end with the leak status. */
        fflush(NULL);
        _exit(ms_opt.exitcode);
    }
    return leaked;
}

void report_at_exit(void *arg)
{
    (void)arg;
    report_run(true, NULL);
}

MS_EXPORT int ms_report_leaks(FILE *out)
{
    if (!out)
        return MS_E_INVALIDARG;
    ms_ensure_init();
    long n = report_run(false, out);
    if (n < 0)
        return MS_E_NOT_REGISTERED;
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

void report_fork_child(void) { ms_lock_reset(&report_lock); }
