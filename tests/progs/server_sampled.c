/* A known allocation mix, for check_servers.c's sampling tests:
 *   small_site   400000 blocks of 64 bytes (25,600,000 bytes), each freed at once
 *   medium_site  3000 blocks of 8192 bytes (24,576,000 bytes), freed at the end
 *   large_site   40 blocks of 1 MiB (41,943,040 bytes), kept in a global
 *   lost_site    2000 blocks of 1000 bytes (2,000,000 bytes), leaked
 * Prints "ok". */
#include <string.h>

#include "progutil.h"

void *volatile large[40];
void *volatile medium[3000];
void *volatile sink;

NOINLINE static void small_site(void)
{
    for (int i = 0; i < 400000; i++) {
        char *p = malloc(64);
        p[0] = (char)i;
        sink = p;
        free(p);
    }
}

NOINLINE static void medium_site(void)
{
    for (int i = 0; i < 3000; i++) {
        medium[i] = malloc(8192);
        memset(medium[i], 1, 64);
    }
}

NOINLINE static void large_site(void)
{
    for (int i = 0; i < 40; i++) {
        large[i] = malloc(1 << 20);
        memset(large[i], 2, 64);
    }
}

NOINLINE static void lost_site(void)
{
    for (int i = 0; i < 2000; i++) {
        char *p = malloc(1000);
        memset(p, 0, 1000);
        sink = p;
    }
    sink = NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    small_site();
    medium_site();
    large_site();
    lost_site();
    for (int i = 0; i < 3000; i++)
        free(medium[i]);
    scrub_stack_and_registers();
    printf("ok\n");
    return 0;
}
