/* Overflows and underflows (issue 7), for the guard option.  Modes (argv[1]):
 *   write SIZE OFF [LEN]  a SIZE-byte block from alloc_guarded; LEN bytes (default 1) of
 *                         0x55 written at offset OFF (negative: before the block) by
 *                         scribble; the block freed by release_guarded
 *   realloc SIZE OFF      the same, but the block is grown by grow_guarded (realloc to
 *                         2 * SIZE), then freed
 *   keep SIZE OFF         the same, but the block is never freed (still reachable from a
 *                         global: found at exit)
 *   align                 aligned_alloc, posix_memalign, memalign, valloc, pvalloc and
 *                         realloc of aligned blocks: each block aligned as asked, written
 *                         in full, its contents kept by realloc; prints "aligned ok"
 *   usable SIZE           malloc(SIZE), then every byte malloc_usable_size says is usable
 *                         is written, and the block freed; prints "usable=N"
 *   huge                  malloc, calloc, realloc and aligned_alloc of sizes within a few
 *                         bytes of SIZE_MAX, which no allocator can give: each must fail
 *                         with ENOMEM (the redzones added must not wrap the size around);
 *                         prints one line for each that did not, then "huge refused"
 * Prints "ptr=P" (flushed) for the block written to, and "survived" at the end; exits 0. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile sink;
void *kept;
volatile int after;

NOINLINE char *alloc_guarded(size_t n)
{
    char *p = malloc(n);
    memset(p, 0x11, n);
    after++;
    return p;
}

NOINLINE void scribble(char *p, long off, size_t len)
{
    memset(p + off, 0x55, len);
    after++;
}

NOINLINE void release_guarded(char *p)
{
    free(p);
    after++;
}

NOINLINE char *grow_guarded(char *p, size_t n)
{
    char *q = realloc(p, n);
    after++;
    return q;
}

static int check_aligned(const char *what, void *p, size_t align, size_t size)
{
    if (!p || (uintptr_t)p % align) {
        printf("misaligned %s: %p (alignment %zu)\n", what, p, align);
        return 0;
    }
    memset(p, 0x77, size);
    if (malloc_usable_size(p) < size) {
        printf("%s: usable size %zu < %zu\n", what, malloc_usable_size(p), size);
        return 0;
    }
    return 1;
}

static int aligned_blocks(void)
{
    int ok = 1;
    void *a = aligned_alloc(64, 192);
    ok &= check_aligned("aligned_alloc(64, 192)", a, 64, 192);
    void *b = NULL;
    if (posix_memalign(&b, 4096, 100) != 0)
        b = NULL;
    ok &= check_aligned("posix_memalign(4096, 100)", b, 4096, 100);
    void *c = memalign(256, 50);
    ok &= check_aligned("memalign(256, 50)", c, 256, 50);
    void *d = valloc(10);
    ok &= check_aligned("valloc(10)", d, 4096, 10);
    void *e = pvalloc(5000);
    ok &= check_aligned("pvalloc(5000)", e, 4096, 5000);
    void *f = NULL;
    if (posix_memalign(&f, 32, 33) != 0)
        f = NULL;
    ok &= check_aligned("posix_memalign(32, 33)", f, 32, 33);
    void *g = aligned_alloc(16, 1);
    ok &= check_aligned("aligned_alloc(16, 1)", g, 16, 1);
    /* realloc keeps the contents (not necessarily the alignment, which C does not ask). */
    memset(b, 0x42, 100);
    char *b2 = realloc(b, 5000);
    for (int i = 0; b2 && i < 100; i++)
        if (b2[i] != 0x42) {
            printf("realloc lost byte %d\n", i);
            ok = 0;
            break;
        }
    if (b2)
        memset(b2, 0x43, 5000);
    char *c2 = realloc(c, 20);
    for (int i = 0; c2 && i < 20; i++)
        if (c2[i] != 0x77) {
            printf("shrinking realloc lost byte %d\n", i);
            ok = 0;
            break;
        }
    free(a);
    free(b2);
    free(c2);
    free(d);
    free(e);
    free(f);
    free(g);
    /* calloc: zeroed, all of it. */
    unsigned char *z = calloc(100, 3);
    for (int i = 0; z && i < 300; i++)
        if (z[i]) {
            printf("calloc byte %d is %d\n", i, z[i]);
            ok = 0;
            break;
        }
    free(z);
    return ok;
}

/* Sizes no allocator can give; each request must fail with ENOMEM. */
static int huge_refused(void)
{
    static const size_t minus[] = { 0, 1, 8, 20, 64, 100, 4096, 8192 };
    int ok = 1;
    for (size_t i = 0; i < sizeof minus / sizeof minus[0]; i++) {
        size_t n = SIZE_MAX - minus[i];
        const char *what[4] = { "malloc", "calloc", "realloc", "aligned_alloc" };
        for (int k = 0; k < 4; k++) {
            char *old = k == 2 ? alloc_guarded(10) : NULL;
            errno = 0;
            void *p = k == 0 ? malloc(n) : k == 1 ? calloc(1, n)
                    : k == 2 ? realloc(old, n) : aligned_alloc(64, n & ~(size_t)63);
            int err = errno;
            if (p || err != ENOMEM) {
                printf("%s(SIZE_MAX - %zu) returned %p, errno %d\n", what[k], minus[i], p,
                       err);
                ok = 0;
                sink = p;      /* not freed: it is no real block */
            }
            if (old && !p)
                free(old);
        }
    }
    return ok;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    size_t size = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
    long off = argc > 3 ? strtol(argv[3], NULL, 0) : 0;
    size_t len = argc > 4 ? strtoul(argv[4], NULL, 0) : 1;
    if (!strcmp(mode, "write") || !strcmp(mode, "realloc") || !strcmp(mode, "keep")) {
        char *p = alloc_guarded(size);
        printf("ptr=%p\n", (void *)p);
        fflush(stdout);
        scribble(p, off, len);
        if (!strcmp(mode, "realloc")) {
            p = grow_guarded(p, 2 * size);
            printf("grown=%p\n", (void *)p);
            for (size_t i = 0; i < size; i++)
                if (p[i] != 0x11 && !(off >= 0 && (size_t)off <= i && i < (size_t)off + len)) {
                    printf("realloc lost byte %zu\n", i);
                    return 1;
                }
            release_guarded(p);
        } else if (!strcmp(mode, "keep")) {
            kept = p;
        } else {
            release_guarded(p);
        }
    } else if (!strcmp(mode, "align")) {
        printf("%s\n", aligned_blocks() ? "aligned ok" : "not aligned");
    } else if (!strcmp(mode, "huge")) {
        if (huge_refused())
            printf("huge refused\n");
    } else if (!strcmp(mode, "usable")) {
        char *p = malloc(size);
        size_t n = malloc_usable_size(p);
        printf("ptr=%p\nusable=%zu\n", (void *)p, n);
        memset(p, 0x66, n);
        free(p);
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}
