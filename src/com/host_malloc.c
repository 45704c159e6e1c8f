/* The CLR host's allocator (IHostMalloc, what IHostMemoryManager::CreateMalloc hands the
 * runtime): one object whose blocks are the private heap "IHostMalloc", so that its leaks
 * are reported under that name and a Free of anything else is caught.  Entry points:
 * built with frame pointers, so that stacks start in the caller. */
#include <pthread.h>
#include <stdatomic.h>

#define CONST_VTABLE     /* our own table is read-only; the layout is the same */
#include "mallocspy/com.h"
#include "com/core.h"

#define FRAME __builtin_frame_address(0)
#define CT MALLOCSPY_CALLTYPE

static struct {
    pthread_once_t once;
    uint32_t heap;             /* the heap's id; written once (under `once`), 0 when it
                                  could not be made */
    atomic_uint refs;          /* starts at 1, the library's own reference, never given up */
} hm = { .once = PTHREAD_ONCE_INIT, .refs = 1 };

static void make_heap(void)
{
    /* Never destroyed: a block the CLR still holds stays valid, and is reported at exit
     * if it is never freed. */
    ms_malloc *h = ms_heap_create("IHostMalloc", 0);
    hm.heap = h ? com_core_heap_id(h) : 0;
}

static ULONG CT host_add_ref(IHostMalloc *This)
{
    (void)This;
    return atomic_fetch_add(&hm.refs, 1) + 1;
}

static ULONG CT host_release(IHostMalloc *This)
{
    (void)This;
    unsigned n = atomic_load(&hm.refs);
    while (n > 1 && !atomic_compare_exchange_weak(&hm.refs, &n, n - 1)) {}
    return n > 1 ? n - 1 : 1;
}

static HRESULT CT host_query_interface(IHostMalloc *This, REFIID riid, void **ppv)
{
    if (!ppv)
        return E_POINTER;
    if (riid && (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IHostMalloc))) {
        host_add_ref(This);
        *ppv = This;
        return S_OK;
    }
    *ppv = NULL;
    return riid ? E_NOINTERFACE : E_INVALIDARG;
}

/* The critical level tells a host whether it may wait for memory; mallocspy never waits. */
static HRESULT CT host_alloc(IHostMalloc *This, SIZE_T cbSize, EMemoryCriticalLevel level,
                             void **ppMem)
{
    (void)This;
    (void)level;
    if (!ppMem)
        return E_POINTER;
    void *p = com_core_alloc(cbSize, hm.heap, 0, FRAME);
    *ppMem = p;      /* COM: NULL on failure */
    return p ? S_OK : E_OUTOFMEMORY;
}

/* IHostMalloc::DebugAlloc: the host records where the memory was asked for; mallocspy keeps
 * the place with the block, as ms_debug_alloc does, and shows it in the reports. */
static HRESULT CT host_debug_alloc(IHostMalloc *This, SIZE_T cbSize, EMemoryCriticalLevel level,
                                   char *pszFileName, int iLineNo, void **ppMem)
{
    (void)This;
    (void)level;
    if (!ppMem)
        return E_POINTER;
    void *p = com_core_alloc(cbSize, hm.heap, com_core_tag(pszFileName, iLineNo), FRAME);
    *ppMem = p;
    return p ? S_OK : E_OUTOFMEMORY;
}

/* IHostMalloc::Free: memory this object did not hand out is HOST_E_INVALIDOPERATION.  It
 * still goes to the core, which reports the bad free (with its stack) and leaves it. */
static HRESULT CT host_free(IHostMalloc *This, void *pMem)
{
    (void)This;
    if (!pMem)
        return S_OK;
    bool ours = hm.heap && com_core_heap_owns(pMem, hm.heap);
    com_core_free(pMem, hm.heap, FRAME);
    return ours ? S_OK : HOST_E_INVALIDOPERATION;
}

static const IHostMallocVtbl host_vtbl = {
    host_query_interface, host_add_ref, host_release, host_alloc, host_debug_alloc, host_free,
};
static IHostMalloc host_malloc = { &host_vtbl };

COM_EXPORT HRESULT CT ms_get_host_malloc(DWORD dwMallocType, IHostMalloc **ppMalloc)
{
    if (!ppMalloc)
        return E_POINTER;
    if (dwMallocType & ~(DWORD)(MALLOC_THREADSAFE | MALLOC_EXECUTABLE)) {
        *ppMalloc = NULL;
        return E_INVALIDARG;
    }
    if (dwMallocType & MALLOC_EXECUTABLE) {
        *ppMalloc = NULL;     /* the spied heap is not executable, and mallocspy will not
                                 make it so */
        return E_NOTIMPL;
    }
    pthread_once(&hm.once, make_heap);
    if (!hm.heap) {
        *ppMalloc = NULL;
        return E_OUTOFMEMORY;
    }
    host_add_ref(&host_malloc);
    *ppMalloc = &host_malloc;
    return S_OK;
}
