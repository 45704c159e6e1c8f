/* The interposed glibc allocation entry points.  Each one only checks its arguments as C
 * requires and forwards to the core with the frame of its caller; nothing clever here.
 * Built with frame pointers and without sibling calls: the core finds the program's frame
 * from ours. */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdint.h>
#include <unistd.h>

#include "core/entry.h"

#define FRAME __builtin_frame_address(0)

static inline bool power_of_two(size_t a) { return a && !(a & (a - 1)); }

PUBLIC void *malloc(size_t size)
{
    return core_alloc(size, ALIGN_MIN, false, MS_CALL_MALLOC, FRAME);
}

PUBLIC void free(void *p) { core_free(p, MS_CALL_FREE, FRAME); }

PUBLIC void *calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return core_alloc(total, ALIGN_MIN, true, MS_CALL_CALLOC, FRAME);
}

PUBLIC void *realloc(void *p, size_t size)
{
    return core_realloc(p, size, MS_CALL_REALLOC, FRAME);
}

PUBLIC void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return core_realloc(p, total, MS_CALL_REALLOC, FRAME);
}

/* Returns its error and never writes *res on failure; errno is the caller's. */
PUBLIC int posix_memalign(void **res, size_t align, size_t size)
{
    if (!power_of_two(align) || align % sizeof(void *))
        return EINVAL;
    int saved = errno;
    void *p = core_alloc(size, align, false, MS_CALL_MEMALIGN, FRAME);
    errno = saved;
    if (!p)
        return ENOMEM;
    *res = p;
    return 0;
}

/* C17: an alignment the implementation does not support gives NULL (EINVAL here, as
 * glibc 2.38 and later). */
PUBLIC void *aligned_alloc(size_t align, size_t size)
{
    if (!power_of_two(align)) {
        errno = EINVAL;
        return NULL;
    }
    return core_alloc(size, align, false, MS_CALL_MEMALIGN, FRAME);
}

/* glibc's memalign rounds an alignment that is not a power of two up to one. */
PUBLIC void *memalign(size_t align, size_t size)
{
    if (align > SIZE_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    size_t a = ALIGN_MIN;
    while (a < align)
        a <<= 1;
    return core_alloc(size, a, false, MS_CALL_MEMALIGN, FRAME);
}

PUBLIC void *valloc(size_t size)
{
    return core_alloc(size, (size_t)sysconf(_SC_PAGESIZE), false, MS_CALL_MEMALIGN, FRAME);
}

PUBLIC void *pvalloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - page) {
        errno = ENOMEM;
        return NULL;
    }
    size = (size + page - 1) & ~(page - 1);
    return core_alloc(size ? size : page, page, false, MS_CALL_MEMALIGN, FRAME);
}

PUBLIC size_t malloc_usable_size(void *p)
{
    return core_get_size(p, MS_CALL_USABLE_SIZE, FRAME);
}
