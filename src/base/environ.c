/* The process's environment, read early and changed at start-up.  Changes are made before
 * the program's main runs (from the library's constructor), while no other thread can
 * read `environ`; they allocate from mallocspy's own memory, never the program's heap. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "base/environ.h"
#include "base/mem.h"

const char *env_initial(const char *key, char *buf, size_t cap)
{
    const char *v = secure_getenv(key);
    if (v || environ || getauxval(AT_SECURE) || cap == 0)
        return v;
    int fd = open("/proc/self/environ", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    /* Entries are NUL-terminated; `at` counts the bytes of the current one matched so far
     * against "KEY=", then its value is copied. */
    size_t klen = strlen(key);
    char chunk[4096];
    size_t at = 0, len = 0;
    bool in_value = false, found = false, dead = false;
    ssize_t n;
    while (!found && (n = read(fd, chunk, sizeof chunk)) > 0) {
        for (ssize_t i = 0; i < n && !found; i++) {
            char c = chunk[i];
            if (c == 0) {
                found = in_value;
                at = 0;
                dead = false;
                in_value = false;
            } else if (in_value) {
                if (len < cap - 1)
                    buf[len++] = c;
            } else if (!dead && (at < klen ? c == key[at] : c == '=')) {
                if (++at == klen + 1)
                    in_value = true;
            } else {
                dead = true;
            }
        }
    }
    close(fd);
    buf[len] = 0;
    return found || in_value ? buf : NULL;
}

char *env_entry(char *const *envp, const char *key, size_t *index)
{
    size_t klen = strlen(key);
    for (size_t i = 0; envp && envp[i]; i++)
        if (!strncmp(envp[i], key, klen) && envp[i][klen] == '=') {
            if (index)
                *index = i;
            return envp[i];
        }
    return NULL;
}

bool env_self_put(char *entry)
{
    const char *eq = strchr(entry, '=');
    if (!eq)
        return false;
    char key[256];
    size_t klen = (size_t)(eq - entry);
    if (klen >= sizeof key)
        return false;
    memcpy(key, entry, klen);
    key[klen] = 0;
    size_t n = 0, at;
    while (environ && environ[n])
        n++;
    if (env_entry(environ, key, &at)) {
        environ[at] = entry;
        return true;
    }
    /* A new array: the one the C library set up has no room after its end.  Never freed:
     * the program may still hold the old one (and setenv replaces ours with its own). */
    char **env = arena_alloc((n + 2) * sizeof *env);
    if (!env)
        return false;
    if (n)
        memcpy(env, environ, n * sizeof *env);
    env[n] = entry;
    env[n + 1] = NULL;
    environ = env;
    return true;
}

void env_self_remove(const char *key)
{
    size_t at;
    if (!env_entry(environ, key, &at))
        return;
    for (size_t i = at; environ[i]; i++)
        environ[i] = environ[i + 1];
}
