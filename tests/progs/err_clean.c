/* A clean program for the detectors' options (issue 7): a fixed pattern of allocations,
 * reallocations and frees, all correct, and two leaks: 1000 bytes from leak_first and
 * three blocks of 77 bytes from leak_second, made truly unreachable.  Prints
 * "checksum=N" (the data survived every realloc) and "done"; exits 0.  Whatever detector
 * is on, its report must not change: the same leaks, the same counts, no error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void leak_first(void)
{
    char *p = malloc(1000);
    memset(p, 1, 1000);
    drop(p);
}

NOINLINE void leak_second(void)
{
    for (int i = 0; i < 3; i++) {
        char *p = malloc(77);
        memset(p, 2, 77);
        drop(p);
    }
}

/* Deterministic churn: 64 slots, sizes from a fixed sequence, every block freed at the
 * end.  Returns a checksum of the data read back. */
NOINLINE unsigned long churn(void)
{
    enum { SLOTS = 64 };
    unsigned char *slot[SLOTS] = { 0 };
    size_t size[SLOTS] = { 0 };
    unsigned long sum = 0;
    uint32_t x = 12345;
    for (int i = 0; i < 3000; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)((x >> 8) % SLOTS);
        size_t n = (size_t)((x >> 16) % 700) + 1;
        if (slot[k] && (x & 3) == 0) {
            /* realloc: the old bytes stay */
            unsigned char *q = realloc(slot[k], n);
            size_t keep = n < size[k] ? n : size[k];
            for (size_t j = 0; j < keep; j++)
                sum += q[j] == (unsigned char)(k + j);
            for (size_t j = 0; j < n; j++)
                q[j] = (unsigned char)(k + j);
            slot[k] = q;
            size[k] = n;
            continue;
        }
        if (slot[k]) {
            for (size_t j = 0; j < size[k]; j++)
                sum += slot[k][j] == (unsigned char)(k + j);
            free(slot[k]);
        }
        if ((x & 0x30) == 0x10) {
            slot[k] = calloc(1, n);
        } else if ((x & 0x30) == 0x20) {
            void *a = NULL;
            slot[k] = posix_memalign(&a, 64, n) == 0 ? a : NULL;
        } else {
            slot[k] = malloc(n);
        }
        size[k] = n;
        for (size_t j = 0; j < n; j++)
            slot[k][j] = (unsigned char)(k + j);
    }
    for (int k = 0; k < SLOTS; k++)
        free(slot[k]);
    return sum;
}

int main(void)
{
    unsigned long sum = churn();
    leak_first();
    leak_second();
    scrub_stack();
    printf("checksum=%lu\ndone\n", sum);
    return 0;
}
