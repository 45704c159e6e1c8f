/* mallocspy-symbolizer, driven through its protocol as the library drives it: names, files
 * and lines (inlined functions expanded, C++ demangled), modules it cannot trust or open,
 * the symbol cache and the files it must refuse, debuginfod only when asked and within its
 * budget, batches and bad input, the descriptors it inherits; mallocspy-report --symbolize;
 * and its installation.  Offsets come from the programs themselves (tests/progs/sym_inline
 * prints its call sites; nm gives the others), lines from the sources' marker comments. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define MAXR 64                 /* R lines an answer holds, at most, in these tests */
#define MAXF 8                  /* frames one R line holds, at most, in these tests */

static const char *symbolizer(void) { return BUILD_DIR "/mallocspy-symbolizer"; }

/* ---- running the helper and reading its answers ------------------------------------- */

/* Runs the helper with `args` (NULL-terminated, may be NULL) and `env` on top of a clean
 * environment, `input` on its standard input, within the time limit. */
static struct run sym_run(const char *const args[], const char *const env[], const char *input)
{
    char *argv[32] = { "timeout", (char *)child_timeout, (char *)symbolizer() };
    int k = 3;
    for (int i = 0; args && args[i] && k < 31; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    const char *e[32] = { "LD_PRELOAD=", "MALLOCSPY_OPTIONS=", "DEBUGINFOD_URLS=" };
    int n = 3;
    for (int i = 0; env && env[i] && n < 31; i++)
        e[n++] = env[i];
    e[n] = NULL;
    struct run r = run_cmd(argv, e, input);
    ck_assert_msg(r.status != 124, "mallocspy-symbolizer timed out (%s s)", child_timeout);
    return r;
}

struct rline {
    char status[8];
    int n;
    const char *fn[MAXF], *file[MAXF];
    int line[MAXF];
};

/* One session's output, cut into its lines (pointers into buf). */
struct reply {
    char *buf;
    int nr, nw, ne;
    struct rline r[MAXR];
    const char *w[MAXR];
};

/* Parses what the helper wrote; any line that is not R, W or E as the protocol has them
 * fails the test, and so does output that does not end with an E line. */
static struct reply parse_reply(const char *out)
{
    struct reply p;
    memset(&p, 0, sizeof p);
    p.buf = strdup(out);
    size_t len = strlen(out);
    ck_assert_msg(len == 0 || (len >= 2 && !strcmp(out + len - 2, "E\n")),
                  "the answers do not end with an E line:\n%s", out);
    char *save = NULL;
    for (char *line = strtok_r(p.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strcmp(line, "E")) {
            p.ne++;
        } else if (!strncmp(line, "W ", 2)) {
            ck_assert_msg(p.nw < MAXR, "too many W lines:\n%s", out);
            p.w[p.nw++] = line + 2;
        } else {
            ck_assert_msg(!strncmp(line, "R ", 2) && p.nr < MAXR, "not a protocol line: %s",
                          line);
            struct rline *r = &p.r[p.nr++];
            char *tab = strchr(line, '\t');
            if (tab)
                *tab = 0;
            char tail;
            ck_assert_msg(sscanf(line, "R %7s %d%c", r->status, &r->n, &tail) == 2 &&
                          r->n >= 0 && r->n <= MAXF, "bad R line: %s", line);
            ck_assert_msg((r->n == 0) == !tab, "R line with %d frames and %s fields", r->n,
                          tab ? "some" : "no");
            char *f = tab ? tab + 1 : NULL;
            for (int i = 0; i < r->n; i++) {
                char *fields[3];
                for (int j = 0; j < 3; j++) {
                    ck_assert_msg(f, "R line with fewer fields than %d frames", r->n);
                    fields[j] = f;
                    char *t = strchr(f, '\t');
                    if (t)
                        *t = 0;
                    f = t ? t + 1 : NULL;
                }
                r->fn[i] = fields[0];
                r->file[i] = fields[1];
                char *end;
                r->line[i] = (int)strtol(fields[2], &end, 10);
                ck_assert_msg(*fields[2] && !*end, "bad line number field: %s", fields[2]);
            }
            ck_assert_msg(!f, "R line with more fields than %d frames", r->n);
        }
    }
    return p;
}

static void reply_free(struct reply *p) { free(p->buf); }

/* Frame k of answer r is fn in source file `file` (by its last components) at `line`;
 * file NULL: not checked; line -1: any known line. */
static void check_frame(const struct rline *r, int k, const char *fn, const char *file, int line)
{
    ck_assert_msg(k < r->n, "frame %d of an answer of %d", k, r->n);
    ck_assert_msg(!strcmp(r->fn[k], fn), "frame %d is \"%s\", not %s", k, r->fn[k], fn);
    if (file)
        ck_assert_msg(is_src_file(r->file[k], file), "frame %d (%s) is in \"%s\", not %s", k,
                      fn, r->file[k], file);
    if (line >= 0)
        ck_assert_msg(r->line[k] == line, "frame %d (%s) is at line %d, not %d", k, fn,
                      r->line[k], line);
    else
        ck_assert_msg(r->line[k] > 0, "frame %d (%s) has no line", k, fn);
}

/* How many W lines mention `needle`. */
static int warnings_about(const struct reply *p, const char *needle)
{
    int n = 0;
    for (int i = 0; i < p->nw; i++)
        n += strstr(p->w[i], needle) != NULL;
    return n;
}

/* ---- the programs: offsets and build IDs ------------------------------------------------ */

/* The build ID of an ELF file, in hex, from readelf -n. */
static void build_id_of(const char *path, char *out, size_t cap)
{
    char *argv[] = { "readelf", "-n", (char *)path, NULL };
    struct run r = run_tool(argv, NULL);
    const char *p = strstr(r.out, "Build ID: ");
    ck_assert_msg(r.status == 0 && p, "readelf -n %s: no build ID\n%s", path, r.err);
    ck_assert_int_eq(sscanf(p, "Build ID: %127[0-9a-f]", out), 1);
    ck_assert_int_lt(strlen(out), cap);
    run_free(&r);
}

/* The value of symbol `sym` in the file (nm), which must have it. */
static unsigned long long symbol_value(const char *path, const char *sym, bool dynamic)
{
    char *argv[] = { "nm", dynamic ? "-D" : "-a", (char *)path, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "nm %s failed: %s", path, r.err);
    const char *p = r.out;
    char line[1024];
    unsigned long long v = 0;
    bool found = false;
    while (!found && next_line(&p, line, sizeof line)) {
        unsigned long long a;
        char type, name[512];
        size_t l = strlen(sym);
        if (sscanf(line, "%llx %c %511s", &a, &type, name) == 3 && !strncmp(name, sym, l) &&
            (name[l] == 0 || name[l] == '@')) {   /* dynamic symbols carry their version */
            v = a;
            found = true;
        }
    }
    run_free(&r);
    ck_assert_msg(found, "no symbol %s in %s", sym, path);
    return v;
}

/* The offsets sym_inline prints for its call sites: the plain call and the inlined one. */
struct sites {
    char path[PATH_MAX];
    char build_id[129];
    unsigned long plain, inlined;
};

static void sites_of(const char *exe, struct sites *s)
{
    snprintf(s->path, sizeof s->path, "%s", exe);
    char *argv[] = { (char *)exe, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && sscanf(r.out, "plain=%lx\ninlined=%lx", &s->plain,
                                          &s->inlined) == 2, "%s printed: %s", exe, r.out);
    run_free(&r);
    build_id_of(exe, s->build_id, sizeof s->build_id);
}

static void sym_sites(struct sites *s) { sites_of(prog_path("sym_inline"), s); }

/* A copy of sym_inline that a test may move, remove or make unreadable. */
static void sites_copy(struct sites *s, const char *tag)
{
    char *copy = tmp_name(tag);
    char *cp[] = { "cp", (char *)prog_path("sym_inline"), copy, NULL };
    run_tool_ok(cp);
    sites_of(copy, s);
    free(copy);
}

/* The batch that asks for both call sites of s, as module `id`. */
static void both_sites(char *out, size_t cap, const struct sites *s, int id)
{
    snprintf(out, cap, "M %d %s %s\nF %d %lx\nF %d %lx\nE\n", id, s->build_id, s->path, id,
             s->plain, id, s->inlined);
}

/* The two answers of both_sites, as the sources' markers say they must be. */
static void check_both_sites(const struct rline *plain, const struct rline *inl)
{
    ck_assert_str_eq(plain->status, "ok");
    ck_assert_int_eq(plain->n, 1);
    check_frame(plain, 0, "plain_caller", "sym_inline.c", marker_line("sym_inline.c", "SYM-PLAIN"));
    ck_assert_str_eq(inl->status, "ok");
    ck_assert_int_eq(inl->n, 3);
    check_frame(inl, 0, "inner_step", "sym_inline.c", marker_line("sym_inline.c", "SYM-INNER"));
    check_frame(inl, 1, "outer_step", "sym_inline.c", marker_line("sym_inline.c", "SYM-OUTER"));
    check_frame(inl, 2, "inlining_caller", "sym_inline.c",
                marker_line("sym_inline.c", "SYM-CALLER"));
}

/* ---- names, files, lines ------------------------------------------------------------------ */

START_TEST(test_names_and_lines)
{
    struct sites s;
    sym_sites(&s);
    char in[8192];
    both_sites(in, sizeof in, &s, 1);
    struct run r = sym_run(NULL, NULL, in);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    ck_assert_int_eq(p.ne, 1);
    ck_assert_msg(p.nw == 0, "unexpected W line: %s", p.w[0]);
    check_both_sites(&p.r[0], &p.r[1]);
    reply_free(&p);
    run_free(&r);
}
END_TEST

/* A non-PIE executable: its offsets are absolute addresses (its load bias is 0). */
START_TEST(test_non_pie)
{
    ck_assert_msg(have_cmd("gcc"), "gcc not installed");
    char *exe = tmp_name("sym_inline_nopie");
    char inc[PATH_MAX + 8];
    snprintf(inc, sizeof inc, "-I%s", repo_file("tests/progs"));
    char *cc[] = { "gcc", "-std=gnu11", "-D_GNU_SOURCE", "-O1", "-g", "-no-pie", "-fno-pie", inc,
                   (char *)src_path("sym_inline.c"), "-o", exe, NULL };
    run_tool_ok(cc);
    struct sites s;
    sites_of(exe, &s);
    ck_assert_msg(s.plain >= 0x400000, "offset %lx: not a non-PIE address", s.plain);
    char in[8192];
    both_sites(in, sizeof in, &s, 7);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    check_both_sites(&p.r[0], &p.r[1]);
    reply_free(&p);
    run_free(&r);
    unlink(exe);
    free(exe);
}
END_TEST

/* clang emits no .debug_aranges, where libdw (before elfutils 0.189) looks for the unit
 * holding an address: names, files, lines and inlined functions must come all the same. */
START_TEST(test_clang_program)
{
    ck_assert_msg(have_cmd("clang"), "clang not installed (.ci/run installs it)");
    char *exe = tmp_name("sym_inline_clang");
    char inc[PATH_MAX + 8];
    snprintf(inc, sizeof inc, "-I%s", repo_file("tests/progs"));
    char *cc[] = { "clang", "-std=gnu11", "-D_GNU_SOURCE", "-O1", "-g", inc,
                   (char *)src_path("sym_inline.c"), "-o", exe, NULL };
    run_tool_ok(cc);
    char *rd[] = { "sh", "-c", "readelf -S \"$0\" | grep -c debug_aranges", exe, NULL };
    struct run a = run_tool(rd, NULL);
    ck_assert_msg(atoi(a.out) == 0, "this clang emits .debug_aranges: the test proves nothing");
    run_free(&a);
    struct sites s;
    sites_of(exe, &s);
    char in[8192];
    both_sites(in, sizeof in, &s, 8);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    check_both_sites(&p.r[0], &p.r[1]);
    reply_free(&p);
    run_free(&r);
    unlink(exe);
    free(exe);
}
END_TEST

START_TEST(test_cxx_demangled)
{
    const char *exe = prog_path("leak_cxx");
    char id[129];
    build_id_of(exe, id, sizeof id);
    unsigned long long w = symbol_value(exe, "_ZN6shapes11make_widgetEv", false);
    unsigned long long g = symbol_value(exe, "_ZN6shapes7Factory12make_gadgetsEi", false);
    char in[8192];
    snprintf(in, sizeof in, "M 3 %s %s\nF 3 %llx\nF 3 %llx\nE\n", id, exe, w + 4, g + 4);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    ck_assert_str_eq(p.r[0].status, "ok");
    check_frame(&p.r[0], p.r[0].n - 1, "shapes::make_widget()", "leak_cxx.cc", -1);
    ck_assert_str_eq(p.r[1].status, "ok");
    check_frame(&p.r[1], p.r[1].n - 1, "shapes::Factory::make_gadgets(int)", "leak_cxx.cc", -1);
    reply_free(&p);
    run_free(&r);
}
END_TEST

/* A function known only from the symbol table: one frame, no file, line 0. */
START_TEST(test_symbol_table_only)
{
    char copy[PATH_MAX + 64];
    snprintf(copy, sizeof copy, "%s", tmp_path("sym_inline.nodebug"));
    char *cp[] = { "objcopy", "--strip-debug", (char *)prog_path("sym_inline"), copy, NULL };
    run_tool_ok(cp);
    struct sites s;
    sites_of(copy, &s);
    char in[8192];
    both_sites(in, sizeof in, &s, 1);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    ck_assert_str_eq(p.r[0].status, "ok");
    ck_assert_int_eq(p.r[0].n, 1);
    check_frame(&p.r[0], 0, "plain_caller", NULL, 0);
    ck_assert_str_eq(p.r[0].file[0], "");
    ck_assert_int_eq(p.r[1].n, 1);
    check_frame(&p.r[1], 0, "inlining_caller", NULL, 0);
    reply_free(&p);
    run_free(&r);
    /* Kept for the session only: once the debug information is there, a later session is
     * to find it, not an old answer without it. */
    char *dir = tmp_dir("nodebug-cache");
    const char *args[] = { "--cache", dir, NULL };
    r = sym_run(args, NULL, in);
    p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 2);
    check_frame(&p.r[0], 0, "plain_caller", NULL, 0);
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s.sym", dir, s.build_id);
    ck_assert_msg(access(path, F_OK) != 0, "answers without debug information were cached");
    reply_free(&p);
    run_free(&r);
    remove_tree(dir);
    free(dir);
    unlink(copy);
}
END_TEST

/* ---- modules it cannot use ------------------------------------------------------------ */

START_TEST(test_unknown_modules)
{
    struct sites s;
    sym_sites(&s);
    const char *missing = tmp_path("no-such-module.so");
    const char *text = repo_file("tests/progs/sym_inline.c");   /* a file, but not ELF */
    char in[16384];
    snprintf(in, sizeof in,
             "M 1 - %s\nF 1 %lx\nF 1 10\n"
             "M 2 - %s\nF 2 %lx\n"
             "M 3 - [vdso]\nF 3 %lx\n"
             "M 4 %s %s\nF 4 %lx\nE\n"
             "M 5 - %s\nF 5 20\nF 1 30\nE\n",
             missing, s.plain, text, s.plain, s.plain, s.build_id, s.path, s.plain, missing);
    struct run r = sym_run(NULL, NULL, in);
    ck_assert_int_eq(r.status, 0);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 7);
    ck_assert_int_eq(p.ne, 2);
    for (int i = 0; i < 7; i++)
        if (i != 4)
            ck_assert_msg(!strcmp(p.r[i].status, "none") && p.r[i].n == 0,
                          "answer %d: %s %d", i, p.r[i].status, p.r[i].n);
    /* The known module among them is still named. */
    check_frame(&p.r[4], 0, "plain_caller", "sym_inline.c", -1);
    /* One W line per module per session, whatever the number of frames and batches (5
     * re-declares the missing path under another id: the same module). */
    ck_assert_msg(warnings_about(&p, missing) == 1, "%d W lines about %s:\n%s",
                  warnings_about(&p, missing), missing, r.out);
    ck_assert_msg(warnings_about(&p, text) == 1, "%d W lines about %s:\n%s",
                  warnings_about(&p, text), text, r.out);
    ck_assert_msg(p.nw == 2, "%d W lines:\n%s", p.nw, r.out);
    reply_free(&p);
    run_free(&r);
}
END_TEST

START_TEST(test_build_id_mismatch)
{
    struct sites s;
    sym_sites(&s);
    /* Another build ID than the file's: the file was replaced since it was loaded. */
    char wrong[129];
    snprintf(wrong, sizeof wrong, "%s", s.build_id);
    for (char *c = wrong; *c; c++)
        *c = *c == '0' ? '1' : '0';
    char in[16384];
    snprintf(in, sizeof in, "M 1 %s %s\nF 1 %lx\nF 1 %lx\nE\nM 2 %s %s\nF 2 %lx\nE\n", wrong,
             s.path, s.plain, s.inlined, s.build_id, s.path, s.plain);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 3);
    ck_assert_msg(!strcmp(p.r[0].status, "none") && !strcmp(p.r[1].status, "none"),
                  "the replaced file was trusted:\n%s", r.out);
    ck_assert_msg(p.nw == 1 && strstr(p.w[0], s.path) && strstr(p.w[0], wrong),
                  "not one W line naming the file and its build ID:\n%s", r.out);
    /* Control: with its own build ID the same file is named. */
    check_frame(&p.r[2], 0, "plain_caller", "sym_inline.c", -1);
    reply_free(&p);
    run_free(&r);
}
END_TEST

/* A replaced file whose build ID has a debug file in /usr/lib/debug/.build-id: named from
 * that file.  libc's, from libc6-dbg, declared at the path of another program. */
START_TEST(test_build_id_debug_file)
{
    const char *libc = "/lib/x86_64-linux-gnu/libc.so.6";
    char id[129], dbg[PATH_MAX];
    build_id_of(libc, id, sizeof id);
    snprintf(dbg, sizeof dbg, "/usr/lib/debug/.build-id/%.2s/%s.debug", id, id + 2);
    ck_assert_msg(access(dbg, R_OK) == 0, "%s missing (libc6-dbg; make check installs it)", dbg);
    unsigned long long strdup_at = symbol_value(libc, "strdup", true);
    char in[8192];
    snprintf(in, sizeof in, "M 1 %s %s\nF 1 %llx\nE\n", id, prog_path("sym_inline"),
             strdup_at + 8);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 1);
    ck_assert_msg(!strcmp(p.r[0].status, "ok") && strstr(p.r[0].fn[p.r[0].n - 1], "strdup") &&
                  strstr(p.r[0].file[p.r[0].n - 1], "strdup.c"),
                  "not named from libc's debug file:\n%s", r.out);
    ck_assert_msg(p.nw == 1 && strstr(p.w[0], dbg), "not one W line naming %s:\n%s", dbg,
                  r.out);
    reply_free(&p);
    run_free(&r);
}
END_TEST

/* ---- the answers are the library's ------------------------------------------------------ */

/* Each frame of an in-process report, asked of the helper by module and offset, comes back
 * the same: function, file and line of the address and of every function inlined there. */
static void compare_with_report(const char *name, char *argv[])
{
    struct spied sp = spy_reports(argv, "report_reachable=1", NULL, false);
    ck_assert_msg(sp.r.status == 0, "%s: status %d\n%s", name, sp.r.status, sp.r.err);
    struct jval *rep = load_report(sp.json_path);
    const struct jval *leaks = need_member(rep, "leaks", J_ARR);
    /* The groups of frames at one address: inlined ones, then the real function. */
    struct group {
        const struct jval *f[MAXF];
        int n;
    } *groups = calloc(512, sizeof *groups);
    int ng = 0;
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *st = jget(leaks->items[i], "stack");
        for (size_t k = 0; st && k < st->n && ng < 512; k++) {
            struct group *g = &groups[ng];
            g->f[g->n++] = st->items[k];
            const struct jval *inl = jget(st->items[k], "inlined");
            if (inl && inl->type == J_BOOL && inl->b && g->n < MAXF)
                continue;
            if (jstr(st->items[k], "module") && jstr(st->items[k], "offset"))
                ng++;
            else
                g->n = 0;
        }
    }
    ck_assert_msg(ng > 3, "%s: only %d frames in the report", name, ng);
    size_t cap = (size_t)ng * (PATH_MAX + 64), len = 0;
    char *in = malloc(cap);
    for (int i = 0; i < ng; i++) {
        const struct jval *f = groups[i].f[groups[i].n - 1];
        len += (size_t)snprintf(in + len, cap - len, "M %d - %s\nF %d %llx\n", i,
                                jstr(f, "module"), i, hexval(jstr(f, "offset")));
    }
    snprintf(in + len, cap - len, "E\n");
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, ng);
    for (int i = 0; i < ng; i++) {
        const struct group *g = &groups[i];
        const struct rline *a = &p.r[i];
        const char *f0 = jstr(g->f[0], "function");
        if (!f0 && g->n == 1) {
            ck_assert_msg(a->n == 0 || !a->fn[0][0], "%s: frame %s+%s unnamed in the report, "
                          "%s by the helper", name, jstr(g->f[0], "module"),
                          jstr(g->f[0], "offset"), a->fn[0]);
            continue;
        }
        /* symbolize.c lost the middle of a chain of nested inlined functions (see
         * inline_chain in src/symbolizer/resolve.c): it gave the innermost one and the real
         * function, at the line of the innermost one's call.  Such a chain is compared as
         * that: the helper's innermost frame, its real function at its second frame's line. */
        bool nested = g->n == 2 && a->n > 2;
        ck_assert_msg(a->n == g->n || nested, "%s: %s+%s has %d frames in the report, %d from "
                      "the helper", name, jstr(g->f[0], "module"), jstr(g->f[0], "offset"),
                      g->n, a->n);
        for (int k = 0; k < g->n; k++) {
            const char *fn = jstr(g->f[k], "function"), *file = jstr(g->f[k], "file");
            double line = jnum(g->f[k], "line");
            int h = nested && k == 1 ? a->n - 1 : k;           /* the helper's function */
            int hl = k;                                         /* and its place */
            ck_assert_msg(!strcmp(fn ? fn : "", a->fn[h]) && !strcmp(file ? file : "", a->file[hl])
                          && (line == line ? (int)line : 0) == a->line[hl],
                          "%s: %s+%s frame %d: %s %s:%g in the report, %s %s:%d from the helper",
                          name, jstr(g->f[0], "module"), jstr(g->f[0], "offset"), k, fn, file,
                          line, a->fn[h], a->file[hl], a->line[hl]);
        }
    }
    reply_free(&p);
    run_free(&r);
    free(in);
    free(groups);
    json_free(rep);
    spied_free(&sp);
}

START_TEST(test_same_as_report)
{
    char demo[PATH_MAX];
    snprintf(demo, sizeof demo, "%s/tests/examples/demo", BUILD_DIR);
    char *a1[] = { demo, NULL };
    compare_with_report("demo", a1);
    char *a2[] = { (char *)prog_path("leak_cxx"), NULL };
    compare_with_report("leak_cxx", a2);
}
END_TEST

/* ---- the cache ------------------------------------------------------------------------- */

/* Runs one batch of both_sites with --cache dir; the reply (parsed) and the raw output. */
static struct reply cached_run(const struct sites *s, const char *dir, struct run *r)
{
    char in[8192];
    both_sites(in, sizeof in, s, 1);
    const char *args[] = { "--cache", dir, NULL };
    *r = sym_run(args, NULL, in);
    ck_assert_msg(r->status == 0, "status %d\n%s", r->status, r->err);
    struct reply p = parse_reply(r->out);
    ck_assert_int_eq(p.nr, 2);
    return p;
}

static void cache_file(const char *dir, const struct sites *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.sym", dir, s->build_id);
}

/* The file at path is a sound cache file of s's build ID that has both sites, private. */
static void check_cache_file(const char *path, const struct sites *s)
{
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0 && S_ISREG(st.st_mode), "%s is not a regular file",
                  path);
    ck_assert_msg((st.st_mode & 0777) == 0600, "%s has mode %o", path, st.st_mode & 0777);
    char *text = read_file(path);
    char head[256], l1[64], l2[64];
    snprintf(head, sizeof head, "mallocspy-symbols 1 %s\n", s->build_id);
    snprintf(l1, sizeof l1, "\n%lx\tok\t1\tplain_caller\t", s->plain);
    snprintf(l2, sizeof l2, "\n%lx\tok\t3\tinner_step\t", s->inlined);
    ck_assert_msg(text && !strncmp(text, head, strlen(head)) && strstr(text, l1) &&
                  strstr(text, l2), "%s:\n%s", path, text ? text : "(unreadable)");
    free(text);
}

START_TEST(test_cache_answers_without_the_module)
{
    struct sites s;
    sites_copy(&s, "sym_inline.cached");
    char *top = tmp_dir("cache");
    char dir[PATH_MAX + 64], path[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s/a/b", top);   /* parents too */
    struct run r;
    struct reply p = cached_run(&s, dir, &r);
    check_both_sites(&p.r[0], &p.r[1]);
    reply_free(&p);
    run_free(&r);
    struct stat st;
    ck_assert_msg(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "%s: mode %o", dir,
                  st.st_mode & 0777);
    char parent[PATH_MAX + 64];
    snprintf(parent, sizeof parent, "%s/a", top);
    ck_assert_msg(stat(parent, &st) == 0 && (st.st_mode & 0777) == 0700, "%s: mode %o", parent,
                  st.st_mode & 0777);
    cache_file(dir, &s, path, sizeof path);
    check_cache_file(path, &s);

    /* The module is gone: the same answers, from the cache alone, and no word about it. */
    ck_assert(unlink(s.path) == 0);
    p = cached_run(&s, dir, &r);
    check_both_sites(&p.r[0], &p.r[1]);
    ck_assert_msg(p.nw == 0, "W line with everything cached: %s", p.w[0]);
    reply_free(&p);
    run_free(&r);

    /* Control: without the cache, the missing module is said and answered none. */
    char in[8192];
    both_sites(in, sizeof in, &s, 1);
    r = sym_run(NULL, NULL, in);
    p = parse_reply(r.out);
    ck_assert_msg(p.nr == 2 && !strcmp(p.r[0].status, "none") && p.nw == 1,
                  "without the cache:\n%s", r.out);
    reply_free(&p);
    run_free(&r);
    remove_tree(top);
    free(top);
}
END_TEST

/* Writes a cache file for s whose records name the wrong functions: if the helper trusted
 * it, the answers would say "poison". */
static char *poisoned(const struct sites *s, const char *build_id)
{
    char *t = malloc(1024);
    snprintf(t, 1024, "mallocspy-symbols 1 %s\n%lx\tok\t1\tpoison\tpoison.c\t1\n"
             "%lx\tok\t1\tpoison\tpoison.c\t2\n", build_id, s->plain, s->inlined);
    return t;
}

enum bad_kind { BAD_HEADER, BAD_FOREIGN, BAD_LINE, BAD_NUL, BAD_SYMLINK, BAD_OWNER, BAD_FIFO,
                BAD_HUGE, BAD_DIR };

/* Puts a bad file of this kind at path; where it points for a link (else ""). */
static void plant(enum bad_kind kind, const char *path, const struct sites *s, char *target,
                  size_t cap)
{
    char *good = poisoned(s, s->build_id);
    target[0] = 0;
    switch (kind) {
    case BAD_HEADER:
        ck_assert(write_file(path, "mallocspy-symbols 2 nonsense\n"));
        break;
    case BAD_FOREIGN: {
        char other[129];
        snprintf(other, sizeof other, "%s", s->build_id);
        other[0] = other[0] == 'a' ? 'b' : 'a';
        char *t = poisoned(s, other);
        ck_assert(write_file(path, t));
        free(t);
        break;
    }
    case BAD_LINE: {
        size_t n = strlen(good);
        char *t = malloc(n + 64);
        snprintf(t, n + 64, "%s12\tok\t2\tonly-one-frame\tx.c\t3\n", good);
        ck_assert(write_file(path, t));
        free(t);
        break;
    }
    case BAD_NUL: {
        FILE *f = fopen(path, "wb");
        ck_assert(f);
        fputs(good, f);
        fputc(0, f);
        fputs("ab\tnone\t0\n", f);
        fclose(f);
        break;
    }
    case BAD_SYMLINK:
        snprintf(target, cap, "%s.elsewhere", path);
        ck_assert(write_file(target, good));
        ck_assert(symlink(target, path) == 0);
        break;
    case BAD_OWNER:
        ck_assert(write_file(path, good));
        ck_assert_msg(chown(path, 65534, 65534) == 0, "chown: %s", strerror(errno));
        break;
    case BAD_FIFO:
        ck_assert(mkfifo(path, 0600) == 0);
        break;
    case BAD_HUGE: {
        ck_assert(write_file(path, good));
        ck_assert(truncate(path, (65 << 20)) == 0);   /* sparse: cheap */
        break;
    }
    case BAD_DIR:
        ck_assert(mkdir(path, 0700) == 0);
        break;
    }
    free(good);
}

static void check_bad_cache_file(enum bad_kind kind, const char *what)
{
    struct sites s;
    sym_sites(&s);
    char *dir = tmp_dir("badcache");
    char path[PATH_MAX + 256], target[PATH_MAX + 300];
    cache_file(dir, &s, path, sizeof path);
    plant(kind, path, &s, target, sizeof target);
    char *before = target[0] ? read_file(target) : NULL;

    struct run r;
    struct reply p = cached_run(&s, dir, &r);
    check_both_sites(&p.r[0], &p.r[1]);
    /* A directory cannot be renamed over: it stays, and the failed write is said too. */
    int want = kind == BAD_DIR ? 2 : 1;
    ck_assert_msg(p.nw == want && warnings_about(&p, path) == want,
                  "%s: not %d W line(s) naming the file:\n%s", what, want, r.out);
    reply_free(&p);
    run_free(&r);
    /* No temporary file is left behind. */
    DIR *d = opendir(dir);
    ck_assert(d);
    for (struct dirent *e; (e = readdir(d));)
        ck_assert_msg(e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."),
                      "%s: %s left in the cache directory", what, e->d_name);
    closedir(d);
    if (kind == BAD_DIR) {
        remove_tree(dir);
        free(dir);
        return;
    }
    /* Replaced by a sound file, a link's target untouched. */
    check_cache_file(path, &s);
    if (before) {
        char *after = read_file(target);
        ck_assert_msg(after && !strcmp(before, after), "%s: the link's target was written",
                      what);
        free(after);
        free(before);
    }
    /* Which the next session takes without a word. */
    p = cached_run(&s, dir, &r);
    check_both_sites(&p.r[0], &p.r[1]);
    ck_assert_msg(p.nw == 0, "%s: W line after the replacement: %s", what, p.w[0]);
    reply_free(&p);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}

START_TEST(test_cache_bad_header) { check_bad_cache_file(BAD_HEADER, "a wrong header"); }
END_TEST
START_TEST(test_cache_foreign) { check_bad_cache_file(BAD_FOREIGN, "another build ID"); }
END_TEST
START_TEST(test_cache_bad_line) { check_bad_cache_file(BAD_LINE, "a bad line"); }
END_TEST
START_TEST(test_cache_nul) { check_bad_cache_file(BAD_NUL, "a NUL byte"); }
END_TEST
START_TEST(test_cache_symlink) { check_bad_cache_file(BAD_SYMLINK, "a symbolic link"); }
END_TEST
START_TEST(test_cache_fifo) { check_bad_cache_file(BAD_FIFO, "a FIFO"); }
END_TEST
START_TEST(test_cache_huge) { check_bad_cache_file(BAD_HUGE, "65 MiB"); }
END_TEST
START_TEST(test_cache_directory) { check_bad_cache_file(BAD_DIR, "a directory"); }
END_TEST
START_TEST(test_cache_foreign_owner)
{
    ck_assert_msg(geteuid() == 0, "this test needs root (chown)");
    check_bad_cache_file(BAD_OWNER, "another owner");
}
END_TEST

/* ---- debuginfod ------------------------------------------------------------------------- */

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A stripped sym_inline: no debug information here, so debuginfod would be asked. */
static void debuginfod_session(bool enabled, double *elapsed, struct silent *srv,
                               struct reply *out, struct run *r, char *dcache, size_t cap)
{
    char stripped[PATH_MAX + 64];
    stripped_copy("sym_inline", stripped, sizeof stripped);
    struct sites s;
    sites_of(stripped, &s);
    snprintf(dcache, cap, "%s", tmp_path("debuginfod-cache"));
    char urls[64], cpath[PATH_MAX + 32];
    snprintf(urls, sizeof urls, "DEBUGINFOD_URLS=http://127.0.0.1:%d", srv->port);
    snprintf(cpath, sizeof cpath, "DEBUGINFOD_CACHE_PATH=%s", dcache);
    const char *env[] = { urls, cpath, "DEBUGINFOD_TIMEOUT=60", NULL };
    const char *on[] = { "--debuginfod", "--timeout", "2", NULL };
    char in[8192];
    both_sites(in, sizeof in, &s, 1);
    double t0 = seconds();
    *r = sym_run(enabled ? on : NULL, env, in);
    *elapsed = seconds() - t0;
    ck_assert_msg(r->status == 0, "status %d\n%s", r->status, r->err);
    *out = parse_reply(r->out);
    ck_assert_int_eq(out->nr, 2);
    unlink(stripped);
}

START_TEST(test_no_debuginfod_unless_asked)
{
    struct silent srv;
    silent_start(&srv);
    double elapsed;
    struct reply p;
    struct run r;
    char dcache[PATH_MAX + 64];
    debuginfod_session(false, &elapsed, &srv, &p, &r, dcache, sizeof dcache);
    ck_assert_msg(elapsed < 5, "answered in %.1f s", elapsed);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(strcmp(p.r[i].status, "late"), "answer %d is late without debuginfod", i);
    ck_assert_msg(atomic_load(&srv.accepted) == 0, "%d connections to the debuginfod server",
                  atomic_load(&srv.accepted));
    ck_assert_msg(access(dcache, F_OK) != 0, "the debuginfod cache %s was created", dcache);
    reply_free(&p);
    run_free(&r);
    silent_stop(&srv);
}
END_TEST

START_TEST(test_debuginfod_budget)
{
    struct silent srv;
    silent_start(&srv);
    double elapsed;
    struct reply p;
    struct run r;
    char dcache[PATH_MAX + 64];
    debuginfod_session(true, &elapsed, &srv, &p, &r, dcache, sizeof dcache);
    /* --timeout 2 against a server that never answers: not a timing test, a hang test. */
    ck_assert_msg(elapsed < 10, "answered in %.1f s with --timeout 2", elapsed);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(!strcmp(p.r[i].status, "late") || !strcmp(p.r[i].status, "none"),
                      "answer %d: %s", i, p.r[i].status);
    ck_assert_msg(!strcmp(p.r[0].status, "late"), "the first frame is not late:\n%s", r.out);
    ck_assert_msg(atomic_load(&srv.accepted) >= 1, "debuginfod was never asked");
    ck_assert_msg(p.nw == 1 && warnings_about(&p, "--timeout"), "not one W line saying the "
                  "time ran out:\n%s", r.out);
    reply_free(&p);
    run_free(&r);
    remove_tree(dcache);
    silent_stop(&srv);
}
END_TEST

/* ---- the protocol -------------------------------------------------------------------------- */

START_TEST(test_batches_and_bad_lines)
{
    struct sites s;
    sym_sites(&s);
    char in[16384];
    snprintf(in, sizeof in,
             /* 1: a declaration used in later batches */
             "M 4 %s %s\nF 4 %lx\nE\n"
             /* 2: empty */
             "E\n"
             /* 3: bad lines among good ones; the F ones are still answered, in order */
             "F 4 %lx\nF 4 xyz\nQ what\nF 4\nF 99 10\nM x y\nF 4 12345678901234567\n"
             "F 4 %lx\n\nE\n"
             /* 4: a re-declaration to another module, and a malformed one that undeclares */
             "M 4 - %s\nF 4 %lx\nM 4 zz %s\nF 4 %lx\nE\n",
             s.build_id, s.path, s.plain, s.inlined, s.plain, repo_file("no-such-file"),
             s.plain, s.path, s.plain);
    struct run r = sym_run(NULL, NULL, in);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.ne, 4);
    ck_assert_int_eq(p.nr, 1 + 6 + 2);
    check_frame(&p.r[0], 0, "plain_caller", "sym_inline.c", -1);
    check_frame(&p.r[1], 0, "inner_step", "sym_inline.c", -1);
    for (int i = 2; i <= 5; i++)
        ck_assert_msg(!strcmp(p.r[i].status, "none") && p.r[i].n == 0, "answer %d: %s", i,
                      p.r[i].status);
    check_frame(&p.r[6], 0, "plain_caller", "sym_inline.c", -1);
    ck_assert_str_eq(p.r[7].status, "none");
    ck_assert_str_eq(p.r[8].status, "none");
    /* One W line per bad line (7 in batch 3; in batch 4 the bad M line and the F line of
     * the id it undeclared), and one for the missing file. */
    ck_assert_msg(p.nw == 10, "%d W lines:\n%s", p.nw, r.out);
    /* And in batch 3 they come before its E. */
    const char *e2 = strstr(r.out, "E\nE\n");
    ck_assert(e2);
    ck_assert_msg(strstr(e2 + 4, "W ") < strstr(e2 + 4, "E\n"), "no W line in batch 3:\n%s",
                  r.out);
    reply_free(&p);
    run_free(&r);
}
END_TEST

/* A batch larger than a pipe holds, whose answers are larger still, written whole before
 * anything is read (as run_cmd does): only a helper that reads the batch to its E before
 * it answers gets through. */
START_TEST(test_big_batch)
{
    struct sites s;
    sym_sites(&s);
    enum { N = 20000 };
    size_t cap = (size_t)N * 32 + 4096, len = 0;
    char *in = malloc(cap);
    len += (size_t)snprintf(in, cap, "M 1 %s %s\n", s.build_id, s.path);
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(in + len, cap - len, "F 1 %lx\n", i % 2 ? s.inlined : s.plain);
    snprintf(in + len, cap - len, "E\n");
    ck_assert_int_gt(len, 2 * 65536);
    struct run r = sym_run(NULL, NULL, in);
    ck_assert_msg(r.status == 0, "status %d\n%.500s", r.status, r.err);
    ck_assert_int_gt(strlen(r.out), 4 * 65536);
    ck_assert_int_eq(count_str(r.out, "\tinlining_caller\t"), N / 2);
    ck_assert_int_eq(count_str(r.out, "\tplain_caller\t"), N / 2);
    run_free(&r);
    free(in);
}
END_TEST

START_TEST(test_eof_inside_a_batch)
{
    struct sites s;
    sym_sites(&s);
    char in[8192];
    snprintf(in, sizeof in, "M 1 %s %s\nF 1 %lx\nE\nF 1 %lx\nF 1 ", s.build_id, s.path, s.plain,
             s.inlined);
    struct run r = sym_run(NULL, NULL, in);
    ck_assert_msg(r.status == 0, "status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.err, "");
    struct reply p = parse_reply(r.out);
    ck_assert_msg(p.ne >= 1 && p.nr >= 1, "the complete batch was not answered:\n%s", r.out);
    check_frame(&p.r[0], 0, "plain_caller", "sym_inline.c", -1);
    reply_free(&p);
    run_free(&r);
    /* Nothing at all, and a batch cut inside its first line: the same. */
    r = sym_run(NULL, NULL, "");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    r = sym_run(NULL, NULL, "M 1 - /x");
    ck_assert_int_eq(r.status, 0);
    run_free(&r);
}
END_TEST

/* Control characters in a path come out as '?': a tab or a newline would break the line. */
START_TEST(test_control_characters)
{
    char *dir = tmp_dir("ctl");
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/a\tb\x01" "c", dir);
    char in[8192];
    snprintf(in, sizeof in, "M 1 - %s\nF 1 10\nE\n", path);
    struct run r = sym_run(NULL, NULL, in);
    struct reply p = parse_reply(r.out);
    ck_assert_int_eq(p.nr, 1);
    ck_assert_msg(p.nw == 1 && strstr(p.w[0], "a?b?c"), "W line:\n%s", r.out);
    reply_free(&p);
    run_free(&r);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- the process ------------------------------------------------------------------------- */

START_TEST(test_options)
{
    const char *v[] = { "--version", NULL };
    struct run r = sym_run(v, NULL, "");
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(!strncmp(r.out, "mallocspy-symbolizer ", 21), "--version: %s", r.out);
    run_free(&r);
    const char *h[] = { "--help", NULL };
    r = sym_run(h, NULL, "");
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "--cache") && strstr(r.out, "--debuginfod") &&
                  strstr(r.out, "--timeout"), "--help: %s", r.out);
    run_free(&r);
    const char *bad[] = { "--no-such-option", NULL };
    r = sym_run(bad, NULL, "");
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
    const char *badt[] = { "--timeout", "soon", NULL };
    r = sym_run(badt, NULL, "");
    ck_assert_int_eq(r.status, 2);
    run_free(&r);
}
END_TEST

/* A descriptor the host leaves open (the write end of a pipe it waits on) is closed at once;
 * and a host that goes away before the answers does not kill the helper with SIGPIPE. */
START_TEST(test_descriptors_and_sigpipe)
{
    int held[2], in[2], out[2];
    ck_assert(pipe(held) == 0 && pipe(in) == 0 && pipe(out) == 0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (held[1] != 7) {
            dup2(held[1], 7);   /* inherited, not close-on-exec */
            close(held[1]);
        }
        close(held[0]);
        close(in[1]);
        close(out[0]);
        unsetenv("LD_PRELOAD");
        execl(symbolizer(), symbolizer(), (char *)NULL);
        _exit(127);
    }
    close(held[1]);
    close(in[0]);
    close(out[1]);
    struct pollfd pf = { held[0], POLLIN, 0 };
    int ready = poll(&pf, 1, 10000);
    char c;
    ck_assert_msg(ready == 1 && read(held[0], &c, 1) == 0,
                  "the inherited descriptor is still open in the running helper");
    ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0, "the helper is not running any more");
    /* The reader of its answers is gone; then a batch. */
    close(out[0]);
    static const char batch[] = "M 1 - /nonexistent\nF 1 10\nE\nF 1 20\nE\n";
    ck_assert(write(in[1], batch, sizeof batch - 1) == (ssize_t)sizeof batch - 1);
    close(in[1]);
    int st;
    ck_assert(waitpid(pid, &st, 0) == pid);
    ck_assert_msg(!WIFSIGNALED(st), "the helper died of signal %d", WTERMSIG(st));
    close(held[0]);
}
END_TEST

/* ---- mallocspy-report --symbolize --------------------------------------------------------- */

static void frame_json(char *out, size_t cap, const struct sites *s, unsigned long off,
                       const char *module, bool bid)
{
    char b[160];
    if (bid)
        snprintf(b, sizeof b, "\"%s\"", s->build_id);
    else
        snprintf(b, sizeof b, "null");
    snprintf(out, cap, "{\"address\":\"0x55550000%lx\",\"function\":null,\"module\":\"%s\","
             "\"offset\":\"0x%lx\",\"build_id\":%s,\"file\":null,\"line\":null,"
             "\"inlined\":false}", off, module, off, b);
}

/* The frames of `stack`, each "function:inlined", comma-separated. */
static void describe(const struct jval *stack, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; stack && i < stack->n && len < cap; i++) {
        const char *fn = jstr(stack->items[i], "function");
        const struct jval *inl = jget(stack->items[i], "inlined");
        len += (size_t)snprintf(out + len, cap - len, "%s%s:%d", i ? "," : "",
                                fn ? fn : "null", inl && inl->b);
    }
}

START_TEST(test_report_symbolize)
{
    ck_assert_msg(have_cmd("python3"), "python3 not installed");
    struct sites s;
    sym_sites(&s);
    char plain[1024], inl[1024], nobid[1024], gone[1024];
    frame_json(plain, sizeof plain, &s, s.plain, s.path, true);
    frame_json(inl, sizeof inl, &s, s.inlined, s.path, true);
    frame_json(nobid, sizeof nobid, &s, s.plain, s.path, false);
    frame_json(gone, sizeof gone, &s, 0x10, "/nonexistent/module.so", false);
    char *json = malloc(16384);
    snprintf(json, 16384,
             "{\"tool\":\"mallocspy\",\"version\":\"0\",\"pid\":1,\"exe\":null,\"summary\":{},\n"
             "\"leaks\":[{\"kind\":\"definite\",\"bytes\":8,\"blocks\":1,\"stack\":[%s,%s,%s]}],\n"
             "\"errors\":[{\"kind\":\"double-free\",\"stacks\":{\"alloc\":[%s],\"free\":[%s],"
             "\"here\":[%s]}}],\n"
             "\"sites\":[{\"allocations\":1,\"bytes\":8,\"stack\":[%s]}],\n"
             "\"somewhere\":{\"else\":[{\"stack\":[%s]}]}}\n",
             inl, gone, plain, plain, inl, nobid, plain, inl);
    char *dir = tmp_dir("report");
    char in_path[PATH_MAX + 64], out_path[PATH_MAX + 64], xdg[PATH_MAX + 32], sym[PATH_MAX + 32];
    snprintf(in_path, sizeof in_path, "%s/in.json", dir);
    snprintf(out_path, sizeof out_path, "%s/out.json", dir);
    ck_assert(write_file(in_path, json));
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s/xdg", dir);
    snprintf(sym, sizeof sym, "MALLOCSPY_SYMBOLIZER=%s", symbolizer());
    const char *env[] = { xdg, sym, NULL };
    char *argv[] = { "python3", (char *)repo_file("scripts/mallocspy-report"), "--symbolize",
                     in_path, "-o", out_path, NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "mallocspy-report --symbolize: status %d\n%s", r.status,
                  r.err);
    /* The module that is not there is said, once. */
    ck_assert_msg(count_lines(r.err) == 1 && strstr(r.err, "/nonexistent/module.so"),
                  "stderr: %s", r.err);
    run_free(&r);

    struct jval *rep = load_fixture(out_path);
    char got[2048];
    describe(jpath(rep, "leaks.0.stack"), got, sizeof got);
    ck_assert_str_eq(got, "inner_step:1,outer_step:1,inlining_caller:0,null:0,plain_caller:0");
    ck_assert_msg(is_src_file(jstr(rep, "leaks.0.stack.0.file"), "sym_inline.c") &&
                  jnum(rep, "leaks.0.stack.0.line") == marker_line("sym_inline.c", "SYM-INNER"),
                  "the inlined frame's place");
    ck_assert_msg(jnum(rep, "leaks.0.stack.2.line") == marker_line("sym_inline.c", "SYM-CALLER"),
                  "the real function's line");
    /* Each expanded frame keeps its address, module and offset. */
    for (int i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof k, "leaks.0.stack.%d.offset", i);
        ck_assert_msg(hexval(jstr(rep, k)) == s.inlined, "%s", k);
        snprintf(k, sizeof k, "leaks.0.stack.%d.build_id", i);
        ck_assert_str_eq(jstr(rep, k), s.build_id);
    }
    ck_assert_msg(jget(jpath(rep, "leaks.0.stack.3"), "function")->type == J_NULL,
                  "the unknown frame got a name");
    describe(jpath(rep, "errors.0.stacks.alloc"), got, sizeof got);
    ck_assert_str_eq(got, "plain_caller:0");
    describe(jpath(rep, "errors.0.stacks.free"), got, sizeof got);
    ck_assert_str_eq(got, "inner_step:1,outer_step:1,inlining_caller:0");
    describe(jpath(rep, "errors.0.stacks.here"), got, sizeof got);
    ck_assert_str_eq(got, "plain_caller:0");
    describe(jpath(rep, "sites.0.stack"), got, sizeof got);
    ck_assert_str_eq(got, "plain_caller:0");
    describe(jpath(rep, "somewhere.else.0.stack"), got, sizeof got);
    ck_assert_str_eq(got, "inner_step:1,outer_step:1,inlining_caller:0");
    json_free(rep);

    /* The cache went where XDG_CACHE_HOME says. */
    char cpath[PATH_MAX + 256];
    snprintf(cpath, sizeof cpath, "%s/xdg/mallocspy/%s.sym", dir, s.build_id);
    check_cache_file(cpath, &s);

    /* In place, without -o: the input itself is named. */
    char *argv2[] = { "python3", (char *)repo_file("scripts/mallocspy-report"), "--symbolize",
                      "--no-cache", in_path, NULL };
    r = run_tool(argv2, env);
    ck_assert_msg(r.status == 0, "in place: status %d\n%s", r.status, r.err);
    run_free(&r);
    rep = load_fixture(in_path);
    describe(jpath(rep, "sites.0.stack"), got, sizeof got);
    ck_assert_str_eq(got, "plain_caller:0");
    json_free(rep);
    free(json);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- installation -------------------------------------------------------------------------- */

START_TEST(test_install)
{
    char *prefix = tmp_name("prefix");
    char pv[PATH_MAX + 16];
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    char *argv[] = { "make", "-s", "-C", (char *)repo_dir(), "install-symbolizer", "install-bin",
                     pv, NULL };
    const char *env[] = { "MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", "DESTDIR=", "PREFIX=", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "make install failed:\n%s%s", r.out, r.err);
    run_free(&r);
    char helper[PATH_MAX + 64];
    snprintf(helper, sizeof helper, "%s/lib/mallocspy/mallocspy-symbolizer", prefix);
    struct stat st;
    ck_assert_msg(stat(helper, &st) == 0 && (st.st_mode & 0777) == 0755, "%s: not installed "
                  "with mode 755", helper);

    /* The installed mallocspy-report finds the installed helper by itself. */
    struct sites s;
    sym_sites(&s);
    char frame[1024], json[4096];
    frame_json(frame, sizeof frame, &s, s.plain, s.path, false);
    snprintf(json, sizeof json, "{\"tool\":\"mallocspy\",\"leaks\":[{\"stack\":[%s]}]}", frame);
    char *in = tmp_name("installed.json");
    ck_assert(write_file(in, json));
    char report[PATH_MAX + 64];
    snprintf(report, sizeof report, "%s/bin/mallocspy-report", prefix);
    char *a[] = { "python3", report, "--symbolize", "--no-cache", in, NULL };
    const char *e[] = { "MALLOCSPY_SYMBOLIZER=", NULL };
    r = run_tool(a, e);
    ck_assert_msg(r.status == 0, "installed mallocspy-report: %d\n%s", r.status, r.err);
    run_free(&r);
    struct jval *rep = load_fixture(in);
    ck_assert_str_eq(jstr(rep, "leaks.0.stack.0.function"), "plain_caller");
    json_free(rep);
    unlink(in);
    free(in);
    remove_tree(prefix);
    free(prefix);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("symbolizer");
    TCase *t = tcase_create("names");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_names_and_lines);
    tcase_add_test(t, test_non_pie);
    tcase_add_test(t, test_clang_program);
    tcase_add_test(t, test_cxx_demangled);
    tcase_add_test(t, test_symbol_table_only);
    tcase_add_test(t, test_unknown_modules);
    tcase_add_test(t, test_build_id_mismatch);
    tcase_add_test(t, test_build_id_debug_file);
    tcase_add_test(t, test_same_as_report);
    suite_add_tcase(s, t);
    t = tcase_create("cache");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_cache_answers_without_the_module);
    tcase_add_test(t, test_cache_bad_header);
    tcase_add_test(t, test_cache_foreign);
    tcase_add_test(t, test_cache_bad_line);
    tcase_add_test(t, test_cache_nul);
    tcase_add_test(t, test_cache_symlink);
    tcase_add_test(t, test_cache_fifo);
    tcase_add_test(t, test_cache_huge);
    tcase_add_test(t, test_cache_directory);
    tcase_add_test(t, test_cache_foreign_owner);
    suite_add_tcase(s, t);
    t = tcase_create("debuginfod");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_no_debuginfod_unless_asked);
    tcase_add_test(t, test_debuginfod_budget);
    suite_add_tcase(s, t);
    t = tcase_create("protocol");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_batches_and_bad_lines);
    tcase_add_test(t, test_big_batch);
    tcase_add_test(t, test_eof_inside_a_batch);
    tcase_add_test(t, test_control_characters);
    tcase_add_test(t, test_options);
    tcase_add_test(t, test_descriptors_and_sigpipe);
    suite_add_tcase(s, t);
    t = tcase_create("report");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_report_symbolize);
    tcase_add_test(t, test_install);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
