/* COM's allocation calls seen from the reports, for check_com.c: each leak comes from a
 * function of its own, whose marker comment names the line of the call, so that the tests
 * can check that its stack starts in the program (not in CoTaskMemAlloc or the IMalloc
 * and IHostMalloc methods inside libmallocspy).  Every pointer is dropped, so every block
 * is a definite leak:
 *   co_task_leak      66 bytes, CoTaskMemAlloc
 *   co_realloc_leak   99 bytes, CoTaskMemAlloc(5) grown by CoTaskMemRealloc
 *   imalloc_leak      88 bytes, CoGetMalloc's IMalloc::Alloc
 *   host_alloc_leak   55 bytes, IHostMalloc::Alloc: heap "IHostMalloc", no tag
 *   host_debug_leak   77 bytes, IHostMalloc::DebugAlloc, tag "host_file.c":4321, heap
 *                     "IHostMalloc"
 * and one bad free: host_wrong_free hands IHostMalloc::Free a 48-byte malloc'd block
 * (HOST_E_INVALIDOPERATION; mallocspy reports it and leaves the block, which the program
 * then frees with free).  Prints "OK", or "FAIL <line>: <check>". */
#define COBJMACROS
#include <stdlib.h>
#include <string.h>

#include "mallocspy/com.h"
#include "progutil.h"

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void co_task_leak(void)
{
    char *p = CoTaskMemAlloc(66); /* CO-TASK */
    CHECK(p);
    memset(p, 1, 66);
    drop(p);
}

NOINLINE void co_realloc_leak(void)
{
    char *p = CoTaskMemAlloc(5);
    CHECK(p);
    p = CoTaskMemRealloc(p, 99); /* CO-REALLOC */
    CHECK(p);
    memset(p, 2, 99);
    drop(p);
}

NOINLINE void imalloc_leak(IMalloc *m)
{
    char *p = IMalloc_Alloc(m, 88); /* IMALLOC-ALLOC */
    CHECK(p);
    memset(p, 3, 88);
    drop(p);
}

NOINLINE void host_alloc_leak(IHostMalloc *h)
{
    void *p = NULL;
    HRESULT hr = IHostMalloc_Alloc(h, 55, eTaskCritical, &p); /* HOST-ALLOC */
    CHECK(hr == S_OK && p);
    memset(p, 4, 55);
    drop(p);
}

NOINLINE void host_debug_leak(IHostMalloc *h)
{
    char file[] = "host_file.c";
    void *p = NULL;
    HRESULT hr = IHostMalloc_DebugAlloc(h, 77, eProcessCritical, file, 4321, &p); /* HOST-DEBUG */
    CHECK(hr == S_OK && p);
    memset(p, 5, 77);
    drop(p);
}

NOINLINE void host_wrong_free(IHostMalloc *h)
{
    char *p = malloc(48);
    CHECK(p);
    memset(p, 6, 48);
    HRESULT hr = IHostMalloc_Free(h, p); /* HOST-WRONG-FREE */
    CHECK(hr == HOST_E_INVALIDOPERATION);
    for (int i = 0; i < 48; i++)      /* left alone: still the program's */
        CHECK(p[i] == 6);
    free(p);
}

int main(void)
{
    IMalloc *m = NULL;
    IHostMalloc *h = NULL;
    CHECK(CoGetMalloc(MEMCTX_TASK, &m) == S_OK);
    CHECK(ms_get_host_malloc(MALLOC_THREADSAFE, &h) == S_OK);
    co_task_leak();
    co_realloc_leak();
    imalloc_leak(m);
    host_alloc_leak(h);
    host_debug_leak(h);
    host_wrong_free(h);
    /* Its own blocks it frees, and NULL. */
    void *p = NULL;
    CHECK(IHostMalloc_Alloc(h, 10, eAppDomainCritical, &p) == S_OK);
    CHECK(IHostMalloc_Free(h, p) == S_OK);
    CHECK(IHostMalloc_Free(h, NULL) == S_OK);
    IHostMalloc_Release(h);
    IMalloc_Release(m);
    scrub_stack_and_registers();
    puts("OK");
    return 0;
}
