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
/* The number %n stands for in report file names: the snapshot being written (0 for the
 * report at exit). */
void chan_set_number(unsigned n);
/* Opens a report file for writing: %p in `pattern` becomes the pid, %n the number set.  Never through a
 * symbolic link, never into a file another user owns (refused, errno EPERM), truncated
 * only once it is known to be ours; close-on-exec.  Returns the fd or -1 (errno set);
 * `path` receives the expanded name.  `what` names the report in the warning it gives
 * on failure ("JSON report"). */
int chan_open(const char *pattern, const char *what, char *path, size_t cap);
/* chan_open, with %n in `pattern` becoming `number` (a file of a numbered series: the
 * pprof profiles); number -1 leaves %n as it is. */
int chan_open_n(const char *pattern, long number, const char *what, char *path, size_t cap);
/* fd moved to a high descriptor number, close-on-exec (the program's low ones stay its
 * own); fd itself is closed.  -1 if it could not be moved (fd is then kept). */
int chan_high_fd(int fd);
void channels_fork_child(void);

#endif
