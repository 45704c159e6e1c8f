/* The guest never hurts its host: real tools under the preload behave as without it;
 * nothing reaches a debuginfod server unless asked, and then within its time; a
 * set-user-ID program gets neither; hosts that forbid execve, reap every child, close or
 * reuse every descriptor, or exit while their threads allocate, still get their report,
 * and nothing of theirs is touched; plugins loaded by a relative path or late in C++
 * are named; report files are never written through a symbolic link or into another
 * user's file; a clean process says nothing and starts nothing; with log_path, warnings
 * go to the log; the wrapper warns of a static program; the symbol cache spares the next
 * process the debug information the first one read.
 *
 * Each test says how it could fail: most carry a control run, the same setting with the
 * one thing the test is about changed, which must come out the other way. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

/* The lines mallocspy writes when frames keep their module and offset, and when
 * debuginfod ran out of time (src/symbolize.c). */
#define NOTE_UNNAMED "frames are shown as module+offset"
#define NOTE_LATE "debuginfod could not name"

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* How many lines of text hold needle. */
static int lines_with(const char *text, const char *needle)
{
    int n = 0;
    const char *p = text;
    char line[8192];
    while (p && next_line(&p, line, sizeof line))
        n += strstr(line, needle) != NULL;
    return n;
}

/* The first line of text holding needle (static buffer; "" if none). */
static const char *line_with(const char *text, const char *needle)
{
    static char line[8192];
    const char *p = text;
    while (p && next_line(&p, line, sizeof line))
        if (strstr(line, needle))
            return line;
    return "";
}

/* How many lines of text are mallocspy's warnings ("mallocspy: " at the start). */
static int warnings(const char *text)
{
    int n = !strncmp(text, "mallocspy: ", 11);
    for (const char *p = text; (p = strstr(p, "\nmallocspy: ")); p++)
        n++;
    return n;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The names in directory `dir` (not . and ..), comma-separated, into out; how many. */
static int dir_entries(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d, "cannot open %s: %s", dir, strerror(errno));
    int n = 0;
    out[0] = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", n ? ", " : "", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* ---- reports ------------------------------------------------------------------------- */

/* The JSON report at path, with the members every report has. */
static struct jval *load_json(const char *path)
{
    struct jval *v = load_report(path);
    need_member(v, "summary", J_OBJ);
    need_member(v, "leaks", J_ARR);
    const struct jval *s = jget(v, "symbolized");
    ck_assert_msg(s && s->type == J_BOOL, "no \"symbolized\" boolean in the report");
    return v;
}

static bool symbolized(const struct jval *rep) { return jget(rep, "symbolized")->b; }

/* The one definite leak group of `bytes` bytes (found by size: its frames may have no
 * names). */
static const struct jval *group_of(const struct jval *rep, double bytes)
{
    const struct jval *leaks = jget(rep, "leaks"), *g = NULL;
    int n = 0;
    for (size_t i = 0; i < leaks->n; i++) {
        const char *kind = jstr(leaks->items[i], "kind");
        if (jnum(leaks->items[i], "bytes") == bytes && kind && !strcmp(kind, "definite")) {
            g = leaks->items[i];
            n++;
        }
    }
    ck_assert_msg(n == 1, "%d definite leak groups of %.0f bytes (1 expected)", n, bytes);
    const struct jval *st = jget(g, "stack");
    ck_assert_msg(st && st->type == J_ARR && st->n > 0, "the group of %.0f bytes has no stack",
                  bytes);
    return g;
}

static const struct jval *frame0(const struct jval *g) { return jget(g, "stack")->items[0]; }

/* Frame f is function fn in tests/progs/<src>, at the line of marker there. */
static void check_named(const struct jval *f, const char *fn, const char *src,
                        const char *marker)
{
    const char *got = jstr(f, "function");
    ck_assert_msg(got && !strcmp(got, fn), "frame named %s, not %s", got ? got : "null", fn);
    ck_assert_msg(is_src_file(jstr(f, "file"), src), "%s is in %s, not %s", fn,
                  jstr(f, "file") ? jstr(f, "file") : "null", src);
    ck_assert_msg(jnum(f, "line") == marker_line(src, marker), "%s at line %g, not %d", fn,
                  jnum(f, "line"), marker_line(src, marker));
}

/* Frame f has no name but its module (an absolute path ending in `module`), offset and
 * build ID: what a report says when the symbolizer could not help. */
static void check_bare(const struct jval *f, const char *module)
{
    const struct jval *fn = jget(f, "function");
    ck_assert_msg(fn && fn->type == J_NULL, "frame named %s without a symbolizer",
                  jstr(f, "function"));
    const char *m = jstr(f, "module");
    ck_assert_msg(m && m[0] == '/' && !strcmp(base_name(m), module), "frame in module %s, "
                  "not %s", m ? m : "null", module);
    hexval(jstr(f, "offset"));
    const char *id = jstr(f, "build_id");
    ck_assert_msg(id && strlen(id) >= 16 && strspn(id, "0123456789abcdef") == strlen(id),
                  "frame without a build ID: %s", id ? id : "null");
}

struct frame_counts {
    int frames, with_build_id, named;
};

/* Every frame of every stack in array `key` of rep has its address, module, offset and
 * build_id members (null or not), and is counted. */
static void count_frames(const struct jval *rep, const char *key, struct frame_counts *c)
{
    const struct jval *a = need_member(rep, key, J_ARR);
    for (size_t i = 0; i < a->n; i++) {
        const struct jval *st = jget(a->items[i], "stack");
        ck_assert_msg(st && st->type == J_ARR, "an entry of \"%s\" without a stack", key);
        for (size_t k = 0; k < st->n; k++) {
            const struct jval *f = st->items[k];
            static const char *const members[] = { "address", "function", "module", "offset",
                                                   "build_id", "file", "line" };
            for (size_t m = 0; m < sizeof members / sizeof members[0]; m++)
                ck_assert_msg(jget(f, members[m]), "a frame of \"%s\" without \"%s\"", key,
                              members[m]);
            c->frames++;
            c->with_build_id += jstr(f, "build_id") != NULL;
            c->named += jstr(f, "function") != NULL;
        }
    }
}

/* ---- 1. real programs -------------------------------------------------------------- */

#define TOOL_OPTS "report=profile:report_reachable=1"

/* OpenSSL starts its error lines with the thread's ID, an address that differs from run
 * to run: "C0F1DD14797F0000:error:..." becomes "#:error:...". */
static void mask_thread_ids(char *s)
{
    for (char *line = s; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        size_t n = strspn(line, "0123456789ABCDEF");
        if (n >= 8 && !strncmp(line + n, ":error:", 7)) {
            line[0] = '#';
            memmove(line + 1, line + n, strlen(line + n) + 1);
        }
    }
}

/* Runs argv without the preload and under it (json_path, log_path and TOOL_OPTS): the
 * same exit status (`status`), the same stdout and stderr; the JSON report parses and is
 * complete, its frames carry build IDs, and it was symbolized.  Returns the report (the
 * caller frees it).  (A scratch copy of mallocspy that raised SIGSEGV after its report
 * at exit, as the in-process libdw did after OPENSSL_cleanup, failed test_openssl and
 * test_ssh here; one that left "build_id" out of some frames failed count_frames.) */
static struct jval *same_under_preload(const char *what, char *const argv[],
                                       const char *const env[], int status)
{
    struct run a = run_tool(argv, env);
    ck_assert_msg(a.status == status, "%s without the preload: status %d, not %d\n%.1500s", what,
                  a.status, status, a.err);
    ck_assert_msg(a.out[0] || a.err[0], "%s printed nothing: nothing to compare", what);
    struct spied s = spy_reports(argv, TOOL_OPTS, env, true);
    ck_assert_msg(s.r.status == a.status, "%s under the preload: status %d (139: SIGSEGV), "
                  "%d without\nstderr: %.2000s", what, s.r.status, a.status, s.r.err);
    mask_thread_ids(a.err);
    mask_thread_ids(s.r.err);
    ck_assert_msg(!strcmp(a.out, s.r.out), "%s: stdout differs under the preload\nwithout: "
                  "%.500s\nwith: %.500s", what, a.out, s.r.out);
    ck_assert_msg(!strcmp(a.err, s.r.err), "%s: stderr differs under the preload\nwithout: "
                  "%.1000s\nwith: %.1000s", what, a.err, s.r.err);
    struct jval *rep = load_json(s.json_path);
    need_member(rep, "profile", J_OBJ);
    need_member(rep, "mallocspy", J_OBJ);
    ck_assert_msg(jnum(rep, "summary.allocations") > 0, "%s: no allocation seen", what);
    struct frame_counts c = { 0 };
    count_frames(rep, "leaks", &c);
    count_frames(rep, "sites", &c);
    ck_assert_msg(c.frames > 0 && c.with_build_id > 0, "%s: %d frames, %d with a build ID",
                  what, c.frames, c.with_build_id);
    ck_assert_msg(symbolized(rep) && c.named > 0, "%s: not symbolized (%d of %d frames named)",
                  what, c.named, c.frames);
    char *log = read_file(s.log_path);
    ck_assert_msg(log && strstr(log, "SUMMARY: mallocspy: "), "%s: no complete log:\n%.2000s",
                  what, log ? log : "(none)");
    free(log);
    run_free(&a);
    spied_free(&s);
    return rep;
}

static void need_cmd(const char *cmd, const char *package)
{
    ck_assert_msg(have_cmd(cmd), "%s is not installed (Debian package %s; make check installs "
                  "it: scripts/deps.sh test)", cmd, package);
}

/* A text file for the tools to read. */
static char *sample_file(void)
{
    char *path = tmp_name("sample.txt");
    char text[4096] = "";
    for (int i = 0; i < 100; i++) {
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l, "line %d of the guest's sample\n", i);
    }
    ck_assert(write_file(path, text));
    return path;
}

/* libdw inside the process used to call into OpenSSL after OPENSSL_cleanup at exit:
 * SIGSEGV, which the status comparison catches. */
START_TEST(test_openssl)
{
    need_cmd("openssl", "openssl");
    char *file = sample_file();
    char *dgst[] = { "openssl", "dgst", "-sha256", file, NULL };
    json_free(same_under_preload("openssl dgst", dgst, NULL, 0));
    char *enc[] = { "openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-S", "0102030405060708",
                    "-pass", "pass:guest", "-base64", "-in", file, NULL };
    json_free(same_under_preload("openssl enc", enc, NULL, 0));
    char *bad[] = { "openssl", "dgst", "-sha256", "/nonexistent/guest", NULL };
    json_free(same_under_preload("openssl dgst of a missing file", bad, NULL, 1));
    unlink(file);
    free(file);
}
END_TEST

START_TEST(test_curl)
{
    need_cmd("curl", "curl");
    char *file = sample_file();
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "file://%s", file);
    char *get[] = { "curl", "-sS", url, NULL };
    json_free(same_under_preload("curl file://", get, NULL, 0));
    char *missing[] = { "curl", "-sS", "file:///nonexistent/guest", NULL };
    json_free(same_under_preload("curl of a missing file", missing, NULL, 37));
    char *version[] = { "curl", "-V", NULL };
    json_free(same_under_preload("curl -V", version, NULL, 0));
    unlink(file);
    free(file);
}
END_TEST

START_TEST(test_ssh)
{
    need_cmd("ssh", "openssh-client");
    char *version[] = { "ssh", "-V", NULL };
    json_free(same_under_preload("ssh -V", version, NULL, 0));
    char *config[] = { "ssh", "-G", "-F", "/dev/null", "guest.invalid", NULL };
    json_free(same_under_preload("ssh -G", config, NULL, 0));
}
END_TEST

START_TEST(test_node)
{
    need_cmd("node", "nodejs");
    static const char script[] =
        "const crypto = require('crypto');\n"
        "let acc = 0, words = [];\n"
        "for (let r = 0; r < 200; r++) {\n"
        "  const m = new Map();\n"
        "  for (let i = 0; i < 500; i++) m.set('k' + (i % 97), { i, s: 'v'.repeat(i % 13) });\n"
        "  const j = JSON.stringify([...m.entries()]);\n"
        "  acc = (acc * 31 + j.length + JSON.parse(j).length) % 1000000007;\n"
        "  words.push(Buffer.from(j).toString('base64').slice(0, 8));\n"
        "}\n"
        "const h = crypto.createHash('sha256').update(words.join(',')).digest('hex');\n"
        "console.log(acc, h);\n";
    char *path = tmp_name("guest.js");
    ck_assert(write_file(path, script));
    char *argv[] = { "node", path, NULL };
    json_free(same_under_preload("node script", argv, NULL, 0));
    unlink(path);
    free(path);
}
END_TEST

/* The JVM reserves address space and commits it in pieces with MAP_FIXED: none of it may
 * be reported as a mapping leak.  On failure, the groups are listed by their innermost
 * functions. */
static void check_no_mapping_leak(const struct jval *rep, const char *what)
{
    char list[4096] = "";
    const struct jval *leaks = jget(rep, "leaks");
    for (size_t i = 0; i < leaks->n; i++) {
        const char *kind = jstr(leaks->items[i], "kind");
        if (!kind || strcmp(kind, "mapping"))
            continue;
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "\n  %.0f bytes in %.0f mapping(s) from %s < %s < %s",
                 jnum(leaks->items[i], "bytes"), jnum(leaks->items[i], "blocks"),
                 jstr(leaks->items[i], "stack.0.function"),
                 jstr(leaks->items[i], "stack.1.function"),
                 jstr(leaks->items[i], "stack.2.function"));
    }
    ck_assert_msg(jnum(rep, "summary.mapping_bytes") == 0, "%s: mapping_bytes %.0f:%s", what,
                  jnum(rep, "summary.mapping_bytes"), list);
}

START_TEST(test_java_version)
{
    need_cmd("java", "openjdk-17-jdk-headless");
    char *argv[] = { "java", "-version", NULL };
    struct jval *rep = same_under_preload("java -version", argv, NULL, 0);
    check_no_mapping_leak(rep, "java -version");
    json_free(rep);
}
END_TEST

START_TEST(test_java_threads)
{
    need_cmd("javac", "openjdk-17-jdk-headless");
    static const char source[] =
        "import java.util.*;\n"
        "import java.util.concurrent.*;\n"
        "public class GuestChurn {\n"
        "    public static void main(String[] args) throws Exception {\n"
        "        ExecutorService pool = Executors.newFixedThreadPool(4);\n"
        "        List<Future<Long>> parts = new ArrayList<>();\n"
        "        for (int t = 0; t < 4; t++) {\n"
        "            final int seed = t;\n"
        "            parts.add(pool.submit(() -> {\n"
        "                long acc = seed;\n"
        "                for (int r = 0; r < 200; r++) {\n"
        "                    Map<String, List<Integer>> m = new HashMap<>();\n"
        "                    for (int i = 0; i < 500; i++) {\n"
        "                        String k = \"k\" + (i % 97);\n"
        "                        m.computeIfAbsent(k, x -> new ArrayList<>()).add(i * r);\n"
        "                    }\n"
        "                    for (List<Integer> l : m.values())\n"
        "                        for (int v : l) acc = (acc * 31 + v) % 1000000007L;\n"
        "                }\n"
        "                return acc;\n"
        "            }));\n"
        "        }\n"
        "        long total = 0;\n"
        "        for (Future<Long> f : parts) total = (total + f.get()) % 1000000007L;\n"
        "        pool.shutdown();\n"
        "        pool.awaitTermination(60, TimeUnit.SECONDS);\n"
        "        System.out.println(\"threads 4 total \" + total);\n"
        "    }\n"
        "}\n";
    char *dir = tmp_dir("java");
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "%s/GuestChurn.java", dir);
    ck_assert(write_file(src, source));
    char *javac[] = { "javac", "-d", dir, src, NULL };
    run_tool_ok(javac);
    char *argv[] = { "java", "-cp", dir, "GuestChurn", NULL };
    struct jval *rep = same_under_preload("java GuestChurn", argv, NULL, 0);
    check_no_mapping_leak(rep, "java GuestChurn (4 threads)");
    json_free(rep);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 2. debuginfod ----------------------------------------------------------------- */

struct di_run {
    double elapsed;
    int accepted;
    bool cache_made;
    struct spied s;
    struct jval *rep;
};

/* A stripped copy of leak_basic (its debug information is nowhere here, so debuginfod
 * would be asked for it) under the preload, a silent server in DEBUGINFOD_URLS, the
 * debuginfod client's own timeout long (60 s) so that only mallocspy's budget can end a
 * wait, and no symbol cache; `opts` added. */
static void debuginfod_run(const char *opts, struct di_run *d)
{
    char exe[PATH_MAX + 64];
    stripped_copy("leak_basic", exe, sizeof exe);
    char *top = tmp_dir("debuginfod");
    struct silent srv;
    silent_start(&srv);
    char urls[64], dcache[PATH_MAX + 64], xdg[PATH_MAX + 64];
    snprintf(urls, sizeof urls, "DEBUGINFOD_URLS=http://127.0.0.1:%d", srv.port);
    snprintf(dcache, sizeof dcache, "DEBUGINFOD_CACHE_PATH=%s/dcache", top);
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s/xdg", top);
    const char *env[] = { urls, dcache, xdg, "DEBUGINFOD_TIMEOUT=60", NULL };
    char o[512];
    snprintf(o, sizeof o, "symbol_cache=0%s%s", opts ? ":" : "", opts ? opts : "");
    char *argv[] = { exe, NULL };
    double t0 = seconds();
    d->s = spy_reports(argv, o, env, true);
    d->elapsed = seconds() - t0;
    d->accepted = silent_stop(&srv);
    d->cache_made = access(dcache + strlen("DEBUGINFOD_CACHE_PATH="), F_OK) == 0;
    ck_assert_msg(d->s.r.status == 0, "status %d\n%.1500s", d->s.r.status, d->s.r.err);
    ck_assert_msg(!d->s.r.err[0], "stderr with log_path:\n%.1500s", d->s.r.err);
    d->rep = load_json(d->s.json_path);
    d->s.log = read_file(d->s.log_path);
    ck_assert_msg(d->s.log, "no log");
    /* leak_basic's 100-byte leak, its frames without names (the program is stripped). */
    check_bare(frame0(group_of(d->rep, 100)), base_name(exe));
    remove_tree(top);
    free(top);
    unlink(exe);
}

START_TEST(test_debuginfod_not_asked)
{
    struct di_run d;
    debuginfod_run(NULL, &d);
    /* A hang test: the client would wait 60 s for the silent server. */
    ck_assert_msg(d.elapsed < 10, "the program took %.1f s to exit", d.elapsed);
    ck_assert_msg(d.accepted == 0, "%d connection(s) to DEBUGINFOD_URLS without debuginfod=1",
                  d.accepted);
    ck_assert_msg(!d.cache_made, "the debuginfod cache directory was created");
    ck_assert_msg(!strstr(d.s.log, "debuginfod"), "the log speaks of debuginfod:\n%.1500s",
                  d.s.log);
    json_free(d.rep);
    spied_free(&d.s);
}
END_TEST

/* The control of the test above: asked, the same run connects, within its budget.  (A
 * scratch copy that handed DEBUGINFOD_* and --debuginfod to every helper failed the test
 * above and test_setuid_program; one that gave the helper 30 s instead of
 * debuginfod_timeout ended by its own guard at 17 s, without the line this test wants.) */
START_TEST(test_debuginfod_budget)
{
    struct di_run d;
    debuginfod_run("debuginfod=1:debuginfod_timeout=2", &d);
    ck_assert_msg(d.elapsed < 20, "debuginfod_timeout=2, and the program took %.1f s to exit",
                  d.elapsed);
    ck_assert_msg(d.accepted >= 1, "debuginfod=1, and no connection to DEBUGINFOD_URLS");
    ck_assert_msg(lines_with(d.s.log, NOTE_LATE) == 1 &&
                  strstr(line_with(d.s.log, NOTE_LATE), "debuginfod_timeout=2"),
                  "not one line in the log saying debuginfod ran out of time:\n%.1500s", d.s.log);
    ck_assert_msg(symbolized(d.rep), "the frames debuginfod was not needed for were not named");
    json_free(d.rep);
    spied_free(&d.s);
}
END_TEST

/* ---- 3. a set-user-ID program ------------------------------------------------------- */

/* A stripped copy of guest_secure (linked with -lmallocspy: a set-user-ID program ignores
 * LD_PRELOAD paths) in dir, named name. */
static void secure_copy(const char *dir, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    char *cp[] = { "cp", (char *)prog_path("guest_secure"), out, NULL };
    run_tool_ok(cp);
    char *strip[] = { "strip", out, NULL };
    run_tool_ok(strip);
}

/* Runs prog (as nobody through setpriv, or as we are) with DEBUGINFOD_* at a silent
 * server, the caches under the fresh directory envdir, and MALLOCSPY_OPTIONS asking for
 * debuginfod and a JSON report in envdir; the number of connections. */
static int secure_run(const char *prog, const char *envdir, bool as_nobody, struct run *r)
{
    struct silent srv;
    silent_start(&srv);
    char urls[64], dcache[PATH_MAX + 64], xdg[PATH_MAX + 64], home[PATH_MAX + 64],
        opts[PATH_MAX + 128];
    snprintf(urls, sizeof urls, "DEBUGINFOD_URLS=http://127.0.0.1:%d", srv.port);
    snprintf(dcache, sizeof dcache, "DEBUGINFOD_CACHE_PATH=%s/dcache", envdir);
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s/xdg", envdir);
    snprintf(home, sizeof home, "HOME=%s/home", envdir);
    snprintf(opts, sizeof opts, "MALLOCSPY_OPTIONS=debuginfod=1:debuginfod_timeout=2:"
             "symbol_cache=1:json_path=%s/report.json", envdir);
    const char *env[] = { urls, dcache, xdg, home, opts, "DEBUGINFOD_TIMEOUT=60", NULL };
    char *nobody[] = { "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                       (char *)prog, NULL };
    char *direct[] = { (char *)prog, NULL };
    *r = run_tool(as_nobody ? nobody : direct, env);
    return silent_stop(&srv);
}

START_TEST(test_setuid_program)
{
    /* What the test needs, said rather than skipped. */
    ck_assert_msg(geteuid() == 0, "this test needs root: it makes a set-user-ID-root program");
    ck_assert_msg(getpwnam("nobody"), "this test needs the user 'nobody' to run as");
    need_cmd("setpriv", "util-linux");
    char *dir = tmp_dir("setuid");
    struct statvfs vfs;
    ck_assert_msg(statvfs(dir, &vfs) == 0 && !(vfs.f_flag & ST_NOSUID), "%s is on a file "
                  "system mounted nosuid: a set-user-ID program cannot be tested there", dir);
    char prog[PATH_MAX + 64];
    secure_copy(dir, "guest_secure.setuid", prog, sizeof prog);
    ck_assert_msg(chown(prog, 0, 0) == 0 && chmod(prog, 04755) == 0, "chown/chmod %s: %s",
                  prog, strerror(errno));
    /* The caches' parent is writable by anyone: whatever is not created there was not
     * created because mallocspy did not, not for want of permission. */
    char *envdir = tmp_dir("setuid-env");
    ck_assert(chmod(envdir, 01777) == 0);

    struct run r;
    int accepted = secure_run(prog, envdir, true, &r);
    /* No set-user-ID-root program is left behind, whatever the assertions below say. */
    unlink(prog);
    char want[128];
    snprintf(want, sizeof want, "secure=1 euid=0 uid=%d mallocspy=%s\n",
             (int)getpwnam("nobody")->pw_uid, MALLOCSPY_VERSION);
    ck_assert_msg(!strcmp(r.out, want), "the set-user-ID program did not run as one, with "
                  "mallocspy loaded (expected \"%s\"): status %d\nstdout: %.1000s\n"
                  "stderr: %.1500s\n"
                  "(a kernel or mount that ignores the set-user-ID bit cannot run this test)",
                  want, r.status, r.out, r.err);
    ck_assert_msg(r.status == 0, "status %d\n%.1500s", r.status, r.err);
    ck_assert_msg(accepted == 0, "%d connection(s) to DEBUGINFOD_URLS from a set-user-ID "
                  "program", accepted);
    char entries[4096];
    ck_assert_msg(dir_entries(envdir, entries, sizeof entries) == 0, "a set-user-ID program "
                  "created %s in %s (MALLOCSPY_OPTIONS, debuginfod or the symbol cache)",
                  entries, envdir);
    /* The report was made (MALLOCSPY_OPTIONS ignored: on stderr), its libc frames named:
     * names were looked for, so debuginfod could have been asked. */
    ck_assert_msg(strstr(r.err, "Direct leak of 3579 byte(s)") &&
                  strstr(r.err, " in __libc_start_main"), "no named report on stderr:\n%.1500s",
                  r.err);
    run_free(&r);

    /* Control: the same program, not set-user-ID, in the same environment, connects and
     * creates its caches. */
    char plain[PATH_MAX + 64];
    secure_copy(dir, "guest_secure.plain", plain, sizeof plain);
    char *envdir2 = tmp_dir("setuid-env-control");
    accepted = secure_run(plain, envdir2, false, &r);
    ck_assert_msg(r.status == 0 && !strncmp(r.out, "secure=0 ", 9),
                  "control: status %d\n%.500s%.1500s", r.status, r.out, r.err);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/dcache", envdir2);
    ck_assert_msg(accepted >= 1 && is_dir(path), "control: %d connection(s), %s %s", accepted,
                  path, is_dir(path) ? "made" : "not made");
    snprintf(path, sizeof path, "%s/xdg/mallocspy", envdir2);
    ck_assert_msg(is_dir(path), "control: no symbol cache at %s", path);
    snprintf(path, sizeof path, "%s/report.json", envdir2);
    ck_assert_msg(access(path, F_OK) == 0, "control: MALLOCSPY_OPTIONS' json_path not written");
    run_free(&r);
    remove_tree(envdir2);
    remove_tree(envdir);
    remove_tree(dir);
    free(envdir2);
    free(envdir);
    free(dir);
}
END_TEST

/* ---- 4. a host that forbids execve -------------------------------------------------- */

#define SECCOMP_BYTES 4321

/* guest_seccomp with its filter `mode`, `runs` times: how the helper ended is learnt in
 * a race with its death, and each run must say it.  A mallocspy that asks too early
 * (waitpid(WNOHANG) right after the socket's end of file, before the helper is a zombie)
 * says "did not answer in time" in up to half the runs on two cores, fewer on a busy or
 * a single one: 40 runs make such a test fail almost always, not always. */
static void check_seccomp(const char *mode, const char *why, int runs)
{
    for (int i = 0; i < runs; i++) {
        char *argv[] = { (char *)prog_path("guest_seccomp"), (char *)mode, NULL };
        struct spied s = spy_reports(argv, NULL, NULL, true);
        char want[64];
        snprintf(want, sizeof want, "filter=%s\n", mode);
        ck_assert_msg(s.r.status == 0 && !strcmp(s.r.out, want), "%s: status %d (159: SIGSYS)"
                      "\nstdout: %.1000s\nstderr: %.1500s", mode, s.r.status, s.r.out, s.r.err);
        ck_assert_msg(!s.r.err[0], "%s: stderr with log_path:\n%.1500s", mode, s.r.err);
        struct jval *rep = load_json(s.json_path);
        const struct jval *g = group_of(rep, SECCOMP_BYTES);
        char *log = read_file(s.log_path);
        ck_assert_msg(log && strstr(log, "Direct leak of 4321 byte(s)"), "%s: no text report:"
                      "\n%.1500s", mode, log ? log : "(none)");
        if (!why) {
            /* The control: no filter, names, no note. */
            check_named(frame0(g), "guest_seccomp_leak", "guest_seccomp.c", "GUEST-SECCOMP");
            ck_assert_msg(symbolized(rep) && !strstr(log, NOTE_UNNAMED), "%s:\n%.1500s", mode, log);
        } else {
            check_bare(frame0(g), "guest_seccomp");
            ck_assert_msg(!symbolized(rep), "%s: \"symbolized\" is true", mode);
            ck_assert_msg(lines_with(log, NOTE_UNNAMED) == 1, "%s: not one line saying why "
                          "frames have no names:\n%.1500s", mode, log);
            ck_assert_msg(strstr(line_with(log, NOTE_UNNAMED), why), "%s (run %d): the line "
                          "does not say \"%s\":\n%.1500s", mode, i + 1, why,
                          line_with(log, NOTE_UNNAMED));
        }
        free(log);
        json_free(rep);
        spied_free(&s);
    }
}

START_TEST(test_seccomp_control) { check_seccomp("none", NULL, 1); }
END_TEST

START_TEST(test_seccomp_eperm) { check_seccomp("eperm", "Operation not permitted", 3); }
END_TEST

/* The helper dies of SIGSYS (31) when it calls execve; the program does not. */
START_TEST(test_seccomp_kill_thread) { check_seccomp("kill-thread", "killed by signal 31", 40); }
END_TEST

START_TEST(test_seccomp_kill_process)
{
    check_seccomp("kill-process", "killed by signal 31", 40);
}
END_TEST

/* ---- 5. hosts: children, descriptors, threads --------------------------------------- */

struct reaping {
    long child;              /* the program's own child */
    int reaped, foreign_reaped, signals, foreign_signals;
    bool all;                /* waitpid(-1) said there was none left */
    char foreign[256];       /* what the program saw that it did not make */
};

static void parse_reaping(const char *out, struct reaping *w)
{
    memset(w, 0, sizeof *w);
    char line[256];
    const char *p = out;
    w->child = -1;
    while (next_line(&p, line, sizeof line))
        if (sscanf(line, "child %ld", &w->child) == 1)
            break;
    ck_assert_msg(w->child > 0, "the program forked no child:\n%.1500s", out);
    for (p = out; next_line(&p, line, sizeof line);) {
        long pid;
        bool sig = sscanf(line, "signal %ld", &pid) == 1;
        bool reap = sscanf(line, "handler-reaped %ld", &pid) == 1 ||
                    sscanf(line, "main-reaped %ld", &pid) == 1;
        if (!strcmp(line, "reaped-all"))
            w->all = true;
        if (!sig && !reap)
            continue;
        if (pid == w->child) {
            w->signals += sig;
            w->reaped += reap;
        } else {
            w->foreign_signals += sig;
            w->foreign_reaped += reap;
            size_t l = strlen(w->foreign);
            snprintf(w->foreign + l, sizeof w->foreign - l, " [%s]", line);
        }
    }
}

/* A SIGCHLD handler that reaps everything and a waitpid(-1) loop in main; mallocspy's
 * helper is started mid-run and stays.  A helper the program could see would make the
 * loop wait for ever (the program's alarm: status 142), or be signalled and reaped. */
START_TEST(test_sigchld_reaper)
{
    char *argv[] = { (char *)prog_path("guest_sigchld"), NULL };
    struct spied s = spy_reports(argv, NULL, NULL, true);
    struct reaping w;
    parse_reaping(s.r.out, &w);
    ck_assert_msg(s.r.status != 142, "the program's waitpid(-1) loop waited for mallocspy's "
                  "helper (SIGALRM after 20 s)\nstdout:\n%.1500s", s.r.out);
    ck_assert_msg(s.r.status == 0, "status %d\nstdout: %.1000s\nstderr: %.1500s", s.r.status,
                  s.r.out, s.r.err);
    ck_assert_msg(w.foreign_signals == 0 && w.foreign_reaped == 0, "the program was told of, "
                  "or reaped, a child it did not make:%s\nstdout:\n%.1500s", w.foreign, s.r.out);
    ck_assert_msg(w.reaped == 1 && w.all, "its own child reaped %d time(s)%s\n%.1500s", w.reaped,
                  w.all ? "" : ", waitpid(-1) not done", s.r.out);
    struct jval *rep = load_json(s.json_path);
    check_named(frame0(group_of(rep, 2345)), "guest_sigchld_leak", "guest_sigchld.c",
                "GUEST-SIGCHLD");
    json_free(rep);
    spied_free(&s);
}
END_TEST

/* The same host, with a "symbolizer" that exits at once (symbolizer=/bin/true): a child
 * that dies mid-run, which the program must never be told of. */
START_TEST(test_sigchld_helper_exits)
{
    char *argv[] = { (char *)prog_path("guest_sigchld"), NULL };
    struct spied s = spy_reports(argv, "symbolizer=/bin/true", NULL, true);
    struct reaping w;
    parse_reaping(s.r.out, &w);
    ck_assert_msg(s.r.status == 0, "status %d\nstdout: %.1000s\nstderr: %.1500s", s.r.status,
                  s.r.out, s.r.err);
    ck_assert_msg(w.foreign_signals == 0 && w.foreign_reaped == 0, "the program was told of, "
                  "or reaped, a child it did not make (mallocspy's helper):%s\nstdout:\n%.1500s",
                  w.foreign, s.r.out);
    ck_assert_msg(w.reaped == 1 && w.all, "its own child reaped %d time(s)\n%.1500s", w.reaped,
                  s.r.out);
    struct jval *rep = load_json(s.json_path);
    check_bare(frame0(group_of(rep, 2345)), "guest_sigchld");
    json_free(rep);
    spied_free(&s);
}
END_TEST

#define FDS_BYTES 1357

/* guest_fds in `mode` (the text report on stderr, the JSON report in a file): the report
 * comes out, named or with the note saying why not, on the program's original stderr;
 * its files (`victims` of them) are as it left them, its connection received nothing;
 * with must_reach, mallocspy's descriptors were among those it closed or replaced. */
static void check_fds(const char *mode, int victims, bool must_reach)
{
    char *dir = tmp_dir("fds");
    char *argv[] = { (char *)prog_path("guest_fds"), (char *)mode, dir, NULL };
    struct spied s = spy_reports(argv, NULL, NULL, false);
    ck_assert_msg(s.r.status == 0, "%s: status %d\nstdout: %.1000s\nstderr: %.1500s", mode,
                  s.r.status, s.r.out, s.r.err);
    ck_assert_msg(!s.r.out[0], "%s: something reached the program's stdout:\n%.1500s", mode,
                  s.r.out);
    ck_assert_msg(strstr(s.r.err, "Direct leak of 1357 byte(s)"), "%s: no report on the "
                  "original stderr:\n%.1500s", mode, s.r.err);
    struct jval *rep = load_json(s.json_path);
    const struct jval *g = group_of(rep, FDS_BYTES);
    if (symbolized(rep)) {
        check_named(frame0(g), "guest_fds_leak", "guest_fds.c", "GUEST-FDS");
        ck_assert_msg(names_fn(s.r.err, strlen(s.r.err), "guest_fds_leak"), "%s: the text "
                      "report is not named:\n%.1500s", mode, s.r.err);
    } else {
        check_bare(frame0(g), "guest_fds");
        ck_assert_msg(lines_with(s.r.err, NOTE_UNNAMED) == 1, "%s: frames without names and "
                      "no line saying why:\n%.1500s", mode, s.r.err);
    }
    for (int n = 0; n < victims; n++) {
        char path[PATH_MAX + 64], want[32];
        snprintf(path, sizeof path, "%s/victim.%d", dir, n);
        snprintf(want, sizeof want, "victim %d\n", n);
        char *text = read_file(path);
        ck_assert_msg(text && !strcmp(text, want), "%s: the program's file %s was written:\n"
                      "%.500s", mode, path, text ? text : "(missing)");
        free(text);
    }
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/received", dir);
    char *received = read_file(path);
    ck_assert_msg(!received || !received[0], "%s: mallocspy wrote into the program's "
                  "connection:\n%.500s", mode, received);
    free(received);
    snprintf(path, sizeof path, "%s/touched", dir);
    char *touched = read_file(path);
    ck_assert_msg(touched, "%s: no list of descriptors", mode);
    /* mallocspy(1): its copy of stderr is numbered from 900 up, or from a little below the
     * limit on open files when that is lower.  It must be among those the program closed
     * or replaced, else the test did not reach mallocspy's descriptors. */
    struct rlimit rl;
    ck_assert(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    int high = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 900 ? 900 : (int)rl.rlim_cur - 8;
    bool reached = false;
    for (const char *p = touched; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
        reached |= atoi(p) >= high;
    ck_assert_msg(!must_reach || reached, "%s: no descriptor from %d up was open (mallocspy's "
                  "copy of stderr): touched %.500s", mode, high, touched);
    free(touched);
    json_free(rep);
    spied_free(&s);
    remove_tree(dir);
    free(dir);
}

START_TEST(test_fds_close_stdin_stdout) { check_fds("close01", 2, false); }
END_TEST

/* Its stderr too: the report goes to the copy mallocspy took of it, not to the file
 * that now holds descriptor 2. */
START_TEST(test_fds_close_standard) { check_fds("close012", 3, false); }
END_TEST

/* Every descriptor from 3 up closed after the symbolizer started, then reused by the
 * program's files.  (A scratch copy whose report went to descriptor 2, whatever it then
 * was, failed test_fds_close_standard.) */
START_TEST(test_fds_close_high) { check_fds("close-high", 8, true); }
END_TEST

/* A file of the program's put in place of every descriptor from 3 up. */
START_TEST(test_fds_dup2_high) { check_fds("dup2-high", 1, true); }
END_TEST

/* The same with a connection of the program's: a write to a file is refused by send()
 * (ENOTSOCK), a write to a socket is not.  A mallocspy that took the program's socket
 * for its helper's would send its request to the program's peer.  (A scratch copy that
 * did not check its descriptor's identity hung there, waiting for an answer, until the
 * time limit.) */
START_TEST(test_fds_dup2_socket) { check_fds("dup2-socket", 0, true); }
END_TEST

/* The other threads keep allocating while main returns: several runs, each with its
 * report, named, and the program's status; a hang fails by the time limit, a crash by
 * the status, a report not written by its absence.  (A scratch copy that left the
 * threads running during the scan reported 20 to 70 of their blocks as leaks.) */
START_TEST(test_threads_allocating_at_exit)
{
    for (int i = 0; i < 5; i++) {
        char *argv[] = { (char *)prog_path("guest_threads"), NULL };
        struct spied s = spy_reports(argv, "report=quiet", NULL, false);
        ck_assert_msg(s.r.status == 0 && !strcmp(s.r.out, "churning\n"), "run %d: status %d\n"
                      "stdout: %.1000s\nstderr: %.1500s", i + 1, s.r.status, s.r.out, s.r.err);
        ck_assert_msg(!s.r.err[0], "run %d: stderr:\n%.1500s", i + 1, s.r.err);
        struct jval *rep = load_json(s.json_path);
        check_named(frame0(group_of(rep, 2468)), "guest_threads_leak", "guest_threads.c",
                    "GUEST-THREADS");
        /* And nothing the running threads hold (in their rings, or in a register between
         * malloc and the store) is taken for a leak: they were stopped for the scan. */
        ck_assert_msg(jnum(rep, "summary.definite_blocks") == 1 &&
                      jnum(rep, "summary.indirect_blocks") == 0, "run %d: %g definite and %g "
                      "indirect leaked blocks, 1 and 0 expected", i + 1,
                      jnum(rep, "summary.definite_blocks"), jnum(rep, "summary.indirect_blocks"));
        json_free(rep);
        spied_free(&s);
    }
}
END_TEST

/* ---- 6. plugins ------------------------------------------------------------------- */

/* Builds tests/progs/<src> as dir/<name>, a shared library with debug information. */
static void build_plugin(const char *dir, const char *name, const char *src, bool cxx)
{
    char out[PATH_MAX + 64], inc[PATH_MAX + 8];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    snprintf(inc, sizeof inc, "-I%s", repo_file("tests/progs"));
    char *argv[] = { cxx ? "g++" : "cc", "-shared", "-fPIC", "-g", "-O1",
                     "-fno-omit-frame-pointer", inc, "-o", out, (char *)src_path(src), NULL };
    run_tool_ok(argv);
}

/* The frame's module is dir/<name>, by its absolute, resolved path. */
static void check_module_path(const struct jval *f, const char *dir, const char *name)
{
    char want[PATH_MAX + 64], real[PATH_MAX];
    snprintf(want, sizeof want, "%s/%s", dir, name);
    ck_assert(realpath(want, real));
    const char *m = jstr(f, "module");
    ck_assert_msg(m && !strcmp(m, real), "the plugin's module is \"%s\", not %s", m ? m : "null",
                  real);
}

/* dlopen("./libguestplug.so") from its directory, then chdir("/"): the report names the
 * plugin's frames (the helper could not open "./libguestplug.so" from "/") and gives
 * its absolute path.  (A scratch copy that kept the loader's relative name left the
 * frames of both plugin tests unnamed.) */
START_TEST(test_relative_plugin)
{
    char *dir = tmp_dir("relplugin");
    build_plugin(dir, "libguestplug.so", "guest_plug_lib.c", false);
    char cd[PATH_MAX + 8];
    snprintf(cd, sizeof cd, "cd:%s", dir);
    char *argv[] = { (char *)prog_path("guest_plugins"), cd, "c:./libguestplug.so", "cd:/",
                     NULL };
    struct spied s = spy_reports(argv, NULL, NULL, true);
    check_clean_exit(&s.r, "guest_plugins");
    struct jval *rep = load_json(s.json_path);
    const struct jval *g = group_of(rep, 1111);
    check_named(frame0(g), "guest_plug_make", "guest_plug_lib.c", "GUEST-PLUG");
    check_module_path(frame0(g), dir, "libguestplug.so");
    char *log = read_file(s.log_path);
    ck_assert_msg(log && names_fn(log, strlen(log), "guest_plug_make"), "the text report does "
                  "not name the plugin's frame:\n%.1500s", log ? log : "(none)");
    free(log);
    json_free(rep);
    spied_free(&s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* A C host (no libstdc++ until then: guest_plugins checks) loads a C++ plugin late, by a
 * relative path, and leaks from a namespaced function: the frame reads as C++ does.  (A
 * helper without its demangler named it _ZN7guestns11make_widgetEi.) */
START_TEST(test_late_cxx_plugin)
{
    char *dir = tmp_dir("cxxplugin");
    build_plugin(dir, "libguestplug.so", "guest_plug_lib.c", false);
    build_plugin(dir, "libguestcxx.so", "guest_cxxplug_lib.cc", true);
    char cd[PATH_MAX + 8];
    snprintf(cd, sizeof cd, "cd:%s", dir);
    char *argv[] = { (char *)prog_path("guest_plugins"), cd, "c:./libguestplug.so",
                     "cxx:./libguestcxx.so", "cd:/", NULL };
    struct spied s = spy_reports(argv, NULL, NULL, true);
    check_clean_exit(&s.r, "guest_plugins");
    struct jval *rep = load_json(s.json_path);
    const struct jval *g = group_of(rep, 64);   /* sizeof(guestns::Widget) */
    check_named(frame0(g), "guestns::make_widget(int)", "guest_cxxplug_lib.cc", "GUEST-CXXPLUG");
    check_module_path(frame0(g), dir, "libguestcxx.so");
    check_named(frame0(group_of(rep, 1111)), "guest_plug_make", "guest_plug_lib.c",
                "GUEST-PLUG");
    json_free(rep);
    spied_free(&s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 7. report files ----------------------------------------------------------------- */

/* leak_basic exiting with 7, `opts` naming a file that must be refused: its status stays
 * 7, the file (or the link's target) is untouched, and one warning names it: on stderr
 * when it is the log, in the log when it is the JSON report. */
static void check_refused(const char *key, const char *path, const char *untouched,
                          const char *what)
{
    char *before = read_file(untouched);
    struct stat st0, st1;
    ck_assert(before && lstat(untouched, &st0) == 0);
    char *log = tmp_name("refused.log");
    char opts[3 * PATH_MAX];
    bool is_log = !strcmp(key, "log_path");
    if (is_log)
        snprintf(opts, sizeof opts, "log_path=%s", path);
    else
        snprintf(opts, sizeof opts, "json_path=%s:log_path=%s", path, log);
    char *argv[] = { (char *)prog_path("leak_basic"), "7", NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(r.status == 7, "%s=%s: status %d, the program's is 7", key, what, r.status);
    char *after = read_file(untouched);
    ck_assert_msg(after && !strcmp(before, after), "%s=%s: %s was written", key, what,
                  untouched);
    ck_assert(lstat(untouched, &st1) == 0);
    ck_assert_msg(st0.st_uid == st1.st_uid && st0.st_mode == st1.st_mode, "%s=%s: %s changed "
                  "owner or mode", key, what, untouched);
    char *where = is_log ? r.err : read_file(log);
    ck_assert_msg(where, "no log");
    ck_assert_msg(warnings(where) == 1 && lines_with(where, path) == 1,
                  "%s=%s: not one warning naming %s in %s:\n%.1500s", key, what, path,
                  is_log ? "stderr" : "the log", where);
    if (!is_log) {
        ck_assert_msg(!r.err[0], "%s=%s: stderr with log_path:\n%.1500s", key, what, r.err);
        free(where);
    }
    unlink(log);
    free(log);
    free(before);
    free(after);
    run_free(&r);
}

/* (A scratch copy that opened report files without O_NOFOLLOW and without the owner
 * check wrote the link's target and the other user's file.) */
START_TEST(test_report_path_symlink)
{
    char *dir = tmp_dir("symlink");
    char target[PATH_MAX + 64], link[PATH_MAX + 64];
    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(link, sizeof link, "%s/report", dir);
    ck_assert(write_file(target, "the link's target\n"));
    ck_assert(symlink(target, link) == 0);
    check_refused("json_path", link, target, "a symbolic link");
    check_refused("log_path", link, target, "a symbolic link");
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_report_path_foreign)
{
    ck_assert_msg(geteuid() == 0, "this test needs root (chown)");
    char *dir = tmp_dir("foreign");
    char theirs[PATH_MAX + 64];
    snprintf(theirs, sizeof theirs, "%s/theirs", dir);
    ck_assert(write_file(theirs, "another user's file\n"));
    ck_assert_msg(chown(theirs, 65534, 65534) == 0, "chown: %s", strerror(errno));
    check_refused("json_path", theirs, theirs, "another user's file");
    check_refused("log_path", theirs, theirs, "another user's file");
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 8. silence ------------------------------------------------------------------------ */

/* A "symbolizer" that leaves a marker file, then is the real one. */
static void marker_symbolizer(const char *dir, char *script, size_t cap, char *marker,
                              size_t mcap)
{
    snprintf(script, cap, "%s/symbolizer.sh", dir);
    snprintf(marker, mcap, "%s/marker", dir);
    char text[3 * PATH_MAX];
    snprintf(text, sizeof text, "#!/bin/sh\n: > '%s'\nexec '%s/mallocspy-symbolizer' \"$@\"\n",
             marker, BUILD_DIR);
    ck_assert(write_file(script, text));
    ck_assert(chmod(script, 0755) == 0);
}

/* (A scratch copy that wrote the text report of a clean process, its SUMMARY line, failed
 * here; the control below shows the marker would tell a started symbolizer.) */
START_TEST(test_clean_process_silent)
{
    char *dir = tmp_dir("silent");
    char script[PATH_MAX + 64], marker[PATH_MAX + 64], opts[PATH_MAX + 64];
    marker_symbolizer(dir, script, sizeof script, marker, sizeof marker);
    snprintf(opts, sizeof opts, "symbolizer=%s", script);
    /* The default report (text, on stderr): nothing to say, nothing said, nothing started. */
    char *none[] = { (char *)prog_path("leak_none"), NULL };
    char *truth[] = { "/bin/true", NULL };
    char *echo[] = { "/bin/echo", "hi", NULL };
    char **progs[] = { none, truth, echo };
    for (int i = 0; i < 3; i++) {
        struct run r = spy(progs[i], opts, NULL);
        check_clean_exit(&r, progs[i][0]);
        ck_assert_msg(access(marker, F_OK) != 0, "%s leaked nothing, and the symbolizer was "
                      "started", progs[i][0]);
        run_free(&r);
    }
    /* Its JSON report needs no names: module, offset and build ID, "symbolized" false. */
    struct spied s = spy_reports(none, opts, NULL, false);
    check_clean_exit(&s.r, "leak_none");
    ck_assert_msg(access(marker, F_OK) != 0, "the JSON report of a clean process started the "
                  "symbolizer");
    struct jval *rep = load_json(s.json_path);
    ck_assert_msg(!symbolized(rep), "\"symbolized\" is true");
    struct frame_counts c = { 0 };
    count_frames(rep, "sites", &c);
    ck_assert_msg(c.frames > 0 && c.with_build_id > 0 && c.named == 0, "sites' frames: %d, %d "
                  "with a build ID, %d named", c.frames, c.with_build_id, c.named);
    const struct jval *own = NULL, *sites = jget(rep, "sites");
    for (size_t i = 0; i < sites->n && !own; i++) {
        const struct jval *f = jpath(sites->items[i], "stack.0");
        if (f && jstr(f, "module") && !strcmp(base_name(jstr(f, "module")), "leak_none"))
            own = f;
    }
    ck_assert_msg(own, "no site allocated by leak_none itself");
    check_bare(own, "leak_none");
    json_free(rep);
    spied_free(&s);

    /* Control: a process that leaks starts the same symbolizer, which leaves its marker. */
    char *leaky[] = { (char *)prog_path("leak_basic"), NULL };
    struct run r = spy(leaky, opts, NULL);
    ck_assert_msg(r.status == 0 && names_fn(r.err, strlen(r.err), "leak_malloc"),
                  "control: status %d\n%.1500s", r.status, r.err);
    ck_assert_msg(access(marker, F_OK) == 0, "control: the marker symbolizer left no marker");
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* With log_path, each warning (a bad option before or after log_path, an unknown one, a
 * missing suppression file, a symbolizer that cannot be run) is in the log, and stderr
 * stays empty; without, the same warning is on stderr (the control).  (A scratch copy
 * whose warnings all went to stderr failed.) */
START_TEST(test_warnings_to_log)
{
    static const struct {
        const char *opts;     /* %s: the log */
        const char *says;
        bool leaks;
    } cases[] = {
        { "depth=abc:log_path=%s", "bad value 'abc' for option 'depth'", false },
        { "log_path=%s:depth=abc", "bad value 'abc' for option 'depth'", false },
        { "log_path=%s:no_such_option=1", "unknown option 'no_such_option'", false },
        { "log_path=%s:suppressions=/nonexistent/guest.supp",
          "cannot read suppressions from '/nonexistent/guest.supp'", false },
        { "log_path=%s:symbolizer=/nonexistent/guest-symbolizer",
          NOTE_UNNAMED ": cannot start /nonexistent/guest-symbolizer", true },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *log = tmp_name("warn.log");
        char opts[PATH_MAX + 256];
        snprintf(opts, sizeof opts, cases[i].opts, log);
        char *argv[] = { (char *)prog_path(cases[i].leaks ? "leak_basic" : "leak_none"), NULL };
        struct run r = spy(argv, opts, NULL);
        ck_assert_msg(r.status == 0, "%s: status %d", opts, r.status);
        ck_assert_msg(!r.err[0], "%s: stderr is not empty:\n%.1500s", opts, r.err);
        char *text = read_file(log);
        ck_assert_msg(text && lines_with(text, cases[i].says) == 1, "%s: the log does not say "
                      "\"%s\" once:\n%.1500s", opts, cases[i].says, text ? text : "(no log)");
        free(text);
        run_free(&r);

        /* Control: without log_path, on stderr. */
        char *bare = strdup(opts);
        char *lp = strstr(bare, "log_path=");
        size_t ll = strlen("log_path=") + strlen(log);
        memmove(lp, lp + ll + (lp[ll] == ':'), strlen(lp + ll + (lp[ll] == ':')) + 1);
        r = spy(argv, bare, NULL);
        ck_assert_msg(lines_with(r.err, cases[i].says) == 1, "control %s: stderr does not say "
                      "\"%s\" once:\n%.1500s", bare, cases[i].says, r.err);
        run_free(&r);
        free(bare);
        unlink(log);
        free(log);
    }
}
END_TEST

/* ---- 9. the wrapper and static programs ------------------------------------------ */

START_TEST(test_wrapper_static)
{
    char *dir = tmp_dir("static");
    char src[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/tiny.c", dir);
    ck_assert(write_file(src, "#include <stdio.h>\n"
                              "int main(void) { puts(\"tiny\"); return 3; }\n"));
    static const struct {
        const char *name, *flag;
        bool is_static;
    } kinds[] = { { "tiny-static", "-static", true },
                  { "tiny-static-pie", "-static-pie", true },
                  { "tiny-dynamic", "-O1", false } };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char exe[PATH_MAX + 64];
        snprintf(exe, sizeof exe, "%s/%s", dir, kinds[i].name);
        char *cc[] = { "gcc", (char *)kinds[i].flag, "-o", exe, src, NULL };
        struct run b = run_tool(cc, NULL);
        ck_assert_msg(b.status == 0, "gcc %s failed (libc6-dev has libc.a): %.1500s", kinds[i].flag,
                      b.err);
        run_free(&b);
        char *argv[] = { (char *)repo_file("scripts/mallocspy"), "--", exe, NULL };
        struct run r = run_tool(argv, NULL);
        ck_assert_msg(r.status == 3 && !strcmp(r.out, "tiny\n"), "%s: status %d, stdout %.500s",
                      kinds[i].name, r.status, r.out);
        if (kinds[i].is_static)
            ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "statically linked") &&
                          strstr(r.err, exe), "%s: not one line saying it is statically "
                          "linked:\n%.1500s", kinds[i].name, r.err);
        else
            ck_assert_msg(!r.err[0], "%s: stderr:\n%.1500s", kinds[i].name, r.err);
        run_free(&r);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- 10. the symbol cache across processes --------------------------------------- */

/* The plugin named from the cache alone: the second process removes the plugin's file
 * while it has it loaded, so its debug information cannot be read again. */
START_TEST(test_symbol_cache_across_processes)
{
    char *dir = tmp_dir("cacheplugin");
    build_plugin(dir, "pristine.so", "guest_plug_lib.c", false);
    char pristine[PATH_MAX + 64], lib[PATH_MAX + 64], load[PATH_MAX + 64], rm[PATH_MAX + 64];
    snprintf(pristine, sizeof pristine, "%s/pristine.so", dir);
    snprintf(lib, sizeof lib, "%s/libguestplug.so", dir);
    snprintf(load, sizeof load, "c:%s", lib);
    snprintf(rm, sizeof rm, "rm:%s", lib);
    char xdg[PATH_MAX + 64], fresh[PATH_MAX + 64];
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s/xdg", dir);
    snprintf(fresh, sizeof fresh, "XDG_CACHE_HOME=%s/fresh", dir);
    const char *env[] = { xdg, NULL };
    const char *fresh_env[] = { fresh, NULL };
    char *cp[] = { "cp", pristine, lib, NULL };

    /* 1: the plugin's file is there; its names are read, and kept. */
    run_tool_ok(cp);
    char *first[] = { (char *)prog_path("guest_plugins"), load, NULL };
    struct spied s = spy_reports(first, NULL, env, true);
    check_clean_exit(&s.r, "first run");
    struct jval *rep = load_json(s.json_path);
    check_named(frame0(group_of(rep, 1111)), "guest_plug_make", "guest_plug_lib.c",
                "GUEST-PLUG");
    json_free(rep);
    spied_free(&s);
    char entries[8192];
    char cache[PATH_MAX + 64];
    snprintf(cache, sizeof cache, "%s/xdg/mallocspy", dir);
    ck_assert_msg(dir_entries(cache, entries, sizeof entries) > 0, "no symbol cache in %s",
                  cache);

    /* 2: the same plugin, its file removed once loaded: named all the same, from the
     * cache, without a word about the missing file. */
    run_tool_ok(cp);
    char *second[] = { (char *)prog_path("guest_plugins"), load, rm, NULL };
    s = spy_reports(second, NULL, env, true);
    check_clean_exit(&s.r, "second run");
    ck_assert_msg(access(lib, F_OK) != 0, "the plugin's file is still there");
    rep = load_json(s.json_path);
    check_named(frame0(group_of(rep, 1111)), "guest_plug_make", "guest_plug_lib.c",
                "GUEST-PLUG");
    char *log = read_file(s.log_path);
    ck_assert_msg(log && warnings(log) == 0, "a warning in the log:\n%.1500s",
                  log ? log : "(none)");
    free(log);
    json_free(rep);
    spied_free(&s);

    /* Controls: with an empty cache, or symbol_cache=0, the removed file leaves the
     * plugin's frames without names. */
    for (int k = 0; k < 2; k++) {
        run_tool_ok(cp);
        s = spy_reports(second, k ? "symbol_cache=0" : NULL, k ? env : fresh_env, true);
        check_clean_exit(&s.r, "control");
        rep = load_json(s.json_path);
        check_bare(frame0(group_of(rep, 1111)), "libguestplug.so");
        json_free(rep);
        spied_free(&s);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("guest");
    TCase *t = tcase_create("programs");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_openssl);
    tcase_add_test(t, test_curl);
    tcase_add_test(t, test_ssh);
    tcase_add_test(t, test_node);
    tcase_add_test(t, test_java_version);
    tcase_add_test(t, test_java_threads);
    suite_add_tcase(s, t);

    t = tcase_create("debuginfod");
    tcase_set_timeout(t, 180);
    tcase_add_test(t, test_debuginfod_not_asked);
    tcase_add_test(t, test_debuginfod_budget);
    tcase_add_test(t, test_setuid_program);
    suite_add_tcase(s, t);

    t = tcase_create("hosts");
    tcase_set_timeout(t, 180);
    tcase_add_test(t, test_seccomp_control);
    tcase_add_test(t, test_seccomp_eperm);
    tcase_add_test(t, test_seccomp_kill_thread);
    tcase_add_test(t, test_seccomp_kill_process);
    tcase_add_test(t, test_sigchld_reaper);
    tcase_add_test(t, test_sigchld_helper_exits);
    tcase_add_test(t, test_fds_close_stdin_stdout);
    tcase_add_test(t, test_fds_close_standard);
    tcase_add_test(t, test_fds_close_high);
    tcase_add_test(t, test_fds_dup2_high);
    tcase_add_test(t, test_fds_dup2_socket);
    tcase_add_test(t, test_threads_allocating_at_exit);
    suite_add_tcase(s, t);

    t = tcase_create("plugins");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_relative_plugin);
    tcase_add_test(t, test_late_cxx_plugin);
    tcase_add_test(t, test_symbol_cache_across_processes);
    suite_add_tcase(s, t);

    t = tcase_create("files");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_report_path_symlink);
    tcase_add_test(t, test_report_path_foreign);
    tcase_add_test(t, test_clean_process_silent);
    tcase_add_test(t, test_warnings_to_log);
    tcase_add_test(t, test_wrapper_static);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
