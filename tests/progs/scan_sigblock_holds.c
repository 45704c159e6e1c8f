/* For check_scan.c: a thread that blocks every signal, so that the scan cannot stop it,
 * holds the only pointer to a block (HELD_BYTES, from scan_sigblock_held) on its stack
 * while it waits in read().  The main thread leaks LOST_BYTES (scan_sigblock_lost2) and
 * exits at once.  The held block is still in use: it must not be reported as leaked, and
 * the exit must not wait for the thread.  No stdio. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define HELD_BYTES 333
#define LOST_BYTES 555

NOINLINE static void *scan_sigblock_held(void)
{
    void *p = malloc(HELD_BYTES);
    memset(p, 2, HELD_BYTES);
    return p;
}

NOINLINE void scan_sigblock_lost2(void)
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
    void *volatile held = scan_sigblock_held();
    scrub_stack();
    block_forever();
    return (void *)held;
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
    scan_sigblock_lost2();
    scrub_stack_and_registers();
    exit(0);
}
