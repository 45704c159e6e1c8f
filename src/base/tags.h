/* Debug locations (IHostMalloc::DebugAlloc, ms_debug_alloc): interned (file, line) pairs. */
#ifndef MS_TAGS_H
#define MS_TAGS_H

#include <stdbool.h>
#include <stdint.h>

/* The tag of (file, line): 0 for none (or no room). */
uint32_t tag_get(const char *file, int line);
bool tag_lookup(uint32_t id, const char **file, int *line);
void tags_fork_child(void);

#endif
