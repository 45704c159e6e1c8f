/* The leak tracker end to end: programs with known leaks (tests/progs/leak_*) run under the
 * preload, and their reports checked to the byte and the block.  Each test looks only at
 * the groups its program leaks on purpose (found by function name in the stack), never at
 * totals that include what libc or libstdc++ keep for themselves; the programs make their
 * leaked blocks truly unreachable, so the checks hold whether or not blocks still
 * reachable at exit are told apart from leaks.  Source lines are found from the marker
 * comments (LEAK-MALLOC and the like) on them in the programs' sources, never hard-coded.
 * The shared libraries some programs load are built here, from tests/progs/leak_*_lib.c. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mallocspy.h"
#include "testutil.h"

/* ---- files and paths ------------------------------------------------------------------ */

/* Builds tests/progs/<src> as the shared library <dir>/<name> (with -g, its soname the
 * file name). */
static void build_library(const char *dir, const char *name, const char *src, char *out,
                          size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    char soname[PATH_MAX + 16];
    snprintf(soname, sizeof soname, "-Wl,-soname,%s", name);
    char *argv[] = { "cc", "-shared", "-fPIC", "-g", "-O1", "-fno-omit-frame-pointer",
                     soname, "-o", out, (char *)src_path(src), NULL };
    run_tool_ok(argv);
}

/* libleakplugin.so, alone in a fresh directory (dir: PATH_MAX bytes). */
static void build_plugin(char *dir, char *out, size_t cap)
{
    make_dir("plugin", dir, PATH_MAX);
    build_library(dir, "libleakplugin.so", "leak_plugin_lib.c", out, cap);
}

/* ---- running and reading reports ------------------------------------------------------- */

/* A report of these programs: this version's, with leaks, suppressions and the summary. */
static struct jval *load_json(const char *path)
{
    struct jval *v = load_report(path);
    ck_assert_str_eq(jstr(v, "version"), MALLOCSPY_VERSION);
    need_member(v, "leaks", J_ARR);
    need_member(v, "suppressions", J_ARR);
    need_member(v, "summary", J_OBJ);
    return v;
}

/* Runs argv under the preload with "json_path=<fresh file>:<opts>", and reads the JSON
 * report. */
static struct spied run_json(char *const argv[], const char *opts, const char *const env[])
{
    struct spied s = spy_reports(argv, opts, env, false);
    s.json = load_json(s.json_path);
    return s;
}

/* Runs helper program `name` quietly (report=quiet plus `opts`): status 0 and nothing on
 * stderr expected. */
static struct spied run_prog(const char *name, const char *arg, const char *opts)
{
    char *argv[] = { (char *)prog_path(name), (char *)arg, NULL };
    char o[1024];
    snprintf(o, sizeof o, "report=quiet%s%s", opts ? ":" : "", opts ? opts : "");
    struct spied s = run_json(argv, o, NULL);
    check_clean_exit(&s.r, name);
    return s;
}

static size_t nleaks(const struct jval *rep) { return jget(rep, "leaks")->n; }
static const struct jval *leak_at(const struct jval *rep, size_t i)
{
    return jget(rep, "leaks")->items[i];
}

static int stack_depth(const struct jval *g)
{
    const struct jval *st = jget(g, "stack");
    ck_assert_msg(st && st->type == J_ARR, "a leak group without a stack array");
    return (int)st->n;
}

static const struct jval *frame(const struct jval *g, int i)
{
    ck_assert_msg(i < stack_depth(g), "frame %d of a %d-frame stack", i, stack_depth(g));
    return jget(g, "stack")->items[i];
}

static const char *fstr(const struct jval *g, int i, const char *key)
{
    return jstr(frame(g, i), key);
}

/* The index of the first frame among the first `within` of g whose function is fn. */
static int frame_with(const struct jval *g, const char *fn, int within)
{
    stack_depth(g);
    return frame_index(jget(g, "stack"), fn, within);
}

/* How many leak groups have fn among their first `within` frames; the first of them.
 * Every group must have a stack array. */
static int groups_with(const struct jval *rep, const char *fn, int within,
                       const struct jval **first)
{
    for (size_t i = 0; i < nleaks(rep); i++)
        stack_depth(leak_at(rep, i));
    return entries_with(rep, "leaks", fn, within, NULL, first, 1);
}

static bool has_group(const struct jval *rep, const char *fn)
{
    return groups_with(rep, fn, 256, NULL) > 0;
}

/* The one leak group with fn among its first `within` frames. */
static const struct jval *one_group(const struct jval *rep, const char *fn, int within)
{
    const struct jval *g = NULL;
    int n = groups_with(rep, fn, within, &g);
    ck_assert_msg(n == 1, "%d leak groups with %s in their first %d frames (1 expected)", n,
                  fn, within);
    ck_assert_str_eq(jstr(g, "kind"), "definite");
    return g;
}

/* hexval of an address the report gives: its digits must be lower-case. */
static unsigned long long lower_hexval(const char *s)
{
    unsigned long long v = hexval(s);
    for (const char *c = s + 2; *c; c++)
        ck_assert_msg(!(*c >= 'A' && *c <= 'F'), "upper-case hex digits in %s", s);
    return v;
}

/* The frame: module and offset present, and address - offset a page-aligned load base. */
static void check_module(const struct jval *g, int i, const char *module)
{
    const char *m = fstr(g, i, "module");
    ck_assert_msg(m, "frame %d has no module", i);
    if (module)
        ck_assert_str_eq(m, module);
    unsigned long long addr = lower_hexval(fstr(g, i, "address"));
    unsigned long long off = lower_hexval(fstr(g, i, "offset"));
    ck_assert_msg(off > 0 && off <= addr, "frame %d: offset 0x%llx, address 0x%llx", i, off,
                  addr);
    ck_assert_msg((addr - off) % 4096 == 0, "frame %d: address 0x%llx - offset 0x%llx is not "
                  "a module's load base", i, addr, off);
}

/* The group leaked from function fn (at frame `at`), as the test program's source says. */
static const struct jval *check_leak(const struct jval *rep, const char *fn, int at,
                                     unsigned long bytes, unsigned long blocks,
                                     const char *module, const char *src, const char *marker)
{
    const struct jval *g = one_group(rep, fn, at + 1);
    ck_assert_msg(frame_with(g, fn, at + 1) == at, "%s is frame %d, not %d", fn,
                  frame_with(g, fn, at + 1), at);
    ck_assert_msg(jnum(g, "bytes") == (double)bytes && jnum(g, "blocks") == (double)blocks,
                  "%s: %.0f byte(s) in %.0f block(s), expected %lu in %lu", fn,
                  jnum(g, "bytes"), jnum(g, "blocks"), bytes, blocks);
    check_module(g, at, module);
    if (src) {
        const char *file = fstr(g, at, "file");
        ck_assert_msg(is_src_file(file, src), "%s: file %s, expected %s", fn,
                      file ? file : "null", src);
        int want = marker_line(src, marker);
        ck_assert_msg(jnum(frame(g, at), "line") == want, "%s: line %.0f, the %s line is %d",
                      fn, jnum(frame(g, at), "line"), marker, want);
    }
    return g;
}

/* ---- the text report ----------------------------------------------------------------- */

struct tgroup {
    char kind[32];            /* "Direct", "Indirect" */
    unsigned long bytes, blocks;
    int n;
    char frame[64][768];      /* the frame lines, without the newline */
};

/* Splits a text report into its groups; returns how many (at most max). */
static int text_groups(const char *text, struct tgroup *g, int max)
{
    int n = 0;
    char line[2048];
    for (const char *p = text; next_line(&p, line, sizeof line);) {
        char kind[32];
        unsigned long bytes, blocks;
        char tail[64];
        if (sscanf(line, "%31s leak of %lu byte(s) in %lu object(s) allocated %63[^\n]", kind,
                   &bytes, &blocks, tail) == 4 && !strcmp(tail, "from:")) {
            ck_assert_msg(n < max, "more than %d groups", max);
            snprintf(g[n].kind, sizeof g[n].kind, "%s", kind);
            g[n].bytes = bytes;
            g[n].blocks = blocks;
            g[n].n = 0;
            n++;
        } else if (n && !strncmp(line, "    #", 5) && g[n - 1].n < 64) {
            snprintf(g[n - 1].frame[g[n - 1].n++], sizeof g[n - 1].frame[0], "%s", line);
        }
    }
    return n;
}

/* The text group whose frame `at` is in function fn (" in fn "); exactly one. */
static const struct tgroup *text_group(const struct tgroup *g, int n, const char *fn, int at)
{
    const struct tgroup *found = NULL;
    int count = 0;
    for (int i = 0; i < n; i++)
        if (g[i].n > at && names_fn(g[i].frame[at], strlen(g[i].frame[at]), fn)) {
            found = &g[i];
            count++;
        }
    ck_assert_msg(count == 1, "%d text groups with %s at frame %d", count, fn, at);
    return found;
}

/* The frame line the text report must have for JSON frame i of g. */
static void expected_frame_line(const struct jval *g, int i, char *out, size_t cap)
{
    const struct jval *f = frame(g, i);
    size_t n = (size_t)snprintf(out, cap, "    #%d %s", i, jstr(f, "address"));
    if (jstr(f, "function"))
        n += (size_t)snprintf(out + n, cap - n, " in %s", jstr(f, "function"));
    if (jstr(f, "file"))
        n += (size_t)snprintf(out + n, cap - n, " %s:%.0f", jstr(f, "file"), jnum(f, "line"));
    if (jstr(f, "module"))
        snprintf(out + n, cap - n, " (%s+%s)", jstr(f, "module"), jstr(f, "offset"));
}

/* ---- C allocation functions ---------------------------------------------------------- */

/* leak_basic: each C allocation function leaks from its own function. */
static void check_basic_groups(const struct jval *rep, const char *module)
{
    const char *src = "leak_basic.c";
    check_leak(rep, "leak_malloc", 0, 100, 1, module, src, "/* LEAK-MALLOC */");
    check_leak(rep, "leak_calloc", 0, 7 * 13, 1, module, src, "/* LEAK-CALLOC */");
    /* The realloc chain 10 -> 20 -> 300: one block of the final size, with the stack of
     * the last realloc (its own line), and nothing left from the earlier sizes. */
    check_leak(rep, "leak_realloc", 0, 300, 1, module, src, "/* LEAK-REALLOC */");
    check_leak(rep, "leak_memalign", 0, 200, 1, module, src, "/* LEAK-MEMALIGN */");
    check_leak(rep, "leak_aligned", 0, 512, 1, module, src, "/* LEAK-ALIGNED */");
}

START_TEST(test_c_allocators)
{
    struct spied s = run_prog("leak_basic", NULL, NULL);
    const struct jval *rep = s.json;
    const char *exe = prog_path("leak_basic");
    int pid = 0;
    ck_assert_msg(sscanf(s.r.out, "pid=%d", &pid) == 1, "stdout: %s", s.r.out);
    ck_assert_int_eq((int)jnum(rep, "pid"), pid);
    ck_assert_str_eq(jstr(rep, "exe"), exe);
    check_basic_groups(rep, exe);
    /* Every group of leak_realloc is the final block's. */
    ck_assert_int_eq(groups_with(rep, "leak_realloc", 256, NULL), 1);

    /* strdup: frame 0 is in libc's strdup, the caller right after it. */
    const struct jval *g = one_group(rep, "leak_strdup", 3);
    ck_assert_msg(jnum(g, "bytes") == 27 && jnum(g, "blocks") == 1,
                  "strdup: %.0f byte(s) in %.0f block(s)", jnum(g, "bytes"), jnum(g, "blocks"));
    int at = frame_with(g, "leak_strdup", 3);
    ck_assert_msg(at >= 1, "leak_strdup is frame %d: frame 0 should be in strdup", at);
    check_module(g, at, exe);
    ck_assert(is_src_file(fstr(g, at, "file"), "leak_basic.c"));
    ck_assert_int_eq((int)jnum(frame(g, at), "line"),
                     marker_line("leak_basic.c", "/* LEAK-STRDUP */"));
    ck_assert_msg(strstr(fstr(g, 0, "module") ? fstr(g, 0, "module") : "", "libc"),
                  "strdup's frame 0 is in %s", fstr(g, 0, "module"));

    /* main called each of them: the frame after the leaking function. */
    const struct jval *m = one_group(rep, "leak_malloc", 1);
    ck_assert_str_eq(fstr(m, 1, "function"), "main");
    ck_assert(is_src_file(fstr(m, 1, "file"), "leak_basic.c"));
    spied_free(&s);
}
END_TEST

/* ---- C++ ------------------------------------------------------------------------------- */

START_TEST(test_cxx_new)
{
    struct spied s = run_prog("leak_cxx", NULL, NULL);
    unsigned long widget = 0, gadget = 0;
    int gadgets = 0, widgets = 0;
    ck_assert_msg(sscanf(s.r.out, "widget=%lu gadget=%lu gadgets=%d widgets=%d", &widget,
                         &gadget, &gadgets, &widgets) == 4, "stdout: %s", s.r.out);
    const char *exe = prog_path("leak_cxx");
    /* operator new (and new[]) sit between the function and malloc: within 3 frames. */
    const struct jval *w = one_group(s.json, "shapes::make_widget()", 3);
    ck_assert_msg(jnum(w, "bytes") == (double)(widget * (unsigned long)widgets) &&
                  jnum(w, "blocks") == widgets, "new: %.0f byte(s) in %.0f block(s), "
                  "expected %d objects of %lu", jnum(w, "bytes"), jnum(w, "blocks"), widgets,
                  widget);
    int at = frame_with(w, "shapes::make_widget()", 3);
    check_module(w, at, exe);
    ck_assert(is_src_file(fstr(w, at, "file"), "leak_cxx.cc"));
    ck_assert_int_eq((int)jnum(frame(w, at), "line"),
                     marker_line("leak_cxx.cc", "// LEAK-NEW-OBJECT"));
    ck_assert_str_eq(fstr(w, at + 1, "function"), "leak_them()");

    const struct jval *a = one_group(s.json, "shapes::Factory::make_gadgets(int)", 3);
    ck_assert_msg(jnum(a, "bytes") == (double)(gadget * (unsigned long)gadgets) &&
                  jnum(a, "blocks") == 1, "new[]: %.0f byte(s) in %.0f block(s), expected "
                  "one array of %d x %lu", jnum(a, "bytes"), jnum(a, "blocks"), gadgets,
                  gadget);
    at = frame_with(a, "shapes::Factory::make_gadgets(int)", 3);
    check_module(a, at, exe);
    ck_assert_int_eq((int)jnum(frame(a, at), "line"),
                     marker_line("leak_cxx.cc", "// LEAK-NEW-ARRAY"));
    /* Nothing mangled in the program's own frames. */
    for (size_t i = 0; i < nleaks(s.json); i++) {
        const struct jval *g = leak_at(s.json, i);
        for (int k = 0; k < stack_depth(g); k++) {
            const char *f = fstr(g, k, "function");
            ck_assert_msg(!f || strncmp(f, "_Z", 2), "a mangled name in the report: %s", f);
        }
    }
    spied_free(&s);
}
END_TEST

/* ---- threads ------------------------------------------------------------------------- */

START_TEST(test_threads_one_group)
{
    struct spied s = run_prog("leak_threads", NULL, NULL);
    /* 4 threads x 25 blocks of 72 bytes, one call site: one group. */
    const struct jval *g = check_leak(s.json, "leak_from_thread", 0, 4 * 25 * 72, 4 * 25,
                                      prog_path("leak_threads"), "leak_threads.c",
                                      "/* LEAK-THREAD */");
    ck_assert_str_eq(fstr(g, 1, "function"), "thread_main");
    spied_free(&s);
}
END_TEST

/* ---- dlopen'ed and dlclose'd ------------------------------------------------------------ */

/* nm -S: the address and size of symbol `sym` in `lib`. */
static void symbol_range(const char *lib, const char *sym, unsigned long *addr,
                         unsigned long *size)
{
    char *argv[] = { "nm", "-S", "--defined-only", (char *)lib, NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "nm %s: %s", lib, r.err);
    bool found = false;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        char type, name[256];
        if (sscanf(line, "%lx %lx %c %255s", addr, size, &type, name) == 4 &&
            !strcmp(name, sym)) {
            found = true;
            break;
        }
    }
    ck_assert_msg(found, "nm does not list %s in %s", sym, lib);
    run_free(&r);
}

START_TEST(test_dlclosed_library)
{
    char dir[PATH_MAX], lib[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_prog("leak_plugin", lib, NULL);   /* 93: still loaded */
    const struct jval *g = check_leak(s.json, "plugin_leak", 0, 777, 1, lib,
                                      "leak_plugin_lib.c", "/* LEAK-PLUGIN */");
    /* The offset is inside plugin_leak as the library's symbol table has it. */
    unsigned long addr, size;
    symbol_range(lib, "plugin_leak", &addr, &size);
    unsigned long long off = lower_hexval(fstr(g, 0, "offset"));
    ck_assert_msg(off > addr && off < addr + size, "offset 0x%llx is not inside plugin_leak "
                  "(0x%lx, %lu bytes)", off, addr, size);
    ck_assert_str_eq(fstr(g, 1, "function"), "main");
    check_module(g, 1, prog_path("leak_plugin"));
    spied_free(&s);
    remove_tree(dir);
}
END_TEST

/* ---- no leaks ------------------------------------------------------------------------- */

START_TEST(test_frees_everything)
{
    char *argv[] = { (char *)prog_path("leak_none"), NULL };
    struct spied s = run_json(argv, "report=text", NULL);
    ck_assert_msg(s.r.status == 0, "status %d\n%s", s.r.status, s.r.err);
    /* Nothing leaked, no error: nothing on the program's stderr (LeakSanitizer's way). */
    ck_assert_str_eq(s.r.err, "");
    ck_assert_str_eq(s.r.out, "");
    ck_assert_msg(nleaks(s.json) == 0, "%zu leak groups", nleaks(s.json));
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_bytes"), 0);
    /* 50 rounds of 7 allocations (the realloc counts as one), all freed. */
    ck_assert_msg(jnum(s.json, "summary.allocations") >= 350 &&
                  jnum(s.json, "summary.frees") >= 350, "allocations %.0f, frees %.0f",
                  jnum(s.json, "summary.allocations"), jnum(s.json, "summary.frees"));
    /* What tracking holds (taken as the report begins) is part of what mallocspy holds
     * at the end, and holds the block table. */
    double own = jnum(s.json, "mallocspy.own_bytes"), track = jnum(s.json, "mallocspy.tracking_bytes"),
           table = jnum(s.json, "mallocspy.table_bytes");
    ck_assert_msg(table > 0 && table <= track && track <= own,
                  "table_bytes %.0f, tracking_bytes %.0f, own_bytes %.0f", table, track, own);
    /* The process's peak RSS as the report began: libc and mallocspy alone take more
     * than a megabyte; NAN (absent) or 0 (unread) fails. */
    double rss = jnum(s.json, "mallocspy.rss_peak_before_report");
    ck_assert_msg(rss > 1048576 && rss < 1e12, "rss_peak_before_report %.0f", rss);
    spied_free(&s);
}
END_TEST

/* ---- atexit handlers and destructors --------------------------------------------------- */

START_TEST(test_freed_at_exit)
{
    /* The program alone, as tests.mk builds it. */
    struct spied s = run_prog("leak_dtor", NULL, NULL);
    ck_assert_str_eq(s.r.out, "lib=0\n");
    ck_assert_msg(!has_group(s.json, "alloc_for_atexit"), "freed by an atexit handler, "
                  "but reported");
    ck_assert_msg(!has_group(s.json, "alloc_for_dtor"), "freed by a destructor, but reported");
    spied_free(&s);

    /* Linked with a library whose destructor frees what its constructor allocated. */
    char dir[PATH_MAX], lib[PATH_MAX], exe[PATH_MAX], rpath[PATH_MAX + 16], ldir[PATH_MAX + 4];
    make_dir("dtor", dir, sizeof dir);
    build_library(dir, "libleakdtor.so", "leak_dtor_lib.c", lib, sizeof lib);
    snprintf(exe, sizeof exe, "%s/leak_dtor_linked", dir);
    snprintf(rpath, sizeof rpath, "-Wl,-rpath,%s", dir);
    snprintf(ldir, sizeof ldir, "-L%s", dir);
    char *cc[] = { "cc", "-std=gnu11", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-builtin",
                   "-D_GNU_SOURCE", "-o", exe, (char *)src_path("leak_dtor.c"),
                   "-Wl,--no-as-needed", ldir, "-lleakdtor", rpath, "-ldl", NULL };
    run_tool_ok(cc);
    char *argv[] = { exe, NULL };
    s = run_json(argv, "report=quiet", NULL);
    ck_assert_msg(s.r.status == 0, "status %d\n%s", s.r.status, s.r.err);
    ck_assert_str_eq(s.r.err, "");
    ck_assert_str_eq(s.r.out, "lib=1\n");
    ck_assert(!has_group(s.json, "alloc_for_atexit"));
    ck_assert(!has_group(s.json, "alloc_for_dtor"));
    ck_assert_msg(!has_group(s.json, "dtorlib_init"), "freed by the library's destructor, "
                  "but reported");
    spied_free(&s);

    /* The control: when the handlers drop the pointers instead, all three are leaks. */
    const char *keep[] = { "LEAK_DTOR_KEEP=1", NULL };
    s = run_json(argv, "report=quiet", keep);
    ck_assert_msg(s.r.status == 0, "status %d\n%s", s.r.status, s.r.err);
    ck_assert_str_eq(s.r.out, "lib=1\n");
    check_leak(s.json, "alloc_for_atexit", 0, 3111, 1, exe, "leak_dtor.c", "/* LEAK-ATEXIT */");
    check_leak(s.json, "alloc_for_dtor", 0, 2111, 1, exe, "leak_dtor.c", "/* LEAK-DTOR */");
    check_leak(s.json, "dtorlib_init", 0, 4111, 1, lib, "leak_dtor_lib.c",
               "/* LEAK-DTORLIB */");
    spied_free(&s);
    remove_tree(dir);
}
END_TEST

/* ---- fork and exec --------------------------------------------------------------------- */

static void check_process_report(const char *dir, int pid, const char *own, unsigned long bytes,
                                 const char *const others[2])
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/r.%d.json", dir, pid);
    struct jval *rep = load_json(path);
    ck_assert_int_eq((int)jnum(rep, "pid"), pid);
    ck_assert_str_eq(jstr(rep, "exe"), prog_path("leak_fork"));
    check_leak(rep, own, 0, bytes, 1, prog_path("leak_fork"), NULL, NULL);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(!has_group(rep, others[i]), "the report of %d (%s) has %s", pid, own,
                      others[i]);
    json_free(rep);
}

START_TEST(test_fork_and_exec)
{
    char dir[PATH_MAX], opts[PATH_MAX + 64];
    make_dir("fork", dir, sizeof dir);
    snprintf(opts, sizeof opts, "report=quiet:json_path=%s/r.%%p.json", dir);
    char *argv[] = { (char *)prog_path("leak_fork"), NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(r.status == 0, "status %d\n%s%s", r.status, r.out, r.err);
    ck_assert_str_eq(r.err, "");
    int parent = 0, forked = 0, execd = 0, execd2 = 0;
    ck_assert_msg(sscanf(r.out, "exec=%d\nparent=%d fork=%d exec=%d", &execd2, &parent, &forked,
                         &execd) == 4 && execd == execd2, "stdout: %s", r.out);
    /* One file per process, named with its pid. */
    DIR *d = opendir(dir);
    ck_assert(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        int p = 0;
        char tail[16] = "";
        ck_assert_msg(sscanf(e->d_name, "r.%d%15s", &p, tail) == 2 && !strcmp(tail, ".json") &&
                      (p == parent || p == forked || p == execd), "unexpected file %s "
                      "(pids %d %d %d)", e->d_name, parent, forked, execd);
    }
    closedir(d);
    ck_assert_int_eq(files, 3);
    const char *not_parent[2] = { "leak_in_fork_child", "leak_in_exec_child" };
    const char *not_fork[2] = { "leak_in_parent", "leak_in_exec_child" };
    const char *not_exec[2] = { "leak_in_parent", "leak_in_fork_child" };
    check_process_report(dir, parent, "leak_in_parent", 1503, not_parent);
    check_process_report(dir, forked, "leak_in_fork_child", 1501, not_fork);
    check_process_report(dir, execd, "leak_in_exec_child", 1502, not_exec);
    run_free(&r);
    remove_tree(dir);
}
END_TEST

/* ---- suppressions ------------------------------------------------------------------------ */

/* leak_plugin with its library and a suppressions file holding `text` (NULL: a file that
 * does not exist). */
static struct spied run_suppressed(const char *text, const char *lib, char *supp, size_t cap)
{
    snprintf(supp, cap, "%s", tmp_path("supp.txt"));
    if (text)
        ck_assert(write_file(supp, text));
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "report=quiet:suppressions=%s", supp);
    char *argv[] = { (char *)prog_path("leak_plugin"), (char *)lib, NULL };
    struct spied s = run_json(argv, opts, NULL);
    ck_assert_msg(s.r.status == 0, "status %d\n%s", s.r.status, s.r.err);
    return s;
}

/* The four leaks of leak_plugin that are not suppressed must be there, unchanged. */
static void check_plugin_leaks(const struct jval *rep, const char *lib, const char *except[])
{
    static const struct { const char *fn; unsigned long bytes, blocks; } all[] = {
        { "leak_alpha", 111, 1 }, { "leak_beta", 100, 2 }, { "leak_in_three", 90, 3 },
        { "plugin_leak", 777, 1 },
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        bool gone = false;
        for (int k = 0; except[k]; k++)
            gone |= !strcmp(except[k], all[i].fn);
        if (gone)
            ck_assert_msg(!has_group(rep, all[i].fn), "%s is suppressed but listed",
                          all[i].fn);
        else
            check_leak(rep, all[i].fn, 0, all[i].bytes, all[i].blocks,
                       strcmp(all[i].fn, "plugin_leak") ? prog_path("leak_plugin") : lib, NULL,
                       NULL);
    }
}

static void check_suppressed(const struct jval *rep, unsigned long bytes, unsigned long blocks)
{
    ck_assert_msg(jnum(rep, "summary.suppressed_bytes") == (double)bytes &&
                  jnum(rep, "summary.suppressed_blocks") == (double)blocks,
                  "suppressed: %.0f byte(s) in %.0f block(s), expected %lu in %lu",
                  jnum(rep, "summary.suppressed_bytes"), jnum(rep, "summary.suppressed_blocks"),
                  bytes, blocks);
}

static void check_hits(const struct jval *rep, int k, const char *pattern, unsigned long blocks,
                       unsigned long bytes)
{
    char path[64];
    snprintf(path, sizeof path, "suppressions.%d", k);
    const struct jval *s = jpath(rep, path);
    ck_assert_msg(s, "no suppressions entry %d", k);
    ck_assert_str_eq(jstr(s, "pattern"), pattern);
    ck_assert_msg(jnum(s, "blocks") == (double)blocks && jnum(s, "bytes") == (double)bytes,
                  "suppression %s: %.0f block(s), %.0f byte(s); expected %lu, %lu", pattern,
                  jnum(s, "blocks"), jnum(s, "bytes"), blocks, bytes);
}

START_TEST(test_suppress_function)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed("leak:leak_alpha\n", lib, supp, sizeof supp);
    ck_assert_str_eq(s.r.err, "");
    const char *gone[] = { "leak_alpha", NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 111, 1);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 1);
    check_hits(s.json, 0, "leak_alpha", 1, 111);
    spied_free(&s);
    unlink(supp);
    remove_tree(dir);
}
END_TEST

START_TEST(test_suppress_module)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed("leak:libleakplugin.so\n", lib, supp, sizeof supp);
    ck_assert_str_eq(s.r.err, "");
    const char *gone[] = { "plugin_leak", NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 777, 1);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 1);
    check_hits(s.json, 0, "libleakplugin.so", 1, 777);
    spied_free(&s);
    unlink(supp);
    remove_tree(dir);
}
END_TEST

START_TEST(test_suppress_file)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed("leak:leak_plugin_lib.c\n", lib, supp, sizeof supp);
    ck_assert_str_eq(s.r.err, "");
    const char *gone[] = { "plugin_leak", NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 777, 1);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 1);
    check_hits(s.json, 0, "leak_plugin_lib.c", 1, 777);
    spied_free(&s);
    unlink(supp);
    remove_tree(dir);
}
END_TEST

START_TEST(test_suppress_comments_and_blanks)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed("# mallocspy suppressions\n"
                                    "\n"
                                    "# the first one\n"
                                    "leak:leak_alpha\n"
                                    "   \n"
                                    "\t\n"
                                    "  # an indented comment\n"
                                    "leak:leak_beta\n"
                                    "\n", lib, supp, sizeof supp);
    ck_assert_str_eq(s.r.err, "");
    const char *gone[] = { "leak_alpha", "leak_beta", NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 211, 3);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 2);
    check_hits(s.json, 0, "leak_alpha", 1, 111);
    check_hits(s.json, 1, "leak_beta", 2, 100);
    spied_free(&s);
    unlink(supp);
    remove_tree(dir);
}
END_TEST

START_TEST(test_suppress_wildcard)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed("leak:leak_*three\n", lib, supp, sizeof supp);
    ck_assert_str_eq(s.r.err, "");
    const char *gone[] = { "leak_in_three", NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 90, 3);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 1);
    check_hits(s.json, 0, "leak_*three", 3, 90);
    spied_free(&s);
    unlink(supp);
    remove_tree(dir);
}
END_TEST

START_TEST(test_suppressions_file_missing)
{
    char dir[PATH_MAX], lib[PATH_MAX], supp[PATH_MAX];
    build_plugin(dir, lib, sizeof lib);
    struct spied s = run_suppressed(NULL, lib, supp, sizeof supp);
    ck_assert_msg(!strncmp(s.r.err, "mallocspy: ", 11) && count_lines(s.r.err) == 1 &&
                  ends_with(s.r.err, "\n"), "expected one warning line, got:\n%s", s.r.err);
    ck_assert_msg(strstr(s.r.err, supp), "the warning does not name %s: %s", supp, s.r.err);
    const char *gone[] = { NULL };
    check_plugin_leaks(s.json, lib, gone);
    check_suppressed(s.json, 0, 0);
    ck_assert_int_eq((int)jget(s.json, "suppressions")->n, 0);
    spied_free(&s);
    remove_tree(dir);
}
END_TEST

/* ---- stack depth ----------------------------------------------------------------------- */

START_TEST(test_depth_1)
{
    struct spied s = run_prog("leak_basic", NULL, "depth=1");
    ck_assert_msg(nleaks(s.json) > 0, "no leaks reported");
    for (size_t i = 0; i < nleaks(s.json); i++)
        ck_assert_msg(stack_depth(leak_at(s.json, i)) == 1, "a %d-frame stack with depth=1",
                      stack_depth(leak_at(s.json, i)));
    check_basic_groups(s.json, prog_path("leak_basic"));
    spied_free(&s);
}
END_TEST

START_TEST(test_depth_64)
{
    struct spied s = run_prog("leak_deep", NULL, "depth=64");
    const struct jval *g = check_leak(s.json, "leak_deep_leaf", 0, 4242, 1,
                                      prog_path("leak_deep"), "leak_deep.c", "/* LEAK-DEEP */");
    ck_assert_int_eq(stack_depth(g), 64);
    for (int i = 1; i < 64; i++)
        ck_assert_msg(fstr(g, i, "function") && !strcmp(fstr(g, i, "function"), "recurse"),
                      "frame %d is %s", i, fstr(g, i, "function"));
    spied_free(&s);

    /* With room for all of it: the 100 levels, then main. */
    s = run_prog("leak_deep", NULL, "depth=256");
    g = one_group(s.json, "leak_deep_leaf", 1);
    ck_assert_msg(stack_depth(g) > 101, "%d frames", stack_depth(g));
    ck_assert_str_eq(fstr(g, 100, "function"), "recurse");
    ck_assert_str_eq(fstr(g, 101, "function"), "main");
    spied_free(&s);
}
END_TEST

/* ---- bad option values ----------------------------------------------------------------- */

START_TEST(test_bad_options)
{
    /* The depth a leak_deep stack gets by default. */
    struct spied base = run_prog("leak_deep", NULL, NULL);
    int default_depth = stack_depth(one_group(base.json, "leak_deep_leaf", 1));
    spied_free(&base);

    static const struct { const char *item, *name; } bad[] = {
        { "depth=0", "depth" }, { "depth=300", "depth" }, { "depth=x", "depth" },
        { "leak_check=2", "leak_check" }, { "exitcode=256", "exitcode" },
        { "report=loud", "report" }, { "report_reachable=maybe", "report_reachable" },
        { "colour=blue", "colour" },
    };
    char *argv[] = { (char *)prog_path("leak_deep"), NULL };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool loud = !strcmp(bad[i].name, "report");
        char opts[256];
        /* The bad item first: the items after it must still be read. */
        snprintf(opts, sizeof opts, "%s%s", bad[i].item, loud ? "" : ":report=quiet");
        struct spied s = run_json(argv, opts, NULL);
        /* exitcode keeps its default (0): the program's own status despite the leaks. */
        ck_assert_msg(s.r.status == 0, "%s: status %d\n%s", bad[i].item, s.r.status, s.r.err);
        ck_assert_msg(!strncmp(s.r.err, "mallocspy: ", 11), "%s: stderr is\n%s", bad[i].item,
                      s.r.err);
        const char *nl = strchr(s.r.err, '\n');
        ck_assert_msg(nl, "%s: no complete line on stderr", bad[i].item);
        char first[1024];
        snprintf(first, sizeof first, "%.*s", (int)(nl - s.r.err), s.r.err);
        ck_assert_msg(strstr(first, bad[i].name), "%s: the warning does not name the option: %s",
                      bad[i].item, first);
        if (!loud) {
            ck_assert_msg(count_lines(s.r.err) == 1 && !nl[1], "%s: more than one line on "
                          "stderr:\n%s", bad[i].item, s.r.err);
        } else {
            /* The default, text, on stderr after the warning. */
            ck_assert_msg(strstr(nl + 1, "Direct leak of 4242 byte(s) in 1 object(s) "
                                 "allocated from:\n"), "report=loud: no text report:\n%s",
                          s.r.err);
            ck_assert_msg(summary_line(nl + 1, NULL) && ends_with(s.r.err,
                          " allocation(s).\n"), "report=loud: no SUMMARY line:\n%s", s.r.err);
            int warnings = 0;
            for (const char *p = s.r.err; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                warnings += !strncmp(p, "mallocspy:", 10);
            ck_assert_int_eq(warnings, 1);
        }
        /* leak_check stays on, depth at its default. */
        const struct jval *g = one_group(s.json, "leak_deep_leaf", 1);
        ck_assert_msg(jnum(g, "bytes") == 4242, "%s: %.0f bytes", bad[i].item, jnum(g, "bytes"));
        ck_assert_msg(stack_depth(g) == default_depth, "%s: %d frames, %d by default",
                      bad[i].item, stack_depth(g), default_depth);
        /* report_reachable stays off: nothing listed as reachable. */
        for (size_t k = 0; k < nleaks(s.json); k++)
            ck_assert_str_ne(jstr(leak_at(s.json, k), "kind"), "reachable");
        spied_free(&s);
    }
}
END_TEST

/* ---- exitcode ---------------------------------------------------------------------------- */

static int status_of(const char *prog, const char *arg, const char *opts)
{
    char *argv[] = { (char *)prog_path(prog), (char *)arg, NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(!strcmp(r.err, ""), "%s %s (%s): stderr:\n%s", prog, arg ? arg : "", opts,
                  r.err);
    int st = r.status;
    run_free(&r);
    return st;
}

START_TEST(test_exitcode)
{
    /* With leaks: the status asked for, whatever the program's own. */
    ck_assert_int_eq(status_of("leak_basic", NULL, "report=quiet:exitcode=23"), 23);
    ck_assert_int_eq(status_of("leak_basic", "5", "report=quiet:exitcode=23"), 23);
    /* Without leaks: the program's own. */
    ck_assert_int_eq(status_of("leak_none", NULL, "report=quiet:exitcode=23"), 0);
    ck_assert_int_eq(status_of("leak_none", "5", "report=quiet:exitcode=23"), 5);
    /* exitcode unset (or 0): the program's own, even with leaks. */
    ck_assert_int_eq(status_of("leak_basic", NULL, "report=quiet"), 0);
    ck_assert_int_eq(status_of("leak_basic", "5", "report=quiet"), 5);
    ck_assert_int_eq(status_of("leak_basic", "5", "report=quiet:exitcode=0"), 5);
}
END_TEST

/* ---- log_path ---------------------------------------------------------------------------- */

START_TEST(test_log_path_pid)
{
    char dir[PATH_MAX], opts[PATH_MAX + 32];
    make_dir("logs", dir, sizeof dir);
    snprintf(opts, sizeof opts, "log_path=%s/log.%%p", dir);
    char *argv[] = { (char *)prog_path("leak_basic"), NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.err, "");
    int pid = 0;
    ck_assert_msg(sscanf(r.out, "pid=%d", &pid) == 1, "stdout: %s", r.out);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/log.%d", dir, pid);
    char *text = read_file(path);
    ck_assert_msg(text, "no report at %s", path);
    ck_assert_ptr_nonnull(strstr(text, "Direct leak of 100 byte(s) in 1 object(s) allocated "
                                 "from:\n    #0 0x"));
    int sum_pid = 0;
    const char *sum = summary_line(text, &sum_pid);
    ck_assert_msg(ends_with(text, " allocation(s).\n") && sum && sum[-1] == '\n' &&
                  count_lines(sum) == 1 && sum_pid == pid,
                  "no SUMMARY line of pid %d at the end:\n%s", pid, text);
    free(text);
    /* Nothing else in the directory. */
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        files += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(files, 1);
    run_free(&r);
    remove_tree(dir);
}
END_TEST

/* The report cannot be written to log_path: one line on stderr, the status unchanged. */
static void check_log_refused(const char *log_path)
{
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "log_path=%s", log_path);
    char *argv[] = { (char *)prog_path("leak_basic"), "7", NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(r.status == 7, "log_path=%s: status %d, the program's is 7", log_path,
                  r.status);
    ck_assert_msg(!strncmp(r.err, "mallocspy: ", 11) && count_lines(r.err) == 1 &&
                  ends_with(r.err, "\n"), "log_path=%s: expected one line on stderr, got:\n%s",
                  log_path, r.err);
    ck_assert_msg(strstr(r.err, log_path), "the line does not name %s: %s", log_path, r.err);
    run_free(&r);
}

START_TEST(test_log_path_missing_dir)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/log", tmp_path("no-such-dir"));
    check_log_refused(path);
}
END_TEST

START_TEST(test_log_path_dev_full)
{
    ck_assert_msg(access("/dev/full", W_OK) == 0, "/dev/full is not writable here");
    check_log_refused("/dev/full");
}
END_TEST

START_TEST(test_log_path_symlink)
{
    char target[PATH_MAX], link[PATH_MAX];
    snprintf(target, sizeof target, "%s", tmp_path("target"));
    snprintf(link, sizeof link, "%s", tmp_path("link"));
    ck_assert(write_file(target, "the original contents\n"));
    ck_assert_msg(symlink(target, link) == 0, "symlink: %s", strerror(errno));
    check_log_refused(link);
    char *text = read_file(target);
    ck_assert_str_eq(text, "the original contents\n");
    free(text);
    struct stat st;
    ck_assert(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    unlink(link);
    unlink(target);
}
END_TEST

/* ---- hostile names --------------------------------------------------------------------- */

START_TEST(test_hostile_path)
{
    char base[PATH_MAX], dir[PATH_MAX + 64], exe[2 * PATH_MAX];
    make_dir("hostile", base, sizeof base);
    snprintf(dir, sizeof dir, "%s/a \"quoted\" dir\\with\nnewline\t\x01", base);
    ck_assert_msg(mkdir(dir, 0755) == 0, "mkdir: %s", strerror(errno));
    snprintf(exe, sizeof exe, "%s/le\"ak\\basic \xc3\xa9", dir);
    char *cp[] = { "cp", (char *)prog_path("leak_basic"), exe, NULL };
    run_tool_ok(cp);
    char *argv[] = { exe, NULL };
    struct spied s = run_json(argv, "report=quiet", NULL);   /* load_json: it parses */
    ck_assert_msg(s.r.status == 0, "status %d\n%s", s.r.status, s.r.err);
    ck_assert_str_eq(s.r.err, "");
    ck_assert_str_eq(jstr(s.json, "exe"), exe);
    check_basic_groups(s.json, exe);
    spied_free(&s);
    remove_tree(base);
}
END_TEST

/* ---- a stripped binary ----------------------------------------------------------------- */

START_TEST(test_stripped)
{
    char exe[PATH_MAX + 64];
    stripped_copy("leak_basic", exe, sizeof exe);

    struct spied orig = run_prog("leak_basic", NULL, NULL);
    char *argv[] = { exe, NULL };
    /* Without the symbol cache: the names of the unstripped build (the same build ID)
     * would be found there. */
    struct spied s = run_json(argv, "report=quiet:symbol_cache=0", NULL);
    ck_assert_int_eq(s.r.status, 0);
    ck_assert_str_eq(s.r.err, "");
    ck_assert_str_eq(jstr(s.json, "exe"), exe);
    static const char *const fns[] = { "leak_malloc", "leak_calloc", "leak_realloc",
                                       "leak_memalign", "leak_aligned" };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        const struct jval *o = one_group(orig.json, fns[i], 1);
        const char *off = fstr(o, 0, "offset");
        /* The same leak in the stripped program: same code, so the same offset. */
        const struct jval *found = NULL;
        int n = 0;
        for (size_t k = 0; k < nleaks(s.json); k++) {
            const struct jval *g = leak_at(s.json, k);
            const char *m = fstr(g, 0, "module"), *so = fstr(g, 0, "offset");
            if (m && !strcmp(m, exe) && so && !strcmp(so, off)) {
                found = g;
                n++;
            }
        }
        ck_assert_msg(n == 1, "%s: %d groups at %s+%s in the stripped program", fns[i], n, exe,
                      off);
        ck_assert_msg(jnum(found, "bytes") == jnum(o, "bytes") &&
                      jnum(found, "blocks") == jnum(o, "blocks"), "%s: not the same leak",
                      fns[i]);
        check_module(found, 0, exe);
        ck_assert_msg(jpath(found, "stack.0.function")->type == J_NULL, "%s: function %s in "
                      "a stripped program", fns[i], fstr(found, 0, "function"));
        ck_assert(jpath(found, "stack.0.file")->type == J_NULL);
        ck_assert(jpath(found, "stack.0.line")->type == J_NULL);
    }
    /* No frame in the stripped program has a name. */
    for (size_t k = 0; k < nleaks(s.json); k++) {
        const struct jval *g = leak_at(s.json, k);
        for (int i = 0; i < stack_depth(g); i++) {
            const char *m = fstr(g, i, "module");
            if (m && !strcmp(m, exe))
                ck_assert_msg(!fstr(g, i, "function") && !fstr(g, i, "file"),
                              "frame %d in the stripped program: %s %s", i,
                              fstr(g, i, "function"), fstr(g, i, "file"));
        }
    }
    /* With it: the cache is keyed by build ID, and strip keeps the build ID, so the
     * stripped copy gets the names its build had (as a debug file found by build ID
     * would give them). */
    struct spied c = run_json(argv, "report=quiet", NULL);
    const struct jval *g = one_group(c.json, "leak_malloc", 1);
    check_module(g, 0, exe);
    spied_free(&c);
    spied_free(&orig);
    spied_free(&s);
    unlink(exe);
}
END_TEST

/* ---- the text report ----------------------------------------------------------------- */

START_TEST(test_text_report)
{
    char *argv[] = { (char *)prog_path("leak_basic"), NULL };
    struct spied s = spy_reports(argv, NULL, NULL, true);   /* the text and JSON of a run */
    ck_assert_int_eq(s.r.status, 0);
    ck_assert_str_eq(s.r.err, "");
    s.json = load_json(s.json_path);
    const char *text = s.log = read_file(s.log_path);
    ck_assert_msg(text, "no text report");
    static struct tgroup tg[256];
    int n = text_groups(text, tg, 256);
    static const struct { const char *fn; int at; } leaks[] = {
        { "leak_malloc", 0 }, { "leak_calloc", 0 }, { "leak_realloc", 0 },
        { "leak_memalign", 0 }, { "leak_aligned", 0 }, { "leak_strdup", 1 },
    };
    for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++) {
        const struct tgroup *t = text_group(tg, n, leaks[i].fn, leaks[i].at);
        const struct jval *g = one_group(s.json, leaks[i].fn, leaks[i].at + 1);
        ck_assert_str_eq(t->kind, "Direct");
        ck_assert_msg(t->bytes == (unsigned long)jnum(g, "bytes") &&
                      t->blocks == (unsigned long)jnum(g, "blocks"), "%s: text %lu/%lu, JSON "
                      "%.0f/%.0f", leaks[i].fn, t->bytes, t->blocks, jnum(g, "bytes"),
                      jnum(g, "blocks"));
        ck_assert_int_eq(t->n, stack_depth(g));
        for (int k = 0; k < t->n; k++) {
            char want[2048];
            expected_frame_line(g, k, want, sizeof want);
            ck_assert_str_eq(t->frame[k], want);
        }
    }
    /* And the leaking frame spelled out, independently of the JSON. */
    const struct tgroup *t = text_group(tg, n, "leak_malloc", 0);
    char *after_in = strstr(t->frame[0], " in leak_malloc ");
    char file[512], module[PATH_MAX];
    int line = 0;
    unsigned long off = 0;
    ck_assert_msg(!strncmp(t->frame[0], "    #0 0x", 9) && after_in &&
                  sscanf(after_in, " in leak_malloc %511[^:]:%d (%4095[^+]+0x%lx)", file, &line,
                         module, &off) == 4, "frame line: %s", t->frame[0]);
    ck_assert(is_src_file(file, "leak_basic.c"));
    ck_assert_int_eq(line, marker_line("leak_basic.c", "/* LEAK-MALLOC */"));
    ck_assert_str_eq(module, prog_path("leak_basic"));
    ck_assert_msg(ends_with(t->frame[0], ")"), "frame line: %s", t->frame[0]);
    ck_assert_msg(strstr(t->frame[1], " in main "), "frame #1: %s", t->frame[1]);
    /* The summary ends the report. */
    ck_assert_msg(ends_with(text, " allocation(s).\n"), "%s", text);
    const char *sum = summary_line(text, NULL);
    ck_assert_msg(sum && sum[-1] == '\n' && count_lines(sum) == 1, "no final SUMMARY line");
    spied_free(&s);
}
END_TEST

/* ---- ms_report_leaks ------------------------------------------------------------------- */

START_TEST(test_report_leaks_api)
{
    struct spied s = run_prog("leak_api", NULL, NULL);
    const char *ret = strstr(s.r.out, "\nreturn=");
    ck_assert_msg(ret, "stdout: %s", s.r.out);
    int returned = -100;
    ck_assert(sscanf(ret, "\nreturn=%d", &returned) == 1);
    ck_assert_msg(ends_with(s.r.out, "\n") && !strchr(strchr(ret + 1, '\n') + 1, '\n'),
                  "output after the return line: %s", ret);
    /* The text that ms_report_leaks wrote, before that line. */
    size_t len = (size_t)(ret - s.r.out);
    char *text = malloc(len + 1);
    memcpy(text, s.r.out, len);
    text[len] = 0;
    static struct tgroup tg[256];
    int n = text_groups(text, tg, 256);
    unsigned long listed = 0;
    for (int i = 0; i < n; i++)
        listed += tg[i].blocks;
    ck_assert_msg(returned >= 1 && (unsigned long)returned == listed,
                  "ms_report_leaks returned %d, and listed %lu block(s):\n%s", returned,
                  listed, text);
    char summary[128];
    snprintf(summary, sizeof summary, " leaked in %d allocation(s).\n", returned);
    ck_assert_msg(ends_with(text, summary) && strstr(text, "SUMMARY: mallocspy: "),
                  "the SUMMARY line does not say %d:\n%s", returned, text);
    const struct tgroup *kept = text_group(tg, n, "leak_api_kept", 0);
    ck_assert_str_eq(kept->kind, "Direct");
    ck_assert_uint_eq(kept->bytes, 4000);
    ck_assert_uint_eq(kept->blocks, 1);
    free(text);
    /* At exit: the leak is still there, the block freed after the call is not. */
    check_leak(s.json, "leak_api_kept", 0, 4000, 1, prog_path("leak_api"), "leak_api.c",
               "/* LEAK-API-KEPT */");
    ck_assert_msg(!has_group(s.json, "leak_api_hold"), "the block freed after "
                  "ms_report_leaks is in the exit report");
    spied_free(&s);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("tracker");
    TCase *t = tcase_create("tracker");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_c_allocators);
    tcase_add_test(t, test_cxx_new);
    tcase_add_test(t, test_threads_one_group);
    tcase_add_test(t, test_dlclosed_library);
    tcase_add_test(t, test_frees_everything);
    tcase_add_test(t, test_freed_at_exit);
    tcase_add_test(t, test_fork_and_exec);
    tcase_add_test(t, test_suppress_function);
    tcase_add_test(t, test_suppress_module);
    tcase_add_test(t, test_suppress_file);
    tcase_add_test(t, test_suppress_comments_and_blanks);
    tcase_add_test(t, test_suppress_wildcard);
    tcase_add_test(t, test_suppressions_file_missing);
    tcase_add_test(t, test_depth_1);
    tcase_add_test(t, test_depth_64);
    tcase_add_test(t, test_bad_options);
    tcase_add_test(t, test_exitcode);
    tcase_add_test(t, test_log_path_pid);
    tcase_add_test(t, test_log_path_missing_dir);
    tcase_add_test(t, test_log_path_dev_full);
    tcase_add_test(t, test_log_path_symlink);
    tcase_add_test(t, test_hostile_path);
    tcase_add_test(t, test_stripped);
    tcase_add_test(t, test_text_report);
    tcase_add_test(t, test_report_leaks_api);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
