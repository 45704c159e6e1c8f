/* Stacks: the per-thread stack cache must never change what is reported.  A program walks
 * the paths a cache could confuse (one site from two callers, recursion, longjmp, C++
 * exceptions, a signal handler, a second thread); its report with the cache must be the
 * report without it, stack for stack, and each stack must be the path really taken. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* One leak group: its frames' functions (innermost first) and bytes. */
struct group {
    char frames[64][64];
    int nframes;
    double bytes, blocks;
};

struct report {
    struct group g[64];
    int n;
    double hits, misses;
};

static void load(struct report *out, const char *opts)
{
    char json[512], all[600];
    snprintf(json, sizeof json, "%s", tmp_path("stacks.json"));
    snprintf(all, sizeof all, "report=quiet:json_path=%s%s%s", json, *opts ? ":" : "", opts);
    char *argv[] = { (char *)prog_path("stack_paths"), NULL };
    struct run r = run_spied(argv, all, NULL);
    ck_assert_msg(r.status == 0, "stack_paths with %s: status %d, stderr: %s", opts, r.status,
                  r.err);
    ck_assert_str_eq(r.out, "paths done\n");
    run_free(&r);
    struct jval *rep = load_report(json);
    const struct jval *leaks = jget(rep, "leaks");
    ck_assert(leaks && leaks->type == J_ARR);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < leaks->n; i++) {
        const struct jval *l = leaks->items[i];
        const struct jval *st = jget(l, "stack");
        if (!st || st->type != J_ARR || !st->n)
            continue;
        /* Only the program's own blocks: every path allocates in stack_site. */
        const char *f0 = jstr(st->items[0], "function");
        if (!f0 || strcmp(f0, "stack_site") != 0)
            continue;
        ck_assert_int_lt(out->n, 64);
        struct group *g = &out->g[out->n++];
        for (size_t k = 0; k < st->n && k < 64; k++) {
            const char *fn = jstr(st->items[k], "function");
            snprintf(g->frames[k], sizeof g->frames[k], "%s", fn ? fn : "?");
            g->nframes++;
        }
        g->bytes = jnum(l, "bytes");
        g->blocks = jnum(l, "blocks");
    }
    out->hits = jnum(rep, "mallocspy.stack_cache_hits");
    out->misses = jnum(rep, "mallocspy.stack_cache_misses");
    json_free(rep);
}

static bool same_frames(const struct group *a, const struct group *b)
{
    if (a->nframes != b->nframes)
        return false;
    for (int k = 0; k < a->nframes; k++)
        if (strcmp(a->frames[k], b->frames[k]) != 0)
            return false;
    return true;
}

/* The group whose block size is `size` (each path allocates its own size). */
static const struct group *by_size(const struct report *r, double size)
{
    const struct group *found = NULL;
    for (int i = 0; i < r->n; i++)
        if (fabs(r->g[i].bytes / r->g[i].blocks - size) < 0.5) {
            ck_assert_msg(found == NULL, "two groups of %g-byte blocks", size);
            found = &r->g[i];
        }
    ck_assert_msg(found != NULL, "no group of %g-byte blocks", size);
    return found;
}

static int count(const struct group *g, const char *fn)
{
    int c = 0;
    for (int k = 0; k < g->nframes; k++)
        c += strcmp(g->frames[k], fn) == 0;
    return c;
}

/* fn appears in g, and `outer` further out. */
static void check_order(const struct group *g, const char *fn, const char *outer)
{
    int a = -1, b = -1;
    for (int k = 0; k < g->nframes; k++) {
        if (a < 0 && strcmp(g->frames[k], fn) == 0)
            a = k;
        if (strcmp(g->frames[k], outer) == 0)
            b = k;
    }
    ck_assert_msg(a >= 0, "%s is not in the stack", fn);
    ck_assert_msg(b > a, "%s is not outside %s in the stack", outer, fn);
}

START_TEST(test_cache_changes_nothing)
{
    static struct report cached, unwound;
    load(&cached, "");
    load(&unwound, "stack_cache=0");
    /* 14 paths: two callers, six depths, longjmp before and after, throw and catch, the
     * handler, the thread. */
    ck_assert_int_eq(cached.n, 14);
    ck_assert_int_eq(unwound.n, 14);
    for (int i = 0; i < cached.n; i++) {
        const struct group *a = &cached.g[i];
        const struct group *b = by_size(&unwound, a->bytes / a->blocks);
        ck_assert_msg(same_frames(a, b), "the %g-byte blocks' stack differs with the cache",
                      a->bytes / a->blocks);
        ck_assert(a->bytes == b->bytes && a->blocks == b->blocks);
    }
    /* The cache answered most captures; without it, none. */
    ck_assert_msg(cached.hits > 10 * cached.misses, "cache: %g hits, %g misses", cached.hits,
                  cached.misses);
    ck_assert(unwound.hits == 0);
}
END_TEST

START_TEST(test_each_stack_is_the_path_taken)
{
    static struct report r;
    load(&r, "");
    const struct group *a = by_size(&r, 101), *b = by_size(&r, 102);
    ck_assert_str_eq(a->frames[1], "stack_caller_a");
    ck_assert_str_eq(b->frames[1], "stack_caller_b");
    ck_assert_str_eq(a->frames[2], "main");
    ck_assert(a->blocks == 150 && b->blocks == 150);
    for (int d = 0; d < 6; d++) {
        const struct group *g = by_size(&r, 200 + d);
        ck_assert_msg(count(g, "stack_recurse") == d + 1, "depth %d: %d recursion frames", d,
                      count(g, "stack_recurse"));
        ck_assert(g->blocks == 3);
    }
    const struct group *jumped = by_size(&r, 301), *after = by_size(&r, 302);
    ck_assert_int_eq(count(jumped, "stack_jump_deep"), 11);
    ck_assert_str_eq(after->frames[1], "stack_after_jump");
    ck_assert_str_eq(after->frames[2], "main");
    const struct group *thrown = by_size(&r, 401), *caught = by_size(&r, 402);
    ck_assert_int_eq(count(thrown, "stack_throw_deep"), 11);
    ck_assert_str_eq(caught->frames[1], "stack_in_catch");
    ck_assert_str_eq(caught->frames[2], "main");
    const struct group *handled = by_size(&r, 501);
    ck_assert_str_eq(handled->frames[1], "stack_handler");
    check_order(handled, "stack_handler", "stack_raiser");
    check_order(handled, "stack_raiser", "main");
    const struct group *threaded = by_size(&r, 601);
    ck_assert_str_eq(threaded->frames[1], "stack_caller_a");
    ck_assert_str_eq(threaded->frames[2], "stack_thread");
    ck_assert_int_eq(count(threaded, "main"), 0);
    ck_assert(threaded->blocks == 300);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("stacks");
    TCase *t = tcase_create("stacks");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_cache_changes_nothing);
    tcase_add_test(t, test_each_stack_is_the_path_taken);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
