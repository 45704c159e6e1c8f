/* waves - many short threads, started in waves, for `make bench` (scripts/bench.py).
 *
 * Usage: waves [THREADS [PER_WAVE [SEED]]]
 *
 * Starts THREADS threads (default 20,000), PER_WAVE at a time (default 50), and joins each
 * wave before the next.  The main thread hands each thread a block it allocated; the
 * thread recurses about 20 frames deep through noinline functions, checks and frees the
 * block it was handed, allocates a few of its own (NOWN, 16 bytes to 2 KiB, from call
 * sites of their own), frees all but one, and hands that one back to the main thread,
 * which frees it after the join.  So each thread is new to the leak checker, starts with
 * nothing cached, and frees a block of another thread's.  The main thread allocates from
 * 20 frames down too.  Seeded: the run is deterministic and prints one checksum.
 * Everything is freed at the end.
 *
 * Built like churn.c: -O2 -g, without -fno-omit-frame-pointer.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 20
#define NOWN 6
#define DEFAULT_THREADS 20000ul
#define DEFAULT_WAVE 50ul
#define MAX_WAVE 1024ul

#define NOINLINE __attribute__((noinline, noclone))

#include "deep.h"

struct job {
    unsigned char *handed;      /* allocated by the main thread, freed by the worker */
    unsigned char *back;        /* allocated by the worker, freed by the main thread */
    uint64_t seed;
    uint64_t sum;
    pthread_t tid;
};

struct run {
    unsigned long threads, wave;
    uint64_t seed;
    struct job *jobs;
};

/* What each recursion carries down: the main thread's run or a worker's job. */
struct frame {
    struct run *run;
    struct job *job;
};

static uint64_t next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static NOINLINE unsigned char *hand_out(uint32_t size, unsigned char tag)
{
    unsigned char *b = malloc(size);
    if (!b)
        abort();
    memcpy(b, &size, 4);
    memset(b + 4, tag, size - 4);
    return b;
}

static NOINLINE unsigned char *own_block(uint32_t size)
{
    unsigned char *b = malloc(size);
    if (!b)
        abort();
    return b;
}

static NOINLINE unsigned char *own_zeroed(uint32_t size)
{
    unsigned char *b = calloc(1, size);
    if (!b)
        abort();
    return b;
}

static NOINLINE void drop(unsigned char *b)
{
    free(b);
}

static NOINLINE uint64_t worker_body(struct job *j)
{
    uint64_t s = j->seed, sum = 0;
    unsigned char *own[NOWN];
    uint32_t size;

    memcpy(&size, j->handed, 4);
    sum += size + j->handed[size - 1];
    drop(j->handed);
    j->handed = NULL;
    for (int i = 0; i < NOWN; i++) {
        uint64_t r = next(&s);
        size = 16 + (uint32_t)(r >> 24) % 2033;
        own[i] = (i & 1) ? own_zeroed(size) : own_block(size);
        memcpy(own[i], &size, 4);
        own[i][size - 1] = (unsigned char)r;
    }
    for (int i = 0; i < NOWN; i++) {
        memcpy(&size, own[i], 4);
        sum = sum * 31 + size + own[i][size - 1];
        if (i != NOWN / 2)
            drop(own[i]);
    }
    j->back = own[NOWN / 2];
    return sum;
}

static void *worker(void *arg);

static NOINLINE uint64_t waves_loop(struct run *run)
{
    uint64_t s = run->seed, sum = 0;
    for (unsigned long first = 0; first < run->threads; first += run->wave) {
        unsigned long n = run->threads - first < run->wave ? run->threads - first : run->wave;
        for (unsigned long i = 0; i < n; i++) {
            struct job *j = &run->jobs[i];
            uint64_t r = next(&s);
            j->handed = hand_out(8 + (uint32_t)(r >> 24) % 505, (unsigned char)r);
            j->back = NULL;
            j->seed = r | 1;
            if (pthread_create(&j->tid, NULL, worker, j) != 0) {
                perror("pthread_create");
                exit(1);
            }
        }
        for (unsigned long i = 0; i < n; i++) {
            struct job *j = &run->jobs[i];
            uint32_t size;
            pthread_join(j->tid, NULL);
            memcpy(&size, j->back, 4);
            sum = sum * 1000003 + j->sum + size;
            drop(j->back);
        }
    }
    return sum;
}

/* The worker's body or the main thread's loop, 20 frames down (deep.h). */
static uint64_t frame_leaf(void *arg)
{
    struct frame *f = arg;
    return f->job ? worker_body(f->job) : waves_loop(f->run);
}

static void *worker(void *arg)
{
    struct frame f = { NULL, arg };
    f.job->sum = deep_call(frame_leaf, &f, DEPTH);
    return NULL;
}

int main(int argc, char **argv)
{
    struct run run;
    run.threads = argc > 1 ? strtoul(argv[1], NULL, 10) : DEFAULT_THREADS;
    run.wave = argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_WAVE;
    run.seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 777;
    if (run.threads == 0 || run.wave == 0 || run.wave > MAX_WAVE) {
        fprintf(stderr, "usage: waves [THREADS [PER_WAVE (1..%lu) [SEED]]]\n", MAX_WAVE);
        return 2;
    }
    run.jobs = calloc(run.wave, sizeof *run.jobs);
    if (!run.jobs)
        return 1;
    struct frame f = { &run, NULL };
    uint64_t sum = deep_call(frame_leaf, &f, DEPTH);
    printf("waves: %lu threads in waves of %lu: checksum %016llx\n", run.threads, run.wave,
           (unsigned long long)sum);
    free(run.jobs);
    return 0;
}
