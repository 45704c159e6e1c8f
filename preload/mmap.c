/* The interposed page-mapping calls (VirtualAlloc, VirtualFree): the core forwards them to
 * the real ones and records the program's anonymous mappings. */
#include <stdarg.h>
#include <sys/mman.h>

#include "core/entry.h"

#define FRAME __builtin_frame_address(0)

PUBLIC void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return core_mmap(addr, len, prot, flags, fd, off, FRAME);
}

PUBLIC void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return core_mmap(addr, len, prot, flags, fd, off, FRAME);
}

PUBLIC int munmap(void *addr, size_t len) { return core_munmap(addr, len); }

PUBLIC void *mremap(void *old, size_t oldlen, size_t len, int flags, ...)
{
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    return core_mremap(old, oldlen, len, flags, want);
}
