/* Stopping the other threads of the process for a leak scan. */
#ifndef MS_STOP_H
#define MS_STOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum { THREAD_SIGNALLED = 1, THREAD_PARKED, THREAD_RUNNING, THREAD_UNSTOPPED, THREAD_GONE };

/* A thread that could not be stopped (it blocks the stop signal, or did not answer in
 * time) is scanned where it runs: sp and regs are then what /proc/self/task/TID/syscall
 * showed of it while it waited in a system call (its stack pointer and the call's
 * arguments), sp 0 if it was not in one. */

struct stopped_thread {
    pid_t tid;
    atomic_int state;
    uintptr_t sp;              /* stack pointer where it stopped */
    uintptr_t tp;              /* thread pointer (its TLS) */
    uintptr_t regs[24];        /* general registers at the stop */
    unsigned nregs;
};

/* Stops every other thread (but `exclude`, 0 for none).  No lock may be taken and
 * nothing allocated (fresh pages aside) until world_resume. */
bool world_stop(pid_t exclude, struct stopped_thread **threads, size_t *n);
void world_resume(void);
void stop_fork_child(void);

#endif
