/*
 * spy_example.c - a malloc spy registered from code.
 *
 * The spy keeps a histogram of allocation sizes by power-of-two class and counts frees,
 * reallocations and the calls each hook was made for.  Build and run:
 *
 *     cc -o spy_example spy_example.c -lmallocspy -lpthread
 *     ./spy_example
 *
 * Things to know, which this example shows:
 *  - Hooks run concurrently on every thread that allocates: keep the spy's state in
 *    atomics (or register with MS_SPY_SERIALIZED and pay for a lock).
 *  - Memory allocated inside a hook (printf's buffer, say) is seen by no spy, but the
 *    program's own allocations are, stdio's included: print before registering, or the
 *    stdout buffer becomes a block the spy saw and that stays live until exit.
 *  - ms_revoke_spy() answers MS_E_PENDING while blocks the spy saw are still live: the
 *    spy then sees no new allocation, but still sees those blocks freed, and its release
 *    hook runs once the last of them is gone.  Do not free or reuse the spy before that.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"

/* Size classes: class 0 is size 0, class k (k >= 1) holds sizes in [2^(k-1), 2^k). */
#define NCLASS 65

struct histogram_spy {
    ms_spy base;                     /* must come first: the hooks get &base back */
    atomic_ulong by_class[NCLASS];   /* allocations, by size class */
    atomic_ulong allocs, failed, frees, reallocs;
    atomic_ulong by_kind[MS_CALL_HEAP_MINIMIZE + 1];   /* indexed by ms_call_kind */
    atomic_bool released;
    atomic_ulong frees_at_release;
};

static unsigned size_class(size_t n)
{
    return n ? 64u - (unsigned)__builtin_clzll((unsigned long long)n) : 0u;
}

/* Which call (malloc, calloc, ms_alloc...) this hook runs for: ms_spy_call() is valid
 * only inside a hook, on the hook's thread. */
static void count_kind(struct histogram_spy *s)
{
    const ms_call *c = ms_spy_call();
    if (c && c->kind > 0 && c->kind <= MS_CALL_HEAP_MINIMIZE)
        atomic_fetch_add_explicit(&s->by_kind[c->kind], 1, memory_order_relaxed);
}

#define SPY(self) ((struct histogram_spy *)(self))

static size_t hist_pre_alloc(ms_spy *self, size_t request)
{
    struct histogram_spy *s = SPY(self);
    atomic_fetch_add_explicit(&s->by_class[size_class(request)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->allocs, 1, memory_order_relaxed);
    count_kind(s);
    return request;              /* allocate what was asked: we only watch */
}

static void *hist_post_alloc(ms_spy *self, void *actual)
{
    if (!actual)                 /* NULL: the allocation failed */
        atomic_fetch_add_explicit(&SPY(self)->failed, 1, memory_order_relaxed);
    return actual;
}

static void *hist_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)spied;                 /* true if the block was allocated while we watched */
    atomic_fetch_add_explicit(&SPY(self)->frees, 1, memory_order_relaxed);
    count_kind(SPY(self));
    return request;
}

static size_t hist_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                               bool spied)
{
    (void)spied;
    *new_request = request;      /* must be set: the block really reallocated */
    atomic_fetch_add_explicit(&SPY(self)->reallocs, 1, memory_order_relaxed);
    count_kind(SPY(self));
    return size;
}

/* Runs once, after a revoke, when no block this spy saw is live any more. */
static void hist_release(ms_spy *self)
{
    struct histogram_spy *s = SPY(self);
    atomic_store(&s->frees_at_release, atomic_load(&s->frees));
    atomic_store(&s->released, true);
}

static const ms_spy_ops histogram_ops = {
    .pre_alloc = hist_pre_alloc,
    .post_alloc = hist_post_alloc,
    .pre_free = hist_pre_free,
    .pre_realloc = hist_pre_realloc,
    .release = hist_release,
};

static struct histogram_spy spy = { .base = { &histogram_ops } };

/* ---- a workload: a few threads allocating blocks of many sizes ------------------------ */

#define THREADS 4
#define ROUNDS 2000
static pthread_barrier_t start;
static atomic_ulong made;        /* allocations the workload made, to check the spy by */

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    ms_malloc *m = ms_get_malloc();
    pthread_barrier_wait(&start);
    for (int i = 0; i < ROUNDS; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = (size_t)(seed >> 8) % ((size_t)1 << (i % 18));
        char *p;
        switch (i % 4) {
        case 0: p = malloc(n); break;
        case 1: p = calloc(1, n); break;
        case 2: p = aligned_alloc(64, (n + 63) & ~(size_t)63); break;
        default: p = ms_alloc(m, n); break;   /* the task allocator: the same heap */
        }
        atomic_fetch_add(&made, 1);
        if (!p)
            continue;
        memset(p, 1, n);
        if (i % 8 == 1) {
            char *q = realloc(p, n * 2 + 1);
            if (q)
                p = q;
        }
        if (i % 4 == 3)
            ms_free(m, p);
        else
            free(p);
    }
    return NULL;
}

int main(void)
{
    /* Printed before the spy exists, which allocates stdout's buffer outside its view. */
    printf("mallocspy %s: a spy with a size histogram\n", ms_version());
    fflush(stdout);

    /* Threads are started first: their stacks and thread data are then not the spy's. */
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));

    if (ms_register_spy(&spy.base) != MS_OK) {
        fprintf(stderr, "ms_register_spy failed\n");
        return 1;
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);

    /* A few blocks still live at the revoke: it answers MS_E_PENDING. */
    enum { KEPT = 5 };
    void *kept[KEPT];
    for (int i = 0; i < KEPT; i++) {
        kept[i] = malloc((size_t)100 << i);
        atomic_fetch_add(&made, 1);
    }

    int rv = ms_revoke_spy(&spy.base);
    if (rv == MS_E_PENDING)
        printf("revoke: pending (%d blocks the spy saw are still live; release waits "
               "for them)\n", KEPT);
    else if (rv == MS_OK)
        printf("revoke: done at once (nothing the spy saw was live)\n");
    else {
        fprintf(stderr, "ms_revoke_spy: %d\n", rv);
        return 1;
    }
    printf("released before the frees: %s\n", atomic_load(&spy.released) ? "yes" : "no");

    /* Safe to read now: no new allocation reaches a revoked spy. */
    unsigned long most = 1, rows = 0;
    for (unsigned k = 0; k < NCLASS; k++)
        if (atomic_load(&spy.by_class[k]) > most)
            most = atomic_load(&spy.by_class[k]);
    printf("\n%-25s %10s\n", "size class (bytes)", "count");
    for (unsigned k = 0; k < NCLASS; k++) {
        unsigned long c = atomic_load(&spy.by_class[k]);
        if (!c)
            continue;
        char range[48];
        if (k <= 1)
            snprintf(range, sizeof range, "%u", k);
        else
            snprintf(range, sizeof range, "%llu - %llu", 1ull << (k - 1), (1ull << k) - 1);
        printf("%-25s %10lu  %.*s\n", range, c, (int)(30 * c / most),
               "##############################");
        rows += c;
    }
    printf("%-25s %10lu\n", "total", rows);
    printf("\nallocations %lu (the program made %lu), failed %lu, reallocations %lu, "
           "frees %lu\n", atomic_load(&spy.allocs), atomic_load(&made),
           atomic_load(&spy.failed), atomic_load(&spy.reallocs), atomic_load(&spy.frees));
    static const char *const kinds[] = {
        [MS_CALL_MALLOC] = "malloc", [MS_CALL_CALLOC] = "calloc",
        [MS_CALL_REALLOC] = "realloc", [MS_CALL_MEMALIGN] = "memalign",
        [MS_CALL_FREE] = "free", [MS_CALL_USABLE_SIZE] = "malloc_usable_size",
        [MS_CALL_TASK_ALLOC] = "ms_alloc", [MS_CALL_TASK_REALLOC] = "ms_realloc",
        [MS_CALL_TASK_FREE] = "ms_free", [MS_CALL_GET_SIZE] = "ms_get_size",
        [MS_CALL_DID_ALLOC] = "ms_did_alloc", [MS_CALL_HEAP_MINIMIZE] = "ms_heap_minimize",
    };
    printf("by call:");
    for (int k = MS_CALL_MALLOC; k <= MS_CALL_HEAP_MINIMIZE; k++) {
        unsigned long c = atomic_load(&spy.by_kind[k]);
        if (c)
            printf(" %s=%lu", kinds[k], c);
    }
    printf("\n");

    /* The pending spy still sees these frees; the last one runs its release hook. */
    for (int i = 0; i < KEPT; i++)
        free(kept[i]);
    if (atomic_load(&spy.released))
        printf("released: yes, after %lu frees\n", atomic_load(&spy.frees_at_release));
    else
        printf("released: no\n");
    return atomic_load(&spy.released) ? 0 : 1;
}
