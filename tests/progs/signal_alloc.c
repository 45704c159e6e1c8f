/* For check_threads.c: signal handlers that allocate and free while their thread is
 * inside mallocspy.  A spy's hooks (pre_alloc, post_alloc, pre_free, post_free,
 * pre_realloc, in turn) raise a signal at their own thread, so the handler runs inside
 * mallocspy, deterministically.  (Not from a timer: a handler that allocates while its
 * thread is inside the C library's own malloc breaks glibc with or without mallocspy.)
 * Each handler allocates a block and hands it to the main loop, which frees it later,
 * outside any handler; every other handler frees an older one itself.  Then SIG_LEAKS
 * blocks are leaked from sig_leak: the report must show those and no heap error. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

#define SIG_LEAKS 3
#define SLOTS 4096

static void *volatile handed[SLOTS];
static atomic_uint produced;
static atomic_int in_hook_signals;
static void *volatile kept[SIG_LEAKS];

static void *volatile own;       /* a block the handlers allocate and free themselves */

static void handler(int sig)
{
    (void)sig;
    unsigned n = atomic_fetch_add(&produced, 1);
    void *p = malloc(24 + n % 64);
    if (p)
        memset(p, 0x5a, 24);
    handed[n % SLOTS] = p;   /* emptied by the main loop before it comes round again */
    if (n % 2) {
        free(own);
        own = NULL;
    } else if (!own) {
        own = calloc(1, 40);
    }
}

static atomic_int armed;          /* which hook raises next: 1..5, 0 none */

static void maybe_raise(int which)
{
    int expect = which;
    if (atomic_compare_exchange_strong(&armed, &expect, 0)) {
        raise(SIGUSR1);             /* runs the handler here, inside the hook */
        atomic_fetch_add(&in_hook_signals, 1);
    }
}

static size_t h_pre_alloc(ms_spy *self, size_t request)
{
    (void)self;
    maybe_raise(1);
    return request;
}
static void *h_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    maybe_raise(2);
    return actual;
}
static void *h_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    maybe_raise(3);
    return request;
}
static void h_post_free(ms_spy *self, bool spied)
{
    (void)self;
    (void)spied;
    maybe_raise(4);
}
static size_t h_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                            bool spied)
{
    (void)self;
    (void)spied;
    maybe_raise(5);
    *new_request = request;
    return size;
}

static const ms_spy_ops ops = { .pre_alloc = h_pre_alloc, .post_alloc = h_post_alloc,
                                .pre_free = h_pre_free, .post_free = h_post_free,
                                .pre_realloc = h_pre_realloc };
static ms_spy spy = { &ops };

NOINLINE static void sig_leak(void)
{
    for (int i = 0; i < SIG_LEAKS; i++)
        kept[i] = malloc(200);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sig_leak();
    if (ms_register_spy(&spy) != MS_OK)
        return 90;
    unsigned freed = 0;
    for (int round = 0; round < 200000; round++) {
        if (round % 50 == 0)
            atomic_store(&armed, 1 + round / 50 % 5);
        void *p = malloc((size_t)(round % 300) + 1);
        void *q = realloc(p, (size_t)(round % 500) + 1);
        free(q ? q : p);
        /* Frees what the handlers handed over, outside them. */
        unsigned upto = atomic_load(&produced);
        for (; freed + 64 < upto; freed++) {
            free(handed[freed % SLOTS]);
            handed[freed % SLOTS] = NULL;
        }
    }
    for (unsigned i = 0; i < SLOTS; i++) {
        free(handed[i]);
        handed[i] = NULL;
    }
    free(own);
    ms_revoke_spy(&spy);
    for (int i = 0; i < SIG_LEAKS; i++)
        kept[i] = NULL;
    scrub_stack_and_registers();
    printf("%d %u\n", atomic_load(&in_hook_signals) > 0, atomic_load(&produced) > 100);
    return 0;
}
