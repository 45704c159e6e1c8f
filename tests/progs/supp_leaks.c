/* For check_suppress.c: leaks whose suggested suppressions the tests feed back, each from a
 * function of its own, behind the allocation functions and wrappers a suggestion skips.
 *   leak_direct     one block of 101 bytes, from malloc
 *   leak_wrapped    one of 202, through the program's own xmalloc (a well-known wrapper)
 *   leak_dup        one of 31, through strdup (inside the C library)
 *   leak_list       a head of 48 bytes (direct) holding a node of 64 (indirect, allocated
 *                   by make_node)
 *   leak_custom     one of 303, through my_pool_get (a wrapper option alloc_functions
 *                   names)
 * No stdio. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile leak_sink;

static NOINLINE void drop(void *p)
{
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

NOINLINE void *my_pool_get(size_t n)
{
    return xmalloc(n);
}

NOINLINE void leak_direct(void) { drop(malloc(101)); }
NOINLINE void leak_wrapped(void) { drop(xmalloc(202)); }
NOINLINE void leak_dup(void) { drop(strdup("thirty characters and one more")); }
NOINLINE void leak_custom(void) { drop(my_pool_get(303)); }

NOINLINE void *make_node(void) { return malloc(64); }

NOINLINE void leak_list(void)
{
    void **head = malloc(48);
    head[0] = make_node();
    drop(head);
}

int main(void)
{
    leak_direct();
    leak_wrapped();
    leak_dup();
    leak_list();
    leak_custom();
    scrub_stack_and_registers();
    return 0;
}
