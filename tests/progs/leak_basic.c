/* Leaks one block from each C allocation function, each from its own function, for the
 * leak tracker's tests (check_tracker.c).  The marker comments name the lines the report
 * must point at: the tests find them in this file rather than hard-coding line numbers.
 * Every pointer lives only in a local variable of a function that returns (it is passed
 * through a volatile global that is cleared at once), so the blocks are truly unreachable.
 * Writes "pid=N" on stdout (with write(2): no stdio buffer) and exits with argv[1]
 * (0 when absent). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    leak_sink = p;      /* the block is used... */
    leak_sink = NULL;   /* ...and its only pointer dropped */
}

NOINLINE void leak_malloc(void)
{
    char *p = malloc(100); /* LEAK-MALLOC */
    memset(p, 1, 100);
    drop(p);
}

NOINLINE void leak_calloc(void)
{
    char *p = calloc(7, 13); /* LEAK-CALLOC */
    drop(p);
}

NOINLINE void leak_realloc(void)
{
    char *p = malloc(10);
    memset(p, 2, 10);
    p = realloc(p, 20);
    memset(p, 3, 20);
    p = realloc(p, 300); /* LEAK-REALLOC */
    memset(p, 4, 300);
    drop(p);
}

NOINLINE void leak_memalign(void)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, 200) != 0) /* LEAK-MEMALIGN */
        _exit(90);
    drop(p);
}

NOINLINE void leak_aligned(void)
{
    void *p = aligned_alloc(256, 512); /* LEAK-ALIGNED */
    drop(p);
}

NOINLINE void leak_strdup(void)
{
    char *p = strdup("a string of 27 characters!"); /* LEAK-STRDUP */
    drop(p);
}

static void put_pid(void)
{
    char buf[32], digits[16];
    int n = 0, pid = (int)getpid(), k = 0;
    do
        digits[k++] = (char)('0' + pid % 10);
    while ((pid /= 10) > 0);
    memcpy(buf, "pid=", 4);
    n = 4;
    while (k)
        buf[n++] = digits[--k];
    buf[n++] = '\n';
    if (write(1, buf, (size_t)n) != n)
        _exit(91);
}

int main(int argc, char **argv)
{
    put_pid();
    leak_malloc();
    leak_calloc();
    leak_realloc();
    leak_memalign();
    leak_aligned();
    leak_strdup();
    scrub_stack();
    return argc > 1 ? atoi(argv[1]) : 0;
}
