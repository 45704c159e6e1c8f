/* Anonymous page mappings made by the program (VirtualAlloc): tracked like blocks. */
#ifndef MS_MAPPINGS_H
#define MS_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An anonymous mapping the program made; `fixed`: with MAP_FIXED (inside a region of the
 * program's, it is a commit of that region). */
void mappings_add(uintptr_t start, size_t len, bool fixed, void *fp);
void mappings_remove(uintptr_t start, size_t len);
void mappings_move(uintptr_t old, size_t oldlen, uintptr_t start, size_t len, bool keep_old);
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
