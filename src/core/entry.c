/* The work of the interposed entry points beyond allocation (core/entry.h): page mappings,
 * dlclose, and what operator new does when memory runs out.  preload/ stays thin: it
 * names the entry points and passes its frame. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/diag.h"
#include "base/options.h"
#include "base/start.h"
#include "core/entry.h"
#include "core/real.h"
#include "core/registry.h"
#include "stacks/stacks.h"

static const struct core_mapping_hooks *map_hooks;

void core_set_mapping_hooks(const struct core_mapping_hooks *h) { map_hooks = h; }

typedef void (*new_handler_fn)(void);

/* The throw is left to libstdc++'s own operator new, asked for what no allocator can
 * give: it throws bad_alloc for us. */
void *core_new_failed(size_t size, size_t align, ms_call_kind kind, bool nothrow, void *fp)
{
    for (;;) {
        new_handler_fn h = real_cxx.get_new_handler ? real_cxx.get_new_handler() : NULL;
        if (!h)
            break;
        h();
        void *p = core_alloc(size, align, false, kind, fp);
        if (p)
            return p;
    }
    if (nothrow)
        return NULL;
    if (real_cxx.operator_new)
        real_cxx.operator_new(SIZE_MAX);   /* throws std::bad_alloc */
    abort();                        /* no libstdc++ to throw with: nothing else to do */
}

/* start_signal: each one starts or stops recording.  Async-signal-safe: a store. */
static void on_start_signal(int sig)
{
    (void)sig;
    core_set_recording(!core_recording());
}

void core_install_start_signal(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_start_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        diag_warn("cannot install start_signal %d: %s", sig, strerror(errno));
}

/* ---- page mappings ---------------------------------------------------------------------
 * Calls made inside mallocspy or inside the real allocator (glibc's and the loader's own
 * mappings do not even come here) are not the program's and are not recorded. */

static inline void enter(void)
{
    if (!tls_guard)
        start_wait();
}

/* Before the real functions are known (inside mallocspy's own start-up) the system call
 * serves. */
static void *real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (real_fns.mmap)
        return real_fns.mmap(addr, len, prot, flags, fd, off);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static inline bool ours(void)
{
    return map_hooks && !tls_guard &&
           atomic_load_explicit(&start_state, memory_order_acquire) == 2;
}

static inline bool track(int flags)
{
    return (flags & MAP_ANONYMOUS) && ours() && options.mappings && core_recording() &&
           (core_table_complete() || registry_chain());
}

/* What a successful mmap means for the tracked mappings: a new anonymous one is added;
 * a file mapped with MAP_FIXED over a tracked one replaces that part of it. */
void *core_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off, void *fp)
{
    enter();
    bool tracked = track(flags);
    /* MAP_FIXED over memory that is mapped now (msync fails with ENOMEM on any hole):
     * no new memory for the program, whatever it was. */
    bool replaces = false;
    if (tracked && (flags & MAP_FIXED) && len) {
        int saved = errno;
        replaces = msync(addr, len, MS_ASYNC) == 0;
        errno = saved;
    }
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED)
        return p;
    int saved = errno;
    if (tracked)
        map_hooks->add((uintptr_t)p, len, replaces, fp);
    else if ((flags & MAP_FIXED) && ours())
        map_hooks->remove((uintptr_t)p, len);
    errno = saved;
    return p;
}

int core_munmap(void *addr, size_t len)
{
    enter();
    int r = real_fns.munmap ? real_fns.munmap(addr, len) : (int)syscall(SYS_munmap, addr, len);
    if (r == 0 && ours()) {
        int saved = errno;
        map_hooks->remove((uintptr_t)addr, len);
        errno = saved;
    }
    return r;
}

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

void *core_mremap(void *old, size_t oldlen, size_t len, int flags, void *want)
{
    enter();
    void *p = real_fns.mremap ? real_fns.mremap(old, oldlen, len, flags, want)
                              : (void *)syscall(SYS_mremap, old, oldlen, len, flags, want);
    if (p != MAP_FAILED && ours()) {
        int saved = errno;
        map_hooks->move((uintptr_t)old, oldlen, (uintptr_t)p, len,
                        (flags & MREMAP_DONTUNMAP) != 0);
        errno = saved;
    }
    return p;
}

/* Another library may be loaded where this one was: the stack module forgets it.  New
 * libraries need no hook: they are found when their addresses first appear in a stack. */
int core_dlclose(void *handle)
{
    start_wait();
    int r = real_fns.dlclose ? real_fns.dlclose(handle) : -1;
    if (r == 0 && !tls_guard) {
        int saved = errno;
        unsigned guard = guard_enter();
        stacks_after_dlclose();
        guard_leave(guard);
        errno = saved;
    }
    return r;
}
