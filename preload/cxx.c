/* The C++ allocation operators, interposed so that each block remembers whether new, new[]
 * or malloc made it (for mismatch detection) and so that stacks start in the program, not
 * in libstdc++.  Written in C under their mangled names: mallocspy must not drag libstdc++
 * into C programs.  Thin, like malloc.c: checks and forwarding only. */
#include <stdint.h>
#include <stdlib.h>

#include "../src/internal.h"

#define FRAME __builtin_frame_address(0)

typedef void (*new_handler_fn)(void);

/* The C++ contract when memory runs out: call the new-handler until it frees something
 * (it may throw), and without one throw std::bad_alloc.  The throw is left to libstdc++'s
 * own operator new, asked for what no allocator can give: it throws bad_alloc for us. */
static void *out_of_memory(size_t size, size_t align, ms_call_kind kind, bool nothrow, void *fp)
{
    for (;;) {
        new_handler_fn h = ms_cxx.get_new_handler ? ms_cxx.get_new_handler() : NULL;
        if (!h)
            break;
        h();
        void *p = ms_core_alloc(size, align, false, kind, fp);
        if (p)
            return p;
    }
    if (nothrow)
        return NULL;
    if (ms_cxx.operator_new)
        ms_cxx.operator_new(SIZE_MAX);   /* throws std::bad_alloc */
    abort();                        /* no libstdc++ to throw with: nothing else to do */
}

static inline void *op_new(size_t size, size_t align, ms_call_kind kind, bool nothrow, void *fp)
{
    void *p = ms_core_alloc(size, align, false, kind, fp);
    return p ? p : out_of_memory(size, align, kind, nothrow, fp);
}

/* operator new(size_t) and new[](size_t) */
MS_EXPORT void *_Znwm(size_t n) { return op_new(n, MS_ALIGN_MIN, MS_CALL_NEW, false, FRAME); }
MS_EXPORT void *_Znam(size_t n)
{
    return op_new(n, MS_ALIGN_MIN, MS_CALL_NEW_ARRAY, false, FRAME);
}
/* nothrow */
MS_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt)
{
    (void)nt;
    return op_new(n, MS_ALIGN_MIN, MS_CALL_NEW, true, FRAME);
}
MS_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *nt)
{
    (void)nt;
    return op_new(n, MS_ALIGN_MIN, MS_CALL_NEW_ARRAY, true, FRAME);
}
/* aligned (C++17) */
MS_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
    return op_new(n, al, MS_CALL_NEW, false, FRAME);
}
MS_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t al)
{
    return op_new(n, al, MS_CALL_NEW_ARRAY, false, FRAME);
}
MS_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    (void)nt;
    return op_new(n, al, MS_CALL_NEW, true, FRAME);
}
MS_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    (void)nt;
    return op_new(n, al, MS_CALL_NEW_ARRAY, true, FRAME);
}

/* operator delete and delete[]: plain, sized, aligned, nothrow */
MS_EXPORT void _ZdlPv(void *p) { ms_core_free(p, MS_CALL_DELETE, FRAME); }
MS_EXPORT void _ZdaPv(void *p) { ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME); }
MS_EXPORT void _ZdlPvm(void *p, size_t n)
{
    (void)n;
    ms_core_free(p, MS_CALL_DELETE, FRAME);
}
MS_EXPORT void _ZdaPvm(void *p, size_t n)
{
    (void)n;
    ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
MS_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t al)
{
    (void)al;
    ms_core_free(p, MS_CALL_DELETE, FRAME);
}
MS_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t al)
{
    (void)al;
    ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
MS_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    (void)al;
    ms_core_free(p, MS_CALL_DELETE, FRAME);
}
MS_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    (void)al;
    ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
MS_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt)
{
    (void)nt;
    ms_core_free(p, MS_CALL_DELETE, FRAME);
}
MS_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt)
{
    (void)nt;
    ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
MS_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)al;
    (void)nt;
    ms_core_free(p, MS_CALL_DELETE, FRAME);
}
MS_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)al;
    (void)nt;
    ms_core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
