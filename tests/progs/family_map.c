/* Page mappings (VirtualAlloc) as the leak report sees them, for check_family.c.  Each
 * mapping is made in a function of its own; pointers to the leaked ones are dropped.
 * Runs every case below, or only those named in argv[1..] ("big" only when named):
 *   map_leak      3 anonymous pages, leaked: a mapping leak of 12288 bytes
 *   map_split     5 pages, the middle one unmapped: 2 mappings, 16384 bytes
 *   map_trim      5 pages, the first and the last unmapped: 1 mapping, 12288 bytes
 *   map_whole     4 pages, all unmapped again: nothing
 *   map_grow      2 pages, a page mapped right after them (map_blocker, unmapped later),
 *                 then mremap'd to 10 pages, which must move them: 40960 bytes, 1 mapping
 *   map_kept      2 pages, the pointer in a global: reachable, not a leak; in it the only
 *                 pointer to a 300-byte malloc'd block (in_small_mapping)
 *   map_kept_big  32 pages, the pointer in a global; at page 20 the only pointer to a
 *                 700-byte block (in_big_mapping)
 *   map_file      a private mapping of this program's own file, leaked: not tracked
 *   map_fixed_hole  2 pages mapped with MAP_FIXED where nothing was mapped (a hole
 *                 made by unmapping), leaked: a mapping leak of 8192 bytes
 *   big           malloc of 64 MB (glibc maps it) leaked from big_leak; also a thread
 *                 started and joined and a library opened (their stacks and segments
 *                 are mapped by libc and the loader), and a thread that maps guard pages
 *                 with MAP_FIXED over the bottom of its own stack, as a JVM does: a
 *                 definite leak, no mapping
 * Prints "moved=1" for map_grow when the mapping moved, then "ok". */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "progutil.h"

#define PAGE 4096
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

void *volatile leak_sink;
void *volatile kept_small, *volatile kept_big;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

static char *anon(size_t pages)
{
    return mmap(NULL, pages * PAGE, RW, ANON, -1, 0);
}

NOINLINE void map_leak(void)
{
    char *p = mmap(NULL, 3 * PAGE, RW, ANON, -1, 0); /* MAP-LEAK */
    CHECK(p != MAP_FAILED);
    memset(p, 1, 3 * PAGE);
    drop(p);
}

NOINLINE void map_split(void)
{
    char *p = mmap(NULL, 5 * PAGE, RW, ANON, -1, 0); /* MAP-SPLIT */
    CHECK(p != MAP_FAILED);
    memset(p, 2, 5 * PAGE);
    CHECK(munmap(p + 2 * PAGE, PAGE) == 0);
    drop(p);
}

NOINLINE void map_trim(void)
{
    char *p = mmap(NULL, 5 * PAGE, RW, ANON, -1, 0); /* MAP-TRIM */
    CHECK(p != MAP_FAILED);
    CHECK(munmap(p, PAGE) == 0);
    CHECK(munmap(p + 4 * PAGE, PAGE) == 0);
    memset(p + PAGE, 3, 3 * PAGE);
    drop(p);
}

NOINLINE void map_whole(void)
{
    char *p = anon(4);
    CHECK(p != MAP_FAILED);
    memset(p, 4, 4 * PAGE);
    CHECK(munmap(p, 4 * PAGE) == 0);
    drop(p);
}

NOINLINE char *map_blocker(char *at)
{
    return mmap(at, PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
}

NOINLINE void map_grow(void)
{
    char *p = mmap(NULL, 2 * PAGE, RW, ANON, -1, 0); /* MAP-GROW */
    CHECK(p != MAP_FAILED);
    memset(p, 5, 2 * PAGE);
    /* Something right after it, so that growing cannot happen in place. */
    char *b = map_blocker(p + 2 * PAGE);
    char *q = mremap(p, 2 * PAGE, 10 * PAGE, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED);
    printf("moved=%d\n", q != p);
    CHECK(q[0] == 5 && q[2 * PAGE - 1] == 5);
    memset(q, 6, 10 * PAGE);
    if (b != MAP_FAILED)
        CHECK(munmap(b, PAGE) == 0);
    drop(q);
    drop(p);
    drop(b);
}

NOINLINE void *in_small_mapping(void)
{
    char *b = malloc(300); /* IN-SMALL */
    memset(b, 7, 300);
    return b;
}

NOINLINE void *in_big_mapping(void)
{
    char *b = malloc(700); /* IN-BIG */
    memset(b, 8, 700);
    return b;
}

NOINLINE void map_kept(void)
{
    char *p = mmap(NULL, 2 * PAGE, RW, ANON, -1, 0); /* MAP-KEPT */
    CHECK(p != MAP_FAILED);
    *(void *volatile *)(p + 512) = in_small_mapping();
    kept_small = p;
}

NOINLINE void map_kept_big(void)
{
    char *p = mmap(NULL, 32 * PAGE, RW, ANON, -1, 0); /* MAP-KEPT-BIG */
    CHECK(p != MAP_FAILED);
    *(void *volatile *)(p + 20 * PAGE + 64) = in_big_mapping();
    kept_big = p;
}

static char self[4096];

NOINLINE void map_file(void)
{
    int fd = open(self, O_RDONLY);
    CHECK(fd >= 0);
    char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0); /* MAP-FILE */
    CHECK(p != MAP_FAILED);
    CHECK(p[0] == 0x7f && p[1] == 'E');
    close(fd);
    drop(p);
}

NOINLINE void map_fixed_hole(void)
{
    char *p = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    CHECK(munmap(p, 2 * 4096) == 0);
    char *q = mmap(p, 2 * 4096, PROT_READ | PROT_WRITE, /* MAP-FIXED-HOLE */
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(q == p);
    q[0] = 1;
    drop(q);
}

/* The bottom of this thread's stack (glibc mapped it) turned into guard pages. */
static void *guard_own_stack(void *arg)
{
    pthread_attr_t a;
    void *lo;
    size_t size;
    CHECK(pthread_getattr_np(pthread_self(), &a) == 0);
    CHECK(pthread_attr_getstack(&a, &lo, &size) == 0);
    pthread_attr_destroy(&a);
    char *g = mmap(lo, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED |
                   MAP_NORESERVE, -1, 0);
    CHECK(g == lo);
    return arg;
}

NOINLINE void big_leak(void)
{
    char *p = malloc((size_t)64 << 20); /* BIG-LEAK */
    CHECK(p);
    p[0] = 1;
    p[((size_t)64 << 20) - 1] = 2;
    drop(p);
}

static void *thread_main(void *arg) { return arg; }

static void big(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    void *lib = dlopen("libm.so.6", RTLD_NOW);
    CHECK(lib);
    CHECK(pthread_create(&t, NULL, guard_own_stack, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    big_leak();
}

static bool wanted(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return strcmp(name, "big") != 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], name))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0);
    if (wanted(argc, argv, "map_leak"))
        map_leak();
    if (wanted(argc, argv, "map_split"))
        map_split();
    if (wanted(argc, argv, "map_trim"))
        map_trim();
    if (wanted(argc, argv, "map_whole"))
        map_whole();
    if (wanted(argc, argv, "map_grow"))
        map_grow();
    if (wanted(argc, argv, "map_kept"))
        map_kept();
    if (wanted(argc, argv, "map_kept_big"))
        map_kept_big();
    if (wanted(argc, argv, "map_file"))
        map_file();
    if (wanted(argc, argv, "map_fixed_hole"))
        map_fixed_hole();
    if (wanted(argc, argv, "big"))
        big();
    scrub_stack_and_registers();
    printf("ok\n");
    return 0;
}
