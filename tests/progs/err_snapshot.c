/* Damage found by a report made while the program runs (issue 7): a 64-byte block from
 * alloc_damaged is written 8 bytes past its end by overrun (the guard option), and a
 * 64-byte block from alloc_victim is freed by free_victim and then written at offsets 32
 * to 35 by write_after_free (the quarantine option).  The program then asks for a report
 * with ms_report_leaks (to /dev/null), prints "reported", frees the damaged block with
 * release_damaged, and exits 0 after "survived".  Each damage must be reported once: when
 * the report finds it, and never again for the same damage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

volatile int after;

NOINLINE char *alloc_damaged(size_t n)
{
    char *p = malloc(n);
    memset(p, 0x22, n);
    after++;
    return p;
}

NOINLINE void overrun(char *p, size_t n)
{
    p[n + 8] = 0x5a;
    after++;
}

NOINLINE void release_damaged(char *p)
{
    free(p);
    after++;
}

NOINLINE char *alloc_victim(size_t n)
{
    char *p = malloc(n);
    memset(p, 0x22, n);
    after++;
    return p;
}

NOINLINE void free_victim(char *p)
{
    free(p);
    after++;
}

NOINLINE void write_after_free(char *p)
{
    memset(p + 32, 0x99, 4);
    after++;
}

int main(void)
{
    char *d = alloc_damaged(64);
    char *v = alloc_victim(64);
    printf("damaged=%p\nvictim=%p\n", (void *)d, (void *)v);
    fflush(stdout);
    overrun(d, 64);
    free_victim(v);
    write_after_free(v);
    FILE *null = fopen("/dev/null", "w");
    if (!null)
        return 1;
    ms_report_leaks(null);
    fclose(null);
    printf("reported\n");
    fflush(stdout);
    release_damaged(d);
    printf("survived\n");
    return 0;
}
