/* Leak reports: at exit, on a signal (report_signal), or when the program asks
 * (ms_report_leaks).  The layer takes a classified snapshot (leaks/), groups it by stack,
 * and writes it as text in LeakSanitizer's manner, as JSON, and as pictures. */
#ifndef MS_REPORT_H
#define MS_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

struct scan_entry;
/* Takes a snapshot, classifies it and writes what the options ask for.  at_exit: the
 * process is exiting (the exit code option applies).  `entry`: where the calling thread's
 * roots begin (NULL: it holds none, as mallocspy's own reporting thread).  Returns the
 * number of leaked (definite plus indirect, not suppressed) blocks, or -1 when leak
 * checking is off. */
long report_run(bool at_exit, FILE *stream, const struct scan_entry *entry);
/* pprof_interval: a pprof profile of the running process, between reports (no thread is
 * stopped: the live blocks are read from the block map). */
void report_pprof_now(void);
/* The report runs at exit, after the program's destructors and the loader's. */
void report_register_exit(void);
void report_fork_child(void);

/* report_signal and pprof_interval: starts the thread that writes a report when the
 * signal comes, and a pprof profile every interval. */
void report_signal_start(void);
/* That thread (not stopped by a scan, holds no roots); 0 if none. */
pid_t report_signal_thread(void);
void report_signal_fork_child(void);

#endif
