/* For check_scan.c: leaks made by other threads.
 *   scan_thread_live_leak    1500 bytes, leaked by a thread still running at exit,
 *                            blocked in read() on a pipe that never gets data: definite;
 *   scan_thread_live_held    1700 bytes, held by a local of that blocked thread's
 *                            function (its stack is a root): reachable;
 *   scan_thread_exited_leak  1600 bytes, leaked by a thread that has exited (joined):
 *                            definite.
 * The main thread calls exit() while the first thread is blocked.  No stdio. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define LIVE_LEAK_BYTES 1500
#define LIVE_HELD_BYTES 1700
#define EXITED_LEAK_BYTES 1600

static NOINLINE void *alloc_filled(size_t n, int c)
{
    char *p = malloc(n);
    memset(p, c, n);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

NOINLINE void scan_thread_live_leak(void)
{
    void *volatile p = alloc_filled(LIVE_LEAK_BYTES, 1);
    p = NULL;
}

NOINLINE void *scan_thread_live_held(void)
{
    return alloc_filled(LIVE_HELD_BYTES, 2);
}

NOINLINE void scan_thread_exited_leak(void)
{
    void *volatile p = alloc_filled(EXITED_LEAK_BYTES, 3);
    p = NULL;
}

static void *live_main(void *arg)
{
    (void)arg;
    void *volatile held = scan_thread_live_held();
    scan_thread_live_leak();
    scrub_stack_and_registers();
    block_forever();
    held = NULL;
    return NULL;
}

static void *exited_main(void *arg)
{
    (void)arg;
    scan_thread_exited_leak();
    scrub_stack_and_registers();
    return NULL;
}

int main(void)
{
    if (!open_block_pipes())
        return 90;
    pthread_t a, b;
    if (pthread_create(&b, NULL, exited_main, NULL) || pthread_join(b, NULL))
        return 90;
    if (pthread_create(&a, NULL, live_main, NULL))
        return 90;
    if (!wait_until_blocked())
        return 91;
    scrub_stack_and_registers();
    exit(0);
}
