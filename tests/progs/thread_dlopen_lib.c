/* For check_threads.c (thread_dlopen_spy): a library whose constructor, which the loader
 * runs with its lock held, tells the program it is there (a byte on the descriptor named
 * by DLOPEN_LIB_FDS), waits for its answer (at most 3 s), and allocates. */
#include <poll.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

int dlopen_lib_ok;

__attribute__((constructor)) static void ctor(void)
{
    const char *fds = getenv("DLOPEN_LIB_FDS");
    if (!fds)
        return;
    int tell = atoi(fds), hear = atoi(strchr(fds, ',') + 1);
    char c = 1;
    if (write(tell, &c, 1) != 1)
        return;
    struct pollfd p = { hear, POLLIN, 0 };
    if (poll(&p, 1, 3000) != 1 || read(hear, &c, 1) != 1)
        return;
    void *b = malloc(48);
    dlopen_lib_ok = b != NULL;
    free(b);
}
