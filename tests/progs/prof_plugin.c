/* A leak from a stripped shared library with an awkward file name, for check_profile.c:
 * built with -DPROF_PLUGIN_LIB (and -shared -fPIC) this file is the library, whose
 * exported plugin_entry calls a static function that leaks 333 bytes: once stripped, that
 * frame has no name, only the library's file name and an offset, and the test names the
 * file with the characters that matter to folded stacks, JSON, XML and HTML (;<>&"]]>).
 * Built as a program (as tests.mk builds every file here), it dlopens the library named
 * by argv[1] and calls plugin_entry.  Writes nothing but dlopen's errors. */
#include <stdlib.h>
#include <string.h>

#ifdef PROF_PLUGIN_LIB

void *volatile plugin_sink;

static __attribute__((noinline, noclone)) void hidden_leak(void)
{
    char *p = malloc(333);
    memset(p, 5, 333);
    plugin_sink = p;
    plugin_sink = NULL;
}

__attribute__((noinline)) void plugin_entry(void)
{
    hidden_leak();
    __asm__ volatile("" ::: "memory");   /* not a tail call: this frame stays */
}

#else

#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    void (*entry)(void) = (void (*)(void))dlsym(h, "plugin_entry");
    if (!entry)
        return 1;
    entry();
    return 0;
}

#endif
