/* A host that does to its descriptors what daemons and careless exit paths do, for
 * check_guest.c; mallocspy must write its report all the same, and never into the
 * program's files.  argv[1] is the mode, argv[2] a directory for the program's files:
 *   close01       closes 0 and 1, and opens two files of its own, which take 0 and 1;
 *   close012      closes 0, 1 and 2, and opens three files, which take 0, 1 and 2;
 *   close-high    has mallocspy write a report mid-run (to /dev/null: the symbolizer
 *                 starts), closes every descriptor from 3 up, and opens 8 files, which
 *                 take 3 to 10;
 *   dup2-high     the same report, then dup2s one file of its own over every descriptor
 *                 from 3 up that is open (mallocspy's among them);
 *   dup2-socket   the same with one end of a socket pair of its own (a connection, as a
 *                 server would have): a child it forks reads the other end until every
 *                 copy is closed (at the program's exit) and writes what it received to
 *                 <dir>/received (it _exits: no report of its own).
 * Each file it opens, <dir>/victim.<n>, holds "victim <n>\n" with its offset left at 0,
 * so that any write would change it.  The descriptors it closed or replaced are listed
 * in <dir>/touched, one a line.  Leaks GUEST_FDS_BYTES from guest_fds_leak, exits 0
 * (9x when something did not go as planned). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mallocspy.h"
#include "progutil.h"

#define GUEST_FDS_BYTES 1357
#define VICTIMS 8

void *volatile leak_sink;
static char dir[4096];

NOINLINE void guest_fds_leak(void)
{
    char *p = malloc(GUEST_FDS_BYTES); /* GUEST-FDS */
    memset(p, 8, GUEST_FDS_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

/* Opens victim n, which must take descriptor `want` (-1: any). */
static int victim(int n, int want)
{
    char path[4200], text[32];
    snprintf(path, sizeof path, "%s/victim.%d", dir, n);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int len = snprintf(text, sizeof text, "victim %d\n", n);
    if (fd < 0 || (want >= 0 && fd != want) || write(fd, text, (size_t)len) != len ||
        lseek(fd, 0, SEEK_SET) != 0)
        _exit(96);
    return fd;
}

/* The report mallocspy writes mid-run, which starts its symbolizer. */
static void report_now(void)
{
    FILE *null = fopen("/dev/null", "w");
    if (!null || ms_report_leaks(null) < 1)
        _exit(97);
    fclose(null);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char list[4200];
    snprintf(list, sizeof list, "%s/touched", dir);
    FILE *touched = fopen(list, "w");
    if (!touched)
        return 90;
    guest_fds_leak();
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    const char *mode = argv[1];
    if (!strcmp(mode, "close01") || !strcmp(mode, "close012")) {
        int n = !strcmp(mode, "close01") ? 2 : 3;
        fclose(touched);
        for (int fd = 0; fd < n; fd++)
            close(fd);
        for (int fd = 0; fd < n; fd++)
            victim(fd, fd);
        /* "touched" is written after the fact: stdio must not take a low descriptor. */
        touched = fopen(list, "w");
        for (int fd = 0; touched && fd < n; fd++)
            fprintf(touched, "%d\n", fd);
        if (!touched || fclose(touched) != 0)
            return 91;
    } else if (!strcmp(mode, "close-high")) {
        report_now();
        int keep = fileno(touched);
        for (int fd = 3; fd < max; fd++)
            if (fd != keep && fcntl(fd, F_GETFD) >= 0 && close(fd) == 0)
                fprintf(touched, "%d\n", fd);
        if (fclose(touched) != 0)
            return 91;
        for (int n = 0; n < VICTIMS; n++)
            victim(n, 3 + n);
    } else if (!strcmp(mode, "dup2-high")) {
        report_now();
        int keep = fileno(touched);
        int v = victim(0, -1);
        for (int fd = 3; fd < max; fd++)
            if (fd != keep && fd != v && fcntl(fd, F_GETFD) >= 0 && dup2(v, fd) == fd)
                fprintf(touched, "%d\n", fd);
        if (fclose(touched) != 0)
            return 91;
    } else if (!strcmp(mode, "dup2-socket")) {
        report_now();
        int sv[2];
        char path[4200];
        snprintf(path, sizeof path, "%s/received", dir);
        int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
            return 92;
        fflush(touched);
        pid_t reader = fork();
        if (reader < 0)
            return 93;
        if (reader == 0) {
            close(sv[0]);
            char buf[4096];
            ssize_t n;
            while ((n = read(sv[1], buf, sizeof buf)) > 0)
                if (write(out, buf, (size_t)n) != n)
                    _exit(1);
            _exit(0);
        }
        close(sv[1]);
        close(out);
        int keep = fileno(touched);
        for (int fd = 3; fd < max; fd++)
            if (fd != keep && fd != sv[0] && fcntl(fd, F_GETFD) >= 0 && dup2(sv[0], fd) == fd)
                fprintf(touched, "%d\n", fd);
        if (fclose(touched) != 0)
            return 91;
    } else {
        return 2;
    }
    scrub_stack();
    return 0;
}
