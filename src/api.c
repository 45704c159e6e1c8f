/* The public task-allocator calls (IMalloc).  Entry points like the interposed ones: built
 * with frame pointers so that stacks start in the caller. */
#include "internal.h"

#define FRAME __builtin_frame_address(0)

struct ms_malloc {
    uint32_t magic;
};
#define TASK_MAGIC 0x4d53544bu  /* "MSTK" */

static ms_malloc task_allocator = { TASK_MAGIC };

MS_EXPORT const char *ms_version(void) { return MALLOCSPY_VERSION; }

MS_EXPORT ms_malloc *ms_get_malloc(void)
{
    ms_ensure_init();
    return &task_allocator;
}

/* NULL stands for the task allocator: a call on a NULL allocator must not crash the
 * program, and this is the only allocator there is to mean. */
MS_EXPORT void *ms_alloc(ms_malloc *m, size_t size)
{
    (void)m;
    return ms_core_alloc(size, MS_ALIGN_MIN, false, MS_CALL_TASK_ALLOC, FRAME);
}

MS_EXPORT void *ms_realloc(ms_malloc *m, void *p, size_t size)
{
    (void)m;
    return ms_core_realloc(p, size, MS_CALL_TASK_REALLOC, FRAME);
}

MS_EXPORT void ms_free(ms_malloc *m, void *p)
{
    (void)m;
    ms_core_free(p, MS_CALL_TASK_FREE, FRAME);
}

MS_EXPORT size_t ms_get_size(ms_malloc *m, const void *p)
{
    (void)m;
    return ms_core_get_size(p, MS_CALL_GET_SIZE, FRAME);
}

MS_EXPORT int ms_did_alloc(ms_malloc *m, const void *p)
{
    (void)m;
    return ms_core_did_alloc(p, FRAME);
}

MS_EXPORT void ms_heap_minimize(ms_malloc *m)
{
    (void)m;
    ms_core_heap_minimize();
}

MS_EXPORT const ms_call *ms_spy_call(void) { return ms_tls.call; }
