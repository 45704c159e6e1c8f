/* src/com's one door into the core: the allocation entries that take the caller's frame,
 * so that a stack recorded for CoTaskMemAlloc, IMalloc::Alloc or IHostMalloc::Alloc starts
 * in the program's code rather than in ours.  Everything else src/com does goes through
 * the public API (mallocspy.h).  This is the only file of src/com that includes a header
 * of the core; what it takes from there is exactly:
 *   core_heap_alloc, core_heap_realloc, core_heap_free, core_heap_get_size,
 *   core_heap_did_alloc, core_heap_minimize     (core/dispatch.h) the allocator's entries
 *   ALIGN_MIN, PUBLIC, guard_enter/leave        (base/base.h) the per-thread guard
 *   heap_id_of                                  (core/heaps.h) a heap's id
 *   tag_get                                     (base/tags.h) a debug tag */
#ifndef MS_COM_CORE_H
#define MS_COM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "base/tags.h"
#include "core/dispatch.h"
#include "core/heaps.h"

#define COM_EXPORT PUBLIC

/* `heap` 0 is the task allocator; `tag` a debug tag (0: none); `fp` the frame of the
 * entry point the program called. */
static inline void *com_core_alloc(size_t size, uint32_t heap, uint32_t tag, void *fp)
{
    return core_heap_alloc(size, ALIGN_MIN, false, MS_CALL_TASK_ALLOC, heap, tag, fp);
}
static inline void *com_core_realloc(void *p, size_t size, void *fp)
{
    return core_heap_realloc(p, size, MS_CALL_TASK_REALLOC, 0, fp);
}
static inline void com_core_free(void *p, uint32_t heap, void *fp)
{
    core_heap_free(p, MS_CALL_TASK_FREE, heap, fp);
}
static inline size_t com_core_get_size(const void *p, void *fp)
{
    return core_heap_get_size(p, MS_CALL_GET_SIZE, 0, fp);
}
static inline int com_core_did_alloc(const void *p, void *fp)
{
    return core_heap_did_alloc(p, 0, fp);
}
static inline void com_core_heap_minimize(void) { core_heap_minimize(); }

/* Whether p is a live block of `heap`, asked as the core asks itself (under the guard):
 * no spy sees this question, which the program never asked. */
static inline bool com_core_heap_owns(const void *p, uint32_t heap)
{
    unsigned guard = guard_enter();
    bool owns = core_heap_did_alloc(p, heap, NULL) == 1;
    guard_leave(guard);
    return owns;
}

/* The id of a heap made with ms_heap_create (never the task allocator's 0). */
static inline uint32_t com_core_heap_id(ms_malloc *heap)
{
    int64_t id = heap_id_of(heap);
    return id > 0 ? (uint32_t)id : 0;
}

/* The debug tag of (file, line), 0 if mallocspy is out of memory for it. */
static inline uint32_t com_core_tag(const char *file, int line) { return tag_get(file, line); }

#endif
