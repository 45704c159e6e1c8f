/* For check_scan.c: a leaked singly linked list of NODES nodes of NODE_BYTES each, all
 * from scan_list_node.  Nothing points to the head: one definite leak (the head), the
 * other NODES - 1 nodes indirect.  No stdio, nothing else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define NODES 10
#define NODE_BYTES 48

struct node {
    struct node *next;
    char data[NODE_BYTES - sizeof(struct node *)];
};

volatile int node_count = NODES;   /* volatile: one loop, one call site */

static NOINLINE void scrub_stack(void)
{
    volatile char buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = 0;
    __asm__ volatile("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                     "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                     "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d"
                     : : : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

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
    scrub_stack();
    return 0;
}
