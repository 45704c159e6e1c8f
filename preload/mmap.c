/* The interposed page-mapping calls (VirtualAlloc, VirtualFree): forwarded to the real
 * ones; the program's anonymous mappings are recorded.  Calls made inside mallocspy or
 * inside the real allocator (glibc's and the loader's own mappings do not even come
 * here) are not the program's and are not recorded. */
#include <stdarg.h>
#include <sys/mman.h>

#include "../src/internal.h"
#include "../src/mappings.h"

#define FRAME __builtin_frame_address(0)

#include <sys/syscall.h>
#include <unistd.h>

/* Before the real functions are known (inside mallocspy's own start-up) the system call
 * serves. */
static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (ms_real.mmap)
        return ms_real.mmap(addr, len, prot, flags, fd, off);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static inline void enter(void)
{
    if (!ms_tls.guard)
        ms_ensure_init();
}

static inline bool track(int flags)
{
    return (flags & MAP_ANONYMOUS) && !ms_tls.guard && ms_init_state == 2 && ms_opt.mappings &&
           (ms_table_complete || registry_chain());
}

/* What a successful mmap means for the tracked mappings: a new anonymous one is added;
 * a file mapped with MAP_FIXED over a tracked one replaces that part of it. */
static void mapped(void *p, size_t len, int flags, void *fp)
{
    int saved = errno;
    if (track(flags))
        mappings_add((uintptr_t)p, len, (flags & MAP_FIXED) != 0, fp);
    else if ((flags & MAP_FIXED) && !ms_tls.guard && ms_init_state == 2)
        mappings_remove((uintptr_t)p, len);
    errno = saved;
}

MS_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    enter();
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        mapped(p, len, flags, FRAME);
    return p;
}

MS_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    enter();
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        mapped(p, len, flags, FRAME);
    return p;
}

MS_EXPORT int munmap(void *addr, size_t len)
{
    enter();
    int r = ms_real.munmap ? ms_real.munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
    if (r == 0 && !ms_tls.guard) {
        int saved = errno;
        mappings_remove((uintptr_t)addr, len);
        errno = saved;
    }
    return r;
}

MS_EXPORT void *mremap(void *old, size_t oldlen, size_t len, int flags, ...)
{
    enter();
    void *want = NULL;
    if (flags & MREMAP_FIXED) {
        va_list ap;
        va_start(ap, flags);
        want = va_arg(ap, void *);
        va_end(ap);
    }
    void *p = ms_real.mremap ? ms_real.mremap(old, oldlen, len, flags, want)
                             : (void *)syscall(SYS_mremap, old, oldlen, len, flags, want);
    if (p != MAP_FAILED && !ms_tls.guard) {
        int saved = errno;
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
        mappings_move((uintptr_t)old, oldlen, (uintptr_t)p, len,
                      (flags & MREMAP_DONTUNMAP) != 0);
        errno = saved;
    }
    return p;
}
