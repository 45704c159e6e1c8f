/* The task allocator (IMalloc): ms_get_malloc and the calls on it, and its being one heap
 * with the interposed malloc family. */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "spies.h"
#include "testutil.h"

static volatile size_t huge = SIZE_MAX - 100000;

START_TEST(test_get_malloc)
{
    ms_malloc *m = ms_get_malloc();
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(ms_get_malloc(), m);
    ck_assert_str_eq(ms_version(), MALLOCSPY_VERSION);
}
END_TEST

START_TEST(test_alloc_free)
{
    ms_malloc *m = ms_get_malloc();
    void *z1 = ms_alloc(m, 0), *z2 = ms_alloc(m, 0);
    ck_assert_ptr_nonnull(z1);              /* a valid zero-length block */
    ck_assert_ptr_ne(z1, z2);
    ms_free(m, z1);
    ms_free(m, z2);
    char *p = ms_alloc(m, 100);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 7, 100);
    errno = 42;
    ms_free(m, p);
    ck_assert_int_eq(errno, 42);
    ms_free(m, NULL);                       /* does nothing */
    errno = 0;
    ck_assert_ptr_null(ms_alloc(m, huge));
    ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

START_TEST(test_realloc_contract)
{
    ms_malloc *m = ms_get_malloc();
    char *p = ms_realloc(m, NULL, 8);       /* NULL: allocates */
    ck_assert_ptr_nonnull(p);
    strcpy(p, "abcdefg");
    p = ms_realloc(m, p, 50000);
    ck_assert_str_eq(p, "abcdefg");
    char *q = ms_realloc(m, p, huge);       /* failure: NULL, block intact */
    ck_assert_ptr_null(q);
    ck_assert_str_eq(p, "abcdefg");
    ck_assert_ptr_null(ms_realloc(m, p, 0));  /* 0: frees, returns NULL */
}
END_TEST

START_TEST(test_get_size)
{
    ms_malloc *m = ms_get_malloc();
    ck_assert_uint_eq(ms_get_size(m, NULL), (size_t)-1);
    struct counting_spy s;
    counting_spy_init(&s, 's');
    /* With the tracker on every block is known; otherwise those allocated while a spy is
     * registered are: both give back exactly the size asked. */
    ck_assert_int_eq(ms_register_spy(&s.base), MS_OK);
    for (size_t n = 1; n < 100000; n = n * 3 + 1) {
        void *p = ms_alloc(m, n);
        ck_assert_uint_eq(ms_get_size(m, p), n);
        p = ms_realloc(m, p, n + 5);
        ck_assert_uint_eq(ms_get_size(m, p), n + 5);
        void *c = calloc(n, 2);
        ck_assert_uint_eq(ms_get_size(m, c), 2 * n);
        ms_free(m, c);
        ms_free(m, p);
    }
    ms_revoke_spy(&s.base);
    if (tracker_on()) {
        void *p = malloc(123);
        ck_assert_uint_eq(ms_get_size(m, p), 123);
        free(p);
    }
}
END_TEST

START_TEST(test_did_alloc)
{
    ms_malloc *m = ms_get_malloc();
    struct counting_spy s;
    counting_spy_init(&s, 's');
    ck_assert_int_eq(ms_register_spy(&s.base), MS_OK);
    char *p = ms_alloc(m, 64);
    /* Wine's own test: a block 1, (void *)1 0, an interior pointer 0, NULL -1. */
    ck_assert_int_eq(ms_did_alloc(m, p), 1);
    ck_assert_int_eq(ms_did_alloc(m, (void *)1), 0);
    ck_assert_int_eq(ms_did_alloc(m, p + 4), 0);
    ck_assert_int_eq(ms_did_alloc(m, NULL), -1);
    ms_free(m, p);
    ck_assert_int_eq(ms_revoke_spy(&s.base), MS_OK);
    static char global[64];
    int answer = ms_did_alloc(m, global + 16);
    if (tracker_on())
        ck_assert_int_eq(answer, 0);    /* the tracker knows every block: not one */
    else
        ck_assert_int_eq(answer, -1);   /* a block from before any spy? cannot tell */
}
END_TEST

START_TEST(test_heap_minimize)
{
    ms_malloc *m = ms_get_malloc();
    void *big[64];
    for (int i = 0; i < 64; i++)
        big[i] = ms_alloc(m, 100000);
    for (int i = 0; i < 64; i++)
        ms_free(m, big[i]);
    struct counting_spy s;
    counting_spy_init(&s, 's');
    ck_assert_int_eq(ms_register_spy(&s.base), MS_OK);
    s.armed = true;
    ms_heap_minimize(m);
    s.armed = false;
    ck_assert_int_eq(s.calls[H_PRE_HEAP_MINIMIZE], 1);
    ck_assert_int_eq(s.calls[H_POST_HEAP_MINIMIZE], 1);
    ck_assert_int_eq(ms_revoke_spy(&s.base), MS_OK);
}
END_TEST

START_TEST(test_one_heap_with_malloc)
{
    ms_malloc *m = ms_get_malloc();
    struct counting_spy s;
    counting_spy_init(&s, 's');
    ck_assert_int_eq(ms_register_spy(&s.base), MS_OK);
    s.armed = true;
    void *a = ms_alloc(m, 10);
    free(a);                                  /* task block, freed by free */
    bool a_spied = s.last_spied;
    void *b = malloc(10);
    ms_free(m, b);                            /* malloc block, freed by the task allocator */
    bool b_spied = s.last_spied;
    void *c = ms_alloc(m, 10);
    c = realloc(c, 1000);
    c = ms_realloc(m, c, 10);
    ms_free(m, c);
    s.armed = false;
    ck_assert(a_spied);
    ck_assert(b_spied);
    ck_assert_int_eq(s.calls[H_PRE_ALLOC], 3);
    ck_assert_int_eq(s.calls[H_PRE_FREE], 3);
    ck_assert_int_eq(s.calls[H_PRE_REALLOC], 2);
    ck_assert_int_eq(ms_revoke_spy(&s.base), MS_OK);
}
END_TEST

START_TEST(test_null_allocator_is_the_task_allocator)
{
    void *p = ms_alloc(NULL, 10);
    ck_assert_ptr_nonnull(p);
    ms_free(NULL, p);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("task");
    TCase *t = tcase_create("imalloc");
    tcase_add_test(t, test_get_malloc);
    tcase_add_test(t, test_alloc_free);
    tcase_add_test(t, test_realloc_contract);
    tcase_add_test(t, test_get_size);
    tcase_add_test(t, test_did_alloc);
    tcase_add_test(t, test_heap_minimize);
    tcase_add_test(t, test_one_heap_with_malloc);
    tcase_add_test(t, test_null_allocator_is_the_task_allocator);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
