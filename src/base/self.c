/* Where mallocspy's own file is (base/self.h). */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/self.h"

bool self_dir(char *out, size_t cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t len, tcap;
    char *text = pages_read_fd(fd, &len, &tcap);
    close(fd);
    uintptr_t me = (uintptr_t)&self_dir;
    bool found = false;
    for (char *line = text; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        char *e;
        uintptr_t lo = (uintptr_t)strtoul(line, &e, 16);
        uintptr_t hi = *e == '-' ? (uintptr_t)strtoul(e + 1, &e, 16) : 0;
        char *path = strchr(line, '/');
        char *slash = path ? strrchr(path, '/') : NULL;
        if (me >= lo && me < hi && slash && (size_t)(slash - path) < cap) {
            memcpy(out, path, (size_t)(slash - path));
            out[slash - path] = 0;
            found = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    pages_free(text, tcap);
    return found;
}
