/* Boilerplate shared by the helper programs.  Each program is built from its own source
 * file alone (and some as shared libraries, by the tests), so all here is macros and
 * static functions; the unused ones cost nothing. */
#ifndef PROGUTIL_H
#define PROGUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The functions whose names the tests look for in a report's stacks must stay frames of
 * their own: neither inlined into their callers nor cloned under another name. */
#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

/* A check the program makes of its own: the test shows the line that failed. */
#define CHECK(c)                                                                           \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            printf("FAIL %d: %s\n", __LINE__, #c);                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Defines name(): one block of `size` bytes from a call site of its own (the profile
 * counts by site), stored in the program's prof_sink so that the allocation is kept. */
#define SITE(name, size)                                                                   \
    NOINLINE void *name(void)                                                              \
    {                                                                                      \
        void *p = malloc(size);                                                            \
        prof_sink = p;                                                                     \
        return p;                                                                          \
    }

/* Zeroes the stack below the caller, where earlier calls left copies of pointers: a leak
 * the program makes must not stay reachable from a stale slot the scan finds. */
static NOINLINE __attribute__((unused)) void scrub_stack(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
}

/* scrub_stack, and the scratch registers too, which may still hold a pointer from an
 * earlier call (the scan reads the registers of every thread). */
static NOINLINE __attribute__((unused)) void scrub_stack_and_registers(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
                     : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

/* A thread the leak scan must find as it is: blocked in read() on a pipe that never gets
 * data.  open_block_pipes first (false if it cannot); the thread calls block_forever,
 * which tells wait_until_blocked (in the main thread) that it got there. */
static __attribute__((unused)) int block_ready[2], block_never[2];

static __attribute__((unused)) bool open_block_pipes(void)
{
    return !pipe(block_ready) && !pipe(block_never);
}

static NOINLINE __attribute__((unused)) void block_forever(void)
{
    char c = 1;
    if (write(block_ready[1], &c, 1) != 1)
        _exit(91);
    for (;;)
        if (read(block_never[0], &c, 1) == 0)
            _exit(92);       /* never: the write end stays open */
}

static __attribute__((unused)) bool wait_until_blocked(void)
{
    char c;
    return read(block_ready[0], &c, 1) == 1;
}

#endif
