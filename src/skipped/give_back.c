/* libmallocspy-skip.so: what a program that children_skip names is preloaded with instead
 * of mallocspy.  It interposes nothing; before the program's main it puts mallocspy back
 * into the LD_PRELOAD of the program's environment, from MALLOCSPY_CHILDREN_PRELOAD (which
 * holds the whole "LD_PRELOAD=..." entry), so that the programs it starts are observed
 * again, however it starts them.  A library of its own: it shares no header with
 * libmallocspy (base/run.h names the variable too). */
#include <string.h>
#include <unistd.h>

#define SAVED "MALLOCSPY_CHILDREN_PRELOAD="
#define PRELOAD "LD_PRELOAD="

/* Before main: no other thread reads the environment yet.  The saved entry's own text is
 * the new LD_PRELOAD entry, so nothing is allocated. */
__attribute__((constructor)) static void give_back(void)
{
    if (!environ)
        return;
    size_t saved = (size_t)-1, preload = (size_t)-1, n = 0;
    for (; environ[n]; n++) {
        if (!strncmp(environ[n], SAVED, sizeof SAVED - 1))
            saved = n;
        else if (!strncmp(environ[n], PRELOAD, sizeof PRELOAD - 1))
            preload = n;
    }
    if (saved == (size_t)-1)
        return;
    char *entry = environ[saved] + sizeof SAVED - 1;
    if (strncmp(entry, PRELOAD, sizeof PRELOAD - 1))
        return;
    if (preload != (size_t)-1) {
        environ[preload] = entry;
        for (size_t i = saved; i < n; i++)
            environ[i] = environ[i + 1];
    } else {
        environ[saved] = entry;
    }
}
