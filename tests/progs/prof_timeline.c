/* Live bytes over time with a known peak, for the timeline tests of check_profile.c, on
 * one thread: 200 blocks of 500 bytes from tl_grow (100000 bytes live: the peak), half of
 * them freed, the rest freed, then 3000 malloc/free pairs of 16 bytes from tl_churn.
 * Short sleeps between the phases spread them over several intervals of 10 ms.  In all:
 * 3200 allocations and 3200 frees.  With an argument N: N pairs from tl_churn instead, and
 * no sleep after the first phase.  Writes nothing; exits 0. */
#include <stdlib.h>
#include <time.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_grow = 200, n_churn = 3000;

SITE(tl_grow, 500)
SITE(tl_churn, 16)

static void nap(long ms)
{
    struct timespec t = { 0, ms * 1000000L };
    while (nanosleep(&t, &t) != 0) {}
}

int main(int argc, char **argv)
{
    static void *b[1000];
    int quick = argc > 1;
    if (quick)
        n_churn = atoi(argv[1]);
    for (int i = 0; i < n_grow; i++) {
        b[i] = tl_grow();
        if (i % 50 == 49)
            nap(12);
    }
    if (!quick)
        nap(25);
    for (int i = 0; i < n_grow / 2; i++)
        free(b[i]);
    if (!quick)
        nap(25);
    for (int i = n_grow / 2; i < n_grow; i++)
        free(b[i]);
    for (int i = 0; i < n_churn; i++) {
        free(tl_churn());
        if (i % 500 == 499 && !quick)
            nap(12);
    }
    prof_sink = NULL;
    return 0;
}
