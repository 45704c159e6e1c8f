/* The allocator below mallocspy: the next malloc in the lookup order (glibc, jemalloc,
 * tcmalloc...), and a static arena for what is asked before it is known. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "core/real.h"

struct real_allocator real_fns;
bool real_is_glibc;
struct cxx_runtime real_cxx;

/* dlsym itself calls calloc (for its error buffer) before it can tell us where calloc is,
 * and the loader may allocate too: a few KiB served from here.  Never reused. */
_Alignas(4096) unsigned char real_early[EARLY_SIZE];
static _Atomic size_t early_used;

struct early_header { size_t size; size_t pad; };   /* 16 bytes: keeps the alignment */

void *early_alloc(size_t size, size_t align, bool zero)
{
    (void)zero;  /* the arena is static and never reused: always zero */
    if (align < ALIGN_MIN)
        align = ALIGN_MIN;
    if (size > EARLY_SIZE)
        return NULL;
    size_t need = sizeof(struct early_header) + size + align;
    size_t start = atomic_fetch_add(&early_used, (need + 15) & ~(size_t)15);
    if (start + need > EARLY_SIZE)
        return NULL;
    uintptr_t p = (uintptr_t)real_early + start + sizeof(struct early_header);
    p = (p + align - 1) & ~(uintptr_t)(align - 1);
    ((struct early_header *)p)[-1].size = size;
    return (void *)p;
}

size_t early_size(const void *p) { return ((const struct early_header *)p)[-1].size; }

void real_resolve(void)
{
    /* Each pointer is set only once it is known, so calls made meanwhile (from dlsym)
     * keep going to the early arena. */
    void *f;
    if ((f = dlsym(RTLD_NEXT, "free")))
        real_fns.free = (void (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "realloc")))
        real_fns.realloc = (void *(*)(void *, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "posix_memalign")))
        real_fns.posix_memalign = (int (*)(void **, size_t, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "malloc_usable_size")))
        real_fns.malloc_usable_size = (size_t (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "malloc_trim")))
        real_fns.malloc_trim = (int (*)(size_t))f;
    if ((f = dlsym(RTLD_NEXT, "mmap")))
        real_fns.mmap = (void *(*)(void *, size_t, int, int, int, off_t))f;
    if ((f = dlsym(RTLD_NEXT, "munmap")))
        real_fns.munmap = (int (*)(void *, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "mremap")))
        real_fns.mremap = (void *(*)(void *, size_t, size_t, int, ...))f;
    if ((f = dlsym(RTLD_NEXT, "dlclose")))
        real_fns.dlclose = (int (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "calloc")))
        real_fns.calloc = (void *(*)(size_t, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "malloc")))
        real_fns.malloc = (void *(*)(size_t))f;
    real_cxx.get_new_handler = (void (*(*)(void))(void))dlsym(RTLD_DEFAULT,
                                                            "_ZSt15get_new_handlerv");
    real_cxx.operator_new = (void *(*)(size_t))dlsym(RTLD_NEXT, "_Znwm");
    /* glibc's malloc is the one in the module that also defines __libc_malloc. */
    Dl_info mi, gi;
    void *glibc = dlsym(RTLD_DEFAULT, "__libc_malloc");
    if (real_fns.malloc && glibc && dladdr((void *)real_fns.malloc, &mi) && dladdr(glibc, &gi))
        real_is_glibc = mi.dli_fbase == gi.dli_fbase;
    if (!real_fns.malloc || !real_fns.free || !real_fns.calloc || !real_fns.realloc ||
        !real_fns.posix_memalign || !real_fns.mmap || !real_fns.munmap || !real_fns.mremap) {
        static const char msg[] = "mallocspy: cannot find the real allocator; giving up\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
}

void *real_alloc(size_t size, size_t align, bool zero)
{
    if (unlikely(!real_fns.malloc))
        return early_alloc(size, align, zero);
    if (align <= ALIGN_MIN) {
        /* jemalloc and tcmalloc align a request under 16 bytes to 8 only; mallocspy
         * promises 16 (what glibc gives).  The program still sees the size it asked. */
        if (size < ALIGN_MIN)
            size = ALIGN_MIN;
        return zero ? real_fns.calloc(1, size) : real_fns.malloc(size);
    }
    void *p = NULL;
    int err = real_fns.posix_memalign(&p, align, size);
    if (err) {
        errno = err;
        return NULL;
    }
    if (zero)
        memset(p, 0, size);
    return p;
}

void *real_realloc(void *p, size_t size)
{
    if (unlikely(early_owns(p))) {
        /* A block of the static arena moves to the real heap; the arena keeps its copy. */
        void *q = real_alloc(size, ALIGN_MIN, false);
        if (q) {
            size_t old = early_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (unlikely(!real_fns.realloc))
        return NULL;
    return real_fns.realloc(p, size < ALIGN_MIN ? ALIGN_MIN : size);
}

void real_free(void *p)
{
    if (unlikely(early_owns(p)) || !p)
        return;
    if (likely(real_fns.free))
        real_fns.free(p);
}

size_t real_usable_size(void *p)
{
    if (!p)
        return 0;
    if (early_owns(p))
        return early_size(p);
    return real_fns.malloc_usable_size ? real_fns.malloc_usable_size(p) : 0;
}
