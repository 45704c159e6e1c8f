/* For check_scan.c: a block held only by a register of a running thread.  The thread
 * gets its block (REG_BYTES, from scan_register_alloc) as an encoded number (the pointer
 * xor KEY), which is not a pointer; it scrubs its stack, and in inline assembly clears the
 * scratch registers, decodes the pointer into r12 (callee-saved) and spins.  No copy of
 * the pointer is left in memory: only r12 holds it, so the block is reachable only
 * through the thread's registers.  The main thread calls exit() while the other spins.
 * With argument "clobber" (the control), r12 gets the encoded number instead: the block
 * is then a definite leak.  No stdio. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progutil.h"

#define REG_BYTES 3333
#define KEY 0x5a5a5a5a5a5a5a5aULL

static volatile int spinning, never_set;
static uintptr_t key = KEY;

/* The block's address, encoded. */
NOINLINE uintptr_t scan_register_alloc(void)
{
    char *p = malloc(REG_BYTES);
    memset(p, 3, REG_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
    return (uintptr_t)p ^ KEY;
}

static NOINLINE void spin(uintptr_t enc, uintptr_t k)
{
    register uintptr_t e __asm__("r13") = enc;
    register uintptr_t kk __asm__("r14") = k;
    __asm__ volatile(
        "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
        "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
        "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
        "mov %[e], %%r12\n\t"
        "xor %[k], %%r12\n\t"      /* r12: the pointer (or, with k = 0, still encoded) */
        "xor %[e], %[e]\n\t"
        "xor %[k], %[k]\n\t"
        "movl $1, %[ready]\n\t"
        "1: cmpl $0, %[flag]\n\t"
        "je 1b"
        : [ready] "=m"(spinning), [e] "+r"(e), [k] "+r"(kk)
        : [flag] "m"(never_set)
        : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "memory", "cc");
}

static int clobber;

static void *thread_main(void *arg)
{
    (void)arg;
    uintptr_t enc = scan_register_alloc();
    scrub_stack_and_registers();
    spin(enc, clobber ? 0 : key);
    return NULL;
}

int main(int argc, char **argv)
{
    clobber = argc > 1 && !strcmp(argv[1], "clobber");
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL))
        return 90;
    while (!spinning) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    struct timespec ts = { 0, 20000000 };   /* well inside the loop by now */
    nanosleep(&ts, NULL);
    scrub_stack_and_registers();
    exit(0);
}
