/* For check_scan.c: blocks held by globals, and one lost.  No stdio, and nothing else
 * allocated, so that Valgrind's totals compare with mallocspy's directly.
 *   scan_global_held    1000 bytes, its pointer in a global: reachable;
 *   scan_global_child    200 bytes, pointed to only from inside the held block: reachable;
 *   scan_global_static   300 bytes, in a function's static variable (.data): reachable;
 *   scan_global_lost     333 bytes, its pointer dropped: a definite leak. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define HELD_BYTES 1000
#define CHILD_BYTES 200
#define STATIC_BYTES 300
#define LOST_BYTES 333

void *volatile scan_global_ptr;        /* .bss */

NOINLINE void *scan_global_child(void)
{
    char *p = malloc(CHILD_BYTES);
    memset(p, 1, CHILD_BYTES);
    return p;
}

NOINLINE void scan_global_held(void)
{
    char *p = malloc(HELD_BYTES);
    memset(p, 2, HELD_BYTES);
    *(void **)(p + 48) = scan_global_child();
    __asm__ volatile("" : : "r"(p) : "memory");
    scan_global_ptr = p;
}

NOINLINE void scan_global_static(void)
{
    static void *volatile kept = (void *)1;   /* .data */
    char *p = malloc(STATIC_BYTES);
    memset(p, 3, STATIC_BYTES);
    kept = p;
}

NOINLINE void scan_global_lost(void)
{
    char *p = malloc(LOST_BYTES);
    memset(p, 4, LOST_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

int main(void)
{
    scan_global_held();
    scan_global_static();
    scan_global_lost();
    scrub_stack_and_registers();
    return 0;
}
