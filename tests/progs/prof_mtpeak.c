/* The peak with two threads taking turns (pipes order them: nothing races), for
 * check_profile.c:
 *   1. the worker allocates 1100 blocks of 1000 bytes (worker_small_1)
 *   2. main allocates 10 blocks of 1 MiB (main_big)
 *   3. the worker allocates 1100 more (worker_small_2): the peak, 10 MiB + 2200000 bytes
 *   4. main frees its 10 MiB
 *   5. the worker allocates 900 more (worker_small_3): 3100000 bytes live
 *   6. the worker frees everything; main joins it.
 * At the peak main_big holds 10485760 bytes, worker_small_1 and _2 1100000 each,
 * worker_small_3 nothing.  Writes nothing; exits 0. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n_big = 10, n_small_1 = 1100, n_small_2 = 1100, n_small_3 = 900;
static int to_worker[2], to_main[2];

SITE(main_big, 1 << 20)
SITE(worker_small_1, 1000)
SITE(worker_small_2, 1000)
SITE(worker_small_3, 1000)

static void wait_for(int fd)
{
    char c;
    if (read(fd, &c, 1) != 1)
        abort();
}

static void tell(int fd)
{
    char c = 1;
    if (write(fd, &c, 1) != 1)
        abort();
}

static void *worker(void *arg)
{
    static void *w[4000];
    int n = 0;
    for (int i = 0; i < n_small_1; i++)
        w[n++] = worker_small_1();
    tell(to_main[1]);
    wait_for(to_worker[0]);
    for (int i = 0; i < n_small_2; i++)
        w[n++] = worker_small_2();
    tell(to_main[1]);
    wait_for(to_worker[0]);
    for (int i = 0; i < n_small_3; i++)
        w[n++] = worker_small_3();
    for (int i = 0; i < n; i++)
        free(w[i]);
    return arg;
}

int main(void)
{
    static void *big[16];
    pthread_t t;
    if (pipe(to_worker) || pipe(to_main) || pthread_create(&t, NULL, worker, NULL))
        return 1;
    wait_for(to_main[0]);
    for (int i = 0; i < n_big; i++)
        big[i] = main_big();
    tell(to_worker[1]);
    wait_for(to_main[0]);
    for (int i = 0; i < n_big; i++)
        free(big[i]);
    tell(to_worker[1]);
    pthread_join(t, NULL);
    prof_sink = NULL;
    return 0;
}
