/* mallocspy-report's summary and --diff (issues 16 and 17): whole stacks, innermost first,
 * with the frames of allocation wrappers folded so that the first meaningful frame names
 * each entry (the list users extend with --alloc-fn and --alloc-fns); --top, --kind and
 * --frames; the change in live blocks and bytes per stack between two reports of a
 * program, from a report_signal snapshot and the report at exit, and from two runs.
 * The differential flame graph is drawn and checked in a browser by check_profile.c. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static const char *script(void) { return repo_file("scripts/mallocspy-report"); }

/* ---- the summary as entries ------------------------------------------------------------ */

/* An entry: its line ("  kind  bytes blocks  name", or a site's, or a diff's) and the lines
 * of its stack below it, each without its indentation. */
struct entry {
    char head[512];
    char lines[64][512];
    int n;
};

struct entries {
    struct entry e[128];
    int n;
};

/* An entry is the first line after a blank one, if indented (not "  ... and N more"),
 * and the lines that follow it up to the next blank one: its stack.  Only the leaks and
 * errors (or a diff's stacks): the profile's sites, after "profile:", are left out. */
static struct entries *parse_entries(const char *out)
{
    struct entries *es = calloc(1, sizeof *es);
    const char *p = out;
    char line[1024];
    bool after_blank = false;
    struct entry *cur = NULL;
    while (next_line(&p, line, sizeof line)) {
        if (!strncmp(line, "profile:", 8))
            break;
        const char *t = line + strspn(line, " ");
        if (!*t) {
            after_blank = true;
            cur = NULL;
            continue;
        }
        if (after_blank && t > line && strncmp(t, "...", 3)) {
            ck_assert_msg(es->n < 128, "too many entries");
            cur = &es->e[es->n++];
            snprintf(cur->head, sizeof cur->head, "%s", t);
        } else if (cur && cur->n < 64) {
            snprintf(cur->lines[cur->n++], sizeof cur->lines[0], "%s", t);
        }
        after_blank = false;
    }
    return es;
}

/* The entries whose line ends with "  name (place)" naming `fn`. */
static int entries_named(const struct entries *es, const char *fn, const struct entry **first)
{
    int n = 0;
    char want[300];
    snprintf(want, sizeof want, "  %s (", fn);
    for (int i = 0; i < es->n; i++)
        if (strstr(es->e[i].head, want)) {
            if (!n && first)
                *first = &es->e[i];
            n++;
        }
    return n;
}

static const struct entry *one_entry(const struct entries *es, const char *fn, const char *out)
{
    const struct entry *e = NULL;
    int n = entries_named(es, fn, &e);
    ck_assert_msg(n == 1, "%d entries named %s, 1 expected:\n%.3000s", n, fn, out);
    return e;
}

static struct run report_tool(char *const args[])
{
    char *argv[24] = { (char *)script() };
    int k = 1;
    for (int i = 0; args[i] && k < 23; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    return run_tool(argv, NULL);
}

/* mallocspy-report ARGS: status 0, nothing on stderr; its output (free it). */
static char *report_ok(char *const args[])
{
    struct run r = report_tool(args);
    ck_assert_msg(r.status == 0 && !strcmp(r.err, ""), "mallocspy-report %s %s: status %d\n%.2500s",
                  args[0], args[1] ? args[1] : "", r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}

/* mallocspy-report ARGS: status `status`, one line on stderr holding `says`. */
static void report_fails(char *const args[], int status, const char *says)
{
    struct run r = report_tool(args);
    ck_assert_msg(r.status == status && strstr(r.err, says) && !strstr(r.err, "Traceback"),
                  "mallocspy-report %s: status %d (%d expected), stderr: %s", args[0], r.status,
                  status, r.err);
    if (status == 1)
        ck_assert_msg(count_lines(r.err) == 1, "more than one line: %s", r.err);
    run_free(&r);
}

/* "#i fn file:line" or "#i fn (module+off)": the frame line of a JSON frame. */
static bool is_frame_line(const char *line, int i, const struct jval *f)
{
    char want[512];
    const char *fn = jstr(f, "function");
    int n = snprintf(want, sizeof want, "#%d %s", i, fn ? fn : "");
    if (strncmp(line, want, (size_t)n))
        return false;
    const struct jval *l = jget(f, "line");
    if (fn && jstr(f, "file") && l && l->type == J_NUM) {
        snprintf(want, sizeof want, " %s:%.0f", base_name(jstr(f, "file")), l->num);
        return !strcmp(line + n, want);
    }
    return true;
}

/* ---- the summary ------------------------------------------------------------------------ */

/* Every leak of leak_basic, with its whole stack; strdup's frame in the C library is
 * folded, so that leak_strdup names its group. */
START_TEST(test_whole_stacks)
{
    char *argv[] = { (char *)prog_path("leak_basic"), NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_int_eq(s.r.status, 0);
    s.json = load_report(s.json_path);
    char *args[] = { s.json_path, NULL };
    char *out = report_ok(args);
    struct entries *es = parse_entries(out);
    const struct jval *leaks = need_member(s.json, "leaks", J_ARR);
    ck_assert_msg(es->n == (int)leaks->n && leaks->n == 6, "%d entries for %zu groups:\n%.3000s",
                  es->n, leaks->n, out);
    static const char *const fns[] = { "leak_malloc", "leak_calloc", "leak_realloc",
                                       "leak_memalign", "leak_aligned", "leak_strdup" };
    for (size_t i = 0; i < 6; i++) {
        const struct entry *e = one_entry(es, fns[i], out);
        const struct jval *g = one_leak_from(s.json, i == 5 ? "__strdup" : fns[i]);
        const struct jval *st = jget(g, "stack");
        char head[128];
        snprintf(head, sizeof head, "%-10s %10.0f bytes %6.0f blocks", "definite",
                 jnum(g, "bytes"), jnum(g, "blocks"));
        ck_assert_msg(strstr(e->head, head), "'%s' is not '%s...'", e->head, head);
        /* The place after the name: the source line of the frame that names it. */
        int named = i == 5 ? 1 : 0;
        char place[128];
        snprintf(place, sizeof place, "  %s (leak_basic.c:%.0f)", fns[i],
                 jnum(st->items[named], "line"));
        ck_assert_msg(ends_with(e->head, place), "'%s' does not end with '%s'", e->head, place);
        /* Every frame, in order; the folded one on a line of its own first. */
        ck_assert_msg(e->n == (int)st->n, "%s: %d lines for %zu frames", fns[i],
                      e->n, st->n);
        int k = 0;
        if (named) {
            ck_assert_str_eq(e->lines[0], "[allocation wrappers: __strdup]");
            k = 1;
        }
        for (size_t f = (size_t)named; f < st->n; f++, k++)
            ck_assert_msg(is_frame_line(e->lines[k], (int)f, st->items[f]), "%s: line '%s' "
                          "is not frame %zu (%s)", fns[i], e->lines[k], f,
                          jstr(st->items[f], "function"));
    }
    free(es);
    free(out);

    /* --no-fold: the innermost frame names each group. */
    char *args2[] = { s.json_path, "--no-fold", NULL };
    out = report_ok(args2);
    es = parse_entries(out);
    ck_assert_msg(entries_named(es, "leak_strdup", NULL) == 0 &&
                  entries_named(es, "__strdup", NULL) == 1, "--no-fold:\n%.2500s", out);
    free(es);
    free(out);

    /* --frames 2: two frames, then how many more. */
    char *args3[] = { s.json_path, "--frames", "2", NULL };
    out = report_ok(args3);
    es = parse_entries(out);
    const struct entry *e = one_entry(es, "leak_malloc", out);
    const struct jval *st = jget(one_leak_from(s.json, "leak_malloc"), "stack");
    char more[64];
    snprintf(more, sizeof more, "... %zu more frame(s)", st->n - 2);
    ck_assert_msg(e->n == 3 && !strcmp(e->lines[2], more), "--frames 2:\n%.2500s", out);
    free(es);
    free(out);
    spied_free(&s);
}
END_TEST

/* A report written by hand: one leak through each wrapper the list must know, above a
 * caller of the program's own; and one through a wrapper inside libmallocspy. */
static const char *const wrappers[] = {
    "malloc", "calloc", "realloc", "operator new(unsigned long)", "operator new[](unsigned long)",
    "xmalloc", "xcalloc", "xrealloc", "xstrdup", "g_malloc", "g_malloc0", "Perl_safesysmalloc",
    "Perl_safesyscalloc", "Perl_safesysrealloc", "PyMem_Malloc", "PyMem_RawMalloc",
    "PyObject_Malloc", "_PyObject_Malloc", "malloc@@GLIBC_2.2.5",
    "std::__new_allocator<int>::allocate(unsigned long, void const*)",
};

static char *wrapper_report(void)
{
    size_t cap = 65536, len = 0;
    char *j = malloc(cap);
    len += (size_t)snprintf(j + len, cap - len, "{\"tool\":\"mallocspy\",\"pid\":7,\"exe\":\"/x/app\","
                            "\"summary\":{},\"leaks\":[");
    size_t n = sizeof wrappers / sizeof *wrappers;
    for (size_t i = 0; i <= n; i++) {
        const char *fn = i < n ? wrappers[i] : "ms_alloc";
        const char *mod = i < n ? "/x/app" : "/usr/lib/libmallocspy.so.0";
        len += (size_t)snprintf(j + len, cap - len,
                                "%s{\"kind\":\"definite\",\"bytes\":%zu,\"blocks\":1,\"stack\":["
                                "{\"function\":\"%s\",\"module\":\"%s\",\"offset\":\"0x10\"},"
                                "{\"function\":\"caller_%zu\",\"module\":\"/x/app\",\"offset\":"
                                "\"0x20\",\"file\":\"/src/app.c\",\"line\":%zu},"
                                "{\"function\":\"main\",\"module\":\"/x/app\",\"offset\":\"0x30\"}]}",
                                i ? "," : "", 1000 - i, fn, mod, i, i + 1);
    }
    snprintf(j + len, cap - len, "]}\n");
    return j;
}

START_TEST(test_known_wrappers)
{
    char *json = tmp_name("wrappers.json");
    char *text = wrapper_report();
    ck_assert(write_file(json, text));
    free(text);
    char *args[] = { json, "--top", "0", NULL };
    char *out = report_ok(args);
    struct entries *es = parse_entries(out);
    size_t n = sizeof wrappers / sizeof *wrappers;
    ck_assert_msg(es->n == (int)n + 1, "%d entries:\n%.2500s", es->n, out);
    for (size_t i = 0; i <= n; i++) {
        char fn[32], fold[300];
        snprintf(fn, sizeof fn, "caller_%zu", i);
        const struct entry *e = one_entry(es, fn, out);
        snprintf(fold, sizeof fold, "[allocation wrappers: %s]", i < n ? wrappers[i] : "ms_alloc");
        ck_assert_msg(e->n >= 1 && !strcmp(e->lines[0], fold), "%s: '%s', expected '%s'",
                      fn, e->n ? e->lines[0] : "", fold);
    }
    free(es);
    free(out);
    unlink(json);
    free(json);
}
END_TEST

/* report_growth's report at exit (run with report_reachable=1), and its snapshot. */
struct growth {
    char dir[PATH_MAX + 64], now[PATH_MAX + 96], then[PATH_MAX + 96];
    struct jval *rep_now, *rep_then;
};

static void run_growth(struct growth *g, const char *opts)
{
    make_dir("growth", g->dir, sizeof g->dir);
    snprintf(g->now, sizeof g->now, "%s/now.json", g->dir);
    snprintf(g->then, sizeof g->then, "%s/then.json", g->dir);
    char o[PATH_MAX + 256];
    snprintf(o, sizeof o, "report=quiet:report_signal=SIGUSR2:json_path=%s%s%s", g->now,
             opts ? ":" : "", opts ? opts : "");
    char *argv[] = { (char *)prog_path("report_growth"), g->now, g->then, NULL };
    struct run r = spy(argv, o, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.out, "first\nsnapshot taken\nsecond\n"),
                  "report_growth: status %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    g->rep_now = load_report(g->now);
    g->rep_then = load_report(g->then);
}

static void growth_free(struct growth *g)
{
    json_free(g->rep_now);
    json_free(g->rep_then);
    remove_tree(g->dir);
}

/* Wrappers of several kinds folded, the list extended from the command line and from a
 * file; --top and --kind. */
START_TEST(test_fold_top_kind)
{
    struct growth g;
    run_growth(&g, "report_reachable=1");
    char *args[] = { g.now, "--top", "0", NULL };
    char *out = report_ok(args);
    struct entries *es = parse_entries(out);
    ck_assert_msg(es->n == 4, "%d entries (grow, steady, shrink, leak):\n%.2500s", es->n, out);
    const struct entry *e = one_entry(es, "grow_site", out);
    ck_assert_str_eq(e->lines[0], "[allocation wrappers: xmalloc]");
    char head[128];
    snprintf(head, sizeof head, "%-10s %10d bytes %6d blocks", "reachable", 40000, 40);
    ck_assert_msg(!strncmp(e->head, head, strlen(head)), "'%s' is not '%s...'", e->head, head);
    e = one_entry(es, "steady_site", out);
    ck_assert_str_eq(e->lines[0], "[allocation wrappers: xmalloc, g_malloc]");
    e = one_entry(es, "shrink_site", out);
    ck_assert_str_eq(e->lines[0], "[allocation wrappers: Perl_safesysmalloc]");
    /* A wrapper no list knows names its group... */
    e = one_entry(es, "my_pool_alloc", out);
    ck_assert_msg(strstr(e->head, "definite") && e->lines[0][0] == '#', "%s", e->head);
    free(es);
    free(out);
    /* ...until the user names it, on the command line or in a file. */
    char *list = tmp_name("wrappers.txt");
    ck_assert(write_file(list, "# our allocators\n\n  my_pool_*  \n"));
    char *ext[][6] = {
        { g.now, "--alloc-fn", "my_pool_alloc", NULL },
        { g.now, "--alloc-fns", list, NULL },
    };
    for (int k = 0; k < 2; k++) {
        out = report_ok(ext[k]);
        es = parse_entries(out);
        e = one_entry(es, "leak_site", out);
        ck_assert_str_eq(e->lines[0], "[allocation wrappers: my_pool_alloc]");
        ck_assert_msg(entries_named(es, "my_pool_alloc", NULL) == 0, "%s", out);
        free(es);
        free(out);
    }
    unlink(list);
    char *bad_list[] = { g.now, "--alloc-fns", list, NULL };
    report_fails(bad_list, 1, list);
    free(list);

    /* --top 2: the two largest, and how many more. */
    char *top[] = { g.now, "--top", "2", NULL };
    out = report_ok(top);
    es = parse_entries(out);
    ck_assert_msg(es->n == 2 && strstr(es->e[0].head, "grow_site") &&
                  strstr(es->e[1].head, "steady_site") &&
                  strstr(out, "\n  ... and 2 more leak group(s) (--top 0 shows all)\n"),
                  "--top 2:\n%.2500s", out);
    free(es);
    free(out);
    /* --kind: only those; several, comma-separated or repeated. */
    char *k1[] = { g.now, "--kind", "definite", NULL };
    out = report_ok(k1);
    es = parse_entries(out);
    ck_assert_msg(es->n == 1 && strstr(es->e[0].head, "definite"), "--kind definite:\n%.2500s", out);
    free(es);
    free(out);
    char *k2[] = { g.now, "--kind", "definite,reachable", "--top", "0", NULL };
    char *k3[] = { g.now, "--kind", "definite", "--kind", "reachable", "--top", "0", NULL };
    char *o2 = report_ok(k2), *o3 = report_ok(k3);
    es = parse_entries(o2);
    ck_assert_msg(es->n == 4 && !strcmp(o2, o3), "--kind definite,reachable:\n%s\n%.2500s", o2, o3);
    free(es);
    free(o2);
    free(o3);
    char *k4[] = { g.now, "--kind", "direct", NULL };
    report_fails(k4, 2, "'direct' is no kind");
    char *k5[] = { g.now, "--top", "-1", NULL };
    report_fails(k5, 2, "--top");
    growth_free(&g);
}
END_TEST

/* Heap errors in the summary: each with the stacks it has, named by where it was found. */
START_TEST(test_summary_errors)
{
    char *argv[] = { (char *)prog_path("err_double"), NULL };
    struct spied s = spy_reports(argv, "report=quiet:quarantine=1m", NULL, false);
    s.json = load_report(s.json_path);
    char *args[] = { s.json_path, "--kind", "double_free", "--frames", "1", NULL };
    char *out = report_ok(args);
    struct entries *es = parse_entries(out);
    ck_assert_msg(es->n == 1, "%d entries:\n%.2500s", es->n, out);
    char head[256];
    snprintf(head, sizeof head, "double_free    %s in free  second_free (err_double.c:",
             jstr(s.json, "errors.0.address"));
    ck_assert_msg(!strncmp(es->e[0].head, head, strlen(head)), "'%s' is not '%s...'",
                  es->e[0].head, head);
    static const char *const want[] = { "here:", "#0 second_free", "... ", "freed by:",
                                        "#0 first_free", "... ", "allocated by:",
                                        "#0 alloc_twice_freed", "... " };
    ck_assert_msg(es->e[0].n == 9, "%d lines:\n%.2500s", es->e[0].n, out);
    for (int i = 0; i < 9; i++)
        ck_assert_msg(!strncmp(es->e[0].lines[i], want[i], strlen(want[i])), "line %d: '%s'",
                      i, es->e[0].lines[i]);
    free(es);
    free(out);
    spied_free(&s);
}
END_TEST

/* perl: every leak went through Perl_safesysmalloc and friends; none is named by them. */
START_TEST(test_perl_named)
{
    ck_assert_msg(have_cmd("perl"), "perl is not installed (make check installs it)");
    char *argv[] = { "perl", "-e", "my %h; $h{$_} = 'x' x $_ for 1 .. 200; print qq(ok\\n)",
                     NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_msg(s.r.status == 0 && !strcmp(s.r.out, "ok\n"), "perl: %d %s", s.r.status,
                  s.r.err);
    s.json = load_report(s.json_path);
    char *args[] = { s.json_path, "--top", "0", "--frames", "1", NULL };
    char *out = report_ok(args);
    struct entries *es = parse_entries(out);
    int folded = 0, named = 0;
    char first[512] = "";
    for (int i = 0; i < es->n; i++) {
        const char *h = es->e[i].head;
        ck_assert_msg(!strstr(h, "  Perl_safesys"), "named by a wrapper: %s", h);
        if (es->e[i].n && !strncmp(es->e[i].lines[0], "[allocation wrappers: Perl_safesys", 34))
            folded++;
        const char *name = strstr(h, "blocks  ");
        if (name && strcmp(name, first)) {
            named++;
            snprintf(first, sizeof first, "%s", name);
        }
    }
    ck_assert_msg(folded >= 5 && named >= 3, "%d entries folded, %d names:\n%.4000s", folded,
                  named, out);
    free(es);
    free(out);
    spied_free(&s);
}
END_TEST

/* ---- --diff ----------------------------------------------------------------------------- */

struct row {
    long bytes, blocks, now_bytes, now_blocks;
    char name[256];
};

/* The diff's entries, in order: "+30000 bytes +30 blocks (now 40000 in 40)  name (place)". */
static int diff_rows(const char *out, struct row *rows, int max)
{
    struct entries *es = parse_entries(out);
    int n = 0;
    for (int i = 0; i < es->n && n < max; i++) {
        struct row *r = &rows[n];
        char rest[512];
        if (sscanf(es->e[i].head, "%ld bytes %ld blocks  (now %ld in %ld)  %511[^\n]", &r->bytes,
                   &r->blocks, &r->now_bytes, &r->now_blocks, rest) != 5)
            continue;
        snprintf(r->name, sizeof r->name, "%.*s", (int)strcspn(rest, " "), rest);
        n++;
    }
    free(es);
    return n;
}

static void check_growth_diff(const char *out, bool named_leak)
{
    struct row rows[16];
    int n = diff_rows(out, rows, 16);
    static const struct row want[] = {
        { 30000, 30, 40000, 40, "grow_site" },
        { 128, 2, 128, 2, "leak_site" },
        { -144, -3, 0, 0, "gone_site" },
        { -3000, -6, 1000, 2, "shrink_site" },
    };
    ck_assert_msg(n == 4, "%d stacks changed, 4 expected:\n%.2500s", n, out);
    for (int i = 0; i < 4; i++) {
        const char *name = i == 1 && !named_leak ? "my_pool_alloc" : want[i].name;
        ck_assert_msg(rows[i].bytes == want[i].bytes && rows[i].blocks == want[i].blocks &&
                      rows[i].now_bytes == want[i].now_bytes &&
                      rows[i].now_blocks == want[i].now_blocks && !strcmp(rows[i].name, name),
                      "row %d: %+ld bytes %+ld blocks (now %ld in %ld) %s; expected %+ld %+ld "
                      "(%ld in %ld) %s\n%.2500s", i, rows[i].bytes, rows[i].blocks, rows[i].now_bytes,
                      rows[i].now_blocks, rows[i].name, want[i].bytes, want[i].blocks,
                      want[i].now_bytes, want[i].now_blocks, name, out);
    }
    ck_assert_msg(strstr(out, "\n4 stack(s) changed, 1 unchanged\n"), "%s", out);
}

/* A snapshot and the report at exit of one process. */
START_TEST(test_diff_snapshot)
{
    struct growth g;
    run_growth(&g, "report_reachable=1");
    char *args[] = { "--diff", g.then, g.now, "--alloc-fn", "my_pool_alloc", NULL };
    char *out = report_ok(args);
    check_growth_diff(out, true);
    char head[PATH_MAX * 2 + 256];
    snprintf(head, sizeof head, "%s (pid %.0f) to %s (pid %.0f): +26984 byte(s), +23 block(s) "
             "live (42128 byte(s) in 49 block(s), from 15144 in 26)\n", g.then,
             jnum(g.rep_then, "pid"), g.now, jnum(g.rep_now, "pid"));
    ck_assert_msg(!strncmp(out, head, strlen(head)), "the first line:\n%s\nexpected:\n%.2500s", out,
                  head);
    /* The growing stack, whole, its wrapper folded. */
    struct entries *es = parse_entries(out);
    ck_assert_str_eq(es->e[0].lines[0], "[allocation wrappers: xmalloc]");
    ck_assert_msg(!strncmp(es->e[0].lines[1], "#1 grow_site report_growth.c:", 29) &&
                  !strncmp(es->e[0].lines[2], "#2 main report_growth.c:", 24), "%s", out);
    free(es);
    free(out);

    /* --top 1: the largest growth only; --kind definite: what leaked. */
    char *a2[] = { "--diff", g.then, g.now, "--top", "1", NULL };
    out = report_ok(a2);
    struct row rows[8];
    ck_assert_msg(diff_rows(out, rows, 8) == 1 && !strcmp(rows[0].name, "grow_site") &&
                  strstr(out, "\n  ... and 3 more changed stack(s) (--top 0 shows all)\n"),
                  "--top 1:\n%.2500s", out);
    free(out);
    char *a3[] = { "--diff", g.then, g.now, "--kind", "definite", NULL };
    out = report_ok(a3);
    ck_assert_msg(diff_rows(out, rows, 8) == 1 && rows[0].bytes == 128 && rows[0].blocks == 2,
                  "--kind definite:\n%.2500s", out);
    free(out);

    /* The same report twice: nothing changed. */
    char *a4[] = { "--diff", g.now, g.now, NULL };
    out = report_ok(a4);
    ck_assert_msg(diff_rows(out, rows, 8) == 0 && strstr(out, "\n0 stack(s) changed, 4 "
                  "unchanged\n"), "a report against itself:\n%.2500s", out);
    free(out);

    /* Misuse: status 2 (usage), or 1 (a report that cannot be read), one line. */
    char *b1[] = { "--diff", g.then, g.now, "--folded", "-", NULL };
    report_fails(b1, 2, "--diff goes with");
    char *b2[] = { "--diff", g.then, NULL };
    report_fails(b2, 2, "--diff");
    char *missing = tmp_name("missing.json");
    char *b3[] = { "--diff", missing, g.now, NULL };
    report_fails(b3, 1, missing);
    free(missing);
    growth_free(&g);
}
END_TEST

/* Two runs of the program: other processes, other addresses, the same stacks. */
START_TEST(test_diff_runs)
{
    struct growth a, b;
    run_growth(&a, "report_reachable=1");
    run_growth(&b, "report_reachable=1");
    ck_assert_msg(jnum(a.rep_then, "pid") != jnum(b.rep_now, "pid"), "one process");
    char *args[] = { "--diff", a.then, b.now, "--alloc-fn", "my_pool_alloc", NULL };
    char *out = report_ok(args);
    check_growth_diff(out, true);
    free(out);
    /* Without report_reachable, the reports list the leaks only: the diff says so. */
    struct growth c;
    run_growth(&c, NULL);
    char *a2[] = { "--diff", c.then, c.now, NULL };
    struct run r = report_tool(a2);
    ck_assert_msg(r.status == 0 && count_lines(r.err) == 2 && strstr(r.err, "report_reachable=1"),
                  "reports without the reachable blocks: status %d\n%s", r.status, r.err);
    struct row rows[8];
    ck_assert_msg(diff_rows(r.out, rows, 8) == 1 && !strcmp(rows[0].name, "my_pool_alloc"),
                  "leaks only:\n%.2500s", r.out);
    run_free(&r);
    growth_free(&c);
    growth_free(&b);
    growth_free(&a);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("report_tool");
    TCase *t = tcase_create("summary");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_whole_stacks);
    tcase_add_test(t, test_known_wrappers);
    tcase_add_test(t, test_fold_top_kind);
    tcase_add_test(t, test_summary_errors);
    tcase_add_test(t, test_perl_named);
    suite_add_tcase(s, t);
    t = tcase_create("diff");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_diff_snapshot);
    tcase_add_test(t, test_diff_runs);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
