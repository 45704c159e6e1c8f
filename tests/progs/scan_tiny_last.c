/* For check_scan.c: a leaked holder (tiny_holder, 16 bytes) whose only pointer leads to a
 * 4-byte block (tiny_string), the last block the program allocates: glibc's top chunk then
 * begins right where that block's bytes begin to be glibc's next chunk, and libc's data
 * holds that address.  Valgrind: 16 bytes definitely lost, 4 indirectly.  Prints "ok". */
#include <string.h>

#include "progutil.h"

struct holder {
    char *text;
    long n;
};

void *volatile sink;
void *volatile kept[64];

NOINLINE static char *tiny_string(void)
{
    char *s = malloc(4);
    memcpy(s, "abc", 4);
    return s;
}

NOINLINE static void tiny_holder(void)
{
    struct holder *h = malloc(sizeof *h);
    h->n = 1;
    h->text = tiny_string();
    sink = h;
    sink = NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    /* Chunks of these sizes freed earlier (at start-up) are taken first: the two blocks
     * below come from the top of the heap. */
    for (int i = 0; i < 64; i++)
        kept[i] = malloc(i & 1 ? 4 : 16);
    tiny_holder();
    scrub_stack_and_registers();
    printf("ok\n");
    return 0;
}
