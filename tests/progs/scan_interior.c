/* For check_scan.c: blocks pointed to only from inside or just past them.
 *   scan_interior_alloc  1000 bytes, the only pointer to it (a global) at its middle
 *                        (offset 500): reachable;
 *   scan_interior_end      64 bytes, the only pointer to it (a global) one past its last
 *                        byte, which is not inside it: a definite leak.
 * No stdio. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define INTERIOR_BYTES 1000
#define END_BYTES 64

char *volatile scan_interior_ptr;
char *volatile scan_end_ptr;

NOINLINE void scan_interior_alloc(void)
{
    char *p = malloc(INTERIOR_BYTES);
    memset(p, 1, INTERIOR_BYTES);
    scan_interior_ptr = p + INTERIOR_BYTES / 2;
}

NOINLINE void scan_interior_end(void)
{
    char *p = malloc(END_BYTES);
    memset(p, 2, END_BYTES);
    scan_end_ptr = p + END_BYTES;
}

int main(void)
{
    scan_interior_alloc();
    scan_interior_end();
    scrub_stack_and_registers();
    return 0;
}
