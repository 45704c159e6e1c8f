/* The command-line wrapper, scripts/mallocspy: its usage and errors, what it passes to the
 * library (report files, options, the preload), the program's exit status, and its
 * installation with the library, the header, the man pages and the pkg-config file.
 * The helper program is tests/progs/leaky.c: 3 blocks of 100 bytes from leak_three and
 * one of 4000 bytes from leak_big. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static const char *wrapper(void)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", repo_file("scripts/mallocspy"));
    return buf;
}

/* Runs `wrapper_path args...` (args NULL-terminated) as a tool (run_tool: no preload, no
 * options, no library choice inherited, `extra` on top), in directory `dir` when it is not
 * NULL. */
static struct run run_wrapper_at(const char *wrapper_path, const char *dir,
                                 const char *const args[], const char *const extra[])
{
    char *argv[64];
    int k = 0;
    if (dir) {
        argv[k++] = "sh";
        argv[k++] = "-c";
        argv[k++] = "cd \"$1\" && shift && exec \"$@\"";
        argv[k++] = "sh";
        argv[k++] = (char *)dir;
    }
    argv[k++] = (char *)wrapper_path;
    for (int i = 0; args[i] && k < 63; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    return run_tool(argv, extra);
}

static struct run wrap(const char *const args[], const char *const extra[])
{
    return run_wrapper_at(wrapper(), NULL, args, extra);
}

/* Exactly one line on stderr, naming `what`; nothing on stdout (so the program, which
 * prints a line, did not run). */
static void check_one_line_error(const struct run *r, const char *cmd, const char *what)
{
    const char *nl = strchr(r->err, '\n');
    ck_assert_msg(nl && nl[1] == 0 && nl > r->err,
                  "%s: stderr is not exactly one line: \"%s\"", cmd, r->err);
    ck_assert_msg(strstr(r->err, "mallocspy"), "%s: the error does not say who speaks: %s",
                  cmd, r->err);
    ck_assert_msg(strstr(r->err, what), "%s: the error does not name '%s': %s", cmd, what,
                  r->err);
    ck_assert_msg(r->out[0] == 0, "%s: something ran and printed: %s", cmd, r->out);
}

/* The version in include/mallocspy.h, read the way the Makefile reads it. */
static const char *header_version(void)
{
    static char v[64];
    char *h = read_file(repo_file("include/mallocspy.h"));
    ck_assert_msg(h, "cannot read include/mallocspy.h");
    const char *p = strstr(h, "\n#define MALLOCSPY_VERSION \"");
    ck_assert_msg(p, "no MALLOCSPY_VERSION in mallocspy.h");
    ck_assert_int_eq(sscanf(p, "\n#define MALLOCSPY_VERSION \"%63[^\"]\"", v), 1);
    free(h);
    return v;
}

/* The leak group whose innermost frame is `function`, or NULL. */
static const struct jval *leak_from(const struct jval *j, const char *function)
{
    const struct jval *g = NULL;
    entries_with(j, "leaks", function, 1, NULL, &g, 1);
    return g;
}

/* leaky's two leaks are there, with their exact sizes. */
static void check_leaky_leaks(const struct jval *j)
{
    ck_assert_msg(jnum(j, "summary.definite_bytes") >= 4300, "definite_bytes %g < 4300",
                  jnum(j, "summary.definite_bytes"));
    ck_assert_msg(jnum(j, "summary.definite_blocks") >= 4, "definite_blocks %g < 4",
                  jnum(j, "summary.definite_blocks"));
    const struct jval *three = leak_from(j, "leak_three");
    ck_assert_msg(three, "no leak from leak_three in the report");
    ck_assert_str_eq(jstr(three, "kind"), "definite");
    ck_assert_int_eq((int)jnum(three, "blocks"), 3);
    ck_assert_int_eq((int)jnum(three, "bytes"), 300);
    const struct jval *big = leak_from(j, "leak_big");
    ck_assert_msg(big, "no leak from leak_big in the report");
    ck_assert_str_eq(jstr(big, "kind"), "definite");
    ck_assert_int_eq((int)jnum(big, "blocks"), 1);
    ck_assert_int_eq((int)jnum(big, "bytes"), 4000);
}

/* Every stack in the report has from 1 to `max` frames; returns the deepest. */
static size_t check_stack_depths(const struct jval *j, size_t max)
{
    const struct jval *leaks = jget(j, "leaks");
    ck_assert(leaks && leaks->type == J_ARR && leaks->n > 0);
    size_t deepest = 0;
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *st = jget(leaks->items[i], "stack");
        ck_assert_msg(st && st->type == J_ARR, "leak %zu has no stack", i);
        ck_assert_msg(st->n >= 1 && st->n <= max, "leak %zu has a stack of %zu frames "
                      "(1 to %zu expected)", i, st->n, max);
        if (st->n > deepest)
            deepest = st->n;
    }
    return deepest;
}

static bool same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- usage ------------------------------------------------------------------------- */

START_TEST(test_help)
{
    const char *args[] = { "--help", NULL };
    struct run r = wrap(args, NULL);
    ck_assert_msg(r.status == 0, "--help: status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    static const char *const want[] = {
        "Usage:", "--log", "--json", "--sarif", "--depth", "--exitcode", "--suppressions",
        "--reachable", "--quiet", "--options", "--lib", "--help", "--version",
        "SUMMARY: mallocspy:", "JSON", "127", "mallocspy(1)",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        ck_assert_msg(strstr(r.out, want[i]), "--help does not mention %s:\n%s", want[i],
                      r.out);
    run_free(&r);
}
END_TEST

START_TEST(test_version)
{
    char want[128];
    snprintf(want, sizeof want, "mallocspy %s\n", header_version());
    const char *args[] = { "--version", NULL };
    struct run r = wrap(args, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, want);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
}
END_TEST

START_TEST(test_bad_usage)
{
    const char *leaky = prog_path("leaky");
    char *missing = tmp_name("no-such-suppressions.txt");
    struct {
        const char *args[6];
        const char *what;       /* the error line names this */
    } cases[] = {
        { { "--bogus", leaky, NULL }, "--bogus" },
        { { "-z", leaky, NULL }, "-z" },
        { { "--depth", "0", leaky, NULL }, "--depth" },
        { { "--depth", "x", leaky, NULL }, "'x'" },
        { { "--depth=0", leaky, NULL }, "--depth" },
        { { "--depth", "257", leaky, NULL }, "257" },
        { { "--exitcode", "300", leaky, NULL }, "300" },
        { { "--exitcode=-1", leaky, NULL }, "--exitcode" },
        { { "--suppressions", missing, leaky, NULL }, missing },
        { { "--suppressions", "/", leaky, NULL }, "--suppressions" },
        { { "--quiet=1", leaky, NULL }, "--quiet" },
        { { "--lib", "/nonexistent/libmallocspy.so", leaky, NULL }, "/nonexistent/libmallocspy.so" },
        { { "--log", NULL }, "--log" },
        { { "--log=", leaky, NULL }, "--log" },
        { { "--log", "/nonexistent-dir/x.log", leaky, NULL }, "/nonexistent-dir" },
        { { NULL }, "program" },
        { { "--json", "x.json", "--", NULL }, "program" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char cmd[512] = "mallocspy";
        for (int a = 0; cases[i].args[a]; a++) {
            strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
            strncat(cmd, cases[i].args[a], sizeof cmd - strlen(cmd) - 1);
        }
        struct run r = wrap(cases[i].args, NULL);
        ck_assert_msg(r.status == 2, "%s: status %d (2 expected)\nstdout: %s\nstderr: %s",
                      cmd, r.status, r.out, r.err);
        check_one_line_error(&r, cmd, cases[i].what);
        run_free(&r);
    }
    free(missing);
}
END_TEST

START_TEST(test_program_not_found)
{
    const char *a1[] = { "no-such-program-for-mallocspy", "arg", NULL };
    struct run r = wrap(a1, NULL);
    ck_assert_msg(r.status == 127, "status %d\n%s", r.status, r.err);
    check_one_line_error(&r, "mallocspy no-such-program", "no-such-program-for-mallocspy");
    run_free(&r);

    const char *a2[] = { "--", "/nonexistent/program", NULL };
    r = wrap(a2, NULL);
    ck_assert_msg(r.status == 127, "status %d\n%s", r.status, r.err);
    check_one_line_error(&r, "mallocspy /nonexistent/program", "/nonexistent/program");
    run_free(&r);

    /* There, but not executable: 126, as a shell says. */
    char *plain = tmp_name("not-executable");
    ck_assert(write_file(plain, "#!/bin/sh\necho ran\n"));
    chmod(plain, 0644);
    const char *a3[] = { plain, NULL };
    r = wrap(a3, NULL);
    ck_assert_msg(r.status == 126, "status %d\n%s", r.status, r.err);
    check_one_line_error(&r, "mallocspy <not executable>", plain);
    run_free(&r);
    unlink(plain);
    free(plain);
}
END_TEST

/* ---- running the program ----------------------------------------------------------- */

START_TEST(test_status_passes_through)
{
    char *json = tmp_name("status.json");
    const char *args[] = { "--json", json, prog_path("leaky"), "7", NULL };
    struct run r = wrap(args, NULL);
    ck_assert_msg(r.status == 7, "leaky 7 under the wrapper: status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "leaky: leaked 4300 bytes"), "leaky did not run: %s", r.out);
    /* It did leak, and the report went to stderr (no --log). */
    ck_assert_msg(strstr(r.err, "SUMMARY: mallocspy: "), "no text report on stderr: %s",
                  r.err);
    struct jval *j = load_report(json);
    check_leaky_leaks(j);
    json_free(j);
    run_free(&r);

    const char *a0[] = { "--quiet", prog_path("leaky"), NULL };
    r = wrap(a0, NULL);
    ck_assert_msg(r.status == 0, "leaky 0: status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    unlink(json);
    free(json);
}
END_TEST

START_TEST(test_exitcode)
{
    const char *a1[] = { "--quiet", "--exitcode", "42", prog_path("leaky"), NULL };
    struct run r = wrap(a1, NULL);
    ck_assert_msg(r.status == 42, "--exitcode 42 with leaks: status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "leaky: leaked"), "leaky did not run: %s", r.out);
    run_free(&r);

    const char *a2[] = { "--quiet", "--exitcode=42", prog_path("leaky"), "7", NULL };
    r = wrap(a2, NULL);
    ck_assert_msg(r.status == 42, "--exitcode=42, leaky 7: status %d\n%s", r.status, r.err);
    run_free(&r);

    /* With every leak suppressed nothing is reported: the program's own status stays. */
    char *supp = tmp_name("all.supp");
    ck_assert(write_file(supp, "# leaky's two leaks\nleak:leak_three\nleak:leak_big\n"));
    char *json = tmp_name("suppressed.json");
    const char *a3[] = { "--quiet", "--exitcode", "42", "--suppressions", supp, "--json", json,
                         prog_path("leaky"), "7", NULL };
    r = wrap(a3, NULL);
    ck_assert_msg(r.status == 7, "no leak left to report: status %d (7 expected)\n%s",
                  r.status, r.err);
    struct jval *j = load_report(json);
    ck_assert_msg(jnum(j, "summary.suppressed_bytes") >= 4300, "suppressed_bytes %g",
                  jnum(j, "summary.suppressed_bytes"));
    ck_assert_msg(!leak_from(j, "leak_three") && !leak_from(j, "leak_big"),
                  "suppressed leaks still listed");
    json_free(j);
    run_free(&r);
    unlink(supp);
    unlink(json);
    free(supp);
    free(json);
}
END_TEST

START_TEST(test_json_report)
{
    char *json = tmp_name("report.json");
    const char *args[] = { "--quiet", "--json", json, prog_path("leaky"), NULL };
    struct run r = wrap(args, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    struct jval *j = load_report(json);
    ck_assert_str_eq(jstr(j, "version"), header_version());
    ck_assert_msg(jstr(j, "exe") && strstr(jstr(j, "exe"), "leaky"), "exe: %s",
                  jstr(j, "exe"));
    check_leaky_leaks(j);
    json_free(j);
    run_free(&r);
    unlink(json);
    free(json);
}
END_TEST

START_TEST(test_log_report)
{
    char *log = tmp_name("report.log");
    const char *args[] = { "--log", log, prog_path("leaky"), NULL };
    struct run r = wrap(args, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_msg(!strstr(r.err, "SUMMARY") && !strstr(r.err, "mallocspy"),
                  "the report went to stderr as well: %s", r.err);
    char *text = read_file(log);
    ck_assert_msg(text, "no text report at %s", log);
    ck_assert_msg(strstr(text, "SUMMARY: mallocspy: "), "no SUMMARY line in the log:\n%s",
                  text);
    ck_assert_msg(strstr(text, "leak_three") && strstr(text, "leak_big"),
                  "the log does not name the leaks:\n%s", text);
    free(text);
    run_free(&r);
    unlink(log);

    /* --log asks for the text report even when the environment says report=quiet. */
    const char *env[] = { "MALLOCSPY_OPTIONS=report=quiet", NULL };
    r = wrap(args, env);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    text = read_file(log);
    ck_assert_msg(text && strstr(text, "SUMMARY: mallocspy: "),
                  "report=quiet in the environment silenced --log");
    free(text);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
    unlink(log);
    free(log);
}
END_TEST

/* Relative report and suppression paths are taken from where the wrapper started, even
 * though the program moves to another directory before it exits. */
START_TEST(test_relative_paths)
{
    char *start = tmp_dir("start");
    char *elsewhere = tmp_dir("elsewhere");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/only-three.supp", start);
    ck_assert(write_file(path, "leak:leak_three\n"));
    const char *args[] = { "--json", "r.json", "--log", "r.log", "--suppressions",
                           "only-three.supp", prog_path("leaky"), "0", elsewhere, NULL };
    struct run r = run_wrapper_at(wrapper(), start, args, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    snprintf(path, sizeof path, "%s/r.json", start);
    struct jval *j = load_report(path);
    /* The suppressions were read too: leak_three's blocks are suppressed, leak_big's not. */
    ck_assert_msg(!leak_from(j, "leak_three"), "the relative suppressions file was not used");
    ck_assert_msg(leak_from(j, "leak_big"), "no leak from leak_big");
    ck_assert_msg(jnum(j, "summary.suppressed_bytes") >= 300, "suppressed_bytes %g",
                  jnum(j, "summary.suppressed_bytes"));
    json_free(j);
    snprintf(path, sizeof path, "%s/r.log", start);
    char *text = read_file(path);
    ck_assert_msg(text && strstr(text, "SUMMARY: mallocspy: "), "no log at %s", path);
    free(text);
    snprintf(path, sizeof path, "%s/r.json", elsewhere);
    ck_assert_msg(access(path, F_OK) != 0, "a report landed in the program's directory");
    snprintf(path, sizeof path, "%s/r.log", elsewhere);
    ck_assert_msg(access(path, F_OK) != 0, "a log landed in the program's directory");
    run_free(&r);

    /* "%p" stays for the library: one file named after the pid. */
    const char *a2[] = { "--log", "pid-%p.log", prog_path("leaky"), "0", elsewhere, NULL };
    r = run_wrapper_at(wrapper(), start, a2, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    DIR *d = opendir(start);
    ck_assert(d);
    int found = 0;
    for (struct dirent *e; (e = readdir(d));) {
        unsigned pid;
        char tail[8];
        if (sscanf(e->d_name, "pid-%u.%7s", &pid, tail) == 2 && !strcmp(tail, "log"))
            found++;
    }
    closedir(d);
    ck_assert_msg(found == 1, "%d pid-N.log file(s) in the start directory", found);
    run_free(&r);
    remove_tree(start);
    remove_tree(elsewhere);
    free(start);
    free(elsewhere);
}
END_TEST

/* A tiny library that, preloaded, says which program loaded it. */
static char *build_marker_lib(void)
{
    ck_assert_msg(have_cmd("gcc"), "gcc not installed");
    char *src = tmp_name("marker.c");
    char *so = tmp_name("libmarker.so");
    ck_assert(write_file(src,
        "#include <string.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void marker(void)\n{\n"
        "    char exe[4096];\n"
        "    ssize_t n = readlink(\"/proc/self/exe\", exe, sizeof exe - 1);\n"
        "    if (n <= 0)\n        return;\n"
        "    exe[n] = 0;\n"
        "    const char *b = strrchr(exe, '/');\n"
        "    b = b ? b + 1 : exe;\n"
        "    if (write(2, \"[marker in \", 11) < 0 || write(2, b, strlen(b)) < 0 ||\n"
        "        write(2, \"]\\n\", 2) < 0)\n        return;\n}\n"));
    char *argv[] = { "gcc", "-shared", "-fPIC", "-o", so, src, NULL };
    struct run r = run_plain(argv, NULL);
    ck_assert_msg(r.status == 0, "cannot build the marker library:\n%s", r.err);
    run_free(&r);
    unlink(src);
    free(src);
    return so;
}

START_TEST(test_environment_kept)
{
    char *marker = build_marker_lib();
    char pre[PATH_MAX + 16];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", marker);
    const char *env[] = { pre, "MALLOCSPY_OPTIONS=depth=3", NULL };

    /* What the program gets: the library first, then the user's preload; the user's
     * options first, then the wrapper's (--json without %p: the run's JSON, in a
     * directory of the wrapper's, which writes the user's file when the run ends). */
    char *json = tmp_name("env.json");
    const char *a1[] = { "--quiet", "--json", json, "sh", "-c",
                         "printf '%s\\n%s\\n' \"$LD_PRELOAD\" \"$MALLOCSPY_OPTIONS\"", NULL };
    struct run r = wrap(a1, env);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    char first[PATH_MAX], second[PATH_MAX], opts[2 * PATH_MAX];
    ck_assert_msg(sscanf(r.out, "%4095s %4095s\n%8191s", first, second, opts) == 3,
                  "unexpected output: %s", r.out);
    ck_assert_msg(same_file(first, lib_path()), "LD_PRELOAD starts with %s, not %s", first,
                  lib_path());
    ck_assert_str_eq(second, marker);
    char dir[PATH_MAX];
    ck_assert_msg(sscanf(opts, "depth=3:report=quiet:json_path=%4095[^:]", dir) == 1 &&
                  ends_with(dir, "/run.json") && dir[0] == '/', "MALLOCSPY_OPTIONS: %s", opts);
    ck_assert_msg(access(json, F_OK) == 0, "no run report at %s", json);
    run_free(&r);
    unlink(json);

    /* With %p the processes write the user's files themselves: the name as given. */
    char *pjson = tmp_name("env.%p.json");
    const char *a0[] = { "--quiet", "--json", pjson, "sh", "-c",
                         "printf '%s' \"$MALLOCSPY_OPTIONS\"", NULL };
    r = wrap(a0, env);
    char want[2 * PATH_MAX];
    snprintf(want, sizeof want, "depth=3:json_path=%s:report=quiet", pjson);
    ck_assert_str_eq(r.out, want);
    run_free(&r);
    free(pjson);

    /* And both are in effect: the marker runs in leaky, stacks have 3 frames at most. */
    const char *a2[] = { "--quiet", "--json", json, prog_path("leaky"), NULL };
    r = wrap(a2, env);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "[marker in leaky]"), "the user's preload is gone: %s", r.err);
    struct jval *j = load_report(json);
    check_leaky_leaks(j);
    check_stack_depths(j, 3);
    json_free(j);
    run_free(&r);
    unlink(json);

    /* The wrapper's options come after the user's, so they win: --depth 4 over depth=3. */
    const char *a3[] = { "--quiet", "--depth", "4", "--json", json, prog_path("leaky"), NULL };
    r = wrap(a3, env);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    j = load_report(json);
    ck_assert_int_eq((int)check_stack_depths(j, 4), 4);
    json_free(j);
    run_free(&r);
    unlink(json);
    unlink(marker);
    free(marker);
    free(json);
}
END_TEST

START_TEST(test_depth_one)
{
    char *json = tmp_name("depth1.json");
    const char *args[] = { "--quiet", "--depth", "1", "--json", json, prog_path("leaky"),
                           NULL };
    struct run r = wrap(args, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    struct jval *j = load_report(json);
    ck_assert_int_eq((int)check_stack_depths(j, 1), 1);
    check_leaky_leaks(j);
    json_free(j);
    run_free(&r);
    unlink(json);
    free(json);
}
END_TEST

/* The options the program gets: every file name absolute, --options last. */
START_TEST(test_options_passed)
{
    char *dir = tmp_dir("opts");
    char supp[PATH_MAX];
    snprintf(supp, sizeof supp, "%s/s.supp", dir);
    ck_assert(write_file(supp, "leak:nothing_here\n"));
    const char *args[] = { "--reachable", "--depth=07", "--log", "l.log", "--json=j.json",
                           "--suppressions", "./s.supp", "--quiet", "--options",
                           "stack_cache=0", "--lib", "../../../libmallocspy.so", "sh", "-c",
                           "printf '%s\\n%s' \"$MALLOCSPY_OPTIONS\" \"$LD_PRELOAD\"", NULL };
    /* From build/tests/tmp/<dir>, ../../../libmallocspy.so is the build's library.  The
     * report files named are the run's: each process writes into the wrapper's directory,
     * and --options come after all but those. */
    struct run r = run_wrapper_at(wrapper(), dir, args, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    char want[4 * PATH_MAX], rundir[PATH_MAX];
    snprintf(want, sizeof want, "depth=7:suppressions=%s:report_reachable=1:report=quiet:"
             "json_path=", supp);
    ck_assert_msg(!strncmp(r.out, want, strlen(want)), "MALLOCSPY_OPTIONS: %s\nexpected: %s...",
                  r.out, want);
    ck_assert_msg(sscanf(r.out + strlen(want), "%4095[^:]", rundir) == 1 &&
                  ends_with(rundir, "/run.json"), "MALLOCSPY_OPTIONS: %s", r.out);
    rundir[strlen(rundir) - strlen("/run.json")] = 0;
    snprintf(want + strlen(want), sizeof want - strlen(want), "%s/run.json:log_path=%s/run.log:"
             "stack_cache=0\n", rundir, rundir);
    ck_assert_msg(!strncmp(r.out, want, strlen(want)), "MALLOCSPY_OPTIONS: %s\nexpected: %s",
                  r.out, want);
    ck_assert_msg(same_file(r.out + strlen(want), lib_path()), "--lib ../../../libmallocspy.so"
                  " gave LD_PRELOAD=%s", r.out + strlen(want));
    ck_assert_msg(r.out[strlen(want)] == '/', "LD_PRELOAD not absolute: %s", r.out + strlen(want));
    /* The run's files are where the user named them, and the wrapper's directory is gone. */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/l.log", dir);
    ck_assert_msg(access(path, F_OK) == 0, "no %s", path);
    snprintf(path, sizeof path, "%s/j.json", dir);
    ck_assert_msg(access(path, F_OK) == 0, "no %s", path);
    ck_assert_msg(access(rundir, F_OK) != 0, "%s is left behind", rundir);
    run_free(&r);

    /* Without files to collect the wrapper gives its place to the program, with the files
     * first, as before. */
    const char *a1[] = { "--depth=07", "--log", "l.%p.log", "--json=j.%p.json", "--quiet",
                         "--options", "stack_cache=0", "sh", "-c", "printf '%s' \"$MALLOCSPY_OPTIONS\"",
                         NULL };
    r = run_wrapper_at(wrapper(), dir, a1, NULL);
    snprintf(want, sizeof want, "log_path=%s/l.%%p.log:json_path=%s/j.%%p.json:depth=7:"
             "report=quiet:stack_cache=0", dir, dir);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    /* The library from MALLOCSPY_LIB, when there is no --lib. */
    char lib[PATH_MAX + 32];
    snprintf(lib, sizeof lib, "MALLOCSPY_LIB=%s", lib_path());
    const char *env[] = { lib, NULL };
    const char *a2[] = { "--quiet", "sh", "-c", "printf '%s' \"$LD_PRELOAD\"", NULL };
    r = wrap(a2, env);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.out, lib_path());
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- installation ------------------------------------------------------------------ */

static bool have_man_pages(void)
{
    return access(repo_file("man/mallocspy.1"), R_OK) == 0 &&
           access(repo_file("man/mallocspy.3"), R_OK) == 0;
}

/* make -C <repo> install VARS...; without the man pages (someone else writes them), the
 * other install targets, and a note. */
static void make_install(const char *const vars[])
{
    char *argv[16];
    int k = 0;
    argv[k++] = "make";
    argv[k++] = "-s";
    argv[k++] = "-C";
    argv[k++] = (char *)repo_dir();
    if (have_man_pages()) {
        argv[k++] = "install";
    } else {
        printf("note: man/mallocspy.1 or man/mallocspy.3 missing: installing without the "
               "man pages, and not checking them\n");
        fflush(stdout);
        argv[k++] = "install-lib";
        argv[k++] = "install-headers";
        argv[k++] = "install-bin";
    }
    for (int i = 0; vars[i] && k < 15; i++)
        argv[k++] = (char *)vars[i];
    argv[k] = NULL;
    /* Not a part of any make that may be running this test. */
    const char *env[] = { "MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", "DESTDIR=", "PREFIX=", NULL };
    struct run r = run_plain(argv, env);
    ck_assert_msg(r.status == 0, "make install failed (status %d):\n%s\n%s", r.status,
                  r.out, r.err);
    run_free(&r);
}

/* The files an installation puts under `root` (the prefix, with DESTDIR in front). */
static void check_installed_files(const char *root)
{
    static const char *const files[] = {
        "lib/libmallocspy.so", "include/mallocspy.h", "bin/mallocspy",
        "lib/pkgconfig/mallocspy.pc", "share/man/man1/mallocspy.1",
        "share/man/man3/mallocspy.3",
    };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        if (!strncmp(files[i], "share/man/", 10) && !have_man_pages())
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", root, files[i]);
        ck_assert_msg(is_file(p), "%s not installed", p);
    }
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/bin/mallocspy", root);
    ck_assert_msg(access(p, X_OK) == 0, "%s is not executable", p);
}

/* The installed mallocspy.pc names the final prefix (never DESTDIR) and the version. */
static void check_pc_file(const char *root, const char *prefix)
{
    char p[PATH_MAX], line[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/lib/pkgconfig/mallocspy.pc", root);
    char *pc = read_file(p);
    ck_assert_msg(pc, "cannot read %s", p);
    ck_assert_msg(!strchr(pc, '@'), "a placeholder is left in %s:\n%s", p, pc);
    snprintf(line, sizeof line, "prefix=%s\n", prefix);
    ck_assert_msg(strstr(pc, line), "%s lacks %s:\n%s", p, line, pc);
    snprintf(line, sizeof line, "libdir=%s/lib\n", prefix);
    ck_assert_msg(strstr(pc, line), "%s lacks %s:\n%s", p, line, pc);
    snprintf(line, sizeof line, "includedir=%s/include\n", prefix);
    ck_assert_msg(strstr(pc, line), "%s lacks %s:\n%s", p, line, pc);
    snprintf(line, sizeof line, "Version: %s\n", header_version());
    ck_assert_msg(strstr(pc, line), "%s lacks %s:\n%s", p, line, pc);
    ck_assert_msg(strstr(pc, "Name: mallocspy\n") && strstr(pc, "Description: ") &&
                  strstr(pc, "Cflags: -I${includedir}\n") &&
                  strstr(pc, "Libs: -L${libdir} -lmallocspy\n"), "%s:\n%s", p, pc);
    free(pc);
}

START_TEST(test_install_prefix)
{
    char *prefix = tmp_name("prefix");
    char pv[PATH_MAX + 16];
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    const char *vars[] = { pv, NULL };
    make_install(vars);
    check_installed_files(prefix);
    check_pc_file(prefix, prefix);

    char bin[PATH_MAX], lib[PATH_MAX], libdir[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/bin/mallocspy", prefix);
    snprintf(libdir, sizeof libdir, "%s/lib", prefix);
    snprintf(lib, sizeof lib, "%s/libmallocspy.so", libdir);

    /* The installed wrapper preloads the installed library, whatever the source tree. */
    const char *a1[] = { "--quiet", "sh", "-c", "printf '%s' \"$LD_PRELOAD\"", NULL };
    struct run r = run_wrapper_at(bin, NULL, a1, NULL);
    ck_assert_msg(r.status == 0, "installed mallocspy: status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.out, lib);
    run_free(&r);

    char want[128];
    snprintf(want, sizeof want, "mallocspy %s\n", header_version());
    const char *a2[] = { "--version", NULL };
    r = run_wrapper_at(bin, NULL, a2, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    /* And it works: leaky's leaks, reported by the installed library. */
    char *json = tmp_name("installed.json");
    const char *a3[] = { "--quiet", "--exitcode", "3", "--json", json, prog_path("leaky"), NULL };
    r = run_wrapper_at(bin, NULL, a3, NULL);
    ck_assert_msg(r.status == 3, "installed mallocspy on leaky: status %d\n%s", r.status,
                  r.err);
    struct jval *j = load_report(json);
    check_leaky_leaks(j);
    json_free(j);
    run_free(&r);
    unlink(json);
    free(json);

    /* pkg-config finds it, and a program built with its flags links and runs. */
    ck_assert_msg(have_cmd("pkg-config"), "pkg-config not installed");
    char pcp[PATH_MAX + 32];
    snprintf(pcp, sizeof pcp, "PKG_CONFIG_PATH=%s/pkgconfig", libdir);
    const char *penv[] = { pcp, NULL };
    char *pargv[] = { "pkg-config", "--cflags", "--libs", "mallocspy", NULL };
    r = run_plain(pargv, penv);
    ck_assert_msg(r.status == 0, "pkg-config: status %d\n%s", r.status, r.err);
    char flag[PATH_MAX + 8];
    snprintf(flag, sizeof flag, "-I%s/include", prefix);
    ck_assert_msg(strstr(r.out, flag), "pkg-config: no %s in %s", flag, r.out);
    snprintf(flag, sizeof flag, "-L%s", libdir);
    ck_assert_msg(strstr(r.out, flag), "pkg-config: no %s in %s", flag, r.out);
    ck_assert_msg(strstr(r.out, "-lmallocspy"), "pkg-config: no -lmallocspy in %s", r.out);
    run_free(&r);
    char *mv[] = { "pkg-config", "--modversion", "mallocspy", NULL };
    r = run_plain(mv, penv);
    ck_assert_int_eq(r.status, 0);
    snprintf(want, sizeof want, "%s\n", header_version());
    ck_assert_str_eq(r.out, want);
    run_free(&r);

    ck_assert_msg(have_cmd("gcc"), "gcc not installed");
    char *src = tmp_name("use_pc.c");
    char *exe = tmp_name("use_pc");
    ck_assert(write_file(src,
        "#define _GNU_SOURCE\n#include <mallocspy.h>\n#include <dlfcn.h>\n#include <stdio.h>\n#include <string.h>\n"
        "int main(void)\n{\n"
        "    ms_malloc *m = ms_get_malloc();\n"
        "    char *p = ms_alloc(m, 100);\n"
        "    if (!m || !p)\n        return 1;\n"
        "    memset(p, 1, 100);\n"
        "    ms_free(m, p);\n"
        "    Dl_info info;\n"
        "    if (!dladdr((void *)ms_get_malloc, &info) || !info.dli_fname)\n        return 2;\n"
        "    printf(\"ok %s\\n%s\\n\", ms_version(), info.dli_fname);\n"
        "    return 0;\n}\n"));
    char *cargv[] = { "sh", "-c",
                      "gcc -Wall -Werror -o \"$1\" \"$2\" $(pkg-config --cflags --libs mallocspy) "
                      "-Wl,-rpath,\"$3\" -ldl", "sh", exe, src, libdir, NULL };
    r = run_plain(cargv, penv);
    ck_assert_msg(r.status == 0, "building with pkg-config's flags failed:\n%s", r.err);
    run_free(&r);
    char *xargv[] = { exe, NULL };
    const char *xenv[] = { "MALLOCSPY_OPTIONS=report=quiet", NULL };
    r = run_plain(xargv, xenv);
    ck_assert_msg(r.status == 0, "the program built with pkg-config: status %d\n%s",
                  r.status, r.err);
    char ver[64], loaded[PATH_MAX];
    ck_assert_msg(sscanf(r.out, "ok %63s\n%4095s", ver, loaded) == 2, "output: %s", r.out);
    ck_assert_str_eq(ver, header_version());
    ck_assert_msg(same_file(loaded, lib), "it loaded %s, not %s", loaded, lib);
    run_free(&r);
    unlink(src);
    unlink(exe);
    free(src);
    free(exe);
    remove_tree(prefix);
    free(prefix);
}
END_TEST

START_TEST(test_install_destdir)
{
    char *dest = tmp_name("destdir");
    char dv[PATH_MAX + 16];
    snprintf(dv, sizeof dv, "DESTDIR=%s", dest);
    const char *vars[] = { dv, "PREFIX=/usr", NULL };
    make_install(vars);
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/usr", dest);
    check_installed_files(root);
    check_pc_file(root, "/usr");

    /* The staged wrapper points at the final libdir, not at the staging area. */
    char bin[PATH_MAX];
    snprintf(bin, sizeof bin, "%s/bin/mallocspy", root);
    char *text = read_file(bin);
    ck_assert(text);
    ck_assert_msg(strstr(text, "\nMALLOCSPY_LIBDIR=\"/usr/lib\"\n"),
                  "the installed wrapper's MALLOCSPY_LIBDIR is not /usr/lib");
    ck_assert_msg(!strstr(text, dest), "the installed wrapper names the staging directory");
    free(text);

    /* Until the package is really installed, the staged wrapper finds the staged library
     * next to it (../lib). */
    if (access("/usr/lib/libmallocspy.so", F_OK) != 0) {
        const char *a1[] = { "--quiet", "sh", "-c", "printf '%s' \"$LD_PRELOAD\"", NULL };
        struct run r = run_wrapper_at(bin, NULL, a1, NULL);
        ck_assert_msg(r.status == 0, "staged mallocspy: status %d\n%s", r.status, r.err);
        char lib[PATH_MAX];
        snprintf(lib, sizeof lib, "%s/lib/libmallocspy.so", root);
        ck_assert_str_eq(r.out, lib);
        run_free(&r);
    }
    remove_tree(dest);
    free(dest);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("wrapper");
    TCase *t = tcase_create("usage");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_help);
    tcase_add_test(t, test_version);
    tcase_add_test(t, test_bad_usage);
    tcase_add_test(t, test_program_not_found);
    suite_add_tcase(s, t);
    t = tcase_create("run");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_status_passes_through);
    tcase_add_test(t, test_exitcode);
    tcase_add_test(t, test_json_report);
    tcase_add_test(t, test_log_report);
    tcase_add_test(t, test_relative_paths);
    tcase_add_test(t, test_environment_kept);
    tcase_add_test(t, test_depth_one);
    tcase_add_test(t, test_options_passed);
    suite_add_tcase(s, t);
    t = tcase_create("install");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_install_prefix);
    tcase_add_test(t, test_install_destdir);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    child_timeout = "120";   /* make install and the installed library's builds are slow */
    return run_suite(suite());
}
