/* For check_scan.c: a ring of NODES blocks (NODE_BYTES each, from scan_cycle_node), each
 * pointing to the next, the last to the first, and nothing else pointing to any of them:
 * the whole ring leaks.  No stdio, nothing else allocated (Valgrind compares). */
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))
#define NODES 5
#define NODE_BYTES 40

struct node {
    struct node *next;
    char data[NODE_BYTES - sizeof(struct node *)];
};

volatile int node_count = NODES;

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
    scrub_stack();
    return 0;
}
