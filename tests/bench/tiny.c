/* tiny - a short process that leaks nothing, for the exit-cost measure of `make bench`
 * (scripts/bench.py).
 *
 * Usage: tiny [BLOCKS [KEPT]]
 *
 * Allocates BLOCKS blocks (default 200; malloc, calloc and realloc, 8 bytes to 4 KiB),
 * reads them, and frees all but KEPT (default 100), which stay reachable from a global
 * until the end, as most programs keep some of their memory (tables, buffers) to the
 * end without leaking it.  Then it prints one checksum, and as the last thing main does
 * writes "end_ns=N" on stderr: CLOCK_MONOTONIC at that instant, so that the harness can
 * time what happens after the program's end (atexit handlers, a leak checker's report,
 * the process's teardown) apart from the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static NOINLINE unsigned char *get(size_t size, unsigned k)
{
    unsigned char *p = k % 3 == 1 ? calloc(1, size) : malloc(size);
    if (!p)
        abort();
    if (k % 3 == 2) {
        unsigned char *q = realloc(p, size * 2);
        if (!q)
            abort();
        p = q;
    }
    return p;
}

unsigned char **kept;           /* reachable to the end */

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200;
    unsigned keep = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 100;
    unsigned char **v = calloc(n ? n : 1, sizeof *v);
    uint64_t sum = 0;
    if (!v)
        return 1;
    for (unsigned i = 0; i < n; i++) {
        size_t size = 8 + (i * 2654435761u) % 4089;
        v[i] = get(size, i);
        memset(v[i], (int)i, size);
        sum = sum * 31 + v[i][size - 1];
    }
    if (keep > n)
        keep = n;
    for (unsigned i = keep; i < n; i++)
        free(v[i]);
    kept = v;
    printf("tiny: %u blocks, %u kept: checksum %016llx\n", n, keep, (unsigned long long)sum);
    fflush(stdout);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[64];
    int len = snprintf(buf, sizeof buf, "end_ns=%lld\n",
                       (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec);
    if (write(2, buf, (size_t)len) != len)
        return 1;
    return 0;
}
