/* Private heaps (HeapCreate and its kind, ms_heap_create): handles and names; their
 * blocks are the core's, with the heap's id in their site. */
#ifndef MS_HEAPS_H
#define MS_HEAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "base/lock.h"

#define TASK_MAGIC 0x4d53544bu  /* "MSTK" */
#define HEAP_MAGIC 0x4d534850u  /* "MSHP" */

struct ms_malloc {
    uint32_t magic;            /* TASK_MAGIC, HEAP_MAGIC, 0 once destroyed */
    uint32_t id;               /* 0: the task allocator */
    unsigned flags;            /* MS_HEAP_* */
    spinlock lock;              /* serializes the heap's calls unless MS_HEAP_NO_SERIALIZE */
    const char *name;          /* mallocspy's copy */
    char pad[32];
};

extern ms_malloc heap_task;

/* The heap id for an ms_malloc handle: 0 for NULL or the task allocator, -1 for anything
 * that is not a live heap (reported by the caller). */
int64_t heap_id_of(const ms_malloc *m);
ms_malloc *heap_handle(uint32_t id);       /* the task allocator for 0 */
const char *heap_name(uint32_t id);        /* NULL for the task allocator */
/* "the task allocator" or "heap 'name'", for messages. */
const char *heap_describe(uint32_t id);

ms_malloc *heap_create(const char *name, unsigned flags);
/* Frees every block left (through the spies), after saying which when the heap was made
 * with MS_HEAP_REPORT_LEAKS; the handle is then no heap. */
void heap_destroy(ms_malloc *h, void *fp);
/* p is one of the heap's blocks; with p NULL, every block of the heap is sound. */
bool heap_validate(uint32_t heap, const void *p);
int heap_walk(uint32_t heap, int (*visit)(const ms_block_info *, void *), void *arg);
void heaps_fork_child(void);

#endif
