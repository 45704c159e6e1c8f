/* Invalid frees, reallocations and size queries (issue 7), one per mode (argv[1]), each
 * committed from a function of its own whose name the error's stack must show:
 *   stack     free of a stack address                  (do_free_stack)
 *   global    free of a global array                   (do_free_global)
 *   interior  free of a pointer 16 bytes into a block  (do_free_interior; the block from
 *             alloc_container)
 *   realloc   realloc of a stack address               (do_realloc_bad)
 *   usable    malloc_usable_size of a stack address    (do_usable_bad)
 * Prints "ptr=P" (the bad pointer) and, where there is one, "block=B" (the block it falls
 * in), flushed at once; then what the call returned, checks that the heap still works, and
 * prints "survived".  Exits 0. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile sink;
volatile int after;               /* work after each call: no tail call hides the frame */
char global_area[256];

NOINLINE char *alloc_container(size_t n)
{
    char *p = malloc(n);
    memset(p, 1, n);
    after++;
    return p;
}

NOINLINE void do_free_stack(void *p)
{
    free(p);
    after++;
}

NOINLINE void do_free_global(void *p)
{
    free(p);
    after++;
}

NOINLINE void do_free_interior(void *p)
{
    free(p);
    after++;
}

NOINLINE void *do_realloc_bad(void *p, size_t n)
{
    void *q = realloc(p, n);
    after++;
    return q;
}

NOINLINE size_t do_usable_bad(void *p)
{
    size_t n = malloc_usable_size(p);
    after++;
    return n;
}

/* The heap still works after the bad call. */
static int heap_works(void)
{
    for (int i = 1; i <= 100; i++) {
        char *p = malloc((size_t)i * 8);
        if (!p)
            return 0;
        memset(p, i, (size_t)i * 8);
        sink = p;
        free(p);
    }
    return 1;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    char local[64];
    memset(local, 7, sizeof local);
    sink = local;
    if (!strcmp(mode, "stack")) {
        printf("ptr=%p\n", (void *)local);
        fflush(stdout);
        do_free_stack(local);
    } else if (!strcmp(mode, "global")) {
        printf("ptr=%p\n", (void *)(global_area + 32));
        fflush(stdout);
        do_free_global(global_area + 32);
    } else if (!strcmp(mode, "interior")) {
        char *b = alloc_container(100);
        printf("block=%p\nptr=%p\n", (void *)b, (void *)(b + 16));
        fflush(stdout);
        do_free_interior(b + 16);
        /* The block was left alone: still whole, and freed properly now. */
        for (int i = 0; i < 100; i++)
            if (b[i] != 1) {
                printf("block damaged at %d\n", i);
                return 1;
            }
        free(b);
    } else if (!strcmp(mode, "realloc")) {
        printf("ptr=%p\n", (void *)local);
        fflush(stdout);
        errno = 0;
        void *q = do_realloc_bad(local, 200);
        printf("result=%s errno=%d\n", q ? "non-null" : "null", errno);
    } else if (!strcmp(mode, "usable")) {
        printf("ptr=%p\n", (void *)local);
        fflush(stdout);
        printf("usable=%zu\n", do_usable_bad(local));
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    if (!heap_works()) {
        printf("heap broken\n");
        return 1;
    }
    printf("survived\n");
    return 0;
}
