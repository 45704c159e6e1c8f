/* Prints the file that this program's malloc and free are bound to: built without
 * libmallocspy, its references carry the C library's versions (malloc@GLIBC_2.2.5), and
 * under the preload they must still reach mallocspy's unversioned definitions
 * (check_exports). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    void *(*volatile m)(size_t) = malloc;
    void (*volatile f)(void *) = free;
    Dl_info a, b;
    if (!dladdr((void *)m, &a) || !dladdr((void *)f, &b) || !a.dli_fname || !b.dli_fname)
        return 1;
    printf("%s\n%s\n", a.dli_fname, b.dli_fname);
    return 0;
}
