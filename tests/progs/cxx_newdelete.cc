// C++ allocations through mallocspy: operator new/delete reach the interposed malloc and
// free, so a spy registered from code sees the exact pointers new returns and delete
// frees.  Prints "ok ..." and exits 0 when it does; prints what went wrong and exits 1.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "mallocspy.h"

namespace {

// Pointers and sizes the spy saw; the program is single-threaded but hooks use atomics
// for the counts all the same.
const int MAXREC = 1 << 16;
struct rec { void *p; size_t size; };
rec allocs[MAXREC];
void *frees[MAXREC];
std::atomic<int> nalloc{0}, nfree{0};
std::atomic<long> kind_malloc{0};

void *post_alloc(ms_spy *, void *actual)
{
    const ms_call *c = ms_spy_call();
    if (c && c->kind == MS_CALL_MALLOC)
        kind_malloc++;
    int i = nalloc++;
    if (i < MAXREC)
        allocs[i] = rec{ actual, c ? c->request : 0 };
    return actual;
}

void *pre_free(ms_spy *, void *request, bool)
{
    int i = nfree++;
    if (i < MAXREC)
        frees[i] = request;
    return request;
}

// The size the spy recorded for exactly p; (size_t)-1 if it never saw p.
size_t seen_alloc(const void *p)
{
    for (int i = std::min(nalloc.load(), MAXREC); i-- > 0;)
        if (allocs[i].p == p)
            return allocs[i].size;
    return (size_t)-1;
}

// True if p lies inside a block the spy saw allocated.
bool inside_seen(const void *p)
{
    for (int i = std::min(nalloc.load(), MAXREC); i-- > 0;) {
        const char *b = (const char *)allocs[i].p;
        if (b && (const char *)p >= b && (const char *)p < b + allocs[i].size)
            return true;
    }
    return false;
}

bool seen_free(const void *p)
{
    for (int i = std::min(nfree.load(), MAXREC); i-- > 0;)
        if (frees[i] == p)
            return true;
    return false;
}

int errors;
#define FAIL(...) do { std::fprintf(stderr, __VA_ARGS__); std::fputc('\n', stderr); \
                       errors++; } while (0)

struct spy_holder { ms_spy base; } the_spy;
ms_spy_ops ops;

}  // namespace

int main()
{
    std::printf("cxx_newdelete\n");
    std::fflush(stdout);   // stdout's buffer exists before the spy does
    ops.post_alloc = post_alloc;
    ops.pre_free = pre_free;
    the_spy.base.ops = &ops;
    if (ms_register_spy(&the_spy.base) != MS_OK) {
        std::fprintf(stderr, "ms_register_spy failed\n");
        return 1;
    }

    // new[] / delete[]
    int *arr = new int[100];
    for (int i = 0; i < 100; i++)
        arr[i] = i;
    if (seen_alloc(arr) != 100 * sizeof(int))
        FAIL("new int[100] = %p: spy saw size %zu", (void *)arr, seen_alloc(arr));
    delete[] arr;
    if (!seen_free(arr))
        FAIL("delete[] %p not seen by pre_free", (void *)arr);

    // new / delete of an object, and the heap storage of a long std::string
    std::string *s = new std::string(300, 'x');
    const void *sdata = s->data();
    if (seen_alloc(s) != sizeof(std::string))
        FAIL("new std::string = %p: spy saw size %zu", (void *)s, seen_alloc(s));
    if (seen_alloc(sdata) == (size_t)-1 || seen_alloc(sdata) < 301)
        FAIL("std::string storage %p: spy saw size %zu", sdata, seen_alloc(sdata));
    delete s;
    if (!seen_free(sdata))
        FAIL("std::string storage %p not seen freed", sdata);
    if (!seen_free(s))
        FAIL("delete of std::string %p not seen", (void *)s);

    // Containers: every node and buffer goes through the spy.
    long sum = 0;
    {
        std::vector<std::string> v;
        std::map<int, std::string> m;
        std::unordered_map<std::string, int> u;
        for (int i = 0; i < 5000; i++) {
            std::string k = "key-" + std::to_string(i) + std::string(i % 50, 'k');
            v.push_back(k);
            m[i] = k;
            u[k] = i;
        }
        if (!inside_seen(v.data()))
            FAIL("vector buffer %p not seen", (void *)v.data());
        for (auto &e : m)
            sum += (long)e.second.size();
        for (auto &e : u)
            sum += e.second;
        for (int i = 0; i < 5000; i += 2)
            m.erase(i);
        sum += (long)m.size();
    }

    // An exception: its object is allocated by __cxa_allocate_exception (malloc).
    int before = nalloc.load();
    bool caught = false;
    try {
        throw std::runtime_error(std::string(200, 'e'));
    } catch (const std::runtime_error &e) {
        caught = std::strlen(e.what()) == 200;
        if (!inside_seen(&e))
            FAIL("exception object %p not inside a block the spy saw", (const void *)&e);
    }
    if (!caught)
        FAIL("exception not caught");
    if (nalloc.load() <= before)
        FAIL("throwing allocated nothing the spy saw");

    int rv = ms_revoke_spy(&the_spy.base);
    if (rv != MS_OK && rv != MS_E_PENDING)
        FAIL("ms_revoke_spy: %d", rv);
    if (kind_malloc.load() == 0)
        FAIL("no hook ran for MS_CALL_MALLOC");
    if (nfree.load() == 0)
        FAIL("no free seen at all (%d allocations)", nalloc.load());
    if (errors)
        return 1;
    std::printf("ok allocs=%d frees=%d sum=%ld\n", nalloc.load(), nfree.load(), sum);
    return 0;
}
