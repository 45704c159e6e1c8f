/* Long-running programs (issue 17): tracking started and stopped on demand (start=0,
 * start_signal, ms_start_tracking), snapshots and the growth between them, sampling. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static struct spied run_prog(const char *name, const char *arg, const char *opts)
{
    char *argv[] = { (char *)prog_path(name), (char *)arg, NULL };
    char *argv2[] = { (char *)prog_path(name), NULL };
    struct spied s = spy_reports(arg ? argv : argv2, opts, NULL, true);
    ck_assert_msg(s.r.status == 0 && strstr(s.r.out, "ok\n"), "%s: status %d\n%s%s", name,
                  s.r.status, s.r.out, s.r.err);
    s.json = load_report(s.json_path);
    s.log = read_file(s.log_path);
    return s;
}

static int groups_from(const struct jval *rep, const char *fn)
{
    return entries_with(rep, "leaks", fn, 3, NULL, NULL, 0);
}

/* ---- tracking on demand ------------------------------------------------------------------ */

static void check_demand(const struct spied *s)
{
    const struct jval *rep = s->json;
    /* Only what was allocated while recording is known: one leak, of 333 bytes. */
    const struct jval *g = one_leak_from(rep, "tracked_leak");
    ck_assert_str_eq(jstr(g, "kind"), "definite");
    ck_assert_int_eq((int)jnum(g, "bytes"), 333);
    ck_assert_int_eq((int)jnum(rep, "summary.definite_blocks"), 1);
    ck_assert_int_eq((int)jnum(rep, "summary.definite_bytes"), 333);
    ck_assert_int_eq(groups_from(rep, "dormant_leak"), 0);
    ck_assert_int_eq(groups_from(rep, "stopped_leak"), 0);
    /* Blocks from the dormant time, freed and resized while recording: no error. */
    ck_assert_int_eq((int)jnum(rep, "summary.errors"), 0);
    ck_assert_ptr_null(strstr(s->log, "ERROR: mallocspy: attempting"));
    ck_assert_msg(jnum(rep, "summary.allocations") >= 3 && jnum(rep, "summary.allocations") < 20,
                  "%.0f allocations recorded", jnum(rep, "summary.allocations"));
}

START_TEST(test_start_on_signal)
{
    struct spied s = run_prog("server_demand", "signal", "start=0:start_signal=SIGUSR1");
    check_demand(&s);
    spied_free(&s);
}
END_TEST

START_TEST(test_start_from_code)
{
    struct spied s = run_prog("server_demand", "api", "start=0");
    check_demand(&s);
    spied_free(&s);
}
END_TEST

/* The control: recording from start-up, the same program sees every leak. */
START_TEST(test_start_control)
{
    struct spied s = run_prog("server_demand", "api", NULL);
    const struct jval *rep = s.json;
    ck_assert_int_eq(groups_from(rep, "dormant_leak"), 1);
    ck_assert_int_eq(groups_from(rep, "tracked_leak"), 1);
    ck_assert_int_eq(groups_from(rep, "stopped_leak"), 0);   /* stopped: not recorded */
    ck_assert_int_eq((int)jnum(rep, "summary.definite_bytes"), 111 + 333);
    spied_free(&s);
}
END_TEST

/* Never started: nothing recorded, nothing reported, the program unharmed. */
START_TEST(test_never_started)
{
    char *argv[] = { (char *)prog_path("leak_basic"), NULL };
    struct spied s = spy_reports(argv, "start=0", NULL, true);
    ck_assert_int_eq(s.r.status, 0);
    struct jval *rep = s.json = load_report(s.json_path);
    ck_assert_int_eq((int)jnum(rep, "summary.allocations"), 0);
    ck_assert_int_eq((int)jnum(rep, "summary.definite_blocks"), 0);
    ck_assert_int_eq((int)jnum(rep, "summary.errors"), 0);
    spied_free(&s);
}
END_TEST

/* ---- snapshots and growth ---------------------------------------------------------------- */

/* The growth entry of `rep` whose stack starts in fn (frame 0 or 1), or NULL. */
static const struct jval *growth_of(const struct jval *rep, const char *fn)
{
    const struct jval *st = jpath(rep, "growth.stacks");
    ck_assert_msg(st && st->type == J_ARR, "no growth.stacks");
    for (size_t i = 0; i < st->n; i++)
        if (frame_index(jget(st->items[i], "stack"), fn, 2) >= 0)
            return st->items[i];
    return NULL;
}

START_TEST(test_growth_between_snapshots)
{
    char dir[PATH_MAX], opts[3 * PATH_MAX], path[PATH_MAX + 32];
    make_dir("growth", dir, sizeof dir);
    snprintf(opts, sizeof opts, "report_signal=SIGUSR2:report=growth:json_path=%s/r.%%n.json:"
             "log_path=%s/r.%%n.log", dir, dir);
    char *argv[] = { (char *)prog_path("server_growth"), dir, NULL };
    struct run r = spy(argv, opts, NULL);
    ck_assert_msg(r.status == 0 && strstr(r.out, "ok\n"), "status %d\n%s%s", r.status, r.out,
                  r.err);
    run_free(&r);
    for (int n = 0; n <= 3; n++) {
        snprintf(path, sizeof path, "%s/r.%d.json", dir, n);
        struct jval *rep = load_report(path);
        /* Snapshots 1 to 3, then the report at exit: number 4, written as %n = 0. */
        ck_assert_int_eq((int)jnum(rep, "snapshot.number"), n ? n : 4);
        ck_assert_msg((jpath(rep, "snapshot.at_exit")->b) == (n == 0), "at_exit of r.%d", n);
        const struct jval *grow = growth_of(rep, "grow_site");
        const struct jval *steady = growth_of(rep, "steady_site");
        ck_assert_msg(grow, "r.%d: grow_site did not grow", n);
        ck_assert_int_eq((int)jnum(grow, "bytes"), n ? 1000 : 200);
        ck_assert_int_eq((int)jnum(grow, "blocks"), n ? 10 : 2);
        ck_assert_int_eq((int)jnum(grow, "new_bytes"), n ? 1000 : 200);
        ck_assert_msg(jnum(grow, "bytes_per_minute") > 0, "r.%d: no rate", n);
        if (n == 1) {
            /* Since start-up, both grew. */
            ck_assert_ptr_nonnull(steady);
            ck_assert_int_eq((int)jnum(steady, "bytes"), 5 * 64);
        } else {
            ck_assert_msg(!steady, "r.%d: the steady site shows as growing", n);
        }
        /* Largest growth first. */
        ck_assert_ptr_eq(jpath(rep, "growth.stacks.0"), grow);
        json_free(rep);
        if (n) {
            snprintf(path, sizeof path, "%s/r.%d.log", dir, n);
            char *log = read_file(path);
            ck_assert_msg(log && strstr(log, "==GROWTH: mallocspy: live memory grew by"),
                          "r.%d.log: %s", n, log ? log : "(none)");
            ck_assert_msg(strstr(log, n == 1 ? "Growth of 1320 byte(s)" : "Growth of 1000 byte(s) in "
                                 "10 block(s)") || (n == 1 && strstr(log, "Growth of 1000 byte(s)")),
                          "r.%d.log:\n%s", n, log);
            free(log);
        }
    }
}
END_TEST

/* ---- sampling ---------------------------------------------------------------------------- */

/* The bytes and allocations the profile's sites give the stack through fn. */
static void site_totals(const struct jval *rep, const char *fn, double *bytes, double *allocs)
{
    const struct jval *g[4];
    int n = entries_with(rep, "sites", fn, 2, NULL, g, 4);
    *bytes = *allocs = 0;
    for (int i = 0; i < n && i < 4; i++) {
        *bytes += jnum(g[i], "bytes");
        *allocs += jnum(g[i], "allocations");
    }
}

static void near(const char *what, double got, double want, double tolerance)
{
    ck_assert_msg(fabs(got - want) <= tolerance * want, "%s: %.0f, expected %.0f within %.0f%%",
                  what, got, want, tolerance * 100);
}

START_TEST(test_sampling_estimates)
{
    static const unsigned long seeds[] = { 7, 1234567, 99 };
    for (unsigned k = 0; k < 3; k++) {
        char opts[128];
        snprintf(opts, sizeof opts, "sites_top=100:symbolize=all:sample_bytes=16384:"
                 "sample_seed=%lu", seeds[k]);
        struct spied s = run_prog("server_sampled", NULL, opts);
        const struct jval *rep = s.json;
        double bytes, allocs;
        site_totals(rep, "small_site", &bytes, &allocs);
        near("small_site bytes", bytes, 400000.0 * 64, 0.10);
        near("small_site allocations", allocs, 400000, 0.10);
        site_totals(rep, "medium_site", &bytes, &allocs);
        near("medium_site bytes", bytes, 3000.0 * 8192, 0.10);
        near("medium_site allocations", allocs, 3000, 0.10);
        site_totals(rep, "large_site", &bytes, &allocs);
        near("large_site bytes", bytes, 40.0 * 1048576, 0.01);
        site_totals(rep, "lost_site", &bytes, &allocs);
        near("lost_site bytes", bytes, 2000.0 * 1000, 0.25);
        ck_assert_int_eq((int)jnum(rep, "sampling.sample_bytes"), 16384);
        /* Only sampled blocks are known: nothing is called leaked. */
        ck_assert_int_eq((int)jnum(rep, "summary.definite_blocks"), 0);
        ck_assert_int_eq((int)jnum(rep, "summary.indirect_blocks"), 0);
        ck_assert_msg(jnum(rep, "summary.unknown_blocks") > 0, "no block left unclassified");
        ck_assert_ptr_nonnull(strstr(s.log, "mallocspy: sampled (sample_bytes=16384)"));
        ck_assert_ptr_nonnull(strstr(s.log, "SUMMARY: mallocspy: 0 byte(s) leaked"));
        spied_free(&s);
    }
}
END_TEST

/* The control: unsampled, the numbers are exact and the lost blocks are leaks. */
START_TEST(test_sampling_control)
{
    struct spied s = run_prog("server_sampled", NULL, "sites_top=100:symbolize=all");
    const struct jval *rep = s.json;
    double bytes, allocs;
    site_totals(rep, "small_site", &bytes, &allocs);
    ck_assert_int_eq((long)bytes, 400000L * 64);
    ck_assert_int_eq((long)allocs, 400000);
    ck_assert_msg(jpath(rep, "sampling")->type == J_NULL, "sampling is not null");
    ck_assert_int_eq((int)jnum(rep, "summary.definite_blocks"), 2000);
    ck_assert_int_eq((int)jnum(rep, "summary.definite_bytes"), 2000000);
    spied_free(&s);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("servers");
    TCase *t = tcase_create("servers");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_start_on_signal);
    tcase_add_test(t, test_start_from_code);
    tcase_add_test(t, test_start_control);
    tcase_add_test(t, test_never_started);
    tcase_add_test(t, test_growth_between_snapshots);
    tcase_add_test(t, test_sampling_estimates);
    tcase_add_test(t, test_sampling_control);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
