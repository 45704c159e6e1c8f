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

/* tests.mk builds every C file in tests/progs as a program too: as one (compiled as position-
 * independent executable code or not position-independent at all, never as -fPIC library
 * code) this file gets a main that does nothing. */
#if !defined(__PIC__) || defined(__PIE__)
int main(void) { return 0; }
#endif
