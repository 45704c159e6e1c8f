/* Known leaks from functions with distinct names, for the folded stacks and flame graph
 * tests of check_profile.c:
 *   leak_alpha   3 blocks of 100 bytes (malloc)                 definite
 *   leak_beta    1 block of 555 bytes (malloc)                  definite
 *   leak_gamma   a list: its head, 48 bytes (make_list_head),   definite
 *                and 4 nodes of 64 bytes (make_list_node)       indirect
 *   leak_delta   1 block of 7 x 50 bytes (calloc)               definite
 *   leak_epsilon 2 blocks of 77 bytes, from epsilon_alloc, a    definite
 *                function inlined into it (a frame of its own)
 * Besides, 1000 bytes stay reachable from a global (kept_block) and 100 blocks of 32
 * bytes are freed (churn).  The marker comments name the lines of the allocations.  Every
 * leaked pointer lives only in locals of functions that return (passed through a volatile
 * global cleared at once), so the blocks are truly unreachable.  Writes nothing; exits 0. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile prof_sink;
void *kept;
volatile int n_alpha = 3, n_nodes = 4, n_churn = 100, n_epsilon = 2;

struct node {
    struct node *next;
    char pad[56];
};

static NOINLINE void drop(void *p)
{
    prof_sink = p;
    prof_sink = NULL;
}

NOINLINE void leak_alpha(void)
{
    for (int i = 0; i < n_alpha; i++) {
        char *p = malloc(100); /* PROF-ALPHA */
        memset(p, 1, 100);
        drop(p);
    }
}

NOINLINE void leak_beta(void)
{
    char *p = malloc(555); /* PROF-BETA */
    memset(p, 2, 555);
    drop(p);
}

NOINLINE struct node *make_list_node(struct node *next)
{
    struct node *n = malloc(sizeof *n); /* PROF-NODE */
    memset(n, 0, sizeof *n);
    n->next = next;
    return n;
}

NOINLINE void **make_list_head(void)
{
    void **h = malloc(48); /* PROF-HEAD */
    memset(h, 0, 48);
    return h;
}

NOINLINE void leak_gamma(void)
{
    void **head = make_list_head();
    struct node *list = NULL;
    for (int i = 0; i < n_nodes; i++)
        list = make_list_node(list);
    head[0] = list;
    drop(head);
}

NOINLINE void leak_delta(void)
{
    char *p = calloc(7, 50); /* PROF-DELTA */
    drop(p);
}

static inline __attribute__((always_inline)) void *epsilon_alloc(void)
{
    return malloc(77); /* PROF-EPSILON */
}

NOINLINE void leak_epsilon(void)
{
    for (int i = 0; i < n_epsilon; i++) {
        char *p = epsilon_alloc();
        memset(p, 4, 77);
        drop(p);
    }
}

NOINLINE void kept_block(void)
{
    kept = malloc(1000); /* PROF-KEPT */
    memset(kept, 3, 1000);
}

NOINLINE void churn(void)
{
    for (int i = 0; i < n_churn; i++) {
        void *p = malloc(32); /* PROF-CHURN */
        prof_sink = p;
        free(p);
    }
    prof_sink = NULL;
}

int main(void)
{
    kept_block();
    churn();
    leak_alpha();
    leak_beta();
    leak_gamma();
    leak_delta();
    leak_epsilon();
    return 0;
}
