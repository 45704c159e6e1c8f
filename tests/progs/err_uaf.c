/* Use after free (issue 7), for the quarantine option: a 64-byte block from alloc_victim,
 * freed by free_victim, then 4 bytes of it (offsets 32 to 35, past what the C library
 * keeps in a freed chunk) written by write_after_free.  Modes (argv[1]):
 *   exit    nothing more: the damage is found at exit
 *   evict   then 200 blocks of 1024 bytes are allocated and freed by churn, pushing the
 *           victim out of a small quarantine (the damage is found as it leaves)
 *   read    the freed block is only read, never written: no error
 * Prints "ptr=P" (flushed) and "survived"; exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progutil.h"

void *volatile sink;
volatile int after;
volatile unsigned char seen;

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

NOINLINE void read_after_free(char *p)
{
    for (int i = 16; i < 64; i++)
        seen = (unsigned char)(seen + (unsigned char)p[i]);
    after++;
}

NOINLINE void churn(void)
{
    for (int i = 0; i < 200; i++) {
        char *q = malloc(1024);
        memset(q, i, 1024);
        sink = q;
        free(q);
    }
    after++;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "exit";
    char *p = alloc_victim(64);
    printf("ptr=%p\n", (void *)p);
    fflush(stdout);
    free_victim(p);
    if (!strcmp(mode, "read")) {
        read_after_free(p);
    } else {
        write_after_free(p);
        if (!strcmp(mode, "evict")) {
            churn();
            printf("churned\n");
        }
    }
    printf("survived\n");
    return 0;
}
