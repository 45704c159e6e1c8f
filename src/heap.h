/* Private heaps and debug tags. */
#ifndef MS_HEAP_H
#define MS_HEAP_H

#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

#define TASK_MAGIC 0x4d53544bu  /* "MSTK" */
#define HEAP_MAGIC 0x4d534850u  /* "MSHP" */

struct ms_malloc {
    uint32_t magic;            /* TASK_MAGIC, HEAP_MAGIC, 0 once destroyed */
    uint32_t id;               /* 0: the task allocator */
    unsigned flags;            /* MS_HEAP_* */
    ms_lock lock;              /* serializes the heap's calls unless MS_HEAP_NO_SERIALIZE */
    const char *name;          /* mallocspy's copy */
    char pad[32];
};

extern ms_malloc ms_task_allocator;

/* The heap id for an ms_malloc handle: 0 for NULL or the task allocator, -1 for anything
 * that is not a live heap (reported by the caller). */
int64_t heap_id_of(const ms_malloc *m);
ms_malloc *heap_handle(uint32_t id);       /* the task allocator for 0 */
const char *heap_name(uint32_t id);        /* NULL for the task allocator */
/* "the task allocator" or "heap 'name'", for messages. */
const char *heap_describe(uint32_t id);

/* Debug locations: interned (file, line) pairs; 0 is "none". */
uint32_t tag_get(const char *file, int line);
bool tag_lookup(uint32_t id, const char **file, int *line);

void heaps_fork_child(void);

#endif
