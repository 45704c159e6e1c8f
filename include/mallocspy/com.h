/*
 * mallocspy/com.h - COM's names for the task allocator and its spy, for code written
 * against objidl.h: IMalloc with CoGetMalloc and CoTaskMemAlloc, IMallocSpy with
 * CoRegisterMallocSpy and CoRevokeMallocSpy, and the CLR host's IHostMalloc.
 *
 * Usage
 * -----
 * An IMallocSpy written for Windows, a C++ class or a C struct with an lpVtbl, registers
 * as it is (link with -lmallocspy):
 *
 *     #include <mallocspy/com.h>
 *
 *     class CMallocSpy : public IMallocSpy { ... the twelve methods and IUnknown ... };
 *
 *     CoRegisterMallocSpy(spy);       // S_OK; it now sees malloc, new and CoTaskMemAlloc
 *     ...
 *     CoRevokeMallocSpy();            // S_OK, or E_ACCESSDENIED while blocks it saw live
 *
 * Everything here is a thin layer over mallocspy.h: CoTaskMemAlloc is ms_alloc (the same
 * heap as malloc), and the registered IMallocSpy is one ms_spy among those mallocspy
 * nests.  mallocspy-com(3) has the whole story, and what a Windows spy must change
 * (PORTING there).
 *
 * Programs that have these names already (their own COM layer, a port's objidl.h) define
 * MALLOCSPY_COM_FUNCTIONS_ONLY before including this header: it then declares only the
 * functions, in terms of the program's own HRESULT, DWORD, SIZE_T, IMalloc and IMallocSpy,
 * and checks that those have the sizes the library was built with.
 */
#ifndef MALLOCSPY_COM_H
#define MALLOCSPY_COM_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Calling convention
 *
 * Of every method of the interfaces here and of the functions below.  Native Linux code
 * has one convention, the platform's (System V), and that is what the library is built
 * with: MALLOCSPY_CALLTYPE is empty.  Code whose own COM objects use another (winelib
 * builds use __attribute__((ms_abi)) on x86_64) needs a library built with the same:
 * make CFLAGS="-O2 -g -DMALLOCSPY_CALLTYPE='__attribute__((ms_abi))'", and the same
 * definition before including this header.  STDMETHODCALLTYPE is MALLOCSPY_CALLTYPE.
 * ------------------------------------------------------------------------------------- */

#ifndef MALLOCSPY_CALLTYPE
#define MALLOCSPY_CALLTYPE
#endif

#ifndef MALLOCSPY_COM_FUNCTIONS_ONLY

/* ---------------------------------------------------------------------------------------
 * Types, with the sizes they have on Windows: HRESULT, ULONG and DWORD are 32 bits,
 * SIZE_T is a size_t, BOOL an int.
 * ------------------------------------------------------------------------------------- */

typedef int32_t HRESULT;
typedef uint32_t ULONG;
typedef uint32_t DWORD;
typedef size_t SIZE_T;
typedef int BOOL;
typedef void *LPVOID;
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#ifndef STDMETHODCALLTYPE
#define STDMETHODCALLTYPE MALLOCSPY_CALLTYPE
#endif
/* The return type and convention of a method's definition: STDMETHODIMP
 * CMallocSpy::QueryInterface(...), STDMETHODIMP_(ULONG) CMallocSpy::AddRef(). */
#define STDMETHODIMP HRESULT STDMETHODCALLTYPE
#define STDMETHODIMP_(type) type STDMETHODCALLTYPE
#ifdef __cplusplus
/* A method's declaration in a class: STDMETHOD_(SIZE_T, PreAlloc)(SIZE_T cbRequest); */
#define STDMETHOD(method) virtual HRESULT STDMETHODCALLTYPE method
#define STDMETHOD_(type, method) virtual type STDMETHODCALLTYPE method
#define PURE = 0
#endif
/* C: const before the vtable pointer of each interface when CONST_VTABLE is defined. */
#ifndef CONST_VTBL
#ifdef CONST_VTABLE
#define CONST_VTBL const
#else
#define CONST_VTBL
#endif
#endif

/* Interface identifiers.  In C, REFIID is a pointer (&IID_IMalloc); in C++ a reference. */
typedef struct GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
typedef GUID IID;
#ifdef __cplusplus
typedef const GUID &REFGUID;
typedef const IID &REFIID;
#else
typedef const GUID *REFGUID;
typedef const IID *REFIID;
#endif

/* The IIDs are static constants of each file that includes this header, not data the
 * library exports: COM compares IIDs by value, never by address, and a data symbol would
 * be one more name the preloaded library could take from a program that defines it. */
static const IID IID_IUnknown =      /* 00000000-0000-0000-C000-000000000046 */
    { 0x00000000, 0x0000, 0x0000, { 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 } };
static const IID IID_IMalloc =       /* 00000002-0000-0000-C000-000000000046 */
    { 0x00000002, 0x0000, 0x0000, { 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 } };
static const IID IID_IMallocSpy =    /* 0000001D-0000-0000-C000-000000000046 */
    { 0x0000001D, 0x0000, 0x0000, { 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 } };
static const IID IID_IHostMalloc =   /* 1831991C-CC53-4A31-B218-04E910446479 */
    { 0x1831991C, 0xCC53, 0x4A31, { 0xB2, 0x18, 0x04, 0xE9, 0x10, 0x44, 0x64, 0x79 } };

#ifdef __cplusplus
inline bool IsEqualGUID(REFGUID a, REFGUID b)
{
    for (int i = 0; i < 8; i++)
        if (a.Data4[i] != b.Data4[i])
            return false;
    return a.Data1 == b.Data1 && a.Data2 == b.Data2 && a.Data3 == b.Data3;
}
inline bool IsEqualIID(REFIID a, REFIID b) { return IsEqualGUID(a, b); }
inline bool operator==(REFGUID a, REFGUID b) { return IsEqualGUID(a, b); }
inline bool operator!=(REFGUID a, REFGUID b) { return !IsEqualGUID(a, b); }
#else
static inline int ms_com_guid_equal(const GUID *a, const GUID *b)
{
    for (int i = 0; i < 8; i++)
        if (a->Data4[i] != b->Data4[i])
            return 0;
    return a->Data1 == b->Data1 && a->Data2 == b->Data2 && a->Data3 == b->Data3;
}
#define IsEqualGUID(a, b) ms_com_guid_equal((a), (b))
#define IsEqualIID(a, b) ms_com_guid_equal((a), (b))
#endif

/* ---------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------- */

#define SUCCEEDED(hr) (((HRESULT)(hr)) >= 0)
#define FAILED(hr) (((HRESULT)(hr)) < 0)

#define S_OK           ((HRESULT)0x00000000) /* success */
#define S_FALSE        ((HRESULT)0x00000001) /* success, with a "no" (not used by the library) */
#define E_NOTIMPL      ((HRESULT)0x80004001) /* ms_get_host_malloc: MALLOC_EXECUTABLE */
#define E_NOINTERFACE  ((HRESULT)0x80004002) /* QueryInterface: not an interface of the object */
#define E_POINTER      ((HRESULT)0x80004003) /* a NULL out-pointer (QueryInterface, IHostMalloc) */
#define E_ACCESSDENIED ((HRESULT)0x80070005) /* CoRevokeMallocSpy: blocks the spy saw are live;
                                                the revoke is pending and completes, releasing
                                                the spy, when the last of them is freed */
#define E_OUTOFMEMORY  ((HRESULT)0x8007000E) /* no memory (IHostMalloc::Alloc), or no room for
                                                one more spy (CoRegisterMallocSpy) */
#define E_INVALIDARG   ((HRESULT)0x80070057) /* a NULL or malformed argument; CoRegisterMallocSpy:
                                                also an object that QueryInterface says is no
                                                IMallocSpy, or whose vtable has an empty slot */
#define CO_E_OBJNOTREG ((HRESULT)0x800401FB) /* CoRevokeMallocSpy: no spy is registered */
#define CO_E_OBJISREG  ((HRESULT)0x800401FC) /* CoRegisterMallocSpy: a spy is registered
                                                already (or its revoke is pending) */
#define HOST_E_INVALIDOPERATION ((HRESULT)0x80131022) /* IHostMalloc::Free: memory this
                                                IHostMalloc did not hand out */

/* CoGetMalloc's one memory context. */
typedef enum MEMCTX { MEMCTX_TASK = 1 } MEMCTX;

/* ---------------------------------------------------------------------------------------
 * Interfaces
 *
 * Laid out as COM lays them out: an object is a pointer to a table of its methods, the
 * three of IUnknown first, then the interface's own in the order below, each taking the
 * object first.  A C++ class deriving from the interface (no virtual destructor in the
 * interface, so the table holds exactly these) and a C struct whose first member points
 * to a Vtbl are the same object; either may be handed to the functions below.
 * ------------------------------------------------------------------------------------- */

#ifdef __cplusplus

struct IUnknown {
    virtual HRESULT MALLOCSPY_CALLTYPE QueryInterface(REFIID riid, void **ppvObject) = 0;
    virtual ULONG MALLOCSPY_CALLTYPE AddRef(void) = 0;
    virtual ULONG MALLOCSPY_CALLTYPE Release(void) = 0;
};

struct IMalloc : public IUnknown {
    virtual void *MALLOCSPY_CALLTYPE Alloc(SIZE_T cb) = 0;
    virtual void *MALLOCSPY_CALLTYPE Realloc(void *pv, SIZE_T cb) = 0;
    virtual void MALLOCSPY_CALLTYPE Free(void *pv) = 0;
    virtual SIZE_T MALLOCSPY_CALLTYPE GetSize(void *pv) = 0;
    virtual int MALLOCSPY_CALLTYPE DidAlloc(void *pv) = 0;
    virtual void MALLOCSPY_CALLTYPE HeapMinimize(void) = 0;
};

struct IMallocSpy : public IUnknown {
    virtual SIZE_T MALLOCSPY_CALLTYPE PreAlloc(SIZE_T cbRequest) = 0;
    virtual void *MALLOCSPY_CALLTYPE PostAlloc(void *pActual) = 0;
    virtual void *MALLOCSPY_CALLTYPE PreFree(void *pRequest, BOOL fSpyed) = 0;
    virtual void MALLOCSPY_CALLTYPE PostFree(BOOL fSpyed) = 0;
    virtual SIZE_T MALLOCSPY_CALLTYPE PreRealloc(void *pRequest, SIZE_T cbRequest,
                                                 void **ppNewRequest, BOOL fSpyed) = 0;
    virtual void *MALLOCSPY_CALLTYPE PostRealloc(void *pActual, BOOL fSpyed) = 0;
    virtual void *MALLOCSPY_CALLTYPE PreGetSize(void *pRequest, BOOL fSpyed) = 0;
    virtual SIZE_T MALLOCSPY_CALLTYPE PostGetSize(SIZE_T cbActual, BOOL fSpyed) = 0;
    virtual void *MALLOCSPY_CALLTYPE PreDidAlloc(void *pRequest, BOOL fSpyed) = 0;
    virtual int MALLOCSPY_CALLTYPE PostDidAlloc(void *pRequest, BOOL fSpyed, int fActual) = 0;
    virtual void MALLOCSPY_CALLTYPE PreHeapMinimize(void) = 0;
    virtual void MALLOCSPY_CALLTYPE PostHeapMinimize(void) = 0;
};

#else /* C */

typedef struct IUnknown IUnknown;
typedef struct IMalloc IMalloc;
typedef struct IMallocSpy IMallocSpy;

typedef struct IUnknownVtbl {
    HRESULT (MALLOCSPY_CALLTYPE *QueryInterface)(IUnknown *This, REFIID riid, void **ppvObject);
    ULONG (MALLOCSPY_CALLTYPE *AddRef)(IUnknown *This);
    ULONG (MALLOCSPY_CALLTYPE *Release)(IUnknown *This);
} IUnknownVtbl;
struct IUnknown { CONST_VTBL IUnknownVtbl *lpVtbl; };

typedef struct IMallocVtbl {
    HRESULT (MALLOCSPY_CALLTYPE *QueryInterface)(IMalloc *This, REFIID riid, void **ppvObject);
    ULONG (MALLOCSPY_CALLTYPE *AddRef)(IMalloc *This);
    ULONG (MALLOCSPY_CALLTYPE *Release)(IMalloc *This);
    void *(MALLOCSPY_CALLTYPE *Alloc)(IMalloc *This, SIZE_T cb);
    void *(MALLOCSPY_CALLTYPE *Realloc)(IMalloc *This, void *pv, SIZE_T cb);
    void (MALLOCSPY_CALLTYPE *Free)(IMalloc *This, void *pv);
    SIZE_T (MALLOCSPY_CALLTYPE *GetSize)(IMalloc *This, void *pv);
    int (MALLOCSPY_CALLTYPE *DidAlloc)(IMalloc *This, void *pv);
    void (MALLOCSPY_CALLTYPE *HeapMinimize)(IMalloc *This);
} IMallocVtbl;
struct IMalloc { CONST_VTBL IMallocVtbl *lpVtbl; };

typedef struct IMallocSpyVtbl {
    HRESULT (MALLOCSPY_CALLTYPE *QueryInterface)(IMallocSpy *This, REFIID riid,
                                                 void **ppvObject);
    ULONG (MALLOCSPY_CALLTYPE *AddRef)(IMallocSpy *This);
    ULONG (MALLOCSPY_CALLTYPE *Release)(IMallocSpy *This);
    SIZE_T (MALLOCSPY_CALLTYPE *PreAlloc)(IMallocSpy *This, SIZE_T cbRequest);
    void *(MALLOCSPY_CALLTYPE *PostAlloc)(IMallocSpy *This, void *pActual);
    void *(MALLOCSPY_CALLTYPE *PreFree)(IMallocSpy *This, void *pRequest, BOOL fSpyed);
    void (MALLOCSPY_CALLTYPE *PostFree)(IMallocSpy *This, BOOL fSpyed);
    SIZE_T (MALLOCSPY_CALLTYPE *PreRealloc)(IMallocSpy *This, void *pRequest, SIZE_T cbRequest,
                                            void **ppNewRequest, BOOL fSpyed);
    void *(MALLOCSPY_CALLTYPE *PostRealloc)(IMallocSpy *This, void *pActual, BOOL fSpyed);
    void *(MALLOCSPY_CALLTYPE *PreGetSize)(IMallocSpy *This, void *pRequest, BOOL fSpyed);
    SIZE_T (MALLOCSPY_CALLTYPE *PostGetSize)(IMallocSpy *This, SIZE_T cbActual, BOOL fSpyed);
    void *(MALLOCSPY_CALLTYPE *PreDidAlloc)(IMallocSpy *This, void *pRequest, BOOL fSpyed);
    int (MALLOCSPY_CALLTYPE *PostDidAlloc)(IMallocSpy *This, void *pRequest, BOOL fSpyed,
                                           int fActual);
    void (MALLOCSPY_CALLTYPE *PreHeapMinimize)(IMallocSpy *This);
    void (MALLOCSPY_CALLTYPE *PostHeapMinimize)(IMallocSpy *This);
} IMallocSpyVtbl;
struct IMallocSpy { CONST_VTBL IMallocSpyVtbl *lpVtbl; };

#ifdef COBJMACROS
#define IUnknown_QueryInterface(This, riid, ppv) ((This)->lpVtbl->QueryInterface(This, riid, ppv))
#define IUnknown_AddRef(This) ((This)->lpVtbl->AddRef(This))
#define IUnknown_Release(This) ((This)->lpVtbl->Release(This))
#define IMalloc_QueryInterface(This, riid, ppv) ((This)->lpVtbl->QueryInterface(This, riid, ppv))
#define IMalloc_AddRef(This) ((This)->lpVtbl->AddRef(This))
#define IMalloc_Release(This) ((This)->lpVtbl->Release(This))
#define IMalloc_Alloc(This, cb) ((This)->lpVtbl->Alloc(This, cb))
#define IMalloc_Realloc(This, pv, cb) ((This)->lpVtbl->Realloc(This, pv, cb))
#define IMalloc_Free(This, pv) ((This)->lpVtbl->Free(This, pv))
#define IMalloc_GetSize(This, pv) ((This)->lpVtbl->GetSize(This, pv))
#define IMalloc_DidAlloc(This, pv) ((This)->lpVtbl->DidAlloc(This, pv))
#define IMalloc_HeapMinimize(This) ((This)->lpVtbl->HeapMinimize(This))
#define IMallocSpy_QueryInterface(This, riid, ppv) \
    ((This)->lpVtbl->QueryInterface(This, riid, ppv))
#define IMallocSpy_AddRef(This) ((This)->lpVtbl->AddRef(This))
#define IMallocSpy_Release(This) ((This)->lpVtbl->Release(This))
#define IMallocSpy_PreAlloc(This, cb) ((This)->lpVtbl->PreAlloc(This, cb))
#define IMallocSpy_PostAlloc(This, p) ((This)->lpVtbl->PostAlloc(This, p))
#define IMallocSpy_PreFree(This, p, s) ((This)->lpVtbl->PreFree(This, p, s))
#define IMallocSpy_PostFree(This, s) ((This)->lpVtbl->PostFree(This, s))
#define IMallocSpy_PreRealloc(This, p, cb, pp, s) ((This)->lpVtbl->PreRealloc(This, p, cb, pp, s))
#define IMallocSpy_PostRealloc(This, p, s) ((This)->lpVtbl->PostRealloc(This, p, s))
#define IMallocSpy_PreGetSize(This, p, s) ((This)->lpVtbl->PreGetSize(This, p, s))
#define IMallocSpy_PostGetSize(This, cb, s) ((This)->lpVtbl->PostGetSize(This, cb, s))
#define IMallocSpy_PreDidAlloc(This, p, s) ((This)->lpVtbl->PreDidAlloc(This, p, s))
#define IMallocSpy_PostDidAlloc(This, p, s, a) ((This)->lpVtbl->PostDidAlloc(This, p, s, a))
#define IMallocSpy_PreHeapMinimize(This) ((This)->lpVtbl->PreHeapMinimize(This))
#define IMallocSpy_PostHeapMinimize(This) ((This)->lpVtbl->PostHeapMinimize(This))
#endif

#endif /* C */

typedef IMalloc *LPMALLOC;
typedef IMallocSpy *LPMALLOCSPY;

/* ---------------------------------------------------------------------------------------
 * The CLR host's allocator (IHostMalloc, mscoree.h)
 *
 * What a host hands the CLR from IHostMemoryManager::CreateMalloc; a host running on
 * mallocspy answers that call with ms_get_host_malloc() below.
 * ------------------------------------------------------------------------------------- */

typedef enum EMemoryCriticalLevel {
    eTaskCritical = 0,        /* the task cannot go on without it */
    eAppDomainCritical = 1,   /* the application domain cannot */
    eProcessCritical = 2      /* the runtime cannot */
} EMemoryCriticalLevel;

typedef enum MALLOC_TYPE {
    MALLOC_THREADSAFE = 0x1,  /* the CLR will use it from several threads at once */
    MALLOC_EXECUTABLE = 0x2   /* the memory must be executable (not supported: E_NOTIMPL) */
} MALLOC_TYPE;

#ifdef __cplusplus
struct IHostMalloc : public IUnknown {
    virtual HRESULT MALLOCSPY_CALLTYPE Alloc(SIZE_T cbSize, EMemoryCriticalLevel eCriticalLevel,
                                             void **ppMem) = 0;
    virtual HRESULT MALLOCSPY_CALLTYPE DebugAlloc(SIZE_T cbSize,
                                                  EMemoryCriticalLevel eCriticalLevel,
                                                  char *pszFileName, int iLineNo,
                                                  void **ppMem) = 0;
    virtual HRESULT MALLOCSPY_CALLTYPE Free(void *pMem) = 0;
};
#else
typedef struct IHostMalloc IHostMalloc;
typedef struct IHostMallocVtbl {
    HRESULT (MALLOCSPY_CALLTYPE *QueryInterface)(IHostMalloc *This, REFIID riid,
                                                 void **ppvObject);
    ULONG (MALLOCSPY_CALLTYPE *AddRef)(IHostMalloc *This);
    ULONG (MALLOCSPY_CALLTYPE *Release)(IHostMalloc *This);
    HRESULT (MALLOCSPY_CALLTYPE *Alloc)(IHostMalloc *This, SIZE_T cbSize,
                                        EMemoryCriticalLevel eCriticalLevel, void **ppMem);
    HRESULT (MALLOCSPY_CALLTYPE *DebugAlloc)(IHostMalloc *This, SIZE_T cbSize,
                                             EMemoryCriticalLevel eCriticalLevel,
                                             char *pszFileName, int iLineNo, void **ppMem);
    HRESULT (MALLOCSPY_CALLTYPE *Free)(IHostMalloc *This, void *pMem);
} IHostMallocVtbl;
struct IHostMalloc { CONST_VTBL IHostMallocVtbl *lpVtbl; };
#ifdef COBJMACROS
#define IHostMalloc_QueryInterface(This, riid, ppv) \
    ((This)->lpVtbl->QueryInterface(This, riid, ppv))
#define IHostMalloc_AddRef(This) ((This)->lpVtbl->AddRef(This))
#define IHostMalloc_Release(This) ((This)->lpVtbl->Release(This))
#define IHostMalloc_Alloc(This, cb, lvl, pp) ((This)->lpVtbl->Alloc(This, cb, lvl, pp))
#define IHostMalloc_DebugAlloc(This, cb, lvl, file, line, pp) \
    ((This)->lpVtbl->DebugAlloc(This, cb, lvl, file, line, pp))
#define IHostMalloc_Free(This, p) ((This)->lpVtbl->Free(This, p))
#endif
#endif

#endif /* !MALLOCSPY_COM_FUNCTIONS_ONLY */

/* ---------------------------------------------------------------------------------------
 * The library's types must be the program's: with MALLOCSPY_COM_FUNCTIONS_ONLY these are
 * the program's own, checked here (C11, C++11 and later).
 * ------------------------------------------------------------------------------------- */

#if defined(__cplusplus) && __cplusplus >= 201103L
#define MALLOCSPY_COM_ASSERT(c, what) static_assert(c, what);
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define MALLOCSPY_COM_ASSERT(c, what) _Static_assert(c, what);
#else
#define MALLOCSPY_COM_ASSERT(c, what)
#endif
MALLOCSPY_COM_ASSERT(sizeof(HRESULT) == 4 && (HRESULT)-1 < 0, "HRESULT must be a signed 32-bit integer")
MALLOCSPY_COM_ASSERT(sizeof(DWORD) == 4, "DWORD must be 32 bits")
MALLOCSPY_COM_ASSERT(sizeof(ULONG) == 4, "ULONG must be 32 bits, as on Windows")
MALLOCSPY_COM_ASSERT(sizeof(SIZE_T) == sizeof(size_t), "SIZE_T must be a size_t")
MALLOCSPY_COM_ASSERT(sizeof(BOOL) == sizeof(int), "BOOL must be an int")

/* ---------------------------------------------------------------------------------------
 * Functions
 * ------------------------------------------------------------------------------------- */

struct IHostMalloc;

#ifdef __cplusplus
extern "C" {
#endif

/* The task allocator as an IMalloc: *ppMalloc gets one process-wide object (counted by
 * AddRef and Release, never destroyed) whose methods are the ms_alloc family.  S_OK;
 * E_INVALIDARG for a context other than MEMCTX_TASK (*ppMalloc set to NULL) or a NULL
 * ppMalloc. */
HRESULT MALLOCSPY_CALLTYPE CoGetMalloc(DWORD dwMemContext, IMalloc **ppMalloc);

/* IMalloc::Alloc, Realloc and Free of the task allocator: the same heap as malloc, so a
 * block from one may be freed by the other.  cb 0 gives a valid zero-length block;
 * CoTaskMemRealloc(NULL, cb) allocates, CoTaskMemRealloc(pv, 0) frees pv and returns
 * NULL, and a failed reallocation returns NULL with pv intact; CoTaskMemFree(NULL) does
 * nothing. */
void *MALLOCSPY_CALLTYPE CoTaskMemAlloc(SIZE_T cb);
void *MALLOCSPY_CALLTYPE CoTaskMemRealloc(void *pv, SIZE_T cb);
void MALLOCSPY_CALLTYPE CoTaskMemFree(void *pv);

/* Registers pMallocSpy, COM's way: one spy at a time.  The object is asked for
 * IID_IMallocSpy with QueryInterface, whose AddRef is the registration's reference, and
 * the interface it answers is the one called.  Its methods then wrap every allocation,
 * free, reallocation and size or ownership query of the process (malloc, new and the
 * CoTaskMem family alike); a Pre method and its Post method run with no other thread's
 * calls to the spy in between, as COM guarantees (so the process's allocations are
 * serialized while it is registered).
 * S_OK; E_INVALIDARG for NULL (checked first), for an object that refuses the
 * QueryInterface, or whose vtable has an empty slot (an ms_spy_ops hook may be NULL; a
 * COM spy's slot may not, and mallocspy refuses it rather than call it); CO_E_OBJISREG
 * when a spy is registered or its revoke pending (the new object is not asked anything);
 * E_OUTOFMEMORY when mallocspy holds MS_MAX_SPIES spies already.
 * Beyond COM and Wine: ms_register_spy spies nest with it; PreAlloc's and PreRealloc's
 * sizes are honoured (Wine allocates the request, and a header overflows); PostRealloc's
 * fSpyed is the original block's (Wine: TRUE).  Whatever header the spy adds, the program
 * gets the alignment it asked for: mallocspy places the block so that the spy's shift
 * lands the pointer on it (mallocspy-com(3)). */
HRESULT MALLOCSPY_CALLTYPE CoRegisterMallocSpy(IMallocSpy *pMallocSpy);

/* S_OK: revoked, and Release has been called.  CO_E_OBJNOTREG: none is registered.
 * E_ACCESSDENIED: blocks the spy saw are still live; the revoke is noted and completes
 * by itself when the last of them is freed: Release is called then, on the thread that
 * frees it.  Calling it again meanwhile answers E_ACCESSDENIED again and changes
 * nothing: once is enough.  The spy counts as registered (CO_E_OBJISREG) until its
 * Release has returned.  Beyond COM: while the revoke is pending the spy sees its own
 * blocks' frees, reallocations and queries, but no new allocation, so that later
 * allocations cannot put its release off forever. */
HRESULT MALLOCSPY_CALLTYPE CoRevokeMallocSpy(void);

/* The CLR host allocator: *ppMalloc gets an IHostMalloc (one per process, counted by
 * AddRef and Release, never destroyed) whose blocks form the private heap "IHostMalloc"
 * (mallocspy(3)): its leaks are reported under that name, DebugAlloc's file and line
 * with them; Free of anything else answers HOST_E_INVALIDOPERATION, and mallocspy
 * reports the bad free and leaves the block alone.  Alloc and DebugAlloc: S_OK, or
 * E_OUTOFMEMORY with *ppMem NULL; the critical level is accepted and ignored (mallocspy
 * never waits for memory).  Free(NULL) is S_OK.
 * dwMallocType: MALLOC_THREADSAFE or 0 (the object is thread-safe either way).  S_OK;
 * E_POINTER for a NULL ppMalloc; E_INVALIDARG for unknown bits and E_NOTIMPL for
 * MALLOC_EXECUTABLE (the spied heap is not executable), *ppMalloc set to NULL. */
HRESULT MALLOCSPY_CALLTYPE ms_get_host_malloc(DWORD dwMallocType, struct IHostMalloc **ppMalloc);

#ifdef __cplusplus
}
#endif

#endif /* MALLOCSPY_COM_H */
