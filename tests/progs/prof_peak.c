/* A known peak, for check_profile.c: 10 blocks of 1000 bytes from peak_site_a, 5 of 2000
 * from peak_site_b (20000 bytes live: the peak), all of A freed, 3 of 100 from
 * peak_site_c, everything freed, then one block of 19999 bytes from peak_site_d, freed at
 * once (below the peak: it changes nothing).  At the peak A and B hold 10000 bytes each,
 * C and D nothing.  Frees go in allocation order, so nothing here is temporary but D.
 * Writes nothing; exits 0. */
#include <stdlib.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_a = 10, n_b = 5, n_c = 3;

SITE(peak_site_a, 1000)
SITE(peak_site_b, 2000)
SITE(peak_site_c, 100)
SITE(peak_site_d, 19999)

int main(void)
{
    void *a[16], *b[16], *c[16];
    for (int i = 0; i < n_a; i++)
        a[i] = peak_site_a();
    for (int i = 0; i < n_b; i++)
        b[i] = peak_site_b();
    for (int i = 0; i < n_a; i++)
        free(a[i]);
    for (int i = 0; i < n_c; i++)
        c[i] = peak_site_c();
    for (int i = 0; i < n_b; i++)
        free(b[i]);
    for (int i = 0; i < n_c; i++)
        free(c[i]);
    free(peak_site_d());
    prof_sink = NULL;
    return 0;
}
