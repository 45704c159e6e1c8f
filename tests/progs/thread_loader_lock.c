/* For check_threads.c: the interleaving that hung a process one run in twenty.  Thread T
 * holds the loader's lock (it is inside a dl_iterate_phdr callback) and makes its first
 * allocation, the process's first from a second thread; meanwhile the main thread creates
 * another thread (pthread_create allocates) and allocates from a call site never seen
 * before, so that its stack must be walked: neither may wait for the other.  Barriers
 * force the order; every wait has a limit, so a hang shows as exit status 3. */
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <time.h>

#include "progutil.h"

static sem_t in_callback, go;

static bool wait_sem(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 3;
    return sem_timedwait(s, &ts) == 0;
}

NOINLINE static void *fresh_site(void)
{
    void *p = malloc(77);
    __asm__ volatile("" : : "r"(p) : "memory");
    return p;
}

static int callback(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)info;
    (void)size;
    sem_post(&in_callback);
    if (!wait_sem(&go))
        _exit(3);            /* the main thread never got through */
    void *p = malloc(33);    /* the first allocation of this thread, under the loader lock */
    *(int *)arg = p != NULL;
    free(p);
    return 1;
}

static void *holder(void *arg)
{
    dl_iterate_phdr(callback, arg);
    return NULL;
}

static void *idle(void *arg)
{
    return arg;
}

int main(void)
{
    sem_init(&in_callback, 0, 0);
    sem_init(&go, 0, 0);
    int ok = 0;
    pthread_t t, u;
    if (pthread_create(&t, NULL, holder, &ok))
        return 90;
    if (!wait_sem(&in_callback))
        return 91;
    /* T holds the loader's lock now. */
    if (pthread_create(&u, NULL, idle, NULL))
        return 92;
    free(fresh_site());
    sem_post(&go);
    pthread_join(t, NULL);
    pthread_join(u, NULL);
    return ok ? 0 : 93;
}
