/* Temporary allocations, as heaptrack counts them: a block freed when the thread has
 * allocated nothing since it (a realloc counts as a free and then an allocation), for
 * check_profile.c.  Each pattern allocates from functions of its own, so the test finds
 * its sites by function name; the loop counts are read from volatile globals, so no loop
 * is unrolled into several call sites.  Writes nothing; exits 0.
 *
 *   pattern                                          site: allocations / temporary
 *   37 x free(temp_pair())                           temp_pair 37/37
 *   20 x a=inter_first; b=inter_second; free a, b    inter_first 20/0, inter_second 20/0
 *   15 x a=nest_outer; b=nest_inner; free b, a       nest_outer 15/0, nest_inner 15/15
 *   11 x p=grow_src; p=grow_realloc(p); free p       grow_src 11/11, grow_realloc 11/11
 *    7 x p=moved_src; x=moved_other;
 *        p=moved_realloc(p); free p, x               moved_src 7/0, moved_other 7/0,
 *                                                    moved_realloc 7/7
 *    9 x free(temp_calloc())                         temp_calloc 9/9
 *    5 x p=zero_src; realloc(p, 0)                   zero_src 5/5
 *    6 x a=after_null; free(NULL); free(a)           after_null 6/6
 *    4 x free(temp_aligned())                        temp_aligned 4/4
 *    3 x free(temp_strdup())                         temp_strdup 3/3 (from strdup)
 *   total temporary: 108 */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_pairs = 37, n_inter = 20, n_nested = 15, n_grow = 11, n_moved = 7,
             n_calloc = 9, n_zero = 5, n_null = 6, n_aligned = 4, n_strdup = 3;

SITE(temp_pair, 24)
SITE(inter_first, 32)
SITE(inter_second, 48)
SITE(nest_outer, 64)
SITE(nest_inner, 16)
SITE(grow_src, 10)
SITE(moved_src, 10)
SITE(moved_other, 12)
SITE(zero_src, 40)
SITE(after_null, 8)

NOINLINE void *grow_realloc(void *p)
{
    void *q = realloc(p, 4000);
    prof_sink = q;
    return q;
}

NOINLINE void *moved_realloc(void *p)
{
    void *q = realloc(p, 20);
    prof_sink = q;
    return q;
}

NOINLINE void zero_realloc(void *p)
{
    prof_sink = realloc(p, 0);   /* frees p (NULL back) */
}

NOINLINE void *temp_calloc(void)
{
    void *p = calloc(3, 8);
    prof_sink = p;
    return p;
}

NOINLINE void *temp_aligned(void)
{
    void *p = aligned_alloc(64, 128);
    prof_sink = p;
    return p;
}

NOINLINE void *temp_strdup(void)
{
    void *p = strdup("temporary");
    prof_sink = p;
    return p;
}

int main(void)
{
    for (int i = 0; i < n_pairs; i++)
        free(temp_pair());
    for (int i = 0; i < n_inter; i++) {
        void *a = inter_first(), *b = inter_second();
        free(a);
        free(b);
    }
    for (int i = 0; i < n_nested; i++) {
        void *a = nest_outer(), *b = nest_inner();
        free(b);
        free(a);
    }
    for (int i = 0; i < n_grow; i++)
        free(grow_realloc(grow_src()));
    for (int i = 0; i < n_moved; i++) {
        void *p = moved_src(), *x = moved_other();
        p = moved_realloc(p);
        free(p);
        free(x);
    }
    for (int i = 0; i < n_calloc; i++)
        free(temp_calloc());
    for (int i = 0; i < n_zero; i++)
        zero_realloc(zero_src());
    for (int i = 0; i < n_null; i++) {
        void *a = after_null();
        free(NULL);
        free(a);
    }
    for (int i = 0; i < n_aligned; i++)
        free(temp_aligned());
    for (int i = 0; i < n_strdup; i++)
        free(temp_strdup());
    prof_sink = NULL;
    return 0;
}
