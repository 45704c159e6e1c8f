/* The shared library leak_plugin dlopens (check_tracker.c builds it as
 * libleakplugin.so): plugin_leak leaks one block of PLUGIN_BYTES. */
#include <stdlib.h>
#include <string.h>

#define PLUGIN_BYTES 777

void *volatile plugin_sink;

__attribute__((noinline)) void plugin_leak(void)
{
    char *p = malloc(PLUGIN_BYTES); /* LEAK-PLUGIN */
    memset(p, 6, PLUGIN_BYTES);
    plugin_sink = p;
    plugin_sink = NULL;
}

/* tests.mk builds every C file in tests/progs as a program too: as one (compiled as position-
 * independent executable code or not position-independent at all, never as -fPIC library
 * code) this file gets a main that does nothing. */
#if !defined(__PIC__) || defined(__PIE__)
int main(void) { return 0; }
#endif
