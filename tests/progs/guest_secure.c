/* Linked with libmallocspy (a set-user-ID program ignores LD_PRELOAD paths), for
 * check_guest.c: the test runs a set-user-ID copy as an unprivileged user.  Prints
 * "secure=<getauxval(AT_SECURE)> euid=<n> uid=<n> mallocspy=<ms_version()>" (with
 * write(2)) so the test knows it ran in secure mode, with mallocspy loaded; leaks
 * GUEST_SECURE_BYTES from guest_secure_leak and exits 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "mallocspy.h"
#include "progutil.h"

#define GUEST_SECURE_BYTES 3579

void *volatile leak_sink;

NOINLINE void guest_secure_leak(void)
{
    char *p = malloc(GUEST_SECURE_BYTES); /* GUEST-SECURE */
    memset(p, 3, GUEST_SECURE_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

int main(void)
{
    char line[256];
    int n = snprintf(line, sizeof line, "secure=%lu euid=%d uid=%d mallocspy=%s\n",
                     getauxval(AT_SECURE), (int)geteuid(), (int)getuid(), ms_version());
    if (write(1, line, (size_t)n) != n)
        return 90;
    guest_secure_leak();
    scrub_stack();
    return 0;
}
