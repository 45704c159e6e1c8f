/*
 * com_spy_sample.cc - the IMallocSpy of COM's documents, ported to Linux.
 *
 * COM's documents describe a malloc spy as a class implementing IMallocSpy: PreAlloc asks
 * for room for a header, PostAlloc writes a signature and the size asked for into it and
 * hands out the memory after it, and PreFree, PreRealloc, PreGetSize and PreDidAlloc find
 * the header again, so that the spy can count what is live and notice a block it did not
 * make.  This is that spy written as a Windows program writes it; the lines that changed
 * for Linux are marked "PORT:", and there are three.  Build and run:
 *
 *     make build/tests/examples/com_spy_sample && build/tests/examples/com_spy_sample
 *     c++ -o com_spy_sample com_spy_sample.cc -lmallocspy          (after make install)
 *
 * It sees malloc, operator new and CoTaskMemAlloc alike, since on Linux they are one heap.
 */
#include "mallocspy/com.h"   // PORT: instead of <objbase.h>
#include <atomic>            // PORT: std::atomic instead of InterlockedIncrement
#include <cstdio>
#include <cstdlib>
#include <cstring>

class CMallocSpy : public IMallocSpy {
public:
    CMallocSpy() : m_cRef(1), m_cbRequest(0), m_cAllocs(0), m_cFrees(0), m_cBad(0), m_cbLive(0),
                   m_cLive(0) {}
    virtual ~CMallocSpy() {}

    // IUnknown
    STDMETHOD(QueryInterface)(REFIID riid, LPVOID *ppUnk);
    STDMETHOD_(ULONG, AddRef)(void);
    STDMETHOD_(ULONG, Release)(void);

    // IMallocSpy
    STDMETHOD_(SIZE_T, PreAlloc)(SIZE_T cbRequest);
    STDMETHOD_(LPVOID, PostAlloc)(LPVOID pActual);
    STDMETHOD_(LPVOID, PreFree)(LPVOID pRequest, BOOL fSpyed);
    STDMETHOD_(void, PostFree)(BOOL fSpyed);
    STDMETHOD_(SIZE_T, PreRealloc)(LPVOID pRequest, SIZE_T cbRequest, LPVOID *ppNewRequest,
                                   BOOL fSpyed);
    STDMETHOD_(LPVOID, PostRealloc)(LPVOID pActual, BOOL fSpyed);
    STDMETHOD_(LPVOID, PreGetSize)(LPVOID pRequest, BOOL fSpyed);
    STDMETHOD_(SIZE_T, PostGetSize)(SIZE_T cbActual, BOOL fSpyed);
    STDMETHOD_(LPVOID, PreDidAlloc)(LPVOID pRequest, BOOL fSpyed);
    STDMETHOD_(int, PostDidAlloc)(LPVOID pRequest, BOOL fSpyed, int fActual);
    STDMETHOD_(void, PreHeapMinimize)(void);
    STDMETHOD_(void, PostHeapMinimize)(void);

    void Report(const char *when) const
    {
        printf("%s: %lu allocation(s), %lu free(s), %lu live block(s) of %lu byte(s), "
               "%lu bad header(s)\n", when, (unsigned long)m_cAllocs, (unsigned long)m_cFrees,
               (unsigned long)m_cLive, (unsigned long)m_cbLive, (unsigned long)m_cBad);
    }

private:
    // 16 bytes, on Linux as on 64-bit Windows: the block after it keeps malloc's alignment.
    struct HEADER {
        DWORD dwSignature;
        DWORD dwReserved;
        SIZE_T cbRequest;
    };
    static const DWORD SIGNATURE = 0x5350594D;   // 'MYPS'

    HEADER *HeaderOf(LPVOID pRequest)
    {
        HEADER *pHeader = (HEADER *)pRequest - 1;
        if (pHeader->dwSignature != SIGNATURE)
            m_cBad++;
        return pHeader;
    }
    LPVOID PutHeader(LPVOID pActual)
    {
        HEADER *pHeader = (HEADER *)pActual;
        pHeader->dwSignature = SIGNATURE;
        pHeader->dwReserved = 0;
        pHeader->cbRequest = m_cbRequest;
        m_cLive++;
        m_cbLive += m_cbRequest;
        return pHeader + 1;
    }

    std::atomic<ULONG> m_cRef;   // PORT: was a LONG for InterlockedIncrement
    SIZE_T m_cbRequest;          // from a Pre method to its Post: COM runs the pair alone
    ULONG m_cAllocs, m_cFrees, m_cBad;
    SIZE_T m_cbLive;
    ULONG m_cLive;
};

STDMETHODIMP CMallocSpy::QueryInterface(REFIID riid, LPVOID *ppUnk)
{
    if (IsEqualIID(riid, IID_IUnknown) || IsEqualIID(riid, IID_IMallocSpy)) {
        *ppUnk = static_cast<IMallocSpy *>(this);
        AddRef();
        return S_OK;
    }
    *ppUnk = NULL;
    return E_NOINTERFACE;
}

STDMETHODIMP_(ULONG) CMallocSpy::AddRef(void) { return ++m_cRef; }

STDMETHODIMP_(ULONG) CMallocSpy::Release(void)
{
    ULONG cRef = --m_cRef;
    if (cRef == 0)
        delete this;
    return cRef;
}

STDMETHODIMP_(SIZE_T) CMallocSpy::PreAlloc(SIZE_T cbRequest)
{
    m_cbRequest = cbRequest;
    return cbRequest + sizeof(HEADER);
}

STDMETHODIMP_(LPVOID) CMallocSpy::PostAlloc(LPVOID pActual)
{
    if (pActual == NULL)     // the allocation failed
        return NULL;
    m_cAllocs++;
    return PutHeader(pActual);
}

STDMETHODIMP_(LPVOID) CMallocSpy::PreFree(LPVOID pRequest, BOOL fSpyed)
{
    if (!fSpyed || pRequest == NULL)   // allocated before the spy: no header
        return pRequest;
    HEADER *pHeader = HeaderOf(pRequest);
    pHeader->dwSignature = 0;
    m_cLive--;
    m_cbLive -= pHeader->cbRequest;
    return pHeader;
}

STDMETHODIMP_(void) CMallocSpy::PostFree(BOOL fSpyed)
{
    if (fSpyed)
        m_cFrees++;
}

STDMETHODIMP_(SIZE_T) CMallocSpy::PreRealloc(LPVOID pRequest, SIZE_T cbRequest,
                                             LPVOID *ppNewRequest, BOOL fSpyed)
{
    m_cbRequest = cbRequest;
    if (fSpyed && pRequest != NULL) {
        HEADER *pHeader = HeaderOf(pRequest);
        m_cLive--;
        m_cbLive -= pHeader->cbRequest;
        *ppNewRequest = pHeader;
    } else {
        *ppNewRequest = pRequest;
    }
    return cbRequest + sizeof(HEADER);
}

STDMETHODIMP_(LPVOID) CMallocSpy::PostRealloc(LPVOID pActual, BOOL)
{
    if (pActual == NULL)
        return NULL;
    return PutHeader(pActual);
}

STDMETHODIMP_(LPVOID) CMallocSpy::PreGetSize(LPVOID pRequest, BOOL fSpyed)
{
    return fSpyed ? (LPVOID)HeaderOf(pRequest) : pRequest;
}

STDMETHODIMP_(SIZE_T) CMallocSpy::PostGetSize(SIZE_T cbActual, BOOL fSpyed)
{
    return fSpyed ? cbActual - sizeof(HEADER) : cbActual;
}

STDMETHODIMP_(LPVOID) CMallocSpy::PreDidAlloc(LPVOID pRequest, BOOL fSpyed)
{
    return fSpyed ? (LPVOID)HeaderOf(pRequest) : pRequest;
}

STDMETHODIMP_(int) CMallocSpy::PostDidAlloc(LPVOID, BOOL, int fActual) { return fActual; }

STDMETHODIMP_(void) CMallocSpy::PreHeapMinimize(void) {}

STDMETHODIMP_(void) CMallocSpy::PostHeapMinimize(void) {}

struct Record {
    char name[24];
    Record *next;
};

int main()
{
    // stdout's buffer is allocated by the first printf: before the spy, not one of its blocks.
    printf("a COM malloc spy, registered with CoRegisterMallocSpy\n");

    CMallocSpy *pSpy = new CMallocSpy;
    HRESULT hr = CoRegisterMallocSpy(pSpy);
    if (FAILED(hr)) {
        fprintf(stderr, "CoRegisterMallocSpy: 0x%08x\n", (unsigned)hr);
        return 1;
    }

    // The task allocator, operator new and malloc, all through the spy.
    IMalloc *pMalloc = NULL;
    CoGetMalloc(MEMCTX_TASK, &pMalloc);
    char *psz = (char *)pMalloc->Alloc(32);
    strcpy(psz, "task memory");
    printf("IMalloc::GetSize: %lu (asked 32)\n", (unsigned long)pMalloc->GetSize(psz));
    Record *pList = NULL;
    for (int i = 0; i < 3; i++) {
        Record *r = new Record;
        snprintf(r->name, sizeof r->name, "record %d", i);
        r->next = pList;
        pList = r;
    }
    char *pBuf = (char *)malloc(100);
    pBuf = (char *)realloc(pBuf, 1000);
    void *pKept = CoTaskMemAlloc(64);     // still live at the revoke
    pSpy->Report("before the frees");

    while (pList) {
        Record *next = pList->next;
        delete pList;
        pList = next;
    }
    free(pBuf);
    pMalloc->Free(psz);
    pMalloc->Release();

    hr = CoRevokeMallocSpy();
    if (hr == E_ACCESSDENIED)
        printf("CoRevokeMallocSpy: E_ACCESSDENIED, a block is still live; the spy is "
               "released when it is freed\n");
    pSpy->Report("at the revoke");

    CoTaskMemFree(pKept);                 // the last block: COM releases the spy now
    pSpy->Report("after the last free");
    pSpy->Release();                      // ours: the spy goes
    return 0;
}
