/* For check_threads.c: everything at once, for a few seconds.  Sixteen threads allocate,
 * resize and free, handing blocks to each other through queues; meanwhile other threads
 * dlopen and dlclose a library, create and join short threads, and register and revoke a
 * spy.  Every worker leaks exactly LEAKS blocks from stress_leak: allocated first, kept in a
 * global until the end (so no stale word left by the churn can point at them), then
 * forgotten.  The report must count those and nothing else.  argv[1]: a library to load
 * and unload, argv[2]: seconds. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "mallocspy.h"
#include "progutil.h"

#define WORKERS 16
#define LEAKS 5
#define QUEUE 256

struct queue {
    pthread_mutex_t lock;
    void *p[QUEUE];
    size_t size[QUEUE];
    unsigned head, n;
};

static struct queue queues[WORKERS];
static atomic_int stop, bad;
static const char *lib;
static pthread_barrier_t leaked_all;   /* no churn before every leak is allocated: a stale
                                          pointer to a freed block could then name one */
static void *volatile leaked[WORKERS][LEAKS];

/* Filled: a leaked block's own uninitialised bytes may hold an old pointer to the next
 * one (memory the allocator handed out before), which would make it an indirect leak. */
NOINLINE static void stress_leak(int w)
{
    for (int i = 0; i < LEAKS; i++) {
        leaked[w][i] = malloc(40 + (size_t)i);
        memset(leaked[w][i], 0x5a, 40 + (size_t)i);
    }
}

static void check_fill(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)n) {
            atomic_store(&bad, 1);
            return;
        }
}

static bool put(struct queue *q, void *p, size_t size)
{
    pthread_mutex_lock(&q->lock);
    bool ok = q->n < QUEUE;
    if (ok) {
        unsigned at = (q->head + q->n++) % QUEUE;
        q->p[at] = p;
        q->size[at] = size;
    }
    pthread_mutex_unlock(&q->lock);
    return ok;
}

static void *take(struct queue *q, size_t *size)
{
    void *p = NULL;
    pthread_mutex_lock(&q->lock);
    if (q->n) {
        p = q->p[q->head];
        *size = q->size[q->head];
        q->head = (q->head + 1) % QUEUE;
        q->n--;
    }
    pthread_mutex_unlock(&q->lock);
    return p;
}

static void *worker(void *arg)
{
    int w = (int)(intptr_t)arg;
    unsigned seed = (unsigned)w * 7919u + 1;
    stress_leak(w);
    pthread_barrier_wait(&leaked_all);
    while (!atomic_load(&stop)) {
        size_t n = (size_t)(rand_r(&seed) % 200) + 1;
        unsigned char *p = rand_r(&seed) % 4 ? malloc(n) : calloc(1, n);
        if (!p)
            continue;
        memset(p, (int)(unsigned char)n, n);
        if (!put(&queues[(w + 1) % WORKERS], p, n))
            free(p);
        size_t m;
        unsigned char *q = take(&queues[w], &m);
        if (q) {
            check_fill(q, m);
            if (rand_r(&seed) % 3 == 0) {
                size_t k = (size_t)(rand_r(&seed) % 300) + 1;
                unsigned char *r = realloc(q, k);
                if (r) {
                    check_fill(r, m < k ? m : 0);
                    q = r;
                }
            }
            free(q);
        }
    }
    return NULL;
}

static void *loader(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            atomic_store(&bad, 2);
            return NULL;
        }
        free(malloc(64));
        dlclose(h);
    }
    return NULL;
}

static void *short_lived(void *arg)
{
    free(malloc(100));
    return arg;
}

static void *spawner(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_lived, NULL) == 0)
            pthread_join(t, NULL);
    }
    return NULL;
}

static size_t count_post(ms_spy *self, size_t request) { (void)self; return request; }
static const ms_spy_ops counting = { .pre_alloc = count_post };

static void *registrar(void *arg)
{
    (void)arg;
    static ms_spy spies[64];
    int k = 0;
    while (!atomic_load(&stop) && k < 64) {
        ms_spy *s = &spies[k++];
        s->ops = &counting;
        if (ms_register_spy(s) != MS_OK) {
            atomic_store(&bad, 3);
            return NULL;
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        int rc = ms_revoke_spy(s);
        if (rc != MS_OK && rc != MS_E_PENDING)
            atomic_store(&bad, 4);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 90;
    lib = argv[1];
    int seconds = atoi(argv[2]);
    for (int i = 0; i < WORKERS; i++)
        pthread_mutex_init(&queues[i].lock, NULL);
    pthread_barrier_init(&leaked_all, NULL, WORKERS);
    pthread_t w[WORKERS], others[3];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    pthread_create(&others[0], NULL, loader, NULL);
    pthread_create(&others[1], NULL, spawner, NULL);
    pthread_create(&others[2], NULL, registrar, NULL);
    struct timespec ts = { seconds, 0 };
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(w[i], NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(others[i], NULL);
    for (int i = 0; i < WORKERS; i++) {
        size_t m;
        void *p;
        while ((p = take(&queues[i], &m)))
            free(p);
    }
    for (int i = 0; i < WORKERS; i++)
        for (int k = 0; k < LEAKS; k++)
            leaked[i][k] = NULL;
    scrub_stack_and_registers();
    printf("bad %d\n", atomic_load(&bad));
    return atomic_load(&bad) ? 1 : 0;
}
