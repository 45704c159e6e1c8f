/* For check_scan.c: a thread that blocks every signal (the stop signal included), then
 * waits on a pipe that never gets data, while the main thread leaks LOST_BYTES
 * (scan_sigblock_lost) and exits.  The scan cannot stop that thread: the report must
 * still come out, say so (threads_not_stopped 1) and not hang.  No stdio. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define LOST_BYTES 444

NOINLINE void scan_sigblock_lost(void)
{
    char *p = malloc(LOST_BYTES);
    memset(p, 1, LOST_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void *thread_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    block_forever();
    return NULL;
}

int main(void)
{
    if (!open_block_pipes())
        return 90;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL))
        return 90;
    if (!wait_until_blocked())
        return 91;
    scan_sigblock_lost();
    scrub_stack_and_registers();
    exit(0);
}
