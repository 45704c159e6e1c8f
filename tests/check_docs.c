/* The documents tell the truth: the excerpts of README.md and mallocspy(1) are what a run of
 * the demo prints today (up to addresses, process IDs and paths), every option key and every
 * JSON field a run gives is documented where a user looks (README's table, mallocspy(1),
 * mallocspy --help), ranges agree, and the lists the manual gives are the ones the code
 * uses. */
#include <check.h>
#include <ctype.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char *slurp(const char *rel)
{
    char *t = read_file(repo_file(rel));
    ck_assert_msg(t, "cannot read %s", rel);
    return t;
}

/* Replaces every match of `re` in s (malloc'd, replaced) with `with`. */
static char *subst(char *s, const char *re, const char *with)
{
    regex_t rx;
    ck_assert_int_eq(regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE), 0);
    size_t cap = strlen(s) * 2 + 64, n = 0;
    char *out = malloc(cap);
    const char *p = s;
    regmatch_t m;
    int flags = 0;
    while (*p && !regexec(&rx, p, 1, &m, flags) && m.rm_eo > 0) {
        size_t need = n + (size_t)m.rm_so + strlen(with) + 1;
        if (need > cap)
            out = realloc(out, cap = need * 2);
        memcpy(out + n, p, (size_t)m.rm_so);
        n += (size_t)m.rm_so;
        memcpy(out + n, with, strlen(with));
        n += strlen(with);
        p += m.rm_eo;
        flags = REG_NOTBOL;
    }
    size_t rest = strlen(p);
    if (n + rest + 1 > cap)
        out = realloc(out, n + rest + 1);
    memcpy(out + n, p, rest + 1);
    regfree(&rx);
    free(s);
    return out;
}

/* What differs from run to run and machine to machine: process IDs, addresses, where the
 * tree is, the C library's offsets (a point release moves them).  Function names, files,
 * lines and the demo's own offsets stay. */
static char *normalize(char *s)
{
    s = subst(s, "\\\\-", "-");                                     /* roff's \- */
    s = subst(s, "==[0-9]+==", "==PID==");
    s = subst(s, " 0x[0-9a-f]+ in ", " ADDR in ");
    s = subst(s, "\\([^ ()]*/demo\\+", "(demo+");
    s = subst(s, "libc\\.so\\.6\\+0x[0-9a-f]+", "libc.so.6+OFF");
    return s;
}

/* The text between the first `start` after `after` and the next `end`, malloc'd. */
static char *between(const char *text, const char *after, const char *start, const char *end)
{
    const char *a = strstr(text, after);
    ck_assert_msg(a, "no \"%s\"", after);
    const char *b = strstr(a, start);
    ck_assert_msg(b, "no \"%s\" after \"%s\"", start, after);
    b += strlen(start);
    const char *e = strstr(b, end);
    ck_assert_msg(e, "no end \"%s\"", end);
    return strndup(b, (size_t)(e - b));
}

/* The demo under the wrapper, as make demo runs it: stdout then stderr, and its JSON. */
static char *run_demo(struct jval **json)
{
    char demo[PATH_MAX], *out;
    snprintf(demo, sizeof demo, "%s/tests/examples/demo", BUILD_DIR);
    char *jp = tmp_name("demo.json");
    char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--json", jp, "--", demo, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "demo: status %d\n%s", r.status, r.err);
    ck_assert_int_ge(asprintf(&out, "%s%s", r.out, r.err), 0);
    run_free(&r);
    if (json)
        *json = load_report(jp);
    unlink(jp);
    free(jp);
    return out;
}

/* Each line of `doc` (but "..." lines) is a line of `run`, in the same order; with `all`,
 * no line of run is left out either. */
static void check_lines(const char *what, char *doc, char *run, bool all)
{
    doc = normalize(doc);
    run = normalize(run);
    const char *r = run;
    char line[1024], rl[1024];
    int n = 0;
    for (const char *d = doc; next_line(&d, line, sizeof line);) {
        if (!strcmp(line, "...") || !strcmp(line, "    ..."))
            continue;
        bool found = false;
        while (next_line(&r, rl, sizeof rl)) {
            if (!strcmp(rl, line)) {
                found = true;
                break;
            }
            ck_assert_msg(!all, "%s: the run prints \"%s\" where the excerpt has \"%s\"", what,
                          rl, line);
        }
        ck_assert_msg(found, "%s: \"%s\" is not what the run prints (in this order):\n%s",
                      what, line, run);
        n++;
    }
    ck_assert_msg(!all || !next_line(&r, rl, sizeof rl), "%s: the excerpt stops before \"%s\"",
                  what, rl);
    ck_assert_int_ge(n, 10);
    free(doc);
    free(run);
}

START_TEST(test_readme_demo_excerpt)
{
    char *readme = slurp("README.md");
    char *doc = between(readme, "## What `make demo` shows",
                        "-- build/tests/examples/demo`:\n\n```\n", "```\n");
    check_lines("README's demo", doc, run_demo(NULL), true);
    /* The line that names the module and offset of the first frame. */
    char *off = between(readme, "- Frames are innermost first.", "it (`demo+", "`)");
    struct jval *j;
    free(run_demo(&j));
    ck_assert_str_eq(off, jstr(j, "leaks.0.stack.0.offset"));
    json_free(j);
    free(off);
    free(readme);
}
END_TEST

START_TEST(test_man_demo_excerpt)
{
    char *man = slurp("man/mallocspy.1");
    char *doc = between(man, "This is the report of the example program", ".EX\n", ".EE\n");
    check_lines("mallocspy(1)'s demo", doc, run_demo(NULL), false);
    free(man);
}
END_TEST

/* The "key":value pairs of the object that starts at `marker` in the excerpt (its own
 * level only): numbers and the strings of `strings` are the run's. */
static int check_pairs(const char *what, const char *excerpt, const char *marker,
                       const struct jval *obj)
{
    static const char *const strings[] = { "kind", "function", "file", "offset", "tool", NULL };
    const char *p = strstr(excerpt, marker);
    ck_assert_msg(p, "%s: no %s", what, marker);
    ck_assert_msg(obj && obj->type == J_OBJ, "%s: the run has no %s", what, marker);
    p += strlen(marker);
    int n = 0;
    while (*p && *p != '}' && *p != '[' && *p != '{') {
        char key[64];
        if (*p == '"' && sscanf(p, "\"%63[^\"]\"", key) == 1 && p[strlen(key) + 1] == '"' &&
            p[strlen(key) + 2] == ':') {
            const char *v = p + strlen(key) + 3;
            const struct jval *a = jget(obj, key);
            ck_assert_msg(a, "%s: the run has no \"%s\" in %s", what, key, marker);
            if (isdigit((unsigned char)*v)) {
                ck_assert_msg(a->type == J_NUM && a->num == strtod(v, NULL),
                              "%s: \"%s\" is %.*s in the excerpt, %g in a run", what, key,
                              (int)strcspn(v, ",}\n"), v, a->num);
                n++;
            } else if (*v == '"') {
                for (int i = 0; strings[i]; i++)
                    if (!strcmp(strings[i], key)) {
                        ck_assert_msg(a->type == J_STR && !strncmp(v + 1, a->str,
                                      strlen(a->str)) && v[1 + strlen(a->str)] == '"',
                                      "%s: \"%s\" is %.*s in the excerpt, \"%s\" in a run",
                                      what, key, (int)strcspn(v, ",}\n"), v, a->str);
                        n++;
                    }
            }
            p = v;
            continue;
        }
        p++;
    }
    return n;
}

START_TEST(test_json_excerpts)
{
    struct jval *j;
    free(run_demo(&j));
    char *readme = slurp("README.md");
    char *ex = between(readme, "The same report in JSON", "```json\n", "```\n");
    ck_assert_int_ge(check_pairs("README", ex, "\"summary\":{", jget(j, "summary")), 13);
    ck_assert_int_ge(check_pairs("README", ex, "\"leaks\":[{", jpath(j, "leaks.0")), 3);
    ck_assert_int_ge(check_pairs("README", ex, "\"stack\":[{", jpath(j, "leaks.0.stack.0")), 4);
    free(ex);
    free(readme);
    char *man = slurp("man/mallocspy.1");
    ex = between(man, ".SS The JSON report", ".EX\n", ".EE\n");
    ck_assert_int_ge(check_pairs("mallocspy(1)", ex, "\"summary\":{", jget(j, "summary")), 17);
    ck_assert_int_ge(check_pairs("mallocspy(1)", ex, "\"leaks\":[\n{", jpath(j, "leaks.0")), 3);
    ck_assert_int_ge(check_pairs("mallocspy(1)", ex, "\"stack\":[\n  {",
                                 jpath(j, "leaks.0.stack.0")), 4);
    ck_assert_int_ge(check_pairs("mallocspy(1)", ex, "\"profile\":{", jget(j, "profile")), 6);
    ck_assert_int_ge(check_pairs("mallocspy(1)", ex, "\"sites\":[\n{", jpath(j, "sites.0")), 5);
    /* Its costs vary from run to run: the names only. */
    const struct jval *ms = jget(j, "mallocspy");
    for (size_t i = 0; i < ms->n; i++) {
        char k[80];
        snprintf(k, sizeof k, "\"%s\":", ms->keys[i]);
        ck_assert_msg(strstr(ex, k), "mallocspy(1)'s example lacks mallocspy.%s", ms->keys[i]);
    }
    free(ex);
    free(man);
    json_free(j);
}
END_TEST

/* A roff line that sets `word` in bold (.B, .BR, .BI...), as a whole word. */
static bool man_bold(const char *man, const char *word)
{
    size_t wl = strlen(word);
    for (const char *l = man; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, ".B", 2))
            continue;
        const char *e = strchr(l, '\n');
        for (const char *p = l; (p = strstr(p, word)) && (!e || p < e); p++)
            if (!(isalnum((unsigned char)p[-1]) || p[-1] == '_') &&
                !(isalnum((unsigned char)p[wl]) || p[wl] == '_'))
                return true;
    }
    return false;
}

/* Every member of every object a run gives is described in mallocspy(1). */
START_TEST(test_json_fields_documented)
{
    struct jval *j;
    free(run_demo(&j));
    char *man = slurp("man/mallocspy.1");
    const struct jval *objs[] = { j, jget(j, "summary"), jpath(j, "leaks.0"),
                                  jpath(j, "leaks.0.stack.0"), jget(j, "profile"),
                                  jpath(j, "sites.0"), jget(j, "mallocspy") };
    for (size_t o = 0; o < sizeof objs / sizeof *objs; o++) {
        ck_assert_ptr_nonnull(objs[o]);
        for (size_t i = 0; i < objs[o]->n; i++)
            ck_assert_msg(man_bold(man, objs[o]->keys[i]), "mallocspy(1) does not describe "
                          "the JSON field %s", objs[o]->keys[i]);
    }
    free(man);
    json_free(j);
}
END_TEST

/* Wrapper options that stand for a key: their help is the key's. */
static const char *const flag_of[][2] = {
    { "log_path", "--log" }, { "json_path", "--json" }, { "depth", "--depth" },
    { "exitcode", "--exitcode" }, { "suppressions", "--suppressions" },
    { "report_reachable", "--reachable" }, { "report", "--quiet" },
    { "sites_top", "--sites-top" }, { "flamegraph_path", "--flamegraph" },
    { "folded_path", "--folded" }, { "weight", "--weight" }, { "timeline", "--timeline" },
    { "guard", "--guard" }, { "quarantine", "--quarantine" },
    { "pprof_path", "--pprof" }, { "pprof_interval", "--pprof-interval" },
};

START_TEST(test_every_key_documented)
{
    char *argv[] = { (char *)prog_path("leak_none"), NULL };
    struct run h = spy(argv, "help=1", NULL);
    ck_assert_int_eq(h.status, 0);
    char *wargv[] = { (char *)repo_file("scripts/mallocspy"), "--help", NULL };
    struct run w = run_tool(wargv, NULL);
    ck_assert_int_eq(w.status, 0);
    char *man = slurp("man/mallocspy.1");
    char *readme = slurp("README.md");
    char *env = between(man, ".SH ENVIRONMENT", "The keys:\n", ".B MALLOCSPY_LIB");
    int keys = 0;
    char line[512];
    const char *p = strchr(h.err, '\n');
    for (p = p ? p + 1 : ""; next_line(&p, line, sizeof line);) {
        char key[64], want[80];
        ck_assert_int_eq(sscanf(line, "  %63[a-z_]=", key), 1);
        keys++;
        /* mallocspy(1): a key of ENVIRONMENT, ".BI key=" or ".BR key=". */
        snprintf(want, sizeof want, " %s=", key);
        bool in_man = false;
        for (const char *l = env; l && !in_man; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
            size_t len = strcspn(l, "\n");
            const char *k = strstr(l, want);
            in_man = !strncmp(l, ".B", 2) && k && k < l + len;
        }
        ck_assert_msg(in_man, "mallocspy(1) has no entry for %s in ENVIRONMENT", key);
        snprintf(want, sizeof want, "`%s=", key);
        ck_assert_msg(strstr(readme, want), "README.md's table lacks %s", key);
        snprintf(want, sizeof want, "%s=", key);
        bool in_help = strstr(w.out, want) != NULL;
        for (size_t i = 0; i < sizeof flag_of / sizeof *flag_of; i++)
            in_help |= !strcmp(flag_of[i][0], key) && strstr(w.out, flag_of[i][1]);
        ck_assert_msg(in_help, "mallocspy --help names neither %s nor its option", key);
    }
    ck_assert_int_ge(keys, 35);
    free(env);
    free(man);
    free(readme);
    run_free(&h);
    run_free(&w);
}
END_TEST

/* --sites-top: what the manual says is what the wrapper and the library accept. */
START_TEST(test_sites_top_range)
{
    char *man = slurp("man/mallocspy.1");
    char *entry = between(man, ".BI \\-\\-sites\\-top", "\n", ".TP");
    ck_assert_msg(strstr(entry, "from 0 to\n100000") || strstr(entry, "from 0 to 100000"),
                  "mallocspy(1) gives --sites-top another range:\n%s", entry);
    char *key = between(man, "\n.BI sites_top= n\n", "", ".TP");
    ck_assert_msg(strstr(key, "0 to 100000"), "%s", key);
    free(entry);
    free(key);
    free(man);
    static const struct { const char *v; int status; } cases[] = {
        { "0", 0 }, { "100000", 0 }, { "100001", 2 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--quiet", "--sites-top",
                         (char *)cases[i].v, (char *)prog_path("leak_none"), NULL };
        struct run r = run_tool(argv, NULL);
        ck_assert_msg(r.status == cases[i].status, "--sites-top %s: status %d\n%s",
                      cases[i].v, r.status, r.err);
        run_free(&r);
        char opts[64];
        snprintf(opts, sizeof opts, "report=quiet:sites_top=%s", cases[i].v);
        char *argv2[] = { (char *)prog_path("leak_none"), NULL };
        r = spy(argv2, opts, NULL);
        ck_assert_msg((r.err[0] != 0) == (cases[i].status != 0), "sites_top=%s: %s",
                      cases[i].v, r.err);
        run_free(&r);
    }
}
END_TEST

/* The quoted strings of `text` between `start` and `end`, one a line (malloc'd). */
static char *quoted(const char *text, const char *start, const char *end, char *out,
                    size_t cap)
{
    char *part = between(text, start, "", end);
    size_t n = 0;
    out[0] = 0;
    for (const char *p = part; (p = strchr(p, '"'));) {
        const char *q = strchr(p + 1, '"');
        ck_assert_ptr_nonnull(q);
        n += (size_t)snprintf(out + n, cap - n, "%.*s\n", (int)(q - p - 1), p + 1);
        ck_assert_uint_lt(n, cap);
        p = q + 1;
    }
    free(part);
    return out;
}

/* The allocation frames suggested suppressions skip: the library's list, the script's and
 * the manual's are one. */
START_TEST(test_alloc_frames_agree)
{
    static char lib[8192], script[8192], manl[8192];
    char *c = slurp("src/leaks/suppress.c");
    quoted(c, "alloc_frames[] = {", "};", lib, sizeof lib);
    char *py = slurp("scripts/mallocspy-report");
    quoted(py, "ALLOC_FRAMES = (", "\n)", script, sizeof script);
    ck_assert_msg(!strcmp(lib, script), "the library's list:\n%s\nmallocspy-report's:\n%s",
                  lib, script);
    char *man = slurp("man/mallocspy.1");
    char *list = between(man, ".SS Suggested suppressions", ".IP \"the C library\" 4\n",
                         ".ad\n");
    /* "name, name,\nname" under ".IP group" and ".br" lines. */
    size_t n = 0;
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, "\n");
        if (*p != '.') {
            for (const char *q = p; q < p + l;) {
                size_t w = strcspn(q, ",\n");
                if (w > (size_t)(p + l - q))
                    w = (size_t)(p + l - q);
                n += (size_t)snprintf(manl + n, sizeof manl - n, "%.*s\n", (int)w, q);
                q += w;
                while (q < p + l && (*q == ',' || *q == ' '))
                    q++;
            }
        }
        p += l + (p[l] == '\n');
    }
    ck_assert_msg(!strcmp(lib, manl), "the library's list:\n%s\nmallocspy(1)'s:\n%s", lib,
                  manl);
    free(list);
    free(man);
    free(py);
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docs");
    TCase *t = tcase_create("docs");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_readme_demo_excerpt);
    tcase_add_test(t, test_man_demo_excerpt);
    tcase_add_test(t, test_json_excerpts);
    tcase_add_test(t, test_json_fields_documented);
    tcase_add_test(t, test_every_key_documented);
    tcase_add_test(t, test_sites_top_range);
    tcase_add_test(t, test_alloc_frames_agree);
    suite_add_tcase(s, t);
    return run_suite(s);
}
