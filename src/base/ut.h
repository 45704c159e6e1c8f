/* uthash, configured to take its memory from mallocspy's own arenas: a table that grows
 * must never allocate from the heap it is tracking. */
#ifndef MS_UT_H
#define MS_UT_H

#include "base/mem.h"

#define uthash_malloc(sz) arena_alloc(sz)
#define uthash_free(ptr, sz) arena_free(ptr, sz)
/* Out of memory in a table of ours is not a reason to end the program being observed:
 * the add is abandoned and the caller sees the entry missing. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#endif
