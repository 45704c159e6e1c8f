/* For check_tracker.c's dlopen and suppression tests.  Leaks, from functions of its own:
 * leak_alpha one block of 111 bytes, leak_beta two of 50, leak_in_three three of 30.
 * Then, given a library path in argv[1], dlopens it, calls its plugin_leak (777 bytes
 * leaked in the library), and dlcloses it before exiting: exits 93 if the loader
 * still lists the library then.  No stdio. */
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

/* 1 if the loader still lists a module named `path` (dl_iterate_phdr). */
static int still_loaded_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    return info->dlpi_name && !strcmp(info->dlpi_name, (const char *)arg);
}

static int still_loaded(const char *path)
{
    return dl_iterate_phdr(still_loaded_cb, (void *)path);
}

void *volatile leak_sink;
/* Loop counts the compiler cannot see: each loop keeps its one call site. */
volatile int beta_count = 2, three_count = 3;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void leak_alpha(void)
{
    drop(malloc(111)); /* LEAK-ALPHA */
}

NOINLINE void leak_beta(void)
{
    drop(malloc(50)); /* LEAK-BETA */
}

NOINLINE void leak_in_three(void)
{
    drop(malloc(30)); /* LEAK-THREE */
}

static void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0)
        _exit(92);
}

int main(int argc, char **argv)
{
    leak_alpha();
    for (int i = 0; i < beta_count; i++)
        leak_beta();
    for (int i = 0; i < three_count; i++)
        leak_in_three();
    if (argc > 1) {
        void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            say("leak_plugin: dlopen failed\n");
            return 90;
        }
        void (*fn)(void) = (void (*)(void))dlsym(h, "plugin_leak");
        if (!fn) {
            say("leak_plugin: no plugin_leak\n");
            return 91;
        }
        fn();
        if (dlclose(h) != 0) {
            say("leak_plugin: dlclose failed\n");
            return 92;
        }
        if (still_loaded(argv[1])) {
            say("leak_plugin: the library is still loaded after dlclose\n");
            return 93;
        }
    }
    scrub_stack();
    return 0;
}
