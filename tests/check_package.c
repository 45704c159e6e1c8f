/* Packaging: the library's file, soname link and development link in the build tree; an
 * installation into a multiarch libdir (make install LIBDIR=...) where the wrapper, the
 * library's symbolizer, mallocspy-report and pkg-config's flags all find what they need;
 * the bash completion, which takes the wrapper's options from its --help; and debian/
 * kept in step with the version, the soname and the version nodes. */
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

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

/* The soname written in the library at `path` (readelf -d). */
static const char *soname_of(const char *path)
{
    static char name[256];
    char *argv[] = { "readelf", "-d", "-W", (char *)path, NULL };
    const char *env[] = { "LANG=C", "LC_ALL=C", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "readelf -d %s: status %d\n%s", path, r.status, r.err);
    const char *p = strstr(r.out, "Library soname: [");
    ck_assert_msg(p && sscanf(p, "Library soname: [%255[^]]]", name) == 1,
                  "%s has no soname:\n%s", path, r.out);
    run_free(&r);
    return name;
}

/* The target of symbolic link `path`, which must be one. */
static const char *link_target(const char *path)
{
    static char t[PATH_MAX];
    struct stat st;
    ck_assert_msg(lstat(path, &st) == 0 && S_ISLNK(st.st_mode), "%s is not a symbolic link",
                  path);
    ssize_t n = readlink(path, t, sizeof t - 1);
    ck_assert(n > 0);
    t[n] = 0;
    return t;
}

static bool is_regular(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The library itself, named after the version; the soname's link to it, which programs
 * linked with -lmallocspy load; the development link, which -lmallocspy and
 * LD_PRELOAD=libmallocspy.so name.  Both links relative, so that a copied tree works. */
static void check_library_files(const char *dir)
{
    char file[PATH_MAX], so0[PATH_MAX], so[PATH_MAX];
    snprintf(file, sizeof file, "%s/libmallocspy.so.%s", dir, header_version());
    snprintf(so0, sizeof so0, "%s/libmallocspy.so.0", dir);
    snprintf(so, sizeof so, "%s/libmallocspy.so", dir);
    ck_assert_msg(is_regular(file), "%s is not a file", file);
    ck_assert_str_eq(soname_of(file), "libmallocspy.so.0");
    char want[64];
    snprintf(want, sizeof want, "libmallocspy.so.%s", header_version());
    ck_assert_str_eq(link_target(so0), want);
    ck_assert_str_eq(link_target(so), "libmallocspy.so.0");
}

START_TEST(test_build_tree_links)
{
    check_library_files(BUILD_DIR);
}
END_TEST

/* Debian's name for the multiarch directory of this machine (x86_64-linux-gnu...). */
static const char *triplet(void)
{
    static char t[128];
    char *argv[] = { "cc", "-print-multiarch", NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0 && sscanf(r.out, "%127s", t) == 1, "cc -print-multiarch: %s",
                  r.err);
    run_free(&r);
    return t;
}

/* make -C <repo> install VARS... with this build directory; not part of any make that
 * may be running this test. */
static void make_install(const char *const vars[])
{
    char b[PATH_MAX + 8];
    snprintf(b, sizeof b, "B=%s", BUILD_DIR);
    char *argv[16] = { "make", "-s", "-C", (char *)repo_dir(), "install", b };
    int k = 6;
    for (int i = 0; vars[i] && k < 15; i++)
        argv[k++] = (char *)vars[i];
    argv[k] = NULL;
    const char *env[] = { "MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", "DESTDIR=", "PREFIX=",
                          "LIBDIR=", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "make install failed (status %d):\n%s\n%s", r.status, r.out,
                  r.err);
    run_free(&r);
}

/* Whether the text of file `path` holds `line` as a whole line. */
static bool file_has_line(const char *path, const char *line)
{
    char *text = read_file(path);
    ck_assert_msg(text, "cannot read %s", path);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "\n%s\n", line);
    bool found = strstr(text, want) != NULL;
    free(text);
    return found;
}

/* Runs argv (a program and its arguments) in directory `dir`, as a user would: no preload,
 * no options inherited. */
static struct run run_in(const char *dir, char *const argv[], const char *const env[])
{
    char *full[32] = { "sh", "-c", "cd \"$1\" && shift && exec \"$@\"", "sh", (char *)dir };
    int k = 5;
    for (int i = 0; argv[i] && k < 31; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    return run_tool(full, env);
}

/* Whether the report at `path` names load_records (the demo's leak) in a stack. */
static bool demo_named(const char *path)
{
    struct jval *j = load_report(path);
    const struct jval *g = NULL;
    bool named = entries_with(j, "leaks", "load_records", 3, NULL, &g, 1) > 0;
    ck_assert_msg(jget(j, "leaks") && jget(j, "leaks")->n > 0, "%s: no leaks", path);
    json_free(j);
    return named;
}

START_TEST(test_install_multiarch)
{
    char *prefix = tmp_dir("prefix");
    char libdir[PATH_MAX], pv[PATH_MAX + 16], lv[PATH_MAX + 16];
    snprintf(libdir, sizeof libdir, "%s/lib/%s", prefix, triplet());
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    snprintf(lv, sizeof lv, "LIBDIR=%s", libdir);
    const char *vars[] = { pv, lv, NULL };
    make_install(vars);

    /* Everything of the library's in the multiarch directory, nothing in lib/ itself. */
    check_library_files(libdir);
    char p[PATH_MAX + 128], line[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/lib/libmallocspy.so", prefix);
    ck_assert_msg(access(p, F_OK) != 0, "%s installed beside the multiarch directory", p);
    snprintf(p, sizeof p, "%s/mallocspy/mallocspy-symbolizer", libdir);
    ck_assert_msg(access(p, X_OK) == 0, "%s not installed", p);
    snprintf(p, sizeof p, "%s/pkgconfig/mallocspy.pc", libdir);
    snprintf(line, sizeof line, "libdir=%s", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(p, sizeof p, "%s/share/bash-completion/completions/mallocspy", prefix);
    ck_assert_msg(is_regular(p), "%s not installed", p);
    snprintf(p, sizeof p, "%s/bin/mallocspy", prefix);
    snprintf(line, sizeof line, "MALLOCSPY_LIBDIR=\"%s\"", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(p, sizeof p, "%s/bin/mallocspy-report", prefix);
    snprintf(line, sizeof line, "MALLOCSPY_LIBEXEC = \"%s/mallocspy\"", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);

    /* The installed library reads the default suppressions two levels up, from
     * <prefix>/share/mallocspy. */
    char supp[PATH_MAX + 64], pre[PATH_MAX + 32];
    snprintf(supp, sizeof supp, "%s/share/mallocspy/default.supp", prefix);
    ck_assert_msg(is_regular(supp), "%s not installed", supp);
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s/libmallocspy.so", libdir);
    const char *venv[] = { pre, "MALLOCSPY_OPTIONS=verbosity=1", NULL };
    char *tv[] = { "true", NULL };
    struct run v = run_tool(tv, venv);
    snprintf(line, sizeof line, "'%s/../../share/mallocspy/default.supp'", libdir);
    ck_assert_msg(v.status == 0 && strstr(v.err, line), "the installed library does not read "
                  "%s:\n%s", line, v.err);
    run_free(&v);

    /* The installed wrapper preloads the installed library, from anywhere. */
    char *work = tmp_dir("work");
    char bin[PATH_MAX], lib[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/bin/mallocspy", prefix);
    snprintf(lib, sizeof lib, "%s/libmallocspy.so", libdir);
    char *a1[] = { bin, "--quiet", "sh", "-c", "printf '%s' \"$LD_PRELOAD\"", NULL };
    struct run r = run_in(work, a1, NULL);
    ck_assert_msg(r.status == 0, "installed mallocspy: status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.out, lib);
    run_free(&r);

    /* The demo's frames are named: the installed library found the symbolizer installed
     * beside it, in <libdir>/mallocspy... */
    const char *demo = BUILD_DIR "/tests/examples/demo";
    char *a2[] = { bin, "--quiet", "--json", "demo.json", (char *)demo, NULL };
    r = run_in(work, a2, NULL);
    ck_assert_msg(r.status == 0, "mallocspy -- demo: status %d\n%s", r.status, r.err);
    run_free(&r);
    char json[PATH_MAX + 32];
    snprintf(json, sizeof json, "%s/demo.json", work);
    ck_assert_msg(demo_named(json), "the installed library named no frame of the demo");
    /* ...and only there: without it, they are not. */
    char sym[PATH_MAX + 64], away[PATH_MAX + 64];
    snprintf(sym, sizeof sym, "%s/mallocspy/mallocspy-symbolizer", libdir);
    snprintf(away, sizeof away, "%s.away", sym);
    ck_assert_int_eq(rename(sym, away), 0);
    r = run_in(work, a2, NULL);
    ck_assert_int_eq(rename(away, sym), 0);
    ck_assert_msg(r.status == 0, "mallocspy -- demo: status %d\n%s", r.status, r.err);
    run_free(&r);
    ck_assert_msg(!demo_named(json), "frames named without the installed symbolizer");

    /* mallocspy-report names that report with the installed symbolizer, and draws it
     * from the installed template. */
    char rep[PATH_MAX];
    snprintf(rep, sizeof rep, "%s/bin/mallocspy-report", prefix);
    char *a4[] = { rep, "demo.json", "--symbolize", "--no-cache", "-o", "named.json",
                   "--flamegraph", "demo.svg", NULL };
    const char *renv[] = { "MALLOCSPY_SYMBOLIZER=", NULL };
    r = run_in(work, a4, renv);
    ck_assert_msg(r.status == 0, "installed mallocspy-report: status %d\n%s", r.status, r.err);
    run_free(&r);
    char named[PATH_MAX + 32], svg[PATH_MAX + 32];
    snprintf(named, sizeof named, "%s/named.json", work);
    snprintf(svg, sizeof svg, "%s/demo.svg", work);
    ck_assert_msg(demo_named(named), "mallocspy-report --symbolize named nothing");
    char *text = read_file(svg);
    ck_assert_msg(text && strstr(text, "<svg") && strstr(text, "load_records"),
                  "mallocspy-report drew no flame graph of the demo");
    free(text);

    /* -lmallocspy with pkg-config's flags: the program records the soname and loads the
     * installed library through it. */
    char *src = tmp_name("use_pc.c"), *exe = tmp_name("use_pc");
    ck_assert(write_file(src,
        "#include <mallocspy.h>\n#include <stdio.h>\n"
        "int main(void)\n{\n"
        "    ms_malloc *m = ms_get_malloc();\n"
        "    void *p = ms_alloc(m, 16);\n"
        "    ms_free(m, p);\n"
        "    printf(\"%s\\n\", ms_version());\n"
        "    return p == NULL;\n}\n"));
    char pcp[PATH_MAX + 32];
    snprintf(pcp, sizeof pcp, "PKG_CONFIG_PATH=%s/pkgconfig", libdir);
    const char *penv[] = { pcp, NULL };
    char *cargv[] = { "sh", "-c",
                      "cc -Wall -Werror -o \"$1\" \"$2\" $(pkg-config --cflags --libs mallocspy) "
                      "-Wl,-rpath,\"$3\"", "sh", exe, src, libdir, NULL };
    r = run_tool(cargv, penv);
    ck_assert_msg(r.status == 0, "building with pkg-config's flags failed:\n%s", r.err);
    run_free(&r);
    char *largv[] = { "sh", "-c", "LD_TRACE_LOADED_OBJECTS=1 \"$1\"", "sh", exe, NULL };
    r = run_tool(largv, NULL);
    snprintf(line, sizeof line, "libmallocspy.so.0 => %s/libmallocspy.so.0 ", libdir);
    ck_assert_msg(r.status == 0 && strstr(r.out, line), "the program does not load %s:\n%s",
                  line, r.out);
    run_free(&r);
    char *xargv[] = { exe, NULL };
    const char *xenv[] = { "MALLOCSPY_OPTIONS=report=quiet", NULL };
    r = run_tool(xargv, xenv);
    ck_assert_msg(r.status == 0, "the program built with pkg-config: status %d\n%s", r.status,
                  r.err);
    snprintf(line, sizeof line, "%s\n", header_version());
    ck_assert_str_eq(r.out, line);
    run_free(&r);

    /* Without the development link (Debian's libmallocspy-dev not installed), the wrapper
     * preloads the soname's file, whose name it must know. */
    ck_assert_int_eq(unlink(lib), 0);
    r = run_in(work, a1, NULL);
    ck_assert_msg(r.status == 0, "installed mallocspy: status %d\n%s", r.status, r.err);
    char file[PATH_MAX + 64];
    snprintf(file, sizeof file, "%s/libmallocspy.so.%s", libdir, header_version());
    snprintf(line, sizeof line, "%s/%s", libdir, soname_of(file));
    ck_assert_str_eq(r.out, line);
    run_free(&r);

    unlink(src);
    unlink(exe);
    free(src);
    free(exe);
    remove_tree(work);
    free(work);
    remove_tree(prefix);
    free(prefix);
}
END_TEST

/* Staged for a package: every path the scripts hold is the final one, never DESTDIR. */
START_TEST(test_install_staged_multiarch)
{
    char *dest = tmp_dir("destdir");
    char dv[PATH_MAX + 16], lv[PATH_MAX + 16], libdir[PATH_MAX];
    snprintf(libdir, sizeof libdir, "/usr/lib/%s", triplet());
    snprintf(dv, sizeof dv, "DESTDIR=%s", dest);
    snprintf(lv, sizeof lv, "LIBDIR=%s", libdir);
    const char *vars[] = { dv, "PREFIX=/usr", lv, NULL };
    make_install(vars);
    char staged[PATH_MAX + 32], p[PATH_MAX + 128], line[PATH_MAX + 64];
    snprintf(staged, sizeof staged, "%s%s", dest, libdir);
    check_library_files(staged);
    snprintf(p, sizeof p, "%s/pkgconfig/mallocspy.pc", staged);
    snprintf(line, sizeof line, "libdir=%s", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(p, sizeof p, "%s/usr/bin/mallocspy", dest);
    snprintf(line, sizeof line, "MALLOCSPY_LIBDIR=\"%s\"", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(p, sizeof p, "%s/usr/bin/mallocspy-report", dest);
    snprintf(line, sizeof line, "MALLOCSPY_LIBEXEC = \"%s/mallocspy\"", libdir);
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(line, sizeof line, "MALLOCSPY_DATADIR = \"/usr/share/mallocspy\"");
    ck_assert_msg(file_has_line(p, line), "%s lacks %s", p, line);
    snprintf(p, sizeof p, "%s%s/mallocspy/mallocspy-symbolizer", dest, libdir);
    ck_assert_msg(access(p, X_OK) == 0, "%s not installed", p);
    snprintf(p, sizeof p, "%s/usr/share/bash-completion/completions/mallocspy", dest);
    ck_assert_msg(is_regular(p), "%s not installed", p);
    remove_tree(dest);
    free(dest);
}
END_TEST

/* ---- bash completion ---------------------------------------------------------------- */

/* The completions bash offers for the words of a command line, the last being the one
 * completed ("" for a new word), with scripts/mallocspy.bash-completion loaded, after
 * bash-completion itself when `full`.  One per line, sorted. */
static char *complete_words(bool full, const char *const words[])
{
    static const char script[] =
        "if [ \"$1\" = 1 ]; then . /usr/share/bash-completion/bash_completion || exit 3; fi\n"
        ". \"$2\" || exit 4\n"
        "shift 2\n"
        "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1))\n"
        "COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}\n"
        "_mallocspy 2>/dev/null\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\" | LC_ALL=C sort -u\n";
    char *argv[40] = { "bash", "--norc", "--noprofile", "-c", (char *)script, "bash",
                       full ? "1" : "0",
                       (char *)repo_file("scripts/mallocspy.bash-completion") };
    int k = 8;
    for (int i = 0; words[i] && k < 39; i++)
        argv[k++] = (char *)words[i];
    argv[k] = NULL;
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "bash: status %d\n%s", r.status, r.err);
    char *out = strdup(r.out);
    run_free(&r);
    return out;
}

static bool offered(const char *list, const char *word)
{
    char w[256];
    snprintf(w, sizeof w, "\n%s\n", word);
    if (!strncmp(list, w + 1, strlen(w + 1)))
        return true;
    return strstr(list, w) != NULL;
}

/* Every option the wrapper's --help lists ("  --name" or "  -h, --name" at the start of
 * a line), which the completion must offer. */
static int help_options(const char *wrapper, char names[][64], int max)
{
    char *argv[] = { (char *)wrapper, "--help", NULL };
    struct run r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "%s --help: status %d", wrapper, r.status);
    int n = 0;
    for (const char *p = r.out; p && *p && n < max; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        const char *q = p;
        while (*q == ' ')
            q++;
        if (q - p < 1 || q - p > 8 || *q != '-')
            continue;
        if (q[1] != '-' && q[2] == ',') {         /* "-h, --help" */
            snprintf(names[n++], 64, "%.2s", q);
            q += 3;
            while (*q == ' ')
                q++;
        }
        size_t len = strspn(q, "-abcdefghijklmnopqrstuvwxyz0123456789");
        if (len > 2 && n < max)
            snprintf(names[n++], 64, "%.*s", (int)len, q);
    }
    run_free(&r);
    return n;
}

START_TEST(test_completion_offers_every_option)
{
    char names[128][64];
    int n = help_options(repo_file("scripts/mallocspy"), names, 128);
    ck_assert_msg(n >= 20, "only %d options in mallocspy --help", n);
    for (int full = 0; full <= 1; full++) {
        const char *w1[] = { repo_file("scripts/mallocspy"), "-", NULL };
        char *got = complete_words(full, w1);
        for (int i = 0; i < n; i++)
            ck_assert_msg(offered(got, names[i]), "%s not offered%s:\n%s", names[i],
                          full ? " with bash-completion" : "", got);
        free(got);
        const char *w2[] = { repo_file("scripts/mallocspy"), "--qu", NULL };
        got = complete_words(full, w2);
        ck_assert_str_eq(got, "--quarantine\n--quiet\n");
        free(got);
    }
}
END_TEST

/* A wrapper with other options gets those completed, and no others: the list is the
 * wrapper's, not the completion's. */
START_TEST(test_completion_follows_help)
{
    char *dir = tmp_dir("fakewrapper");
    char fake[PATH_MAX + 32];
    snprintf(fake, sizeof fake, "%s/mallocspy", dir);
    ck_assert(write_file(fake,
        "#!/bin/sh\n"
        "cat <<'EOF'\n"
        "Usage: mallocspy [options] [--] program [args...]\n"
        "  - a bullet, no option\n"
        "Options:\n"
        "  --frobnicate FILE    frobnicate into FILE; see also\n"
        "                       --not-an-option\n"
        "  --zap[=N]            zap N times\n"
        "  -q, --quieter        Say less\n"
        "EOF\n"));
    ck_assert_int_eq(chmod(fake, 0755), 0);
    const char *w1[] = { fake, "-", NULL };
    char *got = complete_words(false, w1);
    ck_assert_str_eq(got, "--frobnicate\n--quieter\n--zap\n-q\n");
    free(got);
    /* --frobnicate takes a file (completed from the directory given), --zap a value only
     * after '=', --quieter none: the word after each is an option or the program. */
    char partial[PATH_MAX + 64], want[PATH_MAX + 64];
    snprintf(partial, sizeof partial, "%s/mallo", dir);
    snprintf(want, sizeof want, "%s/mallocspy\n", dir);
    const char *w2[] = { fake, "--frobnicate", partial, NULL };
    got = complete_words(false, w2);
    ck_assert_str_eq(got, want);
    free(got);
    const char *w3[] = { fake, "--frobnicate", "=", partial, NULL };
    got = complete_words(false, w3);
    ck_assert_str_eq(got, want);
    free(got);
    const char *w4[] = { fake, "--zap", "--fr", NULL };
    got = complete_words(false, w4);
    ck_assert_str_eq(got, "--frobnicate\n");
    free(got);
    const char *w5[] = { fake, "--quieter", "--fr", NULL };
    got = complete_words(false, w5);
    ck_assert_str_eq(got, "--frobnicate\n");
    free(got);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* After "--" or the program's name the words are the program's: its own completion, not
 * the wrapper's options (here the program is the wrapper again, so its completion shows
 * through bash-completion's _command_offset). */
START_TEST(test_completion_hands_over_to_the_program)
{
    const char *w = repo_file("scripts/mallocspy");
    const char *w1[] = { w, "--", w, "--qu", NULL };
    char *got = complete_words(true, w1);
    ck_assert_str_eq(got, "--quarantine\n--quiet\n");
    free(got);
    const char *w2[] = { w, "--json", "x.json", "--quiet", "--", "sh", "--qu", NULL };
    got = complete_words(false, w2);
    ck_assert_msg(!offered(got, "--quiet"), "a program's option completed as the wrapper's:\n%s",
                  got);
    free(got);
    const char *w3[] = { w, "--json", "x.json", "sh", "--qu", NULL };
    got = complete_words(false, w3);
    ck_assert_msg(!offered(got, "--quiet"), "a program's option completed as the wrapper's:\n%s",
                  got);
    free(got);
}
END_TEST

/* Installed, bash-completion finds it by the command's name, as a user's shell does. */
START_TEST(test_completion_installed)
{
    char *prefix = tmp_dir("prefix");
    char pv[PATH_MAX + 16];
    snprintf(pv, sizeof pv, "PREFIX=%s", prefix);
    const char *vars[] = { pv, NULL };
    make_install(vars);
    char xdg[PATH_MAX + 32], path[PATH_MAX + 64];
    snprintf(xdg, sizeof xdg, "XDG_DATA_DIRS=%s/share", prefix);
    snprintf(path, sizeof path, "PATH=%s/bin:/usr/bin:/bin", prefix);
    const char *env[] = { xdg, path, NULL };
    char *argv[] = { "bash", "--norc", "--noprofile", "-c",
                     ". /usr/share/bash-completion/bash_completion && "
                     "__load_completion mallocspy && complete -p mallocspy && "
                     "COMP_WORDS=(mallocspy --tim) COMP_CWORD=1 && _mallocspy && "
                     "echo \"${COMPREPLY[*]}\"", NULL };
    struct run r = run_tool(argv, env);
    ck_assert_msg(r.status == 0, "bash: status %d\n%s", r.status, r.err);
    ck_assert_str_eq(r.out, "complete -F _mallocspy mallocspy\n--timeline\n");
    run_free(&r);
    remove_tree(prefix);
    free(prefix);
}
END_TEST

/* ---- debian/ ------------------------------------------------------------------------ */

/* The package's version is the release's (a native package), the library's package is
 * named after its soname (Debian policy 8.1), and the symbols file covers every version
 * node of src/exports.map. */
START_TEST(test_debian_in_step)
{
    char *cl = read_file(repo_file("debian/changelog"));
    ck_assert_msg(cl, "cannot read debian/changelog");
    char want[128];
    snprintf(want, sizeof want, "mallocspy (%s) ", header_version());
    ck_assert_msg(!strncmp(cl, want, strlen(want)), "debian/changelog starts '%.40s', not '%s'",
                  cl, want);
    free(cl);

    /* libmallocspy.so.0 -> libmallocspy0 */
    const char *so = soname_of(lib_path());
    char pkg[128];
    const char *dot = strstr(so, ".so.");
    ck_assert(dot);
    snprintf(pkg, sizeof pkg, "%.*s%s", (int)(dot - so), so, dot + 4);
    char *control = read_file(repo_file("debian/control"));
    ck_assert(control);
    snprintf(want, sizeof want, "\nPackage: %s\n", pkg);
    ck_assert_msg(strstr(control, want), "debian/control has no package %s", pkg);
    free(control);
    char rel[160];
    snprintf(rel, sizeof rel, "debian/%s.install", pkg);
    ck_assert_msg(access(repo_file(rel), R_OK) == 0, "no %s", rel);
    snprintf(rel, sizeof rel, "debian/%s.symbols", pkg);
    char *symbols = read_file(repo_file(rel));
    ck_assert_msg(symbols, "no %s", rel);
    snprintf(want, sizeof want, "%s %s #MINVER#\n", so, pkg);
    ck_assert_msg(!strncmp(symbols, want, strlen(want)), "%s does not start '%s'", rel, want);

    char *map = read_file(repo_file("src/exports.map"));
    ck_assert(map);
    int nodes = 0;
    for (const char *p = strstr(map, "\nMALLOCSPY_"); p; p = strstr(p + 1, "\nMALLOCSPY_")) {
        char node[64];
        ck_assert_int_eq(sscanf(p + 1, "%63[A-Z0-9_.]", node), 1);
        snprintf(want, sizeof want, " (symver)%s ", node);
        ck_assert_msg(strstr(symbols, want), "%s lacks '%s'", rel, want);
        nodes++;
    }
    ck_assert_int_ge(nodes, 1);
    free(map);
    free(symbols);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("package");
    TCase *t = tcase_create("files");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_build_tree_links);
    tcase_add_test(t, test_debian_in_step);
    suite_add_tcase(s, t);
    t = tcase_create("install");
    tcase_set_timeout(t, 600);
    tcase_add_test(t, test_install_multiarch);
    tcase_add_test(t, test_install_staged_multiarch);
    suite_add_tcase(s, t);
    t = tcase_create("completion");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_completion_offers_every_option);
    tcase_add_test(t, test_completion_follows_help);
    tcase_add_test(t, test_completion_hands_over_to_the_program);
    tcase_add_test(t, test_completion_installed);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    child_timeout = "120";   /* make install and the installed library's runs are slow */
    return run_suite(suite());
}
