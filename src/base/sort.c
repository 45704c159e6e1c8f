/* Sorting for the reports: glibc's qsort may call malloc (merge sort for large arrays),
 * which inside mallocspy would be the tracked allocator; a heapsort needs no memory and
 * stays n log n for the report with a very large number of groups. */
#include <string.h>

#include "base/mem.h"

#define MAX_ELEM 128            /* bytes of the largest element sorted */

static inline void swap(char *a, char *b, size_t size)
{
    char t[MAX_ELEM];
    memcpy(t, a, size);
    memcpy(a, b, size);
    memcpy(b, t, size);
}

/* Sinks element i of the heap base[0..n) (a max-heap by `before`: the root is what sorts
 * last). */
static void sift(char *base, size_t n, size_t size, size_t i,
                 bool (*before)(const void *, const void *))
{
    for (;;) {
        size_t m = i, l = 2 * i + 1, r = l + 1;
        if (l < n && before(base + m * size, base + l * size))
            m = l;
        if (r < n && before(base + m * size, base + r * size))
            m = r;
        if (m == i)
            return;
        swap(base + i * size, base + m * size, size);
        i = m;
    }
}

void sort_small(void *base, size_t n, size_t size, bool (*before)(const void *, const void *))
{
    char *b = base;
    if (size > MAX_ELEM)
        return;   /* never: the callers' elements are small */
    for (size_t i = n / 2; i-- > 0;)
        sift(b, n, size, i, before);
    for (size_t end = n; end > 1; end--) {
        swap(b, b + (end - 1) * size, size);
        sift(b, end - 1, size, 0, before);
    }
}
