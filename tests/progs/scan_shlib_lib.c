/* The shared library of scan_shlib (check_scan.c builds it as libscanlib.so): blocks
 * held by the library's own static variables, reachable while it stays loaded.
 *   scan_lib_hold_bss   2468 bytes, in a static in .bss;
 *   scan_lib_hold_data  1234 bytes, in a static in .data;
 *   scan_lib_drop       1357 bytes, pointer dropped: a definite leak (the control). */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define BSS_BYTES 2468
#define DATA_BYTES 1234
#define DROP_BYTES 1357

static void *volatile held_bss;
static void *volatile held_data = (void *)1;

NOINLINE void scan_lib_hold_bss(void)
{
    char *p = malloc(BSS_BYTES);
    memset(p, 1, BSS_BYTES);
    held_bss = p;
}

NOINLINE void scan_lib_hold_data(void)
{
    char *p = malloc(DATA_BYTES);
    memset(p, 2, DATA_BYTES);
    held_data = p;
}

NOINLINE void scan_lib_drop(void)
{
    char *p = malloc(DROP_BYTES);
    memset(p, 3, DROP_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

