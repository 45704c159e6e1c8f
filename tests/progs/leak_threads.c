/* Four threads each leak PER_THREAD blocks of BLOCK bytes from the same function and the
 * same call site, for check_tracker.c: the report must show one group with them all.
 * The pointers live only in locals of leak_from_thread and pass through a volatile
 * global that is cleared at once. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define THREADS 4
#define PER_THREAD 25
#define BLOCK 72

void *volatile leak_sink;
volatile int per_thread = PER_THREAD;   /* volatile: the loop keeps one call site */

NOINLINE void leak_from_thread(void)
{
    char *p = malloc(BLOCK); /* LEAK-THREAD */
    memset(p, 5, BLOCK);
    leak_sink = p;
    leak_sink = NULL;
}

static pthread_barrier_t start;

static void *thread_main(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&start);   /* all four run at once */
    for (int i = 0; i < per_thread; i++)
        leak_from_thread();
    scrub_stack();
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, NULL))
            return 90;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&start);
    return 0;
}
