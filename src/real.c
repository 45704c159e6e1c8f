/* The allocator below mallocspy: the next malloc in the lookup order (glibc, jemalloc,
 * tcmalloc...), and a static arena for what is asked before it is known. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

struct real_allocator ms_real;
bool ms_real_is_glibc;
struct cxx_runtime ms_cxx;

/* dlsym itself calls calloc (for its error buffer) before it can tell us where calloc is,
 * and the loader may allocate too: a few KiB served from here.  Never reused. */
#define EARLY_SIZE (256 * 1024)
static _Alignas(4096) unsigned char early[EARLY_SIZE];
static _Atomic size_t early_used;

struct early_header { size_t size; size_t pad; };   /* 16 bytes: keeps the alignment */

void *early_alloc(size_t size, size_t align, bool zero)
{
    (void)zero;  /* the arena is static and never reused: always zero */
    if (align < MS_ALIGN_MIN)
        align = MS_ALIGN_MIN;
    if (size > EARLY_SIZE)
        return NULL;
    size_t need = sizeof(struct early_header) + size + align;
    size_t start = atomic_fetch_add(&early_used, (need + 15) & ~(size_t)15);
    if (start + need > EARLY_SIZE)
        return NULL;
    uintptr_t p = (uintptr_t)early + start + sizeof(struct early_header);
    p = (p + align - 1) & ~(uintptr_t)(align - 1);
    ((struct early_header *)p)[-1].size = size;
    return (void *)p;
}

bool early_owns(const void *p)
{
    return (const unsigned char *)p >= early && (const unsigned char *)p < early + EARLY_SIZE;
}

size_t early_size(const void *p) { return ((const struct early_header *)p)[-1].size; }

void real_resolve(void)
{
    /* Each pointer is set only once it is known, so calls made meanwhile (from dlsym)
     * keep going to the early arena. */
    void *f;
    if ((f = dlsym(RTLD_NEXT, "free")))
        ms_real.free = (void (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "realloc")))
        ms_real.realloc = (void *(*)(void *, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "posix_memalign")))
        ms_real.posix_memalign = (int (*)(void **, size_t, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "malloc_usable_size")))
        ms_real.malloc_usable_size = (size_t (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "malloc_trim")))
        ms_real.malloc_trim = (int (*)(size_t))f;
    if ((f = dlsym(RTLD_NEXT, "mmap")))
        ms_real.mmap = (void *(*)(void *, size_t, int, int, int, off_t))f;
    if ((f = dlsym(RTLD_NEXT, "munmap")))
        ms_real.munmap = (int (*)(void *, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "mremap")))
        ms_real.mremap = (void *(*)(void *, size_t, size_t, int, ...))f;
    if ((f = dlsym(RTLD_NEXT, "dlclose")))
        ms_real.dlclose = (int (*)(void *))f;
    if ((f = dlsym(RTLD_NEXT, "calloc")))
        ms_real.calloc = (void *(*)(size_t, size_t))f;
    if ((f = dlsym(RTLD_NEXT, "malloc")))
        ms_real.malloc = (void *(*)(size_t))f;
    ms_cxx.demangle = (char *(*)(const char *, char *, size_t *, int *))dlsym(RTLD_DEFAULT,
                                                                             "__cxa_demangle");
    ms_cxx.get_new_handler = (void (*(*)(void))(void))dlsym(RTLD_DEFAULT,
                                                            "_ZSt15get_new_handlerv");
    ms_cxx.operator_new = (void *(*)(size_t))dlsym(RTLD_NEXT, "_Znwm");
    /* glibc's malloc is the one in the module that also defines __libc_malloc. */
    Dl_info mi, gi;
    void *glibc = dlsym(RTLD_DEFAULT, "__libc_malloc");
    if (ms_real.malloc && glibc && dladdr((void *)ms_real.malloc, &mi) && dladdr(glibc, &gi))
        ms_real_is_glibc = mi.dli_fbase == gi.dli_fbase;
    if (!ms_real.malloc || !ms_real.free || !ms_real.calloc || !ms_real.realloc ||
        !ms_real.posix_memalign || !ms_real.mmap || !ms_real.munmap || !ms_real.mremap) {
        static const char msg[] = "mallocspy: cannot find the real allocator; giving up\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(127);
    }
}

void *real_alloc(size_t size, size_t align, bool zero)
{
    if (unlikely(!ms_real.malloc))
        return early_alloc(size, align, zero);
    if (align <= MS_ALIGN_MIN) {
        /* jemalloc and tcmalloc align a request under 16 bytes to 8 only; mallocspy
         * promises 16 (what glibc gives).  The program still sees the size it asked. */
        if (size < MS_ALIGN_MIN)
            size = MS_ALIGN_MIN;
        return zero ? ms_real.calloc(1, size) : ms_real.malloc(size);
    }
    void *p = NULL;
    int err = ms_real.posix_memalign(&p, align, size);
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
        void *q = real_alloc(size, MS_ALIGN_MIN, false);
        if (q) {
            size_t old = early_size(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (unlikely(!ms_real.realloc))
        return NULL;
    return ms_real.realloc(p, size < MS_ALIGN_MIN ? MS_ALIGN_MIN : size);
}

void real_free(void *p)
{
    if (unlikely(early_owns(p)) || !p)
        return;
    if (likely(ms_real.free))
        ms_real.free(p);
}

size_t real_usable_size(void *p)
{
    if (!p)
        return 0;
    if (early_owns(p))
        return early_size(p);
    return ms_real.malloc_usable_size ? ms_real.malloc_usable_size(p) : 0;
}
