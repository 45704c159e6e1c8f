/* Snapshots and growth, for check_servers.c.  Run with report_signal=SIGUSR2 and
 * json_path=DIR/r.%n.json (argv[1] = DIR).  Three rounds; in each, grow_site allocates 10
 * blocks of 100 bytes and keeps them all (it grows), steady_site frees its 5 blocks of 64
 * bytes and allocates 5 new ones (it stays steady); then the round asks for a snapshot
 * and waits for its JSON report.  At the end, grow_site allocates 2 more blocks (the exit
 * report's growth: 200 bytes).  Prints "ok". */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "progutil.h"

static void *grown[64];
static int ngrown;
static void *steady[5];

NOINLINE static void grow_site(int n)
{
    for (int i = 0; i < n; i++) {
        grown[ngrown] = malloc(100);
        memset(grown[ngrown++], 1, 100);
    }
}

NOINLINE static void steady_site(void)
{
    for (int i = 0; i < 5; i++) {
        free(steady[i]);
        steady[i] = malloc(64);
        memset(steady[i], 2, 64);
    }
}

static void snapshot(const char *dir, int n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/r.%d.json", dir, n);
    CHECK(raise(SIGUSR2) == 0);
    struct stat st;
    for (int i = 0; i < 1000; i++) {
        if (stat(path, &st) == 0 && st.st_size > 0) {
            /* Written whole before the writer closes it: give it a moment to finish. */
            struct timespec ts = { 0, 200 * 1000 * 1000 };
            nanosleep(&ts, NULL);
            return;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    CHECK(!"the snapshot's report never came");
}

int main(int argc, char **argv)
{
    CHECK(argc > 1);
    setvbuf(stdout, NULL, _IONBF, 0);
    for (int round = 1; round <= 3; round++) {
        grow_site(10);
        steady_site();
        snapshot(argv[1], round);
    }
    grow_site(2);
    printf("ok\n");
    return 0;
}
