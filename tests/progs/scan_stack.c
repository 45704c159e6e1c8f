/* For check_scan.c: a block held only by a local variable of a function that is still on
 * the stack at exit.  main calls scan_stack_frame, which keeps the pointer to
 * scan_stack_alloc's block (LOCAL_BYTES) in a local and calls exit() from inside: the
 * report runs while that frame is live, so the block is reachable.
 * With argument "return" (the control), scan_stack_frame returns first and main scrubs the
 * dead frame before exiting: the block is then a definite leak.  No stdio. */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define LOCAL_BYTES 4321

static NOINLINE void scrub_stack(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
                     : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

NOINLINE void *scan_stack_alloc(void)
{
    char *p = malloc(LOCAL_BYTES);
    memset(p, 1, LOCAL_BYTES);
    return p;
}

NOINLINE void scan_stack_frame(int exit_here)
{
    void *volatile local = scan_stack_alloc();   /* in this frame's memory */
    scrub_stack();               /* no stale copy below this frame */
    if (exit_here)
        exit(0);
    local = NULL;
}

int main(int argc, char **argv)
{
    scan_stack_frame(!(argc > 1 && !strcmp(argv[1], "return")));
    scrub_stack();
    return 0;
}
