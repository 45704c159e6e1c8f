/* Calls ms_report_leaks(stdout) mid-run, for check_tracker.c.  Before the call it leaks
 * KEPT_BYTES (leak_api_kept: the pointer is dropped) and holds HELD_BYTES
 * (leak_api_hold: in a global); after it, prints "\nreturn=N\n" (N what the call
 * returned), frees the held block and exits: the exit report must not show that block.
 * stdout is unbuffered, so stdio leaves no buffer behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mallocspy.h"
#include "progutil.h"

#define KEPT_BYTES 4000
#define HELD_BYTES 3000

void *volatile leak_sink;
static char *volatile held;

NOINLINE void leak_api_kept(void)
{
    char *p = malloc(KEPT_BYTES); /* LEAK-API-KEPT */
    memset(p, 1, KEPT_BYTES);
    leak_sink = p;
    leak_sink = NULL;
}

NOINLINE void leak_api_hold(void)
{
    held = malloc(HELD_BYTES); /* LEAK-API-HELD */
    memset(held, 2, HELD_BYTES);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    leak_api_kept();
    leak_api_hold();
    scrub_stack();
    int n = ms_report_leaks(stdout);
    printf("\nreturn=%d\n", n);
    free(held);
    held = NULL;
    return 0;
}
