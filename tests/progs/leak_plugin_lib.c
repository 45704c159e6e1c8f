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

