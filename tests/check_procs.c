/* The processes of a run (mallocspy(1), "Several processes"): parents that outlive the
 * program (timeout, env, a shell, make) never destroy its reports; a name without %p goes
 * to the first process with something to say and the others get "<name>.<pid>"; a pid that
 * comes round again gets "<pid>-2"; follow_children=0 and children_skip decide which
 * programs get the preload, whichever way they are started; the SUMMARY line carries the
 * pid and the heap errors; and the wrapper collects the run (one JSON report with every
 * process, a log, pictures side by side, the exit status of --error-exitcode).  Real
 * parents and children throughout: timeout, env, sh, bash, make, gcc, expr, sed, tr, cat. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static char pre[PATH_MAX + 16];

static const char *preload(void)
{
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s", lib_path());
    return pre;
}

static const char *wrapper(void) { return repo_file("scripts/mallocspy"); }

/* Runs `env LD_PRELOAD=<lib> MALLOCSPY_OPTIONS=<opts> argv...` within the time limit: the
 * first program of argv is the one the user started (env takes no report of its own:
 * it replaces itself), the test's own timeout is not observed.  `in` feeds stdin. */
static struct run spied(char *const argv[], const char *opts, const char *in)
{
    static char op[8192];
    snprintf(op, sizeof op, "MALLOCSPY_OPTIONS=%s", opts);
    char *full[64] = { "timeout", (char *)child_timeout, "env", (char *)preload(), op };
    int k = 5;
    for (int i = 0; argv[i] && k < 63; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    const char *clean[] = { "LD_PRELOAD=", "MALLOCSPY_OPTIONS=", "MALLOCSPY_RUN=", NULL };
    struct run r = run_cmd(full, clean, in);
    ck_assert_msg(r.status != 124, "%s timed out", argv[0]);
    return r;
}

/* The wrapper with `args`, as a tool (no preload of the test's), in directory `dir`. */
static struct run wrap_in(const char *dir, const char *const args[], const char *in)
{
    char *argv[64];
    int k = 0;
    argv[k++] = "timeout";
    argv[k++] = (char *)child_timeout;
    argv[k++] = "sh";
    argv[k++] = "-c";
    argv[k++] = "cd \"$1\" && shift && exec \"$@\"";
    argv[k++] = "sh";
    argv[k++] = (char *)dir;
    argv[k++] = (char *)wrapper();
    for (int i = 0; args[i] && k < 63; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    const char *clean[] = { "LD_PRELOAD=", "MALLOCSPY_OPTIONS=", "MALLOCSPY_RUN=",
                            "MALLOCSPY_LIB=", NULL };
    struct run r = run_cmd(argv, clean, in);
    ck_assert_msg(r.status != 124, "mallocspy %s timed out", args[0]);
    return r;
}

/* ---- the reports a directory holds ------------------------------------------------- */

struct rep {
    char name[256];          /* file name in the directory */
    struct jval *j;          /* NULL for a text log */
    char *text;
    int pid;
    const char *exe;
};

struct reps {
    int n;
    struct rep r[64];
};

/* Every file of dir whose name ends in `suffix` (".json": parsed; else read as text, the
 * pid taken from its SUMMARY line). */
static struct reps reports_in(const char *dir, const char *suffix)
{
    struct reps s;
    memset(&s, 0, sizeof s);
    DIR *d = opendir(dir);
    ck_assert_msg(d, "cannot open %s", dir);
    for (struct dirent *e; (e = readdir(d));) {
        if (!ends_with(e->d_name, suffix) || s.n >= 64)
            continue;
        struct rep *r = &s.r[s.n++];
        snprintf(r->name, sizeof r->name, "%s", e->d_name);
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        r->text = read_file(path);
        ck_assert_msg(r->text, "cannot read %s", path);
        if (!strcmp(suffix, ".json")) {
            r->j = json_parse(r->text);
            ck_assert_msg(r->j && jstr(r->j, "tool"), "%s is no JSON report:\n%.2000s", path,
                          r->text);
            r->pid = (int)jnum(r->j, "pid");
            r->exe = jstr(r->j, "exe");
        } else {
            ck_assert_msg(summary_line(r->text, &r->pid), "%s has no SUMMARY line:\n%.2000s",
                          path, r->text);
        }
    }
    closedir(d);
    return s;
}

static void reps_free(struct reps *s)
{
    for (int i = 0; i < s->n; i++) {
        json_free(s->r[i].j);
        free(s->r[i].text);
    }
    s->n = 0;
}

static const struct rep *rep_named(const struct reps *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->r[i].name, name))
            return &s->r[i];
    return NULL;
}

/* The report of the program whose file name is `exe_base`; exactly one must be there. */
static const struct rep *rep_of(const struct reps *s, const char *exe_base)
{
    const struct rep *found = NULL;
    int n = 0;
    for (int i = 0; i < s->n; i++)
        if (s->r[i].exe && !strcmp(base_name(s->r[i].exe), exe_base)) {
            found = &s->r[i];
            n++;
        }
    ck_assert_msg(n == 1, "%d report(s) of %s", n, exe_base);
    return found;
}

static int count_of(const struct reps *s, const char *exe_base)
{
    int n = 0;
    for (int i = 0; i < s->n; i++)
        n += s->r[i].exe && !strcmp(base_name(s->r[i].exe), exe_base);
    return n;
}

/* Each file not named `named` is "<stem>.<pid>[-k]<ext>", its own process's. */
static void check_pid_names(const struct reps *s, const char *stem, const char *ext,
                            const char *named)
{
    for (int i = 0; i < s->n; i++) {
        const struct rep *r = &s->r[i];
        if (!strcmp(r->name, named))
            continue;
        char want[300];
        snprintf(want, sizeof want, "%s.%d%s", stem, r->pid, ext);
        char want2[300];
        snprintf(want2, sizeof want2, "%s.%d-", stem, r->pid);
        ck_assert_msg(!strcmp(r->name, want) || !strncmp(r->name, want2, strlen(want2)),
                      "%s holds the report of pid %d", r->name, r->pid);
    }
}

static int errors_of(const struct jval *j) { return (int)jnum(j, "summary.errors"); }

/* ---- 1. parents that outlive the program ----------------------------------------- */

/* err_double (a double free, found with the quarantine) runs under `parent`: the files
 * named r.json and r.txt are err_double's, and every other process of the run that wrote a
 * report has its own r.<pid>.json and r.<pid>.txt.  `others`: the programs (file names)
 * that must have one. */
static void check_parent(const char *what, char *const argv[], const char *const others[])
{
    char *dir = tmp_dir("parent");
    char opts[2 * PATH_MAX];
    snprintf(opts, sizeof opts, "quarantine=1m:json_path=%s/r.json:log_path=%s/r.txt", dir,
             dir);
    struct run r = spied(argv, opts, NULL);
    ck_assert_msg(strstr(r.out, "survived"), "%s: err_double did not run:\n%s\n%s", what,
                  r.out, r.err);
    struct reps js = reports_in(dir, ".json"), ts = reports_in(dir, ".txt");
    const struct rep *named = rep_named(&js, "r.json");
    ck_assert_msg(named && ends_with(named->exe, "/err_double"), "%s: r.json is %s's", what,
                  named ? named->exe : "nobody");
    ck_assert_msg(errors_of(named->j) == 1 &&
                  !strcmp(jstr(named->j, "errors.0.kind"), "double_free"),
                  "%s: the double free is not in r.json", what);
    const struct rep *log = rep_named(&ts, "r.txt");
    ck_assert_msg(log && log->pid == named->pid, "%s: r.txt is pid %d's, not err_double's (%d)",
                  what, log ? log->pid : 0, named->pid);
    ck_assert_msg(strstr(log->text, "ERROR: mallocspy: attempting double-free"),
                  "%s: no double free in r.txt:\n%s", what, log->text);
    check_pid_names(&js, "r", ".json", "r.json");
    check_pid_names(&ts, "r", ".txt", "r.txt");
    for (int i = 0; others[i]; i++) {
        const struct rep *o = rep_of(&js, others[i]);
        char want[64];
        snprintf(want, sizeof want, "r.%d.json", o->pid);
        ck_assert_msg(!strcmp(o->name, want), "%s: %s's report is %s", what, others[i],
                      o->name);
    }
    /* One report per process, each JSON with its log. */
    for (int i = 0; i < js.n; i++)
        for (int k = 0; k < i; k++)
            ck_assert_msg(js.r[i].pid != js.r[k].pid, "%s: two reports of pid %d", what,
                          js.r[i].pid);
    ck_assert_msg(ts.n == js.n, "%s: %d log(s) for %d JSON report(s)", what, ts.n, js.n);
    reps_free(&js);
    reps_free(&ts);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}

START_TEST(test_parent_timeout)
{
    /* The issue's own command: timeout is observed too, forks err_double and exits last. */
    char *argv[] = { "timeout", "20", (char *)prog_path("err_double"), NULL };
    const char *others[] = { "timeout", NULL };
    check_parent("timeout", argv, others);
}
END_TEST

START_TEST(test_parent_env)
{
    char *argv[] = { "env", "X=1", (char *)prog_path("err_double"), NULL };
    const char *others[] = { NULL };
    check_parent("env", argv, others);
}
END_TEST

START_TEST(test_parent_shells)
{
    /* dash ends with _exit (no report of its own); a bash script writes one after its
     * children. */
    char cmd[2 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "%s; %s; echo done", prog_path("err_double"), prog_path("leaky"));
    char *sh[] = { "sh", "-c", cmd, NULL };
    const char *o1[] = { "leaky", NULL };
    check_parent("sh -c", sh, o1);
    char *dir = tmp_dir("script");
    char script[PATH_MAX + 16], text[3 * PATH_MAX];
    snprintf(script, sizeof script, "%s/run.sh", dir);
    snprintf(text, sizeof text, "#!/bin/bash\n%s\necho done\n", cmd);
    ck_assert(write_file(script, text));
    chmod(script, 0755);
    char *bash[] = { script, NULL };
    const char *o2[] = { "leaky", "bash", NULL };
    check_parent("a bash script", bash, o2);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_parent_make)
{
    ck_assert_msg(have_cmd("make"), "make not installed");
    char *dir = tmp_dir("make");
    char mk[PATH_MAX + 16], text[3 * PATH_MAX];
    snprintf(mk, sizeof mk, "%s/Makefile", dir);
    /* make starts each line with posix_spawn, or through sh when it needs one. */
    snprintf(text, sizeof text, "all:\n\t%s\n\t%s 0 && true\n", prog_path("err_double"),
             prog_path("leaky"));
    ck_assert(write_file(mk, text));
    char *argv[] = { "make", "-s", "-f", mk, NULL };
    const char *others[] = { "leaky", "make", NULL };
    check_parent("make", argv, others);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 2. names unique over the run -------------------------------------------------- */

/* Whether this test can make a pid come round: a new pid namespace (a user namespace
 * makes it possible without root) whose last pid can be set. */
static bool can_reuse_pids(void)
{
    char *argv[] = { "unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
                     "sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid", NULL };
    struct run r = run_tool(argv, NULL);
    bool ok = r.status == 0;
    run_free(&r);
    return ok;
}

START_TEST(test_pid_reuse)
{
    ck_assert_msg(have_cmd("unshare") && can_reuse_pids(), "unshare cannot make a pid "
                  "namespace here (user namespaces off?): this test needs one");
    char *dir = tmp_dir("pidreuse");
    /* In a new pid namespace, three programs in turn get the same pid: the last pid is set
     * back before each.  leaky has something to say (r.json is its), then leaky again and
     * leak_none, each with a name of its own. */
    char script[4 * PATH_MAX];
    snprintf(script, sizeof script,
             "%s >/dev/null & a=$!; wait $a\n"
             "echo $((a - 1)) > /proc/sys/kernel/ns_last_pid\n"
             "%s >/dev/null & b=$!; wait $b\n"
             "echo $((a - 1)) > /proc/sys/kernel/ns_last_pid\n"
             "%s >/dev/null & c=$!; wait $c\n"
             "echo $((a - 1)) > /proc/sys/kernel/ns_last_pid\n"
             "%s >/dev/null & d=$!; wait $d\n"
             "echo $a $b $c $d\n",
             prog_path("leaky"), prog_path("leaky"), prog_path("leak_none"),
             prog_path("leak_none"));
    char o1[PATH_MAX + 64], o2[PATH_MAX + 64];
    snprintf(o1, sizeof o1, "MALLOCSPY_OPTIONS=json_path=%s/r.json", dir);
    snprintf(o2, sizeof o2, "MALLOCSPY_OPTIONS=json_path=%s/p.%%p.json", dir);
    const char *opts[] = { o1, o2 };
    for (int round = 0; round < 2; round++) {
        char *argv[] = { "unshare", "--user", "--map-root-user", "--pid", "--fork",
                         "--mount-proc", "env", (char *)preload(), (char *)opts[round], "sh",
                         "-c", script, NULL };
        struct run r = run_tool(argv, NULL);
        int a, b, c, d;
        ck_assert_msg(r.status == 0 && sscanf(r.out, "%d %d %d %d", &a, &b, &c, &d) == 4,
                      "status %d\n%s\n%s", r.status, r.out, r.err);
        ck_assert_msg(a == b && b == c && c == d, "the pid did not come round: %d %d %d %d",
                      a, b, c, d);
        struct reps js = reports_in(dir, ".json");
        char name[64];
        if (round == 0) {
            /* r.json: the first with something to say; the others, with the same pid:
             * r.<pid>.json, r.<pid>-2.json, r.<pid>-3.json. */
            ck_assert_msg(js.n == 4, "%d report(s), 4 expected", js.n);
            const struct rep *first = rep_named(&js, "r.json");
            ck_assert_msg(first && ends_with(first->exe, "/leaky"), "r.json is not leaky's");
            snprintf(name, sizeof name, "r.%d.json", a);
            const struct rep *second = rep_named(&js, name);
            ck_assert_msg(second && ends_with(second->exe, "/leaky"), "no %s of leaky", name);
            for (int k = 2; k <= 3; k++) {
                snprintf(name, sizeof name, "r.%d-%d.json", a, k);
                const struct rep *x = rep_named(&js, name);
                ck_assert_msg(x && ends_with(x->exe, "/leak_none"), "no %s of leak_none", name);
            }
        } else {
            /* p.<pid>.json, then p.<pid>-2.json... */
            ck_assert_msg(js.n == 8, "%d report(s), 8 expected (4 of round 1)", js.n);
            for (int k = 1; k <= 4; k++) {
                if (k == 1)
                    snprintf(name, sizeof name, "p.%d.json", a);
                else
                    snprintf(name, sizeof name, "p.%d-%d.json", a, k);
                const struct rep *x = rep_named(&js, name);
                ck_assert_msg(x && ends_with(x->exe, k <= 2 ? "/leaky" : "/leak_none"),
                              "no %s of the %s run", name, k <= 2 ? "leaky" : "leak_none");
            }
        }
        reps_free(&js);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A second run may take the names of the first (they are not its processes'), and a file
 * that was there when the run began is not the run's whatever its time says (here, a
 * minute ahead: as a file written within the clock's last tick would look). */
START_TEST(test_next_run_takes_names)
{
    char *dir = tmp_dir("rerun");
    char opts[PATH_MAX + 64], path[PATH_MAX + 16];
    snprintf(opts, sizeof opts, "json_path=%s/r.json", dir);
    snprintf(path, sizeof path, "%s/r.json", dir);
    for (int i = 0; i < 3; i++) {
        if (i == 2) {
            ck_assert(write_file(path, "written just before the run\n"));
            struct timeval ahead[2];
            gettimeofday(&ahead[0], NULL);
            ahead[0].tv_sec += 60;
            ahead[1] = ahead[0];
            ck_assert(utimes(path, ahead) == 0);
        }
        char *argv[] = { (char *)prog_path("leak_none"), NULL };
        struct run r = spied(argv, opts, NULL);
        ck_assert_int_eq(r.status, 0);
        struct reps js = reports_in(dir, ".json");
        ck_assert_msg(js.n == 1 && rep_named(&js, "r.json") && js.r[0].pid != 0,
                      "run %d: %d report(s), r.json %s", i, js.n,
                      rep_named(&js, "r.json") ? "there" : "missing");
        reps_free(&js);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 3. the SUMMARY line ----------------------------------------------------------- */

START_TEST(test_summary_line)
{
    char *dir = tmp_dir("summary");
    char opts[2 * PATH_MAX];
    /* Heap errors are counted: two (a double free and an overflow's damage) in err_guard's
     * case, one in err_double's. */
    snprintf(opts, sizeof opts, "quarantine=1m:json_path=%s/e.json", dir);
    char *e1[] = { (char *)prog_path("err_double"), NULL };
    struct run r = spied(e1, opts, NULL);
    int pid = 0;
    const char *sum = summary_line(r.err, &pid);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/e.json", dir);
    struct jval *j = load_report(path);
    char want[256];
    snprintf(want, sizeof want, "==%d==SUMMARY: mallocspy: 0 byte(s) leaked in 0 allocation(s); "
             "1 heap error(s).\n", (int)jnum(j, "pid"));
    ck_assert_msg(sum && !strcmp(sum, want), "the last line is not\n%s:\n%s", want, r.err);
    json_free(j);
    run_free(&r);

    /* Leaks: the banner and the SUMMARY line carry the same pid, and the line LeakSanitizer
     * users grep for is in it as it always was. */
    char *l1[] = { (char *)prog_path("leaky"), NULL };
    r = spied(l1, "", NULL);
    sum = summary_line(r.err, &pid);
    ck_assert_msg(sum && strstr(sum, "SUMMARY: mallocspy: 4300 byte(s) leaked in 4 "
                  "allocation(s).\n") && ends_with(r.err, sum), "no SUMMARY line:\n%s", r.err);
    snprintf(want, sizeof want, "\n==%d==ERROR: mallocspy: detected memory leaks\n", pid);
    ck_assert_msg(strstr(r.err, want), "the banner is not pid %d's:\n%s", pid, r.err);
    run_free(&r);

    /* A clean process's log: the summary line alone, with its pid. */
    snprintf(opts, sizeof opts, "log_path=%s/clean.log", dir);
    char *c1[] = { (char *)prog_path("leak_none"), NULL };
    r = spied(c1, opts, NULL);
    snprintf(path, sizeof path, "%s/clean.log", dir);
    char *text = read_file(path);
    ck_assert_msg(text && summary_line(text, &pid) == text && count_lines(text) == 1 &&
                  ends_with(text, "==SUMMARY: mallocspy: 0 byte(s) leaked in 0 allocation(s).\n"),
                  "the clean log:\n%s", text ? text : "(none)");
    free(text);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 4. follow_children=0 ---------------------------------------------------------- */

/* A library of the user's own, preloaded after mallocspy: it must stay for the children. */
static char *build_other_lib(const char *dir)
{
    char src[PATH_MAX + 16], so[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/other.c", dir);
    snprintf(so, sizeof so, "%s/libother.so", dir);
    ck_assert(write_file(src, "int other_lib_marker;\n"));
    char *argv[] = { "gcc", "-shared", "-fPIC", "-o", so, src, NULL };
    run_tool_ok(argv);
    return strdup(so);
}

static const char *const modes[] = {
    "execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve",
    "posix_spawn", "posix_spawnp", "system", "raw",
};

/* Runs `procs_spawn MODE cat /proc/self/maps` under `opts` (and `other` preloaded after
 * mallocspy when not NULL): the libraries the child has loaded. */
/* mallocspy itself among a process's mappings: libmallocspy.so, or the file it links to
 * (libmallocspy.so.0.1.0); libmallocspy-skip.so is not it. */
static bool maps_have_mallocspy(const char *maps)
{
    for (const char *p = maps; (p = strstr(p, "/libmallocspy.so")); p++) {
        char next = p[strlen("/libmallocspy.so")];
        if (next == '\n' || next == '.')
            return true;
    }
    return false;
}

static char *child_maps(const char *mode, const char *opts, const char *other)
{
    bool search = !strcmp(mode, "execvp") || !strcmp(mode, "execlp") ||
                  !strcmp(mode, "posix_spawnp") || !strcmp(mode, "system");
    char both[2 * PATH_MAX + 16];
    snprintf(both, sizeof both, "LD_PRELOAD=%s %s", lib_path(), other ? other : "");
    char op[PATH_MAX];
    snprintf(op, sizeof op, "MALLOCSPY_OPTIONS=%s", opts);
    char *argv[] = { "env", both, op, (char *)prog_path("procs_spawn"), (char *)mode,
                     search ? "cat" : "/bin/cat", "/proc/self/maps", NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && strstr(r.out, "[stack]"), "%s: status %d\n%s", mode,
                  r.status, r.err);
    free(r.err);
    return r.out;
}

START_TEST(test_no_children_every_way)
{
    char *dir = tmp_dir("nochildren");
    char *other = build_other_lib(dir);
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        /* Observed children load mallocspy: the check below can fail. */
        char *with = child_maps(modes[i], "report=quiet", other);
        ck_assert_msg(maps_have_mallocspy(with), "%s: the child has no mallocspy "
                      "with follow_children=1", modes[i]);
        free(with);
        char *without = child_maps(modes[i], "report=quiet:follow_children=0", other);
        ck_assert_msg(!strstr(without, "libmallocspy") && strstr(without, "/libother.so\n"),
                      "%s: follow_children=0, and the child has:\n%.1500s", modes[i], without);
        free(without);
    }
    free(other);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A bash script that starts programs, runs subshells and command substitutions (bash's
 * forked children end with exit, and would report): only bash reports.  Its own view of
 * the environment is the children's: LD_PRELOAD holds the user's library alone. */
START_TEST(test_no_children_script)
{
    char *dir = tmp_dir("noscript");
    char *other = build_other_lib(dir);
    char script[PATH_MAX + 16], text[4 * PATH_MAX];
    snprintf(script, sizeof script, "%s/run.sh", dir);
    snprintf(text, sizeof text,
             "#!/bin/bash\n"
             "echo \"preload=[$LD_PRELOAD]\"\n"
             "x=$(echo sub)\n"
             "( %s 0 >/dev/null )\n"
             "expr 1 + 1 >/dev/null\n"
             "%s | tr a b >/dev/null\n"
             "grep -c libmallocspy /proc/self/maps\n"
             "echo done $x\n",
             prog_path("leaky"), prog_path("leaky"));
    ck_assert(write_file(script, text));
    chmod(script, 0755);
    char both[2 * PATH_MAX + 16], op[PATH_MAX + 64];
    snprintf(both, sizeof both, "LD_PRELOAD=%s %s", lib_path(), other);
    snprintf(op, sizeof op, "MALLOCSPY_OPTIONS=follow_children=0:json_path=%s/r.%%p.json", dir);
    char *argv[] = { "env", both, op, script, NULL };
    struct run r = run_tool(argv, NULL);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "preload=[%s]\n0\ndone sub\n", other);
    ck_assert_msg(r.status == 1 || r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.out, want);
    ck_assert_msg(!strstr(r.err, "leak_three"), "a child reported:\n%s", r.err);
    struct reps js = reports_in(dir, ".json");
    ck_assert_msg(js.n == 1 && ends_with(js.r[0].exe, "/bash"), "%d report(s), the first "
                  "%s's", js.n, js.n ? js.r[0].exe : "nobody");
    reps_free(&js);
    run_free(&r);

    /* The wrapper's --no-children: one report in the run's. */
    char json[PATH_MAX + 16];
    snprintf(json, sizeof json, "%s/w.json", dir);
    const char *args[] = { "--quiet", "--no-children", "--json", json, script, NULL };
    r = wrap_in(dir, args, NULL);
    struct jval *j = load_report(json);
    const struct jval *procs = need_member(j, "processes", J_ARR);
    ck_assert_msg(procs->n == 1 && ends_with(jstr(procs->items[0], "exe"), "/bash") &&
                  jnum(j, "run.processes") == 1, "--no-children: %zu process(es)", procs->n);
    json_free(j);
    run_free(&r);
    free(other);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 5. children_skip -------------------------------------------------------------- */

START_TEST(test_skip_every_way)
{
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char *maps = child_maps(modes[i], "report=quiet:children_skip=cat", NULL);
        if (!strcmp(modes[i], "raw")) {
            /* An exec mallocspy cannot see: cat starts with it, and sees it is skipped. */
            ck_assert_msg(maps_have_mallocspy(maps), "raw: no mallocspy in cat");
        } else {
            ck_assert_msg(!maps_have_mallocspy(maps) &&
                          strstr(maps, "/libmallocspy-skip.so\n"),
                          "%s: children_skip=cat, and cat has:\n%.1500s", modes[i], maps);
        }
        free(maps);
    }
}
END_TEST

/* A skipped program's own children are observed again: env is skipped, leaky is not,
 * however env was started; and a program started where mallocspy cannot see (a bare
 * system call) writes no report when skipped. */
START_TEST(test_skip_children_observed)
{
    char *dir = tmp_dir("skipkids");
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "json_path=%s/r.%%p.json:report=quiet:children_skip=env,sh",
             dir);
    static const char *const ways[] = { "execvp", "posix_spawnp", "system" };
    for (size_t i = 0; i < 3; i++) {
        char *argv[] = { (char *)prog_path("procs_spawn"), (char *)ways[i], "env",
                         (char *)prog_path("leaky"), NULL };
        struct run r = spied(argv, opts, NULL);
        ck_assert_msg(strstr(r.out, "leaky: leaked"), "%s: leaky did not run", ways[i]);
        struct reps js = reports_in(dir, ".json");
        ck_assert_msg(count_of(&js, "leaky") == 1 && count_of(&js, "env") == 0 &&
                      count_of(&js, "dash") == 0, "%s env leaky: %d report(s) of leaky, %d of "
                      "env", ways[i], count_of(&js, "leaky"), count_of(&js, "env"));
        reps_free(&js);
        run_free(&r);
        remove_tree(dir);
        mkdir(dir, 0755);
    }
    /* The bare system call: leaky itself skipped (and, for the control, not). */
    for (int skip = 0; skip < 2; skip++) {
        snprintf(opts, sizeof opts, "json_path=%s/r.%%p.json:report=quiet%s", dir,
                 skip ? ":children_skip=x,leaky" : "");
        char *argv[] = { (char *)prog_path("procs_spawn"), "raw", (char *)prog_path("leaky"),
                         NULL };
        struct run r = spied(argv, opts, NULL);
        ck_assert_msg(strstr(r.out, "leaky: leaked"), "raw: leaky did not run");
        struct reps js = reports_in(dir, ".json");
        ck_assert_msg(count_of(&js, "leaky") == !skip, "raw exec, skip=%d: %d report(s) of "
                      "leaky", skip, count_of(&js, "leaky"));
        reps_free(&js);
        run_free(&r);
        remove_tree(dir);
        mkdir(dir, 0755);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The noise of a test suite: expr, sed and tr leak a little each; skipped by name or by
 * path, they report nothing, and the script's other programs still do. */
START_TEST(test_skip_noise)
{
    char *dir = tmp_dir("noise");
    char script[PATH_MAX + 16], text[4 * PATH_MAX];
    snprintf(script, sizeof script, "%s/suite.sh", dir);
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "n=0\n"
             "for i in 1 2 3; do n=$(expr $n + $i); done\n"
             "echo $n | sed s/6/six/ | tr a-z A-Z\n"
             "%s 0\n",
             prog_path("leaky"));
    ck_assert(write_file(script, text));
    chmod(script, 0755);
    static const char *const skips[] = { "", ":children_skip=expr,sed,tr",
                                         ":children_skip=*/bin/expr,/usr/bin/sed,/*/tr" };
    for (size_t i = 0; i < 3; i++) {
        char opts[PATH_MAX + 128];
        snprintf(opts, sizeof opts, "json_path=%s/r.%%p.json:report=quiet%s", dir, skips[i]);
        char *argv[] = { script, NULL };
        struct run r = spied(argv, opts, NULL);
        ck_assert_msg(r.status == 0 && strstr(r.out, "SIX\nleaky: leaked"), "%s: status %d\n%s\n%s",
                      skips[i], r.status, r.out, r.err);
        struct reps js = reports_in(dir, ".json");
        int noise = count_of(&js, "expr") + count_of(&js, "sed") + count_of(&js, "tr");
        ck_assert_msg(count_of(&js, "leaky") == 1, "%s: leaky's report is missing", skips[i]);
        if (i == 0)
            ck_assert_msg(noise == 5, "without children_skip: %d report(s) of expr, sed and tr "
                          "(5 expected)", noise);
        else
            ck_assert_msg(noise == 0, "children_skip%s: still %d report(s) of expr, sed and "
                          "tr", skips[i] + 14, noise);
        reps_free(&js);
        run_free(&r);
        remove_tree(dir);
        mkdir(dir, 0755);
        ck_assert(write_file(script, text));
        chmod(script, 0755);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 6. the wrapper collects the run ----------------------------------------------- */

/* The pid in a flame graph's title: "(pid N)". */
static int picture_pid(const char *path)
{
    char *text = read_file(path);
    ck_assert_msg(text, "no picture at %s", path);
    const char *p = strstr(text, " (pid ");
    int pid = 0;
    ck_assert_msg(p && sscanf(p, " (pid %d)", &pid) == 1, "%s has no pid in its title", path);
    free(text);
    return pid;
}

START_TEST(test_wrapper_gcc)
{
    ck_assert_msg(have_cmd("gcc"), "gcc not installed");
    char *dir = tmp_dir("gcc");
    char src[PATH_MAX + 16];
    snprintf(src, sizeof src, "%s/x.c", dir);
    ck_assert(write_file(src, "#include <stdio.h>\nint twice(int x) { return 2 * x; }\n"
                              "int main(void) { printf(\"%d\\n\", twice(21)); return 0; }\n"));
    const char *args[] = { "--quiet", "--json", "r.json", "--flamegraph", "fg.svg", "--weight",
                           "allocated", "--", "gcc", "-O2", "-c", "x.c", NULL };
    struct run r = wrap_in(dir, args, NULL);
    ck_assert_msg(r.status == 0, "gcc under the wrapper: status %d\n%s", r.status, r.err);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/x.o", dir);
    ck_assert_msg(access(path, F_OK) == 0, "gcc made no x.o");
    snprintf(path, sizeof path, "%s/r.json", dir);
    struct jval *j = load_report(path);
    const struct jval *procs = need_member(j, "processes", J_ARR);
    /* The driver, the compiler proper and the assembler, each with its report and its
     * own picture: fg.svg for one, fg.<pid>.svg beside it for the others. */
    int cc1 = 0, driver = 0, as = 0;
    for (size_t i = 0; i < procs->n; i++) {
        const char *exe = base_name(jstr(procs->items[i], "exe"));
        int pid = (int)jnum(procs->items[i], "pid");
        if (!strcmp(exe, "cc1"))
            cc1 = pid;
        else if (strstr(exe, "gcc"))
            driver = pid;
        else if (ends_with(exe, "as"))
            as = pid;
        snprintf(path, sizeof path, "%s/fg.%d.svg", dir, pid);
        char named[PATH_MAX + 16];
        snprintf(named, sizeof named, "%s/fg.svg", dir);
        bool own = access(path, F_OK) == 0;
        ck_assert_msg(own || picture_pid(named) == pid, "no picture of %s (pid %d)", exe, pid);
        if (own)
            ck_assert_int_eq(picture_pid(path), pid);
    }
    ck_assert_msg(cc1 && driver && as && procs->n == 3 && jnum(j, "run.processes") == 3,
                  "the run: %zu process(es), cc1 %d, driver %d, as %d", procs->n, cc1, driver, as);
    /* The top level is one of them, as the library alone would have named it. */
    int top = (int)jnum(j, "pid");
    ck_assert_msg(top == cc1 || top == driver || top == as, "r.json's own pid %d", top);
    json_free(j);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* --log FILE: each process's log, then a line for each process; --json: every process. */
START_TEST(test_wrapper_log_and_json)
{
    char *dir = tmp_dir("wlog");
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "%s 0; %s 0; %s 5", prog_path("leaky"), prog_path("leak_none"),
             prog_path("leaky"));
    const char *args[] = { "--log", "r.log", "--json", "r.json", "sh", "-c", cmd, NULL };
    struct run r = wrap_in(dir, args, NULL);
    ck_assert_msg(r.status == 5, "status %d (the program's own: 5)\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/r.log", dir);
    char *log = read_file(path);
    ck_assert_msg(log, "no r.log");
    ck_assert_msg(count_str(log, "ERROR: mallocspy: detected memory leaks") == 2 &&
                  count_str(log, "SUMMARY: mallocspy: ") == 3, "r.log:\n%s", log);
    ck_assert_msg(strstr(log, "mallocspy: run of 3 process(es): 2 leaked, 0 had heap errors\n"),
                  "no run summary in r.log:\n%s", log);
    snprintf(path, sizeof path, "%s/r.json", dir);
    struct jval *j = load_report(path);
    const struct jval *procs = need_member(j, "processes", J_ARR);
    ck_assert_msg(procs->n == 3 && jnum(j, "run.processes") == 3 &&
                  jnum(j, "run.processes_leaked") == 2 && jnum(j, "run.leaked_bytes") == 8600 &&
                  jnum(j, "run.leaked_blocks") == 8 && jnum(j, "run.errors") == 0,
                  "the run's totals are wrong");
    /* Each process's line names it, with its pid and its leaks. */
    for (size_t i = 0; i < procs->n; i++) {
        char line[PATH_MAX + 128];
        const struct jval *p = procs->items[i];
        snprintf(line, sizeof line, "==%.0f== %s: %.0f byte(s) leaked in %.0f allocation(s).\n",
                 jnum(p, "pid"), jstr(p, "exe"), jnum(p, "summary.definite_bytes"),
                 jnum(p, "summary.definite_blocks"));
        ck_assert_msg(strstr(log, line), "no line\n%sin r.log:\n%s", line, log);
    }
    /* The top level is leaky's, the first with something to say. */
    ck_assert_msg(ends_with(jstr(j, "exe"), "/leaky") &&
                  jnum(j, "pid") == jnum(procs->items[0], "pid"), "r.json is %s's", jstr(j, "exe"));
    json_free(j);
    free(log);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_wrapper_error_exitcode)
{
    char *dir = tmp_dir("wexit");
    char cmd[3 * PATH_MAX];
    struct {
        const char *prog, *flag, *value;
        int status;          /* the wrapper's */
    } cases[] = {
        { "leaky", "--error-exitcode", "9", 9 },           /* a child leaked */
        { "err_double", "--error-exitcode", "9", 9 },      /* a child erred */
        { "leak_none", "--error-exitcode", "9", 3 },       /* all clean: the program's */
        { "err_double", "--exitcode", "9", 3 },            /* errors are no leaks */
        { "leaky", "--exitcode", "9", 9 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* The child's own status, under the option, is printed; the shell exits 3. */
        snprintf(cmd, sizeof cmd, "%s; echo child=$?; exit 3", prog_path(cases[i].prog));
        char flag[64];
        snprintf(flag, sizeof flag, "%s=%s", cases[i].flag, cases[i].value);
        const char *args[] = { "--quiet", "--quarantine", "1m", flag, "sh", "-c", cmd, NULL };
        struct run r = wrap_in(dir, args, NULL);
        ck_assert_msg(r.status == cases[i].status, "%s %s: status %d, %d expected\n%s",
                      flag, cases[i].prog, r.status, cases[i].status, r.err);
        /* The library's options: the leaking or erring child itself exits with 9. */
        bool child9 = cases[i].status == 9;
        ck_assert_msg(strstr(r.out, child9 ? "child=9\n" : "child=0\n"), "%s %s: %s", flag,
                      cases[i].prog, r.out);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* --json with %p while the wrapper collects the run (for its exit status): each process's
 * report in its own file, named after its pid. */
START_TEST(test_wrapper_json_per_process)
{
    char *dir = tmp_dir("wsplit");
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "%s 0; %s 0", prog_path("leaky"), prog_path("leak_none"));
    const char *args[] = { "--quiet", "--exitcode", "3", "--json", "out/r.%p.json", "sh", "-c",
                           cmd, NULL };
    struct run r = wrap_in(dir, args, NULL);
    ck_assert_msg(r.status == 3, "status %d\n%s", r.status, r.err);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/out", dir);
    struct reps js = reports_in(out, ".json");
    ck_assert_msg(js.n == 2 && count_of(&js, "leaky") == 1 && count_of(&js, "leak_none") == 1,
                  "%d report(s)", js.n);
    check_pid_names(&js, "r", ".json", "");
    reps_free(&js);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* make as the program: make, and the programs its rules run, in one report. */
START_TEST(test_wrapper_make)
{
    ck_assert_msg(have_cmd("make"), "make not installed");
    char *dir = tmp_dir("wmake");
    char mk[PATH_MAX + 16], text[3 * PATH_MAX];
    snprintf(mk, sizeof mk, "%s/Makefile", dir);
    snprintf(text, sizeof text, "all:\n\t%s\n\t%s 0\n", prog_path("err_double"),
             prog_path("leaky"));
    ck_assert(write_file(mk, text));
    const char *args[] = { "--quiet", "--quarantine", "1m", "--json", "r.json",
                           "--error-exitcode", "7", "make", "-s", NULL };
    struct run r = wrap_in(dir, args, NULL);
    ck_assert_msg(r.status == 7, "status %d\n%s", r.status, r.err);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/r.json", dir);
    struct jval *j = load_report(path);
    const struct jval *procs = need_member(j, "processes", J_ARR);
    int seen_make = 0, seen_err = 0;
    for (size_t i = 0; i < procs->n; i++) {
        const char *exe = base_name(jstr(procs->items[i], "exe"));
        seen_make += !strcmp(exe, "make");
        seen_err += !strcmp(exe, "err_double");
    }
    /* err_double erred and exited 7 (error_exitcode): make stopped there. */
    ck_assert_msg(seen_make == 1 && seen_err == 1 && jnum(j, "run.processes_with_errors") == 1,
                  "make: %d, err_double: %d", seen_make, seen_err);
    ck_assert_msg(ends_with(jstr(j, "exe"), "/err_double"), "r.json is %s's", jstr(j, "exe"));
    json_free(j);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The wrapper waits for the program: its standard input is the program's still, and a
 * signal sent to the wrapper reaches the program; the wrapper then dies of it too. */
START_TEST(test_wrapper_stdin_and_signals)
{
    char *dir = tmp_dir("wsig");
    const char *a1[] = { "--json", "r.json", "--", "cat", NULL };
    struct run r = wrap_in(dir, a1, "hello through the wrapper\n");
    ck_assert_msg(r.status == 0 && !strcmp(r.out, "hello through the wrapper\n"),
                  "cat under the wrapper: status %d, stdout %s", r.status, r.out);
    run_free(&r);

    char json[PATH_MAX + 16];
    snprintf(json, sizeof json, "%s/s.json", dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        unsetenv("LD_PRELOAD");
        unsetenv("MALLOCSPY_OPTIONS");
        unsetenv("MALLOCSPY_RUN");
        execl(wrapper(), wrapper(), "--json", json, "--", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    /* Once the program runs (its process is there), the wrapper gets SIGTERM. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "pgrep -P %d >/dev/null", (int)pid);
        if (system(cmd) == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_msg(now.tv_sec - t0.tv_sec < 20, "the program never started");
        usleep(20000);
    }
    usleep(200000);
    kill(pid, SIGTERM);
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    clock_gettime(CLOCK_MONOTONIC, &now);
    ck_assert_msg(now.tv_sec - t0.tv_sec < 15, "the wrapper waited for sleep 30");
    ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "the wrapper did not die of "
                  "SIGTERM (status 0x%x)", st);
    /* sleep was killed by the signal passed on: no report, the run's file all the same,
     * holding none. */
    struct jval *j = load_report(json);
    ck_assert_msg(jnum(j, "run.processes") == 0, "%.0f process report(s)", jnum(j, "run.processes"));
    json_free(j);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The wrapper's options that said nothing and did nothing. */
START_TEST(test_wrapper_option_drift)
{
    char *dir = tmp_dir("wdrift");
    /* "--guard 32": the size, not a program called 32. */
    const char *a1[] = { "--guard", "32", "sh", "-c", "printf '%s' \"$MALLOCSPY_OPTIONS\"", NULL };
    struct run r = wrap_in(dir, a1, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.out, "guard=32"), "--guard 32: status %d, "
                  "options '%s'\n%s", r.status, r.out, r.err);
    run_free(&r);
    const char *a2[] = { "--guard", "sh", "-c", "printf '%s' \"$MALLOCSPY_OPTIONS\"", NULL };
    r = wrap_in(dir, a2, NULL);
    ck_assert_msg(r.status == 0 && !strcmp(r.out, "guard=1"), "--guard sh: %s", r.out);
    run_free(&r);
    /* --timeline without --json, --weight without a picture: one warning each, and the
     * program runs. */
    struct {
        const char *args[6];
        const char *says;
    } cases[] = {
        { { "--timeline", "--", "true", NULL }, "--timeline" },
        { { "--weight", "allocated", "--", "true", NULL }, "--weight" },
    };
    for (size_t i = 0; i < 2; i++) {
        r = wrap_in(dir, cases[i].args, NULL);
        ck_assert_msg(r.status == 0 && count_lines(r.err) == 1 &&
                      !strncmp(r.err, "mallocspy: warning: ", 20) && strstr(r.err, cases[i].says),
                      "%s: status %d, stderr:\n%s", cases[i].says, r.status, r.err);
        run_free(&r);
    }
    /* With what they need, no warning. */
    const char *a3[] = { "--timeline", "--json", "t.json", "--weight", "allocated", "--folded",
                         "f.folded", "--quiet", "--", "true", NULL };
    r = wrap_in(dir, a3, NULL);
    ck_assert_msg(r.status == 0 && !r.err[0], "stderr: %s", r.err);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("procs");
    TCase *t = tcase_create("library");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_parent_timeout);
    tcase_add_test(t, test_parent_env);
    tcase_add_test(t, test_parent_shells);
    tcase_add_test(t, test_parent_make);
    tcase_add_test(t, test_pid_reuse);
    tcase_add_test(t, test_next_run_takes_names);
    tcase_add_test(t, test_summary_line);
    tcase_add_test(t, test_no_children_every_way);
    tcase_add_test(t, test_no_children_script);
    tcase_add_test(t, test_skip_every_way);
    tcase_add_test(t, test_skip_children_observed);
    tcase_add_test(t, test_skip_noise);
    suite_add_tcase(s, t);
    t = tcase_create("wrapper");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_wrapper_gcc);
    tcase_add_test(t, test_wrapper_log_and_json);
    tcase_add_test(t, test_wrapper_error_exitcode);
    tcase_add_test(t, test_wrapper_json_per_process);
    tcase_add_test(t, test_wrapper_make);
    tcase_add_test(t, test_wrapper_stdin_and_signals);
    tcase_add_test(t, test_wrapper_option_drift);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    child_timeout = "120";   /* gcc under the preload, and make */
    return run_suite(suite());
}
