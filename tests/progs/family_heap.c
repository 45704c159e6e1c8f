/* Private heaps seen from the reports, for check_family.c.  argv[1] chooses:
 *
 *   live     heap_leak() leaks 64-byte blocks from one call site into the live heaps
 *            "alpha" (3), "beta" (2) and the task allocator (1): three groups, one stack.
 *   destroy  the heap "doomed" (MS_HEAP_REPORT_LEAKS) is destroyed holding 3 x 100 bytes
 *            (doomed_alloc), 50 bytes (doomed_tagged, MS_HEAP_ALLOC, DOOMED-TAG line) and
 *            70 bytes (doomed_realloc: 10 bytes ms_realloc'd to 70), after one more block
 *            was freed; the heap "quiet" (no flag) is destroyed holding 2 x 30 bytes
 *            (quiet_alloc).  A spy of the program's own counts the frees each destroy
 *            makes on its heap; prints "doomed_frees=N quiet_frees=M".
 *   wrong    a 48-byte block of heap "left" (wrong_alloc) is freed or resized through the
 *            wrong heap six ways, then a malloc'd block through "left": each is a
 *            "wrong_heap" error, and the block stays valid and usable.  Prints each block
 *            address as "block=0x..." and "malloced=0x...", then "ok".
 *   handles  a destroyed heap and garbage pointers are used as heaps: every call is
 *            refused, nothing crashes.  Prints "stale=0x... garbage=0x... misaligned=0x..."
 *            then "ok".
 *
 * Any check that fails prints "FAIL <line>: <what>" and exits 1. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

/* ---- live ------------------------------------------------------------------------------ */

ms_malloc *volatile alpha, *volatile beta;

NOINLINE void heap_leak(ms_malloc *h)
{
    char *p = ms_alloc(h, 64); /* HEAP-LEAK */
    memset(p, 1, 64);
    drop(p);
}

static void live(void)
{
    alpha = ms_heap_create("alpha", 0);
    beta = ms_heap_create("beta", MS_HEAP_NO_SERIALIZE);
    CHECK(alpha && beta);
    ms_malloc *order[6] = { alpha, beta, alpha, ms_get_malloc(), beta, alpha };
    for (int i = 0; i < 6; i++)
        heap_leak(order[i]);
}

/* ---- destroy ----------------------------------------------------------------------------- */

/* Counts the frees made on one heap (the allocator of the call) while armed. */
static struct {
    ms_spy base;
    ms_malloc *volatile heap;
    volatile long frees, wrong_kind;
} counter;

static void *count_pre_free(ms_spy *self, void *request, bool spied)
{
    (void)self;
    (void)spied;
    const ms_call *c = ms_spy_call();
    if (c && counter.heap && c->allocator == counter.heap) {
        counter.frees++;
        if (c->kind != MS_CALL_TASK_FREE || c->block != request)
            counter.wrong_kind++;
    }
    return request;
}

static const ms_spy_ops count_ops = { .pre_free = count_pre_free };

NOINLINE void doomed_alloc(ms_malloc *h)
{
    for (volatile int i = 0; i < 3; i++) {
        char *p = ms_alloc(h, 100); /* DOOMED-ALLOC */
        CHECK(p);
        memset(p, 2, 100);
        drop(p);
    }
}

NOINLINE void doomed_tagged(ms_malloc *h)
{
    char *p = MS_HEAP_ALLOC(h, 50); /* DOOMED-TAG */
    CHECK(p);
    memset(p, 3, 50);
    drop(p);
}

NOINLINE void doomed_realloc(ms_malloc *h)
{
    char *p = ms_alloc(h, 10);
    CHECK(p);
    p = ms_realloc(h, p, 70); /* DOOMED-REALLOC */
    CHECK(p);
    memset(p, 4, 70);
    drop(p);
}

NOINLINE void doomed_freed(ms_malloc *h)
{
    char *p = ms_alloc(h, 999);
    CHECK(p);
    ms_free(h, p);
}

NOINLINE void quiet_alloc(ms_malloc *h)
{
    for (volatile int i = 0; i < 2; i++) {
        char *p = ms_alloc(h, 30); /* QUIET-ALLOC */
        CHECK(p);
        drop(p);
    }
}

static void destroy(void)
{
    counter.base.ops = &count_ops;
    CHECK(ms_register_spy(&counter.base) == MS_OK);
    ms_malloc *doomed = ms_heap_create("doomed", MS_HEAP_REPORT_LEAKS);
    ms_malloc *quiet = ms_heap_create("quiet", 0);
    CHECK(doomed && quiet);
    doomed_alloc(doomed);
    doomed_tagged(doomed);
    doomed_realloc(doomed);
    doomed_freed(doomed);
    quiet_alloc(quiet);
    CHECK(ms_heap_validate(doomed, NULL));

    counter.frees = 0;
    counter.heap = doomed;
    ms_heap_destroy(doomed);
    long doomed_frees = counter.frees;
    counter.frees = 0;
    counter.heap = quiet;
    ms_heap_destroy(quiet);
    long quiet_frees = counter.frees;
    counter.heap = NULL;
    CHECK(counter.wrong_kind == 0);
    printf("doomed_frees=%ld quiet_frees=%ld\n", doomed_frees, quiet_frees);
    CHECK(ms_revoke_spy(&counter.base) == MS_OK);
}

/* ---- wrong ------------------------------------------------------------------------------ */

static ms_malloc *left, *right;

NOINLINE char *wrong_alloc(void)
{
    char *p = ms_alloc(left, 48); /* WRONG-ALLOC */
    CHECK(p);
    for (int i = 0; i < 48; i++)
        p[i] = (char)i;
    return p;
}

/* The block is still a live block of "left", of 48 bytes, with its contents. */
static void intact(char *p)
{
    CHECK(ms_heap_validate(left, p));
    CHECK(!ms_heap_validate(right, p));
    CHECK(ms_get_size(left, p) == 48);
    CHECK(ms_did_alloc(left, p) == 1);
    for (int i = 0; i < 48; i++)
        CHECK(p[i] == (char)i);
    memset(p, 0x5a, 48);          /* and writable */
    for (int i = 0; i < 48; i++)
        p[i] = (char)i;
}

NOINLINE void wrong_free(char *p) { free(p); /* WRONG-FREE */ }
NOINLINE void wrong_msfree(char *p) { ms_free(right, p); /* WRONG-MSFREE */ }
NOINLINE void *wrong_msrealloc(char *p) { return ms_realloc(right, p, 100); /* WRONG-MSREALLOC */ }
NOINLINE void wrong_taskfree(char *p) { ms_free(ms_get_malloc(), p); /* WRONG-TASKFREE */ }
NOINLINE void *wrong_libcrealloc(char *p) { return realloc(p, 10); /* WRONG-LIBCREALLOC */ }
NOINLINE void *wrong_taskrealloc(char *p)
{
    return ms_realloc(ms_get_malloc(), p, 4000); /* WRONG-TASKREALLOC */
}

NOINLINE char *wrong_malloced(void)
{
    char *m = malloc(24); /* WRONG-MALLOCED */
    CHECK(m);
    memset(m, 9, 24);
    return m;
}

NOINLINE void wrong_heapfree(char *m) { ms_free(left, m); /* WRONG-HEAPFREE */ }

static void wrong(void)
{
    left = ms_heap_create("left", 0);
    right = ms_heap_create("right", 0);
    CHECK(left && right);
    char *p = wrong_alloc();
    printf("block=%p\n", (void *)p);
    wrong_free(p);
    intact(p);
    wrong_msfree(p);
    intact(p);
    errno = 0;
    CHECK(wrong_msrealloc(p) == NULL);
    intact(p);
    wrong_taskfree(p);
    intact(p);
    CHECK(wrong_libcrealloc(p) == NULL);
    intact(p);
    CHECK(wrong_taskrealloc(p) == NULL);
    intact(p);
    /* A block of the task allocator freed through a heap. */
    char *m = wrong_malloced();
    printf("malloced=%p\n", (void *)m);
    wrong_heapfree(m);
    CHECK(ms_did_alloc(ms_get_malloc(), m) == 1);
    CHECK(ms_get_size(ms_get_malloc(), m) == 24);
    for (int i = 0; i < 24; i++)
        CHECK(m[i] == 9);
    free(m);
    /* The block still works through its own heap. */
    char *q = ms_realloc(left, p, 200);
    CHECK(q);
    for (int i = 0; i < 48; i++)
        CHECK(q[i] == (char)i);
    CHECK(ms_get_size(left, q) == 200);
    ms_free(left, q);
    CHECK(!ms_heap_validate(left, q));
    CHECK(ms_heap_validate(left, NULL));
    ms_heap_destroy(left);
    ms_heap_destroy(right);
    printf("ok\n");
}

/* ---- handles ----------------------------------------------------------------------------- */

static int visits;
static int count_visit(const ms_block_info *b, void *arg)
{
    (void)b;
    (void)arg;
    visits++;
    return 0;
}

/* Every call on `h` is refused; `blk` (a live malloc'd block) is left alone. */
static void refused(ms_malloc *h, char *blk)
{
    errno = 0;
    CHECK(ms_alloc(h, 10) == NULL);
    CHECK(errno != 0);
    CHECK(ms_debug_alloc(h, 10, "x.c", 1) == NULL);
    CHECK(ms_realloc(h, NULL, 10) == NULL);
    CHECK(ms_realloc(h, blk, 100) == NULL);
    ms_free(h, blk);
    ms_free(h, NULL);
    CHECK(ms_get_size(h, blk) == (size_t)-1);
    CHECK(ms_did_alloc(h, blk) != 1);
    CHECK(!ms_heap_validate(h, NULL));
    CHECK(!ms_heap_validate(h, blk));
    visits = 0;
    CHECK(ms_heap_walk(h, count_visit, NULL) != MS_OK);
    CHECK(visits == 0);
    ms_heap_destroy(h);
    /* blk is untouched. */
    CHECK(ms_did_alloc(ms_get_malloc(), blk) == 1);
    CHECK(ms_get_size(ms_get_malloc(), blk) == 32);
    for (int i = 0; i < 32; i++)
        CHECK(blk[i] == 7);
}

static void handles(void)
{
    char *blk = malloc(32);
    CHECK(blk);
    memset(blk, 7, 32);
    /* The live heap is made first: a heap created after the destroy may be given the
     * destroyed one's handle again (as Windows reuses handles). */
    ms_malloc *live = ms_heap_create("live", 0);
    ms_malloc *stale = ms_heap_create("stale", 0);
    CHECK(live && stale);
    char *in_stale = ms_alloc(stale, 16);
    CHECK(in_stale);
    ms_heap_destroy(stale);
    CHECK(!ms_heap_validate(stale, in_stale));
    static uint64_t junk[16] = { 0x4d534850u, 0x4d534850u, 1, 2, 3, 4, 5, 6 };
    ms_malloc *garbage = (ms_malloc *)junk;
    ms_malloc *misaligned = (ms_malloc *)((char *)live + 4);
    printf("stale=%p garbage=%p misaligned=%p\n", (void *)stale, (void *)garbage,
           (void *)misaligned);
    refused(stale, blk);
    refused(garbage, blk);
    refused(misaligned, blk);
    /* The live heap next to the misaligned pointer still works. */
    char *q = ms_alloc(live, 8);
    CHECK(q && ms_heap_validate(live, q));
    ms_free(live, q);
    ms_heap_destroy(live);
    free(blk);
    printf("ok\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "live"))
        live();
    else if (!strcmp(mode, "destroy"))
        destroy();
    else if (!strcmp(mode, "wrong"))
        wrong();
    else if (!strcmp(mode, "handles"))
        handles();
    else
        return 2;
    scrub_stack_and_registers();
    return 0;
}
