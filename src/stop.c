/* Stopping the other threads for a leak scan (filled in with the scanner). */
#include "internal.h"

void stop_park_deferred(void) { ms_tls.stop_deferred = 0; }
