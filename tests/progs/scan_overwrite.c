/* For check_scan.c: a block whose only pointer, in a global, was overwritten with the
 * pointer to another block.  scan_overwrite_first (555 bytes) is a definite leak;
 * scan_overwrite_second (666 bytes), now in the global, is reachable.  No stdio, nothing
 * else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define FIRST_BYTES 555
#define SECOND_BYTES 666

void *volatile scan_overwrite_ptr;

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

NOINLINE void *scan_overwrite_first(void)
{
    char *p = malloc(FIRST_BYTES);
    memset(p, 1, FIRST_BYTES);
    return p;
}

NOINLINE void *scan_overwrite_second(void)
{
    char *p = malloc(SECOND_BYTES);
    memset(p, 2, SECOND_BYTES);
    return p;
}

int main(void)
{
    scan_overwrite_ptr = scan_overwrite_first();
    scan_overwrite_ptr = scan_overwrite_second();
    scrub_stack();
    return 0;
}
