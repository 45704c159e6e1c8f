/* The allocation profile, folded stacks, flame graphs and the timeline (issue 8), end to
 * end: the helper programs tests/progs/prof_* allocate known amounts from functions of
 * their own, run under the preload, and every number the reports give about them is
 * checked exactly.  Sites are found by the function names in their stacks, and totals are
 * compared with what the program did plus whatever other sites the report lists (the C
 * runtime allocates nothing in these programs today, but a test must not depend on it).
 * Flame graphs are checked the way a user sees them: rendered by headless Chromium, whose
 * DOM (after the graph's own script ran) is read back, clicked on, and photographed. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

/* ---- files ------------------------------------------------------------------------------ */

static const char *report_script(void) { return repo_file("scripts/mallocspy-report"); }

/* ---- JSON reports ------------------------------------------------------------------------ */

/* A report of these programs: the summary, the profile, its sites, and the leaks. */
static struct jval *load_json(const char *path)
{
    struct jval *v = load_report(path);
    need_member(v, "summary", J_OBJ);
    need_member(v, "profile", J_OBJ);
    need_member(v, "sites", J_ARR);
    need_member(v, "leaks", J_ARR);
    return v;
}

/* Runs helper program `name` (or the program at that path, if it has a '/') with argument
 * `arg` (unless NULL), report=quiet, a fresh json_path and `opts`; status 0 and nothing on
 * stderr expected. */
static struct spied run_prog_arg(const char *name, const char *arg, const char *opts)
{
    char o[8192];
    /* symbolize=all: the sites of a process that leaked nothing are named too. */
    snprintf(o, sizeof o, "report=quiet:symbolize=all%s%s", opts ? ":" : "", opts ? opts : "");
    char *argv[] = { (char *)(strchr(name, '/') ? name : prog_path(name)), (char *)arg, NULL };
    struct spied s = spy_reports(argv, o, NULL, false);
    char what[8192 + 256];
    snprintf(what, sizeof what, "%s (%s)", name, o);
    check_clean_exit(&s.r, what);
    s.json = load_json(s.json_path);
    return s;
}

static struct spied run_prog(const char *name, const char *opts)
{
    return run_prog_arg(name, NULL, opts);
}

static double num(const struct jval *v, const char *path)
{
    double d = jnum(v, path);
    ck_assert_msg(!isnan(d), "no number at %s", path);
    return d;
}

static const struct jval *sites_of(const struct jval *rep) { return jget(rep, "sites"); }

static const struct jval *stack_of(const struct jval *g)
{
    const struct jval *st = jget(g, "stack");
    ck_assert_msg(st && st->type == J_ARR, "an entry without a stack array");
    return st;
}

/* Where fn is in g's stack, which must be there: -1 if not. */
static int fn_index(const struct jval *g, const char *fn)
{
    return frame_index(stack_of(g), fn, INT_MAX);
}

static bool has_fn(const struct jval *g, const char *fn) { return fn_index(g, fn) >= 0; }

struct totals {
    double allocs, bytes, peak, temps, live;
    int n;
};

static void add_site(struct totals *t, const struct jval *s)
{
    t->allocs += num(s, "allocations");
    t->bytes += num(s, "bytes");
    t->peak += num(s, "peak_bytes");
    t->temps += num(s, "temporary");
    t->live += num(s, "live_bytes");
    t->n++;
}

/* The sites with fn in their stacks, added up. */
static struct totals fn_totals(const struct jval *rep, const char *fn)
{
    struct totals t = { 0 };
    const struct jval *s = sites_of(rep);
    for (size_t i = 0; i < s->n; i++)
        if (has_fn(s->items[i], fn))
            add_site(&t, s->items[i]);
    return t;
}

static struct totals all_totals(const struct jval *rep)
{
    struct totals t = { 0 };
    const struct jval *s = sites_of(rep);
    for (size_t i = 0; i < s->n; i++)
        add_site(&t, s->items[i]);
    return t;
}

/* The sites with none of `mine` (NULL-terminated) in their stacks: the runtime's. */
static struct totals foreign_totals(const struct jval *rep, const char *const *mine)
{
    struct totals t = { 0 };
    const struct jval *s = sites_of(rep);
    for (size_t i = 0; i < s->n; i++) {
        bool m = false;
        for (int k = 0; mine[k] && !m; k++)
            m = has_fn(s->items[i], mine[k]);
        if (!m)
            add_site(&t, s->items[i]);
    }
    return t;
}

/* The report lists every stack (sites_top was large enough). */
static void check_complete(const struct jval *rep)
{
    ck_assert_msg(num(rep, "profile.stacks") == (double)sites_of(rep)->n,
                  "profile.stacks %.0f but %zu sites listed", num(rep, "profile.stacks"),
                  sites_of(rep)->n);
}

/* The one site with fn in its stack, with these numbers (peak < 0: not checked). */
static void check_site(const struct jval *rep, const char *fn, double allocs, double bytes,
                       double peak, double temps)
{
    struct totals t = fn_totals(rep, fn);
    ck_assert_msg(t.n == 1, "%d sites with %s in their stacks (1 expected)", t.n, fn);
    ck_assert_msg(t.allocs == allocs, "%s: %.0f allocations, expected %.0f", fn, t.allocs,
                  allocs);
    ck_assert_msg(t.bytes == bytes, "%s: %.0f bytes, expected %.0f", fn, t.bytes, bytes);
    if (peak >= 0)
        ck_assert_msg(t.peak == peak, "%s: %.0f bytes live at the peak, expected %.0f", fn,
                      t.peak, peak);
    ck_assert_msg(t.temps == temps, "%s: %.0f temporary allocations, expected %.0f", fn,
                  t.temps, temps);
    ck_assert_msg(t.live == 0, "%s: %.0f bytes still live, expected 0", fn, t.live);
}

/* The profile's totals agree with the sites (all listed) and with the summary. */
static void check_profile_sums(const struct jval *rep)
{
    check_complete(rep);
    struct totals a = all_totals(rep);
    ck_assert_msg(num(rep, "profile.allocations") == a.allocs,
                  "profile.allocations %.0f, the sites add up to %.0f",
                  num(rep, "profile.allocations"), a.allocs);
    ck_assert_msg(num(rep, "profile.bytes") == a.bytes, "profile.bytes %.0f, sites %.0f",
                  num(rep, "profile.bytes"), a.bytes);
    ck_assert_msg(num(rep, "profile.temporary") == a.temps,
                  "profile.temporary %.0f, the sites add up to %.0f",
                  num(rep, "profile.temporary"), a.temps);
    ck_assert_msg(num(rep, "profile.allocations") == num(rep, "summary.allocations"),
                  "profile.allocations %.0f, summary.allocations %.0f",
                  num(rep, "profile.allocations"), num(rep, "summary.allocations"));
    ck_assert_msg(num(rep, "profile.frees") == num(rep, "summary.frees"),
                  "profile.frees %.0f, summary.frees %.0f", num(rep, "profile.frees"),
                  num(rep, "summary.frees"));
    ck_assert_msg(num(rep, "profile.peak_bytes") == num(rep, "summary.peak_bytes"),
                  "profile.peak_bytes %.0f, summary.peak_bytes %.0f",
                  num(rep, "profile.peak_bytes"), num(rep, "summary.peak_bytes"));
}

static const char *const leaked_kinds[] = { "definite", "indirect", "mapping", "pool", NULL };

static bool is_leaked_kind(const char *k)
{
    for (int i = 0; k && leaked_kinds[i]; i++)
        if (!strcmp(k, leaked_kinds[i]))
            return true;
    return false;
}

static double leaked_total(const struct jval *rep, const char *what /* bytes, blocks */)
{
    double t = 0;
    char key[64];
    for (int i = 0; leaked_kinds[i]; i++) {
        snprintf(key, sizeof key, "summary.%s_%s", leaked_kinds[i], what);
        t += num(rep, key);
    }
    return t;
}

/* ---- folded stacks ------------------------------------------------------------------------ */

struct lines {
    char **v;
    size_t n;
};

static struct lines split_lines(const char *text)
{
    struct lines l = { 0 };
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len) {
            l.v = realloc(l.v, (l.n + 1) * sizeof *l.v);
            l.v[l.n++] = strndup(p, len);
        }
        p += len + (nl ? 1 : 0);
    }
    return l;
}

static void lines_add(struct lines *l, const char *s)
{
    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = strdup(s);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *lines_join(const struct lines *l)
{
    size_t len = 1;
    for (size_t i = 0; i < l->n; i++)
        len += strlen(l->v[i]) + 3;
    char *s = malloc(len);
    s[0] = 0;
    for (size_t i = 0; i < l->n; i++) {
        strcat(s, "  ");
        strcat(s, l->v[i]);
        strcat(s, "\n");
    }
    return s;
}

/* The same lines, in any order (a multiset). */
static void check_same_lines(struct lines *got, struct lines *want, const char *what)
{
    if (got->n)
        qsort(got->v, got->n, sizeof *got->v, cmp_str);
    if (want->n)
        qsort(want->v, want->n, sizeof *want->v, cmp_str);
    bool same = got->n == want->n;
    for (size_t i = 0; same && i < got->n; i++)
        same = !strcmp(got->v[i], want->v[i]);
    if (!same) {
        char *g = lines_join(got), *w = lines_join(want);
        ck_abort_msg("%s: the lines differ.\ngot %zu:\n%s\nexpected %zu:\n%s", what, got->n, g,
                     want->n, w);
    }
}

/* A folded line's weight (after its last space); the frames are copied to `frames`. */
static double line_weight(const char *line, char *frames, size_t cap)
{
    const char *sp = strrchr(line, ' ');
    ck_assert_msg(sp && sp > line && sp[1], "not a folded line: '%s'", line);
    char *end;
    double w = strtod(sp + 1, &end);
    ck_assert_msg(!*end && w >= 0 && w == floor(w), "bad weight in folded line '%s'", line);
    if (frames)
        snprintf(frames, cap, "%.*s", (int)(sp - line), line);
    return w;
}

static double lines_sum(const struct lines *l)
{
    double t = 0;
    for (size_t i = 0; i < l->n; i++)
        t += line_weight(l->v[i], NULL, 0);
    return t;
}

/* A frame's name in a graph, as mallocspy-report and the library name it: the function,
 * else module+offset, else the address. */
static void frame_name(const struct jval *f, char *out, size_t cap)
{
    const char *fn = jstr(f, "function"), *mod = jstr(f, "module");
    if (fn)
        snprintf(out, cap, "%s", fn);
    else if (mod)
        snprintf(out, cap, "%s+%s", base_name(mod),
                 jstr(f, "offset") ? jstr(f, "offset") : "?");
    else
        snprintf(out, cap, "%s", jstr(f, "address") ? jstr(f, "address") : "?");
    for (char *c = out; *c; c++)
        if (*c == ';')
            *c = ':';
        else if (*c == '\n')
            *c = ' ';
}

/* The folded line of a JSON stack (root first) with weight w. */
static char *folded_line(const struct jval *g, double w)
{
    const struct jval *st = stack_of(g);
    size_t cap = 64 + st->n * 600;
    char *s = malloc(cap);
    s[0] = 0;
    for (size_t i = st->n; i-- > 0;) {
        char name[600];
        frame_name(st->items[i], name, sizeof name);
        if (i != st->n - 1)
            strcat(s, ";");
        strcat(s, name);
    }
    if (!st->n)
        strcat(s, "[no stack]");
    snprintf(s + strlen(s), cap - strlen(s), " %.0f", w);
    return s;
}

/* The lines a folded file must hold: one per leak group of a leaked kind. */
static struct lines leak_lines(const struct jval *rep)
{
    struct lines l = { 0 };
    const struct jval *leaks = jget(rep, "leaks");
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *g = leaks->items[i];
        if (!is_leaked_kind(jstr(g, "kind")))
            continue;
        char *s = folded_line(g, num(g, "bytes"));
        lines_add(&l, s);
        free(s);
    }
    return l;
}

/* ... or one per site with a non-zero `key` (bytes, allocations, peak_bytes, temporary). */
static struct lines site_lines(const struct jval *rep, const char *key)
{
    struct lines l = { 0 };
    const struct jval *s = sites_of(rep);
    for (size_t i = 0; i < s->n; i++) {
        double w = num(s->items[i], key);
        if (!w)
            continue;
        char *t = folded_line(s->items[i], w);
        lines_add(&l, t);
        free(t);
    }
    return l;
}

static struct lines read_lines(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "no file at %s", path);
    struct lines l = split_lines(text);
    free(text);
    return l;
}

/* The weight of the one line whose frames end with ";fn". */
static double weight_of_leaf(const struct lines *l, const char *fn)
{
    char suffix[256];
    snprintf(suffix, sizeof suffix, ";%s", fn);
    int n = 0;
    double w = -1;
    for (size_t i = 0; i < l->n; i++) {
        char frames[8192];
        double x = line_weight(l->v[i], frames, sizeof frames);
        size_t a = strlen(frames), b = strlen(suffix);
        if (a >= b && !strcmp(frames + a - b, suffix)) {
            w = x;
            n++;
        }
    }
    ck_assert_msg(n == 1, "%d folded lines end in %s (1 expected)", n, fn);
    return w;
}

static bool any_line_has(const struct lines *l, const char *fn)
{
    char a[256], b[256];
    snprintf(a, sizeof a, ";%s;", fn);
    snprintf(b, sizeof b, ";%s ", fn);
    for (size_t i = 0; i < l->n; i++)
        if (strstr(l->v[i], a) || strstr(l->v[i], b))
            return true;
    return false;
}

/* ---- the browser ------------------------------------------------------------------------ */

static void need_browser(void)
{
    ck_assert_msg(have_cmd("chromium"), "chromium is not installed (make check installs it)");
}

/* Runs headless Chromium on file://path[#hash] with `mode` ("--dump-dom", or the
 * screenshot arguments); a fresh profile directory each time.  Returns the run. */
static struct run chromium(const char *path, const char *hash, char *const mode[])
{
    char *profile = tmp_dir("chromium-profile");
    char udd[PATH_MAX + 64], url[PATH_MAX + 512];
    snprintf(udd, sizeof udd, "--user-data-dir=%s", profile);
    snprintf(url, sizeof url, "file://%s%s%s", path, hash ? "#" : "", hash ? hash : "");
    char *argv[40] = { "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                       "--disable-quic", "--no-first-run", "--disable-background-networking",
                       "--disable-component-update", "--disable-sync", udd };
    int k = 10;
    for (int i = 0; mode[i] && k < 38; i++)
        argv[k++] = mode[i];
    argv[k++] = url;
    argv[k] = NULL;
    struct run r = run_tool(argv, NULL);
    remove_tree(profile);
    free(profile);
    return r;
}

/* The DOM of the page after its scripts ran.  One retry: a browser on a loaded machine
 * may fail to start. */
static char *browser_dom(const char *path, const char *hash)
{
    need_browser();
    char *mode[] = { "--dump-dom", NULL };
    for (int attempt = 0;; attempt++) {
        struct run r = chromium(path, hash, mode);
        if (r.status == 0 && strstr(r.out, "</svg>")) {
            char *out = r.out;
            r.out = NULL;
            run_free(&r);
            return out;
        }
        if (attempt == 1)
            ck_abort_msg("chromium --dump-dom %s: status %d\nstdout: %.2000s\nstderr: %.3000s",
                         path, r.status, r.out, r.err);
        run_free(&r);
    }
}

static void browser_screenshot(const char *path, const char *png)
{
    need_browser();
    char shot[PATH_MAX + 64];
    snprintf(shot, sizeof shot, "--screenshot=%s", png);
    char *mode[] = { "--hide-scrollbars", "--window-size=1200,400", shot, NULL };
    for (int attempt = 0;; attempt++) {
        unlink(png);
        struct run r = chromium(path, NULL, mode);
        if (r.status == 0 && access(png, R_OK) == 0) {
            run_free(&r);
            return;
        }
        if (attempt == 1)
            ck_abort_msg("chromium --screenshot %s: status %d\nstderr: %.3000s", path, r.status,
                         r.err);
        run_free(&r);
    }
}

/* ---- reading the DOM --------------------------------------------------------------------- */

/* Text with the entities a serializer writes (&amp; &lt; &gt; &quot; &#NN;) undone. */
static char *unescape(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        static const struct { const char *e; char c; } ent[] = {
            { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' }, { "&quot;", '"' },
            { "&apos;", '\'' }, { "&#39;", '\'' }, { "&nbsp;", ' ' },
        };
        bool done = false;
        if (s[i] == '&') {
            for (size_t e = 0; e < sizeof ent / sizeof ent[0] && !done; e++) {
                size_t el = strlen(ent[e].e);
                if (i + el <= n && !strncmp(s + i, ent[e].e, el)) {
                    out[k++] = ent[e].c;
                    i += el;
                    done = true;
                }
            }
        }
        if (!done)
            out[k++] = s[i++];
    }
    out[k] = 0;
    return out;
}

/* The value of attribute `name` in the tag [tag, end), unescaped; NULL if absent. */
static char *attr(const char *tag, const char *end, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, " %s=\"", name);
    size_t pl = strlen(pat);
    for (const char *p = tag; p + pl <= end; p++) {
        if (strncmp(p, pat, pl))
            continue;
        const char *v = p + pl, *q = memchr(v, '"', (size_t)(end - v));
        if (!q)
            return NULL;
        return unescape(v, (size_t)(q - v));
    }
    return NULL;
}

/* The text of the first element whose start tag begins with `open` ("<text id=\"title\""),
 * up to the next '<'; NULL if there is none. */
static char *element_text(const char *dom, const char *open)
{
    const char *p = strstr(dom, open);
    if (!p)
        return NULL;
    const char *gt = strchr(p, '>');
    if (!gt)
        return NULL;
    if (gt[-1] == '/')
        return strdup("");
    const char *lt = strchr(gt + 1, '<');
    return unescape(gt + 1, lt ? (size_t)(lt - gt - 1) : strlen(gt + 1));
}

static char *element_attr(const char *dom, const char *open, const char *name)
{
    const char *p = strstr(dom, open);
    if (!p)
        return NULL;
    const char *gt = strchr(p, '>');
    return gt ? attr(p, gt, name) : NULL;
}

struct fgframe {
    char *name, *cls, *loc, *title, *fill;
    double weight, blocks, bytes, depth, width;
    double change, change_blocks;   /* a differential graph's; NAN in others */
};

struct fgdom {
    struct fgframe f[1024];
    int n;
    char *title, *subtitle, *matched, *reset_vis;
};

static double attr_num(const char *tag, const char *end, const char *name)
{
    char *v = attr(tag, end, name);
    if (!v)
        return NAN;
    char *e;
    double d = strtod(v, &e);
    if (e == v || *e)
        d = NAN;
    free(v);
    return d;
}

/* Every drawn frame: <g class="frame..." data-...><title>...</title><rect .../>...</g>. */
static struct fgdom *parse_dom(const char *dom)
{
    struct fgdom *d = calloc(1, sizeof *d);
    static const char open[] = "<g class=\"frame";
    for (const char *p = strstr(dom, open); p; p = strstr(p + 1, open)) {
        const char *gt = strchr(p, '>');
        const char *close = strstr(p, "</g>");
        ck_assert_msg(gt && close, "a frame without its end in the DOM");
        ck_assert_msg(d->n < 1024, "more than 1024 frames");
        struct fgframe *f = &d->f[d->n++];
        f->name = attr(p, gt, "data-name");
        f->cls = attr(p, gt, "class");
        f->loc = attr(p, gt, "data-loc");
        f->weight = attr_num(p, gt, "data-weight");
        f->blocks = attr_num(p, gt, "data-blocks");
        f->bytes = attr_num(p, gt, "data-bytes");
        f->depth = attr_num(p, gt, "data-depth");
        f->change = attr_num(p, gt, "data-change");
        f->change_blocks = attr_num(p, gt, "data-change-blocks");
        ck_assert_msg(f->name, "a frame without data-name");
        const char *t = strstr(gt, "<title>");
        if (t && t < close) {
            const char *te = strstr(t, "</title>");
            ck_assert_msg(te && te < close, "a frame's title is not closed");
            f->title = unescape(t + 7, (size_t)(te - t - 7));
        }
        const char *r = strstr(gt, "<rect");
        if (r && r < close) {
            const char *re = strchr(r, '>');
            f->fill = attr(r, re, "fill");
            f->width = attr_num(r, re, "width");
        } else {
            f->width = NAN;
        }
    }
    d->title = element_text(dom, "<text id=\"title\"");
    d->subtitle = element_text(dom, "<text id=\"subtitle\"");
    d->matched = element_text(dom, "<text id=\"matched\"");
    d->reset_vis = element_attr(dom, "<text id=\"reset\"", "visibility");
    return d;
}

static void dom_free(struct fgdom *d)
{
    for (int i = 0; i < d->n; i++) {
        free(d->f[i].name);
        free(d->f[i].cls);
        free(d->f[i].loc);
        free(d->f[i].title);
        free(d->f[i].fill);
    }
    free(d->title);
    free(d->subtitle);
    free(d->matched);
    free(d->reset_vis);
    free(d);
}

static int frames_named(const struct fgdom *d, const char *name, const struct fgframe **first)
{
    int n = 0;
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->f[i].name, name)) {
            if (!n && first)
                *first = &d->f[i];
            n++;
        }
    return n;
}

static const struct fgframe *one_frame(const struct fgdom *d, const char *name)
{
    const struct fgframe *f = NULL;
    int n = frames_named(d, name, &f);
    ck_assert_msg(n == 1, "%d frames named %s in the flame graph (1 expected)", n, name);
    return f;
}

/* 1234567 -> "1,234,567", as the graph's script writes numbers. */
static void group3(double v, char *out, size_t cap)
{
    char digits[64];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), k = 0;
    for (size_t i = 0; i < n && k + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = 0;
}

static bool is_class(const char *cls, const char *word)
{
    size_t l = strlen(word);
    for (const char *p = cls; p && (p = strstr(p, word)); p += l)
        if ((p == cls || p[-1] == ' ') && (p[l] == 0 || p[l] == ' '))
            return true;
    return false;
}

/* ---- the flame graph of prof_leaks -------------------------------------------------------- */

/* Its functions, each in one place of the tree, and the marker of the line each allocates
 * on (NULL: not an allocating line; the place is read from the JSON report). */
static const struct {
    const char *fn, *marker;
} leak_fns[] = {
    { "leak_alpha", "PROF-ALPHA" }, { "leak_beta", "PROF-BETA" },
    { "leak_gamma", NULL },         { "make_list_head", "PROF-HEAD" },
    { "make_list_node", "PROF-NODE" }, { "leak_delta", "PROF-DELTA" },
    { "leak_epsilon", NULL },       { "epsilon_alloc", "PROF-EPSILON" },
};
#define NLEAK_FNS (sizeof leak_fns / sizeof leak_fns[0])

/* What the JSON report says frames named fn must show: bytes and blocks of the leaked
 * groups with fn in their stacks, and where fn is ("prof_leaks.c:NN", each distinct). */
struct fn_expect {
    double bytes, blocks;
    char locs[8][128];
    int nlocs;
};

static struct fn_expect expect_fn(const struct jval *rep, const char *fn)
{
    struct fn_expect e;
    memset(&e, 0, sizeof e);
    const struct jval *leaks = jget(rep, "leaks");
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *g = leaks->items[i];
        int at = fn_index(g, fn);
        if (at < 0 || !is_leaked_kind(jstr(g, "kind")))
            continue;
        e.bytes += num(g, "bytes");
        e.blocks += num(g, "blocks");
        const struct jval *f = stack_of(g)->items[at];
        const char *file = jstr(f, "file");
        ck_assert_msg(file && !isnan(jnum(f, "line")), "%s: no file and line in the report", fn);
        char loc[128];
        snprintf(loc, sizeof loc, "%s:%.0f", base_name(file), jnum(f, "line"));
        bool seen = false;
        for (int k = 0; k < e.nlocs; k++)
            seen |= !strcmp(e.locs[k], loc);
        if (!seen && e.nlocs < 8)
            snprintf(e.locs[e.nlocs++], sizeof e.locs[0], "%s", loc);
    }
    ck_assert_msg(e.bytes > 0, "the JSON report has no leak from %s", fn);
    return e;
}

/* The frames of a leak flame graph of prof_leaks agree with its JSON report. */
static void check_leak_graph(const struct fgdom *d, const struct jval *rep)
{
    double total = leaked_total(rep, "bytes"), blocks = leaked_total(rep, "blocks");
    const struct fgframe *root = one_frame(d, "all");
    ck_assert_msg(root->weight == total, "the root's data-weight is %.0f, the report leaked %.0f",
                  root->weight, total);
    ck_assert_msg(root->blocks == blocks, "the root's data-blocks is %.0f, %.0f leaked blocks",
                  root->blocks, blocks);
    ck_assert_msg(root->depth == 0, "the root is at depth %.0f", root->depth);
    char g3[64], want[256];
    group3(total, g3, sizeof g3);
    snprintf(want, sizeof want, "%s bytes", g3);
    ck_assert_msg(root->title && strstr(root->title, want), "the root's tooltip '%s' lacks '%s'",
                  root->title ? root->title : "(none)", want);
    for (size_t i = 0; i < NLEAK_FNS; i++) {
        const char *fn = leak_fns[i].fn;
        struct fn_expect e = expect_fn(rep, fn);
        const struct fgframe *f = one_frame(d, fn);
        ck_assert_msg(f->weight == e.bytes && f->bytes == e.bytes,
                      "%s: data-weight %.0f, data-bytes %.0f; the report says %.0f bytes", fn,
                      f->weight, f->bytes, e.bytes);
        ck_assert_msg(f->blocks == e.blocks, "%s: data-blocks %.0f, the report says %.0f", fn,
                      f->blocks, e.blocks);
        ck_assert_msg(f->title, "%s: no <title> tooltip", fn);
        ck_assert_msg(!strncmp(f->title, fn, strlen(fn)), "%s: the tooltip '%s' does not start "
                      "with the function", fn, f->title);
        for (int k = 0; k < e.nlocs; k++) {
            ck_assert_msg(strstr(f->title, e.locs[k]), "%s: the tooltip '%s' lacks %s", fn,
                          f->title, e.locs[k]);
            ck_assert_msg(f->loc && strstr(f->loc, e.locs[k]), "%s: data-loc '%s' lacks %s", fn,
                          f->loc ? f->loc : "(none)", e.locs[k]);
        }
        if (leak_fns[i].marker) {
            char loc[128];
            snprintf(loc, sizeof loc, "prof_leaks.c:%d",
                     marker_line("prof_leaks.c", leak_fns[i].marker));
            ck_assert_msg(strstr(f->title, loc), "%s: the tooltip '%s' lacks the line %s", fn,
                          f->title, loc);
        }
        group3(e.bytes, g3, sizeof g3);
        snprintf(want, sizeof want, " %s bytes", g3);
        ck_assert_msg(strstr(f->title, want), "%s: the tooltip '%s' lacks '%s'", fn, f->title,
                      want);
        group3(e.blocks, g3, sizeof g3);
        snprintf(want, sizeof want, " %s block", g3);
        ck_assert_msg(strstr(f->title, want), "%s: the tooltip '%s' lacks '%s'", fn, f->title,
                      want);
        ck_assert_msg(f->width > 1, "%s: drawn %.2f px wide", fn, f->width);
    }
    /* What is not leaked is not drawn. */
    ck_assert_msg(frames_named(d, "kept_block", NULL) == 0, "the reachable block is drawn");
    ck_assert_msg(frames_named(d, "churn", NULL) == 0, "freed blocks are drawn");
    /* A child is never wider than its parent: widths add up. */
    const struct fgframe *gamma = one_frame(d, "leak_gamma");
    const struct fgframe *head = one_frame(d, "make_list_head");
    const struct fgframe *node = one_frame(d, "make_list_node");
    ck_assert_msg(fabs(head->width + node->width - gamma->width) < 0.05,
                  "make_list_head (%.2f px) and make_list_node (%.2f px) do not fill leak_gamma "
                  "(%.2f px)", head->width, node->width, gamma->width);
    ck_assert_msg(fabs(root->width - 1180) < 0.01, "the root is %.2f px wide, not 1180",
                  root->width);
}

/* ---- tests: temporary allocations and the peak --------------------------------------------- */

static const char *const temp_mine[] = {
    "temp_pair", "inter_first", "inter_second", "nest_outer", "nest_inner", "grow_src",
    "grow_realloc", "moved_src", "moved_other", "moved_realloc", "temp_calloc", "zero_src",
    "zero_realloc", "after_null", "temp_aligned", "temp_strdup", NULL,
};

START_TEST(test_temporary)
{
    char *folded = tmp_name("temp.folded");
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "sites_top=100000:weight=temporary:folded_path=%s", folded);
    struct spied s = run_prog("prof_temp", opts);
    const struct jval *rep = s.json;
    static const struct {
        const char *fn;
        double allocs, bytes, temps;
    } want[] = {
        { "temp_pair", 37, 37 * 24, 37 },
        { "inter_first", 20, 20 * 32, 0 },       /* a, b, free a, free b */
        { "inter_second", 20, 20 * 48, 0 },
        { "nest_outer", 15, 15 * 64, 0 },        /* a, b, free b, free a */
        { "nest_inner", 15, 15 * 16, 15 },
        { "grow_src", 11, 11 * 10, 11 },         /* realloc of the latest: a free */
        { "grow_realloc", 11, 11 * 4000, 11 },   /* ...and an allocation, freed at once */
        { "moved_src", 7, 7 * 10, 0 },           /* realloc of an older block */
        { "moved_other", 7, 7 * 12, 0 },
        { "moved_realloc", 7, 7 * 20, 7 },
        { "temp_calloc", 9, 9 * 24, 9 },
        { "zero_src", 5, 5 * 40, 5 },            /* realloc(p, 0) frees p */
        { "after_null", 6, 6 * 8, 6 },           /* free(NULL) is nothing */
        { "temp_aligned", 4, 4 * 128, 4 },
        { "temp_strdup", 3, 3 * 10, 3 },
    };
    double mine = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        check_site(rep, want[i].fn, want[i].allocs, want[i].bytes, -1, want[i].temps);
        mine += want[i].temps;
    }
    ck_assert_msg(mine == 108, "the table adds up to %.0f", mine);
    ck_assert_msg(fn_totals(rep, "zero_realloc").n == 0,
                  "realloc(p, 0) made a site: it allocates nothing");
    struct totals other = foreign_totals(rep, temp_mine);
    ck_assert_msg(num(rep, "profile.temporary") == 108 + other.temps,
                  "profile.temporary is %.0f: the program made 108 temporary allocations and "
                  "the other sites %.0f", num(rep, "profile.temporary"), other.temps);
    check_profile_sums(rep);
    /* weight=temporary: one folded line per site with temporary allocations. */
    struct lines got = read_lines(folded), exp = site_lines(rep, "temporary");
    check_same_lines(&got, &exp, "folded_path with weight=temporary");
    ck_assert_msg(lines_sum(&got) == num(rep, "profile.temporary"),
                  "the folded weights add up to %.0f, profile.temporary is %.0f",
                  lines_sum(&got), num(rep, "profile.temporary"));
    ck_assert_msg(weight_of_leaf(&got, "temp_pair") == 37, "temp_pair's folded weight");
    ck_assert_msg(!any_line_has(&got, "inter_first") && !any_line_has(&got, "nest_outer"),
                  "sites with no temporary allocation have folded lines");
    lines_free(&got);
    lines_free(&exp);
    unlink(folded);
    free(folded);
    spied_free(&s);
}
END_TEST

static const char *const peak_mine[] = { "peak_site_a", "peak_site_b", "peak_site_c",
                                         "peak_site_d", NULL };

START_TEST(test_peak)
{
    char *folded = tmp_name("peak.folded");
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "sites_top=100000:weight=peak:folded_path=%s", folded);
    struct spied s = run_prog("prof_peak", opts);
    const struct jval *rep = s.json;
    struct totals other = foreign_totals(rep, peak_mine);
    ck_assert_msg(num(rep, "summary.peak_bytes") == 20000 + other.peak,
                  "summary.peak_bytes is %.0f: expected the program's 20000 plus %.0f from "
                  "other sites", num(rep, "summary.peak_bytes"), other.peak);
    check_site(rep, "peak_site_a", 10, 10000, 10000, 0);
    check_site(rep, "peak_site_b", 5, 10000, 10000, 0);
    check_site(rep, "peak_site_c", 3, 300, 0, 0);
    check_site(rep, "peak_site_d", 1, 19999, 0, 1);
    check_profile_sums(rep);
    struct totals all = all_totals(rep);
    ck_assert_msg(all.peak == num(rep, "profile.peak_bytes"),
                  "the sites' peak_bytes add up to %.0f, profile.peak_bytes is %.0f", all.peak,
                  num(rep, "profile.peak_bytes"));
    /* weight=peak: the bytes each stack held at the peak. */
    struct lines got = read_lines(folded), exp = site_lines(rep, "peak_bytes");
    check_same_lines(&got, &exp, "folded_path with weight=peak");
    ck_assert_msg(lines_sum(&got) == num(rep, "summary.peak_bytes"),
                  "the folded weights add up to %.0f, the peak is %.0f", lines_sum(&got),
                  num(rep, "summary.peak_bytes"));
    ck_assert_msg(weight_of_leaf(&got, "peak_site_a") == 10000, "peak_site_a's folded weight");
    ck_assert_msg(weight_of_leaf(&got, "peak_site_b") == 10000, "peak_site_b's folded weight");
    ck_assert_msg(!any_line_has(&got, "peak_site_c") && !any_line_has(&got, "peak_site_d"),
                  "sites that held nothing at the peak have folded lines");
    lines_free(&got);
    lines_free(&exp);
    unlink(folded);
    free(folded);
    spied_free(&s);
}
END_TEST

/* ---- tests: sites_top ---------------------------------------------------------------------- */

static const char *const sites_mine[] = { "site_big", "site_many", "site_held", "site_medium",
                                          "site_tempbig", "site_held_small", "site_tiny",
                                          "site_tempsmall", NULL };
static const char *const measures[] = { "bytes", "allocations", "peak_bytes", "temporary" };

/* A site's identity across runs of the same program: its frames' functions and offsets. */
static char *site_sig(const struct jval *site)
{
    const struct jval *st = stack_of(site);
    size_t cap = 64 + st->n * 400;
    char *s = malloc(cap);
    s[0] = 0;
    for (size_t i = 0; i < st->n; i++) {
        const char *fn = jstr(st->items[i], "function"), *off = jstr(st->items[i], "offset");
        size_t l = strlen(s);
        snprintf(s + l, cap - l, "%s@%s|", fn ? fn : "?", off ? off : "?");
    }
    return s;
}

static int find_sig(const struct jval *sites, const char *sig)
{
    int at = -1;
    for (size_t i = 0; i < sites->n; i++) {
        char *x = site_sig(sites->items[i]);
        if (!strcmp(x, sig)) {
            ck_assert_msg(at < 0, "two sites with the same stack %s", sig);
            at = (int)i;
        }
        free(x);
    }
    return at;
}

/* Bit m set: the full list's site i is among the top n by measure m (ties: the earlier,
 * that is the larger in bytes, as the report sorts them; zeros never count). */
static unsigned top_mask(const struct jval *full, size_t i, unsigned n)
{
    unsigned mask = 0;
    for (int m = 0; m < 4; m++) {
        double v = num(full->items[i], measures[m]);
        if (!v)
            continue;
        unsigned above = 0;
        for (size_t j = 0; j < full->n; j++) {
            double w = num(full->items[j], measures[m]);
            double bi = num(full->items[i], "bytes"), bj = num(full->items[j], "bytes");
            if (w > v || (w == v && j != i && (bj > bi || (bj == bi && j < i))))
                above++;
        }
        if (above < n)
            mask |= 1u << m;
    }
    return mask;
}

static unsigned listed_mask(const struct jval *site)
{
    const struct jval *top = jget(site, "top");
    ck_assert_msg(top && top->type == J_ARR, "a site without its \"top\" array");
    unsigned mask = 0;
    int last = -1;
    for (size_t k = 0; k < top->n; k++) {
        ck_assert_msg(top->items[k]->type == J_STR, "a \"top\" item is not a string");
        int m = -1;
        for (int j = 0; j < 4; j++)
            if (!strcmp(top->items[k]->str, measures[j]))
                m = j;
        ck_assert_msg(m >= 0, "unknown measure \"%s\" in \"top\"", top->items[k]->str);
        ck_assert_msg(m > last, "\"top\" is not in the order bytes, allocations, peak_bytes, "
                      "temporary, or repeats one");
        last = m;
        mask |= 1u << m;
    }
    return mask;
}

/* The functions (from sites_mine) of the sites listed, in a sorted comma list. */
static void listed_fns(const struct jval *rep, char *out, size_t cap)
{
    out[0] = 0;
    for (int k = 0; sites_mine[k]; k++)
        if (fn_totals(rep, sites_mine[k]).n) {
            size_t l = strlen(out);
            snprintf(out + l, cap - l, "%s%s", l ? "," : "", sites_mine[k]);
        }
}

START_TEST(test_sites_top)
{
    struct spied full = run_prog("prof_sites", "sites_top=100000");
    const struct jval *rep = full.json;
    check_profile_sums(rep);
    check_site(rep, "site_big", 3, 120000, 0, 0);
    check_site(rep, "site_many", 500, 4000, 0, 500);
    check_site(rep, "site_held", 4, 80000, 80000, 0);
    check_site(rep, "site_medium", 300, 4800, 0, 0);
    check_site(rep, "site_tempbig", 100, 10000, 0, 100);
    check_site(rep, "site_held_small", 2, 6000, 6000, 0);
    check_site(rep, "site_tiny", 1, 10, 10, 0);
    check_site(rep, "site_tempsmall", 50, 50, 0, 50);
    struct totals other = foreign_totals(rep, sites_mine);
    ck_assert_msg(num(rep, "summary.peak_bytes") == 86010 + other.peak,
                  "summary.peak_bytes %.0f, expected 86010 + %.0f",
                  num(rep, "summary.peak_bytes"), other.peak);
    const struct jval *all = sites_of(rep);
    for (size_t i = 0; i < all->n; i++)
        ck_assert_msg(listed_mask(all->items[i]) == top_mask(all, i, 100000),
                      "with sites_top=100000, site %zu's \"top\" lists the wrong measures", i);

    /* Which of the program's sites each sites_top keeps, worked out by hand. */
    static const struct {
        unsigned n;
        const char *fns;
    } cases[] = {
        { 1, "site_big,site_many,site_held" },
        { 2, "site_big,site_many,site_held,site_medium,site_tempbig,site_held_small" },
        { 3, "site_big,site_many,site_held,site_medium,site_tempbig,site_held_small,"
             "site_tiny,site_tempsmall" },
        { 0, "" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char opts[64];
        snprintf(opts, sizeof opts, "sites_top=%u", cases[c].n);
        struct spied s = run_prog("prof_sites", opts);
        const struct jval *part = sites_of(s.json);
        ck_assert_msg(num(s.json, "profile.sites_top") == cases[c].n,
                      "%s: profile.sites_top is %.0f", opts, num(s.json, "profile.sites_top"));
        /* The totals do not depend on what is listed. */
        static const char *const keys[] = { "profile.allocations", "profile.frees",
                                            "profile.bytes", "profile.temporary",
                                            "profile.peak_bytes", "profile.stacks" };
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            ck_assert_msg(num(s.json, keys[k]) == num(rep, keys[k]),
                          "%s: %s is %.0f, %.0f with every site listed", opts, keys[k],
                          num(s.json, keys[k]), num(rep, keys[k]));
        char fns[512];
        listed_fns(s.json, fns, sizeof fns);
        ck_assert_msg(!strcmp(fns, cases[c].fns), "%s lists the sites of %s; expected %s",
                      opts, fns[0] ? fns : "nothing", cases[c].fns[0] ? cases[c].fns : "none");
        /* Exactly the union of the top n by each measure, each saying why it is there,
         * with the numbers of the full list. */
        size_t expected = 0;
        for (size_t i = 0; i < all->n; i++) {
            unsigned want = cases[c].n ? top_mask(all, i, cases[c].n) : 0;
            char *sig = site_sig(all->items[i]);
            int at = find_sig(part, sig);
            if (!want) {
                ck_assert_msg(at < 0, "%s lists %s, in no top %u", opts, sig, cases[c].n);
            } else {
                expected++;
                ck_assert_msg(at >= 0, "%s does not list %s", opts, sig);
                const struct jval *p = part->items[at];
                ck_assert_msg(listed_mask(p) == want, "%s: %s is listed in the top of measures "
                              "0x%x, expected 0x%x (bytes 1, allocations 2, peak_bytes 4, "
                              "temporary 8)", opts, sig, listed_mask(p), want);
                static const char *const vals[] = { "allocations", "bytes", "peak_bytes",
                                                    "temporary", "live_bytes" };
                for (size_t k = 0; k < 5; k++)
                    ck_assert_msg(num(p, vals[k]) == num(all->items[i], vals[k]),
                                  "%s: %s has %s %.0f, %.0f in the full list", opts, sig, vals[k],
                                  num(p, vals[k]), num(all->items[i], vals[k]));
            }
            free(sig);
        }
        ck_assert_msg(part->n == expected, "%s lists %zu sites, expected %zu", opts, part->n,
                      expected);
        spied_free(&s);
    }
    spied_free(&full);
}
END_TEST

/* ---- tests: folded stacks ---------------------------------------------------------------- */

/* mallocspy-report REPORT --folded - [--weight W]: its lines (status 0 expected); `err`
 * gets a copy of what it wrote on stderr when not NULL. */
static struct lines report_folded(const char *json, const char *weight, char **err)
{
    char *argv[] = { (char *)report_script(), (char *)json, "--folded", "-",
                     weight ? "--weight" : NULL, (char *)weight, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "mallocspy-report --folded -: status %d\n%s", r.status, r.err);
    struct lines l = split_lines(r.out);
    if (err)
        *err = strdup(r.err);
    else
        ck_assert_msg(!strcmp(r.err, ""), "mallocspy-report --folded wrote on stderr: %s", r.err);
    run_free(&r);
    return l;
}

START_TEST(test_folded_leaks)
{
    /* "%p" in the name becomes the pid. */
    char *pattern = tmp_name("leaks-%p.folded");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "folded_path=%s", pattern);
    struct spied s = run_prog("prof_leaks", opts);
    const struct jval *rep = s.json;
    char *folded = malloc(strlen(pattern) + 32);
    size_t cut = (size_t)(strstr(pattern, "%p") - pattern);
    sprintf(folded, "%.*s%.0f%s", (int)cut, pattern, num(rep, "pid"), pattern + cut + 2);
    ck_assert_msg(access(pattern, F_OK) != 0, "folded_path=%s was taken literally", pattern);
    free(pattern);
    struct lines got = read_lines(folded), exp = leak_lines(rep);
    /* The weights add up to the leaked bytes: definite, indirect, mapping and pool. */
    ck_assert_msg(lines_sum(&got) == leaked_total(rep, "bytes"),
                  "the folded weights add up to %.0f, the report leaked %.0f bytes",
                  lines_sum(&got), leaked_total(rep, "bytes"));
    /* The program's leaks, as its source says. */
    ck_assert_msg(leaked_total(rep, "bytes") >= 1663, "only %.0f bytes leaked",
                  leaked_total(rep, "bytes"));
    ck_assert_msg(weight_of_leaf(&got, "leak_alpha") == 300, "leak_alpha's folded weight");
    ck_assert_msg(weight_of_leaf(&got, "leak_beta") == 555, "leak_beta's folded weight");
    ck_assert_msg(weight_of_leaf(&got, "make_list_head") == 48, "make_list_head's weight");
    ck_assert_msg(weight_of_leaf(&got, "make_list_node") == 256, "make_list_node's weight");
    ck_assert_msg(weight_of_leaf(&got, "leak_delta") == 350, "leak_delta's folded weight");
    /* An inlined function is a frame of its own, after the one it is inlined into. */
    ck_assert_msg(weight_of_leaf(&got, "leak_epsilon;epsilon_alloc") == 154,
                  "the inlined epsilon_alloc's folded line");
    ck_assert_msg(!any_line_has(&got, "kept_block") && !any_line_has(&got, "churn"),
                  "reachable or freed blocks have folded lines");
    /* Root first: each line starts where the program starts and reaches main. */
    for (size_t i = 0; i < got.n; i++)
        if (any_line_has(&(struct lines){ &got.v[i], 1 }, "leak_alpha"))
            ck_assert_msg(strstr(got.v[i], ";main;leak_alpha ") && strncmp(got.v[i], "main", 4),
                          "leak_alpha's line is not root first: %s", got.v[i]);
    /* Each leak group of the JSON report is one line, with its frames and bytes. */
    check_same_lines(&got, &exp, "folded_path (weight leaked) against the JSON report");
    /* mallocspy-report draws the same from the JSON report. */
    struct lines scr = report_folded(s.json_path, NULL, NULL);
    check_same_lines(&scr, &got, "mallocspy-report --folded - against folded_path");
    lines_free(&scr);
    lines_free(&got);
    lines_free(&exp);
    unlink(folded);
    free(folded);
    spied_free(&s);
}
END_TEST

START_TEST(test_folded_weights)
{
    static const struct {
        const char *weight, *key;
    } w[] = { { "allocated", "bytes" }, { "allocations", "allocations" } };
    for (size_t k = 0; k < 2; k++) {
        char *folded = tmp_name("sites.folded");
        char opts[PATH_MAX + 128];
        snprintf(opts, sizeof opts, "sites_top=100000:weight=%s:folded_path=%s", w[k].weight,
                 folded);
        struct spied s = run_prog("prof_sites", opts);
        const struct jval *rep = s.json;
        check_complete(rep);
        struct lines got = read_lines(folded), exp = site_lines(rep, w[k].key);
        check_same_lines(&got, &exp, w[k].weight);
        char key[64];
        snprintf(key, sizeof key, "profile.%s", w[k].key);
        ck_assert_msg(lines_sum(&got) == num(rep, key), "weight=%s: the lines add up to %.0f, "
                      "%s is %.0f", w[k].weight, lines_sum(&got), key, num(rep, key));
        ck_assert_msg(weight_of_leaf(&got, "site_big") == (k ? 3 : 120000),
                      "weight=%s: site_big's line", w[k].weight);
        ck_assert_msg(weight_of_leaf(&got, "site_many") == (k ? 500 : 4000),
                      "weight=%s: site_many's line", w[k].weight);
        struct lines scr = report_folded(s.json_path, w[k].weight, NULL);
        check_same_lines(&scr, &got, "mallocspy-report --folded - --weight");
        lines_free(&scr);
        lines_free(&got);
        lines_free(&exp);
        unlink(folded);
        free(folded);
        spied_free(&s);
    }

    /* With sites_top=2 the library still folds every stack; the JSON report holds six of
     * the eight, and mallocspy-report says so when it folds them. */
    char *folded = tmp_name("top2.folded");
    char opts[PATH_MAX + 128];
    snprintf(opts, sizeof opts, "sites_top=2:weight=allocated:folded_path=%s", folded);
    struct spied s = run_prog("prof_sites", opts);
    struct lines got = read_lines(folded);
    ck_assert_msg(got.n == num(s.json, "profile.stacks"),
                  "sites_top=2: %zu folded lines for %.0f stacks", got.n,
                  num(s.json, "profile.stacks"));
    ck_assert_msg(lines_sum(&got) == num(s.json, "profile.bytes"),
                  "sites_top=2: the folded lines add up to %.0f, profile.bytes %.0f",
                  lines_sum(&got), num(s.json, "profile.bytes"));
    char *err = NULL;
    struct lines scr = report_folded(s.json_path, "allocated", &err);
    struct lines exp = site_lines(s.json, "bytes");
    check_same_lines(&scr, &exp, "mallocspy-report --folded - on a report of the top sites");
    char holds[128];
    snprintf(holds, sizeof holds, "holds %zu of %.0f stacks", sites_of(s.json)->n,
             num(s.json, "profile.stacks"));
    ck_assert_msg(count_lines(err) == 1 && !strncmp(err, "mallocspy-report: ", 18) &&
                  strstr(err, holds), "mallocspy-report's warning about the missing stacks: '%s'",
                  err);
    free(err);
    lines_free(&scr);
    lines_free(&exp);
    lines_free(&got);
    unlink(folded);
    free(folded);
    spied_free(&s);
}
END_TEST

/* ---- tests: flame graphs in a browser ----------------------------------------------------- */

/* A flame graph file holds everything: no script, style or image comes from elsewhere. */
static void check_self_contained(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text && *text, "no flame graph at %s", path);
    static const char *const bad[] = { "src=\"http", "href=\"http", "src='http", "href='http",
                                       "url(http", "@import", "<script src", "xlink:href=\"//",
                                       "fetch(", "XMLHttpRequest", NULL };
    for (int i = 0; bad[i]; i++)
        ck_assert_msg(!strstr(text, bad[i]), "%s fetches something: it holds '%s'", path, bad[i]);
    free(text);
}

/* Runs a small Python program (text) on args; returns its stdout (status 0 expected). */
static char *python(const char *text, const char *arg)
{
    ck_assert_msg(have_cmd("python3"), "python3 is not installed");
    char *path = tmp_name("check.py");
    ck_assert(write_file(path, text));
    char *argv[] = { "python3", path, (char *)arg, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "python3 %s: status %d\n%s", path, r.status, r.err);
    char *out = strdup(r.out);
    run_free(&r);
    unlink(path);
    free(path);
    return out;
}

/* Decodes a PNG (8-bit RGB or RGBA, not interlaced, CRCs checked) and prints its size, how
 * many distinct colours it has and, for each "rgb(r,g,b)" argument, how many pixels have
 * exactly that colour. */
static const char png_py[] =
    "import struct, sys, zlib\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', 'not a PNG signature'\n"
    "pos, idat, hdr = 8, b'', None\n"
    "while pos < len(data):\n"
    "    n, kind = struct.unpack('>I4s', data[pos:pos + 8])\n"
    "    body = data[pos + 8:pos + 8 + n]\n"
    "    crc, = struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])\n"
    "    assert zlib.crc32(kind + body) & 0xffffffff == crc, 'bad CRC in ' + repr(kind)\n"
    "    if kind == b'IHDR': hdr = struct.unpack('>IIBBBBB', body)\n"
    "    elif kind == b'IDAT': idat += body\n"
    "    elif kind == b'IEND': break\n"
    "    pos += 12 + n\n"
    "w, h, depth, ctype, _, _, lace = hdr\n"
    "assert depth == 8 and ctype in (2, 6) and lace == 0, 'unexpected PNG format %r' % (hdr,)\n"
    "bpp = 3 if ctype == 2 else 4\n"
    "raw = zlib.decompress(idat)\n"
    "stride = w * bpp\n"
    "assert len(raw) == h * (stride + 1), 'bad image data length'\n"
    "prev = bytearray(stride)\n"
    "counts = {}\n"
    "for y in range(h):\n"
    "    f = raw[y * (stride + 1)]\n"
    "    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])\n"
    "    if f == 1:\n"
    "        for i in range(bpp, stride): line[i] = (line[i] + line[i - bpp]) & 255\n"
    "    elif f == 2:\n"
    "        for i in range(stride): line[i] = (line[i] + prev[i]) & 255\n"
    "    elif f == 3:\n"
    "        for i in range(stride):\n"
    "            a = line[i - bpp] if i >= bpp else 0\n"
    "            line[i] = (line[i] + ((a + prev[i]) >> 1)) & 255\n"
    "    elif f == 4:\n"
    "        for i in range(stride):\n"
    "            a = line[i - bpp] if i >= bpp else 0\n"
    "            b = prev[i]\n"
    "            c = prev[i - bpp] if i >= bpp else 0\n"
    "            p = a + b - c\n"
    "            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)\n"
    "            pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)\n"
    "            line[i] = (line[i] + pr) & 255\n"
    "    else:\n"
    "        assert f == 0, 'bad filter %d' % f\n"
    "    for x in range(0, stride, bpp):\n"
    "        px = bytes(line[x:x + 3])\n"
    "        counts[px] = counts.get(px, 0) + 1\n"
    "    prev = line\n"
    "out = ['%d %d %d' % (w, h, len(counts))]\n"
    "for spec in sys.argv[2:]:\n"
    "    r, g, b = [int(v) for v in spec[4:-1].split(',')]\n"
    "    out.append(str(counts.get(bytes([r, g, b]), 0)))\n"
    "print(' '.join(out))\n";

START_TEST(test_flamegraph_svg)
{
    char *svg = tmp_name("leaks.svg");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "flamegraph_path=%s", svg);
    struct spied s = run_prog("prof_leaks", opts);
    check_self_contained(svg);
    char *text = read_file(svg);
    ck_assert_msg(!strncmp(text, "<?xml", 5) && strstr(text, "<svg"), "%s is not an SVG file", svg);
    free(text);

    /* In the browser, with a search given in the address. */
    char *dom = browser_dom(svg, "search=leak_al");
    struct fgdom *d = parse_dom(dom);
    check_leak_graph(d, s.json);
    char title[256];
    snprintf(title, sizeof title, "Leaked bytes by stack: prof_leaks (pid %.0f)",
             num(s.json, "pid"));
    ck_assert_msg(d->title && !strcmp(d->title, title), "the title is '%s', expected '%s'",
                  d->title ? d->title : "(none)", title);
    ck_assert_msg(d->subtitle && strstr(d->subtitle, "weight=leaked"),
                  "the subtitle '%s' does not name the weight", d->subtitle ? d->subtitle : "");
    /* The search marks leak_alpha, and only it, and says how much of the graph it is. */
    for (int i = 0; i < d->n; i++)
        ck_assert_msg(is_class(d->f[i].cls, "match") == !strcmp(d->f[i].name, "leak_alpha"),
                      "frame %s has class '%s' after searching for leak_al", d->f[i].name,
                      d->f[i].cls);
    double total = leaked_total(s.json, "bytes"), pct = 0;
    ck_assert_msg(d->matched && sscanf(d->matched, "Matched: %lf%%", &pct) == 1,
                  "no 'Matched:' text after the search: '%s'", d->matched ? d->matched : "");
    ck_assert_msg(fabs(pct - 100.0 * 300 / total) < 0.051, "Matched: %.1f%%, expected %.1f%%",
                  pct, 100.0 * 300 / total);

    /* The picture: a PNG with the frames' colours in it. */
    const struct fgframe *beta = one_frame(d, "leak_beta"), *root = one_frame(d, "all");
    ck_assert_msg(beta->fill && root->fill, "frames without a fill colour");
    char *png = tmp_name("leaks.png");
    browser_screenshot(svg, png);
    struct stat st;
    ck_assert_msg(stat(png, &st) == 0 && st.st_size > 8 * 1024,
                  "the screenshot is %lld bytes: too small to show anything",
                  (long long)st.st_size);
    char *script = malloc(strlen(png_py) + 256);
    /* The colours go to the script as arguments: rewrite its argv. */
    snprintf(script, strlen(png_py) + 256, "import sys\nsys.argv += ['%s', '%s']\n%s",
             beta->fill, root->fill, png_py);
    char *out = python(script, png);
    unsigned w = 0, h = 0, colours = 0, nbeta = 0, nroot = 0;
    ck_assert_msg(sscanf(out, "%u %u %u %u %u", &w, &h, &colours, &nbeta, &nroot) == 5,
                  "the PNG checker said: %s", out);
    ck_assert_msg(w == 1200 && h == 400, "the screenshot is %ux%u, not 1200x400", w, h);
    ck_assert_msg(colours >= 8, "the screenshot has %u colours", colours);
    /* leak_beta is about 394 x 16 px, the root 1180 x 16, less their borders and labels. */
    ck_assert_msg(nbeta >= 2000, "only %u pixels of leak_beta's colour %s", nbeta, beta->fill);
    ck_assert_msg(nroot >= 8000, "only %u pixels of the root's colour %s", nroot, root->fill);
    free(out);
    free(script);
    unlink(png);
    free(png);
    dom_free(d);
    free(dom);
    unlink(svg);
    free(svg);
    spied_free(&s);
}
END_TEST

/* Added to the HTML page: records the frames, clicks leak_gamma, records them, clicks
 * "Reset zoom", records them; each record a <pre>, one line per frame. */
static const char zoom_js[] =
    "<script>\n"
    "(function () {\n"
    "  function snap() {\n"
    "    var out = [], gs = document.querySelectorAll('#frames g');\n"
    "    for (var i = 0; i < gs.length; i++) {\n"
    "      var g = gs[i], r = g.querySelector('rect');\n"
    "      out.push([g.getAttribute('data-name'), g.getAttribute('class'),\n"
    "                g.getAttribute('data-weight'), g.getAttribute('data-depth'),\n"
    "                r ? r.getAttribute('width') : ''].join('\\t'));\n"
    "    }\n"
    "    var reset = document.getElementById('reset');\n"
    "    out.push(['#reset', reset.getAttribute('visibility')].join('\\t'));\n"
    "    return out.join('\\n');\n"
    "  }\n"
    "  function put(id) {\n"
    "    var p = document.createElement('pre'); p.id = id; p.textContent = snap();\n"
    "    document.body.appendChild(p);\n"
    "  }\n"
    "  function click(el) { el.dispatchEvent(new MouseEvent('click', { bubbles: true })); }\n"
    "  put('snap-before');\n"
    "  var gs = document.querySelectorAll('#frames g');\n"
    "  for (var i = 0; i < gs.length; i++)\n"
    "    if (gs[i].getAttribute('data-name') === 'leak_gamma') { click(gs[i]); break; }\n"
    "  put('snap-zoom');\n"
    "  click(document.getElementById('reset'));\n"
    "  put('snap-reset');\n"
    "})();\n"
    "</script>\n";

struct snapframe {
    char name[256], cls[64];
    double weight, depth, width;
};

struct snap {
    struct snapframe f[512];
    int n;
    char reset[32];
    char *text;
};

static void read_snap(const char *dom, const char *id, struct snap *s)
{
    char open[64];
    snprintf(open, sizeof open, "<pre id=\"%s\">", id);
    const char *p = strstr(dom, open);
    ck_assert_msg(p, "no %s record in the page: the script did not run", id);
    p += strlen(open);
    const char *e = strstr(p, "</pre>");
    ck_assert(e);
    s->text = unescape(p, (size_t)(e - p));
    s->n = 0;
    s->reset[0] = 0;
    struct lines l = split_lines(s->text);
    for (size_t i = 0; i < l.n; i++) {
        char *f[5] = { 0 };
        int k = 0;
        for (char *tok = l.v[i], *tab; k < 5; tok = tab + 1) {
            f[k++] = tok;
            tab = strchr(tok, '\t');
            if (!tab)
                break;
            *tab = 0;
        }
        if (!strcmp(f[0], "#reset")) {
            snprintf(s->reset, sizeof s->reset, "%s", k > 1 && f[1] ? f[1] : "");
            continue;
        }
        ck_assert_msg(k == 5 && s->n < 512, "a bad record line in %s", id);
        struct snapframe *sf = &s->f[s->n++];
        snprintf(sf->name, sizeof sf->name, "%s", f[0]);
        snprintf(sf->cls, sizeof sf->cls, "%s", f[1]);
        sf->weight = atof(f[2]);
        sf->depth = atof(f[3]);
        sf->width = atof(f[4]);
    }
    lines_free(&l);
}

static const struct snapframe *snap_frame(const struct snap *s, const char *name)
{
    const struct snapframe *found = NULL;
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->f[i].name, name)) {
            found = &s->f[i];
            n++;
        }
    ck_assert_msg(n <= 1, "%d frames named %s", n, name);
    return found;
}

START_TEST(test_flamegraph_html_zoom)
{
    char *html = tmp_name("leaks.html");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "flamegraph_path=%s", html);
    struct spied s = run_prog("prof_leaks", opts);
    check_self_contained(html);
    char *text = read_file(html);
    ck_assert_msg(!strncmp(text, "<!DOCTYPE html>", 15), "%s is not an HTML page", html);
    char title[256], head[300];
    snprintf(title, sizeof title, "Leaked bytes by stack: prof_leaks (pid %.0f)",
             num(s.json, "pid"));
    snprintf(head, sizeof head, "<title>%s</title>", title);
    ck_assert_msg(strstr(text, head), "the page's <title> is not '%s'", title);
    const char *end = strstr(text, "</body>");
    ck_assert_msg(end, "%s has no </body>", html);
    /* The same page, with a script after the graph that clicks on it. */
    char *zpath = tmp_name("zoom.html");
    size_t at = (size_t)(end - text);
    char *ztext = malloc(strlen(text) + sizeof zoom_js + 1);
    memcpy(ztext, text, at);
    strcpy(ztext + at, zoom_js);
    strcat(ztext, text + at);
    ck_assert(write_file(zpath, ztext));
    free(ztext);
    free(text);

    char *dom = browser_dom(zpath, NULL);
    /* The page as drawn (after the reset: drawn again from scratch). */
    struct fgdom *d = parse_dom(dom);
    check_leak_graph(d, s.json);
    ck_assert_msg(d->title && !strcmp(d->title, title), "the graph's title is '%s'", d->title);
    char *doc_title = element_text(dom, "<title>");
    ck_assert_msg(doc_title && !strcmp(doc_title, title), "the document title is '%s'",
                  doc_title ? doc_title : "(none)");
    free(doc_title);

    struct snap *before = calloc(1, sizeof *before), *zoom = calloc(1, sizeof *zoom),
                *reset = calloc(1, sizeof *reset);
    read_snap(dom, "snap-before", before);
    read_snap(dom, "snap-zoom", zoom);
    read_snap(dom, "snap-reset", reset);
    ck_assert_msg(!strcmp(before->reset, "hidden"), "'Reset zoom' shows before any zoom");
    const struct snapframe *g0 = snap_frame(before, "leak_gamma");
    ck_assert_msg(g0 && g0->width < 1180, "leak_gamma is not drawn, or fills the graph");
    /* Zoomed on leak_gamma: it spans the width, its children share it by weight, its
     * ancestors stay below it, dimmed, and nothing else is drawn. */
    const struct snapframe *g = snap_frame(zoom, "leak_gamma");
    ck_assert_msg(g, "leak_gamma is gone after clicking it");
    ck_assert_msg(fabs(g->width - 1180) < 0.01, "zoomed leak_gamma is %.2f px wide, not 1180",
                  g->width);
    ck_assert_msg(!is_class(g->cls, "above"), "the zoomed frame is dimmed");
    ck_assert_msg(!strcmp(zoom->reset, "visible"), "'Reset zoom' is '%s' after a zoom",
                  zoom->reset);
    struct fn_expect head_e = expect_fn(s.json, "make_list_head");
    struct fn_expect node_e = expect_fn(s.json, "make_list_node");
    const struct snapframe *hf = snap_frame(zoom, "make_list_head");
    const struct snapframe *nf = snap_frame(zoom, "make_list_node");
    ck_assert_msg(hf && nf, "leak_gamma's children are not drawn after the zoom");
    double sum = head_e.bytes + node_e.bytes;
    ck_assert_msg(fabs(hf->width - 1180 * head_e.bytes / sum) < 0.011 &&
                  fabs(nf->width - 1180 * node_e.bytes / sum) < 0.011,
                  "zoomed children are %.2f and %.2f px wide, expected %.2f and %.2f", hf->width,
                  nf->width, 1180 * head_e.bytes / sum, 1180 * node_e.bytes / sum);
    int above = 0;
    for (int i = 0; i < zoom->n; i++) {
        const struct snapframe *f = &zoom->f[i];
        if (is_class(f->cls, "above")) {
            above++;
            ck_assert_msg(f->depth < g->depth && fabs(f->width - 1180) < 0.01,
                          "%s is dimmed below the zoom at depth %.0f, %.2f px wide", f->name,
                          f->depth, f->width);
        } else {
            ck_assert_msg(f == g || f == hf || f == nf,
                          "%s is drawn after zooming on leak_gamma", f->name);
        }
    }
    ck_assert_msg(above == (int)g->depth, "%d ancestors drawn below the zoomed frame at depth %.0f",
                  above, g->depth);
    ck_assert_msg(!snap_frame(zoom, "leak_alpha") && !snap_frame(zoom, "leak_beta"),
                  "frames outside the zoom are drawn");
    /* Reset: the graph as it was. */
    ck_assert_msg(!strcmp(reset->text, before->text),
                  "after 'Reset zoom' the graph differs from the first drawing:\n%s\n---\n%s",
                  reset->text, before->text);
    free(before->text);
    free(zoom->text);
    free(reset->text);
    free(before);
    free(zoom);
    free(reset);
    dom_free(d);
    free(dom);
    unlink(zpath);
    free(zpath);
    unlink(html);
    free(html);
    spied_free(&s);
}
END_TEST

START_TEST(test_flamegraph_report_script)
{
    struct spied s = run_prog("prof_leaks", NULL);
    char *svg = tmp_name("script.svg"), *html = tmp_name("script.html");
    const char *title = "Leaks of <prof_leaks> & co";
    char *argv[] = { (char *)report_script(), s.json_path, "--flamegraph", svg, "--title",
                     (char *)title, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, "") && !strcmp(r.out, ""),
                  "mallocspy-report --flamegraph: status %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    check_self_contained(svg);
    char *dom = browser_dom(svg, NULL);
    struct fgdom *d = parse_dom(dom);
    check_leak_graph(d, s.json);
    ck_assert_msg(d->title && !strcmp(d->title, title), "the title is '%s', expected '%s'",
                  d->title ? d->title : "(none)", title);
    dom_free(d);
    free(dom);

    /* An HTML page, with the default title: the library's. */
    char *argv2[] = { (char *)report_script(), s.json_path, "--flamegraph", html, NULL };
    r = run_tool(argv2, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy-report --flamegraph x.html: "
                  "status %d\n%s", r.status, r.err);
    run_free(&r);
    check_self_contained(html);
    char *text = read_file(html);
    char want[256];
    snprintf(want, sizeof want, "<title>Leaked bytes by stack: prof_leaks (pid %.0f)</title>",
             num(s.json, "pid"));
    ck_assert_msg(!strncmp(text, "<!DOCTYPE html>", 15) && strstr(text, want),
                  "%s is not an HTML page titled as the library titles it", html);
    free(text);
    unlink(svg);
    unlink(html);
    free(svg);
    free(html);
    spied_free(&s);
}
END_TEST

START_TEST(test_flamegraph_allocations)
{
    char *svg = tmp_name("alloc.svg");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "sites_top=100000:weight=allocations:flamegraph_path=%s", svg);
    struct spied s = run_prog("prof_sites", opts);
    const struct jval *rep = s.json;
    check_self_contained(svg);
    char *dom = browser_dom(svg, NULL);
    struct fgdom *d = parse_dom(dom);
    const struct fgframe *root = one_frame(d, "all");
    ck_assert_msg(root->weight == num(rep, "profile.allocations"),
                  "the root weighs %.0f allocations, the profile counts %.0f", root->weight,
                  num(rep, "profile.allocations"));
    ck_assert_msg(root->bytes == num(rep, "profile.bytes"), "the root's data-bytes %.0f, "
                  "profile.bytes %.0f", root->bytes, num(rep, "profile.bytes"));
    for (int k = 0; sites_mine[k]; k++) {
        struct totals t = fn_totals(rep, sites_mine[k]);
        const struct fgframe *f = one_frame(d, sites_mine[k]);
        ck_assert_msg(f->weight == t.allocs && f->blocks == t.allocs && f->bytes == t.bytes,
                      "%s: data-weight %.0f, data-blocks %.0f, data-bytes %.0f; expected %.0f "
                      "allocations of %.0f bytes", sites_mine[k], f->weight, f->blocks, f->bytes,
                      t.allocs, t.bytes);
    }
    const struct fgframe *many = one_frame(d, "site_many");
    ck_assert_msg(many->title && strstr(many->title, " 500 allocations") &&
                  strstr(many->title, " 4,000 bytes") && strstr(many->title, "prof_sites.c:"),
                  "site_many's tooltip: '%s'", many->title ? many->title : "(none)");
    char title[256];
    snprintf(title, sizeof title, "Allocations by stack: prof_sites (pid %.0f)", num(rep, "pid"));
    ck_assert_msg(d->title && !strcmp(d->title, title), "the title is '%s', expected '%s'",
                  d->title ? d->title : "(none)", title);
    dom_free(d);
    free(dom);
    unlink(svg);
    free(svg);
    spied_free(&s);
}
END_TEST

/* ---- tests: the timeline --------------------------------------------------------------- */

/* The checks every timeline passes: samples in time order, each sample's most at least its
 * own bytes, the most of all the peak, found at peak_ms. */
static const struct jval *check_timeline_from(const struct jval *rep, bool from_zero)
{
    const struct jval *tl = jget(rep, "timeline");
    ck_assert_msg(tl && tl->type == J_OBJ, "no \"timeline\" in the report");
    const struct jval *smp = jget(tl, "samples");
    ck_assert_msg(smp && smp->type == J_ARR && smp->n >= 2, "fewer than 2 samples");
    double prev = -1, top = -1, top_ms = -1;
    for (size_t i = 0; i < smp->n; i++) {
        const struct jval *x = smp->items[i];
        double ms = num(x, "ms"), b = num(x, "bytes");
        double m = jget(x, "max") ? num(x, "max") : b;
        ck_assert_msg(ms >= prev, "sample %zu at %.3f ms comes after %.3f ms", i, ms, prev);
        ck_assert_msg(b >= 0 && m >= b, "sample %zu: bytes %.0f, max %.0f", i, b, m);
        if (m > top) {
            top = m;
            top_ms = ms;
        }
        prev = ms;
    }
    ck_assert_msg(num(tl, "peak_bytes") == top, "timeline.peak_bytes %.0f, the samples' most "
                  "%.0f", num(tl, "peak_bytes"), top);
    ck_assert_msg(fabs(num(tl, "peak_ms") - top_ms) < 0.0005,
                  "timeline.peak_ms %.3f, the first sample with the peak is at %.3f",
                  num(tl, "peak_ms"), top_ms);
    ck_assert_msg(num(tl, "peak_bytes") == num(rep, "summary.peak_bytes"),
                  "timeline.peak_bytes %.0f, summary.peak_bytes %.0f", num(tl, "peak_bytes"),
                  num(rep, "summary.peak_bytes"));
    if (from_zero)
        ck_assert_msg(num(smp->items[0], "ms") == 0 && num(smp->items[0], "bytes") == 0,
                      "the first sample is not at 0 ms with 0 bytes");
    return tl;
}

static const struct jval *check_timeline(const struct jval *rep)
{
    return check_timeline_from(rep, true);
}

/* mallocspy-report --timeline: an SVG with the peak marked where the report has it. */
static void check_timeline_svg(const struct spied *s)
{
    const struct jval *tl = jget(s->json, "timeline");
    char *svg = tmp_name("timeline.svg");
    char *argv[] = { (char *)report_script(), (char *)s->json_path, "--timeline", svg, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy-report --timeline: status "
                  "%d\n%s", r.status, r.err);
    run_free(&r);
    char *text = read_file(svg);
    ck_assert_msg(text && strstr(text, "<svg") && strstr(text, "</svg>"), "no SVG at %s", svg);
    const char *peak = strstr(text, "<g id=\"peak\"");
    ck_assert_msg(peak, "the timeline marks no peak");
    const char *gt = strchr(peak, '>');
    double pb = attr_num(peak, gt, "data-bytes"), pm = attr_num(peak, gt, "data-ms");
    ck_assert_msg(pb == num(tl, "peak_bytes") && pb == num(s->json, "summary.peak_bytes"),
                  "the marked peak is %.0f bytes, the report's %.0f", pb, num(tl, "peak_bytes"));
    ck_assert_msg(fabs(pm - num(tl, "peak_ms")) < 0.0005, "the peak is marked at %.3f ms, the "
                  "report says %.3f", pm, num(tl, "peak_ms"));
    char label[128], g3[64];
    group3(pb, g3, sizeof g3);
    snprintf(label, sizeof label, "peak: %s bytes", g3);
    ck_assert_msg(strstr(peak, label), "the peak's label does not say '%s'", label);
    free(text);
    unlink(svg);
    free(svg);
}

static const char *const tl_mine[] = { "tl_grow", "tl_churn", NULL };

START_TEST(test_timeline_time)
{
    struct spied s = run_prog("prof_timeline", "timeline=1");
    const struct jval *rep = s.json;
    const struct jval *tl = check_timeline(rep);
    ck_assert_msg(num(tl, "interval_ms") == 10 && !jget(tl, "interval_events"),
                  "the default interval is not 10 ms");
    struct totals other = foreign_totals(rep, tl_mine);
    ck_assert_msg(num(rep, "summary.peak_bytes") == 100000 + other.peak,
                  "summary.peak_bytes %.0f, expected 100000 + %.0f",
                  num(rep, "summary.peak_bytes"), other.peak);
    /* Ten pauses of 12 ms or more, each followed by at least 32 operations (a look at the
     * clock): at least ten samples besides the first and the last. */
    size_t n = jget(tl, "samples")->n;
    ck_assert_msg(n >= 12, "only %zu samples", n);
    check_timeline_svg(&s);
    spied_free(&s);

    s = run_prog("prof_timeline", "timeline=1:timeline_interval=5ms");
    tl = check_timeline(s.json);
    ck_assert_msg(num(tl, "interval_ms") == 5, "timeline_interval=5ms gives %.3f ms",
                  num(tl, "interval_ms"));
    spied_free(&s);

    /* Without timeline=1, no timeline. */
    s = run_prog("prof_timeline", NULL);
    ck_assert_msg(!jget(s.json, "timeline"), "a timeline without timeline=1");
    spied_free(&s);
}
END_TEST

START_TEST(test_timeline_events)
{
    struct spied s = run_prog("prof_timeline", "timeline=1:timeline_interval=100");
    const struct jval *rep = s.json;
    const struct jval *tl = check_timeline(rep);
    ck_assert_msg(num(tl, "interval_events") == 100 && !jget(tl, "interval_ms"),
                  "timeline_interval=100 is not 100 operations");
    check_site(rep, "tl_grow", 200, 100000, 100000, 0);
    check_site(rep, "tl_churn", 3000, 48000, 0, 3000);
    struct totals other = foreign_totals(rep, tl_mine);
    const struct jval *smp = jget(tl, "samples");
    double ops = num(rep, "profile.allocations") + num(rep, "profile.frees");
    /* One sample at the start, one after each 100 operations, one at the end. */
    ck_assert_msg(smp->n == (size_t)(ops / 100) + 2, "%zu samples for %.0f operations, every "
                  "100", smp->n, ops);
    if (other.n == 0) {
        /* Only the program allocated: the samples are exactly known.  After 100
         * operations 100 blocks of 500 bytes are live; after 200, 200; after 300, 100
         * freed; after 400, none; then pairs of 16 bytes, and an even count of
         * operations ends on a free. */
        ck_assert_msg(ops == 6400, "%.0f operations, the program makes 6400", ops);
        static const double bytes[] = { 0, 50000, 100000, 50000, 0 };
        static const double most[] = { 0, 50000, 100000, 100000, 50000 };
        for (size_t i = 0; i < smp->n; i++) {
            const struct jval *x = smp->items[i];
            double b = i < 5 ? bytes[i] : 0;
            double m = i < 5 ? most[i] : i + 1 < smp->n ? 16 : 0;
            ck_assert_msg(num(x, "bytes") == b, "sample %zu: %.0f bytes live, expected %.0f", i,
                          num(x, "bytes"), b);
            if (jget(x, "max"))
                ck_assert_msg(num(x, "max") == m, "sample %zu: at most %.0f bytes live since "
                              "the one before, expected %.0f", i, num(x, "max"), m);
        }
    }

    /* mallocspy-report draws it, with the peak marked. */
    check_timeline_svg(&s);

    /* --summary: the timeline's line. */
    char *argv2[] = { (char *)report_script(), s.json_path, "--summary", NULL };
    struct run r = run_tool(argv2, NULL);
    char line[256];
    snprintf(line, sizeof line, "timeline: %zu sample(s), peak %.0f byte(s)", smp->n,
             num(tl, "peak_bytes"));
    ck_assert_msg(r.status == 0 && strstr(r.out, line), "mallocspy-report --summary lacks "
                  "'%s':\n%s%s", line, r.out, r.err);
    run_free(&r);
    spied_free(&s);
}
END_TEST

START_TEST(test_timeline_halved)
{
    /* 80400 operations, a sample after each: more than the 65536 samples kept, so every
     * other one goes and the interval doubles; the peak stays. */
    struct spied s = run_prog_arg("prof_timeline", "40000", "timeline=1:timeline_interval=1");
    const struct jval *rep = s.json;
    const struct jval *tl = check_timeline_from(rep, false);
    double ops = num(rep, "profile.allocations") + num(rep, "profile.frees");
    double iv = num(tl, "interval_events");
    size_t n = jget(tl, "samples")->n;
    ck_assert_msg(ops >= 80400, "%.0f operations, the program makes 80400", ops);
    ck_assert_msg(iv == 2, "after one halving the interval is %.0f operations, not 2", iv);
    ck_assert_msg(n <= 65536 && fabs((double)n - ops / iv) <= 3,
                  "%zu samples for %.0f operations every %.0f", n, ops, iv);
    struct totals other = foreign_totals(rep, tl_mine);
    ck_assert_msg(num(tl, "peak_bytes") == 100000 + other.peak, "the peak became %.0f",
                  num(tl, "peak_bytes"));
    spied_free(&s);
}
END_TEST

/* mallocspy-report on what is not a usable report: status 1 and one line. */
static void check_script_error(char *const argv[], const char *what)
{
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 1, "mallocspy-report (%s): status %d, expected 1\n%s", what,
                  r.status, r.err);
    ck_assert_msg(count_lines(r.err) == 1 && !strncmp(r.err, "mallocspy-report: ", 18),
                  "mallocspy-report (%s): stderr is not one 'mallocspy-report: ' line:\n%s", what,
                  r.err);
    ck_assert_msg(!strstr(r.err, "Traceback"), "mallocspy-report (%s) crashed: %s", what, r.err);
    run_free(&r);
}

START_TEST(test_report_script_errors)
{
    char *missing = tmp_name("missing.json"), *bad = tmp_name("bad.json"),
         *out = tmp_name("out.svg");
    char *a1[] = { (char *)report_script(), missing, "--flamegraph", out, NULL };
    check_script_error(a1, "a missing file");
    ck_assert_msg(access(out, F_OK) != 0, "a flame graph was written from a missing report");
    ck_assert(write_file(bad, "{\"tool\":\"mallocspy\", \"leaks\": [ truncated"));
    char *a2[] = { (char *)report_script(), bad, "--folded", "-", NULL };
    check_script_error(a2, "a file that is not JSON");
    /* A report written without timeline=1 has no timeline to draw. */
    struct spied s = run_prog("prof_peak", NULL);
    char *a3[] = { (char *)report_script(), s.json_path, "--timeline", out, NULL };
    check_script_error(a3, "a report without a timeline");
    ck_assert_msg(access(out, F_OK) != 0, "a timeline was drawn from a report without one");
    char dir_out[PATH_MAX + 64];
    snprintf(dir_out, sizeof dir_out, "%s/no/such/dir/x.svg", BUILD_DIR);
    char *a4[] = { (char *)report_script(), s.json_path, "--flamegraph", dir_out, NULL };
    check_script_error(a4, "an output file that cannot be written");
    spied_free(&s);
    unlink(bad);
    free(missing);
    free(bad);
    free(out);
}
END_TEST

/* ---- tests: the text report --------------------------------------------------------------- */

/* The profile section of a text report: from its "==PID==PROFILE:" line to the next
 * "=====" line or the SUMMARY (copied). */
static char *profile_section(const char *text)
{
    const char *p = strstr(text, "==PROFILE: mallocspy: ");
    ck_assert_msg(p, "no PROFILE section in:\n%.3000s", text);
    while (p > text && p[-1] != '\n')
        p--;
    const char *e = strstr(p, "\n=====");
    const char *sum = strstr(p, "\nSUMMARY:");
    if (!e || (sum && sum < e))
        e = sum;
    return e ? strndup(p, (size_t)(e - p + 1)) : strdup(p);
}

/* The section with pids and addresses taken out: two runs of a program give the same. */
static char *normalized(const char *s)
{
    char *out = malloc(strlen(s) + 1);
    size_t k = 0;
    for (size_t i = 0; s[i];) {
        if (s[i] == '=' && s[i + 1] == '=' && s[i + 2] >= '0' && s[i + 2] <= '9') {
            size_t j = i + 2;
            while (s[j] >= '0' && s[j] <= '9')
                j++;
            if (s[j] == '=' && s[j + 1] == '=') {
                memcpy(out + k, "==PID==", 7);
                k += 7;
                i = j + 2;
                continue;
            }
        }
        if (s[i] == '0' && s[i + 1] == 'x') {
            size_t j = i + 2;
            while ((s[j] >= '0' && s[j] <= '9') || (s[j] >= 'a' && s[j] <= 'f'))
                j++;
            memcpy(out + k, "0xADDR", 6);
            k += 6;
            i = j;
            continue;
        }
        out[k++] = s[i++];
    }
    out[k] = 0;
    return out;
}

struct entry {
    double bytes, allocs, temps, peak;
    char frame0[512];
};

/* The entries of list `title` ("Most allocations") in the section; how many. */
static int section_list(const char *sec, const char *title, struct entry *e, int max)
{
    char head[128];
    snprintf(head, sizeof head, "\n%s:\n", title);
    const char *p = strstr(sec, head);
    ck_assert_msg(p, "no '%s:' list in the profile section:\n%s", title, sec);
    p += strlen(head);
    int n = 0;
    char line[2048];
    while (next_line(&p, line, sizeof line)) {
        struct entry x = { 0 };
        char tail[64];
        if (!strncmp(line, "Most ", 5))
            break;
        if (sscanf(line, "%lf byte(s) in %lf allocation(s) (%lf temporary), %lf byte(s) live at "
                   "the peak, %63[^\n]", &x.bytes, &x.allocs, &x.temps, &x.peak, tail) == 5 &&
            !strcmp(tail, "from:")) {
            ck_assert_msg(n < max, "more than %d entries in '%s'", max, title);
            e[n++] = x;
        } else if (n && !strncmp(line, "    #0 ", 7)) {
            snprintf(e[n - 1].frame0, sizeof e[n - 1].frame0, "%s", line);
        }
    }
    return n;
}

START_TEST(test_profile_text)
{
    char *argv[] = { (char *)prog_path("prof_sites"), NULL };
    struct spied s = spy_reports(argv, "report=profile:sites_top=2", NULL, false);
    ck_assert_msg(s.r.status == 0, "prof_sites: status %d\n%s", s.r.status, s.r.err);
    const struct jval *rep = s.json = load_json(s.json_path);
    char *sec = profile_section(s.r.err);
    int pid;
    double allocs, temps, bytes, peak;
    ck_assert_msg(sscanf(sec, "==%d==PROFILE: mallocspy: %lf allocation(s) (%lf temporary), %lf "
                         "byte(s) allocated in total, %lf byte(s) live at the peak", &pid,
                         &allocs, &temps, &bytes, &peak) == 5, "a bad PROFILE line:\n%s", sec);
    ck_assert_msg(pid == (int)num(rep, "pid"), "the PROFILE line's pid %d, the report's %.0f", pid,
                  num(rep, "pid"));
    ck_assert_msg(allocs == num(rep, "profile.allocations") &&
                  temps == num(rep, "profile.temporary") && bytes == num(rep, "profile.bytes") &&
                  peak == num(rep, "profile.peak_bytes"),
                  "the PROFILE line says %.0f allocations (%.0f temporary), %.0f bytes, peak "
                  "%.0f; the JSON profile %.0f (%.0f), %.0f, %.0f", allocs, temps, bytes, peak,
                  num(rep, "profile.allocations"), num(rep, "profile.temporary"),
                  num(rep, "profile.bytes"), num(rep, "profile.peak_bytes"));
    ck_assert_msg(peak == 86010, "the peak is %.0f, the program's is 86010", peak);
    /* Each list: its top two, in order, with the numbers of their sites. */
    static const struct {
        const char *title, *fn[2];
    } lists[] = {
        { "Most bytes live at the peak", { "site_held", "site_held_small" } },
        { "Most bytes allocated", { "site_big", "site_held" } },
        { "Most allocations", { "site_many", "site_medium" } },
        { "Most temporary allocations", { "site_many", "site_tempbig" } },
    };
    const char *last = sec;
    for (size_t i = 0; i < 4; i++) {
        char head[128];
        snprintf(head, sizeof head, "\n%s:\n", lists[i].title);
        const char *at = strstr(sec, head);
        ck_assert_msg(at && at > last, "'%s:' is missing or out of order", lists[i].title);
        last = at;
        struct entry e[8];
        int n = section_list(sec, lists[i].title, e, 8);
        ck_assert_msg(n == 2, "'%s' has %d entries with sites_top=2", lists[i].title, n);
        for (int k = 0; k < 2; k++) {
            ck_assert_msg(names_fn(e[k].frame0, strlen(e[k].frame0), lists[i].fn[k]),
                          "'%s' entry %d is not %s: %s", lists[i].title, k, lists[i].fn[k],
                          e[k].frame0);
            struct totals t = fn_totals(rep, lists[i].fn[k]);
            ck_assert_msg(t.n == 1 && e[k].bytes == t.bytes && e[k].allocs == t.allocs &&
                          e[k].temps == t.temps && e[k].peak == t.peak,
                          "'%s': %s shows %.0f bytes in %.0f (%.0f temporary), %.0f at the "
                          "peak; the JSON site %.0f in %.0f (%.0f), %.0f", lists[i].title,
                          lists[i].fn[k], e[k].bytes, e[k].allocs, e[k].temps, e[k].peak,
                          t.bytes, t.allocs, t.temps, t.peak);
        }
    }
    /* Without report=profile, no such section. */
    struct run q = spy(argv, "", NULL);
    ck_assert_msg(q.status == 0 && !strstr(q.err, "PROFILE"), "a PROFILE section without "
                  "report=profile:\n%s", q.err);
    run_free(&q);

    /* The wrapper's --profile gives the same section. */
    char *wargv[] = { (char *)repo_file("scripts/mallocspy"), "--profile", "--sites-top", "2",
                      "--", (char *)prog_path("prof_sites"), NULL };
    struct run w = run_tool(wargv, NULL);
    ck_assert_msg(w.status == 0, "mallocspy --profile: status %d\n%s", w.status, w.err);
    char *wsec = profile_section(w.err);
    char *a = normalized(sec), *b = normalized(wsec);
    ck_assert_msg(!strcmp(a, b), "mallocspy --profile --sites-top 2 gives another section:\n%s\n"
                  "--- report=profile:sites_top=2 gave:\n%s", b, a);
    free(a);
    free(b);
    free(wsec);
    run_free(&w);
    free(sec);
    spied_free(&s);
}
END_TEST

START_TEST(test_wrapper_pictures)
{
    /* The wrapper passes --folded, --weight, --flamegraph, --timeline and --sites-top on,
     * relative file names taken from where it was started. */
    char *dir = tmp_dir("wrapper");
    char *argv[] = { "sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", dir,
                     (char *)repo_file("scripts/mallocspy"), "--quiet", "--json", "r.json",
                     "--folded", "f.folded", "--weight", "allocations", "--flamegraph", "g.html",
                     "--timeline", "--sites-top", "3", "--", (char *)prog_path("prof_sites"),
                     NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy: status %d\n%s", r.status,
                  r.err);
    run_free(&r);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/r.json", dir);
    struct jval *rep = load_json(path);
    ck_assert_msg(num(rep, "profile.sites_top") == 3, "--sites-top 3 gave %.0f",
                  num(rep, "profile.sites_top"));
    check_timeline(rep);
    check_complete(rep);
    snprintf(path, sizeof path, "%s/f.folded", dir);
    struct lines got = read_lines(path), exp = site_lines(rep, "allocations");
    check_same_lines(&got, &exp, "mallocspy --folded --weight allocations");
    lines_free(&got);
    lines_free(&exp);
    snprintf(path, sizeof path, "%s/g.html", dir);
    char *text = read_file(path);
    char want[128];
    snprintf(want, sizeof want, "<title>Allocations by stack: prof_sites (pid %.0f)</title>",
             num(rep, "pid"));
    ck_assert_msg(text && !strncmp(text, "<!DOCTYPE html>", 15) && strstr(text, want),
                  "mallocspy --flamegraph g.html --weight allocations: not the page expected");
    free(text);
    json_free(rep);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Runs prog with `opts` (and a JSON report): status 0 and exactly one warning line on
 * stderr naming `key` and `value`. */
static struct spied run_bad(const char *prog, const char *opts, const char *key,
                            const char *value)
{
    char o[8192];
    snprintf(o, sizeof o, "report=quiet:symbolize=all:%s", opts);
    char *argv[] = { (char *)prog_path(prog), NULL };
    struct spied s = spy_reports(argv, o, NULL, false);
    ck_assert_msg(s.r.status == 0, "%s with %s: status %d\n%s", prog, opts, s.r.status, s.r.err);
    ck_assert_msg(count_lines(s.r.err) == 1 && strstr(s.r.err, "mallocspy") &&
                  strstr(s.r.err, key) && strstr(s.r.err, value),
                  "%s: stderr is not one warning line naming %s and %s:\n%s", opts, key, value,
                  s.r.err);
    s.json = load_json(s.json_path);
    return s;
}

START_TEST(test_bad_options)
{
    /* weight=bogus: the folded stacks are weighted by the default, leaked bytes. */
    char *folded = tmp_name("bad.folded");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "folded_path=%s:weight=bogus", folded);
    struct spied s = run_bad("prof_leaks", opts, "weight", "bogus");
    struct lines got = read_lines(folded), exp = leak_lines(s.json);
    check_same_lines(&got, &exp, "weight=bogus (so leaked)");
    ck_assert_msg(lines_sum(&got) == leaked_total(s.json, "bytes"), "weight=bogus: not leaked");
    lines_free(&got);
    lines_free(&exp);
    unlink(folded);
    free(folded);
    spied_free(&s);

    /* sites_top=x, and one too many: the default, 10. */
    static const char *const tops[][2] = { { "sites_top=x", "x" },
                                           { "sites_top=100001", "100001" },
                                           { "sites_top=-1", "-1" } };
    for (size_t i = 0; i < 3; i++) {
        s = run_bad("prof_sites", tops[i][0], "sites_top", tops[i][1]);
        ck_assert_msg(num(s.json, "profile.sites_top") == 10, "%s: sites_top is %.0f", tops[i][0],
                      num(s.json, "profile.sites_top"));
        ck_assert_msg(sites_of(s.json)->n == 8, "%s: %zu sites listed, all 8 expected",
                      tops[i][0], sites_of(s.json)->n);
        spied_free(&s);
    }

    /* timeline_interval=0ms and =0: the default, 10 ms. */
    static const char *const ivs[][2] = { { "timeline=1:timeline_interval=0ms", "0ms" },
                                          { "timeline=1:timeline_interval=0", "'0'" },
                                          { "timeline=1:timeline_interval=fast", "fast" } };
    for (size_t i = 0; i < 3; i++) {
        s = run_bad("prof_timeline", ivs[i][0], "timeline_interval", ivs[i][1]);
        const struct jval *tl = check_timeline(s.json);
        ck_assert_msg(num(tl, "interval_ms") == 10, "%s: the interval is not 10 ms", ivs[i][0]);
        spied_free(&s);
    }

    /* Files that cannot be written: one warning each, and the rest is done. */
    static const char *const outs[][2] = { { "folded_path", "folded stacks" },
                                           { "flamegraph_path", "flame graph" } };
    for (size_t i = 0; i < 2; i++) {
        char o[PATH_MAX + 64], where[PATH_MAX + 32];
        snprintf(where, sizeof where, "%s/no/such/dir/out.svg", BUILD_DIR);
        snprintf(o, sizeof o, "%s=%s", outs[i][0], where);
        s = run_bad("prof_leaks", o, outs[i][1], where);
        ck_assert_msg(leaked_total(s.json, "bytes") >= 1663, "%s: the JSON report is short", o);
        spied_free(&s);
    }

    /* timeline=maybe: no timeline, and the program runs. */
    s = run_bad("prof_timeline", "timeline=maybe", "timeline", "maybe");
    ck_assert_msg(!jget(s.json, "timeline"), "timeline=maybe turned the timeline on");
    spied_free(&s);
}
END_TEST

/* ---- tests: more sites than slots; awkward names ------------------------------------------- */

START_TEST(test_many_sites)
{
    struct spied s = run_prog("prof_many", "sites_top=100000");
    const struct jval *rep = s.json;
    check_profile_sums(rep);
    /* Added up by case (told by the size), over the stacks of the three loops. */
    static struct totals by[512];
    memset(by, 0, sizeof by);
    const struct jval *all = sites_of(rep);
    struct totals other = { 0 };
    for (size_t i = 0; i < all->n; i++) {
        const struct jval *x = all->items[i];
        if (!has_fn(x, "site_alloc")) {
            add_site(&other, x);
            continue;
        }
        double a = num(x, "allocations"), b = num(x, "bytes");
        double k = b / a - 16;
        ck_assert_msg(k == floor(k) && k >= 0 && k < 512, "a site_alloc site of %.0f bytes in "
                      "%.0f allocations", b, a);
        add_site(&by[(int)k], x);
    }
    double peak = 0;
    for (int k = 0; k < 512; k++) {
        double allocs = k == 3 || k == 259 ? 102 : 2, temps = k == 259 ? 101 : 1;
        ck_assert_msg(by[k].n == (k == 3 || k == 259 ? 3 : 2), "case %d: %d stacks", k, by[k].n);
        ck_assert_msg(by[k].allocs == allocs && by[k].bytes == allocs * (16 + k) &&
                      by[k].temps == temps && by[k].peak == 16 + k && by[k].live == 0,
                      "case %d: %.0f allocations, %.0f bytes, %.0f temporary, %.0f at the peak, "
                      "%.0f live; expected %.0f, %.0f, %.0f, %d, 0", k, by[k].allocs,
                      by[k].bytes, by[k].temps, by[k].peak, by[k].live, allocs,
                      allocs * (16 + k), temps, 16 + k);
        peak += by[k].peak;
    }
    ck_assert_msg(peak == 139008, "the cases hold %.0f bytes at the peak", peak);
    ck_assert_msg(num(rep, "summary.peak_bytes") == 139008 + other.peak,
                  "summary.peak_bytes %.0f, expected 139008 + %.0f",
                  num(rep, "summary.peak_bytes"), other.peak);
    ck_assert_msg(all_totals(rep).peak == num(rep, "profile.peak_bytes"),
                  "the sites' peak_bytes add up to %.0f, the peak is %.0f", all_totals(rep).peak,
                  num(rep, "profile.peak_bytes"));
    spied_free(&s);
}
END_TEST

START_TEST(test_awkward_module_name)
{
    /* A stripped library named lib<b>&"q]]>;x.so leaks from a function with no name. */
    ck_assert_msg(have_cmd("cc") && have_cmd("strip"), "cc or strip (binutils) is missing");
    char *dir = tmp_dir("plugin");
    static const char lib_name[] = "lib<b>&\"q]]>;x.so";
    char lib[PATH_MAX + 64];
    snprintf(lib, sizeof lib, "%s/%s", dir, lib_name);
    char *cc[] = { "cc", "-shared", "-fPIC", "-O1", "-fno-omit-frame-pointer",
                   "-DPROF_PLUGIN_LIB", "-o", lib, (char *)repo_file("tests/progs/prof_plugin.c"),
                   NULL };
    struct run r = run_tool(cc, NULL);
    ck_assert_msg(r.status == 0, "cc: %s", r.err);
    run_free(&r);
    char *strip[] = { "strip", lib, NULL };
    r = run_tool(strip, NULL);
    ck_assert_msg(r.status == 0, "strip: %s", r.err);
    run_free(&r);

    /* The program too has a name that needs escaping in HTML. */
    static const char exe_name[] = "prof<i>&\"x";
    char exe[PATH_MAX + 64];
    snprintf(exe, sizeof exe, "%s/%s", dir, exe_name);
    char *cp[] = { "cp", (char *)prog_path("prof_plugin"), exe, NULL };
    r = run_tool(cp, NULL);
    ck_assert_msg(r.status == 0, "cp: %s", r.err);
    run_free(&r);

    char *folded = tmp_name("plugin.folded"), *svg = tmp_name("plugin.svg");
    char *html = tmp_name("plugin.html");
    char opts[3 * PATH_MAX];
    snprintf(opts, sizeof opts, "folded_path=%s:flamegraph_path=%s", folded, svg);
    struct spied s = run_prog_arg(exe, lib, opts);
    const struct jval *rep = s.json, *g = NULL;
    const struct jval *leaks = jget(rep, "leaks");
    for (size_t i = 0; i < leaks->n; i++)
        if (fn_index(leaks->items[i], "plugin_entry") == 1)
            g = leaks->items[i];
    ck_assert_msg(g, "no leak from plugin_entry in the report");
    const struct jval *f0 = stack_of(g)->items[0];
    ck_assert_msg(num(g, "bytes") == 333 && num(g, "blocks") == 1, "the plugin leaked %.0f "
                  "bytes in %.0f blocks, not 333 in 1", num(g, "bytes"), num(g, "blocks"));
    ck_assert_msg(!jstr(f0, "function") && jstr(f0, "module") && jstr(f0, "offset") &&
                  !strcmp(jstr(f0, "module"), lib), "the stripped frame: function %s, module %s",
                  jstr(f0, "function") ? jstr(f0, "function") : "null",
                  jstr(f0, "module") ? jstr(f0, "module") : "null");
    /* Folded: the module's name and the offset, its ';' a ':'. */
    char leaf[PATH_MAX];
    snprintf(leaf, sizeof leaf, "plugin_entry;lib<b>&\"q]]>:x.so+%s", jstr(f0, "offset"));
    struct lines got = read_lines(folded), exp = leak_lines(rep);
    ck_assert_msg(weight_of_leaf(&got, leaf) == 333, "the plugin's folded line");
    check_same_lines(&got, &exp, "folded_path with an awkward module name");
    struct lines scr = report_folded(s.json_path, NULL, NULL);
    check_same_lines(&scr, &got, "mallocspy-report --folded - with an awkward module name");
    lines_free(&scr);
    lines_free(&got);
    lines_free(&exp);
    /* The flame graph still parses, and names the frame as it is. */
    check_self_contained(svg);
    char *dom = browser_dom(svg, NULL);
    struct fgdom *d = parse_dom(dom);
    char name[PATH_MAX];
    snprintf(name, sizeof name, "%s+%s", lib_name, jstr(f0, "offset"));
    const struct fgframe *f = one_frame(d, name);
    ck_assert_msg(f->weight == 333 && f->blocks == 1, "%s: data-weight %.0f, data-blocks %.0f",
                  name, f->weight, f->blocks);
    ck_assert_msg(f->title && !strncmp(f->title, name, strlen(name)) &&
                  strstr(f->title, "333 bytes"), "the tooltip: %s", f->title ? f->title : "");
    ck_assert_msg(f->loc && !strcmp(f->loc, lib_name), "data-loc is '%s', expected the module's "
                  "name", f->loc ? f->loc : "(none)");
    ck_assert_msg(one_frame(d, "plugin_entry")->weight == 333, "plugin_entry's weight");
    char title[256];
    snprintf(title, sizeof title, "Leaked bytes by stack: %s (pid %.0f)", exe_name,
             num(rep, "pid"));
    ck_assert_msg(d->title && !strcmp(d->title, title), "the title is '%s', expected '%s'",
                  d->title ? d->title : "(none)", title);
    dom_free(d);
    free(dom);
    spied_free(&s);

    /* As an HTML page: the document's title too. */
    snprintf(opts, sizeof opts, "flamegraph_path=%s", html);
    s = run_prog_arg(exe, lib, opts);
    check_self_contained(html);
    dom = browser_dom(html, NULL);
    d = parse_dom(dom);
    snprintf(title, sizeof title, "Leaked bytes by stack: %s (pid %.0f)", exe_name,
             num(s.json, "pid"));
    char *doc_title = element_text(dom, "<title>");
    ck_assert_msg(doc_title && !strcmp(doc_title, title), "the page's title is '%s', expected "
                  "'%s'", doc_title ? doc_title : "(none)", title);
    ck_assert_msg(d->title && !strcmp(d->title, title), "the graph's title is '%s'",
                  d->title ? d->title : "(none)");
    ck_assert_msg(one_frame(d, name)->weight == 333, "the HTML page's %s", name);
    free(doc_title);
    dom_free(d);
    free(dom);
    unlink(folded);
    unlink(svg);
    unlink(html);
    free(folded);
    free(svg);
    free(html);
    spied_free(&s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A report with the names C++ and unlucky builds give, by hand, for mallocspy-report. */
static const char crafted_json[] =
    "{\"tool\":\"mallocspy\",\"version\":\"0.1.0\",\"pid\":4242,\"exe\":\"/opt/evil&co/<app>\",\n"
    "\"summary\":{\"definite_bytes\":700,\"definite_blocks\":3,\"indirect_bytes\":0,"
    "\"indirect_blocks\":0,\"mapping_bytes\":0,\"mapping_blocks\":0,\"pool_bytes\":0,"
    "\"pool_blocks\":0,\"reachable_bytes\":999,\"reachable_blocks\":1},\n"
    "\"leaks\":[\n"
    "{\"kind\":\"definite\",\"bytes\":400,\"blocks\":2,\"stack\":["
    "{\"address\":\"0x1010\",\"function\":\"operator<<(std::ostream&, Foo const&)\","
    "\"module\":\"/x/app\",\"offset\":\"0x10\",\"file\":\"/src/a&b.cc\",\"line\":12},"
    "{\"address\":\"0x1011\",\"function\":\"std::vector<int, std::allocator<int> >::push_back"
    "(int&&)\",\"module\":\"/x/app\",\"offset\":\"0x11\",\"file\":\"/src/vec.h\",\"line\":99},"
    "{\"address\":\"0x1012\",\"function\":\"main\",\"module\":\"/x/app\",\"offset\":\"0x12\","
    "\"file\":\"/src/main.cc\",\"line\":5}]},\n"
    "{\"kind\":\"definite\",\"bytes\":300,\"blocks\":1,\"stack\":["
    "{\"address\":\"0x1020\",\"function\":\"</script><script>document.getElementById('title')"
    ".textContent='pwned'</script>]]>\",\"module\":\"/x/app\",\"offset\":\"0x20\","
    "\"file\":null,\"line\":null},"
    "{\"address\":\"0x7f0000001234\",\"function\":null,\"module\":\"/usr/lib/libw;eird.so\","
    "\"offset\":\"0x1234\",\"file\":null,\"line\":null},"
    "{\"address\":\"0x1021\",\"function\":\"caf\\u00e9_\\u03bb\",\"module\":\"/x/app\","
    "\"offset\":\"0x21\",\"file\":\"/src/m.c\",\"line\":7},"
    "{\"address\":\"0x1012\",\"function\":\"main\",\"module\":\"/x/app\",\"offset\":\"0x12\","
    "\"file\":\"/src/main.cc\",\"line\":5}]},\n"
    "{\"kind\":\"reachable\",\"bytes\":999,\"blocks\":1,\"stack\":["
    "{\"address\":\"0x1030\",\"function\":\"kept\",\"module\":\"/x/app\",\"offset\":\"0x30\","
    "\"file\":null,\"line\":null}]}\n"
    "],\"suppressions\":[]}\n";

START_TEST(test_report_script_names)
{
    char *json = tmp_name("crafted.json"), *svg = tmp_name("crafted.svg");
    ck_assert(write_file(json, crafted_json));
    struct lines got = report_folded(json, NULL, NULL);
    struct lines exp = { 0 };
    lines_add(&exp, "main;std::vector<int, std::allocator<int> >::push_back(int&&);"
                    "operator<<(std::ostream&, Foo const&) 400");
    lines_add(&exp, "main;caf\xc3\xa9_\xce\xbb;libw:eird.so+0x1234;</script><script>"
                    "document.getElementById('title').textContent='pwned'</script>]]> 300");
    check_same_lines(&got, &exp, "mallocspy-report --folded - on names with ;<>&");
    lines_free(&got);
    lines_free(&exp);

    char *argv[] = { (char *)report_script(), json, "--flamegraph", svg, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy-report --flamegraph: %d\n%s",
                  r.status, r.err);
    run_free(&r);
    check_self_contained(svg);
    char *dom = browser_dom(svg, NULL);
    struct fgdom *d = parse_dom(dom);
    ck_assert_msg(d->title && !strcmp(d->title, "Leaked bytes by stack: <app> (pid 4242)"),
                  "the title is '%s'", d->title ? d->title : "(none)");
    ck_assert_msg(one_frame(d, "all")->weight == 700, "the root weighs %.0f, not 700",
                  one_frame(d, "all")->weight);
    static const struct {
        const char *name, *loc;
        double weight, blocks;
    } want[] = {
        { "operator<<(std::ostream&, Foo const&)", "a&b.cc:12", 400, 2 },
        { "std::vector<int, std::allocator<int> >::push_back(int&&)", "vec.h:99", 400, 2 },
        { "</script><script>document.getElementById('title').textContent='pwned'</script>]]>",
          "app", 300, 1 },
        { "libw;eird.so+0x1234", "libw;eird.so", 300, 1 },
        { "caf\xc3\xa9_\xce\xbb", "m.c:7", 300, 1 },
        { "main", "main.cc:5", 700, 3 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct fgframe *f = one_frame(d, want[i].name);
        ck_assert_msg(f->weight == want[i].weight && f->blocks == want[i].blocks,
                      "%s: data-weight %.0f, data-blocks %.0f", want[i].name, f->weight,
                      f->blocks);
        ck_assert_msg(f->loc && !strcmp(f->loc, want[i].loc), "%s: data-loc '%s', expected '%s'",
                      want[i].name, f->loc ? f->loc : "(none)", want[i].loc);
        ck_assert_msg(f->title && !strncmp(f->title, want[i].name, strlen(want[i].name)),
                      "%s: the tooltip is '%s'", want[i].name, f->title ? f->title : "(none)");
    }
    ck_assert_msg(frames_named(d, "kept", NULL) == 0, "a reachable block is drawn");
    dom_free(d);
    free(dom);
    unlink(json);
    unlink(svg);
    free(json);
    free(svg);
}
END_TEST

/* ---- tests: threads ------------------------------------------------------------------------ */

START_TEST(test_threads)
{
    static const char *const mine[] = { "t1_pair", "t1_keep", "t2_pair", "t2_keep", "t3_pair",
                                        NULL };
    /* A few times: the two workers interleave differently each time. */
    for (int round = 0; round < 3; round++) {
        struct spied s = run_prog("prof_threads", "sites_top=100000");
        const struct jval *rep = s.json;
        check_site(rep, "t1_pair", 5000, 5000 * 24, -1, 5000);
        check_site(rep, "t1_keep", 200, 200 * 40, -1, 0);
        check_site(rep, "t2_pair", 4000, 4000 * 56, -1, 4000);
        check_site(rep, "t2_keep", 300, 300 * 72, -1, 0);
        /* The thread still running at exit: counted where it stands. */
        check_site(rep, "t3_pair", 77, 77 * 88, -1, 77);
        struct totals other = foreign_totals(rep, mine);
        ck_assert_msg(num(rep, "profile.allocations") == 9577 + other.allocs,
                      "profile.allocations %.0f: the program's 9577 and %.0f others",
                      num(rep, "profile.allocations"), other.allocs);
        ck_assert_msg(num(rep, "profile.temporary") == 9077 + other.temps,
                      "profile.temporary %.0f: the program's 9077 and %.0f others",
                      num(rep, "profile.temporary"), other.temps);
        check_complete(rep);
        struct totals a = all_totals(rep);
        ck_assert_msg(num(rep, "profile.allocations") == a.allocs &&
                      num(rep, "profile.temporary") == a.temps &&
                      num(rep, "profile.bytes") == a.bytes,
                      "the profile's totals (%.0f, %.0f temporary, %.0f bytes) are not the "
                      "sites' (%.0f, %.0f, %.0f)", num(rep, "profile.allocations"),
                      num(rep, "profile.temporary"), num(rep, "profile.bytes"), a.allocs,
                      a.temps, a.bytes);
        ck_assert_msg(num(rep, "profile.allocations") == num(rep, "summary.allocations") &&
                      num(rep, "profile.frees") == num(rep, "summary.frees"),
                      "the profile and the summary count differently");
        spied_free(&s);
    }
}
END_TEST

/* The peak with two threads taking turns (prof_mtpeak): the threads never race, so
 * whatever each thread has not yet published (profile.h: FLUSH_BYTES, 1 MiB, per other
 * thread) is the only slack.  At every moment within that slack of the true peak (phase 3
 * of the program), main_big holds its 10 MiB; and the sites' bytes at the peak add up to
 * the peak, give or take that slack. */
START_TEST(test_threads_peak)
{
    static const char *const mine[] = { "main_big", "worker_small_1", "worker_small_2",
                                        "worker_small_3", NULL };
    const double slack = 1 << 20;
    struct spied s = run_prog("prof_mtpeak", "sites_top=100000");
    const struct jval *rep = s.json;
    check_complete(rep);
    struct totals other = foreign_totals(rep, mine);
    double truth = 10485760 + 2200000, peak = num(rep, "summary.peak_bytes");
    ck_assert_msg(peak <= truth + other.bytes && peak >= truth - slack,
                  "summary.peak_bytes %.0f; the true peak is %.0f (+ at most %.0f from other "
                  "sites), and may be low by at most %.0f", peak, truth, other.bytes, slack);
    struct totals big = fn_totals(rep, "main_big");
    struct totals w3 = fn_totals(rep, "worker_small_3");
    struct totals all = all_totals(rep);
    ck_assert_msg(big.peak == 10485760 && w3.peak == 0 && fabs(all.peak - peak) <= slack,
                  "at the peak of %.0f bytes, main_big held %.0f bytes (it held 10485760 at "
                  "the true peak) and worker_small_3 %.0f (allocated after main_big was freed: "
                  "0 expected); the sites' peak_bytes add up to %.0f", peak, big.peak, w3.peak,
                  all.peak);
    spied_free(&s);
}
END_TEST

/* ---- tests: mallocspy-report's pictures, as they look ------------------------------------ */

/* The timeline's peak label stays whole inside the picture, and off the legend, wherever
 * the peak is: near either edge, in the middle, at the top of the scale.  Reports written by
 * hand, drawn, and measured in the browser (one page holding every picture). */
START_TEST(test_timeline_label)
{
    static const double at[] = { 0.0, 0.02, 0.5, 0.7, 0.74, 0.8, 0.9, 1.0 };
    static const double peaks[] = { 1575329, 2097152, 999999999 };
    enum { NAT = sizeof at / sizeof *at, NPEAK = sizeof peaks / sizeof *peaks };
    char *dir = tmp_dir("labels");
    char page[PATH_MAX + 64];
    snprintf(page, sizeof page, "%s/labels.html", dir);
    size_t cap = 1 << 20, len = 0;
    char *html = malloc(cap);
    len += (size_t)snprintf(html, cap, "<!DOCTYPE html>\n<html><body>\n");
    for (int k = 0; k < NAT * NPEAK; k++) {
        double frac = at[k % NAT], peak = peaks[k / NAT], tmax = 200, pms = tmax * frac;
        char json[PATH_MAX + 64], svg[PATH_MAX + 64], buf[8192];
        snprintf(json, sizeof json, "%s/%d.json", dir, k);
        snprintf(svg, sizeof svg, "%s/%d.svg", dir, k);
        size_t n = (size_t)snprintf(buf, sizeof buf, "{\"tool\":\"mallocspy\",\"version\":\"0.1.0\","
                                    "\"pid\":1,\"exe\":\"/x/demo\",\"leaks\":[],\"timeline\":"
                                    "{\"interval_ms\":10.0,\"peak_bytes\":%.0f,\"peak_ms\":%g,"
                                    "\"samples\":[", peak, pms);
        /* A sample every 10 ms, growing slowly, and the peak's among them. */
        bool placed = false;
        for (int i = 0; i <= 20; i++) {
            double ms = tmax * i / 20;
            if (!placed && pms <= ms) {
                n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{\"ms\":%g,\"bytes\":%.0f,"
                                      "\"max\":%.0f}", i ? "," : "", pms, peak, peak);
                placed = true;
                if (pms == ms)
                    continue;
            }
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s{\"ms\":%g,\"bytes\":%d,"
                                  "\"max\":%d}", i || placed ? "," : "", ms, 1000 * i, 1000 * i);
        }
        snprintf(buf + n, sizeof buf - n, "]}}\n");
        ck_assert(write_file(json, buf));
        char *argv[] = { (char *)report_script(), json, "--timeline", svg, NULL };
        struct run r = run_tool(argv, NULL);
        ck_assert_msg(r.status == 0, "mallocspy-report --timeline: %s", r.err);
        run_free(&r);
        char *text = read_file(svg);
        const char *start = strstr(text, "<svg");
        ck_assert(start && len + strlen(start) + 64 < cap);
        len += (size_t)snprintf(html + len, cap - len, "<div>%s</div>\n", start);
        free(text);
    }
    snprintf(html + len, cap - len,
             "<pre id=\"boxes\"></pre><script>\n"
             "var out = [], svgs = document.querySelectorAll('svg');\n"
             "for (var i = 0; i < svgs.length; i++) {\n"
             "  var t = svgs[i].querySelector('#peak text').getBBox();\n"
             "  var l = svgs[i].querySelector('#legend').getBBox();\n"
             "  out.push([i, t.x, t.y, t.width, t.height, l.x, l.y, l.width, l.height].join(' '));\n"
             "}\n"
             "document.getElementById('boxes').textContent = out.join('\\n');\n"
             "</script></body></html>\n");
    ck_assert(write_file(page, html));
    free(html);
    char *dom = browser_dom(page, NULL);
    const char *p = strstr(dom, "<pre id=\"boxes\">");
    ck_assert_msg(p, "the page's script did not run");
    p += strlen("<pre id=\"boxes\">");
    int seen = 0;
    for (int k = 0; k < NAT * NPEAK; k++) {
        int i;
        double x, y, w, h, lx, ly, lw, lh;
        ck_assert_msg(sscanf(p, "%d %lf %lf %lf %lf %lf %lf %lf %lf", &i, &x, &y, &w, &h, &lx,
                             &ly, &lw, &lh) == 9 && i == k, "box %d: %.100s", k, p);
        ck_assert_msg(w > 100 && x >= 0 && x + w <= 1000 && y >= 0 && y + h <= 420,
                      "peak at %g of the time, %.0f bytes: the label spans x %.1f to %.1f, y "
                      "%.1f to %.1f, outside the 1000 x 420 picture", at[k % NAT],
                      peaks[k / NAT], x, x + w, y, y + h);
        bool apart = x + w <= lx || lx + lw <= x || y + h <= ly || ly + lh <= y;
        ck_assert_msg(apart, "peak at %g of the time, %.0f bytes: the label (%.1f,%.1f %.1fx"
                      "%.1f) covers the legend (%.1f,%.1f %.1fx%.1f)", at[k % NAT],
                      peaks[k / NAT], x, y, w, h, lx, ly, lw, lh);
        seen++;
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    ck_assert_int_eq(seen, NAT * NPEAK);
    free(dom);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* mallocspy-report --diff --flamegraph: a snapshot and the report at exit of
 * report_growth; the widths are the new report's, the colours the change. */
static bool is_rgb(const char *fill, int *r, int *g, int *b)
{
    return fill && sscanf(fill, "rgb(%d,%d,%d)", r, g, b) == 3;
}

START_TEST(test_diff_flamegraph)
{
    char *dir = tmp_dir("diffgraph");
    char now[PATH_MAX + 64], then[PATH_MAX + 64], html[PATH_MAX + 64], o[PATH_MAX + 256];
    snprintf(now, sizeof now, "%s/now.json", dir);
    snprintf(then, sizeof then, "%s/then.json", dir);
    snprintf(html, sizeof html, "%s/diff.html", dir);
    snprintf(o, sizeof o, "report=quiet:report_signal=SIGUSR2:report_reachable=1:json_path=%s",
             now);
    char *argv[] = { (char *)prog_path("report_growth"), now, then, NULL };
    struct run r = spy(argv, o, NULL);
    ck_assert_msg(r.status == 0, "report_growth: status %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    struct jval *rep = load_report(now), *old = load_report(then);
    char *a[] = { (char *)report_script(), "--diff", then, now, "--flamegraph", html, NULL };
    r = run_tool(a, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "--diff --flamegraph: %d %s", r.status,
                  r.err);
    run_free(&r);
    check_self_contained(html);
    char *dom = browser_dom(html, NULL);
    struct fgdom *d = parse_dom(dom);
    char title[256];
    snprintf(title, sizeof title, "Live bytes by stack, change since then.json: report_growth "
             "(pid %.0f)", num(rep, "pid"));
    ck_assert_msg(d->title && !strcmp(d->title, title), "title '%s'", d->title);
    ck_assert_msg(d->subtitle && strstr(d->subtitle, "total 42,128 bytes (41.1 KiB) in 49 blocks, "
                                        "+26,984 bytes, +23 blocks since the old report"),
                  "subtitle '%s'", d->subtitle);
    static const struct { const char *fn; double w, change, blocks; int sign; } want[] = {
        { "grow_site", 40000, 30000, 30, 1 },
        { "leak_site", 128, 128, 2, 1 },
        { "shrink_site", 1000, -3000, -6, -1 },
        { "steady_site", 1000, 0, 0, 0 },
    };
    int grow_red = 0;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const struct fgframe *f = one_frame(d, want[i].fn);
        int cr, cg, cb;
        ck_assert_msg(f->weight == want[i].w && f->change == want[i].change &&
                      f->change_blocks == want[i].blocks, "%s: weight %.0f, change %.0f bytes "
                      "%.0f blocks; expected %.0f, %.0f, %.0f", want[i].fn, f->weight, f->change,
                      f->change_blocks, want[i].w, want[i].change, want[i].blocks);
        ck_assert_msg(is_rgb(f->fill, &cr, &cg, &cb), "%s: fill %s", want[i].fn, f->fill);
        if (want[i].sign > 0)
            ck_assert_msg(cr == 255 && cg == cb && cg < 215, "%s grew: not red, %s", want[i].fn,
                          f->fill);
        else if (want[i].sign < 0)
            ck_assert_msg(cb == 255 && cr == cg && cr < 215, "%s shrank: not blue, %s",
                          want[i].fn, f->fill);
        else
            ck_assert_msg(cr == cg && cg == cb, "%s: unchanged, yet %s", want[i].fn, f->fill);
        if (i == 0)
            grow_red = cg;
    }
    /* The largest change is the reddest; a stack gone since is not drawn. */
    const struct fgframe *leak = one_frame(d, "leak_site");
    int cr, cg, cb;
    ck_assert(is_rgb(leak->fill, &cr, &cg, &cb));
    ck_assert_msg(grow_red < cg, "grow_site (+30000) is no redder than leak_site (+128)");
    ck_assert_msg(frames_named(d, "gone_site", NULL) == 0, "a stack gone since is drawn");
    const struct fgframe *root = one_frame(d, "all");
    ck_assert_msg(root->weight == 42128 && root->change == 26984, "the root: %.0f, %+.0f",
                  root->weight, root->change);
    ck_assert_msg(num(old, "pid") == num(rep, "pid"), "two processes");
    dom_free(d);
    free(dom);
    json_free(rep);
    json_free(old);
    remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("profile");
    TCase *t = tcase_create("profile");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_temporary);
    tcase_add_test(t, test_peak);
    tcase_add_test(t, test_sites_top);
    tcase_add_test(t, test_folded_leaks);
    tcase_add_test(t, test_folded_weights);
    tcase_add_test(t, test_flamegraph_svg);
    tcase_add_test(t, test_flamegraph_html_zoom);
    tcase_add_test(t, test_flamegraph_report_script);
    tcase_add_test(t, test_flamegraph_allocations);
    tcase_add_test(t, test_timeline_time);
    tcase_add_test(t, test_timeline_events);
    tcase_add_test(t, test_timeline_halved);
    tcase_add_test(t, test_report_script_errors);
    tcase_add_test(t, test_profile_text);
    tcase_add_test(t, test_wrapper_pictures);
    tcase_add_test(t, test_bad_options);
    tcase_add_test(t, test_many_sites);
    tcase_add_test(t, test_awkward_module_name);
    tcase_add_test(t, test_report_script_names);
    tcase_add_test(t, test_threads);
    tcase_add_test(t, test_threads_peak);
    tcase_add_test(t, test_timeline_label);
    tcase_add_test(t, test_diff_flamegraph);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    child_timeout = "120";   /* the report script and headless Chromium are slow */
    return run_suite(suite());
}
