/* The process's environment: read before the C library has set it up, and changed for the
 * programs it starts (the run's variable, LD_PRELOAD) in mallocspy's own memory. */
#ifndef MS_ENVIRON_H
#define MS_ENVIRON_H

#include <stdbool.h>
#include <stddef.h>

/* KEY's value in the initial environment, as secure_getenv gives it; when the C library has
 * not set `environ` up yet (an allocation from .preinit_array), read from /proc into buf.
 * NULL if unset, and always in secure mode. */
const char *env_initial(const char *key, char *buf, size_t cap);
/* The entry "KEY=..." of envp, and its index; NULL if there is none. */
char *env_entry(char *const *envp, const char *key, size_t *index);
/* Sets `entry` ("KEY=value", kept: it must live as long as the process) in the process's
 * own environment, replacing KEY's entry or adding one.  The array is copied into own
 * memory; the C library's setenv copies it again when it next changes it. */
bool env_self_put(char *entry);
/* Removes KEY from the process's own environment (as unsetenv, without its lock: only at
 * start-up, before the program runs). */
void env_self_remove(const char *key);

#endif
