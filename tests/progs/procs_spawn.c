/* procs_spawn MODE PROGRAM [ARGS...]: starts PROGRAM the way MODE says, for the tests of
 * the processes of a run (which programs get the preload, whose reports survive):
 *   execve execv execvp execvpe execl execlp execle fexecve   replace this process
 *     (the execl forms pass one argument at most)
 *   posix_spawn posix_spawnp system                            start a child, wait for it
 *   raw        execve as a bare system call, which no preloaded library sees
 * Exits with the child's status (the spawning modes), or 127 when it cannot start it. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int wait_for(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 127;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: procs_spawn MODE PROGRAM [ARGS...]\n");
        return 2;
    }
    const char *mode = argv[1], *prog = argv[2];
    char **args = argv + 2;
    /* The list forms take one argument after the program's name: the NULL that ends the
     * list must come right after it (execle's environment follows that NULL). */
    const char *a1 = argc > 3 ? argv[3] : NULL;
    if (!strcmp(mode, "execve"))
        execve(prog, args, environ);
    else if (!strcmp(mode, "execv"))
        execv(prog, args);
    else if (!strcmp(mode, "execvp"))
        execvp(prog, args);
    else if (!strcmp(mode, "execvpe"))
        execvpe(prog, args, environ);
    else if (!strcmp(mode, "execl"))
        execl(prog, prog, a1, (char *)NULL);
    else if (!strcmp(mode, "execlp"))
        execlp(prog, prog, a1, (char *)NULL);
    else if (!strcmp(mode, "execle"))
        execle(prog, prog, a1, (char *)NULL, environ);
    else if (!strcmp(mode, "fexecve")) {
        int fd = open(prog, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            fexecve(fd, args, environ);
    } else if (!strcmp(mode, "raw"))
        syscall(SYS_execve, prog, args, environ);
    else if (!strcmp(mode, "posix_spawn") || !strcmp(mode, "posix_spawnp")) {
        pid_t pid;
        int err = mode[11] == 'p' ? posix_spawnp(&pid, prog, NULL, NULL, args, environ)
                                  : posix_spawn(&pid, prog, NULL, NULL, args, environ);
        return err ? 127 : wait_for(pid);
    } else if (!strcmp(mode, "system")) {
        char cmd[4096] = "";
        for (int i = 2; i < argc; i++) {
            strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
            strcat(cmd, " ");
        }
        int st = system(cmd);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 127;
    } else {
        fprintf(stderr, "procs_spawn: unknown mode %s\n", mode);
        return 2;
    }
    perror(prog);
    return 127;
}
