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
    struct spied s = spy_reports(argv, opts, NULL, true);
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

static Suite *suite(void)
{
    Suite *s = suite_create("servers");
    TCase *t = tcase_create("servers");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_start_on_signal);
    tcase_add_test(t, test_start_from_code);
    tcase_add_test(t, test_start_control);
    tcase_add_test(t, test_never_started);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
