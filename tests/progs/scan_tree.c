/* For check_scan.c: a leaked binary tree of NODES nodes (NODE_BYTES each, from
 * scan_tree_node), each node holding a payload of PAYLOAD_BYTES (scan_tree_payload).
 * Nothing points to the root: one definite leak (the root), the other NODES - 1 nodes and
 * all NODES payloads indirect.  No stdio, nothing else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

#define NODES 15                 /* full, four levels */
#define NODE_BYTES 64
#define PAYLOAD_BYTES 24

struct tnode {
    struct tnode *left, *right;
    char *payload;
    char pad[NODE_BYTES - 3 * sizeof(void *)];
};

volatile int node_count = NODES;

NOINLINE char *scan_tree_payload(void)
{
    char *p = malloc(PAYLOAD_BYTES);
    memset(p, 9, PAYLOAD_BYTES);
    return p;
}

NOINLINE struct tnode *scan_tree_node(void)
{
    struct tnode *n = malloc(sizeof *n);
    memset(n, 0, sizeof *n);
    n->payload = scan_tree_payload();
    return n;
}

/* Every node from the same call site (one stack), then linked: node i's children are
 * 2i + 1 and 2i + 2. */
NOINLINE void scan_tree_build(void)
{
    struct tnode *volatile nodes[NODES];
    for (int i = 0; i < node_count; i++)
        nodes[i] = scan_tree_node();
    for (int i = 0; 2 * i + 2 < NODES; i++) {
        nodes[i]->left = nodes[2 * i + 1];
        nodes[i]->right = nodes[2 * i + 2];
    }
    __asm__ volatile("" : : "r"(nodes[0]) : "memory");
    for (int i = 0; i < NODES; i++)
        nodes[i] = NULL;
}

int main(void)
{
    scan_tree_build();
    scrub_stack_and_registers();
    return 0;
}
