/* Two snapshots of a program whose memory changes between them, for mallocspy-report's
 * --diff (check_report_tool.c).  Run with report_signal=SIGUSR2, report_reachable=1 and
 * json_path=argv[1]: it allocates the first state, sends itself SIGUSR2, polls until the
 * report at argv[1] is complete, renames it to argv[2], allocates the second state and
 * exits (the exit report is argv[1]).  Every block is kept in a global (reachable) unless
 * said otherwise; the allocations go through wrappers named as common libraries name
 * theirs, which mallocspy-report folds:
 *
 *   site            through             first        second
 *   grow_site       xmalloc             10 x 1000    40 x 1000 (+30 blocks, +30000 bytes)
 *   steady_site     g_malloc            5 x 200      5 x 200   (unchanged)
 *   shrink_site     Perl_safesysmalloc  8 x 500      2 x 500   (-6 blocks, -3000 bytes)
 *   gone_site       malloc              3 x 48       none      (-3 blocks, -144 bytes)
 *   leak_site       my_pool_alloc       none         2 x 64 leaked (definite, +128)
 *
 * my_pool_alloc is a wrapper no list knows (the tests name it with --alloc-fn).  Prints
 * "first", "snapshot taken", "second" (write(2)); status 3 if the snapshot never comes. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progutil.h"

/* Not static: stores to a static array nothing reads may be dropped by the compiler. */
void *grown[40], *steady[5], *shrunk[8], *gone[3];
void *volatile leak_sink;

NOINLINE void *xmalloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 1, n);
    return p;
}

NOINLINE void *g_malloc(size_t n) { return xmalloc(n); }

NOINLINE void *Perl_safesysmalloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 2, n);
    return p;
}

NOINLINE void *my_pool_alloc(size_t n)
{
    void *p = malloc(n);
    memset(p, 3, n);
    return p;
}

NOINLINE void grow_site(int from, int to)
{
    for (int i = from; i < to; i++)
        grown[i] = xmalloc(1000);
}

NOINLINE void steady_site(void)
{
    for (int i = 0; i < 5; i++)
        steady[i] = g_malloc(200);
}

NOINLINE void shrink_site(void)
{
    for (int i = 0; i < 8; i++)
        shrunk[i] = Perl_safesysmalloc(500);
}

NOINLINE void gone_site(void)
{
    for (int i = 0; i < 3; i++)
        gone[i] = malloc(48);
}

NOINLINE void leak_site(void)
{
    for (int i = 0; i < 2; i++) {
        leak_sink = my_pool_alloc(64);
        leak_sink = NULL;
    }
}

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(4);
}

/* The snapshot is complete when the file ends with the JSON's closing brace. */
static bool snapshot_done(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    char tail[4] = { 0 };
    off_t end = lseek(fd, 0, SEEK_END);
    bool done = end > 3 && pread(fd, tail, 2, end - 2) == 2 && !strcmp(tail, "}\n");
    close(fd);
    return done;
}

/* The first state's report, moved to `aside`; false if it never came. */
static bool snapshot(const char *path, const char *aside)
{
    unlink(path);
    raise(SIGUSR2);
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    for (int tries = 0; !snapshot_done(path); tries++) {
        if (tries > 3000)
            return false;
        nanosleep(&ts, NULL);
    }
    return rename(path, aside) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    /* grow_site is called from one place: one stack, growing. */
    for (int phase = 0; phase < 2; phase++) {
        grow_site(phase ? 10 : 0, phase ? 40 : 10);
        if (phase == 0) {
            steady_site();
            shrink_site();
            gone_site();
            say("first\n");
            if (!snapshot(argv[1], argv[2]))
                return 3;
            say("snapshot taken\n");
        }
    }
    for (int i = 2; i < 8; i++) {
        free(shrunk[i]);
        shrunk[i] = NULL;
    }
    for (int i = 0; i < 3; i++) {
        free(gone[i]);
        gone[i] = NULL;
    }
    leak_site();
    scrub_stack();
    say("second\n");
    return 0;
}
