/* Real programs under the preload, each compared with a run without it: the same exit
 * status and the same output on stdout and stderr (so mallocspy printed nothing of its
 * own).  The leak report goes to a temporary file (log_path), never to stderr. */
#include <check.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#define TIMEOUT "120"        /* seconds for each child: a hang fails instead of blocking */
#define JEMALLOC "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#define TCMALLOC "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"

/* "log_path=<fresh temporary file>", for MALLOCSPY_OPTIONS (static buffer). */
static const char *spy_options(const char *tag)
{
    static char buf[PATH_MAX + 64];
    char name[64];
    snprintf(name, sizeof name, "%s.log", tag);
    for (char *c = name; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789.-", *c))
            *c = '_';
    snprintf(buf, sizeof buf, "log_path=%s", tmp_path(name));
    return buf;
}

/* Runs argv with and without the preload and checks that nothing differs.  The plain run
 * must succeed, so that a broken command cannot make the comparison vacuous. */
static void compare(const char *what, char *const argv[], const char *const extra[])
{
    struct run a = run_plain(argv, extra);
    ck_assert_msg(a.status == 0, "%s without the preload: status %d\nstderr: %s", what,
                  a.status, a.err);
    ck_assert_msg(a.out[0], "%s printed nothing: nothing to compare", what);
    struct run b = run_spied(argv, spy_options(what), extra);
    ck_assert_msg(b.status == a.status, "%s under the preload: status %d (124: timed out), "
                  "%d without\nstderr: %.2000s", what, b.status, a.status, b.err);
    ck_assert_msg(!strcmp(a.out, b.out), "%s: stdout differs under the preload\n"
                  "without: %.500s\nwith: %.500s", what, a.out, b.out);
    ck_assert_msg(!strcmp(a.err, b.err), "%s: stderr differs under the preload\n"
                  "without: %.1000s\nwith: %.1000s", what, a.err, b.err);
    run_free(&a);
    run_free(&b);
}

static const char *python(void)
{
    /* The system interpreter rather than a version manager's shim script. */
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

START_TEST(test_python_dict_string_churn)
{
    ck_assert_msg(have_cmd("python3") || access("/usr/bin/python3", X_OK) == 0,
                  "python3 not installed");
    static const char script[] =
        "acc = 0\n"
        "for r in range(300):\n"
        "    d = {}\n"
        "    for i in range(3000):\n"
        "        k = 'k%d_%d' % (r, i)\n"
        "        d[k] = [k * (i % 7), str(i) * 3, {'x': i, 'y': k.upper()}]\n"
        "    s = ','.join(sorted(d))\n"
        "    parts = s.split(',')\n"
        "    acc = (acc * 31 + len(s) + len(parts)\n"
        "           + sum(len(v[0]) + len(v[2]['y']) for v in d.values())) % 1000000007\n"
        "    for k in list(d)[::2]:\n"
        "        del d[k]\n"
        "    t = ''.join(v[1] for v in d.values()).replace('1', 'one')\n"
        "    acc = (acc * 7 + len(d) + len(t) + t.count('one')) % 1000000007\n"
        "print(acc)\n";
    char *argv[] = { "timeout", TIMEOUT, (char *)python(), "-c", (char *)script, NULL };
    const char *extra[] = { "PYTHONHASHSEED=0", NULL };
    compare("python3", argv, extra);
}
END_TEST

START_TEST(test_perl_string_churn)
{
    ck_assert_msg(have_cmd("perl"), "perl not installed");
    static const char script[] =
        "my $acc = 0;\n"
        "for my $r (1..120) {\n"
        "    my %h;\n"
        "    for my $i (1..3000) {\n"
        "        my $s = \"item$r-$i,\" x (1 + $i % 5);\n"
        "        $s =~ s/(\\d+)/<$1>/g;\n"
        "        $h{\"k$i\"} = $s;\n"
        "    }\n"
        "    my $j = join(';', map { $h{$_} } sort keys %h);\n"
        "    my @parts = split /[,;]/, $j;\n"
        "    $acc = ($acc * 31 + length($j) + scalar(@parts)) % 1000000007;\n"
        "    delete $h{\"k$_\"} for grep { $_ % 3 } 1..3000;\n"
        "    my $u = uc(join('', map { $h{$_} } sort keys %h));\n"
        "    $u =~ tr/<>/()/;\n"
        "    $acc = ($acc * 7 + scalar(keys %h) + length($u) + ($u =~ tr/(//)) % 1000000007;\n"
        "}\n"
        "print \"$acc\\n\";\n";
    char *argv[] = { "timeout", TIMEOUT, "perl", "-e", (char *)script, NULL };
    compare("perl", argv, NULL);
}
END_TEST

/* A C file of several hundred functions with loops, switches and calls between them. */
static char *generated_c(void)
{
    size_t cap = 1 << 20, len = 0;
    char *s = malloc(cap);
    len += (size_t)snprintf(s + len, cap - len, "#include <stddef.h>\n"
                            "struct pt { long x, y; double w; };\n");
    for (int i = 0; i < 400; i++) {
        ck_assert(cap - len > 4096);
        len += (size_t)snprintf(s + len, cap - len,
            "long f%d(const struct pt *p, size_t n, long k)\n"
            "{\n"
            "    long acc = %d;\n"
            "    for (size_t i = 0; i < n; i++) {\n"
            "        switch ((p[i].x + k) %% 5) {\n"
            "        case 0: acc += p[i].x * %d; break;\n"
            "        case 1: acc ^= p[i].y << (i %% 7); break;\n"
            "        case 2: acc -= (long)(p[i].w * %d.5); break;\n"
            "        default: acc = acc * 31 + (long)i;\n"
            "        }\n"
            "    }\n"
            "    return %s;\n"
            "}\n",
            i, i * 7 + 1, i % 13 + 2, i % 11,
            i ? "acc + f0(p, n / 2, acc & 3)" : "acc");
    }
    return s;
}

START_TEST(test_gcc_compiles)
{
    ck_assert_msg(have_cmd("gcc"), "gcc not installed");
    char src[PATH_MAX];     /* tmp_path's buffers are a small ring: keep a copy */
    snprintf(src, sizeof src, "%s", tmp_path("gen.c"));
    char *text = generated_c();
    ck_assert(write_file(src, text));
    free(text);
    char *sargv[] = { "timeout", TIMEOUT, "gcc", "-O2", "-S", "-o", "-", src, NULL };
    compare("gcc -O2 -S", sargv, NULL);

    /* An object file, under the preload and without: both made, byte for byte alike. */
    char obj_a[PATH_MAX], obj_b[PATH_MAX];
    snprintf(obj_a, sizeof obj_a, "%s", tmp_path("plain.o"));
    snprintf(obj_b, sizeof obj_b, "%s", tmp_path("spied.o"));
    char *ca[] = { "timeout", TIMEOUT, "gcc", "-O2", "-c", "-o", obj_a, src, NULL };
    char *cb[] = { "timeout", TIMEOUT, "gcc", "-O2", "-c", "-o", obj_b, src, NULL };
    struct run a = run_plain(ca, NULL);
    ck_assert_msg(a.status == 0, "gcc -c without the preload: %d\n%s", a.status, a.err);
    struct run b = run_spied(cb, spy_options("gcc-c"), NULL);
    ck_assert_msg(b.status == 0, "gcc -c under the preload: status %d\n%.2000s", b.status,
                  b.err);
    ck_assert_str_eq(b.err, "");
    FILE *fa = fopen(obj_a, "rb"), *fb = fopen(obj_b, "rb");
    ck_assert_msg(fa && fb, "object files missing");
    long pos = 0;
    int ch_a, ch_b;
    do {
        ch_a = getc(fa);
        ch_b = getc(fb);
        ck_assert_msg(ch_a == ch_b, "the object files differ at byte %ld", pos);
        pos++;
    } while (ch_a != EOF);
    ck_assert_int_gt(pos, 1000);
    fclose(fa);
    fclose(fb);
    unlink(src);
    unlink(obj_a);
    unlink(obj_b);
    run_free(&a);
    run_free(&b);
}
END_TEST

START_TEST(test_shell_pipeline)
{
    char *argv[] = { "timeout", TIMEOUT, "sh", "-c",
                     "seq 1 200000 | sort -r | awk '{s+=$1; if (NR<=3) print} END {printf \"%.0f\\n\", s}'"
                     " | tr 0-9 a-j", NULL };
    compare("sh pipeline", argv, NULL);
    /* And it did compute: sort -r is lexicographic, so 99999 99998 99997 come first;
     * then the sum, 20000100000. */
    struct run r = run_spied(argv, spy_options("pipeline"), NULL);
    ck_assert_str_eq(r.out, "jjjjj\njjjji\njjjjh\ncaaaabaaaaa\n");
    run_free(&r);
}
END_TEST

/* "ok allocs=N frees=M sum=S": the program checked its own pointers against the spy. */
START_TEST(test_cxx_new_delete)
{
    char *argv[] = { "timeout", TIMEOUT, (char *)prog_path("cxx_newdelete"), NULL };
    /* It links libmallocspy, so it is spied with or without LD_PRELOAD: its report goes
     * to a file like the others'. */
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "MALLOCSPY_OPTIONS=%s", spy_options("cxx-linked"));
    const char *env[] = { "LD_PRELOAD=", opts, NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "cxx_newdelete: status %d\n%s", r.status, r.err);
    long allocs = 0, frees = 0, sum = 0;
    ck_assert_msg(sscanf(r.out, "cxx_newdelete\nok allocs=%ld frees=%ld sum=%ld", &allocs,
                         &frees, &sum) == 3, "unexpected output: %s", r.out);
    /* 5000 strings in three containers, map and hash nodes: thousands of blocks. */
    ck_assert_int_gt(allocs, 10000);
    ck_assert_int_gt(frees, 10000);
    ck_assert_str_eq(r.err, "");
    /* Under the preload as well (the library is then loaded once, not twice): the same. */
    struct run p = run_spied(argv, spy_options("cxx-preloaded"), NULL);
    ck_assert_int_eq(p.status, 0);
    ck_assert_str_eq(p.out, r.out);
    ck_assert_str_eq(p.err, "");
    run_free(&p);
    run_free(&r);
}
END_TEST

static void check_chain(const char *allocator_so, const char *name)
{
    ck_assert_msg(access(allocator_so, R_OK) == 0,
                  "%s missing (make check installs it: scripts/deps.sh test)", allocator_so);
    char *argv[] = { "timeout", TIMEOUT, (char *)prog_path("chain"), NULL };
    /* Without an allocator below mallocspy the program must say so. */
    struct run n = run_plain(argv, NULL);
    ck_assert_msg(n.status == 2, "chain with glibc below: status %d, stdout %s", n.status,
                  n.out);
    run_free(&n);

    char pre[2 * PATH_MAX + 32];
    snprintf(pre, sizeof pre, "LD_PRELOAD=%s %s", lib_path(), allocator_so);
    char opts[PATH_MAX + 64];
    snprintf(opts, sizeof opts, "MALLOCSPY_OPTIONS=%s", spy_options(name));
    const char *env[] = { pre, opts, NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "chain over %s: status %d\nstdout: %s\nstderr: %s", name,
                  r.status, r.out, r.err);
    char found[32] = "", okname[32] = "";
    int blocks = 0, allocs = 0, frees = 0, misaligned = -1;
    ck_assert_msg(sscanf(r.out, "allocator: %31s\nok %31s blocks=%d allocs_seen=%d "
                         "frees_seen=%d misaligned=%d", found, okname, &blocks, &allocs,
                         &frees, &misaligned) == 6, "unexpected output: %s", r.out);
    ck_assert_str_eq(found, name);
    ck_assert_str_eq(okname, name);
    ck_assert_int_eq(blocks, 50);
    ck_assert_int_ge(allocs, 60);   /* 50 blocks and 10 reallocations */
    ck_assert_int_ge(frees, 50);
    /* mallocspy.h: every pointer handed to the program is 16-byte aligned for malloc,
     * whatever the allocator below gives a tiny request. */
    ck_assert_msg(misaligned == 0, "over %s, %d block(s) not aligned as mallocspy.h "
                  "promises:\n%s", name, misaligned, r.err);
    ck_assert_str_eq(r.err, "");
    run_free(&r);
}

START_TEST(test_chain_jemalloc) { check_chain(JEMALLOC, "jemalloc"); }
END_TEST

START_TEST(test_chain_tcmalloc) { check_chain(TCMALLOC, "tcmalloc"); }
END_TEST

/* Replaces every run of digits with "#": gdb prints the inferior's pid. */
static void mask_digits(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        if (*r >= '0' && *r <= '9') {
            while (*r >= '0' && *r <= '9')
                r++;
            *w++ = '#';
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

START_TEST(test_gdb_runs_inferior)
{
    ck_assert_msg(have_cmd("gdb"), "gdb is not installed (make check installs it)");
    char *argv[] = { "timeout", TIMEOUT, "gdb", "-q", "-batch", "-nx", "-ex", "run",
                     "/bin/true", NULL };
    const char *extra[] = { "DEBUGINFOD_URLS=", NULL };
    struct run a = run_plain(argv, extra);
    struct run b = run_spied(argv, spy_options("gdb"), extra);
    ck_assert_msg(a.status == 0, "gdb without the preload: %d\n%s", a.status, a.err);
    ck_assert_msg(b.status == 0, "gdb under the preload: status %d (124: timed out)\n"
                  "stdout: %s\nstderr: %s", b.status, b.out, b.err);
    ck_assert_msg(strstr(b.out, "exited normally"), "gdb under the preload: %s", b.out);
    mask_digits(a.out);
    mask_digits(b.out);
    mask_digits(a.err);
    mask_digits(b.err);
    ck_assert_str_eq(b.out, a.out);
    ck_assert_str_eq(b.err, a.err);
    run_free(&a);
    run_free(&b);
}
END_TEST

/* The example's table: rows "<class> <count> <bar>" then "total <n>", its totals line and
 * the release after the kept blocks are freed. */
START_TEST(test_spy_example)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/examples/spy_example", BUILD_DIR);
    char *argv[] = { "timeout", TIMEOUT, path, NULL };
    /* Linked with libmallocspy: its leak report goes to a file, not to stderr. */
    char opts[PATH_MAX + 32];
    snprintf(opts, sizeof opts, "MALLOCSPY_OPTIONS=%s", spy_options("example"));
    const char *env[] = { "LD_PRELOAD=", opts, NULL };
    struct run r = run_cmd(argv, env, NULL);
    ck_assert_msg(r.status == 0, "spy_example: status %d\n%s\n%s", r.status, r.out, r.err);
    ck_assert_str_eq(r.err, "");
    ck_assert_ptr_nonnull(strstr(r.out, "revoke: pending"));
    ck_assert_ptr_nonnull(strstr(r.out, "released before the frees: no"));

    regex_t row;
    ck_assert_int_eq(regcomp(&row, "^([0-9]+|[0-9]+ - [0-9]+) +([0-9]+)  #*$",
                             REG_EXTENDED | REG_NEWLINE), 0);
    unsigned long sum = 0, total = 0, allocs = 0, made = 0, frees = 0, at_release = 0;
    int rows = 0;
    bool have_total = false, have_allocs = false, have_release = false;
    char *save = NULL;
    for (char *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        regmatch_t m[3];
        if (regexec(&row, l, 3, m, 0) == 0) {
            sum += strtoul(l + m[2].rm_so, NULL, 10);
            rows++;
        } else if (sscanf(l, "total %lu", &total) == 1) {
            have_total = true;
        } else if (sscanf(l, "allocations %lu (the program made %lu), failed %*u, "
                          "reallocations %*u, frees %lu", &allocs, &made, &frees) == 3) {
            have_allocs = true;
        } else if (sscanf(l, "released: yes, after %lu frees", &at_release) == 1) {
            have_release = true;
        }
    }
    regfree(&row);
    ck_assert_msg(rows >= 10, "only %d histogram rows", rows);
    ck_assert(have_total && have_allocs && have_release);
    ck_assert_uint_eq(sum, total);
    ck_assert_uint_eq(total, allocs);
    ck_assert_uint_eq(allocs, made);
    /* Every block the spy saw was freed once by the time it was released. */
    ck_assert_uint_eq(at_release, allocs);
    ck_assert_uint_lt(frees, at_release);
    run_free(&r);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("programs");
    TCase *t = tcase_create("programs");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_python_dict_string_churn);
    tcase_add_test(t, test_perl_string_churn);
    tcase_add_test(t, test_gcc_compiles);
    tcase_add_test(t, test_shell_pipeline);
    tcase_add_test(t, test_cxx_new_delete);
    tcase_add_test(t, test_chain_jemalloc);
    tcase_add_test(t, test_chain_tcmalloc);
    tcase_add_test(t, test_gdb_runs_inferior);
    tcase_add_test(t, test_spy_example);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
