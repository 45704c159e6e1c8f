/* COM's names (issue 18): CoGetMalloc, the CoTaskMem family, CoRegisterMallocSpy and
 * CoRevokeMallocSpy with an IMallocSpy written in C (an lpVtbl) here and in C++ in
 * tests/progs/com_spy.cc, IHostMalloc, and the header itself compiled as C11, C++11 and
 * C++17.  Every expectation comes from COM's documents: the results of the table in
 * mallocspy-com(3), the reference counts (the registration's reference is the AddRef of
 * its QueryInterface for IID_IMallocSpy, given back by Release when the revoke completes),
 * fSpyed, PreAlloc's size honoured, and a Pre method and its Post method never
 * interleaved with another thread's.
 *
 * Runs with and without the leak tracker.  While a spy is registered, Check's own
 * allocations pass through it too: tests that depend on when a revoke completes assert
 * only after it. */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define COBJMACROS
#include "mallocspy.h"
#include "mallocspy/com.h"
#include "spies.h"
#include "testutil.h"

/* Sizes no allocator can serve; volatile so the compiler does not refuse the call. */
static volatile size_t huge = SIZE_MAX - 100000;
static void *volatile sink;

/* ---- an IMallocSpy in C --------------------------------------------------------------- */

/* The header a spy that adds one puts before each block: a signature and the size asked
 * for, 16 bytes so that the program's blocks keep malloc's alignment. */
struct header {
    uint64_t signature;
    uint64_t size;
};
#define SIGNATURE 0x434F4D5350594844ull

struct cspy {
    IMallocSpy itf;                /* first: a pointer to the object is one to its interface */
    atomic_uint refs;              /* starts at 1: the creator's reference */
    atomic_int qi_spy, qi_unknown, qi_other, addrefs, releases;
    bool refuse_qi;                /* QueryInterface answers E_NOINTERFACE to everything */
    bool header;                   /* add a struct header to each block */
    size_t fail_size;              /* PreAlloc / PreRealloc force a failure for this size */
    atomic_bool armed;             /* hooks are counted only while set */
    atomic_long calls[H_COUNT], spied_true[H_COUNT];
    BOOL last_spied;
    size_t request;                /* PreAlloc's request, for PostAlloc: COM's pair */
    atomic_long bad_headers;       /* a spied block without our header */
    /* the pair test */
    bool revoke_in_post_free;      /* PostFree calls CoRevokeMallocSpy, once */
    IMallocSpy *register_in_release; /* Release registers this spy, once */
    HRESULT register_result;
    HRESULT revoke_result;
    bool slow;                     /* PreAlloc dawdles, to widen any window */
    atomic_int inside, max_inside; /* threads between a Pre and its Post */
};

#define CSPY(This) ((struct cspy *)(This))

static void count(struct cspy *s, int h, BOOL spied)
{
    if (!atomic_load(&s->armed))
        return;
    atomic_fetch_add(&s->calls[h], 1);
    if (spied)
        atomic_fetch_add(&s->spied_true[h], 1);
    s->last_spied = spied;
}

static void pair_in(struct cspy *s)
{
    int n = atomic_fetch_add(&s->inside, 1) + 1;
    int m = atomic_load(&s->max_inside);
    while (n > m && !atomic_compare_exchange_weak(&s->max_inside, &m, n)) {}
}
static void pair_out(struct cspy *s) { atomic_fetch_sub(&s->inside, 1); }

static struct header *header_of(struct cspy *s, void *p)
{
    struct header *h = (struct header *)p - 1;
    if (h->signature != SIGNATURE)
        atomic_fetch_add(&s->bad_headers, 1);
    return h;
}

static void *put_header(void *actual, size_t size)
{
    struct header *h = actual;
    h->signature = SIGNATURE;
    h->size = size;
    return h + 1;
}

static HRESULT STDMETHODCALLTYPE cs_query_interface(IMallocSpy *This, REFIID riid, void **ppv)
{
    struct cspy *s = CSPY(This);
    if (IsEqualIID(riid, &IID_IMallocSpy))
        atomic_fetch_add(&s->qi_spy, 1);
    else if (IsEqualIID(riid, &IID_IUnknown))
        atomic_fetch_add(&s->qi_unknown, 1);
    else
        atomic_fetch_add(&s->qi_other, 1);
    if (!s->refuse_qi && (IsEqualIID(riid, &IID_IMallocSpy) || IsEqualIID(riid, &IID_IUnknown))) {
        *ppv = This;
        IMallocSpy_AddRef(This);
        return S_OK;
    }
    *ppv = NULL;
    return E_NOINTERFACE;
}
static ULONG STDMETHODCALLTYPE cs_add_ref(IMallocSpy *This)
{
    atomic_fetch_add(&CSPY(This)->addrefs, 1);
    return atomic_fetch_add(&CSPY(This)->refs, 1) + 1;
}
static ULONG STDMETHODCALLTYPE cs_release(IMallocSpy *This)
{
    atomic_fetch_add(&CSPY(This)->releases, 1);
    IMallocSpy *next = CSPY(This)->register_in_release;
    if (next) {
        CSPY(This)->register_in_release = NULL;
        CSPY(This)->register_result = CoRegisterMallocSpy(next);
    }
    return atomic_fetch_sub(&CSPY(This)->refs, 1) - 1;
}
static SIZE_T STDMETHODCALLTYPE cs_pre_alloc(IMallocSpy *This, SIZE_T cb)
{
    struct cspy *s = CSPY(This);
    count(s, H_PRE_ALLOC, FALSE);
    pair_in(s);
    if (s->slow)
        for (volatile int i = 0; i < 2000; i++) {}
    s->request = cb;
    if (s->fail_size && cb == s->fail_size) {
        pair_out(s);
        return 0;
    }
    return s->header ? cb + sizeof(struct header) : cb;
}
static void *STDMETHODCALLTYPE cs_post_alloc(IMallocSpy *This, void *actual)
{
    struct cspy *s = CSPY(This);
    count(s, H_POST_ALLOC, FALSE);
    if (s->slow)
        for (volatile int i = 0; i < 2000; i++) {}
    void *p = actual && s->header ? put_header(actual, s->request) : actual;
    pair_out(s);
    return p;
}
static void *STDMETHODCALLTYPE cs_pre_free(IMallocSpy *This, void *p, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_PRE_FREE, spied);
    pair_in(s);
    if (!spied || !s->header)
        return p;
    struct header *h = header_of(s, p);
    h->signature = 0;
    return h;
}
static void STDMETHODCALLTYPE cs_post_free(IMallocSpy *This, BOOL spied)
{
    count(CSPY(This), H_POST_FREE, spied);
    if (CSPY(This)->revoke_in_post_free) {
        CSPY(This)->revoke_in_post_free = false;
        CSPY(This)->revoke_result = CoRevokeMallocSpy();
    }
    pair_out(CSPY(This));
}
static SIZE_T STDMETHODCALLTYPE cs_pre_realloc(IMallocSpy *This, void *p, SIZE_T cb,
                                              void **pnew, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_PRE_REALLOC, spied);
    pair_in(s);
    s->request = cb;
    *pnew = spied && s->header ? (void *)header_of(s, p) : p;
    if (s->fail_size && cb == s->fail_size) {
        pair_out(s);
        return 0;
    }
    return s->header ? cb + sizeof(struct header) : cb;
}
static void *STDMETHODCALLTYPE cs_post_realloc(IMallocSpy *This, void *actual, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_POST_REALLOC, spied);
    void *p = actual && s->header ? put_header(actual, s->request) : actual;
    pair_out(s);
    return p;
}
static void *STDMETHODCALLTYPE cs_pre_get_size(IMallocSpy *This, void *p, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_PRE_GET_SIZE, spied);
    pair_in(s);
    return spied && s->header ? (void *)header_of(s, p) : p;
}
static SIZE_T STDMETHODCALLTYPE cs_post_get_size(IMallocSpy *This, SIZE_T cb, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_POST_GET_SIZE, spied);
    pair_out(s);
    return spied && s->header ? cb - sizeof(struct header) : cb;
}
static void *STDMETHODCALLTYPE cs_pre_did_alloc(IMallocSpy *This, void *p, BOOL spied)
{
    struct cspy *s = CSPY(This);
    count(s, H_PRE_DID_ALLOC, spied);
    pair_in(s);
    return spied && s->header ? (void *)header_of(s, p) : p;
}
static int STDMETHODCALLTYPE cs_post_did_alloc(IMallocSpy *This, void *p, BOOL spied, int actual)
{
    (void)p;
    count(CSPY(This), H_POST_DID_ALLOC, spied);
    pair_out(CSPY(This));
    return actual;
}
static void STDMETHODCALLTYPE cs_pre_heap_minimize(IMallocSpy *This)
{
    count(CSPY(This), H_PRE_HEAP_MINIMIZE, FALSE);
    pair_in(CSPY(This));
}
static void STDMETHODCALLTYPE cs_post_heap_minimize(IMallocSpy *This)
{
    count(CSPY(This), H_POST_HEAP_MINIMIZE, FALSE);
    pair_out(CSPY(This));
}

static IMallocSpyVtbl cs_vtbl = {
    cs_query_interface, cs_add_ref, cs_release, cs_pre_alloc, cs_post_alloc, cs_pre_free,
    cs_post_free, cs_pre_realloc, cs_post_realloc, cs_pre_get_size, cs_post_get_size,
    cs_pre_did_alloc, cs_post_did_alloc, cs_pre_heap_minimize, cs_post_heap_minimize,
};

static void cspy_init(struct cspy *s)
{
    memset(s, 0, sizeof *s);
    s->itf.lpVtbl = &cs_vtbl;
    atomic_store(&s->refs, 1);
}

static struct cspy A, B;

/* The header before p, as the spy wrote it, records `size`. */
static bool has_header(const void *p, size_t size)
{
    const struct header *h = (const struct header *)p - 1;
    return h->signature == SIGNATURE && h->size == size;
}

/* ---- the documented constants ------------------------------------------------------- */

START_TEST(test_constants)
{
    /* winerror.h's values. */
    ck_assert_int_eq(S_OK, 0);
    ck_assert_int_eq(S_FALSE, 1);
    ck_assert_uint_eq((uint32_t)E_NOTIMPL, 0x80004001u);
    ck_assert_uint_eq((uint32_t)E_NOINTERFACE, 0x80004002u);
    ck_assert_uint_eq((uint32_t)E_POINTER, 0x80004003u);
    ck_assert_uint_eq((uint32_t)E_ACCESSDENIED, 0x80070005u);
    ck_assert_uint_eq((uint32_t)E_OUTOFMEMORY, 0x8007000Eu);
    ck_assert_uint_eq((uint32_t)E_INVALIDARG, 0x80070057u);
    ck_assert_uint_eq((uint32_t)CO_E_OBJNOTREG, 0x800401FBu);
    ck_assert_uint_eq((uint32_t)CO_E_OBJISREG, 0x800401FCu);
    ck_assert_uint_eq((uint32_t)HOST_E_INVALIDOPERATION, 0x80131022u);
    ck_assert(SUCCEEDED(S_OK) && SUCCEEDED(S_FALSE) && !FAILED(S_FALSE));
    ck_assert(FAILED(E_INVALIDARG) && FAILED(CO_E_OBJISREG) && !SUCCEEDED(E_ACCESSDENIED));
    ck_assert_int_eq(MEMCTX_TASK, 1);
    ck_assert_int_eq(eTaskCritical, 0);
    ck_assert_int_eq(eAppDomainCritical, 1);
    ck_assert_int_eq(eProcessCritical, 2);
    ck_assert_int_eq(MALLOC_THREADSAFE, 1);
    ck_assert_int_eq(MALLOC_EXECUTABLE, 2);
    /* The IIDs the documents give, spelled as they are. */
    static const struct { const IID *iid; const char *text; } iids[] = {
        { &IID_IUnknown, "00000000-0000-0000-C000-000000000046" },
        { &IID_IMalloc, "00000002-0000-0000-C000-000000000046" },
        { &IID_IMallocSpy, "0000001D-0000-0000-C000-000000000046" },
        { &IID_IHostMalloc, "1831991C-CC53-4A31-B218-04E910446479" },
    };
    for (size_t i = 0; i < 4; i++) {
        const IID *g = iids[i].iid;
        char text[40];
        snprintf(text, sizeof text, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                 (unsigned)g->Data1, g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2],
                 g->Data4[3], g->Data4[4], g->Data4[5], g->Data4[6], g->Data4[7]);
        ck_assert_str_eq(text, iids[i].text);
        for (size_t j = 0; j < 4; j++)
            ck_assert_int_eq(IsEqualIID(g, iids[j].iid), i == j);
    }
    ck_assert_uint_eq(sizeof(GUID), 16);
    ck_assert_uint_eq(sizeof(HRESULT), 4);
    ck_assert_uint_eq(sizeof(ULONG), 4);
}
END_TEST

/* ---- registration -------------------------------------------------------------------- */

START_TEST(test_register_results)
{
    cspy_init(&A);
    cspy_init(&B);
    /* NULL: E_INVALIDARG, checked first. */
    ck_assert_int_eq(CoRegisterMallocSpy(NULL), E_INVALIDARG);
    /* An object that says it is no IMallocSpy: E_INVALIDARG, and it was asked for
     * IID_IMallocSpy. */
    A.refuse_qi = true;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), E_INVALIDARG);
    ck_assert_int_eq(A.qi_spy, 1);
    ck_assert_uint_eq(A.refs, 1);
    ck_assert_int_eq(CoRevokeMallocSpy(), CO_E_OBJNOTREG);
    /* A spy: S_OK. */
    A.refuse_qi = false;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    /* One at a time, as COM: CO_E_OBJISREG for another, and for the same again; neither
     * is asked anything. */
    ck_assert_int_eq(CoRegisterMallocSpy(&B.itf), CO_E_OBJISREG);
    ck_assert_int_eq(B.qi_spy + B.qi_unknown + B.qi_other + B.addrefs, 0);
    int asked = A.qi_spy;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), CO_E_OBJISREG);
    ck_assert_int_eq(A.qi_spy, asked);
    ck_assert_int_eq(CoRegisterMallocSpy(NULL), E_INVALIDARG);
    /* Nothing live that it saw: revoked at once, then none is registered. */
    ck_assert_int_eq(CoRevokeMallocSpy(), S_OK);
    ck_assert_int_eq(CoRevokeMallocSpy(), CO_E_OBJNOTREG);
    ck_assert_int_eq(CoRegisterMallocSpy(&B.itf), S_OK);
    ck_assert_int_eq(CoRevokeMallocSpy(), S_OK);
}
END_TEST

/* A C spy whose vtable has a hole would crash inside malloc: refused at registration, and
 * the reference its QueryInterface took is given back. */
START_TEST(test_register_incomplete_vtable)
{
    static IMallocSpyVtbl holed;
    holed = cs_vtbl;
    holed.PostDidAlloc = NULL;
    cspy_init(&A);
    A.itf.lpVtbl = &holed;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), E_INVALIDARG);
    ck_assert_int_eq(A.qi_spy, 1);
    ck_assert_int_eq(A.addrefs, 1);
    ck_assert_int_eq(A.releases, 1);
    ck_assert_uint_eq(A.refs, 1);
    ck_assert_int_eq(CoRevokeMallocSpy(), CO_E_OBJNOTREG);
}
END_TEST

/* mallocspy holds MS_MAX_SPIES spies at once, its own among them: with no room left the
 * registration fails with E_OUTOFMEMORY and gives back the reference it took. */
START_TEST(test_register_out_of_room)
{
    static const ms_spy_ops none = { 0 };
    static ms_spy fill[MS_MAX_SPIES];
    int n = 0;
    while (n < MS_MAX_SPIES) {
        fill[n].ops = &none;
        int rc = ms_register_spy(&fill[n]);
        if (rc == MS_E_OUTOFMEMORY)
            break;
        ck_assert_int_eq(rc, MS_OK);
        n++;
    }
    cspy_init(&A);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), E_OUTOFMEMORY);
    ck_assert_int_eq(A.qi_spy, 1);
    ck_assert_int_eq(A.releases, 1);
    ck_assert_uint_eq(A.refs, 1);
    ck_assert_int_eq(CoRevokeMallocSpy(), CO_E_OBJNOTREG);
    /* Room again (a spy revoked with blocks live keeps its place until they go): it
     * registers. */
    int done = 0;
    for (int i = 0; i < n; i++) {
        int rc = ms_revoke_spy(&fill[i]);
        ck_assert(rc == MS_OK || rc == MS_E_PENDING);
        done += rc == MS_OK;
    }
    ck_assert_int_gt(done, 0);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

START_TEST(test_reference_counts)
{
    cspy_init(&A);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    /* The registration asked for IID_IMallocSpy, once, and holds the one reference that
     * QueryInterface's AddRef gave: no AddRef of its own. */
    int qi_spy = A.qi_spy, qi_other = A.qi_unknown + A.qi_other, addrefs = A.addrefs;
    unsigned refs = A.refs;
    int releases = A.releases;
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert_int_eq(qi_spy, 1);
    ck_assert_int_eq(qi_other, 0);
    ck_assert_int_eq(addrefs, 1);
    ck_assert_uint_eq(refs, 2);
    ck_assert_int_eq(releases, 0);
    /* The final revoke gives it back, once. */
    ck_assert_int_eq(hr, S_OK);
    ck_assert_int_eq(A.releases, 1);
    ck_assert_uint_eq(A.refs, 1);
    ck_assert_int_eq(A.addrefs, 1);
}
END_TEST

START_TEST(test_revoke_while_blocks_live)
{
    cspy_init(&A);
    cspy_init(&B);
    A.header = true;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    char *p1 = malloc(10), *p2 = CoTaskMemAlloc(20);
    HRESULT first = CoRevokeMallocSpy();
    int released_at_revoke = A.releases;
    /* Pending: still registered for CoRegisterMallocSpy, and asking again changes
     * nothing (COM: calling CoRevokeMallocSpy once is enough). */
    HRESULT other = CoRegisterMallocSpy(&B.itf);
    HRESULT again = CoRevokeMallocSpy();
    free(p1);
    int released_before_last = A.releases;
    CoTaskMemFree(p2);     /* the last block it spied: the revoke completes */
    int released_after_last = A.releases;
    ck_assert_int_eq(first, E_ACCESSDENIED);
    ck_assert_int_eq(released_at_revoke, 0);
    ck_assert_int_eq(other, CO_E_OBJISREG);
    ck_assert_int_eq(B.qi_spy, 0);
    ck_assert_int_eq(again, E_ACCESSDENIED);
    ck_assert_int_eq(released_before_last, 0);
    ck_assert_int_eq(released_after_last, 1);
    ck_assert_uint_eq(A.refs, 1);
    ck_assert_int_eq(A.bad_headers, 0);
    /* Released: no spy is registered, another may be. */
    ck_assert_int_eq(CoRevokeMallocSpy(), CO_E_OBJNOTREG);
    ck_assert_int_eq(CoRegisterMallocSpy(&B.itf), S_OK);
    ck_assert_int_eq(CoRevokeMallocSpy(), S_OK);
    ck_assert_int_eq(B.qi_spy, 1);
    ck_assert_int_eq(B.releases, 1);
}
END_TEST

/* The revoke completes on the thread that frees the last block, and Release is called
 * there, exactly once, after the last PostFree. */
static void *free_elsewhere(void *p)
{
    free(p);
    return NULL;
}

START_TEST(test_release_on_the_last_free)
{
    cspy_init(&A);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    void *p = malloc(100);
    sink = p;
    HRESULT hr = CoRevokeMallocSpy();
    int before = A.releases;
    pthread_t t;
    pthread_create(&t, NULL, free_elsewhere, p);
    pthread_join(t, NULL);
    ck_assert_int_eq(hr, E_ACCESSDENIED);
    ck_assert_int_eq(before, 0);
    ck_assert_int_eq(A.releases, 1);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    ck_assert_int_eq(CoRevokeMallocSpy(), S_OK);
    ck_assert_int_eq(A.releases, 2);
}
END_TEST

/* A method may revoke its own spy: E_ACCESSDENIED at once, as the operation it runs in is
 * not over, and the revoke completes when it is (nothing else of the spy's is live). */
START_TEST(test_revoke_from_a_method)
{
    cspy_init(&A);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    void *p = malloc(10);
    sink = p;
    A.revoke_in_post_free = true;
    free(p);
    int releases = A.releases;
    HRESULT after = CoRevokeMallocSpy();
    ck_assert_int_eq(A.revoke_result, E_ACCESSDENIED);
    ck_assert_int_eq(releases, 1);
    ck_assert_int_eq(after, CO_E_OBJNOTREG);
    ck_assert_uint_eq(A.refs, 1);
}
END_TEST

/* The spy counts as registered until its final Release returns: registering from inside it
 * answers CO_E_OBJISREG (and does not hang: the revoke holds no lock of its own while it
 * releases); once it has returned, another spy registers. */
START_TEST(test_register_from_release)
{
    cspy_init(&A);
    cspy_init(&B);
    A.register_in_release = &B.itf;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    HRESULT first = CoRevokeMallocSpy();
    ck_assert_int_eq(first, S_OK);
    ck_assert_int_eq(A.releases, 1);
    ck_assert_int_eq(A.register_result, CO_E_OBJISREG);
    ck_assert_int_eq(B.qi_spy, 0);
    ck_assert_int_eq(CoRegisterMallocSpy(&B.itf), S_OK);
    ck_assert_int_eq(CoRevokeMallocSpy(), S_OK);
    ck_assert_int_eq(B.releases, 1);
}
END_TEST

/* ---- the spy's methods ------------------------------------------------------------- */

START_TEST(test_fspyed)
{
    cspy_init(&A);
    void *old = malloc(10), *old2 = malloc(10), *old3 = CoTaskMemAlloc(10);
    sink = old;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    void *mine = CoTaskMemAlloc(10);
    IMalloc *m = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    atomic_store(&A.armed, true);
    free(old);
    BOOL old_free = A.last_spied;
    IMalloc_Free(m, mine);
    BOOL mine_free = A.last_spied;
    SIZE_T sz = IMalloc_GetSize(m, old3);
    BOOL old_size = A.last_spied;
    /* Reallocated while registered: PreRealloc and PostRealloc say the original block was
     * not spied (Wine says TRUE to PostRealloc); from then on it is. */
    old2 = realloc(old2, 200);
    long post_true = A.spied_true[H_POST_REALLOC];
    free(old2);
    BOOL after_realloc = A.last_spied;
    CoTaskMemFree(old3);
    atomic_store(&A.armed, false);
    ck_assert(!old_free);
    ck_assert(mine_free);
    ck_assert(!old_size);
    ck_assert_uint_ge(sz, 10);     /* exactly 10 when mallocspy knew the block (mallocspy(3)) */
    ck_assert_int_eq(A.calls[H_PRE_REALLOC], 1);
    ck_assert_int_eq(A.spied_true[H_PRE_REALLOC], 0);
    ck_assert_int_eq(A.calls[H_POST_REALLOC], 1);
    ck_assert_int_eq(post_true, 0);
    ck_assert(after_realloc);
    ck_assert_int_eq(A.calls[H_PRE_FREE], 4);
    ck_assert_int_eq(A.calls[H_POST_FREE], 4);
    ck_assert_int_eq(A.spied_true[H_PRE_FREE], 2);
    ck_assert_int_eq(A.spied_true[H_POST_FREE], 2);
    IMalloc_Release(m);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* A spy that adds a 16-byte header, written in C: it sees malloc, calloc, realloc,
 * CoTaskMemAlloc and IMalloc::Alloc alike, PreAlloc's size is honoured (Wine allocates
 * the request and the header overflows), and it finds its header again in PreFree,
 * PreRealloc, PreGetSize and PreDidAlloc. */
START_TEST(test_header_spy)
{
    cspy_init(&A);
    A.header = true;
    IMalloc *m = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    for (size_t sz = 0; sz < 70000; sz = sz * 2 + 7) {
        char *p[5] = { malloc(sz), calloc(1, sz), CoTaskMemAlloc(sz), IMalloc_Alloc(m, sz),
                       CoTaskMemRealloc(NULL, sz) };
        for (int i = 0; i < 5; i++) {
            ck_assert_ptr_nonnull(p[i]);
            ck_assert_msg(has_header(p[i], sz), "block %d of %zu bytes: no header", i, sz);
            ck_assert_uint_eq((uintptr_t)p[i] % 16, 0);
            if (i == 1)
                for (size_t k = 0; k < sz; k++)
                    ck_assert_int_eq(p[i][k], 0);
            memset(p[i], 0x5a, sz);              /* all of it is the caller's */
            ck_assert_uint_eq(IMalloc_GetSize(m, p[i]), sz);
            ck_assert_uint_eq(ms_get_size(ms_get_malloc(), p[i]), sz);
            ck_assert_int_eq(IMalloc_DidAlloc(m, p[i]), 1);
            ck_assert_int_eq(IMalloc_DidAlloc(m, p[i] + 4), 0);
        }
        p[0] = realloc(p[0], sz + 3000);
        p[2] = CoTaskMemRealloc(p[2], sz / 2 + 1);
        p[3] = IMalloc_Realloc(m, p[3], sz + 10);
        ck_assert(has_header(p[0], sz + 3000) && has_header(p[2], sz / 2 + 1) &&
                  has_header(p[3], sz + 10));
        for (size_t k = 0; k < sz / 2; k++)
            ck_assert_int_eq(p[2][k], 0x5a);
        ck_assert_uint_eq(IMalloc_GetSize(m, p[3]), sz + 10);
        free(p[0]);
        free(p[1]);
        CoTaskMemFree(p[2]);
        IMalloc_Free(m, p[3]);
        free(p[4]);
    }
    ck_assert_int_eq(A.bad_headers, 0);
    IMalloc_Release(m);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

START_TEST(test_each_method_once)
{
    cspy_init(&A);
    IMalloc *m = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    atomic_store(&A.armed, true);
    void *p = CoTaskMemAlloc(33);
    p = CoTaskMemRealloc(p, 66);
    SIZE_T sz = IMalloc_GetSize(m, p);
    int did = IMalloc_DidAlloc(m, p);
    IMalloc_HeapMinimize(m);
    CoTaskMemFree(p);
    /* NULL: no method at all. */
    CoTaskMemFree(NULL);
    IMalloc_Free(m, NULL);
    SIZE_T sz0 = IMalloc_GetSize(m, NULL);
    int did0 = IMalloc_DidAlloc(m, NULL);
    atomic_store(&A.armed, false);
    ck_assert_uint_eq(sz, 66);
    ck_assert_int_eq(did, 1);
    ck_assert_uint_eq(sz0, (SIZE_T)-1);
    ck_assert_int_eq(did0, -1);
    static const int once[] = { H_PRE_ALLOC, H_POST_ALLOC, H_PRE_REALLOC, H_POST_REALLOC,
                                H_PRE_GET_SIZE, H_POST_GET_SIZE, H_PRE_DID_ALLOC,
                                H_POST_DID_ALLOC, H_PRE_HEAP_MINIMIZE, H_POST_HEAP_MINIMIZE,
                                H_PRE_FREE, H_POST_FREE };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++)
        ck_assert_msg(A.calls[once[i]] == 1, "hook %d called %ld times", once[i],
                      (long)A.calls[once[i]]);
    IMalloc_Release(m);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* PreAlloc and PreRealloc may force a failure by returning 0 (for a non-zero request):
 * no Post method follows, the caller gets NULL, a reallocated block stays intact; and
 * the next call works (nothing of the failed pair is left held). */
START_TEST(test_forced_failure)
{
    cspy_init(&A);
    A.header = true;
    A.fail_size = 777;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    char *keep = CoTaskMemAlloc(8);
    strcpy(keep, "intact");
    atomic_store(&A.armed, true);
    void *f = CoTaskMemAlloc(777);
    void *g = CoTaskMemRealloc(keep, 777);
    void *ok = CoTaskMemAlloc(778);
    atomic_store(&A.armed, false);
    ck_assert_ptr_null(f);
    ck_assert_ptr_null(g);
    ck_assert_ptr_nonnull(ok);
    ck_assert_str_eq(keep, "intact");
    ck_assert(has_header(keep, 8));
    ck_assert_int_eq(A.calls[H_PRE_ALLOC], 2);
    ck_assert_int_eq(A.calls[H_POST_ALLOC], 1);
    ck_assert_int_eq(A.calls[H_PRE_REALLOC], 1);
    ck_assert_int_eq(A.calls[H_POST_REALLOC], 0);
    /* A real failure does reach PostAlloc, with NULL. */
    atomic_store(&A.armed, true);
    void *h = CoTaskMemAlloc(huge);
    atomic_store(&A.armed, false);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(A.calls[H_POST_ALLOC], 2);
    CoTaskMemFree(keep);
    CoTaskMemFree(ok);
    ck_assert_int_eq(A.bad_headers, 0);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* COM: "the call to the pre-method through the return from the corresponding post-method
 * is guaranteed to be thread-safe".  The spy keeps PreAlloc's request in a member for
 * PostAlloc, as the documents' sample does: every header must record its own request. */
#define PAIR_THREADS 4
#define PAIR_ROUNDS 400

static void *pair_thread(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    long wrong = 0;
    for (int i = 0; i < PAIR_ROUNDS; i++) {
        size_t sz = 16 * (id + 1) + (size_t)i % 7;
        char *p = malloc(sz);
        if (!has_header(p, sz))
            wrong++;
        free(p);
    }
    return (void *)wrong;
}

static long run_pairs(void)
{
    pthread_t t[PAIR_THREADS];
    for (uintptr_t i = 0; i < PAIR_THREADS; i++)
        pthread_create(&t[i], NULL, pair_thread, (void *)i);
    long wrong = 0;
    for (int i = 0; i < PAIR_THREADS; i++) {
        void *w;
        pthread_join(t[i], &w);
        wrong += (long)w;
    }
    return wrong;
}

START_TEST(test_pre_post_pairs_are_serialized)
{
    cspy_init(&A);
    A.header = true;
    A.slow = true;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    long wrong = run_pairs();
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
    ck_assert_int_eq(wrong, 0);
    ck_assert_int_eq(atomic_load(&A.max_inside), 1);
    ck_assert_int_eq(A.bad_headers, 0);
}
END_TEST

/* The control: the same PreAlloc and PostAlloc called by an ms_ spy, which has no such
 * pairing, do overlap, and the request kept in a member is then another thread's; so the
 * test above can tell.  Retried, as threads may simply never overlap in one run. */
static size_t ctl_pre_alloc(ms_spy *self, size_t n)
{
    (void)self;
    pair_in(&A);
    A.request = n;
    return n;
}
static void *ctl_post_alloc(ms_spy *self, void *p)
{
    (void)self;
    for (volatile int i = 0; i < 2000; i++) {}
    if (A.request != ms_spy_call()->request)
        atomic_fetch_add(&A.bad_headers, 1);
    pair_out(&A);
    return p;
}
static const ms_spy_ops unpaired_ops = { .pre_alloc = ctl_pre_alloc,
                                         .post_alloc = ctl_post_alloc };

static void *plain_thread(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    for (int i = 0; i < PAIR_ROUNDS; i++) {
        void *volatile p = malloc(16 * (id + 1) + (size_t)i % 7);
        free(p);
    }
    return NULL;
}

START_TEST(test_unpaired_control)
{
    static ms_spy unpaired[20];     /* one per round: a revoke may stay pending */
    cspy_init(&A);
    for (int round = 0; round < 20 && (A.max_inside < 2 || !A.bad_headers); round++) {
        unpaired[round].ops = &unpaired_ops;
        ck_assert_int_eq(ms_register_spy(&unpaired[round]), MS_OK);
        pthread_t t[PAIR_THREADS];
        for (uintptr_t i = 0; i < PAIR_THREADS; i++)
            pthread_create(&t[i], NULL, plain_thread, (void *)i);
        for (int i = 0; i < PAIR_THREADS; i++)
            pthread_join(t[i], NULL);
        int rc = ms_revoke_spy(&unpaired[round]);
        ck_assert(rc == MS_OK || rc == MS_E_PENDING);
    }
    ck_assert_int_ge(A.max_inside, 2);
    ck_assert_int_gt(A.bad_headers, 0);
}
END_TEST

/* Beyond COM: ms_register_spy spies nest with the COM one, which stays the only COM
 * spy. */
START_TEST(test_nests_with_ms_spies)
{
    static struct counting_spy C;
    counting_spy_init(&C, 'C');
    cspy_init(&A);
    cspy_init(&B);
    A.header = true;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    ck_assert_int_eq(ms_register_spy(&C.base), MS_OK);
    ck_assert_int_eq(CoRegisterMallocSpy(&B.itf), CO_E_OBJISREG);
    atomic_store(&A.armed, true);
    C.armed = true;
    void *p = malloc(40);
    bool header = has_header(p, 40);
    size_t size = ms_get_size(ms_get_malloc(), p);
    free(p);
    C.armed = false;
    atomic_store(&A.armed, false);
    ck_assert(header);
    ck_assert_uint_eq(size, 40);
    ck_assert_int_eq(A.calls[H_PRE_ALLOC], 1);
    ck_assert_int_eq(C.calls[H_PRE_ALLOC], 1);
    ck_assert_int_eq(A.calls[H_POST_FREE], 1);
    ck_assert_int_eq(C.calls[H_POST_FREE], 1);
    ck_assert_int_eq(A.bad_headers, 0);
    int rc = ms_revoke_spy(&C.base);
    ck_assert(rc == MS_OK || rc == MS_E_PENDING);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* A spy written for Windows does not know the alignment posix_memalign asks for, and adds
 * its 16-byte header to every block: the program still gets its 64 and 128 bytes of
 * alignment (mallocspy places the block so that the header lands the pointer on it), and
 * nothing is said. */
START_TEST(test_alignment_kept)
{
    cspy_init(&A);
    A.header = true;
    const char *path = tmp_path("stderr");
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    dup2(fileno(f), 2);
    void *plain = malloc(10);
    void *a = NULL, *b = NULL;
    int ra = posix_memalign(&a, 64, 100);
    int rb = posix_memalign(&b, 128, 100);
    dup2(saved, 2);
    close(saved);
    uintptr_t ua = (uintptr_t)a, ub = (uintptr_t)b;
    free(plain);
    free(a);
    free(b);
    HRESULT hr = CoRevokeMallocSpy();
    fclose(f);
    char *text = read_file(path);
    ck_assert_int_eq(ra, 0);
    ck_assert_int_eq(rb, 0);
    ck_assert_uint_eq(ua % 64, 0);
    ck_assert_uint_eq(ub % 128, 0);
    ck_assert_msg(count_lines(text) == 0, "stderr: %s", text);
    free(text);
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* fork while another thread is between a Pre method and its Post: the child starts with
 * the spy between two pairs, never stuck in the middle of one, and its spy still works. */
static atomic_bool churning;
static void *churn(void *arg)
{
    (void)arg;
    while (atomic_load(&churning)) {
        void *volatile p = malloc(24);
        free(p);
    }
    return NULL;
}

START_TEST(test_fork)
{
    cspy_init(&A);
    A.header = true;
    A.slow = true;
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    atomic_store(&churning, true);
    pthread_t t;
    pthread_create(&t, NULL, churn, NULL);
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            char *p = malloc(40);
            bool ok = p && has_header(p, 40);
            free(p);
            _exit(ok && A.bad_headers == 0 ? 0 : 3);
        }
        int status = -1;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            bad++;
    }
    atomic_store(&churning, false);
    pthread_join(t, NULL);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(A.bad_headers, 0);
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
}
END_TEST

/* ---- IMalloc (CoGetMalloc) and the CoTaskMem family ------------------------------- */

/* IMalloc::GetSize: the size asked for.  mallocspy knows it for every block when the
 * tracker is on; with leak_check=0 and no spy it answers the allocator's usable size,
 * which may be larger (mallocspy(3)). */
static void check_size(IMalloc *m, void *p, size_t asked)
{
    SIZE_T got = IMalloc_GetSize(m, p);
    if (tracker_on())
        ck_assert_uint_eq(got, asked);
    else
        ck_assert_msg(got >= asked && got == malloc_usable_size(p), "GetSize %zu, asked %zu",
                      got, asked);
}

START_TEST(test_co_get_malloc)
{
    IMalloc *m = (IMalloc *)1, *m2 = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, NULL), E_INVALIDARG);
    ck_assert_int_eq(CoGetMalloc(2, &m), E_INVALIDARG);     /* MEMCTX_SHARED */
    ck_assert_ptr_null(m);
    m = (IMalloc *)1;
    ck_assert_int_eq(CoGetMalloc(0, &m), E_INVALIDARG);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m2), S_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_eq(m, m2);                                 /* one per process */
    /* Counted: CoGetMalloc gave a reference each time. */
    ULONG n = IMalloc_AddRef(m);
    ck_assert_uint_eq(IMalloc_Release(m), n - 1);
    ck_assert_uint_eq(IMalloc_Release(m2), n - 2);
    /* QueryInterface: IMalloc and IUnknown, the same object, a reference each. */
    void *q = NULL;
    ck_assert_int_eq(IMalloc_QueryInterface(m, &IID_IMalloc, &q), S_OK);
    ck_assert_ptr_eq(q, m);
    ck_assert_int_eq(IMalloc_QueryInterface(m, &IID_IUnknown, &q), S_OK);
    ck_assert_ptr_eq(q, m);
    ck_assert_uint_eq(IMalloc_Release(m), n - 1);
    ck_assert_uint_eq(IMalloc_Release(m), n - 2);
    q = (void *)1;
    ck_assert_int_eq(IMalloc_QueryInterface(m, &IID_IMallocSpy, &q), E_NOINTERFACE);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(IMalloc_QueryInterface(m, &IID_IMalloc, NULL), E_POINTER);
    /* Never destroyed: released past zero, it still works. */
    for (int i = 0; i < 10; i++)
        IMalloc_Release(m);
    void *p = IMalloc_Alloc(m, 5);
    ck_assert_ptr_nonnull(p);
    IMalloc_Free(m, p);
}
END_TEST

START_TEST(test_imalloc_contract)
{
    IMalloc *m = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    /* Alloc(0): a valid zero-length block. */
    void *z = IMalloc_Alloc(m, 0);
    ck_assert_ptr_nonnull(z);
    IMalloc_Free(m, z);
    char *p = IMalloc_Alloc(m, 100);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 7, 100);
    check_size(m, p, 100);
    /* Realloc: failure gives NULL and leaves the block; NULL allocates; 0 frees. */
    errno = 0;
    ck_assert_ptr_null(IMalloc_Realloc(m, p, huge));
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(p[i], 7);
    p = IMalloc_Realloc(m, p, 300);
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(p[i], 7);
    check_size(m, p, 300);
    ck_assert_ptr_null(IMalloc_Realloc(m, p, 0));
    void *r = IMalloc_Realloc(m, NULL, 12);
    ck_assert_ptr_nonnull(r);
    check_size(m, r, 12);
    ck_assert_ptr_null(IMalloc_Alloc(m, huge));
    /* NULL: Free does nothing, GetSize is (SIZE_T)-1, DidAlloc -1. */
    IMalloc_Free(m, NULL);
    ck_assert_uint_eq(IMalloc_GetSize(m, NULL), (SIZE_T)-1);
    ck_assert_int_eq(IMalloc_DidAlloc(m, NULL), -1);
    /* DidAlloc: 1 for its block, or -1 when mallocspy cannot tell (no tracker and no spy,
     * the built-in detectors included), 0 for what cannot be a block (Wine's tests:
     * (void *)1 and p + 4). */
    int did = IMalloc_DidAlloc(m, r);
    ck_assert_msg(did == 1 || (!tracker_on() && did == -1), "DidAlloc %d", did);
    ck_assert_int_eq(IMalloc_DidAlloc(m, (void *)1), 0);
    ck_assert_int_eq(IMalloc_DidAlloc(m, (char *)r + 4), 0);
    IMalloc_HeapMinimize(m);
    /* The CoTaskMem family is the same allocator, and the same heap as malloc. */
    void *t = CoTaskMemAlloc(40);
    check_size(m, t, 40);
    IMalloc_Free(m, t);
    t = CoTaskMemAlloc(41);
    free(t);
    t = malloc(42);
    check_size(m, t, 42);
    CoTaskMemFree(t);
    t = CoTaskMemRealloc(NULL, 43);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(CoTaskMemRealloc(t, 0));      /* frees */
    ck_assert_ptr_null(CoTaskMemAlloc(huge));
    CoTaskMemFree(NULL);
    IMalloc_Free(m, r);
    IMalloc_Release(m);
}
END_TEST

/* With a spy registered mallocspy knows every block: DidAlloc answers 1 without the
 * tracker too. */
START_TEST(test_did_alloc_with_a_spy)
{
    cspy_init(&A);
    IMalloc *m = NULL;
    ck_assert_int_eq(CoGetMalloc(MEMCTX_TASK, &m), S_OK);
    ck_assert_int_eq(CoRegisterMallocSpy(&A.itf), S_OK);
    void *p = CoTaskMemAlloc(10);
    int did = IMalloc_DidAlloc(m, p);
    CoTaskMemFree(p);
    HRESULT hr = CoRevokeMallocSpy();
    ck_assert_int_eq(did, 1);
    ck_assert(hr == S_OK || hr == E_ACCESSDENIED);
    IMalloc_Release(m);
}
END_TEST

/* ---- IHostMalloc ---------------------------------------------------------------------- */

START_TEST(test_host_malloc)
{
    IHostMalloc *h = (IHostMalloc *)1, *h2 = NULL;
    ck_assert_int_eq(ms_get_host_malloc(0, NULL), E_POINTER);
    ck_assert_int_eq(ms_get_host_malloc(0x100, &h), E_INVALIDARG);
    ck_assert_ptr_null(h);
    h = (IHostMalloc *)1;
    ck_assert_int_eq(ms_get_host_malloc(MALLOC_EXECUTABLE, &h), E_NOTIMPL);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(ms_get_host_malloc(MALLOC_THREADSAFE | MALLOC_EXECUTABLE, &h), E_NOTIMPL);
    ck_assert_int_eq(ms_get_host_malloc(0, &h), S_OK);
    ck_assert_int_eq(ms_get_host_malloc(MALLOC_THREADSAFE, &h2), S_OK);
    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_eq(h, h2);
    ULONG n = IHostMalloc_AddRef(h);
    ck_assert_uint_eq(IHostMalloc_Release(h), n - 1);
    void *q = NULL;
    ck_assert_int_eq(IHostMalloc_QueryInterface(h, &IID_IHostMalloc, &q), S_OK);
    ck_assert_ptr_eq(q, h);
    ck_assert_int_eq(IHostMalloc_QueryInterface(h, &IID_IUnknown, &q), S_OK);
    ck_assert_ptr_eq(q, h);
    ck_assert_uint_eq(IHostMalloc_Release(h), n);
    ck_assert_uint_eq(IHostMalloc_Release(h), n - 1);
    q = (void *)1;
    ck_assert_int_eq(IHostMalloc_QueryInterface(h, &IID_IMalloc, &q), E_NOINTERFACE);
    ck_assert_ptr_null(q);
    /* Alloc, DebugAlloc and Free of its own blocks; NULL out-pointers; failures. */
    void *p = NULL, *d = NULL;
    ck_assert_int_eq(IHostMalloc_Alloc(h, 100, eTaskCritical, &p), S_OK);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    memset(p, 1, 100);
    char file[] = "check_com.c";
    ck_assert_int_eq(IHostMalloc_DebugAlloc(h, 0, eProcessCritical, file, 1, &d), S_OK);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(IHostMalloc_Alloc(h, 1, eTaskCritical, NULL), E_POINTER);
    ck_assert_int_eq(IHostMalloc_DebugAlloc(h, 1, eTaskCritical, file, 2, NULL), E_POINTER);
    void *f = (void *)1;
    ck_assert_int_eq(IHostMalloc_Alloc(h, huge, eAppDomainCritical, &f), E_OUTOFMEMORY);
    ck_assert_ptr_null(f);
    f = (void *)1;
    ck_assert_int_eq(IHostMalloc_DebugAlloc(h, huge, eAppDomainCritical, file, 3, &f),
                     E_OUTOFMEMORY);
    ck_assert_ptr_null(f);
    /* Its blocks are a private heap's: the task allocator does not own them. */
    ck_assert_int_eq(ms_did_alloc(ms_get_malloc(), p), 0);
    ck_assert_int_eq(IHostMalloc_Free(h, p), S_OK);
    ck_assert_int_eq(IHostMalloc_Free(h, d), S_OK);
    ck_assert_int_eq(IHostMalloc_Free(h, NULL), S_OK);
    IHostMalloc_Release(h);
    IHostMalloc_Release(h2);
}
END_TEST

/* ---- programs: the C++ spy, and what the reports say -------------------------------- */

START_TEST(test_cxx_spy)
{
    const char *opts = getenv("MALLOCSPY_OPTIONS");
    char *argv[] = { (char *)prog_path("com_spy"), NULL };
    struct run r = spy(argv, opts ? opts : "", NULL);
    check_clean_exit(&r, "com_spy");
    ck_assert_str_eq(r.out, "OK\n");
    run_free(&r);
}
END_TEST

/* The README's port of the documents' sample: its spy sees the six blocks, finds every
 * header again, and is released by the last free after a pending revoke. */
START_TEST(test_sample_example)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tests/examples/com_spy_sample", BUILD_DIR);
    const char *opts = getenv("MALLOCSPY_OPTIONS");
    char *argv[] = { path, NULL };
    struct run r = spy(argv, opts ? opts : "", NULL);
    check_clean_exit(&r, "com_spy_sample");
    ck_assert_msg(strstr(r.out, "IMalloc::GetSize: 32 (asked 32)\n") &&
                  strstr(r.out, "before the frees: 6 allocation(s), 0 free(s), 6 live block(s)") &&
                  strstr(r.out, "CoRevokeMallocSpy: E_ACCESSDENIED") &&
                  strstr(r.out, "at the revoke: 6 allocation(s), 5 free(s), 1 live block(s) "
                                "of 64 byte(s), 0 bad header(s)") &&
                  strstr(r.out, "after the last free: 6 allocation(s), 6 free(s), 0 live "
                                "block(s) of 0 byte(s), 0 bad header(s)"),
                  "stdout:\n%s", r.out);
    run_free(&r);
}
END_TEST

static const char *const host_src = "com_host.c";

/* The one definite leak group with fn as frame 0, of `bytes`, at the marker's line. */
static const struct jval *leak_at(const struct jval *rep, const char *fn, double bytes,
                                  const char *marker)
{
    const struct jval *g[4];
    int n = entries_with(rep, "leaks", fn, 1, "definite", g, 4);
    ck_assert_msg(n == 1, "%d definite leak groups with %s as frame 0", n, fn);
    ck_assert_msg(jnum(g[0], "bytes") == bytes && jnum(g[0], "blocks") == 1,
                  "%s: %.0f byte(s) in %.0f block(s)", fn, jnum(g[0], "bytes"),
                  jnum(g[0], "blocks"));
    const struct jval *f0 = jget(g[0], "stack")->items[0];
    ck_assert_msg(is_src_file(jstr(f0, "file"), host_src), "%s: file %s", fn,
                  jstr(f0, "file"));
    ck_assert_int_eq((int)jnum(f0, "line"), marker_line(host_src, marker));
    return g[0];
}

START_TEST(test_reports)
{
    char *argv[] = { (char *)prog_path("com_host"), NULL };
    struct spied s = spy_reports(argv, "report=quiet", NULL, false);
    ck_assert_msg(s.r.status == 0 && !strcmp(s.r.out, "OK\n"), "status %d\n%s%s", s.r.status,
                  s.r.out, s.r.err);
    s.json = load_report(s.json_path);
    /* Stacks start in the program: CoTaskMemAlloc and the methods are no frames. */
    const struct jval *g;
    g = leak_at(s.json, "co_task_leak", 66, "/* CO-TASK */");
    ck_assert(jget(g, "heap")->type == J_NULL && jget(g, "tag")->type == J_NULL);
    g = leak_at(s.json, "co_realloc_leak", 99, "/* CO-REALLOC */");
    ck_assert(jget(g, "heap")->type == J_NULL);
    g = leak_at(s.json, "imalloc_leak", 88, "/* IMALLOC-ALLOC */");
    ck_assert(jget(g, "heap")->type == J_NULL);
    /* IHostMalloc: its heap, and DebugAlloc's file and line. */
    g = leak_at(s.json, "host_alloc_leak", 55, "/* HOST-ALLOC */");
    ck_assert_str_eq(jstr(g, "heap"), "IHostMalloc");
    ck_assert(jget(g, "tag")->type == J_NULL);
    g = leak_at(s.json, "host_debug_leak", 77, "/* HOST-DEBUG */");
    ck_assert_str_eq(jstr(g, "heap"), "IHostMalloc");
    ck_assert_str_eq(jstr(g, "tag.file"), "host_file.c");
    ck_assert_int_eq((int)jnum(g, "tag.line"), 4321);
    ck_assert_int_eq((int)jnum(s.json, "summary.definite_blocks"), 5);
    /* IHostMalloc::Free of a malloc'd block: reported where it was made, and ignored. */
    const struct jval *e = need_member(s.json, "errors", J_ARR);
    ck_assert_int_eq((int)e->n, 1);
    ck_assert_str_eq(jstr(e->items[0], "kind"), "wrong_heap");
    ck_assert_int_eq((int)jnum(e->items[0], "bytes"), 48);
    const struct jval *here = jpath(e->items[0], "stacks.here");
    ck_assert_int_eq(frame_index(here, "host_wrong_free", 1), 0);
    ck_assert_int_eq((int)jnum(here->items[0], "line"),
                     marker_line(host_src, "/* HOST-WRONG-FREE */"));
    spied_free(&s);
}
END_TEST

/* ---- the header, compiled ------------------------------------------------------------ */

/* Every name of the header, used as code written against objidl.h uses it: a spy with an
 * lpVtbl, COBJMACROS, the results in a switch; registered, used and revoked. */
static const char c_source[] =
    "#define COBJMACROS\n"
    "#include <mallocspy/com.h>\n"
    "typedef struct { IMallocSpy itf; ULONG refs; SIZE_T request; } Spy;\n"
    "static HRESULT STDMETHODCALLTYPE qi(IMallocSpy *This, REFIID riid, void **ppv)\n"
    "{\n"
    "    if (IsEqualIID(riid, &IID_IMallocSpy) || IsEqualIID(riid, &IID_IUnknown)) {\n"
    "        *ppv = This; IMallocSpy_AddRef(This); return S_OK;\n"
    "    }\n"
    "    *ppv = NULL; return E_NOINTERFACE;\n"
    "}\n"
    "static ULONG STDMETHODCALLTYPE add_ref(IMallocSpy *This) { return ++((Spy *)This)->refs; }\n"
    "static ULONG STDMETHODCALLTYPE release(IMallocSpy *This) { return --((Spy *)This)->refs; }\n"
    "static SIZE_T STDMETHODCALLTYPE pre_alloc(IMallocSpy *This, SIZE_T cb)\n"
    "{ ((Spy *)This)->request = cb; return cb; }\n"
    "static void *STDMETHODCALLTYPE post_alloc(IMallocSpy *This, void *p) { (void)This; return p; }\n"
    "static void *STDMETHODCALLTYPE pre_free(IMallocSpy *This, void *p, BOOL s)\n"
    "{ (void)This; (void)s; return p; }\n"
    "static void STDMETHODCALLTYPE post_free(IMallocSpy *This, BOOL s) { (void)This; (void)s; }\n"
    "static SIZE_T STDMETHODCALLTYPE pre_realloc(IMallocSpy *This, void *p, SIZE_T cb, void **pp,\n"
    "                                             BOOL s) { (void)This; (void)s; *pp = p; return cb; }\n"
    "static void *STDMETHODCALLTYPE post_realloc(IMallocSpy *This, void *p, BOOL s)\n"
    "{ (void)This; (void)s; return p; }\n"
    "static void *STDMETHODCALLTYPE pre_get_size(IMallocSpy *This, void *p, BOOL s)\n"
    "{ (void)This; (void)s; return p; }\n"
    "static SIZE_T STDMETHODCALLTYPE post_get_size(IMallocSpy *This, SIZE_T cb, BOOL s)\n"
    "{ (void)This; (void)s; return cb; }\n"
    "static void *STDMETHODCALLTYPE pre_did_alloc(IMallocSpy *This, void *p, BOOL s)\n"
    "{ (void)This; (void)s; return p; }\n"
    "static int STDMETHODCALLTYPE post_did_alloc(IMallocSpy *This, void *p, BOOL s, int a)\n"
    "{ (void)This; (void)p; (void)s; return a; }\n"
    "static void STDMETHODCALLTYPE pre_heap_minimize(IMallocSpy *This) { (void)This; }\n"
    "static void STDMETHODCALLTYPE post_heap_minimize(IMallocSpy *This) { (void)This; }\n"
    "static IMallocSpyVtbl vtbl = { qi, add_ref, release, pre_alloc, post_alloc, pre_free,\n"
    "    post_free, pre_realloc, post_realloc, pre_get_size, post_get_size, pre_did_alloc,\n"
    "    post_did_alloc, pre_heap_minimize, post_heap_minimize };\n"
    "static int known(HRESULT hr)\n"
    "{\n"
    "    switch (hr) {\n"
    "    case S_OK: case S_FALSE: case E_NOTIMPL: case E_NOINTERFACE: case E_POINTER:\n"
    "    case E_ACCESSDENIED: case E_OUTOFMEMORY: case E_INVALIDARG: case CO_E_OBJNOTREG:\n"
    "    case CO_E_OBJISREG: case HOST_E_INVALIDOPERATION: return 1;\n"
    "    default: return 0;\n"
    "    }\n"
    "}\n"
    "int main(void)\n"
    "{\n"
    "    Spy spy = { { &vtbl }, 1, 0 };\n"
    "    LPMALLOC m = NULL;\n"
    "    IHostMalloc *h = NULL;\n"
    "    void *hp = NULL;\n"
    "    char file[] = \"x.c\";\n"
    "    const IID *iids[] = { &IID_IUnknown, &IID_IMalloc, &IID_IMallocSpy, &IID_IHostMalloc };\n"
    "    GUID g = IID_IMalloc;\n"
    "    BOOL ok = IsEqualGUID(&g, iids[1]) ? TRUE : FALSE;\n"
    "    DWORD ctx = MEMCTX_TASK;\n"
    "    EMemoryCriticalLevel lvl = eTaskCritical;\n"
    "    LPMALLOCSPY ps = &spy.itf;\n"
    "    if (!ok || FAILED(CoGetMalloc(ctx, &m)) || !SUCCEEDED(CoRegisterMallocSpy(ps)))\n"
    "        return 1;\n"
    "    void *p = IMalloc_Alloc(m, 10);\n"
    "    p = CoTaskMemRealloc(p, 20);\n"
    "    if (IMalloc_GetSize(m, p) != 20 || IMalloc_DidAlloc(m, p) != 1 || spy.request != 10)\n"
    "        return 2;\n"
    "    IMalloc_HeapMinimize(m);\n"
    "    IMalloc_Free(m, p);\n"
    "    CoTaskMemFree(CoTaskMemAlloc(1));\n"
    "    if (ms_get_host_malloc(MALLOC_THREADSAFE, &h) != S_OK ||\n"
    "        IHostMalloc_DebugAlloc(h, 5, lvl, file, 1, &hp) != S_OK || IHostMalloc_Free(h, hp))\n"
    "        return 3;\n"
    "    IHostMalloc_Release(h);\n"
    "    IMalloc_Release(m);\n"
    "    HRESULT hr = CoRevokeMallocSpy();\n"
    "    return known(hr) && hr == S_OK && spy.refs == 1 && known(S_FALSE) ? 0 : 4;\n"
    "}\n";

/* The same in C++, as the documents' sample is written: a class deriving from IMallocSpy,
 * declared with STDMETHOD and defined with STDMETHODIMP. */
static const char cxx_source[] =
    "#include <mallocspy/com.h>\n"
    "class CSpy final : public IMallocSpy {\n"
    "public:\n"
    "    STDMETHOD(QueryInterface)(REFIID riid, void **ppv) override;\n"
    "    STDMETHOD_(ULONG, AddRef)() override { return ++refs; }\n"
    "    STDMETHOD_(ULONG, Release)() override { ULONG n = --refs; if (!n) delete this; return n; }\n"
    "    STDMETHOD_(SIZE_T, PreAlloc)(SIZE_T cb) override { request = cb; return cb; }\n"
    "    STDMETHOD_(void *, PostAlloc)(void *p) override { return p; }\n"
    "    STDMETHOD_(void *, PreFree)(void *p, BOOL) override { return p; }\n"
    "    STDMETHOD_(void, PostFree)(BOOL) override {}\n"
    "    STDMETHOD_(SIZE_T, PreRealloc)(void *p, SIZE_T cb, void **pp, BOOL) override\n"
    "    { *pp = p; return cb; }\n"
    "    STDMETHOD_(void *, PostRealloc)(void *p, BOOL) override { return p; }\n"
    "    STDMETHOD_(void *, PreGetSize)(void *p, BOOL) override { return p; }\n"
    "    STDMETHOD_(SIZE_T, PostGetSize)(SIZE_T cb, BOOL) override { return cb; }\n"
    "    STDMETHOD_(void *, PreDidAlloc)(void *p, BOOL) override { return p; }\n"
    "    STDMETHOD_(int, PostDidAlloc)(void *, BOOL, int a) override { return a; }\n"
    "    STDMETHOD_(void, PreHeapMinimize)() override {}\n"
    "    STDMETHOD_(void, PostHeapMinimize)() override {}\n"
    "    ULONG refs = 1;\n"
    "    SIZE_T request = 0;\n"
    "};\n"
    "STDMETHODIMP CSpy::QueryInterface(REFIID riid, void **ppv)\n"
    "{\n"
    "    if (riid == IID_IMallocSpy || IsEqualIID(riid, IID_IUnknown)) {\n"
    "        *ppv = static_cast<IMallocSpy *>(this); AddRef(); return S_OK;\n"
    "    }\n"
    "    *ppv = nullptr;\n"
    "    return riid != IID_IMalloc ? E_NOINTERFACE : E_NOINTERFACE;\n"
    "}\n"
    "int main()\n"
    "{\n"
    "    CSpy *spy = new CSpy;\n"
    "    IMalloc *m = nullptr;\n"
    "    IHostMalloc *h = nullptr;\n"
    "    if (CoGetMalloc(MEMCTX_TASK, &m) != S_OK || CoRegisterMallocSpy(spy) != S_OK)\n"
    "        return 1;\n"
    "    int *n = new int(4);\n"
    "    void *p = m->Alloc(12);\n"
    "    if (spy->request != 12 || m->GetSize(p) != 12 || m->DidAlloc(p) != 1)\n"
    "        return 2;\n"
    "    m->Free(p);\n"
    "    delete n;\n"
    "    m->HeapMinimize();\n"
    "    if (ms_get_host_malloc(0, &h) != S_OK || h->Alloc(3, eAppDomainCritical, &p) != S_OK ||\n"
    "        h->Free(p) != S_OK)\n"
    "        return 3;\n"
    "    h->Release();\n"
    "    m->Release();\n"
    "    if (CoRevokeMallocSpy() != S_OK || spy->refs != 1)\n"
    "        return 4;\n"
    "    spy->Release();\n"
    "    return 0;\n"
    "}\n";

/* A program with its own COM layer: MALLOCSPY_COM_FUNCTIONS_ONLY takes only the
 * functions, declared with the program's names (-DBAD_HRESULT: a 64-bit HRESULT). */
static const char own_c_source[] =
    "#include <stddef.h>\n"
    "#include <stdint.h>\n"
    "#ifdef BAD_HRESULT\n"
    "typedef long HRESULT;\n"
    "#else\n"
    "typedef int32_t HRESULT;\n"
    "#endif\n"
    "typedef uint32_t DWORD, ULONG;\n"
    "typedef size_t SIZE_T;\n"
    "typedef int BOOL;\n"
    "typedef struct IMalloc { const struct IMallocVtbl *lpVtbl; } IMalloc;\n"
    "typedef struct IMallocSpy { const void *lpVtbl; } IMallocSpy;\n"
    "#include <mallocspy/com.h>\n"
    "int main(void)\n"
    "{\n"
    "    IMalloc *m = NULL;\n"
    "    struct IHostMalloc *h = NULL;\n"
    "    CoTaskMemFree(CoTaskMemRealloc(CoTaskMemAlloc(1), 2));\n"
    "    return CoGetMalloc(1, &m) == 0 && m && ms_get_host_malloc(0, &h) == 0 &&\n"
    "           CoRevokeMallocSpy() != 0 && CoRegisterMallocSpy(NULL) != 0 ? 0 : 1;\n"
    "}\n";

static const char own_cxx_source[] =
    "#include <cstddef>\n"
    "#include <cstdint>\n"
    "typedef std::int32_t HRESULT;\n"
    "typedef std::uint32_t DWORD, ULONG;\n"
    "typedef std::size_t SIZE_T;\n"
    "typedef int BOOL;\n"
    "struct GUID { std::uint32_t a; std::uint16_t b, c; unsigned char d[8]; };\n"
    "struct IUnknown {\n"
    "    virtual HRESULT QueryInterface(const GUID &, void **) = 0;\n"
    "    virtual ULONG AddRef() = 0;\n"
    "    virtual ULONG Release() = 0;\n"
    "};\n"
    "struct IMalloc : IUnknown { virtual void *Alloc(SIZE_T) = 0; };\n"
    "struct IMallocSpy : IUnknown {};\n"
    "#include <mallocspy/com.h>\n"
    "int main()\n"
    "{\n"
    "    IMalloc *m = nullptr;\n"
    "    return CoGetMalloc(1, &m) == 0 && m ? 0 : 1;\n"
    "}\n";

struct compiler {
    const char *cmd;
    const char *std;
    bool cxx;
};

/* Compiles (and links) src with -Wall -Wextra -Werror -pedantic; the run's result. */
static struct run compile(const struct compiler *c, const char *src, const char *name,
                          const char *define, const char *define2, char *exe, size_t cap)
{
    char path[PATH_MAX + 64], inc[PATH_MAX + 16], lib[PATH_MAX + 16], rpath[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s", tmp_path(name));
    ck_assert(write_file(path, src));
    snprintf(exe, cap, "%s.out", path);
    snprintf(inc, sizeof inc, "-I%s", repo_file("include"));
    snprintf(lib, sizeof lib, "-L%s", BUILD_DIR);
    snprintf(rpath, sizeof rpath, "-Wl,-rpath,%s", BUILD_DIR);
    char *argv[20] = { (char *)c->cmd, (char *)c->std, "-Wall", "-Wextra", "-Werror",
                       "-pedantic", inc };
    int k = 7;
    if (define)
        argv[k++] = (char *)define;
    if (define2)
        argv[k++] = (char *)define2;
    argv[k++] = "-x";
    argv[k++] = c->cxx ? "c++" : "c";
    argv[k++] = path;
    argv[k++] = "-x";
    argv[k++] = "none";
    argv[k++] = "-o";
    argv[k++] = exe;
    argv[k++] = lib;
    argv[k++] = rpath;
    argv[k++] = "-lmallocspy";
    argv[k] = NULL;
    return run_tool(argv, NULL);
}

static const struct compiler compilers[] = {
    { "gcc", "-std=c11", false }, { "g++", "-std=c++11", true }, { "g++", "-std=c++17", true },
    { "clang", "-std=c11", false }, { "clang++", "-std=c++11", true },
    { "clang++", "-std=c++17", true },
};
#define NCOMPILERS (sizeof compilers / sizeof compilers[0])

START_TEST(test_header_compiles)
{
    const struct compiler *c = &compilers[_i];
    if (!have_cmd(c->cmd)) {
        ck_assert_msg(strncmp(c->cmd, "clang", 5) == 0, "%s is missing", c->cmd);
        return;     /* clang is optional here (CI builds with it) */
    }
    char exe[PATH_MAX + 80];
    struct run r = compile(c, c->cxx ? cxx_source : c_source, c->cxx ? "use.cc" : "use.c", NULL,
                           NULL, exe, sizeof exe);
    ck_assert_msg(r.status == 0, "%s %s: status %d\n%s", c->cmd, c->std, r.status, r.err);
    run_free(&r);
    /* It runs, under the preload or not (the program links the library). */
    char *argv[] = { exe, NULL };
    r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "%s %s: the program exited with %d\n%s", c->cmd, c->std,
                  r.status, r.err);
    run_free(&r);
}
END_TEST

START_TEST(test_functions_only)
{
    const struct compiler *c = &compilers[_i];
    if (!have_cmd(c->cmd))
        return;
    const char *src = c->cxx ? own_cxx_source : own_c_source;
    const char *name = c->cxx ? "own.cc" : "own.c";
    char exe[PATH_MAX + 80];
    struct run r = compile(c, src, name, "-DMALLOCSPY_COM_FUNCTIONS_ONLY", NULL, exe,
                           sizeof exe);
    ck_assert_msg(r.status == 0, "%s %s: status %d\n%s", c->cmd, c->std, r.status, r.err);
    run_free(&r);
    char *argv[] = { exe, NULL };
    r = run_tool(argv, NULL);
    ck_assert_msg(r.status == 0, "%s %s: the program exited with %d", c->cmd, c->std,
                  r.status);
    run_free(&r);
    /* The control: without the macro the program's names and the header's collide. */
    r = compile(c, src, name, NULL, NULL, exe, sizeof exe);
    ck_assert_msg(r.status != 0, "%s %s: compiled without MALLOCSPY_COM_FUNCTIONS_ONLY", c->cmd,
                  c->std);
    run_free(&r);
    /* And a program whose HRESULT is not the library's is stopped at compile time. */
    if (!c->cxx) {
        r = compile(c, src, name, "-DMALLOCSPY_COM_FUNCTIONS_ONLY", "-DBAD_HRESULT", exe,
                    sizeof exe);
        ck_assert_msg(r.status != 0 && strstr(r.err, "HRESULT must be a signed 32-bit integer"),
                      "%s %s: status %d\n%s", c->cmd, c->std, r.status, r.err);
        run_free(&r);
    }
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("com");
    TCase *k = tcase_create("constants");
    tcase_add_test(k, test_constants);
    suite_add_tcase(s, k);
    TCase *r = tcase_create("register");
    tcase_add_test(r, test_register_results);
    tcase_add_test(r, test_register_incomplete_vtable);
    tcase_add_test(r, test_register_out_of_room);
    tcase_add_test(r, test_reference_counts);
    tcase_add_test(r, test_revoke_while_blocks_live);
    tcase_add_test(r, test_release_on_the_last_free);
    tcase_add_test(r, test_revoke_from_a_method);
    tcase_add_test(r, test_register_from_release);
    suite_add_tcase(s, r);
    TCase *h = tcase_create("methods");
    tcase_add_test(h, test_fspyed);
    tcase_add_test(h, test_header_spy);
    tcase_add_test(h, test_each_method_once);
    tcase_add_test(h, test_forced_failure);
    tcase_add_test(h, test_nests_with_ms_spies);
    tcase_add_test(h, test_alignment_kept);
    suite_add_tcase(s, h);
    TCase *p = tcase_create("pairs");
    tcase_set_timeout(p, 60);
    tcase_add_test(p, test_pre_post_pairs_are_serialized);
    tcase_add_test(p, test_unpaired_control);
    tcase_add_test(p, test_fork);
    suite_add_tcase(s, p);
    TCase *m = tcase_create("imalloc");
    tcase_add_test(m, test_co_get_malloc);
    tcase_add_test(m, test_imalloc_contract);
    tcase_add_test(m, test_did_alloc_with_a_spy);
    tcase_add_test(m, test_host_malloc);
    suite_add_tcase(s, m);
    TCase *g = tcase_create("programs");
    tcase_set_timeout(g, 120);
    tcase_add_test(g, test_cxx_spy);
    tcase_add_test(g, test_sample_example);
    tcase_add_test(g, test_reports);
    tcase_add_loop_test(g, test_header_compiles, 0, (int)NCOMPILERS);
    tcase_add_loop_test(g, test_functions_only, 0, (int)NCOMPILERS);
    suite_add_tcase(s, g);
    return s;
}

int main(void)
{
    return run_suite(suite());
}
