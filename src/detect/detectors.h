/* The heap error detectors: spies registered at start-up, before the leak tracker (so
 * inside it), as the options ask: mismatch (malloc/delete, new/free...), guard (redzones
 * around each block), quarantine (freed blocks held back and checked for writes), and
 * malloc_fill / free_fill.  What they find goes to output/errors. */
#ifndef MS_DETECTORS_H
#define MS_DETECTORS_H

void detectors_init(void);
/* Checks every redzone and every held block now (each report does, and the exit). */
void detectors_check_all(void);
void detectors_fork_child(void);

#endif
