/* For check_scan.c: a thread that blocks every signal (the stop signal included), then
 * waits on a pipe that never gets data, while the main thread leaks LOST_BYTES
 * (scan_sigblock_lost) and exits.  The scan cannot stop that thread: the report must
 * still come out, say so (threads_not_stopped 1) and not hang.  No stdio. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))
#define LOST_BYTES 444

static int ready[2], never[2];

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

NOINLINE void scan_sigblock_lost(void)
{
    char *p = malloc(LOST_BYTES);
    memset(p, 1, LOST_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void *thread_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    char c = 1;
    if (write(ready[1], &c, 1) != 1)
        _exit(91);
    for (;;)
        if (read(never[0], &c, 1) == 0)
            _exit(92);
    return NULL;
}

int main(void)
{
    if (pipe(ready) || pipe(never))
        return 90;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL))
        return 90;
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 91;
    scan_sigblock_lost();
    scrub_stack();
    exit(0);
}
