/* Private heaps destroyed with blocks still in them (ms_heap_destroy with
 * MS_HEAP_REPORT_LEAKS): said on the log at once, kept for the JSON report. */
#ifndef MS_HEAP_LEAKS_H
#define MS_HEAP_LEAKS_H

#include <stddef.h>
#include <stdint.h>

struct writer;
struct symbolizer;

/* The n blocks left in heap `name`: each one's allocation stack id, debug tag and size. */
void heap_leaks_add(const char *name, const uint32_t *stack, const uint32_t *tag,
                    const size_t *size, size_t n);
/* Groups kept (by heap, stack and tag). */
size_t heap_leaks_count(void);
/* The JSON report's "heap_leaks" array's members. */
void heap_leaks_json(struct writer *w, struct symbolizer *sym);
void heap_leaks_fork_child(void);

#endif
