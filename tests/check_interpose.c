/* The interposed entry points and the C contract they keep.  Linked with libmallocspy, so
 * this program's own malloc is the spied one; run with and without the leak tracker. */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include "mallocspy.h"
#include "spies.h"
#include "testutil.h"

/* Sizes no allocator can serve; volatile so the compiler does not refuse the call. */
static volatile size_t huge = SIZE_MAX - 100000;
/* Alignments the compiler would refuse as constants. */
static volatile size_t a24 = 24;

static size_t page;

START_TEST(test_malloc_zero_and_free_null)
{
    void *a = malloc(0), *b = malloc(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    ck_assert_uint_eq((uintptr_t)a % 16, 0);
    free(a);
    free(b);
    errno = 4321;
    free(NULL);
    ck_assert_int_eq(errno, 4321);
}
END_TEST

START_TEST(test_free_keeps_errno)
{
    for (size_t sz = 1; sz < (1u << 24); sz *= 7) {
        void *p = malloc(sz);
        ck_assert_ptr_nonnull(p);
        errno = 1234;
        free(p);
        ck_assert_int_eq(errno, 1234);
    }
}
END_TEST

START_TEST(test_malloc_alignment_and_contents)
{
    for (size_t sz = 1; sz < 200000; sz = sz * 3 + 1) {
        unsigned char *p = malloc(sz);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xab, sz);
        ck_assert_uint_ge(malloc_usable_size(p), sz);
        free(p);
    }
}
END_TEST

START_TEST(test_malloc_huge_fails_with_enomem)
{
    errno = 0;
    void *p = malloc(huge);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(test_calloc_zeroes_and_overflow)
{
    /* Dirty a block and free it, so that calloc's memory is likely reused. */
    unsigned char *d = malloc(4096);
    memset(d, 0xff, 4096);
    free(d);
    unsigned char *p = calloc(64, 64);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 4096; i++)
        ck_assert_uint_eq(p[i], 0);
    free(p);
    errno = 0;
    ck_assert_ptr_null(calloc(huge / 2, 3));
    ck_assert_int_eq(errno, ENOMEM);
    errno = 0;
    ck_assert_ptr_null(calloc((huge >> 31) + 1, (huge >> 31) + 1));
    ck_assert_int_eq(errno, ENOMEM);
    void *z = calloc(0, 10);
    ck_assert_ptr_nonnull(z);
    free(z);
}
END_TEST

START_TEST(test_realloc_contract)
{
    /* realloc(NULL, n) allocates. */
    char *p = realloc(NULL, 10);
    ck_assert_ptr_nonnull(p);
    memcpy(p, "123456789", 10);
    /* Grows (moves, most likely) keeping the contents. */
    p = realloc(p, 100000);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "123456789");
    /* Shrinks (in place, most likely) keeping the contents. */
    p = realloc(p, 5);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(memcmp(p, "12345", 5), 0);
    /* A failed realloc leaves the block intact. */
    errno = 0;
    char *q = realloc(p, huge);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(memcmp(p, "12345", 5), 0);
    /* realloc(p, 0) frees and returns NULL, as glibc does; errno untouched. */
    errno = 77;
    ck_assert_ptr_null(realloc(p, 0));
    ck_assert_int_eq(errno, 77);
    /* realloc(NULL, 0) is malloc(0). */
    p = realloc(NULL, 0);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

START_TEST(test_reallocarray)
{
    int *a = reallocarray(NULL, 10, sizeof(int));
    ck_assert_ptr_nonnull(a);
    for (int i = 0; i < 10; i++)
        a[i] = i;
    errno = 0;
    ck_assert_ptr_null(reallocarray(a, huge / 2, 4));
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(a[9], 9);   /* untouched */
    a = reallocarray(a, 1000, sizeof(int));
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(a[9], 9);
    free(a);
}
END_TEST

START_TEST(test_posix_memalign)
{
    void *p = (void *)0x1234;
    static const size_t bad[] = { 0, 1, 2, 3, 4, 12, 24, 48, 100 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 555;
        ck_assert_int_eq(posix_memalign(&p, bad[i], 64), EINVAL);
        ck_assert_int_eq(errno, 555);             /* errno is left alone */
        ck_assert_ptr_eq(p, (void *)0x1234);     /* *res is not written on failure */
    }
    static const size_t good[] = { 8, 16, 32, 64, 256, 4096, 65536, 1 << 21 };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        errno = 555;
        ck_assert_int_eq(posix_memalign(&p, good[i], 100), 0);
        ck_assert_int_eq(errno, 555);
        ck_assert_uint_eq((uintptr_t)p % good[i], 0);
        memset(p, 1, 100);
        ck_assert_uint_ge(malloc_usable_size(p), 100);
        free(p);
    }
    p = (void *)0x1234;
    errno = 555;
    ck_assert_int_eq(posix_memalign(&p, 64, huge), ENOMEM);
    ck_assert_int_eq(errno, 555);
    ck_assert_ptr_eq(p, (void *)0x1234);
}
END_TEST

START_TEST(test_aligned_alloc_memalign_valloc_pvalloc)
{
    void *p = aligned_alloc(64, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 64, 0);
    free(p);
    errno = 0;
    ck_assert_ptr_null(aligned_alloc(a24, 100));
    ck_assert_int_eq(errno, EINVAL);
    p = memalign(4096, 10);
    ck_assert_uint_eq((uintptr_t)p % 4096, 0);
    free(p);
    p = memalign(a24, 10);     /* glibc rounds up to a power of two */
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 32, 0);
    free(p);
    p = valloc(10);
    ck_assert_uint_eq((uintptr_t)p % page, 0);
    free(p);
    p = pvalloc(page + 1);
    ck_assert_uint_eq((uintptr_t)p % page, 0);
    ck_assert_uint_ge(malloc_usable_size(p), 2 * page);
    memset(p, 3, 2 * page);
    free(p);
    p = pvalloc(0);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

START_TEST(test_usable_size)
{
    ck_assert_uint_eq(malloc_usable_size(NULL), 0);
    char *p = malloc(37);
    size_t u = malloc_usable_size(p);
    ck_assert_uint_ge(u, 37);
    memset(p, 0, u);            /* all of it is the caller's to write */
    free(p);
}
END_TEST

/* A spy that records the pointers it hands out, to show that libc's own allocations made
 * for the program pass through mallocspy. */
#define MAXSEEN 4096
static void *seen[MAXSEEN];
static size_t seen_sizes[MAXSEEN];
static atomic_int nseen;
static void *rec_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    int i = atomic_fetch_add(&nseen, 1);
    if (i < MAXSEEN) {
        seen[i] = actual;
        seen_sizes[i] = ms_spy_call()->request;
    }
    return actual;
}
static void *rec_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)spied;
    return rec_post_alloc(self, actual);
}
static const ms_spy_ops rec_ops = { .post_alloc = rec_post_alloc,
                                    .post_realloc = rec_post_realloc };
static ms_spy rec_spy = { &rec_ops };

static bool was_seen(const void *p)
{
    int n = atomic_load(&nseen);
    for (int i = 0; i < n && i < MAXSEEN; i++)
        if (seen[i] == p)
            return true;
    return false;
}

START_TEST(test_libc_allocations_pass_through)
{
    atomic_store(&nseen, 0);
    ck_assert_int_eq(ms_register_spy(&rec_spy), MS_OK);
    char *s = strdup("hello, world");
    char *n = strndup("abcdefgh", 3);
    char *a = NULL;
    ck_assert_int_gt(asprintf(&a, "%d-%s", 42, "x"), 0);
    FILE *f = fmemopen((void *)"line one\nline two\n", 18, "r");
    char *line = NULL;
    size_t cap = 0;
    ck_assert_int_gt(getline(&line, &cap, f), 0);
    fclose(f);
    char *ms = NULL;
    size_t mlen;
    FILE *m = open_memstream(&ms, &mlen);
    fprintf(m, "%0500d", 7);
    fclose(m);
    wchar_t *w = wcsdup(L"wide");
    /* Its blocks are live: the revoke waits for them. */
    ck_assert_int_eq(ms_revoke_spy(&rec_spy), MS_E_PENDING);
    ck_assert_msg(was_seen(s), "strdup's block not seen by the spy");
    ck_assert_msg(was_seen(n), "strndup's block not seen by the spy");
    ck_assert_msg(was_seen(a), "asprintf's block not seen by the spy");
    ck_assert_msg(was_seen(line), "getline's block not seen by the spy");
    ck_assert_msg(was_seen(ms), "open_memstream's buffer not seen by the spy");
    ck_assert_msg(was_seen(w), "wcsdup's block not seen by the spy");
    free(s); free(n); free(a); free(line); free(ms); free(w);
}
END_TEST

START_TEST(test_fopen_allocates_through_spy)
{
    atomic_store(&nseen, 0);
    ck_assert_int_eq(ms_register_spy(&rec_spy), MS_OK);
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    int n = atomic_load(&nseen);
    bool found = false;
    /* The FILE itself is a malloc'd block in glibc. */
    for (int i = 0; i < n && i < MAXSEEN; i++)
        if (seen[i] == (void *)f)
            found = true;
    fclose(f);
    ms_revoke_spy(&rec_spy);
    ck_assert_msg(found, "fopen's FILE not seen by the spy (%d allocations seen)", n);
}
END_TEST

/* dlerror's message is a buffer libc allocates through malloc and frees itself later. */
START_TEST(test_dlerror_buffer)
{
    extern void *dlsym(void *, const char *);
    extern char *dlerror(void);
    ck_assert_ptr_null(dlsym((void *)0, "no_such_symbol_anywhere"));
    char *e = dlerror();
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_nonnull(strstr(e, "no_such_symbol_anywhere"));
    ck_assert_ptr_null(dlerror());   /* the buffer is freed by dlerror: no crash */
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("interpose");
    TCase *t = tcase_create("contract");
    tcase_add_test(t, test_malloc_zero_and_free_null);
    tcase_add_test(t, test_free_keeps_errno);
    tcase_add_test(t, test_malloc_alignment_and_contents);
    tcase_add_test(t, test_malloc_huge_fails_with_enomem);
    tcase_add_test(t, test_calloc_zeroes_and_overflow);
    tcase_add_test(t, test_realloc_contract);
    tcase_add_test(t, test_reallocarray);
    tcase_add_test(t, test_posix_memalign);
    tcase_add_test(t, test_aligned_alloc_memalign_valloc_pvalloc);
    tcase_add_test(t, test_usable_size);
    suite_add_tcase(s, t);
    TCase *l = tcase_create("libc");
    tcase_add_test(l, test_libc_allocations_pass_through);
    tcase_add_test(l, test_fopen_allocates_through_spy);
    tcase_add_test(l, test_dlerror_buffer);
    suite_add_tcase(s, l);
    return s;
}

int main(void)
{
    page = (size_t)sysconf(_SC_PAGESIZE);
    return run_suite(suite());
}
