/* For check_scan.c: a ring of NODES blocks (NODE_BYTES each, from scan_cycle_node), each
 * pointing to the next, the last to the first, and nothing else pointing to any of them:
 * the whole ring leaks.  No stdio, nothing else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define NODES 5
#define NODE_BYTES 40

struct node {
    struct node *next;
    char data[NODE_BYTES - sizeof(struct node *)];
};

volatile int node_count = NODES;

NOINLINE struct node *scan_cycle_node(struct node *next)
{
    struct node *n = malloc(sizeof *n);
    memset(n->data, 5, sizeof n->data);
    n->next = next;
    return n;
}

NOINLINE void scan_cycle_build(void)
{
    struct node *first = NULL, *head = NULL;
    for (int i = 0; i < node_count; i++) {   /* one call site: one stack for them all */
        head = scan_cycle_node(head);
        if (!first)
            first = head;
    }
    first->next = head;          /* close the ring */
    __asm__ volatile("" : : "r"(first), "r"(head) : "memory");
}

int main(void)
{
    scan_cycle_build();
    scrub_stack_and_registers();
    return 0;
}
