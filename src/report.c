#include "internal.h"
void report_at_exit(void *arg) { (void)arg; }
MS_EXPORT int ms_report_leaks(FILE *out) { (void)out; return 0; }
