/* The core driven directly, without interposition, under AddressSanitizer and UBSan: the
 * block map against a reference, option parsing, the formatter, the
 * static arena, sites. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/mman.h>

#include "base/diag.h"
#include "base/options.h"
#include "base/thread.h"
#include "core/blocks.h"
#include "core/entry.h"
#include "core/real.h"
#include "core/sites.h"
#include "stacks/stacks.h"
#include "stacks/unwind.h"
#include "testutil.h"

/* ---- block map ----------------------------------------------------------------------- */

#define N 50000
#define STRIDE 64
static unsigned char *arena_mem;
static size_t ref_size[N];
static uint32_t ref_site[N];
static size_t ref_shift[N];
static bool ref_live[N];

/* Block i: its real memory at arena + i * STRIDE (16 bytes of header, then the spies'
 * region, the program's pointer `shift` bytes further). */
static struct block block_of(size_t i)
{
    uintptr_t real = (uintptr_t)arena_mem + i * STRIDE;
    struct block b = { real + BLOCK_HEADER + ref_shift[i], real + BLOCK_HEADER, real,
                       ref_size[i], ref_site[i], false };
    return b;
}

struct visit { size_t count; bool bad; };
static void visit_block(const struct block *b, void *arg)
{
    struct visit *v = arg;
    v->count++;
    size_t i = (b->real - (uintptr_t)arena_mem) / STRIDE;
    if (i >= N || !ref_live[i] || ref_site[i] != b->site || ref_size[i] != b->size ||
        b->addr != block_of(i).addr)
        v->bad = true;
}

static unsigned char *fresh_arena(size_t bytes)
{
    unsigned char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0);
    ck_assert(m != MAP_FAILED);
    return m;
}

START_TEST(test_blocks_against_reference)
{
    arena_mem = fresh_arena((size_t)N * STRIDE);
    unsigned seed = 12345;
    size_t live = 0;
    for (int op = 0; op < 400000; op++) {
        size_t i = (size_t)rand_r(&seed) % N;
        struct block b;
        if (ref_live[i]) {
            ck_assert(blocks_find(block_of(i).addr, &b));
            ck_assert_uint_eq(b.size, ref_size[i]);
            ck_assert_uint_eq(b.site, ref_site[i]);
            ck_assert_uint_eq(b.real, block_of(i).real);
            ck_assert_uint_eq(b.actual, block_of(i).actual);
            if (rand_r(&seed) % 3) {
                blocks_unpublish(b.addr);
                ck_assert(!blocks_find(b.addr, &b));
                ref_live[i] = false;
                live--;
            }
        } else {
            /* A pointer inside a dead block is no block. */
            ref_shift[i] = (size_t)(rand_r(&seed) % 3) * 16;
            ck_assert(!blocks_find(block_of(i).addr, &b));
            ref_size[i] = (size_t)rand_r(&seed) % 100000 + ((size_t)(rand_r(&seed) & 1) << 40);
            ref_site[i] = (uint32_t)rand_r(&seed);
            struct block nb = block_of(i);
            ck_assert(blocks_publish(&nb));
            ref_live[i] = true;
            live++;
        }
    }
    ck_assert_uint_eq(blocks_count(), live);
    struct visit v = { 0, false };
    blocks_for_each(visit_block, &v);
    ck_assert_uint_eq(v.count, live);
    ck_assert(!v.bad);
    /* Everything out again: the map is empty. */
    for (size_t i = 0; i < N; i++) {
        struct block b;
        if (ref_live[i])
            blocks_unpublish(block_of(i).addr);
        ck_assert(!blocks_find(block_of(i).addr, &b));
    }
    ck_assert_uint_eq(blocks_count(), 0);
    munmap(arena_mem, (size_t)N * STRIDE);
}
END_TEST

/* Pointers that are no block are never taken for one: unaligned ones, foreign memory, a
 * header damaged by the program (an underflow). */
START_TEST(test_blocks_foreign_and_damaged)
{
    unsigned char *m = fresh_arena(1 << 16);
    struct block b = { (uintptr_t)m + 64, (uintptr_t)m + 64, (uintptr_t)m + 48, 100, 3, false };
    ck_assert(blocks_publish(&b));
    struct block out;
    ck_assert(blocks_find(b.addr, &out));
    ck_assert(!blocks_find(b.addr + 8, &out));
    ck_assert(!blocks_find(b.addr + 16, &out));
    ck_assert(!blocks_find(0x10, &out));
    ck_assert(!blocks_find((uintptr_t)1 << 50, &out));
    m[50] ^= 0x40;                     /* a byte of the header */
    ck_assert(!blocks_find(b.addr, &out));
    m[50] ^= 0x40;
    ck_assert(blocks_find(b.addr, &out));
    /* An interior pointer names its block; one past it does not. */
    ck_assert(blocks_containing(b.addr + 99, &out));
    ck_assert_uint_eq(out.addr, b.addr);
    ck_assert(!blocks_containing(b.addr + 100, &out));
    blocks_unpublish(b.addr);
    munmap(m, 1 << 16);
}
END_TEST

/* Aligned blocks have no header (it would cost a whole alignment): their records are in
 * the side table, found, walked, named by interior pointers and removed like the others. */
START_TEST(test_blocks_side_table)
{
    unsigned char *m = fresh_arena(1 << 20);
    struct block b[300], out;
    for (int i = 0; i < 300; i++) {
        uintptr_t real = ((uintptr_t)m + 4095) / 4096 * 4096 + (uintptr_t)i * 2048;
        b[i] = (struct block){ real, real, real, 1000 + (uint64_t)i, (uint32_t)i + 1, true };
        ck_assert(blocks_publish_side(&b[i]));
    }
    for (int i = 0; i < 300; i++) {
        ck_assert(blocks_find(b[i].addr, &out));
        ck_assert(out.headless);
        ck_assert_uint_eq(out.size, 1000 + (uint64_t)i);
        ck_assert_uint_eq(out.site, (uint32_t)i + 1);
        ck_assert(!blocks_find(b[i].addr + 16, &out));
    }
    ck_assert(blocks_containing(b[7].addr + 999, &out));
    ck_assert_uint_eq(out.addr, b[7].addr);
    ck_assert_uint_eq(blocks_count(), 300);
    blocks_set_site(&b[3], 77);
    ck_assert(blocks_find(b[3].addr, &out));
    ck_assert_uint_eq(out.site, 77);
    for (int i = 0; i < 300; i += 2)
        blocks_unpublish(b[i].addr);
    ck_assert_uint_eq(blocks_count(), 150);
    for (int i = 0; i < 300; i++)
        ck_assert(blocks_find(b[i].addr, &out) == (i % 2 == 1));
    for (int i = 1; i < 300; i += 2)
        blocks_unpublish(b[i].addr);
    ck_assert_uint_eq(blocks_count(), 0);
    munmap(m, 1 << 20);
}
END_TEST

/* Where the spies' region goes so that their shift lands the program's pointer on its
 * alignment, whatever the shift: the header fits before it, the real pointer is found
 * again, and odd or far shifts still work (the side table). */
START_TEST(test_blocks_layout)
{
    static const size_t aligns[] = { 16, 32, 64, 256, 4096 };
    static const size_t shifts[] = { 0, 4, 8, 16, 24, 100, 2000, 5000 };
    for (size_t a = 0; a < ARRAY_SIZE(aligns); a++)
        for (size_t s = 0; s < ARRAY_SIZE(shifts); s++) {
            size_t align = aligns[a], shift = shifts[s];
            size_t extra = block_extra(align, shift, true);
            unsigned char *m = fresh_arena(4 * 4096 + 16384);
            uintptr_t real = ((uintptr_t)m + align - 1) & ~(align - 1);
            uintptr_t actual = block_actual(real, align, shift, true);
            ck_assert_uint_eq(actual, real + extra);
            ck_assert_uint_ge(actual - real, BLOCK_HEADER);
            ck_assert_msg((actual + shift) % align == 0, "align %zu shift %zu", align, shift);
            ck_assert_uint_lt(extra, BLOCK_HEADER + 8 + align + 1);
            struct block b = { actual + shift, actual, real, 77, 5, false }, out;
            ck_assert(blocks_publish(&b));
            ck_assert(blocks_find(b.addr, &out));
            ck_assert_uint_eq(out.real, real);
            ck_assert_uint_eq(out.actual, actual);
            /* A spy takes the block in charge: found again by its pActual. */
            blocks_move_to_actual(&out);
            ck_assert(!shift || !blocks_find(b.addr, &b));
            ck_assert(blocks_find(actual, &out));
            ck_assert_uint_eq(out.real, real);
            blocks_set_site(&out, 9);
            ck_assert(blocks_find(actual, &out));
            ck_assert_uint_eq(out.site, 9);
            blocks_unpublish(actual);
            munmap(m, 4 * 4096 + 16384);
        }
}
END_TEST

/* ---- options ------------------------------------------------------------------------- */

/* Runs the parser with stderr captured. */
static int stderr_fd(void) { return 2; }

/* Warnings wait for the channels (log_path is one of the options); here they go straight
 * to stderr, which the test captures. */
static char *parse_capture(struct options *o, const char *s)
{
    diag_set_sink(stderr_fd, NULL);
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
    struct options o;
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
        struct options o;
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
    struct options o;
    char *err = parse_capture(&o, "depth=8:bogus=1:exitcode=3::");
    ck_assert_uint_eq(o.depth, 8);
    ck_assert_int_eq(o.exitcode, 3);
    ck_assert_ptr_nonnull(strstr(err, "bogus"));
    free(err);
}
END_TEST

/* help=1 shows each key's default: parsed back, each gives the defaults themselves (all but
 * the "none" of a key that has no value by default, and stderr for the log). */
START_TEST(test_options_defaults_shown_are_the_defaults)
{
    struct options def, o;
    options_defaults(&def);
    ck_assert_uint_ge(options_count(), 30);
    for (size_t i = 0; i < options_count(); i++) {
        const char *shown;
        const char *key = options_key(i, &shown);
        ck_assert_ptr_nonnull(key);
        if (!strcmp(shown, "none") || !strcmp(shown, "stderr"))
            continue;
        char item[256];
        snprintf(item, sizeof item, "%s=%s", key, shown);
        char *err = parse_capture(&o, item);
        ck_assert_msg(!err[0], "%s: %s", item, err);
        ck_assert_msg(!memcmp(&o, &def, sizeof o), "%s is not the default", item);
        free(err);
    }
    ck_assert_ptr_null(options_key(options_count(), NULL));
}
END_TEST

/* LeakSanitizer's names set what our names set. */
START_TEST(test_options_sanitizer_names)
{
    struct options o;
    char *err = parse_capture(&o, "detect_leaks=0:malloc_context_size=7:verbosity=1:"
                                  "print_suppressions=0:help=0");
    ck_assert_str_eq(err, "");
    ck_assert(!o.leak_check);
    ck_assert_uint_eq(o.depth, 7);
    ck_assert_uint_eq(o.verbosity, 1);
    ck_assert(!o.print_suppressions);
    free(err);
    err = parse_capture(&o, "malloc_context_size=0");
    ck_assert_msg(strstr(err, "malloc_context_size") && count_lines(err) == 1, "%s", err);
    ck_assert_uint_eq(o.depth, 32);
    free(err);
}
END_TEST

/* include=FILE: its items in place of the include item, one a line or colon-separated;
 * relative to the current directory; a file that cannot be read is one warning. */
START_TEST(test_options_include)
{
    char *dir = tmp_dir("include");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/ms.opts", dir);
    ck_assert(write_file(path, "# options for the test\n"
                               "depth=9\n"
                               "  exitcode=4:report=quiet  \n"
                               "\n"
                               "sites_top=77 # a trailing comment is part of the value\n"));
    char cwd[PATH_MAX];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    struct options o;
    /* Items after include= override it; those before are overridden. */
    char *err = parse_capture(&o, "depth=3:exitcode=1:include=ms.opts:exitcode=5");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_uint_eq(o.depth, 9);
    ck_assert_int_eq(o.exitcode, 5);
    ck_assert_int_eq(o.report, REPORT_QUIET);
    ck_assert_uint_eq(o.sites_top, 10);
    /* The bad item is named, with the file it is in. */
    ck_assert_msg(count_lines(err) == 1 && strstr(err, "sites_top") && strstr(err, "ms.opts"),
                  "%s", err);
    free(err);
    err = parse_capture(&o, "include=/nonexistent/ms.opts:depth=12");
    ck_assert_msg(count_lines(err) == 1 && strstr(err, "/nonexistent/ms.opts"), "%s", err);
    ck_assert_uint_eq(o.depth, 12);
    free(err);
    /* A file including itself stops, with a warning, and what it set holds. */
    ck_assert(write_file(path, "depth=5\ninclude=ms.opts\n"));
    ck_assert_int_eq(chdir(dir), 0);
    err = parse_capture(&o, "include=ms.opts");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(count_lines(err) == 1 && strstr(err, "include"), "%s", err);
    ck_assert_uint_eq(o.depth, 5);
    free(err);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---- formatter ------------------------------------------------------------------------ */

START_TEST(test_format)
{
    char buf[128];
    diag_format(buf, sizeof buf, "%s|%d|%u|%zu|%x|%p|%5d|%05u|%c|%%|%ld", "str", -42, 42u,
              (size_t)1234567890123, 0xbeefu, (void *)0x1234, 7, 42u, 'z', -9000000000L);
    ck_assert_str_eq(buf, "str|-42|42|1234567890123|beef|0x1234|    7|00042|z|%|-9000000000");
    /* Truncates, always terminated, and tells the length it wanted. */
    char small[8];
    size_t n = diag_format(small, sizeof small, "%s", "0123456789");
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
    ck_assert_uint_eq(core_get_size(p, MS_CALL_USABLE_SIZE, NULL), 100);
    ck_assert_int_eq(core_heap_did_alloc(p, 0, NULL), 1);
    char *q = core_realloc(p, 5000, MS_CALL_REALLOC, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert(!early_owns(q));
    ck_assert_str_eq(q, "early bird");
    core_free(q, MS_CALL_FREE, NULL);
    core_free(p, MS_CALL_FREE, NULL);   /* an arena block is never reused: no harm */
    char *a = early_alloc(10, 4096, false);
    ck_assert_uint_eq((uintptr_t)a % 4096, 0);
}
END_TEST

/* ---- sites ------------------------------------------------------------------------------ */

static void *site_from_other_thread(void *key)
{
    return (void *)(uintptr_t)site_get(thread_state(), key);
}

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
    /* The same key from another thread (its own cache empty) finds the same site. */
    pthread_t t;
    void *other;
    ck_assert_int_eq(pthread_create(&t, NULL, site_from_other_thread, &k2), 0);
    ck_assert_int_eq(pthread_join(t, &other), 0);
    ck_assert_uint_eq((uintptr_t)other, c);
}
END_TEST

/* ---- unwinding allocates nothing ---------------------------------------------------------
 * A stack is walked inside malloc itself, and inside signal handlers: the walker must not
 * allocate (libunwind's rule, STYLE.md).  ASan calls these hooks on every allocation and
 * free of the process; the walks below run with this thread's counter on. */
int __sanitizer_install_malloc_and_free_hooks(void (*)(const volatile void *, size_t),
                                              void (*)(const volatile void *));
/* volatile: malloc is declared a leaf, which lets the compiler move these around it. */
static __thread volatile int watching, seen;
static void on_malloc(const volatile void *p, size_t n)
{
    (void)p;
    (void)n;
    seen += watching;
}
static void on_free(const volatile void *p)
{
    (void)p;
    seen += watching;
}

__attribute__((noinline)) static const struct stack_rec *capture_at_depth(int depth)
{
    if (depth > 0) {
        const struct stack_rec *r = capture_at_depth(depth - 1);
        __asm__ volatile("" ::: "memory");   /* not a tail call: a frame per level */
        return r;
    }
    return stack_capture(__builtin_frame_address(0));
}

__attribute__((noinline)) static int unwind_here(void)
{
    struct unw_regs rg;
    UNW_CONTEXT(&rg);
    int n = 0;
    while (n < 256 && unw_step(&rg) > 0)
        n++;
    return n;
}

static void *walks(void *arg)
{
    (void)arg;
    thread_state();
    watching = 1;
    /* A new thread's first walks (its cache made, modules learnt), then cached ones. */
    const struct stack_rec *got[3];
    for (int i = 0; i < 3; i++)     /* one call site: the same stack each time */
        got[i] = capture_at_depth(i < 2 ? 20 : 7);
    const struct stack_rec *a = got[0], *b = got[1], *c = got[2];
    int frames = unwind_here();
    watching = 0;
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, b);
    ck_assert_ptr_ne(a, c);
    ck_assert_uint_ge(a->pub.depth, 21);
    ck_assert_int_ge(frames, 3);
    return NULL;
}

START_TEST(test_unwinding_allocates_nothing)
{
    ck_assert_int_ne(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free), 0);
    /* The hooks see this thread's allocations when it watches (else this test proves
     * nothing). */
    watching = 1;
    void *volatile probe = malloc(24);
    free(probe);
    watching = 0;
    ck_assert_int_eq(seen, 2);
    seen = 0;
    walks(NULL);
    ck_assert_int_eq(seen, 0);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, walks, NULL), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(seen, 0);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("core");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_blocks_against_reference);
    tcase_add_test(t, test_blocks_foreign_and_damaged);
    tcase_add_test(t, test_blocks_layout);
    tcase_add_test(t, test_blocks_side_table);
    tcase_add_test(t, test_options_good);
    tcase_add_test(t, test_options_bad_values_warn_once_each);
    tcase_add_test(t, test_options_defaults_shown_are_the_defaults);
    tcase_add_test(t, test_options_sanitizer_names);
    tcase_add_test(t, test_options_include);
    tcase_add_test(t, test_format);
    tcase_add_test(t, test_early_blocks_work_later);
    tcase_add_test(t, test_sites_are_shared);
    tcase_add_test(t, test_unwinding_allocates_nothing);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
