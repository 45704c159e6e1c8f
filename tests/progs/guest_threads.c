/* A host that exits while its other threads keep allocating and freeing, for
 * check_guest.c: THREADS threads churn blocks of many sizes (each keeps a ring of them
 * in its own stack) until the process ends; main waits until every thread has done some
 * work, leaks GUEST_THREADS_BYTES from guest_threads_leak, and returns 0 from main, so
 * that the report is written with the others still running.  Prints "churning" (with
 * write(2)) when every thread has started. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define THREADS 4
#define GUEST_THREADS_BYTES 2468

void *volatile leak_sink;
static atomic_int started;

NOINLINE void guest_threads_leak(void)
{
    char *p = malloc(GUEST_THREADS_BYTES); /* GUEST-THREADS */
    memset(p, 9, GUEST_THREADS_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

static void *churn(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg * 2654435761u + 1;
    void *ring[64] = { 0 };
    for (unsigned long i = 0;; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned k = (seed >> 8) % 64;
        free(ring[k]);
        ring[k] = (seed >> 4) & 1 ? malloc((seed >> 12) % 5000 + 1)
                                  : calloc(1, (seed >> 12) % 300 + 1);
        if (ring[k])
            ((volatile char *)ring[k])[0] = (char)i;
        if (i == 1000)
            atomic_fetch_add(&started, 1);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, churn, (void *)(size_t)i) != 0)
            return 90;
    while (atomic_load(&started) < THREADS)
        usleep(1000);
    if (write(1, "churning\n", 9) != 9)
        return 91;
    guest_threads_leak();
    scrub_stack();
    return 0;
}
