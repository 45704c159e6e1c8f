/* dlclose: when a library goes, the stack module must forget what it knew of its addresses
 * (another library may be loaded there next).  New libraries need no hook: they are found
 * when their addresses first appear in a stack. */
#include <dlfcn.h>

#include "../src/internal.h"

MS_EXPORT int dlclose(void *handle)
{
    ms_ensure_init();
    int r = ms_real.dlclose ? ms_real.dlclose(handle) : -1;
    if (r == 0 && !ms_tls.guard) {
        int saved = errno;
        unsigned guard = ms_tls.guard;
        ms_tls.guard = 1;
        stacks_after_dlclose();
        ms_tls.guard = guard;
        errno = saved;
    }
    return r;
}
