/* mallocspy's own memory: mmap'd pages and size classes carved from them, never the heap
 * it tracks, so that tracking never allocates from it nor recurses into it. */
#ifndef MS_MEM_H
#define MS_MEM_H

#include <stdbool.h>
#include <stddef.h>

void *arena_alloc(size_t size);        /* zeroed; NULL when out of memory */
void arena_free(void *p, size_t size);
void *arena_realloc(void *p, size_t old, size_t size);
/* Room for one more element in *array (a pointer to an arena array of *cap elements of
 * `elem` bytes, n of them used): the array doubles, from `first`.  False, the array left as
 * it was, when out of memory.  pages_reserve: the same for an array in pages. */
bool arena_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first);
bool pages_reserve(void *array, size_t n, size_t *cap, size_t elem, size_t first);
void *pages_alloc(size_t size);        /* page-granular, zeroed */
void pages_free(void *p, size_t size);
/* A whole file in fresh pages, NUL-terminated (/proc files, suppressions: no stdio, which
 * would allocate).  *cap is what to give pages_free; NULL when out of memory. */
char *pages_read_fd(int fd, size_t *len, size_t *cap);
/* Sorts n elements of `size` bytes (at most 128) so that before(a, b) holds of each pair in
 * order; allocates nothing. */
void sort_small(void *base, size_t n, size_t size, bool (*before)(const void *, const void *));
size_t arena_bytes(void);              /* bytes mallocspy holds for itself */
void arena_fork_prepare(void);
void arena_fork_parent(void);
void arena_fork_child(void);

#endif
