/* Tracking on demand, for check_servers.c.  Run with start=0 (and start_signal=SIGUSR1 in
 * "signal" mode; argv[1] "api" uses ms_start_tracking / ms_stop_tracking instead):
 *   dormant_leak   111 bytes leaked while dormant: never recorded, never reported
 *   dormant_kept   222 bytes allocated while dormant, freed while recording: passed to
 *                  the real allocator silently, no invalid free
 *   dormant_grown  50 bytes allocated while dormant, realloc'd to 60 while recording
 *                  and freed: no error either
 *   tracked_leak   333 bytes leaked while recording: the one leak of the report
 *   tracked_kept   400 bytes allocated while recording, freed after the stop: counted
 *                  freed
 *   stopped_leak   444 bytes leaked after the stop: not recorded
 * Prints "ok". */
#include <signal.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

void *volatile sink;

NOINLINE static void *dormant_leak(void) { return malloc(111); }
NOINLINE static void *dormant_kept(void) { return malloc(222); }
NOINLINE static void *dormant_grown(void) { return malloc(50); }
NOINLINE static void *tracked_leak(void) { return malloc(333); }
NOINLINE static void *tracked_kept(void) { return malloc(400); }
NOINLINE static void *stopped_leak(void) { return malloc(444); }

static void toggle(bool api, bool on)
{
    if (!api)
        CHECK(raise(SIGUSR1) == 0);
    else
        CHECK((on ? ms_start_tracking() : ms_stop_tracking()) == MS_OK);
}

int main(int argc, char **argv)
{
    bool api = argc > 1 && !strcmp(argv[1], "api");
    setvbuf(stdout, NULL, _IONBF, 0);
    sink = dormant_leak();
    sink = NULL;
    void *kept = dormant_kept(), *grown = dormant_grown();
    memset(kept, 1, 222);
    toggle(api, true);
    sink = tracked_leak();
    sink = NULL;
    void *t = tracked_kept();
    free(kept);
    grown = realloc(grown, 60);
    CHECK(grown);
    free(grown);
    toggle(api, false);
    free(t);
    sink = stopped_leak();
    sink = NULL;
    scrub_stack_and_registers();
    printf("ok\n");
    return 0;
}
