/* For check_scan.c: a block whose only pointer, in a global, was overwritten with the
 * pointer to another block.  scan_overwrite_first (555 bytes) is a definite leak;
 * scan_overwrite_second (666 bytes), now in the global, is reachable.  No stdio, nothing
 * else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define FIRST_BYTES 555
#define SECOND_BYTES 666

void *volatile scan_overwrite_ptr;

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
    scrub_stack_and_registers();
    return 0;
}
