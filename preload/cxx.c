/* The C++ allocation operators, interposed so that each block remembers whether new, new[]
 * or malloc made it (for mismatch detection) and so that stacks start in the program, not
 * in libstdc++.  Written in C under their mangled names: mallocspy must not drag libstdc++
 * into C programs.  Thin, like malloc.c: checks and forwarding only. */
#include <stdint.h>

#include "core/entry.h"

#define FRAME __builtin_frame_address(0)

/* Their C++ declarations, in C: size_t for std::size_t and std::align_val_t, a pointer for
 * const std::nothrow_t &. */
void *_Znwm(size_t n);
void *_Znam(size_t n);
void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
void *_ZnwmSt11align_val_t(size_t n, size_t al);
void *_ZnamSt11align_val_t(size_t n, size_t al);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t n);
void _ZdaPvm(void *p, size_t n);
void _ZdlPvSt11align_val_t(void *p, size_t al);
void _ZdaPvSt11align_val_t(void *p, size_t al);
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt);

static inline void *op_new(size_t size, size_t align, ms_call_kind kind, bool nothrow, void *fp)
{
    void *p = core_alloc(size, align, false, kind, fp);
    return p ? p : core_new_failed(size, align, kind, nothrow, fp);
}

/* operator new(size_t) and new[](size_t) */
PUBLIC void *_Znwm(size_t n) { return op_new(n, ALIGN_MIN, MS_CALL_NEW, false, FRAME); }
PUBLIC void *_Znam(size_t n)
{
    return op_new(n, ALIGN_MIN, MS_CALL_NEW_ARRAY, false, FRAME);
}
/* nothrow */
PUBLIC void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt)
{
    (void)nt;
    return op_new(n, ALIGN_MIN, MS_CALL_NEW, true, FRAME);
}
PUBLIC void *_ZnamRKSt9nothrow_t(size_t n, const void *nt)
{
    (void)nt;
    return op_new(n, ALIGN_MIN, MS_CALL_NEW_ARRAY, true, FRAME);
}
/* aligned (C++17) */
PUBLIC void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
    return op_new(n, al, MS_CALL_NEW, false, FRAME);
}
PUBLIC void *_ZnamSt11align_val_t(size_t n, size_t al)
{
    return op_new(n, al, MS_CALL_NEW_ARRAY, false, FRAME);
}
PUBLIC void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    (void)nt;
    return op_new(n, al, MS_CALL_NEW, true, FRAME);
}
PUBLIC void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
    (void)nt;
    return op_new(n, al, MS_CALL_NEW_ARRAY, true, FRAME);
}

/* operator delete and delete[]: plain, sized, aligned, nothrow */
PUBLIC void _ZdlPv(void *p) { core_free(p, MS_CALL_DELETE, FRAME); }
PUBLIC void _ZdaPv(void *p) { core_free(p, MS_CALL_DELETE_ARRAY, FRAME); }
PUBLIC void _ZdlPvm(void *p, size_t n)
{
    (void)n;
    core_free(p, MS_CALL_DELETE, FRAME);
}
PUBLIC void _ZdaPvm(void *p, size_t n)
{
    (void)n;
    core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
PUBLIC void _ZdlPvSt11align_val_t(void *p, size_t al)
{
    (void)al;
    core_free(p, MS_CALL_DELETE, FRAME);
}
PUBLIC void _ZdaPvSt11align_val_t(void *p, size_t al)
{
    (void)al;
    core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
PUBLIC void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    (void)al;
    core_free(p, MS_CALL_DELETE, FRAME);
}
PUBLIC void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
    (void)n;
    (void)al;
    core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
PUBLIC void _ZdlPvRKSt9nothrow_t(void *p, const void *nt)
{
    (void)nt;
    core_free(p, MS_CALL_DELETE, FRAME);
}
PUBLIC void _ZdaPvRKSt9nothrow_t(void *p, const void *nt)
{
    (void)nt;
    core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
PUBLIC void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)al;
    (void)nt;
    core_free(p, MS_CALL_DELETE, FRAME);
}
PUBLIC void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t al, const void *nt)
{
    (void)al;
    (void)nt;
    core_free(p, MS_CALL_DELETE_ARRAY, FRAME);
}
