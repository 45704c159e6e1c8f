/* Mappings as a reserve-and-commit runtime keeps them, for check_family.c.  A mapping is
 * a region, reachable through a pointer to anywhere in it, like a block:
 *   reserve_kept    1 MiB reserved PROT_NONE, its base in a global, 8 KiB committed in
 *                   the middle with MAP_FIXED and another page unmapped: reachable, one
 *                   region, nothing leaked
 *   reserve_lost    the same, the base dropped: one mapping leak of the whole region
 *   trap_pages      two guard pages whose addresses stay in main's locals until exit
 *                   (exit is called from main): reachable
 *   interior_kept   4 pages, a global pointing 5000 bytes into them: reachable
 *   from_leak       3 pages whose only pointer is in a malloc'd block that leaks
 *                   (map_holder_lost): the mapping is an indirect leak
 *   from_live       2 pages whose only pointer is in a block a global keeps: reachable
 * Prints "ok" and calls exit(0) from main. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "progutil.h"

#define PAGE 4096
#define MiB (1024 * 1024)

void *volatile reserve_base, *volatile interior, *volatile live_holder, *volatile sink;

NOINLINE void *map_reserve(void)
{
    char *base = mmap(NULL, MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(base != MAP_FAILED);
    char *c = mmap(base + 512 * 1024, 2 * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(c == base + 512 * 1024);
    memset(c, 7, 2 * PAGE);
    CHECK(mprotect(base + 256 * 1024, PAGE, PROT_READ) == 0);
    CHECK(munmap(base + MiB - PAGE, PAGE) == 0);
    return base;
}

NOINLINE void *map_trap(void)
{
    return mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NOINLINE char *map_interior(void)
{
    char *p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    return p + 5000;
}

NOINLINE void *map_from_leak(void)
{
    return mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NOINLINE void *map_holder_lost(void *m)
{
    void **h = malloc(64);
    memset(h, 0, 64);
    h[3] = m;
    return h;
}

NOINLINE void *map_from_live(void)
{
    return mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

NOINLINE void *map_holder_live(void *m)
{
    void **h = malloc(64);
    memset(h, 0, 64);
    h[5] = m;
    return h;
}

int main(void)
{
    reserve_base = map_reserve();
    sink = map_reserve();
    sink = NULL;
    void *volatile trap1 = map_trap(), *volatile trap2 = map_trap();
    CHECK(trap1 != MAP_FAILED && trap2 != MAP_FAILED);
    interior = map_interior();
    sink = map_holder_lost(map_from_leak());
    sink = NULL;
    live_holder = map_holder_live(map_from_live());
    scrub_stack_and_registers();
    printf("ok\n");
    fflush(stdout);
    exit(trap1 && trap2 ? 0 : 1);
}
