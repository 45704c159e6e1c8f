/* The run: the processes that one command started, one from another, with mallocspy
 * preloaded.  The first of them (the process the user started) creates it and names it in
 * its environment (MALLOCSPY_RUN=<pid>:<start time>), which every program it starts
 * inherits; report files are named so that no process of a run overwrites another's
 * (output/channels.c), and programs are started with or without the preload
 * (core/spawn.c) from what is known here. */
#ifndef MS_RUN_H
#define MS_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* After the options are read (follow_children, children_skip). */
void run_init(void);
/* From the library's constructor, before main: the process's own environment gets the
 * run's variable (follow_children=1) or loses mallocspy's preload (follow_children=0), so
 * that every way of starting a program (system, popen, posix_spawn, execve) passes it on. */
void run_setup_environ(void);
/* mallocspy came in through LD_PRELOAD (not linked with -lmallocspy): its children may
 * inherit it, and the run is this process's. */
bool run_preloaded(void);
/* This process is the one the user started (or a program it replaced itself with). */
bool run_is_top(void);
/* It started inside a run: another process of the run started it. */
bool run_inherited(void);
/* Whether the file `st` describes was there before the run began (so a process of the run
 * may take its name): the report files named without %p that were there when the run's
 * first process started are remembered in the run's variable; any other file counts as
 * the run's own when it was modified since the run began (by the file system's clock). */
bool run_file_predates(const struct stat *st);
/* "MALLOCSPY_RUN=...": the entry the programs of the run inherit; NULL when not preloaded. */
const char *run_variable(void);
/* Whether the `len` bytes at entry, an item of LD_PRELOAD, name this library. */
bool run_preload_entry_is_ours(const char *entry, size_t len);
/* Whether LD_PRELOAD's `value` holds this library. */
bool run_preload_has_us(const char *value);
/* LD_PRELOAD's value with this library's item replaced by `with` (or removed when NULL),
 * into out; the number of bytes it needs (out is cut when cap is short). */
size_t run_preload_without_us(const char *value, const char *with, char *out, size_t cap);
/* The small library a skipped program is preloaded with instead of mallocspy (it gives
 * the program's own children their preload back); NULL when it was not found. */
const char *run_skip_library(void);
/* Whether children_skip names this program (by its file or its argv[0]), which another
 * process of the run started in a way mallocspy did not see (system, popen). */
bool run_skipped_here(void);
void run_fork_child(void);

#define RUN_VAR "MALLOCSPY_RUN"
/* Holds "LD_PRELOAD=<value>" for a skipped program's children (src/skipped/). */
#define RUN_CHILDREN_PRELOAD_VAR "MALLOCSPY_CHILDREN_PRELOAD"

#endif
