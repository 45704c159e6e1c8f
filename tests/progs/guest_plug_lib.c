/* The C plugin guest_plugins loads (check_guest.c builds it): guest_plug_leak leaks one
 * block of GUEST_PLUG_BYTES from guest_plug_make. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define GUEST_PLUG_BYTES 1111

void *volatile guest_plug_sink;

NOINLINE void guest_plug_make(void)
{
    char *p = malloc(GUEST_PLUG_BYTES); /* GUEST-PLUG */
    memset(p, 4, GUEST_PLUG_BYTES);
    guest_plug_sink = p;
    guest_plug_sink = NULL;
}

void guest_plug_leak(void)
{
    guest_plug_make();
}
