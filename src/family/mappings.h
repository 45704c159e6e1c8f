/* Anonymous page mappings made by the program (VirtualAlloc): tracked like blocks. */
#ifndef MS_MAPPINGS_H
#define MS_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* From now on the core tells this module of the program's mapping calls. */
void mappings_init(void);
/* Each mapping: start, length, site, and the region it is a piece of.  No lock is taken
 * when `stopped` (the world is stopped and no thread is inside the table's critical
 * section). */
void mappings_for_each(void (*fn)(uintptr_t start, size_t len, uint32_t site, uint32_t region,
                                  void *arg),
                       void *arg, bool stopped);
void mappings_fork_prepare(void);
void mappings_fork_parent(void);
void mappings_fork_child(void);

#endif
