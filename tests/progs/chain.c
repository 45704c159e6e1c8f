/* Run as LD_PRELOAD="libmallocspy.so libjemalloc.so.2" (or libtcmalloc_minimal.so.4): shows
 * that mallocspy forwards to the allocator preloaded after it.  Every block the program
 * gets must be one that allocator knows (its own size query answers >= the request) and
 * one the spy saw with the exact pointer.  Prints "allocator: <name>" and "ok ...
 * misaligned=N"; exits non-zero when no such allocator is loaded or the chain is wrong. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"

/* A counting spy that remembers the pointers it was given (single-threaded program). */
#define MAXREC 4096
static void *allocated[MAXREC], *freed[MAXREC];
static atomic_int nalloc, nfree;

static void *post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    int i = atomic_fetch_add(&nalloc, 1);
    if (i < MAXREC)
        allocated[i] = actual;
    return actual;
}
static void *post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)spied;
    return post_alloc(self, actual);
}
static void *pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    int i = atomic_fetch_add(&nfree, 1);
    if (i < MAXREC)
        freed[i] = request;
    return request;
}
static const ms_spy_ops ops = { .post_alloc = post_alloc, .post_realloc = post_realloc,
                                .pre_free = pre_free };
static ms_spy spy = { &ops };

static int recorded(void *const *arr, atomic_int *n, const void *p)
{
    int k = atomic_load(n);
    for (int i = 0; i < k && i < MAXREC; i++)
        if (arr[i] == p)
            return 1;
    return 0;
}

static size_t (*sallocx_fn)(const void *, int);   /* jemalloc */
static size_t (*tc_size_fn)(void *);              /* tcmalloc */

static size_t owner_size(void *p)
{
    return sallocx_fn ? sallocx_fn(p, 0) : tc_size_fn(p);
}

static int errors, misaligned;
#define FAIL(...) do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); errors++; } while (0)

static void check_block(const char *how, void *p, size_t size, size_t align)
{
    if (!p) {
        FAIL("%s(%zu): NULL", how, size);
        return;
    }
    memset(p, 0xa5, size);
    /* mallocspy.h promises 16 even where the allocator below gives 8 to a tiny block:
     * counted apart, so that the chain itself is judged on its own. */
    if ((uintptr_t)p % align) {
        fprintf(stderr, "%s(%zu): %p not aligned to %zu\n", how, size, p, align);
        misaligned++;
    }
    size_t got = owner_size(p);
    if (got < size)
        FAIL("%s(%zu): the allocator says %p has %zu bytes", how, size, p, got);
    if (!recorded(allocated, &nalloc, p))
        FAIL("%s(%zu): the spy never saw %p", how, size, p);
}

static void check_free(const char *how, void *p)
{
    free(p);
    if (!recorded(freed, &nfree, p))
        FAIL("%s: the spy did not see %p freed", how, p);
}

int main(void)
{
    const char *name;
    sallocx_fn = (size_t (*)(const void *, int))dlsym(RTLD_DEFAULT, "sallocx");
    tc_size_fn = (size_t (*)(void *))dlsym(RTLD_DEFAULT, "tc_malloc_size");
    if (sallocx_fn)
        name = "jemalloc";
    else if (tc_size_fn)
        name = "tcmalloc";
    else {
        fprintf(stderr, "chain: neither sallocx nor tc_malloc_size found: "
                        "no jemalloc or tcmalloc below mallocspy\n");
        return 2;
    }
    printf("allocator: %s\n", name);
    fflush(stdout);   /* stdout's buffer is allocated now, before the spy */

    if (ms_register_spy(&spy) != MS_OK) {
        fprintf(stderr, "chain: ms_register_spy failed\n");
        return 3;
    }
    static const size_t sizes[] = { 1, 16, 24, 100, 1000, 4000, 5000, 70000, 1 << 20,
                                    3 << 20 };
    int blocks = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *m = malloc(n);
        check_block("malloc", m, n, 16);
        unsigned char *c = calloc(n, 1);
        if (c) {
            for (size_t k = 0; k < n; k++)
                if (c[k]) {
                    FAIL("calloc(%zu): byte %zu not zero", n, k);
                    break;
                }
        }
        check_block("calloc", c, n, 16);
        void *r = malloc(n);
        check_block("malloc", r, n, 16);
        /* Grows enough to move: the new block must be the allocator's as well. */
        void *r2 = realloc(r, n * 3 + 100);
        check_block("realloc", r2, n * 3 + 100, 16);
        void *pm = NULL;
        size_t al = i % 2 ? 64 : 4096;
        if (posix_memalign(&pm, al, n))
            FAIL("posix_memalign(%zu, %zu) failed", al, n);
        else
            check_block("posix_memalign", pm, n, al);
        size_t an = (n + 255) & ~(size_t)255;
        void *aa = aligned_alloc(256, an);
        check_block("aligned_alloc", aa, an, 256);
        check_free("free(malloc)", m);
        check_free("free(calloc)", c);
        check_free("free(realloc)", r2);
        check_free("free(posix_memalign)", pm);
        check_free("free(aligned_alloc)", aa);
        blocks += 5;
    }
    int rv = ms_revoke_spy(&spy);
    if (rv != MS_OK && rv != MS_E_PENDING)
        FAIL("ms_revoke_spy: %d", rv);
    if (errors)
        return 1;
    printf("ok %s blocks=%d allocs_seen=%d frees_seen=%d misaligned=%d\n", name, blocks,
           atomic_load(&nalloc), atomic_load(&nfree), misaligned);
    return 0;
}
