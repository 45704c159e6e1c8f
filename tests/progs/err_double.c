/* A double free (issue 7): a 48-byte block from alloc_twice_freed, freed by first_free and
 * again by second_free.  Prints "ptr=P" (flushed at once) before, "survived" after, and
 * exits 0.  With argv[1] = "churn", many blocks are allocated and freed between the two
 * frees (the second must still be caught while the block is in quarantine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile sink;
volatile int after;

NOINLINE void *alloc_twice_freed(size_t n)
{
    void *p = malloc(n);
    memset(p, 3, n);
    after++;
    return p;
}

NOINLINE void first_free(void *p)
{
    free(p);
    after++;
}

NOINLINE void second_free(void *p)
{
    free(p);
    after++;
}

int main(int argc, char **argv)
{
    int churn = argc > 1 && !strcmp(argv[1], "churn");
    void *p = alloc_twice_freed(48);
    printf("ptr=%p\n", p);
    fflush(stdout);
    first_free(p);
    if (churn)
        for (int i = 0; i < 200; i++) {
            void *q = malloc(48);
            memset(q, i, 48);
            sink = q;
            free(q);
        }
    second_free(p);
    /* The heap still works: no block is handed out twice. */
    void *a = malloc(48), *b = malloc(48);
    if (!a || !b || a == b) {
        printf("heap broken\n");
        return 1;
    }
    free(a);
    free(b);
    printf("survived\n");
    return 0;
}
