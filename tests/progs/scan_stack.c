/* For check_scan.c: a block held only by a local variable of a function that is still on
 * the stack at exit.  main calls scan_stack_frame, which keeps the pointer to
 * scan_stack_alloc's block (LOCAL_BYTES) in a local and calls exit() from inside: the
 * report runs while that frame is live, so the block is reachable.
 * With argument "return" (the control), scan_stack_frame returns first and main scrubs the
 * dead frame before exiting: the block is then a definite leak.  No stdio. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define LOCAL_BYTES 4321

NOINLINE void *scan_stack_alloc(void)
{
    char *p = malloc(LOCAL_BYTES);
    memset(p, 1, LOCAL_BYTES);
    return p;
}

NOINLINE void scan_stack_frame(int exit_here)
{
    void *volatile local = scan_stack_alloc();   /* in this frame's memory */
    scrub_stack_and_registers();               /* no stale copy below this frame */
    if (exit_here)
        exit(0);
    local = NULL;
}

int main(int argc, char **argv)
{
    scan_stack_frame(!(argc > 1 && !strcmp(argv[1], "return")));
    scrub_stack_and_registers();
    return 0;
}
