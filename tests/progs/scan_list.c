/* For check_scan.c: a leaked singly linked list of NODES nodes of NODE_BYTES each, all
 * from scan_list_node.  Nothing points to the head: one definite leak (the head), the
 * other NODES - 1 nodes indirect.  No stdio, nothing else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define NODES 10
#define NODE_BYTES 48

struct node {
    struct node *next;
    char data[NODE_BYTES - sizeof(struct node *)];
};

volatile int node_count = NODES;   /* volatile: one loop, one call site */

NOINLINE struct node *scan_list_node(struct node *next)
{
    struct node *n = malloc(sizeof *n);
    memset(n->data, 7, sizeof n->data);
    n->next = next;
    __asm__ volatile("" : : "r"(n) : "memory");
    return n;
}

NOINLINE void scan_list_build(void)
{
    struct node *head = NULL;
    for (int i = 0; i < node_count; i++)
        head = scan_list_node(head);
    __asm__ volatile("" : : "r"(head) : "memory");
}

int main(void)
{
    scan_list_build();
    scrub_stack_and_registers();
    return 0;
}
