/* A library leak_dtor is linked with (check_tracker.c builds it as libleakdtor.so): its
 * constructor allocates a block that its destructor frees, so nothing of it is left when
 * the leak report is written.  With LEAK_DTOR_KEEP set in the environment, the destructor
 * drops the pointer instead of freeing it (the control: the block must then be reported,
 * from dtorlib_init). */
#include <stdlib.h>
#include <string.h>

#define DTORLIB_BYTES 4111

static char *volatile dtorlib_block;
int dtorlib_loaded;

__attribute__((constructor)) static void dtorlib_init(void)
{
    dtorlib_block = malloc(DTORLIB_BYTES); /* LEAK-DTORLIB */
    memset(dtorlib_block, 7, DTORLIB_BYTES);
    dtorlib_loaded = 1;
}

__attribute__((destructor)) static void dtorlib_fini(void)
{
    if (!getenv("LEAK_DTOR_KEEP"))
        free(dtorlib_block);
    dtorlib_block = NULL;
}

