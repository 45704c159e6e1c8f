/* src/com's one door into the core: the allocation entries that take the caller's frame,
 * so that a stack recorded for CoTaskMemAlloc, IMalloc::Alloc or IHostMalloc::Alloc starts
 * in the program's code rather than in ours.  Everything else src/com does goes through
 * the public API (mallocspy.h).  This is the only file of src/com that includes a header
 * of the core; what it takes from there is exactly:
 *   ms_core_alloc_in, ms_core_realloc_in, ms_core_free_in, ms_core_get_size_in,
 *   ms_core_did_alloc_in, ms_core_heap_minimize    (internal.h) the allocator's entries
 *   MS_ALIGN_MIN, MS_EXPORT                         (internal.h)
 *   ms_tls.guard                                    (internal.h) the per-thread guard
 *   heap_id_of, tag_get                             (heap.h) a heap's id, a debug tag */
#ifndef MS_COM_CORE_H
#define MS_COM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../internal.h"
#include "../heap.h"

#define COM_EXPORT MS_EXPORT

/* `heap` 0 is the task allocator; `tag` a debug tag (0: none); `fp` the frame of the
 * entry point the program called. */
static inline void *com_core_alloc(size_t size, uint32_t heap, uint32_t tag, void *fp)
{
    return ms_core_alloc_in(size, MS_ALIGN_MIN, false, MS_CALL_TASK_ALLOC, heap, tag, fp);
}
static inline void *com_core_realloc(void *p, size_t size, void *fp)
{
    return ms_core_realloc_in(p, size, MS_CALL_TASK_REALLOC, 0, fp);
}
static inline void com_core_free(void *p, uint32_t heap, void *fp)
{
    ms_core_free_in(p, MS_CALL_TASK_FREE, heap, fp);
}
static inline size_t com_core_get_size(const void *p, void *fp)
{
    return ms_core_get_size_in(p, MS_CALL_GET_SIZE, 0, fp);
}
static inline int com_core_did_alloc(const void *p, void *fp)
{
    return ms_core_did_alloc_in(p, 0, fp);
}
static inline void com_core_heap_minimize(void) { ms_core_heap_minimize(); }

/* Whether p is a live block of `heap`, asked as the core asks itself (under the guard):
 * no spy sees this question, which the program never asked. */
static inline bool com_core_heap_owns(const void *p, uint32_t heap)
{
    unsigned guard = ms_tls.guard;
    ms_tls.guard = 1;
    bool owns = ms_core_did_alloc_in(p, heap, NULL) == 1;
    ms_tls.guard = guard;
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
