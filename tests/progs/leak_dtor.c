/* Memory that is freed late: by an atexit handler (ATEXIT_BYTES, allocated in
 * alloc_for_atexit) and by the program's own destructor (DTOR_BYTES, alloc_for_dtor).
 * The leak report comes after both, so neither may be reported.  check_tracker.c also
 * builds a variant linked with libleakdtor.so (leak_dtor_lib.c), whose destructor frees a
 * block of its own; "lib=1" on stdout says that library is loaded (written with write(2):
 * no stdio).  With LEAK_DTOR_KEEP set, the handlers drop the pointers without freeing:
 * the control run, in which all the blocks must be reported. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

#define ATEXIT_BYTES 3111
#define DTOR_BYTES 2111

static char *volatile for_atexit, *volatile for_dtor;

NOINLINE void alloc_for_atexit(void)
{
    for_atexit = malloc(ATEXIT_BYTES); /* LEAK-ATEXIT */
    memset(for_atexit, 8, ATEXIT_BYTES);
}

NOINLINE void alloc_for_dtor(void)
{
    for_dtor = malloc(DTOR_BYTES); /* LEAK-DTOR */
    memset(for_dtor, 9, DTOR_BYTES);
}

static void at_exit_handler(void)
{
    if (!getenv("LEAK_DTOR_KEEP"))
        free(for_atexit);
    for_atexit = NULL;
}

__attribute__((destructor)) static void program_fini(void)
{
    if (!getenv("LEAK_DTOR_KEEP"))
        free(for_dtor);
    for_dtor = NULL;
}

int main(void)
{
    const int *loaded = dlsym(RTLD_DEFAULT, "dtorlib_loaded");
    const char *msg = loaded && *loaded ? "lib=1\n" : "lib=0\n";
    if (write(1, msg, strlen(msg)) < 0)
        return 91;
    if (atexit(at_exit_handler))
        return 90;
    alloc_for_atexit();
    alloc_for_dtor();
    return 0;
}
