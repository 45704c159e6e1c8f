/* For check_scan.c: blocks held only by thread-local variables.
 *   scan_tls_main_alloc    1111 bytes, in the main thread's __thread variable;
 *   scan_tls_thread_alloc  2222 bytes, in another thread's __thread variable, that thread
 *                          blocked in read() on a pipe that never gets data.
 * Both reachable.  The main thread calls exit() once the other is blocked.  With argument
 * "drop" (the control), each thread clears its variable after storing: both leak.  No
 * stdio. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define MAIN_BYTES 1111
#define THREAD_BYTES 2222

__thread void *scan_tls_main_var;
__thread void *scan_tls_thread_var;
static int drop;

NOINLINE void *scan_tls_main_alloc(void)
{
    char *p = malloc(MAIN_BYTES);
    memset(p, 1, MAIN_BYTES);
    return p;
}

NOINLINE void *scan_tls_thread_alloc(void)
{
    char *p = malloc(THREAD_BYTES);
    memset(p, 2, THREAD_BYTES);
    return p;
}

static NOINLINE void thread_body(void)
{
    scan_tls_thread_var = scan_tls_thread_alloc();
    __asm__ volatile("" : : : "memory");
    if (drop)
        scan_tls_thread_var = NULL;
}

static void *thread_main(void *arg)
{
    (void)arg;
    thread_body();
    scrub_stack_and_registers();
    block_forever();
    return NULL;
}

static NOINLINE void main_body(void)
{
    scan_tls_main_var = scan_tls_main_alloc();
    __asm__ volatile("" : : : "memory");
    if (drop)
        scan_tls_main_var = NULL;
}

int main(int argc, char **argv)
{
    drop = argc > 1 && !strcmp(argv[1], "drop");
    if (!open_block_pipes())
        return 90;
    main_body();
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL))
        return 90;
    if (!wait_until_blocked())
        return 91;
    scrub_stack_and_registers();
    exit(0);
}
