/* Eight sites, each ranked differently by the profile's four measures, for the tests of
 * sites_top and report=profile in check_profile.c.  Each site allocates from a function
 * of its own; loop counts come from volatile globals, so each function is one site.
 *
 *   site           allocations   bytes    peak_bytes   temporary
 *   site_big              3     120000          0           0
 *   site_many           500       4000          0         500
 *   site_held             4      80000      80000           0
 *   site_medium         300       4800          0           0
 *   site_tempbig        100      10000          0         100
 *   site_held_small       2       6000       6000           0
 *   site_tiny             1         10         10           0
 *   site_tempsmall       50         50          0          50
 *
 * The peak (86010 bytes) is when site_held, site_held_small and site_tiny hold their
 * blocks; before it, at most 40000 + 300 * 16 bytes are live.  Writes nothing; exits 0. */
#include <stdlib.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_big = 3, n_medium_each = 100, n_many = 500, n_tempbig = 100,
             n_tempsmall = 50, n_held = 4, n_held_small = 2;

SITE(site_big, 40000)
SITE(site_many, 8)
SITE(site_held, 20000)
SITE(site_medium, 16)
SITE(site_tempbig, 100)
SITE(site_held_small, 3000)
SITE(site_tiny, 10)
SITE(site_tempsmall, 1)

int main(void)
{
    static void *d[1000];
    int nd = 0;
    /* Not temporary: another allocation comes between each block and its free. */
    for (int k = 0; k < n_big; k++) {
        void *a = site_big();
        for (int j = 0; j < n_medium_each; j++)
            d[nd++] = site_medium();
        free(a);
    }
    for (int i = 0; i < nd; i++)
        free(d[i]);
    /* Temporary. */
    for (int i = 0; i < n_many; i++)
        free(site_many());
    for (int i = 0; i < n_tempbig; i++)
        free(site_tempbig());
    for (int i = 0; i < n_tempsmall; i++)
        free(site_tempsmall());
    /* The peak, then everything freed in allocation order (nothing temporary). */
    void *c[8], *f[8];
    for (int i = 0; i < n_held; i++)
        c[i] = site_held();
    for (int i = 0; i < n_held_small; i++)
        f[i] = site_held_small();
    void *g = site_tiny();
    for (int i = 0; i < n_held; i++)
        free(c[i]);
    for (int i = 0; i < n_held_small; i++)
        free(f[i]);
    free(g);
    prof_sink = NULL;
    return 0;
}
