/* Allocates with every C allocation function and frees it all; never touches stdio, so
 * nothing at all is left live at exit.  Exits with argv[1] (0 when absent). */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

int main(int argc, char **argv)
{
    for (int round = 0; round < 50; round++) {
        char *a = malloc(100 + (size_t)round);
        char *b = calloc(10, 10);
        char *c = realloc(malloc(10), 1000);
        void *d = NULL;
        if (posix_memalign(&d, 64, 200))
            return 90;
        char *e = aligned_alloc(128, 256);
        char *f = strdup("freed");
        sink = a; sink = b; sink = c; sink = d; sink = e; sink = f;
        free(f);
        free(e);
        free(d);
        free(c);
        free(b);
        free(a);
    }
    sink = NULL;
    return argc > 1 ? atoi(argv[1]) : 0;
}
