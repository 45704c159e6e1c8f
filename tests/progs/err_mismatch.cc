// Mismatched deallocations (issue 7), one per mode (argv[1]), each allocated in a function
// and released in another whose names the error's stacks must show:
//   malloc_delete    malloc(16) in alloc_with_malloc, delete in release_with_delete
//   new_free         new Pair (16 bytes) in alloc_with_new, free in release_with_free
//   newarr_delete    new int[10] (40 bytes) in alloc_with_new_array, delete in
//                    release_with_delete_int
//   new_deletearr    new Pair in alloc_with_new, delete[] in release_with_delete_array
//   new_realloc      new Pair in alloc_with_new, realloc to 100 bytes in grow_with_realloc
//                    (then freed with free, which matches from there on)
//   delete_twice     new Pair in alloc_with_new, delete in release_with_delete and again
//                    in release_again (a double free with quarantine)
//   correct          every matching pair, plain, array, sized, aligned and nothrow, and
//                    the standard containers: no error at all; prints "aligned ok" when
//                    every aligned form returned an aligned pointer
// Prints "ptr=P" (flushed) before the bad call and "survived" at the end; exits 0.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <vector>

#include "progutil.h"

struct Pair {
    long a, b;
};

void *volatile sink;
volatile int after;

extern "C" {
NOINLINE void *alloc_with_malloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 0, n);
    after++;
    return p;
}

NOINLINE Pair *alloc_with_new()
{
    Pair *p = new Pair{1, 2};
    sink = p;
    after++;
    return p;
}

NOINLINE int *alloc_with_new_array()
{
    int *p = new int[10]();
    sink = p;
    after++;
    return p;
}

NOINLINE void release_with_delete(void *p)
{
    delete static_cast<Pair *>(p);   // Pair: trivially destructible, 16 bytes
    after++;
}

NOINLINE void release_with_delete_int(int *p)
{
    delete p;
    after++;
}

NOINLINE void release_with_free(void *p)
{
    free(p);
    after++;
}

NOINLINE void release_with_delete_array(Pair *p)
{
    delete[] p;
    after++;
}

NOINLINE void *grow_with_realloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    after++;
    return q;
}

NOINLINE void release_again(Pair *p)
{
    delete p;
    after++;
}
}

static void show(const void *p)
{
    printf("ptr=%p\n", p);
    fflush(stdout);
}

static bool aligned(const void *p, size_t a)
{
    return p && reinterpret_cast<uintptr_t>(p) % a == 0;
}

// Sized deallocation is C++14, but clang before 17 leaves it off unless asked.
#if defined(__cpp_sized_deallocation)
#define SIZED(n) , static_cast<size_t>(n)
#else
#define SIZED(n)
#endif

struct alignas(128) Wide {
    char bytes[200];
};

// Every matching pair; returns false if an aligned form was not aligned.
static bool correct_pairs()
{
    bool ok = true;
    Pair *a = new Pair{3, 4};
    sink = a;
    delete a;                                    // sized delete (C++14)
    int *b = new int[16]();
    sink = b;
    delete[] b;
    void *u = ::operator new(24);                // plain, unsized
    sink = u;
    ::operator delete(u);
    void *c = ::operator new(100);
    sink = c;
    ::operator delete(c SIZED(100));
    void *d = ::operator new[](100);
    sink = d;
    ::operator delete[](d SIZED(100));
    void *e = ::operator new(256, std::align_val_t(64));
    ok = ok && aligned(e, 64);
    memset(e, 5, 256);
    ::operator delete(e, std::align_val_t(64));
    void *f = ::operator new(300, std::align_val_t(256));
    ok = ok && aligned(f, 256);
    memset(f, 5, 300);
    ::operator delete(f SIZED(300), std::align_val_t(256));
    void *g = ::operator new[](90, std::align_val_t(32));
    ok = ok && aligned(g, 32);
    memset(g, 5, 90);
    ::operator delete[](g, std::align_val_t(32));
    void *h = ::operator new[](90, std::align_val_t(4096));
    ok = ok && aligned(h, 4096);
    memset(h, 5, 90);
    ::operator delete[](h SIZED(90), std::align_val_t(4096));
    Wide *w = new Wide();                        // aligned new through the expression
    ok = ok && aligned(w, 128);
    memset(w->bytes, 6, sizeof w->bytes);
    delete w;
    Wide *wa = new Wide[3]();
    ok = ok && aligned(wa, 128);
    delete[] wa;
    Pair *n1 = new (std::nothrow) Pair{5, 6};
    sink = n1;
    delete n1;
    int *n2 = new (std::nothrow) int[33];
    sink = n2;
    delete[] n2;
    void *n3 = ::operator new(64, std::align_val_t(32), std::nothrow);
    ok = ok && aligned(n3, 32);
    ::operator delete(n3, std::align_val_t(32), std::nothrow);
    void *n4 = ::operator new[](64, std::align_val_t(64), std::nothrow);
    ok = ok && aligned(n4, 64);
    ::operator delete[](n4, std::align_val_t(64), std::nothrow);
    void *n5 = ::operator new(48, std::nothrow);
    sink = n5;
    ::operator delete(n5, std::nothrow);
    void *n6 = ::operator new[](48, std::nothrow);
    sink = n6;
    ::operator delete[](n6, std::nothrow);
    char *m = static_cast<char *>(malloc(10));
    m = static_cast<char *>(realloc(m, 1000));
    memset(m, 7, 1000);
    free(m);
    // The standard library's own allocations.
    std::map<std::string, std::vector<int>> table;
    for (int i = 0; i < 500; i++) {
        std::string key = "key number " + std::to_string(i % 97) + " of the table";
        table[key].push_back(i);
        if (i % 5 == 0)
            table.erase(table.begin());
    }
    // Null pointers, to every form of delete and to free.
    delete static_cast<Pair *>(nullptr);
    delete[] static_cast<int *>(nullptr);
    ::operator delete(nullptr, std::align_val_t(64));
    ::operator delete[](nullptr, std::align_val_t(64));
    free(nullptr);
    std::vector<std::string> words;
    for (int i = 0; i < 300; i++)
        words.push_back(std::string(static_cast<size_t>(i % 40 + 1), 'x'));
    words.clear();
    words.shrink_to_fit();
    return ok;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "malloc_delete")) {
        void *p = alloc_with_malloc(16);
        show(p);
        release_with_delete(p);
    } else if (!strcmp(mode, "new_free")) {
        Pair *p = alloc_with_new();
        show(p);
        release_with_free(p);
    } else if (!strcmp(mode, "newarr_delete")) {
        int *p = alloc_with_new_array();
        show(p);
        release_with_delete_int(p);
    } else if (!strcmp(mode, "new_deletearr")) {
        Pair *p = alloc_with_new();
        show(p);
        release_with_delete_array(p);
    } else if (!strcmp(mode, "new_realloc")) {
        Pair *p = alloc_with_new();
        show(p);
        void *q = grow_with_realloc(p, 100);
        if (!q) {
            printf("realloc failed\n");
            return 1;
        }
        memset(q, 9, 100);
        free(q);
    } else if (!strcmp(mode, "delete_twice")) {
        Pair *p = alloc_with_new();
        show(p);
        release_with_delete(p);
        release_again(p);
    } else if (!strcmp(mode, "correct")) {
        bool ok = correct_pairs();
        printf("%s\n", ok ? "aligned ok" : "misaligned");
    } else {
        printf("unknown mode %s\n", mode);
        return 2;
    }
    printf("survived\n");
    return 0;
}
