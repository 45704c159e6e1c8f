/* For check_scan.c: THREADS threads allocate and free in loops, and now and then leak a
 * block (LEAK_BYTES, from scan_stress_leak), while the main thread calls
 * ms_report_leaks on /dev/null REPORTS times.  Before each call the main thread reads how
 * many leaks are complete (`done`: the block made, its pointer gone from the thread's
 * stack and registers), after it how many were begun (`begun`), and prints one line
 *     report I: done=D returned=N begun=B ms=T
 * (T: how long the call took): the call must have found at least D leaked blocks (less the
 * one or two a stale word in a root may keep reachable: see check_scan.c), and not many
 * more than B.  The threads sleep briefly every few iterations, so that the 16 of
 * them on a small machine leave the reporting thread some CPU.  At the end the threads
 * are stopped and joined, and "leaked=L" printed: the exit report must show exactly L
 * blocks of scan_stress_leak.  Output with write(2). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mallocspy.h"

#define NOINLINE __attribute__((noinline, noclone))
#define THREADS 16
#define REPORTS 50
/* 32 bytes: glibc gives the block a 48-byte chunk, so the header of the chunk after it
 * (which the allocator's own code points to while it works on that chunk) lies outside
 * the 32 bytes asked for, and cannot make the leak look reachable. */
#define LEAK_BYTES 32
#define LEAK_EVERY 512           /* iterations */
#define PAUSE_EVERY 8            /* iterations: a short sleep, to leave the reporter some CPU */
#define MAX_LEAKS 250            /* per thread */

static atomic_long begun, done;
static atomic_int running, stop;

/* Zeroes the 16 KB below the caller's frame, where earlier calls left their locals (the
 * allocator's included: it handles other blocks' addresses, leaked ones among them), and
 * the scratch registers.  In assembly: a C array could leave padding slots unwritten. */
static NOINLINE void scrub_stack(void)
{
    __asm__ volatile("lea -16384(%%rsp), %%rdi\n\t"
                     "mov $2048, %%ecx\n\t"
                     "xor %%eax, %%eax\n\t"
                     "rep stosq\n\t"
                     "xor %%edx, %%edx\n\txor %%esi, %%esi\n\txor %%edi, %%edi\n\t"
                     "xor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\t"
                     "xor %%r11d, %%r11d"
                     : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                       "memory");
}

/* Blocks not leaked after all (see scan_stress_leak): held here, so reachable. */
static void *volatile spared[THREADS * MAX_LEAKS];
static atomic_int nspared;

/* Leaks one block, never one that spans a page boundary: the real allocator computes
 * page-aligned addresses (the end of a heap it grows) and leaves them in stack slots that
 * later frames may not overwrite, and a conservative scan would take such a value for a
 * pointer into the block that holds that address.  A block that would span one is kept in
 * `spared`, and another taken. */
NOINLINE void scan_stress_leak(void)
{
    for (;;) {
        char *p = malloc(LEAK_BYTES);
        memset(p, 1, LEAK_BYTES);
        uintptr_t a = (uintptr_t)p;
        if ((a & 4095) != 0 && (a & ~(uintptr_t)4095) == ((a + LEAK_BYTES) & ~(uintptr_t)4095)) {
            __asm__ volatile("" : : "r"(p) : "memory");
            return;
        }
        int k = atomic_fetch_add(&nspared, 1);
        if (k >= THREADS * MAX_LEAKS)
            abort();
        spared[k] = p;
    }
}

/* Allocates a few blocks of assorted sizes, links them, reallocates one, frees them all.
 * Every byte is written: no stale pointer left in the memory by earlier blocks may
 * survive in a live block (it could point to a leaked block, which would then look
 * reachable). */
NOINLINE void scan_stress_work(unsigned seed)
{
    void *volatile keep[8];
    for (unsigned i = 0; i < 8; i++) {
        size_t n = 16 + (seed * 7 + i * 131) % 700;
        char *p = i % 3 == 2 ? calloc(1, n) : malloc(n);
        if (!p)
            abort();
        memset(p, (int)i, n);
        if (i)
            *(void **)p = keep[i - 1];
        keep[i] = p;
    }
    size_t rn = 900 + seed % 300;
    char *r = realloc(keep[seed % 8], rn);
    if (!r)
        abort();
    memset(r + 16, 0x5a, rn - 16);
    keep[seed % 8] = r;
    for (unsigned i = 0; i < 8; i++)
        free(keep[i]);
}

static void *thread_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg, leaks = 0;
    atomic_fetch_add(&running, 1);
    for (unsigned it = 0; !atomic_load(&stop); it++) {
        scan_stress_work(it * 31 + id);
        if (it % LEAK_EVERY == id % LEAK_EVERY && leaks < MAX_LEAKS) {
            atomic_fetch_add(&begun, 1);
            scan_stress_leak();
            scrub_stack();
            atomic_fetch_add(&done, 1);
            leaks++;
        }
        if (it % PAUSE_EVERY == 0) {
            struct timespec ts = { 0, 50000 };
            scrub_stack();          /* a thread stopped in the sleep shows a clean stack */
            nanosleep(&ts, NULL);
        }
    }
    scrub_stack();
    return NULL;
}

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(89);
}

int main(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i))
            return 90;
    while (atomic_load(&running) < THREADS) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL);
    }
    FILE *null = fopen("/dev/null", "w");
    if (!null)
        return 91;
    for (int r = 0; r < REPORTS; r++) {
        long d = atomic_load(&done);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = ms_report_leaks(null);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long b = atomic_load(&begun);
        char line[160];
        snprintf(line, sizeof line, "report %d: done=%ld returned=%d begun=%ld ms=%ld\n", r, d,
                 n, b, (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        say(line);
    }
    fclose(null);
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        if (pthread_join(t[i], NULL))
            return 92;
    char line[64];
    snprintf(line, sizeof line, "leaked=%ld\n", atomic_load(&done));
    say(line);
    scrub_stack();
    return 0;
}
