/* dlclose: when a library goes, what mallocspy knew of its addresses must go too (another
 * library may be loaded there next). */
#include <dlfcn.h>

#include "core/entry.h"

PUBLIC int dlclose(void *handle) { return core_dlclose(handle); }
