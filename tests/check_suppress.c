/* Suppressions, as mallocspy(1) describes them: several files, the default file installed
 * with mallocspy, the warnings about files that are no suppression files, the "Suppressions
 * used" table, and suggested suppressions (suggest_suppressions=1, mallocspy-report
 * --suppressions) fed back.  The helper program is tests/progs/supp_leaks.c: direct leaks
 * of 101 bytes from leak_direct, 202 from leak_wrapped (through xmalloc), 31 from leak_dup
 * (through strdup), 48 from leak_list (holding an indirect one of 64 from make_node) and
 * 303 from leak_custom (through my_pool_get, then xmalloc). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const struct leak { const char *fn; unsigned long bytes, held; } leaks[] = {
    { "leak_custom", 303, 0 }, { "leak_wrapped", 202, 0 }, { "leak_direct", 101, 0 },
    { "leak_list", 48, 64 }, { "leak_dup", 31, 0 },
};
enum { NLEAKS = sizeof leaks / sizeof *leaks };

/* supp_leaks under the preload, with a JSON report and a log, `opts` after them. */
static struct spied run_leaks(const char *opts)
{
    char *argv[] = { (char *)prog_path("supp_leaks"), NULL };
    struct spied s = spy_reports(argv, opts, NULL, true);
    ck_assert_msg(s.r.status == 0, "supp_leaks: status %d\n%s", s.r.status, s.r.err);
    s.json = load_report(s.json_path);
    s.log = read_file(s.log_path);
    ck_assert_msg(s.log, "no log at %s", s.log_path);
    return s;
}

/* The direct leak of `bytes` bytes in the report, or NULL. */
static const struct jval *direct_leak(const struct jval *rep, unsigned long bytes)
{
    const struct jval *l = jget(rep, "leaks");
    for (size_t i = 0; l && i < l->n; i++)
        if (!strcmp(jstr(l->items[i], "kind"), "definite") &&
            jnum(l->items[i], "bytes") == (double)bytes)
            return l->items[i];
    return NULL;
}

/* Every leak of the program is listed but those of `gone` (a mask over leaks[]), which are
 * suppressed with what only they hold, and nothing else is. */
static void check_only_gone(const struct jval *rep, unsigned gone, const char *what)
{
    unsigned long suppressed = 0;
    for (int i = 0; i < NLEAKS; i++) {
        bool listed = direct_leak(rep, leaks[i].bytes) != NULL;
        ck_assert_msg(listed == !(gone & 1u << i), "%s: %s's leak is %s", what, leaks[i].fn,
                      listed ? "still listed" : "gone too");
        if (gone & 1u << i)
            suppressed += leaks[i].bytes + leaks[i].held;
    }
    ck_assert_msg(jnum(rep, "summary.suppressed_bytes") == (double)suppressed,
                  "%s: %.0f byte(s) suppressed, %lu expected", what,
                  jnum(rep, "summary.suppressed_bytes"), suppressed);
    /* The node behind leak_list goes with it, and only with it. */
    ck_assert_msg(jnum(rep, "summary.indirect_bytes") == ((gone & 1u << 3) ? 0 : 64),
                  "%s: indirect bytes %.0f", what, jnum(rep, "summary.indirect_bytes"));
}

/* The "  Suppress with: LINE" under the group titled "Direct leak of <bytes> byte(s)" in the
 * text report, copied to out; false if the group has none. */
static bool suggestion_under(const char *log, unsigned long bytes, char *out, size_t cap)
{
    char title[96];
    snprintf(title, sizeof title, "\nDirect leak of %lu byte(s) in ", bytes);
    const char *g = strstr(log, title);
    ck_assert_msg(g, "no group of %lu bytes in the log:\n%s", bytes, log);
    const char *end = strstr(g + 1, "\n\n");
    const char *s = strstr(g, "\n  Suppress with: ");
    if (!s || (end && s > end))
        return false;
    s += strlen("\n  Suppress with: ");
    size_t n = strcspn(s, "\n");
    ck_assert_msg(n < cap, "suggestion too long");
    memcpy(out, s, n);
    out[n] = 0;
    return true;
}

static char *write_supp(const char *name, const char *text)
{
    char *path = tmp_name(name);
    ck_assert(write_file(path, text));
    return path;
}

/* ---- suggested suppressions ------------------------------------------------------------ */

START_TEST(test_suggestion_fed_back_silences_exactly_its_leak)
{
    struct spied s = run_leaks("suggest_suppressions=1");
    /* The most specific frame that is no allocation function or wrapper: */
    static const char *const want[NLEAKS] = {
        "leak:^my_pool_get$",     /* xmalloc is a wrapper; my_pool_get is not known as one */
        "leak:^leak_wrapped$", "leak:^leak_direct$", "leak:^leak_list$",
        "leak:^leak_dup$",        /* not strdup, inside the C library */
    };
    char lines[NLEAKS][256];
    for (int i = 0; i < NLEAKS; i++) {
        ck_assert_msg(suggestion_under(s.log, leaks[i].bytes, lines[i], sizeof lines[i]),
                      "no suggestion under %s's leak:\n%s", leaks[i].fn, s.log);
        ck_assert_str_eq(lines[i], want[i]);
    }
    /* The indirect leak gets none: it goes with the leak that holds it. */
    ck_assert_int_eq(count_str(s.log, "  Suppress with: "), NLEAKS);
    spied_free(&s);

    for (int i = 0; i < NLEAKS; i++) {
        char text[300];
        snprintf(text, sizeof text, "%s\n", lines[i]);
        char *supp = write_supp("suggested.supp", text);
        char opts[PATH_MAX + 32];
        snprintf(opts, sizeof opts, "suppressions=%s", supp);
        struct spied t = run_leaks(opts);
        check_only_gone(t.json, 1u << i, lines[i]);
        spied_free(&t);
        unlink(supp);
        free(supp);
    }
}
END_TEST

START_TEST(test_alloc_functions_extend_the_list)
{
    struct spied s = run_leaks("suggest_suppressions=1:alloc_functions=nothing_here,my_pool_*");
    char line[256];
    ck_assert(suggestion_under(s.log, 303, line, sizeof line));
    ck_assert_str_eq(line, "leak:^leak_custom$");
    spied_free(&s);
    char *supp = write_supp("custom.supp", "leak:^leak_custom$\n");
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "suppressions=%s", supp);
    s = run_leaks(opts);
    check_only_gone(s.json, 1u << 0, "leak:^leak_custom$");
    spied_free(&s);
    unlink(supp);
    free(supp);
}
END_TEST

/* Runs mallocspy-report with args; its stdout, which must be all it wrote. */
static char *report_script(const char *const args[])
{
    char *argv[16];
    int k = 0;
    argv[k++] = "python3";
    argv[k++] = (char *)repo_file("scripts/mallocspy-report");
    for (int i = 0; args[i] && k < 15; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && !r.err[0], "mallocspy-report: status %d\n%s", r.status,
                  r.err);
    char *out = r.out;
    r.out = NULL;
    run_free(&r);
    return out;
}

START_TEST(test_report_script_writes_the_same_lines)
{
    struct spied s = run_leaks("suggest_suppressions=1");
    const char *args[] = { "--suppressions", s.json_path, NULL };
    char *file = report_script(args);
    /* The same line as the text report's for each leak, and no other leak: line. */
    int nlines = 0;
    for (const char *p = file; (p = strstr(p, "\nleak:")); p++)
        nlines++;
    ck_assert_msg(nlines == NLEAKS, "%d leak: lines:\n%s", nlines, file);
    for (int i = 0; i < NLEAKS; i++) {
        char line[256], want[300];
        ck_assert(suggestion_under(s.log, leaks[i].bytes, line, sizeof line));
        snprintf(want, sizeof want, "\n%s\n", line);
        ck_assert_msg(strstr(file, want), "%s is not in the file:\n%s", line, file);
    }
    spied_free(&s);

    /* Fed back whole, it silences every leak. */
    char *supp = write_supp("report.supp", file);
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "suppressions=%s", supp);
    s = run_leaks(opts);
    check_only_gone(s.json, (1u << NLEAKS) - 1, "the whole file");
    ck_assert_msg(!strstr(s.r.err, "mallocspy:"), "warnings about the file:\n%s", s.r.err);
    spied_free(&s);

    /* --alloc-functions: the same rule as alloc_functions=. */
    s = run_leaks("suggest_suppressions=1");
    const char *args2[] = { s.json_path, "--suppressions", "--alloc-functions", "my_pool_get",
                            NULL };
    char *file2 = report_script(args2);
    ck_assert_msg(strstr(file2, "\nleak:^leak_custom$\n") &&
                  !strstr(file2, "my_pool_get$"), "%s", file2);
    spied_free(&s);
    unlink(supp);
    free(supp);
    free(file);
    free(file2);
}
END_TEST

/* A function inlined at an address is a frame of the report: its name is matched. */
START_TEST(test_inlined_function_matched)
{
    char *supp = write_supp("inline.supp", "leak:^print_label$\n");
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "report=quiet:suppressions=%s", supp);
    char demo[PATH_MAX];
    snprintf(demo, sizeof demo, "%s/tests/examples/demo", BUILD_DIR);
    char *argv[] = { demo, NULL };
    struct spied s = spy_reports(argv, opts, NULL, false);
    ck_assert_int_eq(s.r.status, 0);
    s.json = load_report(s.json_path);
    /* The demo's string from make_label, inlined into print_label, inlined into main. */
    ck_assert_msg(jnum(s.json, "summary.suppressed_bytes") == 17 &&
                  jnum(s.json, "summary.definite_bytes") == 40,
                  "suppressed %.0f, definite %.0f", jnum(s.json, "summary.suppressed_bytes"),
                  jnum(s.json, "summary.definite_bytes"));
    spied_free(&s);
    unlink(supp);
    free(supp);
}
END_TEST

/* ---- several files ---------------------------------------------------------------------- */

START_TEST(test_several_files)
{
    char *a = write_supp("a.supp", "leak:^leak_direct$\n");
    char *b = write_supp("b.supp", "# the second file\nleak:^leak_dup$\n");
    char opts[2 * PATH_MAX + 32];
    snprintf(opts, sizeof opts, "suppressions=%s,%s", a, b);
    struct spied s = run_leaks(opts);
    check_only_gone(s.json, 1u << 2 | 1u << 4, "two files");
    ck_assert_str_eq(s.r.err, "");
    /* Every pattern, in the order of the files. */
    ck_assert_str_eq(jstr(s.json, "suppressions.0.pattern"), "^leak_direct$");
    ck_assert_str_eq(jstr(s.json, "suppressions.1.pattern"), "^leak_dup$");
    ck_assert(jnum(s.json, "suppressions.1.bytes") == 31);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 2);
    spied_free(&s);

    /* The wrapper's --suppressions, repeated, adds up the same way. */
    char *json = tmp_name("wrapped.json");
    char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--quiet", "--json", json,
                     "--suppressions", a, "--suppressions", b, (char *)prog_path("supp_leaks"),
                     NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    struct jval *j = load_report(json);
    check_only_gone(j, 1u << 2 | 1u << 4, "--suppressions twice");
    json_free(j);
    run_free(&r);
    unlink(json);
    free(json);
    unlink(a);
    unlink(b);
    free(a);
    free(b);
}
END_TEST

/* A directory, a missing file, a NUL byte: one warning each, naming the file (and the
 * line), and the rest is used. */
START_TEST(test_bad_files_warned)
{
    char *dir = tmp_dir("supp-dir");
    char *missing = tmp_name("missing.supp");
    char *nul = tmp_name("nul.supp");
    static const char text[] = "leak:^leak_direct$\nleak:bin\0ary\nleak:^leak_dup$\n";
    FILE *f = fopen(nul, "w");
    ck_assert(f && fwrite(text, 1, sizeof text - 1, f) == sizeof text - 1 && !fclose(f));
    char *good = write_supp("good.supp", "leak:^leak_wrapped$\n");
    char opts[4 * PATH_MAX + 32];
    snprintf(opts, sizeof opts, "report=quiet:suppressions=%s,%s,%s,%s", dir, missing, nul,
             good);
    char *argv[] = { (char *)prog_path("supp_leaks"), NULL };
    struct spied s = spy_reports(argv, opts, NULL, false);
    ck_assert_int_eq(s.r.status, 0);
    s.json = load_report(s.json_path);
    ck_assert_msg(count_lines(s.r.err) == 3, "three warnings expected:\n%s", s.r.err);
    char want[PATH_MAX + 16];
    ck_assert_msg(strstr(s.r.err, dir) && strstr(s.r.err, "directory"), "%s", s.r.err);
    ck_assert_msg(strstr(s.r.err, missing), "%s", s.r.err);
    snprintf(want, sizeof want, "%s:2:", nul);
    ck_assert_msg(strstr(s.r.err, want) && strstr(s.r.err, "NUL"), "%s", s.r.err);
    /* The lines before and after the NUL, and the next file, still count. */
    check_only_gone(s.json, 1u << 1 | 1u << 2 | 1u << 4, "bad files");
    spied_free(&s);
    remove_tree(dir);
    unlink(nul);
    unlink(good);
    free(dir);
    free(missing);
    free(nul);
    free(good);
}
END_TEST

START_TEST(test_print_suppressions)
{
    char *supp = write_supp("table.supp", "leak:^leak_direct$\n");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "suppressions=%s", supp);
    struct spied s = run_leaks(opts);
    ck_assert_msg(strstr(s.log, "Suppressions used:\n") && strstr(s.log, " ^leak_direct$\n"),
                  "%s", s.log);
    spied_free(&s);
    snprintf(opts, sizeof opts, "suppressions=%s:print_suppressions=0", supp);
    s = run_leaks(opts);
    ck_assert_msg(!strstr(s.log, "Suppressions used") && !strstr(s.log, "^leak_direct$"),
                  "%s", s.log);
    /* Only the table goes: the leak is still suppressed. */
    check_only_gone(s.json, 1u << 2, "print_suppressions=0");
    spied_free(&s);
    unlink(supp);
    free(supp);
}
END_TEST

/* ---- the default file ------------------------------------------------------------------- */

/* The default file of the source tree, which the library in build/ uses. */
static const char *default_supp(void)
{
    static char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/../share/mallocspy/default.supp", BUILD_DIR);
    return p;
}

START_TEST(test_default_file_used)
{
    ck_assert_msg(access(default_supp(), R_OK) == 0, "no %s", default_supp());
    struct spied s = run_leaks("verbosity=1");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "from '%s'", default_supp());
    ck_assert_msg(strstr(s.log, want), "no note of the default file in the log:\n%s", s.log);
    /* Its patterns are listed only when they suppressed something. */
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 0);
    spied_free(&s);
    s = run_leaks("verbosity=1:use_default_suppressions=0");
    ck_assert_msg(!strstr(s.log, "default.supp"), "%s", s.log);
    spied_free(&s);
}
END_TEST

/* java -version leaves OpenJDK's structures allocated at exit: the default file is what
 * silences them (a real program, as users run it). */
START_TEST(test_default_file_on_java)
{
    ck_assert_msg(have_cmd("java"), "java not installed (scripts/deps.sh test installs it)");
    char *argv[] = { "java", "-Xshare:auto", "-version", NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_msg(s.r.status == 0, "java: %d\n%s", s.r.status, s.r.err);
    s.json = load_report(s.json_path);
    ck_assert_msg(jnum(s.json, "summary.definite_bytes") == 0 &&
                  jnum(s.json, "summary.indirect_bytes") == 0 &&
                  jnum(s.json, "summary.suppressed_bytes") > 0,
                  "java -version: %.0f definite, %.0f indirect, %.0f suppressed byte(s)",
                  jnum(s.json, "summary.definite_bytes"), jnum(s.json, "summary.indirect_bytes"),
                  jnum(s.json, "summary.suppressed_bytes"));
    ck_assert_msg(jget(s.json, "suppressions")->n > 0, "the patterns used are not listed");
    spied_free(&s);
    s = spy_reports(argv, "report=quiet:use_default_suppressions=0", NULL, false);
    s.json = load_report(s.json_path);
    ck_assert_msg(jnum(s.json, "summary.definite_bytes") > 0 &&
                  jnum(s.json, "summary.suppressed_bytes") == 0,
                  "without the default file: %.0f definite, %.0f suppressed",
                  jnum(s.json, "summary.definite_bytes"),
                  jnum(s.json, "summary.suppressed_bytes"));
    spied_free(&s);
}
END_TEST

/* make install puts the file where the installed library looks for it. */
START_TEST(test_default_file_installed)
{
    char *prefix = tmp_dir("prefix");
    char pv[PATH_MAX + 16];
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    char *argv[] = { "make", "-s", "-C", (char *)repo_dir(), "install-lib", pv, NULL };
    const char *env[] = { "MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", "DESTDIR=", NULL };
    struct run r = run_plain(argv, env);
    ck_assert_msg(r.status == 0, "make install-lib: %d\n%s%s", r.status, r.out, r.err);
    run_free(&r);
    char lib[PATH_MAX + 32], pre[PATH_MAX + 64];
    snprintf(lib, sizeof lib, "LD_PRELOAD=%s/lib/libmallocspy.so", prefix);
    const char *env2[] = { lib, "MALLOCSPY_OPTIONS=verbosity=1", NULL };
    char *true_argv[] = { "true", NULL };
    r = run_plain(true_argv, env2);
    snprintf(pre, sizeof pre, "'%s/lib/../share/mallocspy/default.supp'", prefix);
    ck_assert_msg(r.status == 0 && strstr(r.err, pre), "the installed library does not read "
                  "%s:\n%s", pre, r.err);
    run_free(&r);
    remove_tree(prefix);
    free(prefix);
}
END_TEST

int main(void)
{
    child_timeout = "120";
    Suite *s = suite_create("suppress");
    TCase *t = tcase_create("suppress");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_suggestion_fed_back_silences_exactly_its_leak);
    tcase_add_test(t, test_alloc_functions_extend_the_list);
    tcase_add_test(t, test_report_script_writes_the_same_lines);
    tcase_add_test(t, test_inlined_function_matched);
    tcase_add_test(t, test_several_files);
    tcase_add_test(t, test_bad_files_warned);
    tcase_add_test(t, test_print_suppressions);
    tcase_add_test(t, test_default_file_used);
    tcase_add_test(t, test_default_file_on_java);
    tcase_add_test(t, test_default_file_installed);
    suite_add_tcase(s, t);
    return run_suite(s);
}
