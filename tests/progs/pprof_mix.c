/* A known allocation mix for the pprof profiles of check_pprof.c, each site a function of
 * its own (loop counts from volatile globals):
 *
 *   site            allocations   bytes   live at exit
 *   mix_kept             10        1000     10 (1000 bytes, reachable from kept[])
 *   mix_churn            50       12800      0
 *   mix_leak              3        3000      3 (leaked)
 *   mix_inner            4          256     4 (reachable), allocated from mix_inner, a
 *                                          function always inlined into mix_outer
 *
 * A stripped copy of the program gets the same stacks.  Writes nothing; exits 0. */
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_kept = 10, n_churn = 50, n_leak = 3, n_inner = 4;
void *kept[16], *inner[16];

SITE(mix_kept, 100)
SITE(mix_churn, 256)
SITE(mix_leak, 1000)

static inline __attribute__((always_inline)) void *mix_inner(void)
{
    return malloc(64);   /* PPROF-INNER */
}

NOINLINE void mix_outer(int i)
{
    inner[i] = mix_inner();   /* PPROF-OUTER */
}

int main(void)
{
    for (int i = 0; i < n_kept; i++)
        kept[i] = mix_kept();
    for (int i = 0; i < n_churn; i++)
        free(mix_churn());
    for (int i = 0; i < n_leak; i++)
        memset(mix_leak(), 0, 1000);
    for (int i = 0; i < n_inner; i++)
        mix_outer(i);
    prof_sink = NULL;
    scrub_stack_and_registers();
    return 0;
}
