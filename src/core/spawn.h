/* Starting programs: the exec family and posix_spawn give each program the environment
 * the run asks for (the entry points are in core/entry.h). */
#ifndef MS_SPAWN_H
#define MS_SPAWN_H

/* Finds the real calls; at start-up. */
void spawn_init(void);

#endif
