/* leaky [STATUS [DIR]]: leaks exactly known blocks, for the wrapper's tests, then exits
 * with STATUS (default 0), after chdir(DIR) when DIR is given (so that a report path the
 * wrapper did not make absolute would land in the wrong place).
 *
 * The leaks, each from its own call site and never reachable from anything:
 *   leak_three: 3 blocks of 100 bytes (one stack: the same call in a loop)
 *   leak_big:   1 block of 4000 bytes
 * stdout and stderr are unbuffered, so stdio leaves no buffer of its own behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where the pointers go after use: written through a volatile so the stores are kept,
 * then cleared, so no copy of them stays in memory the program can reach. */
static void *volatile sink;

__attribute__((noinline, noclone)) void leak_three(void)
{
    for (int i = 0; i < 3; i++) {
        char *p = malloc(100);
        if (!p)
            abort();
        memset(p, 'a' + i, 100);
        sink = p;
    }
    sink = NULL;
}

__attribute__((noinline, noclone)) void leak_big(void)
{
    char *p = malloc(4000);
    if (!p)
        abort();
    memset(p, 'b', 4000);
    sink = p;
    sink = NULL;
}

/* Overwrites the stack below main's frame, where copies of the pointers might remain. */
__attribute__((noinline, noclone)) static void scrub_stack(void)
{
    volatile char buf[4096];
    memset((char *)buf, 0, sizeof buf);
    __asm__ volatile("" : : "r"(buf) : "memory");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
    int status = argc > 1 ? atoi(argv[1]) : 0;
    if (argc > 2 && chdir(argv[2]) != 0) {
        perror(argv[2]);
        return 100;
    }
    leak_three();
    leak_big();
    scrub_stack();
    printf("leaky: leaked 4300 bytes in 4 blocks, exiting with %d\n", status);
    return status;
}
