/* A program that grows one site while it runs, for pprof_interval: five steps of
 * `step_ms` milliseconds (argv[1], default 600), each allocating 10 blocks of 1000 bytes
 * from grow_step and keeping them; after the third step it raises report_signal's signal
 * (SIGUSR2) if argv[2] is "signal", and waits for that report to be written (its JSON
 * report, argv[3], appears).  Writes nothing; exits 0. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "progutil.h"

void *volatile prof_sink;
static void *kept[64];

SITE(grow_step, 1000)

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&t, &t) != 0) {
    }
}

int main(int argc, char **argv)
{
    long step_ms = argc > 1 ? atol(argv[1]) : 600;
    int n = 0;
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 10; i++)
            kept[n++] = grow_step();
        if (step == 2 && argc > 3 && !strcmp(argv[2], "signal")) {
            struct stat st;
            raise(SIGUSR2);
            for (int i = 0; i < 1000 && stat(argv[3], &st) != 0; i++)
                sleep_ms(10);
        }
        sleep_ms(step_ms);
    }
    return 0;
}
