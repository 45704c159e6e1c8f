/* churn - allocation churn for `make bench` (scripts/bench.py).
 *
 * Usage: churn [THREADS [OPS_PER_THREAD [SEED]]]
 *
 * Each thread recurses about 20 frames deep through several distinct noinline functions,
 * then runs OPS_PER_THREAD operations over a working set of NSLOTS slots: malloc, calloc,
 * realloc (grow and shrink) and free, each from a call site of its own, with sizes from
 * 8 bytes to a few KiB, touching a few bytes of every block it gets.  Every thread does
 * the same amount of work, so with as many cores as threads the ideal wall time is one
 * thread's.  The PRNG is seeded: the run is deterministic and prints one checksum that
 * does not depend on addresses.  Everything is freed at the end.
 *
 * Built with -O2 -g and, like Debian's code, without -fno-omit-frame-pointer: a leak
 * checker has to unwind it from the unwind tables.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSLOTS 4096u        /* working set: up to this many live blocks per thread */
#define DEPTH 20            /* frames of recursion before the loop */
#define DEFAULT_OPS 20000000ul

#define NOINLINE __attribute__((noinline, noclone))

#include "deep.h"

struct slot {
    unsigned char *p;
    uint32_t size;
};

struct worker {
    unsigned long ops;
    uint64_t seed;
    uint64_t sum;           /* the thread's checksum */
    pthread_t tid;
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

/* Sizes: mostly small, some medium, a few up to 4 KiB. */
static uint32_t pick_size(uint64_t r)
{
    unsigned k = (unsigned)(r >> 60);           /* 0..15 */
    uint32_t v = (uint32_t)(r >> 24);
    if (k < 10)
        return 8 + v % 120;                     /* 8..127 */
    if (k < 14)
        return 128 + v % 896;                   /* 128..1023 */
    return 1024 + v % 3073;                     /* 1024..4096 */
}

static void touch(unsigned char *p, uint32_t size, unsigned char tag)
{
    memset(p, tag, size < 16 ? size : 16);
    p[size - 1] = tag;
}

static NOINLINE unsigned char *get_malloc(uint32_t size)
{
    unsigned char *p = malloc(size);
    if (!p)
        abort();
    return p;
}

static NOINLINE unsigned char *get_calloc(uint32_t size)
{
    unsigned char *p = calloc(1, size);
    if (!p)
        abort();
    return p;
}

static NOINLINE unsigned char *grow(unsigned char *p, uint32_t size)
{
    unsigned char *q = realloc(p, size);
    if (!q)
        abort();
    return q;
}

static NOINLINE unsigned char *shrink(unsigned char *p, uint32_t size)
{
    unsigned char *q = realloc(p, size);
    if (!q)
        abort();
    return q;
}

static NOINLINE void drop(unsigned char *p)
{
    free(p);
}

/* The loop, at the bottom of the recursion. */
static NOINLINE uint64_t churn_loop(struct worker *w)
{
    struct slot *slots = calloc(NSLOTS, sizeof *slots);
    uint64_t s = w->seed, sum = 0;
    if (!slots)
        abort();

    for (unsigned long i = 0; i < w->ops; i++) {
        uint64_t r = next(&s);
        struct slot *sl = &slots[r % NSLOTS];
        unsigned op = (unsigned)(r >> 12) & 15;   /* bits apart from the slot's */
        unsigned char tag = (unsigned char)(r >> 16);

        if (!sl->p) {
            uint32_t size = pick_size(r);
            if (op < 10) {
                sl->p = get_malloc(size);
            } else {
                sl->p = get_calloc(size);
                sum += sl->p[size - 1];         /* zero */
            }
            sl->size = size;
            touch(sl->p, size, tag);
        } else if (op < 3) {                    /* grow */
            uint32_t size = sl->size + 8 + (uint32_t)(r >> 40) % (sl->size < 2048 ? sl->size : 256);
            sum += sl->p[0] + sl->p[sl->size - 1];
            sl->p = grow(sl->p, size);
            sum += sl->p[0];                    /* kept by realloc */
            sl->size = size;
            touch(sl->p, size, tag);
        } else if (op < 5 && sl->size > 16) {  /* shrink */
            uint32_t size = 8 + (uint32_t)(r >> 40) % (sl->size - 8);
            sum += sl->p[0];
            sl->p = shrink(sl->p, size);
            sum += sl->p[0];
            sl->size = size;
            touch(sl->p, size, tag);
        } else {                                /* free */
            sum += sl->p[0] + sl->p[sl->size - 1] + sl->size;
            drop(sl->p);
            sl->p = NULL;
        }
        sum = sum * 31 + op;
    }

    for (unsigned i = 0; i < NSLOTS; i++)
        if (slots[i].p) {
            sum += slots[i].p[0] + slots[i].size;
            drop(slots[i].p);
        }
    free(slots);
    return sum;
}

static uint64_t churn_leaf(void *w) { return churn_loop(w); }

static void *run(void *arg)
{
    struct worker *w = arg;
    w->sum = deep_call(churn_leaf, w, DEPTH);
    return NULL;
}

int main(int argc, char **argv)
{
    int nthreads = argc > 1 ? atoi(argv[1]) : 1;
    unsigned long ops = argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_OPS;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 12345;
    struct worker *w;
    uint64_t total = 0;

    if (nthreads < 1 || nthreads > 64 || ops == 0) {
        fprintf(stderr, "usage: churn [THREADS [OPS_PER_THREAD [SEED]]]\n");
        return 2;
    }
    w = calloc((size_t)nthreads, sizeof *w);
    if (!w)
        return 1;
    for (int i = 0; i < nthreads; i++) {
        w[i].ops = ops;
        w[i].seed = seed * 2654435761u + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < nthreads; i++) {
        pthread_join(w[i].tid, NULL);
        total = total * 1000003 + w[i].sum;
    }
    printf("churn: %d thread(s) x %lu ops: checksum %016llx\n", nthreads, ops,
           (unsigned long long)total);
    free(w);
    return 0;
}
