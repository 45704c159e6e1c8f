/* MALLOCSPY_OPTIONS as a program under the preload sees them, with the names and habits
 * LeakSanitizer's users bring (mallocspy(1), ENVIRONMENT): help=1, verbosity=1,
 * detect_leaks, malloc_context_size, include=FILE.  The helper programs are leak_none
 * (frees everything, exits with argv[1]) and supp_leaks (five direct leaks, one indirect). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

/* help=1: one header line, then "  key=default  help" for each key; the program runs on. */
START_TEST(test_help_lists_every_key_and_runs_on)
{
    char *argv[] = { (char *)prog_path("leak_none"), "7", NULL };
    struct run r = spy(argv, "help=1", NULL);
    ck_assert_msg(r.status == 7, "the program did not run on: status %d\n%s", r.status, r.err);
    ck_assert_msg(!strncmp(r.err, "mallocspy: ", 11), "%s", r.err);
    static const char *const keys[] = {
        "log_path", "json_path", "depth", "leak_check", "exitcode", "suppressions",
        "use_default_suppressions", "print_suppressions", "suggest_suppressions", "report",
        "verbosity", "help", "include", "detect_leaks", "malloc_context_size", "symbolize",
        "symbolizer", "symbol_cache", "debuginfod", "debuginfod_timeout", "sites_top",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s=", keys[i]);
        ck_assert_msg(strstr(r.err, want), "help=1 does not list %s:\n%s", keys[i], r.err);
    }
    /* Every line after the header: a key, its default, and some help. */
    int lines = 0;
    for (const char *p = strchr(r.err, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        char key[64], def[64], help[16];
        ck_assert_msg(sscanf(p + 1, "  %63[a-z_]=%63s %15s", key, def, help) == 3,
                      "not a key, a default and help: %.80s", p + 1);
        lines++;
    }
    ck_assert_int_ge(lines, 35);
    run_free(&r);
    /* With a log, the list goes there, as the warnings do. */
    char *log = tmp_name("help.log");
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "help=1:log_path=%s", log);
    r = spy(argv, opts, NULL);
    ck_assert_int_eq(r.status, 7);
    ck_assert_str_eq(r.err, "");
    char *text = read_file(log);
    ck_assert_msg(text && strstr(text, "\n  malloc_context_size=32 "), "%s", text);
    free(text);
    run_free(&r);
    unlink(log);
    free(log);
}
END_TEST

/* verbosity=1 says on the log what mallocspy does; 0 (the default) says nothing. */
START_TEST(test_verbosity)
{
    char *argv[] = { (char *)prog_path("supp_leaks"), NULL };
    struct spied s = spy_reports(argv, "verbosity=1:report=quiet", NULL, true);
    ck_assert_int_eq(s.r.status, 0);
    ck_assert_str_eq(s.r.err, "");
    s.log = read_file(s.log_path);
    ck_assert_msg(s.log, "no log");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "writing the JSON report to '%s'", s.json_path);
    ck_assert_msg(strstr(s.log, "mallocspy: version ") && strstr(s.log, "verbosity=1") &&
                  strstr(s.log, "mallocspy: at exit: ") && strstr(s.log, want),
                  "the log does not say what mallocspy did:\n%s", s.log);
    spied_free(&s);
    s = spy_reports(argv, "verbosity=0", NULL, true);
    s.log = read_file(s.log_path);
    ck_assert_msg(s.log && strstr(s.log, "SUMMARY: ") && strncmp(s.log, "mallocspy: ", 11) &&
                  !strstr(s.log, "\nmallocspy: "), "notes without verbosity:\n%s", s.log);
    ck_assert_str_eq(s.r.err, "");
    spied_free(&s);
}
END_TEST

START_TEST(test_detect_leaks_and_malloc_context_size)
{
    char *argv[] = { (char *)prog_path("supp_leaks"), NULL };
    struct spied s = spy_reports(argv, "detect_leaks=0:report=quiet", NULL, false);
    ck_assert_int_eq(s.r.status, 0);
    s.json = load_report(s.json_path);
    ck_assert_msg(jget(s.json, "leaks")->n == 0 && jnum(s.json, "summary.allocations") == 0,
                  "detect_leaks=0 still tracked the program");
    spied_free(&s);

    s = spy_reports(argv, "detect_leaks=1:malloc_context_size=2:report=quiet", NULL, false);
    s.json = load_report(s.json_path);
    const struct jval *leaks = jget(s.json, "leaks");
    ck_assert_int_eq((int)leaks->n, 6);
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *st = jget(leaks->items[i], "stack");
        int addresses = 0;
        for (size_t k = 0; k < st->n; k++)
            addresses += st->items[k]->type == J_OBJ &&
                         jget(st->items[k], "inlined")->type == J_BOOL &&
                         !jget(st->items[k], "inlined")->b;
        ck_assert_msg(addresses == 2, "a stack of %d addresses with malloc_context_size=2",
                      addresses);
    }
    spied_free(&s);
}
END_TEST

/* include=FILE, relative to the program's current directory; later items override it. */
START_TEST(test_include_file)
{
    char *dir = tmp_dir("options");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/ms.opts", dir);
    ck_assert(write_file(path, "# LeakSanitizer's names, from a file\n"
                               "malloc_context_size=1\n"
                               "report=text:detect_leaks=1\n"));
    char *json = tmp_name("include.json");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "include=ms.opts:report=quiet:json_path=%s", json);
    char *argv[] = { (char *)prog_path("supp_leaks"), NULL };
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    struct run r = spy(argv, opts, NULL);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(r.status, 0);
    /* report=quiet, after the include, won over its report=text. */
    ck_assert_msg(!strstr(r.err, "mallocspy"), "%s", r.err);
    struct jval *j = load_report(json);
    ck_assert_str_eq(jstr(j, "leaks.0.stack.0.function"), "xmalloc");
    ck_assert_msg(jget(jpath(j, "leaks.0"), "stack")->n == 1, "depth is not 1");
    json_free(j);
    run_free(&r);

    /* A file that is not there: one warning naming it, and the program runs on. */
    char *argv2[] = { (char *)prog_path("leak_none"), "3", NULL };
    r = spy(argv2, "include=no-such-options-file", NULL);
    ck_assert_int_eq(r.status, 3);
    ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "no-such-options-file"), "%s",
                  r.err);
    run_free(&r);
    unlink(json);
    free(json);
    remove_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *t = tcase_create("options");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_help_lists_every_key_and_runs_on);
    tcase_add_test(t, test_verbosity);
    tcase_add_test(t, test_detect_leaks_and_malloc_context_size);
    tcase_add_test(t, test_include_file);
    suite_add_tcase(s, t);
    return run_suite(s);
}
