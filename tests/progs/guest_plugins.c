/* A C host that loads plugins as programs do, for check_guest.c.  Its arguments are
 * steps, done in order:
 *   cd:DIR     chdir(DIR)
 *   c:PATH     dlopen(PATH) (a relative path is the loader's to resolve: "./x.so" is
 *              taken from the current directory), then calls its guest_plug_leak
 *   cxx:PATH   the same with a C++ plugin's guest_cxxplug_leak; libstdc++ must not be
 *              loaded before (exits 95 if it is: the host itself is C)
 *   rm:PATH    unlink(PATH): the plugin stays mapped, its file is gone
 * Plugins are never closed.  Exits 0, or 9x at the first step that fails (with one line
 * on stderr); prints nothing else. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progutil.h"

static int has_stdcxx(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    return info->dlpi_name && strstr(info->dlpi_name, "libstdc++") != NULL;
}

static int fail(int status, const char *what, const char *arg)
{
    fprintf(stderr, "guest_plugins: %s %s: %s\n", what, arg, dlerror());
    return status;
}

static int call(const char *path, const char *fn)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(91, "dlopen", path);
    void (*f)(void) = (void (*)(void))dlsym(h, fn);
    if (!f)
        return fail(92, "dlsym", fn);
    f();
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int st = 0;
        if (!strncmp(a, "cd:", 3)) {
            if (chdir(a + 3) != 0)
                return fail(90, "chdir", a + 3);
        } else if (!strncmp(a, "c:", 2)) {
            st = call(a + 2, "guest_plug_leak");
        } else if (!strncmp(a, "cxx:", 4)) {
            if (dl_iterate_phdr(has_stdcxx, NULL))
                return fail(95, "libstdc++ loaded before", a + 4);
            st = call(a + 4, "guest_cxxplug_leak");
        } else if (!strncmp(a, "rm:", 3)) {
            if (unlink(a + 3) != 0)
                return fail(93, "unlink", a + 3);
        } else {
            return fail(94, "bad step", a);
        }
        if (st)
            return st;
    }
    scrub_stack();
    return 0;
}
