/* For check_threads.c: a thread inside dlopen (the loader's lock held, in the constructor
 * of thread_dlopen_lib) while the main thread runs a spy's hook that asks for the call's
 * stack (a stack never seen: it must be walked), allocates from inside the hook, and then
 * registers and revokes another spy (a grace period over the threads).  Nothing may wait
 * for the thread inside the loader.  argv[1]: the library.  Exit status 3 or a timeout: a
 * hang. */
#include <dlfcn.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "mallocspy.h"
#include "progutil.h"

static atomic_int armed, stacks_seen;
static const char *lib;

static void *post_alloc_hook(ms_spy *self, void *actual)
{
    (void)self;
    if (atomic_exchange(&armed, 0)) {
        const ms_stack *st = ms_spy_stack();
        if (st && st->depth > 1)
            atomic_fetch_add(&stacks_seen, 1);
        free(malloc(100));   /* from inside the hook: straight to the real allocator */
    }
    return actual;
}

static const ms_spy_ops ops = { .post_alloc = post_alloc_hook };
static ms_spy spy = { &ops };
static const ms_spy_ops other_ops = { 0 };
static ms_spy other = { &other_ops };

NOINLINE static void *fresh_site(void)
{
    void *p = malloc(55);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static void *opener(void *arg)
{
    void *h = dlopen(lib, RTLD_NOW);
    *(void **)arg = h;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 90;
    lib = argv[1];
    int tell[2], hear[2];
    if (pipe(tell) || pipe(hear))
        return 90;
    char fds[32];
    snprintf(fds, sizeof fds, "%d,%d", tell[1], hear[0]);
    setenv("DLOPEN_LIB_FDS", fds, 1);
    if (ms_register_spy_flags(&spy, MS_SPY_SERIALIZED) != MS_OK)
        return 91;
    void *handle = NULL;
    pthread_t t;
    if (pthread_create(&t, NULL, opener, &handle))
        return 92;
    struct pollfd p = { tell[0], POLLIN, 0 };
    char c = 1;
    if (poll(&p, 1, 3000) != 1 || read(tell[0], &c, 1) != 1)
        return 3;
    /* The other thread is inside dlopen, holding the loader's lock. */
    atomic_store(&armed, 1);
    free(fresh_site());
    if (ms_register_spy(&other) != MS_OK || ms_revoke_spy(&other) != MS_OK)
        return 93;
    if (write(hear[1], &c, 1) != 1)
        return 96;
    pthread_join(t, NULL);
    if (!handle)
        return 94;
    int *ok = dlsym(handle, "dlopen_lib_ok");
    if (!ok || !*ok || atomic_load(&stacks_seen) != 1)
        return 95;
    dlclose(handle);
    ms_revoke_spy(&spy);
    return 0;
}
