/* The core driven directly, without interposition, under AddressSanitizer and UBSan: the
 * block table with fake pointers against a reference, option parsing, the formatter, the
 * static arena, sites. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/internal.h"
#include "testutil.h"

/* ---- block table ---------------------------------------------------------------------- */

#define N 50000
static uintptr_t ref_addr[N];
static size_t ref_size[N];
static uint32_t ref_site[N];
static bool ref_live[N];

struct visit { size_t count; bool bad; };
static void visit_block(const struct block *b, void *arg)
{
    struct visit *v = arg;
    v->count++;
    size_t i = (b->addr - 0x10000000) / 48;
    if (i >= N || !ref_live[i] || ref_site[i] != b->site)
        v->bad = true;
}

START_TEST(test_blocks_against_reference)
{
    unsigned seed = 12345;
    for (size_t i = 0; i < N; i++)
        ref_addr[i] = 0x10000000 + i * 48;   /* 16-aligned, like real blocks */
    size_t live = 0;
    for (int op = 0; op < 400000; op++) {
        size_t i = (size_t)rand_r(&seed) % N;
        struct block b;
        size_t sz;
        if (ref_live[i]) {
            if (rand_r(&seed) % 3) {
                ck_assert(blocks_take(ref_addr[i], &b, &sz));
                ck_assert_uint_eq(sz, ref_size[i]);
                ck_assert_uint_eq(b.site, ref_site[i]);
                ref_live[i] = false;
                live--;
            } else {
                ck_assert(blocks_find(ref_addr[i], &b, &sz));
                ck_assert_uint_eq(sz, ref_size[i]);
            }
        } else {
            ck_assert(!blocks_find(ref_addr[i], &b, &sz));
            ref_size[i] = (size_t)rand_r(&seed) % 100000;
            ref_site[i] = (uint32_t)rand_r(&seed);
            ck_assert(blocks_insert(ref_addr[i], ref_size[i], ref_site[i]));
            ref_live[i] = true;
            live++;
        }
    }
    ck_assert_uint_eq(blocks_count(), live);
    struct visit v = { 0, false };
    blocks_for_each(visit_block, &v);
    ck_assert_uint_eq(v.count, live);
    ck_assert(!v.bad);
    /* Everything out again: the table is empty. */
    for (size_t i = 0; i < N; i++) {
        struct block b;
        size_t sz;
        if (ref_live[i])
            ck_assert(blocks_take(ref_addr[i], &b, &sz));
        ck_assert(!blocks_take(ref_addr[i], &b, &sz));
    }
    ck_assert_uint_eq(blocks_count(), 0);
    /* 16 bytes a block: the table itself stays within the budget of issue 5. */
    ck_assert_uint_eq(sizeof(struct block), 16);
}
END_TEST

START_TEST(test_blocks_big_sizes)
{
    uintptr_t a = 0x7f0000001000;
    size_t big = (size_t)5 << 32;
    ck_assert(blocks_insert(a, big, 7));
    ck_assert(blocks_insert(a + 16, 100, 8));
    struct block b;
    size_t sz;
    ck_assert(blocks_find(a, &b, &sz));
    ck_assert_uint_eq(sz, big);
    ck_assert_uint_eq(block_size(&b), big);
    /* Inserting the same address again replaces it (the real allocator reused it). */
    ck_assert(blocks_insert(a, 64, 9));
    ck_assert(blocks_take(a, &b, &sz));
    ck_assert_uint_eq(sz, 64);
    ck_assert_uint_eq(b.site, 9);
    ck_assert(blocks_take(a + 16, &b, &sz));
    ck_assert_uint_eq(sz, 100);
}
END_TEST

/* ---- options ------------------------------------------------------------------------- */

/* Runs the parser with stderr captured. */
static int stderr_fd(void) { return 2; }

/* Warnings wait for the channels (log_path is one of the options); here they go straight
 * to stderr, which the test captures. */
static char *parse_capture(struct ms_options *o, const char *s)
{
    diag_set_sink(stderr_fd);
    const char *path = tmp_path("stderr");
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    int saved = dup(2);
    dup2(fd, 2);
    options_defaults(o);
    options_parse(o, s);
    dup2(saved, 2);
    close(saved);
    close(fd);
    return read_file(path);
}

START_TEST(test_options_good)
{
    struct ms_options o;
    char *err = parse_capture(&o, "log_path=/tmp/a%p.log:json_path=/tmp/r.json:depth=64:"
                                  "leak_check=0:exitcode=23:suppressions=/tmp/s.supp:"
                                  "report=quiet:report_reachable=1:report_signal=SIGUSR2");
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(o.log_path, "/tmp/a%p.log");
    ck_assert_str_eq(o.json_path, "/tmp/r.json");
    ck_assert_str_eq(o.suppressions, "/tmp/s.supp");
    ck_assert_uint_eq(o.depth, 64);
    ck_assert(!o.leak_check);
    ck_assert_int_eq(o.exitcode, 23);
    ck_assert_int_eq(o.report, REPORT_QUIET);
    ck_assert(o.report_reachable);
    ck_assert_int_eq(o.report_signal, 12);
    free(err);
    err = parse_capture(&o, "report_signal=USR1:depth=1");
    ck_assert_int_eq(o.report_signal, 10);
    ck_assert_uint_eq(o.depth, 1);
    ck_assert_str_eq(err, "");
    free(err);
    err = parse_capture(&o, "");
    ck_assert_uint_eq(o.depth, 32);
    ck_assert(o.leak_check);
    free(err);
}
END_TEST

START_TEST(test_options_bad_values_warn_once_each)
{
    static const struct { const char *in, *key; } cases[] = {
        { "depth=0", "depth" }, { "depth=257", "depth" }, { "depth=abc", "depth" },
        { "leak_check=2", "leak_check" }, { "exitcode=256", "exitcode" },
        { "exitcode=-1", "exitcode" }, { "report=loud", "report" },
        { "report_signal=SIGKILL", "report_signal" }, { "report_signal=SIGFOO", "report_signal" },
        { "report_reachable=maybe", "report_reachable" }, { "log_path=", "log_path" },
        { "nonsense=1", "nonsense" }, { "depth", "depth" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ms_options o;
        char *err = parse_capture(&o, cases[i].in);
        /* One line, naming the option, and the default kept. */
        ck_assert_msg(strstr(err, cases[i].key), "%s: %s", cases[i].in, err);
        ck_assert_msg(!strncmp(err, "mallocspy: ", 11), "%s: %s", cases[i].in, err);
        ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "%s: %s", cases[i].in, err);
        ck_assert_uint_eq(o.depth, 32);
        ck_assert(o.leak_check);
        ck_assert_int_eq(o.exitcode, 0);
        free(err);
    }
    /* A bad item does not spoil the good ones around it. */
    struct ms_options o;
    char *err = parse_capture(&o, "depth=8:bogus=1:exitcode=3::");
    ck_assert_uint_eq(o.depth, 8);
    ck_assert_int_eq(o.exitcode, 3);
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
    free(err);
}
END_TEST

/* ---- formatter ------------------------------------------------------------------------ */

START_TEST(test_format)
{
    char buf[128];
    ms_format(buf, sizeof buf, "%s|%d|%u|%zu|%x|%p|%5d|%05u|%c|%%|%ld", "str", -42, 42u,
              (size_t)1234567890123, 0xbeefu, (void *)0x1234, 7, 42u, 'z', -9000000000L);
    ck_assert_str_eq(buf, "str|-42|42|1234567890123|beef|0x1234|    7|00042|z|%|-9000000000");
    /* Truncates, always terminated, and tells the length it wanted. */
    char small[8];
    size_t n = ms_format(small, sizeof small, "%s", "0123456789");
    ck_assert_uint_eq(n, 10);
    ck_assert_str_eq(small, "0123456");
}
END_TEST

/* ---- the static arena --------------------------------------------------------------- */

START_TEST(test_early_blocks_work_later)
{
    char *p = early_alloc(100, 16, false);
    ck_assert_ptr_nonnull(p);
    ck_assert(early_owns(p));
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memcpy(p, "early bird", 11);
    ck_assert_uint_eq(ms_core_get_size(p, MS_CALL_USABLE_SIZE, NULL), 100);
    ck_assert_int_eq(ms_core_did_alloc(p, NULL), 1);
    char *q = ms_core_realloc(p, 5000, MS_CALL_REALLOC, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert(!early_owns(q));
    ck_assert_str_eq(q, "early bird");
    ms_core_free(q, MS_CALL_FREE, NULL);
    ms_core_free(p, MS_CALL_FREE, NULL);   /* an arena block is never reused: no harm */
    char *a = early_alloc(10, 4096, false);
    ck_assert_uint_eq((uintptr_t)a % 4096, 0);
}
END_TEST

/* ---- sites ------------------------------------------------------------------------------ */

START_TEST(test_sites_are_shared)
{
    struct thread_state *ts = thread_state();
    struct site_key k1 = { .stack = 5, .mask = 1, .kind = MS_CALL_MALLOC };
    struct site_key k2 = k1;
    k2.delta = 24;
    uint32_t a = site_get(ts, &k1), b = site_get(ts, &k1), c = site_get(ts, &k2);
    ck_assert_uint_ne(a, SITE_INTERNAL);
    ck_assert_uint_eq(a, b);
    ck_assert_uint_ne(a, c);
    ck_assert_uint_eq(site_by_id(c)->key.delta, 24);
    /* The same key from another thread's cache finds the same site. */
    memset(ts->site_cache, 0, sizeof ts->site_cache);
    ck_assert_uint_eq(site_get(ts, &k2), c);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("core");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_blocks_against_reference);
    tcase_add_test(t, test_blocks_big_sizes);
    tcase_add_test(t, test_options_good);
    tcase_add_test(t, test_options_bad_values_warn_once_each);
    tcase_add_test(t, test_format);
    tcase_add_test(t, test_early_blocks_work_later);
    tcase_add_test(t, test_sites_are_shared);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
