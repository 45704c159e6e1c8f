/* Two classic heap bugs for the README: a string copied one byte past its block, and a
 * block freed twice.  Run it with mallocspy's guard zones and quarantine on:
 *   scripts/mallocspy --guard --quarantine 1m -- build/tests/examples/bugs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forgets the terminating NUL when sizing the copy. */
static char *copy_name(const char *name)
{
    char *p = malloc(strlen(name));
    strcpy(p, name);
    return p;
}

static void release(char *p)
{
    free(p);
}

int main(void)
{
    char *name = copy_name("inventory");
    printf("%s\n", name);
    release(name);
    release(name);
    return 0;
}
