/* Every way mallocspy writes out: the program's stderr as it was at start-up, the text
 * log (log_path), report files (JSON, pictures), and where warnings go. */
#ifndef MS_CHANNELS_H
#define MS_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>

/* After the options are read: takes a copy of stderr, then writes the warnings that came
 * before (they wait until log_path is known: with it, every warning goes to the log). */
void channels_init(void);
/* The program's stderr as it was at start-up, -1 if it is gone. */
int chan_stderr_fd(void);
/* The text log: log_path (opened once per process, so that errors and reports follow one
 * another) or the program's stderr; -1 if neither can be written. */
int chan_log_fd(void);
/* Opens a report file for writing.  `pattern` is an option's value (it stays the same
 * string: a later report of the process goes to the same file).  %p in it becomes the
 * pid; a name another process of the run wrote (the pid came round again) gets a counter
 * ("<pid>-2").  A name without %p is taken by the first process of the run with something
 * to say (leaks, see chan_report_leaked, or heap errors), or by the process the user
 * started if it writes first; any other process writes "<name>.<pid>" (before the
 * extension).  Never through a symbolic link, never into a file another user owns
 * (refused, errno EPERM), truncated only once it is known to be ours; close-on-exec.
 * Returns the fd or -1 (errno set); `path` receives the name.  `what` names the report
 * in the warning it gives on failure ("JSON report"). */
int chan_open(const char *pattern, const char *what, char *path, size_t cap);
/* Whether the report about to be written found leaks (a name without %p goes first to a
 * process that has something to say). */
void chan_report_leaked(bool leaked);
/* A process that is not observed writes nothing, anywhere (chan_open and the log fail,
 * warnings are dropped). */
void chan_silence(void);
bool chan_silent(void);
/* The number %n stands for in report file names: the snapshot being written (0 for the
 * report at exit). */
void chan_set_number(unsigned n);
/* chan_open, with %n in `pattern` becoming `number` (a file of a numbered series: the
 * pprof profiles); number -1 leaves %n as it is.  A name with %n is claimed afresh each
 * time (each number is a file of its own). */
int chan_open_n(const char *pattern, long number, const char *what, char *path, size_t cap);
/* fd moved to a high descriptor number, close-on-exec (the program's low ones stay its
 * own); fd itself is closed.  -1 if it could not be moved (fd is then kept). */
int chan_high_fd(int fd);
void channels_fork_child(void);

#endif
