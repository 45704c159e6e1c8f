/* Temporary and other allocations on several threads at once, for check_profile.c.  Two
 * workers start together (a barrier) and each allocate from sites of their own:
 *   worker_one: 5000 x free(t1_pair())   then 200 blocks from t1_keep, freed in order
 *   worker_two: 4000 x free(t2_pair())   then 300 blocks from t2_keep, freed in order
 * so t1_pair 5000/5000 temporary, t1_keep 200/0, t2_pair 4000/4000, t2_keep 300/0, however
 * the two threads interleave.  Both are joined; a third thread makes 77 malloc/free pairs
 * from t3_pair (77/77) and then blocks for good: it is still running when the process
 * exits (exit(0) from main), so its counts are read where they stand.  Writes nothing. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "progutil.h"

void *volatile prof_sink;
volatile int n1_pairs = 5000, n1_keep = 200, n2_pairs = 4000, n2_keep = 300, n3_pairs = 77;
static pthread_barrier_t start;
static int block_fds[2], done_fds[2];

SITE(t1_pair, 24)
SITE(t1_keep, 40)
SITE(t2_pair, 56)
SITE(t2_keep, 72)
SITE(t3_pair, 88)

static void *worker_one(void *arg)
{
    static void *keep[1000];
    pthread_barrier_wait(&start);
    for (int i = 0; i < n1_pairs; i++)
        free(t1_pair());
    for (int i = 0; i < n1_keep; i++)
        keep[i] = t1_keep();
    for (int i = 0; i < n1_keep; i++)
        free(keep[i]);
    return arg;
}

static void *worker_two(void *arg)
{
    static void *keep[1000];
    pthread_barrier_wait(&start);
    for (int i = 0; i < n2_pairs; i++)
        free(t2_pair());
    for (int i = 0; i < n2_keep; i++)
        keep[i] = t2_keep();
    for (int i = 0; i < n2_keep; i++)
        free(keep[i]);
    return arg;
}

static void *worker_three(void *arg)
{
    for (int i = 0; i < n3_pairs; i++)
        free(t3_pair());
    char c = 1;
    if (write(done_fds[1], &c, 1) != 1)
        abort();
    read(block_fds[0], &c, 1);   /* never returns: nobody writes */
    return arg;
}

int main(void)
{
    if (pipe(block_fds) || pipe(done_fds))
        return 1;
    pthread_barrier_init(&start, NULL, 2);
    pthread_t a, b, c;
    if (pthread_create(&a, NULL, worker_one, NULL) || pthread_create(&b, NULL, worker_two, NULL))
        return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    if (pthread_create(&c, NULL, worker_three, NULL))
        return 1;
    char ch;
    if (read(done_fds[0], &ch, 1) != 1)
        return 1;
    exit(0);
}
