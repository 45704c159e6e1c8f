/* For check_scan.c: blocks held by the statics of a shared library (scan_shlib_lib.c).
 * As tests.mk builds it, it dlopens the library named by argv[1] and calls its functions;
 * built with -DSCAN_SHLIB_LINKED (check_scan.c does that), it is linked with the library
 * and calls them directly.  The library is never dlclosed.  No stdio. */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

static __attribute__((unused)) void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0)
        _exit(89);
}

#ifdef SCAN_SHLIB_LINKED
void scan_lib_hold_bss(void);
void scan_lib_hold_data(void);
void scan_lib_drop(void);

static NOINLINE int run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    scan_lib_hold_bss();
    scan_lib_hold_data();
    scan_lib_drop();
    return 0;
}
#else
static NOINLINE int run(int argc, char **argv)
{
    if (argc < 2) {
        say("usage: scan_shlib LIBRARY\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        say("scan_shlib: dlopen failed\n");
        return 90;
    }
    static const char *const names[] = { "scan_lib_hold_bss", "scan_lib_hold_data",
                                         "scan_lib_drop" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void (*fn)(void) = (void (*)(void))dlsym(h, names[i]);
        if (!fn) {
            say("scan_shlib: a function is missing\n");
            return 91;
        }
        fn();
    }
    return 0;            /* no dlclose: the library stays loaded */
}
#endif

int main(int argc, char **argv)
{
    int st = run(argc, argv);
    scrub_stack_and_registers();
    return st;
}
