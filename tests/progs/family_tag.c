/* Debug allocations (ms_debug_alloc, MS_MALLOC, MS_HEAP_ALLOC) leaked with their source
 * locations, for check_family.c.  Each leak comes from a function of its own; the marker
 * comments name the lines the tests look for.  Every pointer is dropped (it passes
 * through a volatile global cleared at once), so every block is a definite leak.
 *   tag_plain         123 bytes, tag "tagged_file.c":4242
 *   tag_macro          77 bytes, MS_MALLOC: tag this file, the TAG-MACRO line
 *   tag_ms_realloc   5000 bytes, tagged "realloc_tag.c":7 at 10 bytes, then ms_realloc'd
 *   tag_libc_realloc 6000 bytes, tagged "libc_realloc_tag.c":8 at 20 bytes, then realloc'd
 *   tag_pair          2 x 40 bytes from one call site, tags "pair.c":100 and "pair.c":101
 *   tag_heap           33 bytes, MS_HEAP_ALLOC in the live heap "tagheap" (TAG-HEAP line)
 *   tag_none           55 bytes, plain malloc: no tag */
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

void *volatile leak_sink;
ms_malloc *volatile tag_heap_handle;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void tag_plain(void)
{
    char *p = ms_debug_alloc(ms_get_malloc(), 123, "tagged_file.c", 4242); /* TAG-PLAIN */
    memset(p, 1, 123);
    drop(p);
}

NOINLINE void tag_macro(void)
{
    char *p = MS_MALLOC(77); /* TAG-MACRO */
    memset(p, 2, 77);
    drop(p);
}

NOINLINE void tag_ms_realloc(void)
{
    ms_malloc *m = ms_get_malloc();
    char *p = ms_debug_alloc(m, 10, "realloc_tag.c", 7);
    memset(p, 3, 10);
    p = ms_realloc(m, p, 5000); /* TAG-MS-REALLOC */
    memset(p, 3, 5000);
    drop(p);
}

NOINLINE void tag_libc_realloc(void)
{
    char *p = ms_debug_alloc(ms_get_malloc(), 20, "libc_realloc_tag.c", 8);
    memset(p, 4, 20);
    p = realloc(p, 6000); /* TAG-LIBC-REALLOC */
    memset(p, 4, 6000);
    drop(p);
}

static const char *const pair_file[2] = { "pair.c", "pair.c" };
volatile int pair_n = 2;

NOINLINE void tag_pair(void)
{
    for (int i = 0; i < pair_n; i++) {
        char *p = ms_debug_alloc(ms_get_malloc(), 40, pair_file[i], 100 + i); /* TAG-PAIR */
        memset(p, 5, 40);
        drop(p);
    }
}

NOINLINE void tag_heap(void)
{
    char *p = MS_HEAP_ALLOC(tag_heap_handle, 33); /* TAG-HEAP */
    memset(p, 6, 33);
    drop(p);
}

NOINLINE void tag_none(void)
{
    char *p = malloc(55); /* TAG-NONE */
    memset(p, 7, 55);
    drop(p);
}

int main(void)
{
    tag_heap_handle = ms_heap_create("tagheap", 0);
    if (!tag_heap_handle)
        return 2;
    tag_plain();
    tag_macro();
    tag_ms_realloc();
    tag_libc_realloc();
    tag_pair();
    tag_heap();
    tag_none();
    scrub_stack_and_registers();
    return 0;
}
