/* The detectors under threads (issue 7): 8 threads churn through allocations, frees and
 * reallocations of their own (all correct), and then each thread i (0 to 7) allocates a
 * block of 16 + i bytes in thread_alloc, writes one byte just past its end in
 * thread_overflow and frees it in thread_release, all at about the same time.  Prints
 * "threads done" and "survived", and exits 0: 8 overflows, one per thread, each at offset
 * 16 + i.  With argv[1] = "clean", only the churn: no error at all. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define THREADS 8

volatile int after;
static pthread_barrier_t barrier;
static int overflow = 1;

NOINLINE char *thread_alloc(size_t n)
{
    char *p = malloc(n);
    memset(p, 0x33, n);
    after++;
    return p;
}

NOINLINE void thread_overflow(char *p, size_t n)
{
    p[n] = 0x44;
    after++;
}

NOINLINE void thread_release(char *p)
{
    free(p);
    after++;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    uint32_t x = (uint32_t)id * 7919u + 1;
    char *slot[32] = { 0 };
    size_t size[32] = { 0 };
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % 32);
        size_t n = (size_t)((x >> 16) % 300) + 1;
        if (slot[k] && (x & 3) == 0) {
            slot[k] = realloc(slot[k], n);
        } else {
            free(slot[k]);
            slot[k] = (x & 16) ? calloc(1, n) : malloc(n);
        }
        size[k] = n;
        memset(slot[k], (int)id, size[k]);
    }
    for (int k = 0; k < 32; k++)
        free(slot[k]);
    if (overflow) {
        pthread_barrier_wait(&barrier);
        size_t n = 16 + (size_t)id;
        char *p = thread_alloc(n);
        thread_overflow(p, n);
        thread_release(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    overflow = !(argc > 1 && !strcmp(argv[1], "clean"));
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("threads done\nsurvived\n");
    return 0;
}
