/* The allocator below mallocspy: the next malloc in the lookup order (glibc, jemalloc,
 * tcmalloc...), the system's page-mapping calls, and a static arena for what is asked
 * before they are known. */
#ifndef MS_REAL_H
#define MS_REAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct real_allocator {
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
    int (*posix_memalign)(void **, size_t, size_t);
    size_t (*malloc_usable_size)(void *);
    int (*malloc_trim)(size_t);
    void *(*mmap)(void *, size_t, int, int, int, off_t);
    int (*munmap)(void *, size_t);
    void *(*mremap)(void *, size_t, size_t, int, ...);
    int (*dlclose)(void *);
};
extern struct real_allocator real_fns;

/* What libstdc++ offers, looked up once at start-up: dlsym later would clobber the
 * program's dlerror() state (glibc frees the pending message on every dlsym).  NULL when
 * the program has no libstdc++. */
struct cxx_runtime {
    void (*(*get_new_handler)(void))(void);
    void *(*operator_new)(size_t);
};
extern struct cxx_runtime real_cxx;
extern bool real_is_glibc;   /* the allocator below is glibc's own malloc */
void real_resolve(void);

/* The static arena serves allocations made before the real allocator is known. */
void *early_alloc(size_t size, size_t align, bool zero);
#define EARLY_SIZE (256 * 1024)
extern unsigned char real_early[EARLY_SIZE];
static inline bool early_owns(const void *p)
{
    return (const unsigned char *)p >= real_early &&
           (const unsigned char *)p < real_early + EARLY_SIZE;
}
size_t early_size(const void *p);

/* Plain real-allocator calls with alignment (at least 16), used by every path. */
void *real_alloc(size_t size, size_t align, bool zero);
void *real_realloc(void *p, size_t size);
void real_free(void *p);
size_t real_usable_size(void *p);

#endif
