/* Recurses DEPTH calls deep (argv[1], 100 when absent) and leaks one block of 4242 bytes
 * from leak_deep_leaf at the bottom: for check_tracker.c's stack depth tests. */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))

void *volatile leak_sink;
volatile int depth_sink;

NOINLINE void leak_deep_leaf(void)
{
    char *p = malloc(4242); /* LEAK-DEEP */
    memset(p, 1, 64);
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void recurse(int n)
{
    if (n <= 1)
        leak_deep_leaf();
    else
        recurse(n - 1);
    depth_sink++;   /* not a tail call: every level keeps its frame */
}

static NOINLINE void scrub_stack(void)
{
    volatile char buf[65536];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

int main(int argc, char **argv)
{
    recurse(argc > 1 ? atoi(argv[1]) : 100);
    scrub_stack();
    return 0;
}
