/* Stacks as pictures: folded lines ("frame;frame;frame weight", root first, as
 * flamegraph.pl, inferno and speedscope read them) and a self-contained flame graph: the
 * template scripts/flamegraph.svg, built into the library, with the data in it.  The
 * template draws the graph itself, so libmallocspy and scripts/mallocspy-report write only
 * data, and the picture is the same from either. */
#include <string.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/mem.h"
#include "base/options.h"
#include "base/ut.h"
#include "output/channels.h"
#include "output/symbolize.h"
#include "output/writer.h"
#include "report/model.h"
#include "report/pictures.h"
#include "stacks/stacks.h"

extern const char flamegraph_template[];
#define DATA_MARK "/*MALLOCSPY_DATA*/null"

/* The frames of one return address, outermost first: the real function, then the ones
 * inlined into it. */
static unsigned frames_of(const struct symbol *s, const char **name, const char **file,
                          int *line, unsigned cap)
{
    unsigned k = 0;
    for (unsigned j = s->ninline + 1; j-- > 0 && k < cap; k++)
        symbol_frame(s, j, &name[k], &file[k], &line[k]);
    return k;
}

/* A frame without a function name: its module and offset, or its address. */
static void anonymous(char *buf, size_t cap, const struct symbol *s)
{
    if (s->has_module) {
        const char *base = s->module ? strrchr(s->module, '/') : NULL;
        diag_format(buf, cap, "%s+0x%lx", base ? base + 1 : s->module ? s->module : "?",
                  (unsigned long)s->offset);
    } else {
        diag_format(buf, cap, "0x%lx", (unsigned long)s->addr);
    }
}

/* ---- folded ------------------------------------------------------------------------------ */

/* Folded frames are separated by ';' and end at the last space: a ';' in a name (an
 * operator;, never seen but possible) becomes ':'. */
static void folded_name(struct writer *w, const char *s)
{
    char buf[512];
    size_t n = 0;
    for (; *s && n < sizeof buf - 1; s++)
        buf[n++] = *s == ';' ? ':' : (*s == '\n' || *s == '\r') ? ' ' : *s;
    w_put(w, buf, n);
}

static void folded_stack(struct writer *w, struct symbolizer *sym, const struct stack_rec *st)
{
    bool first = true;
    if (!st || !st->pub.depth) {
        w_str(w, "[no stack]");
        return;
    }
    for (uint32_t i = st->pub.depth; i-- > 0;) {
        const struct symbol *s = symbolize(sym, st->frames[i], st->modgen);
        const char *name[16], *file[16];
        int line[16];
        unsigned k = frames_of(s, name, file, line, 16);
        for (unsigned j = 0; j < k; j++) {
            if (!first)
                w_str(w, ";");
            first = false;
            if (name[j]) {
                folded_name(w, name[j]);
            } else {
                char anon[300];
                anonymous(anon, sizeof anon, s);
                folded_name(w, anon);
            }
        }
    }
}

bool folded_write(const char *pattern, struct symbolizer *sym, const struct fg_item *it,
                  size_t n)
{
    char path[4096];
    int fd = chan_open(pattern, "folded stacks", path, sizeof path);
    if (fd < 0)
        return false;
    struct writer w;
    w_open(&w, fd, NULL);
    for (size_t i = 0; i < n; i++) {
        if (!it[i].weight)
            continue;
        folded_stack(&w, sym, it[i].stack);
        w_fmt(&w, " %lu\n", (unsigned long)it[i].weight);
    }
    w_close(&w);
    if (close(fd) != 0 && !w.err)
        w.err = errno;
    if (w.err)
        diag_warn("cannot write the folded stacks to '%s': %s", path, strerror(w.err));
    return !w.err;
}

/* ---- the flame graph --------------------------------------------------------------------- */

/* A JSON string that may sit inside <script>: '<', '>' and '&' escaped too, so that no
 * "</script>" or "]]>" can end it early. */
static void json_safe(struct writer *w, const char *s)
{
    if (!s) {
        w_str(w, "null");
        return;
    }
    w_str(w, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            w_fmt(w, "\\%c", c);
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            w_fmt(w, "\\u%04x", c);
        else
            w_put(w, (const char *)&c, 1);
    }
    w_str(w, "\"");
}

/* Each return address's frames get numbers once: the "frames" table, in first-seen order. */
struct addr_frames {
    uint64_t key[2];           /* address, module generation */
    uint32_t first, count;     /* its frames' numbers */
    UT_hash_handle hh;
};

struct fg_ctx {
    struct writer *w;
    struct symbolizer *sym;
    struct addr_frames *table;
    uint32_t nframes;
    bool oom;
};

static struct addr_frames *number(struct fg_ctx *c, uintptr_t addr, uint32_t gen)
{
    uint64_t key[2] = { addr, gen };
    struct addr_frames *a;
    HASH_FIND(hh, c->table, key, sizeof key, a);
    if (a)
        return a;
    a = arena_alloc(sizeof *a);
    if (!a) {
        c->oom = true;
        return NULL;
    }
    memcpy(a->key, key, sizeof key);
    const struct symbol *s = symbolize(c->sym, addr, gen);
    const char *name[16], *file[16];
    int line[16];
    unsigned k = frames_of(s, name, file, line, 16);
    a->first = c->nframes;
    a->count = k;
    for (unsigned j = 0; j < k; j++) {
        w_str(c->w, c->nframes ? ",\n[" : "\n[");
        if (name[j]) {
            json_safe(c->w, name[j]);
        } else {
            char anon[300];
            anonymous(anon, sizeof anon, s);
            json_safe(c->w, anon);
        }
        w_str(c->w, ",");
        if (file[j] && line[j]) {
            char loc[600];
            const char *base = strrchr(file[j], '/');
            diag_format(loc, sizeof loc, "%s:%d", base ? base + 1 : file[j], line[j]);
            json_safe(c->w, loc);
        } else if (s->has_module && s->module) {
            const char *base = strrchr(s->module, '/');
            json_safe(c->w, base ? base + 1 : s->module);
        } else {
            w_str(c->w, "null");
        }
        w_str(c->w, "]");
        c->nframes++;
    }
    HASH_ADD(hh, c->table, key, sizeof a->key, a);
    return a;
}

static void free_table(struct fg_ctx *c)
{
    struct addr_frames *a, *t;
    HASH_ITER(hh, c->table, a, t) {
        HASH_DEL(c->table, a);
        arena_free(a, sizeof *a);
    }
}

bool flamegraph_write(const char *pattern, struct symbolizer *sym, const struct fg_item *it,
                      size_t n, const struct fg_info *info)
{
    char path[4096];
    int fd = chan_open(pattern, "flame graph", path, sizeof path);
    if (fd < 0)
        return false;
    size_t len = strlen(path);
    bool html = (len > 5 && !strcmp(path + len - 5, ".html")) ||
                (len > 4 && !strcmp(path + len - 4, ".htm"));
    const char *tmpl = flamegraph_template;
    const char *mark = strstr(tmpl, DATA_MARK);
    const char *svg = strstr(tmpl, "<svg");
    struct writer w;
    w_open(&w, fd, NULL);
    if (!mark || !svg) {
        w.err = EINVAL;          /* a broken build: the template lost its marker */
    } else {
        if (html) {
            w_str(&w, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
            for (const char *t = info->title; *t; t++) {
                if (*t == '<')
                    w_str(&w, "&lt;");
                else if (*t == '&')
                    w_str(&w, "&amp;");
                else
                    w_put(&w, t, 1);
            }
            w_str(&w, "</title></head>\n<body style=\"margin:0;background:#f8f8f8\">\n");
            w_put(&w, svg, (size_t)(mark - svg));
        } else {
            w_put(&w, tmpl, (size_t)(mark - tmpl));
        }
        w_str(&w, "{\"title\":");
        json_safe(&w, info->title);
        w_str(&w, ",\"subtitle\":");
        json_safe(&w, info->subtitle);
        w_str(&w, ",\"weight\":");
        json_safe(&w, info->weight);
        w_str(&w, ",\"unit\":");
        json_safe(&w, info->unit);
        w_str(&w, ",\"blocks_word\":");
        json_safe(&w, info->blocks_word);
        w_str(&w, ",\n\"frames\":[");
        /* The frames table comes first: each stack's addresses are numbered into it
         * here, and the stacks written after, from a second pass over the table. */
        struct fg_ctx c = { .w = &w, .sym = sym };
        for (size_t i = 0; i < n && !c.oom; i++) {
            const struct stack_rec *st = it[i].stack;
            for (uint32_t f = 0; it[i].weight && st && f < st->pub.depth && !c.oom; f++)
                number(&c, st->frames[f], st->modgen);
        }
        w_str(&w, "],\n\"stacks\":[");
        bool first = true;
        for (size_t i = 0; i < n && !c.oom; i++) {
            if (!it[i].weight)
                continue;
            w_fmt(&w, "%s[%lu,%lu,%lu,[", first ? "\n" : ",\n", (unsigned long)it[i].weight,
                  (unsigned long)it[i].blocks, (unsigned long)it[i].bytes);
            first = false;
            const struct stack_rec *st = it[i].stack;
            bool f1 = true;
            for (uint32_t f = st ? st->pub.depth : 0; f-- > 0;) {
                struct addr_frames *a = number(&c, st->frames[f], st->modgen);
                for (uint32_t j = 0; a && j < a->count; j++) {
                    w_fmt(&w, "%s%u", f1 ? "" : ",", a->first + j);
                    f1 = false;
                }
            }
            w_str(&w, "]]");
        }
        w_str(&w, "]}");
        if (c.oom)
            diag_warn("out of memory while writing the flame graph; it is incomplete");
        free_table(&c);
        const char *rest = mark + strlen(DATA_MARK);
        if (html) {
            const char *end = strstr(rest, "</svg>");
            w_put(&w, rest, end ? (size_t)(end - rest) + 6 : strlen(rest));
            w_str(&w, "\n</body></html>\n");
        } else {
            w_str(&w, rest);
        }
    }
    w_close(&w);
    if (close(fd) != 0 && !w.err)
        w.err = errno;
    if (w.err)
        diag_warn("cannot write the flame graph to '%s': %s", path, strerror(w.err));
    return !w.err;
}

/* ---- what the pictures show ----------------------------------------------------------- */

struct fg_item *pictures_items(struct report *r, size_t *n, size_t *cap)
{
    *n = *cap = 0;
    if (!options.folded_path[0] && !options.flamegraph_path[0])
        return NULL;
    bool leaks = options.weight == W_LEAKED;
    *cap = leaks ? r->ng : r->nps;
    struct fg_item *it = pages_alloc((*cap ? *cap : 1) * sizeof *it);
    if (!it) {
        diag_warn("out of memory for the flame graph");
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
        uint64_t v = options.weight == W_ALLOCATED ? p->bytes
                   : options.weight == W_COUNT     ? p->allocs
                   : options.weight == W_PEAK      ? (uint64_t)p->at_peak
                                                  : p->temps;
        if (v)
            it[(*n)++] = (struct fg_item){ p->stack ? stack_by_id(p->stack) : NULL, v,
                                           p->allocs, p->bytes };
    }
    return it;
}

void pictures_write(struct report *r, const struct fg_item *it, size_t n)
{
    if (options.folded_path[0])
        folded_write(options.folded_path, r->sym, it, n);
    if (options.flamegraph_path[0]) {
        static const char *const what[NWEIGHTS] = {
            "Leaked bytes", "Bytes allocated", "Allocations", "Bytes live at the peak",
            "Temporary allocations",
        };
        char exe[4096], title[4200], sub[256];
        ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[len > 0 ? len : 0] = 0;
        const char *base = strrchr(exe, '/');
        diag_format(title, sizeof title, "%s by stack: %s (pid %d)", what[options.weight],
                  len > 0 ? (base ? base + 1 : exe) : "?", (int)getpid());
        diag_format(sub, sizeof sub, "mallocspy %s, weight=%s", MALLOCSPY_VERSION,
                  weight_names[options.weight]);
        bool counts = options.weight == W_COUNT || options.weight == W_TEMPORARY;
        struct fg_info info = { title, sub, weight_names[options.weight],
                                counts ? "allocations" : "bytes",
                                options.weight == W_LEAKED ? "blocks" : "allocations" };
        flamegraph_write(options.flamegraph_path, r->sym, it, n, &info);
    }
}

void pictures_free(struct fg_item *it, size_t cap)
{
    if (it)
        pages_free(it, (cap ? cap : 1) * sizeof *it);
}
