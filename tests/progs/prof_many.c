/* More sites than a thread's table of counters has slots (256), for check_profile.c: 512
 * call sites, each a case of the switch in site_alloc, allocating 16 + k bytes (k the case:
 * each site is told by its size).  All 512 blocks are held at once (the peak: 139008
 * bytes), freed in allocation order; then each site allocates once more and frees at once
 * (temporary); then, 100 times, a block from site 3 and one from site 259 (which share a
 * slot when the sites are numbered in order), freed in the reverse order.  The three loops
 * call site_alloc from three places, so each case makes two stacks (three for 3 and 259);
 * added up by case, site k makes 2 allocations of 16 + k bytes, 1 temporary, and holds
 * 16 + k bytes at the peak; 3 makes 102 (1 temporary) and 259 102 (101 temporary).
 * Writes nothing; exits 0. */
#include <stdlib.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_sites = 512, n_rounds = 100;

#define C1(k) case k: p = malloc(16 + (k)); break;
#define C2(k) C1(k) C1((k) + 1)
#define C4(k) C2(k) C2((k) + 2)
#define C8(k) C4(k) C4((k) + 4)
#define C16(k) C8(k) C8((k) + 8)
#define C32(k) C16(k) C16((k) + 16)
#define C64(k) C32(k) C32((k) + 32)
#define C128(k) C64(k) C64((k) + 64)
#define C256(k) C128(k) C128((k) + 128)
#define C512(k) C256(k) C256((k) + 256)

NOINLINE void *site_alloc(int k)
{
    void *p = NULL;
    switch (k) {
        C512(0)
    }
    prof_sink = p;
    return p;
}

int main(void)
{
    static void *held[512];
    for (int k = 0; k < n_sites; k++)
        held[k] = site_alloc(k);
    for (int k = 0; k < n_sites; k++)
        free(held[k]);
    for (int k = 0; k < n_sites; k++)
        free(site_alloc(k));
    for (int r = 0; r < n_rounds; r++) {
        void *a = site_alloc(3), *b = site_alloc(259);
        free(b);
        free(a);
    }
    prof_sink = NULL;
    return 0;
}
