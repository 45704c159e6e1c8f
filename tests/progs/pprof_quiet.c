/* Whether anything signals the program's threads while it runs: a thread sleeps 2.5 s in
 * one nanosleep, which a signal handler cuts short (EINTR, SA_RESTART or not), and prints
 * "interrupted=0" or "interrupted=1".  With argv[1] "signal", the main thread raises
 * report_signal's SIGUSR2 after 0.5 s: the report's scan stops every thread (the control).
 * Exits 0. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "progutil.h"

static void *sleeper(void *arg)
{
    struct timespec t = { 2, 500000000 }, rem;
    int r = nanosleep(&t, &rem);
    *(int *)arg = r != 0 && errno == EINTR;
    return NULL;
}

int main(int argc, char **argv)
{
    int interrupted = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, sleeper, &interrupted) == 0);
    if (argc > 1 && !strcmp(argv[1], "signal")) {
        struct timespec half = { 0, 500000000 };
        nanosleep(&half, NULL);
        raise(SIGUSR2);
    }
    pthread_join(t, NULL);
    printf("interrupted=%d\n", interrupted);
    return 0;
}
