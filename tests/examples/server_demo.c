/* A small server-like program for the README's section on long-running processes: it
 * answers "requests" in a loop.  Each answer is remembered in a cache that is never
 * trimmed (the cache grows without bound: the leak that costs money), while each
 * session's buffer is freed when the next request of that session comes (steady).
 * Usage: server_demo [SECONDS] (default 3); it answers about 1000 requests a second. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct answer {
    struct answer *next;
    unsigned id;
    char text[120];
};

static struct answer *cache;          /* every answer ever given: it only grows */
static char *sessions[16];            /* one buffer per session, replaced each time */

static struct answer *remember(unsigned id)
{
    struct answer *a = malloc(sizeof *a);
    if (!a)
        exit(1);
    a->id = id;
    snprintf(a->text, sizeof a->text, "answer %u", id);
    a->next = cache;
    cache = a;
    return a;
}

static void session_buffer(unsigned id)
{
    free(sessions[id % 16]);
    sessions[id % 16] = malloc(256 + id % 64);
    if (sessions[id % 16])
        memset(sessions[id % 16], 0, 16);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3;
    struct timespec t0, now, pause = { 0, 1000 * 1000 };
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned id = 0;
    do {
        session_buffer(id);
        remember(id);
        id++;
        nanosleep(&pause, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("answered %u requests\n", id);
    return 0;
}
