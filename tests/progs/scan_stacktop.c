/* For check_scan.c: the memory just above a thread's stack is no root.  The thread runs on
 * a stack the program maps itself (pthread_attr_setstack) with one more page right above
 * it, made read-only: a mapping of its own, neither stack, nor thread-local storage, nor a
 * module's data.  Every word of that page points to scan_stacktop_alloc's block
 * (TOP_BYTES), and nothing else does: the block is a definite leak.  The thread (whose
 * struct pthread and static TLS glibc puts at the top of that stack) waits on a pipe; the
 * main thread exits.  With argument "hold" (the control), the thread also keeps the
 * pointer in a local while it waits: the block is then reachable.  The pages are mapped
 * with the mmap system call itself: mallocspy records the mappings made through mmap() as
 * blocks of their own, and this one, reachable from the thread's stack pointer, would then
 * be scanned whole as a reachable block.  No stdio. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "progutil.h"

#define TOP_BYTES 4444
#define STACK_SIZE (256 * 1024)

static char *above;              /* the page above the thread's stack */
static long page;
static int hold;

NOINLINE void *scan_stacktop_alloc(void)
{
    char *p = malloc(TOP_BYTES);
    memset(p, 1, TOP_BYTES);
    return p;
}

static NOINLINE void fill_above(void)
{
    void *p = scan_stacktop_alloc();
    for (long i = 0; i < page / (long)sizeof p; i++)
        ((void *volatile *)above)[i] = p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    void *volatile local = hold ? ((void *const *)above)[0] : NULL;
    block_forever();
    local = NULL;
    return NULL;
}

int main(int argc, char **argv)
{
    hold = argc > 1 && !strcmp(argv[1], "hold");
    page = sysconf(_SC_PAGESIZE);
    if (!open_block_pipes())
        return 90;
    char *region = (char *)syscall(SYS_mmap, NULL, STACK_SIZE + page, PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return 90;
    above = region + STACK_SIZE;
    fill_above();
    if (syscall(SYS_mprotect, above, page, PROT_READ))   /* a mapping of its own */
        return 90;
    pthread_attr_t attr;
    pthread_t t;
    if (pthread_attr_init(&attr) || pthread_attr_setstack(&attr, region, STACK_SIZE) ||
        pthread_create(&t, &attr, thread_main, NULL))
        return 90;
    if (!wait_until_blocked())
        return 91;
    scrub_stack_and_registers();
    exit(0);
}
