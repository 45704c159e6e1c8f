/* COM's task allocator and spy functions (CoGetMalloc, CoTaskMemAlloc, CoRegisterMallocSpy,
 * CoRevokeMallocSpy) on top of the ms_ API: the registered IMallocSpy is wrapped in one
 * ms_spy whose hooks call its methods.  Entry points: built with frame pointers, so that
 * stacks start in the caller. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define CONST_VTABLE     /* our own tables are read-only; the layout is the same */
#include "mallocspy/com.h"
#include "com/core.h"

#define FRAME __builtin_frame_address(0)
#define CT MALLOCSPY_CALLTYPE

/* ---- the task allocator as an IMalloc ---------------------------------------------- */

/* One object for the process.  Its count starts at 1, the library's own reference, which
 * is never given up: Release stops there, and the object is never destroyed. */
static atomic_uint task_refs = 1;

static ULONG CT task_add_ref(IMalloc *This)
{
    (void)This;
    return atomic_fetch_add(&task_refs, 1) + 1;
}

static ULONG CT task_release(IMalloc *This)
{
    (void)This;
    unsigned n = atomic_load(&task_refs);
    while (n > 1 && !atomic_compare_exchange_weak(&task_refs, &n, n - 1)) {}
    return n > 1 ? n - 1 : 1;
}

static HRESULT CT task_query_interface(IMalloc *This, REFIID riid, void **ppv)
{
    if (!ppv)
        return E_POINTER;
    if (riid && (IsEqualIID(riid, &IID_IUnknown) || IsEqualIID(riid, &IID_IMalloc))) {
        task_add_ref(This);
        *ppv = This;
        return S_OK;
    }
    *ppv = NULL;     /* COM: an [out] interface pointer is NULL on failure */
    return riid ? E_NOINTERFACE : E_INVALIDARG;
}

static void *CT task_alloc(IMalloc *This, SIZE_T cb)
{
    (void)This;
    return com_core_alloc(cb, 0, 0, FRAME);
}

static void *CT task_realloc(IMalloc *This, void *pv, SIZE_T cb)
{
    (void)This;
    return com_core_realloc(pv, cb, FRAME);
}

static void CT task_free(IMalloc *This, void *pv)
{
    (void)This;
    com_core_free(pv, 0, FRAME);
}

static SIZE_T CT task_get_size(IMalloc *This, void *pv)
{
    (void)This;
    return com_core_get_size(pv, FRAME);
}

static int CT task_did_alloc(IMalloc *This, void *pv)
{
    (void)This;
    return com_core_did_alloc(pv, FRAME);
}

static void CT task_heap_minimize(IMalloc *This)
{
    (void)This;
    com_core_heap_minimize();
}

static const IMallocVtbl task_vtbl = {
    task_query_interface, task_add_ref, task_release, task_alloc, task_realloc, task_free,
    task_get_size, task_did_alloc, task_heap_minimize,
};
static IMalloc task_malloc = { &task_vtbl };

COM_EXPORT HRESULT CT CoGetMalloc(DWORD dwMemContext, IMalloc **ppMalloc)
{
    if (!ppMalloc)
        return E_INVALIDARG;
    if (dwMemContext != MEMCTX_TASK) {
        *ppMalloc = NULL;
        return E_INVALIDARG;
    }
    task_add_ref(&task_malloc);
    *ppMalloc = &task_malloc;
    return S_OK;
}

COM_EXPORT void *CT CoTaskMemAlloc(SIZE_T cb) { return com_core_alloc(cb, 0, 0, FRAME); }

COM_EXPORT void *CT CoTaskMemRealloc(void *pv, SIZE_T cb)
{
    return com_core_realloc(pv, cb, FRAME);
}

COM_EXPORT void CT CoTaskMemFree(void *pv) { com_core_free(pv, 0, FRAME); }

/* ---- the spy -------------------------------------------------------------------------- */

enum { COM_NONE, COM_ACTIVE, COM_PENDING };

/* COM has one registered spy, so one adapter does: the ms_spy the registry knows. */
static struct {
    pthread_mutex_t lock;      /* CoRegisterMallocSpy, and CoRevokeMallocSpy's change of
                                  `state`; never taken by a hook, nor held while a revoke
                                  waits for running hooks or calls the spy's Release */
    atomic_int state;          /* COM_*: NONE -> ACTIVE -> PENDING under `lock`; PENDING ->
                                  NONE by the release hook, on any thread, once the spy's
                                  Release has returned */
    IMallocSpy *spy;           /* the interface QueryInterface answered; written under
                                  `lock` while no spy is registered, read by the hooks */
    pthread_mutex_t pair;      /* held from each Pre method to its Post method: COM
                                  guarantees the pair runs with no other thread's calls to
                                  the spy in between (a spy may keep PreAlloc's request in a
                                  member for PostAlloc) */
    ms_spy base;               /* registered with ms_register_spy */
} com = { .lock = PTHREAD_MUTEX_INITIALIZER, .pair = PTHREAD_MUTEX_INITIALIZER };

/* Whether this thread holds `pair`: fork keeps it held for the child of a thread that
 * forks from inside a spy method, and waits for it otherwise. */
static __thread bool pair_held;

static inline IMallocSpy *pair_enter(void)
{
    pthread_mutex_lock(&com.pair);
    pair_held = true;
    return com.spy;
}

static inline void pair_leave(void)
{
    pair_held = false;
    pthread_mutex_unlock(&com.pair);
}

static size_t hook_pre_alloc(ms_spy *self, size_t request)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    size_t n = s->lpVtbl->PreAlloc(s, request);
    if (n == 0 && request != 0)
        pair_leave();    /* a forced failure: no PostAlloc follows */
    return n;
}

static void *hook_post_alloc(ms_spy *self, void *actual)
{
    (void)self;
    IMallocSpy *s = com.spy;
    void *p = s->lpVtbl->PostAlloc(s, actual);
    pair_leave();
    return p;
}

static void *hook_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    return s->lpVtbl->PreFree(s, request, spied);
}

static void hook_post_free(ms_spy *self, bool spied)
{
    (void)self;
    IMallocSpy *s = com.spy;
    s->lpVtbl->PostFree(s, spied);
    pair_leave();
}

static size_t hook_pre_realloc(ms_spy *self, void *request, size_t size, void **new_request,
                               bool spied)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    size_t n = s->lpVtbl->PreRealloc(s, request, size, new_request, spied);
    if (n == 0 && size != 0)
        pair_leave();    /* a forced failure: no PostRealloc follows */
    return n;
}

static void *hook_post_realloc(ms_spy *self, void *actual, bool spied)
{
    (void)self;
    IMallocSpy *s = com.spy;
    void *p = s->lpVtbl->PostRealloc(s, actual, spied);
    pair_leave();
    return p;
}

static void *hook_pre_get_size(ms_spy *self, void *request, bool spied)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    return s->lpVtbl->PreGetSize(s, request, spied);
}

static size_t hook_post_get_size(ms_spy *self, size_t actual, bool spied)
{
    (void)self;
    IMallocSpy *s = com.spy;
    size_t n = s->lpVtbl->PostGetSize(s, actual, spied);
    pair_leave();
    return n;
}

static void *hook_pre_did_alloc(ms_spy *self, void *request, bool spied)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    return s->lpVtbl->PreDidAlloc(s, request, spied);
}

static int hook_post_did_alloc(ms_spy *self, void *request, bool spied, int actual)
{
    (void)self;
    IMallocSpy *s = com.spy;
    int r = s->lpVtbl->PostDidAlloc(s, request, spied, actual);
    pair_leave();
    return r;
}

static void hook_pre_heap_minimize(ms_spy *self)
{
    (void)self;
    IMallocSpy *s = pair_enter();
    s->lpVtbl->PreHeapMinimize(s);
}

static void hook_post_heap_minimize(ms_spy *self)
{
    (void)self;
    IMallocSpy *s = com.spy;
    s->lpVtbl->PostHeapMinimize(s);
    pair_leave();
}

/* The revoke is complete: no block the spy saw is live, no operation can reach it.  COM
 * releases the reference the registration's QueryInterface took; only then may another
 * spy register (until then CoRegisterMallocSpy answers CO_E_OBJISREG). */
static void hook_release(ms_spy *self)
{
    (void)self;
    IMallocSpy *s = com.spy;
    s->lpVtbl->Release(s);
    atomic_store(&com.state, COM_NONE);
}

static const ms_spy_ops com_ops = {
    .pre_alloc = hook_pre_alloc, .post_alloc = hook_post_alloc,
    .pre_free = hook_pre_free, .post_free = hook_post_free,
    .pre_realloc = hook_pre_realloc, .post_realloc = hook_post_realloc,
    .pre_get_size = hook_pre_get_size, .post_get_size = hook_post_get_size,
    .pre_did_alloc = hook_pre_did_alloc, .post_did_alloc = hook_post_did_alloc,
    .pre_heap_minimize = hook_pre_heap_minimize, .post_heap_minimize = hook_post_heap_minimize,
    .release = hook_release,
};

/* fork: the child gets the spy between two pairs, never in the middle of one (unless the
 * forking thread is itself inside a spy method, whose Post method then still ends in the
 * child).  `lock` is not waited for: a revoke holding it may be waiting for the forking
 * thread's own operation to end; the child starts with it free. */
static bool fork_took_pair;
static void fork_prepare(void)
{
    fork_took_pair = !pair_held;
    if (fork_took_pair)
        pthread_mutex_lock(&com.pair);
}
static void fork_parent(void)
{
    if (fork_took_pair)
        pthread_mutex_unlock(&com.pair);
}
static void fork_child(void)
{
    pthread_mutex_init(&com.lock, NULL);
    if (fork_took_pair)
        pthread_mutex_init(&com.pair, NULL);
    /* else this thread holds it, inside a spy method whose Post method lets it go */
}
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void fork_handlers(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* Every slot of the table, so that a C spy with a hole fails here and not in malloc. */
static bool vtable_complete(const IMallocSpyVtbl *v)
{
    return v && v->QueryInterface && v->AddRef && v->Release && v->PreAlloc && v->PostAlloc &&
           v->PreFree && v->PostFree && v->PreRealloc && v->PostRealloc && v->PreGetSize &&
           v->PostGetSize && v->PreDidAlloc && v->PostDidAlloc && v->PreHeapMinimize &&
           v->PostHeapMinimize;
}

COM_EXPORT HRESULT CT CoRegisterMallocSpy(IMallocSpy *pMallocSpy)
{
    if (!pMallocSpy)
        return E_INVALIDARG;    /* checked before anything else */
    pthread_once(&fork_once, fork_handlers);
    pthread_mutex_lock(&com.lock);
    if (atomic_load(&com.state) != COM_NONE) {
        pthread_mutex_unlock(&com.lock);
        return CO_E_OBJISREG;
    }
    /* CoRegisterMallocSpy: the object is asked for IID_IMallocSpy, and the AddRef of a
     * successful QueryInterface is the registration's reference (no AddRef of our own). */
    void *itf = NULL;
    if (!pMallocSpy->lpVtbl || !pMallocSpy->lpVtbl->QueryInterface) {
        pthread_mutex_unlock(&com.lock);
        return E_INVALIDARG;
    }
    HRESULT hr = pMallocSpy->lpVtbl->QueryInterface(pMallocSpy, &IID_IMallocSpy, &itf);
    if (FAILED(hr) || !itf) {
        pthread_mutex_unlock(&com.lock);
        return E_INVALIDARG;
    }
    IMallocSpy *s = itf;
    if (!vtable_complete(s->lpVtbl)) {
        if (s->lpVtbl && s->lpVtbl->Release)
            s->lpVtbl->Release(s);
        pthread_mutex_unlock(&com.lock);
        return E_INVALIDARG;
    }
    com.spy = s;
    com.base.ops = &com_ops;
    atomic_store(&com.state, COM_ACTIVE);
    /* Not MS_SPY_SERIALIZED: `pair` serializes more than that flag would (each Pre
     * method with its Post method, not each method alone). */
    int rc = ms_register_spy(&com.base);
    if (rc != MS_OK) {
        atomic_store(&com.state, COM_NONE);
        com.spy = NULL;
        s->lpVtbl->Release(s);
    }
    pthread_mutex_unlock(&com.lock);
    return rc == MS_OK ? S_OK : rc == MS_E_OUTOFMEMORY ? E_OUTOFMEMORY : E_INVALIDARG;
}

COM_EXPORT HRESULT CT CoRevokeMallocSpy(void)
{
    pthread_mutex_lock(&com.lock);
    int state = atomic_load(&com.state);
    if (state == COM_ACTIVE) {
        /* PENDING before the revoke: the release hook may run as soon as ms_revoke_spy lets
         * go of the spy, on this thread (MS_OK) or on the one freeing the last block, and it
         * is what sets COM_NONE. */
        atomic_store(&com.state, COM_PENDING);
    }
    pthread_mutex_unlock(&com.lock);
    if (state == COM_NONE)
        return CO_E_OBJNOTREG;
    if (state == COM_PENDING) {
        /* Still registered, with blocks live: COM's revoke is already noted, and calling it
         * once is enough. */
        return E_ACCESSDENIED;
    }
    /* Not under `lock`: the spy's Release, which may run in here, may call us again. */
    switch (ms_revoke_spy(&com.base)) {
    case MS_OK:
        return S_OK;             /* the release hook has run: Release was called */
    case MS_E_PENDING:
        return E_ACCESSDENIED;   /* Release follows the last free */
    default: {
        /* The registry does not know the adapter: it cannot happen while the state said
         * ACTIVE.  Said as COM would, with nothing released. */
        int pending = COM_PENDING;
        atomic_compare_exchange_strong(&com.state, &pending, COM_NONE);
        return CO_E_OBJNOTREG;
    }
    }
}
