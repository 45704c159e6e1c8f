/* Leak classification.  Until the memory scan exists every live block counts as definite;
 * suppressions turn definite leaks into suppressed ones. */
#include "internal.h"
#include "report.h"

void leaks_classify(struct snapshot *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->b[i].kind = KIND_DEFINITE;
}

void leaks_apply_suppressions(struct snapshot *s, bool (*suppressed)(uint32_t site, void *),
                              void *arg)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->b[i].kind == KIND_DEFINITE && suppressed(s->b[i].site, arg))
            s->b[i].kind = KIND_SUPPRESSED;
}
