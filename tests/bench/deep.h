/* The stacks the benchmark programs allocate from: four distinct functions recursing into
 * one another `d` levels deep (20 frames, built without frame pointers, as Debian's
 * libraries are), then the program's own loop, leaf(arg).  None of these calls is a tail
 * call, and each level keeps something of its own on its frame. */
#ifndef BENCH_DEEP_H
#define BENCH_DEEP_H

#include <stdint.h>

#ifndef NOINLINE
#define NOINLINE __attribute__((noinline, noclone))
#endif

typedef uint64_t (*deep_leaf)(void *arg);

static NOINLINE uint64_t deep_a(deep_leaf leaf, void *arg, int d);
static NOINLINE uint64_t deep_b(deep_leaf leaf, void *arg, int d);
static NOINLINE uint64_t deep_c(deep_leaf leaf, void *arg, int d);
static NOINLINE uint64_t deep_d(deep_leaf leaf, void *arg, int d);

static uint64_t deep_call(deep_leaf leaf, void *arg, int d)
{
    if (d <= 0)
        return leaf(arg);
    switch (d & 3) {
    case 0: return deep_a(leaf, arg, d - 1);
    case 1: return deep_b(leaf, arg, d - 1);
    case 2: return deep_c(leaf, arg, d - 1);
    default: return deep_d(leaf, arg, d - 1);
    }
}

static NOINLINE uint64_t deep_a(deep_leaf leaf, void *arg, int d)
{
    volatile int pad = d;
    uint64_t r = deep_call(leaf, arg, d);
    return r + (uint64_t)pad;
}

static NOINLINE uint64_t deep_b(deep_leaf leaf, void *arg, int d)
{
    volatile int pad[2] = { d, 1 };
    uint64_t r = deep_call(leaf, arg, d);
    return r ^ (uint64_t)(pad[0] + pad[1]);
}

static NOINLINE uint64_t deep_c(deep_leaf leaf, void *arg, int d)
{
    volatile long pad = d * 3;
    uint64_t r = deep_call(leaf, arg, d);
    return r * 3 + (uint64_t)pad;
}

static NOINLINE uint64_t deep_d(deep_leaf leaf, void *arg, int d)
{
    volatile char pad[24];
    pad[0] = (char)d;
    uint64_t r = deep_call(leaf, arg, d);
    return r + 7 * (uint64_t)pad[0];
}

#endif
