/* malloc_fill and free_fill (issue 7): prints what fresh and freed memory hold.
 *   malloc  "malloc64=N" bytes of a fresh malloc(64) that hold 0xAB; "big=N/M" the same
 *           for a 1 MiB block; "calloc=N" zero bytes of calloc(8, 8) (calloc still zeroes);
 *           "kept=N" of the first 64 bytes of realloc(p, 200) that kept the program's
 *           0x11, and "grown=N" of the 136 new bytes that hold 0xAB
 *   free    "freed=N" bytes of a freed 64-byte block (0x11 before the free) that hold
 *           0xCD (reading it: the block is in quarantine)
 *   N is printed as a count, and "first=0xXX" the first byte, to show what was there.
 * Prints "survived"; exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

volatile int after;

static size_t count(const unsigned char *p, size_t n, unsigned char byte)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == byte;
    return k;
}

NOINLINE void free_block(void *p)
{
    free(p);
    after++;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "malloc")) {
        unsigned char *p = malloc(64);
        printf("malloc64=%zu first=0x%02x\n", count(p, 64, 0xAB), p[0]);
        size_t big = 1 << 20;
        unsigned char *b = malloc(big);
        printf("big=%zu/%zu\n", count(b, big, 0xAB), big);
        free(b);
        unsigned char *c = calloc(8, 8);
        printf("calloc=%zu\n", count(c, 64, 0));
        free(c);
        memset(p, 0x11, 64);
        p = realloc(p, 200);
        printf("kept=%zu grown=%zu\n", count(p, 64, 0x11), count(p + 64, 136, 0xAB));
        free(p);
    } else if (!strcmp(mode, "free")) {
        unsigned char *p = malloc(64);
        memset(p, 0x11, 64);
        free_block(p);
        printf("freed=%zu first=0x%02x\n", count(p, 64, 0xCD), p[0]);
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}
