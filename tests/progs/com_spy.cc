// An IMallocSpy written in C++ the way COM's documents show one: a class deriving from
// IMallocSpy that adds a header (a signature and the size asked for) in PreAlloc and
// PostAlloc, finds it again in PreFree, PreRealloc, PreGetSize and PreDidAlloc, and
// counts.  Registered with CoRegisterMallocSpy, it must see malloc, operator new and
// CoTaskMemAlloc alike; revoked while a block is live it answers E_ACCESSDENIED and is
// released when that block is freed.  For check_com.c: prints "OK" when every check
// holds, "FAIL <line>: <check>" at the first that does not.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "mallocspy/com.h"
#include "progutil.h"

// What the spy puts before each block.  16 bytes: the program's blocks keep malloc's
// 16-byte alignment (see PORTING in mallocspy-com(3)).
struct Header {
    uint64_t signature;
    uint64_t size;       // what the caller asked for
};
static const uint64_t SIGNATURE = 0x5350594D414C4C4Full;   // "OLLAMYPS"

class CMallocSpy final : public IMallocSpy {
public:
    ULONG refs = 1;           // the creator's reference
    int releases = 0;         // Release calls
    int query_spy = 0;        // QueryInterface calls for IID_IMallocSpy
    int query_other = 0;      // for anything else
    long allocs = 0, frees = 0, reallocs = 0, sizes = 0, dids = 0, minimizes = 0;
    long unspied_frees = 0;   // frees of blocks allocated before the spy was registered
    long bad_headers = 0;     // a spied block whose header was not ours
    bool *deleted = nullptr;  // set by the destructor

    ~CMallocSpy() { if (deleted) *deleted = true; }

    // IUnknown
    STDMETHODIMP QueryInterface(REFIID riid, void **ppv) override
    {
        if (riid == IID_IMallocSpy || riid == IID_IUnknown) {
            if (riid == IID_IMallocSpy)
                query_spy++;
            *ppv = static_cast<IMallocSpy *>(this);
            AddRef();
            return S_OK;
        }
        query_other++;
        *ppv = nullptr;
        return E_NOINTERFACE;
    }
    STDMETHODIMP_(ULONG) AddRef() override { return ++refs; }
    STDMETHODIMP_(ULONG) Release() override
    {
        releases++;
        ULONG n = --refs;
        if (n == 0)
            delete this;      // inside CoRevokeMallocSpy or the last free: memory we free
        return n;             // here goes straight to the real allocator
    }

    // IMallocSpy: COM calls each Pre method and its Post method with no other thread's
    // calls in between, so the request may wait in a member.
    STDMETHODIMP_(SIZE_T) PreAlloc(SIZE_T cbRequest) override
    {
        m_cbRequest = cbRequest;
        return cbRequest + sizeof(Header);
    }
    STDMETHODIMP_(void *) PostAlloc(void *pActual) override
    {
        if (!pActual)
            return nullptr;
        allocs++;
        return put_header(pActual, m_cbRequest);
    }
    STDMETHODIMP_(void *) PreFree(void *pRequest, BOOL fSpyed) override
    {
        if (!fSpyed) {
            unspied_frees++;
            return pRequest;
        }
        Header *h = header_of(pRequest);
        h->signature = 0;
        return h;
    }
    STDMETHODIMP_(void) PostFree(BOOL fSpyed) override
    {
        if (fSpyed)
            frees++;
    }
    STDMETHODIMP_(SIZE_T) PreRealloc(void *pRequest, SIZE_T cbRequest, void **ppNewRequest,
                                     BOOL fSpyed) override
    {
        m_cbRequest = cbRequest;
        *ppNewRequest = fSpyed ? static_cast<void *>(header_of(pRequest)) : pRequest;
        return cbRequest + sizeof(Header);
    }
    STDMETHODIMP_(void *) PostRealloc(void *pActual, BOOL) override
    {
        if (!pActual)
            return nullptr;
        reallocs++;
        return put_header(pActual, m_cbRequest);    // spied from now on, either way
    }
    STDMETHODIMP_(void *) PreGetSize(void *pRequest, BOOL fSpyed) override
    {
        sizes++;
        return fSpyed ? static_cast<void *>(header_of(pRequest)) : pRequest;
    }
    STDMETHODIMP_(SIZE_T) PostGetSize(SIZE_T cbActual, BOOL fSpyed) override
    {
        return fSpyed ? cbActual - sizeof(Header) : cbActual;
    }
    STDMETHODIMP_(void *) PreDidAlloc(void *pRequest, BOOL fSpyed) override
    {
        dids++;
        return fSpyed ? static_cast<void *>(header_of(pRequest)) : pRequest;
    }
    STDMETHODIMP_(int) PostDidAlloc(void *, BOOL, int fActual) override { return fActual; }
    STDMETHODIMP_(void) PreHeapMinimize() override { minimizes++; }
    STDMETHODIMP_(void) PostHeapMinimize() override {}

    // The header of a block the program holds: what the spy wrote, or counted as bad.
    Header *header_of(void *p)
    {
        Header *h = static_cast<Header *>(p) - 1;
        if (h->signature != SIGNATURE)
            bad_headers++;
        return h;
    }

private:
    SIZE_T m_cbRequest = 0;

    static void *put_header(void *actual, SIZE_T size)
    {
        Header *h = static_cast<Header *>(actual);
        h->signature = SIGNATURE;
        h->size = size;
        return h + 1;
    }
};

struct Widget {
    char name[40];
};

void *volatile sink;     // keeps the compiler from eliding allocations

// The header the spy put before p records `size`.
static bool has_header(const void *p, size_t size)
{
    const Header *h = static_cast<const Header *>(p) - 1;
    return h->signature == SIGNATURE && h->size == size;
}

int main()
{
    IMalloc *task = nullptr;
    CHECK(CoGetMalloc(MEMCTX_TASK, &task) == S_OK && task);

    char *before = static_cast<char *>(malloc(24));    // before the spy: not spied
    sink = before;

    bool deleted = false;
    CMallocSpy *spy = new CMallocSpy;
    spy->deleted = &deleted;
    CHECK(CoRegisterMallocSpy(spy) == S_OK);
    // CoRegisterMallocSpy asked for IID_IMallocSpy, and that QueryInterface's AddRef is
    // the one reference the registration holds.
    CHECK(spy->query_spy == 1);
    CHECK(spy->refs == 2);

    // malloc, operator new, new[], CoTaskMemAlloc, IMalloc::Alloc and calloc alike.
    char *m = static_cast<char *>(malloc(100));
    Widget *w = new Widget;
    char *arr = new char[17];
    void *t = CoTaskMemAlloc(33);
    void *a = task->Alloc(44);
    void *c = calloc(3, 5);
    sink = m;
    sink = w;
    sink = arr;
    sink = t;
    sink = a;
    sink = c;
    CHECK(spy->allocs == 6);
    CHECK(has_header(m, 100));
    CHECK(has_header(w, sizeof(Widget)));
    CHECK(has_header(arr, 17));
    CHECK(has_header(t, 33));
    CHECK(has_header(a, 44));
    CHECK(has_header(c, 15));
    CHECK((reinterpret_cast<uintptr_t>(m) & 15) == 0);
    for (int i = 0; i < 15; i++)
        CHECK(static_cast<char *>(c)[i] == 0);      // calloc zeroes what the caller sees
    memset(m, 'm', 100);
    memset(static_cast<void *>(w), 'w', sizeof *w);

    // IMalloc::GetSize: the size asked for (the spy takes its header off the real size).
    CHECK(task->GetSize(m) == 100);
    CHECK(task->GetSize(w) == sizeof(Widget));
    CHECK(task->GetSize(t) == 33);
    CHECK(task->GetSize(c) == 15);
    CHECK(spy->sizes == 4);
    CHECK(task->DidAlloc(t) == 1);
    CHECK(task->DidAlloc(m) == 1);
    CHECK(spy->dids == 2);

    // Realloc finds the header, keeps the data, writes a new header.
    m = static_cast<char *>(realloc(m, 5000));
    sink = m;
    CHECK(m && has_header(m, 5000));
    for (int i = 0; i < 100; i++)
        CHECK(m[i] == 'm');
    t = CoTaskMemRealloc(t, 70);
    sink = t;
    CHECK(t && has_header(t, 70));
    CHECK(task->GetSize(t) == 70);
    CHECK(spy->reallocs == 2);

    // A block allocated before the registration comes with fSpyed FALSE.
    free(before);
    CHECK(spy->unspied_frees == 1);

    task->HeapMinimize();
    CHECK(spy->minimizes == 1);

    // Everything freed but one block, by the matching call each.
    free(m);
    delete w;
    delete[] arr;
    task->Free(a);
    CoTaskMemFree(t);
    CHECK(spy->frees == 5);
    CHECK(spy->bad_headers == 0);

    // Revoked while c is live: E_ACCESSDENIED, and not released yet.
    CHECK(CoRevokeMallocSpy() == E_ACCESSDENIED);
    CHECK(spy->releases == 0 && spy->refs == 2);
    // Still registered as far as registering another goes; asking again changes nothing.
    CMallocSpy *other = new CMallocSpy;
    CHECK(CoRegisterMallocSpy(other) == CO_E_OBJISREG);
    CHECK(other->query_spy == 0 && other->refs == 1);
    CHECK(CoRevokeMallocSpy() == E_ACCESSDENIED);
    // Beyond COM: a spy whose revoke is pending sees no new allocation.
    long seen = spy->allocs;
    void *later = malloc(8);
    sink = later;
    free(later);
    CHECK(spy->allocs == seen);

    // The last block freed: its header found, then the spy released, exactly once.
    free(c);
    CHECK(spy->frees == 6);
    CHECK(spy->bad_headers == 0);
    CHECK(spy->releases == 1 && spy->refs == 1);
    CHECK(spy->Release() == 0 && deleted);         // ours: the spy deletes itself

    // Gone: another may register, and a revoke with nothing live releases at once.
    CHECK(CoRegisterMallocSpy(other) == S_OK);
    CHECK(other->refs == 2);
    CHECK(CoRevokeMallocSpy() == S_OK);
    CHECK(other->releases == 1 && other->refs == 1);
    CHECK(CoRevokeMallocSpy() == CO_E_OBJNOTREG);
    other->Release();
    task->Release();
    printf("OK\n");
    return 0;
}
