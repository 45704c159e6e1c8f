/* For check_scan.c: a report_signal snapshot of a program that keeps running.  Run with
 * report_signal=SIGUSR2 and json_path=argv[1]: it leaks BEFORE blocks of BEFORE_BYTES
 * (scan_snap_before), sends itself SIGUSR2, polls until the report at argv[1] is complete,
 * renames it to argv[2], then goes on: THREADS threads each leak AFTER blocks of
 * AFTER_BYTES (scan_snap_after), and it exits normally (status 0) - the exit report
 * overwrites argv[1].  Prints a line at each step (write(2)): "leaked before",
 * "snapshot taken", "kept running".  Status 3 if the snapshot never comes. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progutil.h"

#define BEFORE 3
#define BEFORE_BYTES 111
#define THREADS 4
#define AFTER 5
#define AFTER_BYTES 77

volatile int before_count = BEFORE, after_count = AFTER;

NOINLINE void scan_snap_before(void)
{
    char *p = malloc(BEFORE_BYTES);
    memset(p, 1, BEFORE_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

NOINLINE void scan_snap_after(void)
{
    char *p = malloc(AFTER_BYTES);
    memset(p, 2, AFTER_BYTES);
    __asm__ volatile("" : : "r"(p) : "memory");
}

static void say(const char *s)
{
    if (write(1, s, strlen(s)) < 0)
        _exit(89);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The report is written in pieces: complete when it ends as the JSON report ends. */
static int complete(const char *path)
{
    static char buf[1 << 20];
    if (access(path, F_OK) != 0)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    size_t len = 0;
    ssize_t n;
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = 0;
    return len >= 3 && !strcmp(buf + len - 3, "}}\n") && strstr(buf, "\"threads_not_stopped\":");
}

static void *thread_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < after_count; i++)
        scan_snap_after();
    scrub_stack_and_registers();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    for (int i = 0; i < before_count; i++)
        scan_snap_before();
    scrub_stack_and_registers();
    say("leaked before\n");
    kill(getpid(), SIGUSR2);
    /* Poll: the handled signal may cut a sleep short, so time is counted, not sleeps. */
    double deadline = now() + 30;
    while (!complete(argv[1])) {
        if (now() > deadline) {
            say("no snapshot\n");
            return 3;
        }
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
    if (rename(argv[1], argv[2]) != 0)
        return 4;
    say("snapshot taken\n");
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, NULL))
            return 90;
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    scrub_stack_and_registers();
    say("kept running\n");
    return 0;
}
