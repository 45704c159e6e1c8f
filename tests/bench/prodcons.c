/* prodcons - producer/consumer pairs for `make bench` (scripts/bench.py).
 *
 * Usage: prodcons [PAIRS [BLOCKS_PER_PAIR [SEED]]]
 *
 * Each pair is two threads and a queue: the producer allocates BLOCKS_PER_PAIR blocks
 * (default a million; malloc, some calloc, 16 bytes to 1 KiB), writes a header and a few
 * bytes into each and pushes it; the consumer pops it, checks and sums what it reads, and
 * frees it.  So every block is freed by a thread other than the one that allocated it.
 * The queue is a ring of QCAP pointers under a mutex, with a condition variable for each
 * side, signalled only when the other side waits (the shape of most work queues).  Both
 * threads recurse about 20 frames deep through noinline functions before their loop, and
 * allocate and free from call sites of their own.  Seeded: the run is deterministic and
 * prints one checksum.  Everything is freed at the end.
 *
 * Built like churn.c: -O2 -g, without -fno-omit-frame-pointer, so that a leak checker has
 * to unwind it from the unwind tables.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QCAP 1024u
#define DEPTH 20
#define DEFAULT_BLOCKS 1000000ul

#define NOINLINE __attribute__((noinline, noclone))

#include "deep.h"

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    unsigned head, count;
    int producer_waits, consumer_waits;     /* under lock */
    unsigned char *slot[QCAP];
};

struct pair {
    struct queue q;
    unsigned long blocks;
    uint64_t seed;
    uint64_t sum;               /* the consumer's checksum */
    pthread_t producer, consumer;
};

struct role {                   /* what one thread's recursion carries down */
    struct pair *p;
    int consumer;
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

static void push(struct queue *q, unsigned char *b)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QCAP) {
        q->producer_waits = 1;
        pthread_cond_wait(&q->not_full, &q->lock);
    }
    q->slot[(q->head + q->count) % QCAP] = b;
    q->count++;
    if (q->consumer_waits) {
        q->consumer_waits = 0;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->lock);
}

static unsigned char *pop(struct queue *q)
{
    unsigned char *b;
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) {
        q->consumer_waits = 1;
        pthread_cond_wait(&q->not_empty, &q->lock);
    }
    b = q->slot[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    if (q->producer_waits) {
        q->producer_waits = 0;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->lock);
    return b;
}

static NOINLINE unsigned char *make_block(uint32_t size)
{
    unsigned char *b = malloc(size);
    if (!b)
        abort();
    return b;
}

static NOINLINE unsigned char *make_zeroed(uint32_t size)
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

/* A block starts with its size and sequence number; its last byte is a tag. */
static NOINLINE uint64_t produce(struct pair *p)
{
    uint64_t s = p->seed;
    for (unsigned long i = 0; i < p->blocks; i++) {
        uint64_t r = next(&s);
        uint32_t size = 16 + (uint32_t)(r >> 24) % 1009;
        unsigned char *b = (r >> 60) < 12 ? make_block(size) : make_zeroed(size);
        uint32_t seq = (uint32_t)i;
        memcpy(b, &size, 4);
        memcpy(b + 4, &seq, 4);
        memset(b + 8, (int)(r & 0xff), 8);
        b[size - 1] = (unsigned char)(r >> 8);
        push(&p->q, b);
    }
    return 0;
}

static NOINLINE uint64_t consume(struct pair *p)
{
    uint64_t sum = 0;
    for (unsigned long i = 0; i < p->blocks; i++) {
        unsigned char *b = pop(&p->q);
        uint32_t size, seq;
        memcpy(&size, b, 4);
        memcpy(&seq, b + 4, 4);
        if (seq != (uint32_t)i)
            abort();                            /* the queue lost its order */
        sum = sum * 31 + size + b[8] + b[size - 1];
        drop(b);
    }
    return sum;
}

/* The role's loop, 20 frames down (deep.h). */
static uint64_t role_leaf(void *arg)
{
    struct role *w = arg;
    return w->consumer ? consume(w->p) : produce(w->p);
}

static void *producer(void *arg)
{
    struct role w = { arg, 0 };
    deep_call(role_leaf, &w, DEPTH);
    return NULL;
}

static void *consumer(void *arg)
{
    struct role w = { arg, 1 };
    uint64_t sum = deep_call(role_leaf, &w, DEPTH);
    /* deep_call adds the pads on the way up: the same for every run */
    ((struct pair *)arg)->sum = sum;
    return NULL;
}

int main(int argc, char **argv)
{
    int npairs = argc > 1 ? atoi(argv[1]) : 1;
    unsigned long blocks = argc > 2 ? strtoul(argv[2], NULL, 10) : DEFAULT_BLOCKS;
    uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 10) : 4242;
    struct pair *p;
    uint64_t total = 0;

    if (npairs < 1 || npairs > 32 || blocks == 0) {
        fprintf(stderr, "usage: prodcons [PAIRS [BLOCKS_PER_PAIR [SEED]]]\n");
        return 2;
    }
    p = calloc((size_t)npairs, sizeof *p);
    if (!p)
        return 1;
    for (int i = 0; i < npairs; i++) {
        pthread_mutex_init(&p[i].q.lock, NULL);
        pthread_cond_init(&p[i].q.not_empty, NULL);
        pthread_cond_init(&p[i].q.not_full, NULL);
        p[i].blocks = blocks;
        p[i].seed = seed * 2654435761u + (uint64_t)i * 0x9E3779B97F4A7C15ull + 1;
        if (pthread_create(&p[i].consumer, NULL, consumer, &p[i]) != 0 ||
            pthread_create(&p[i].producer, NULL, producer, &p[i]) != 0) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < npairs; i++) {
        pthread_join(p[i].producer, NULL);
        pthread_join(p[i].consumer, NULL);
        total = total * 1000003 + p[i].sum;
    }
    printf("prodcons: %d pair(s) x %lu blocks: checksum %016llx\n", npairs, blocks,
           (unsigned long long)total);
    for (int i = 0; i < npairs; i++) {
        pthread_mutex_destroy(&p[i].q.lock);
        pthread_cond_destroy(&p[i].q.not_empty);
        pthread_cond_destroy(&p[i].q.not_full);
    }
    free(p);
    return 0;
}
