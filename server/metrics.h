/* metrics.h — process-wide counters: calls by status code, latency sum, transaction
 * retries. Lock-free; reported in the shutdown log line (and the metrics endpoint when
 * there is one). */
#ifndef GS_METRICS_H
#define GS_METRICS_H

#include <stdint.h>

#include "gs_status.h"

void metrics_call(const char *path, gs_code code, int64_t micros);
void metrics_retry(void);
uint64_t metrics_calls(int code); /* -1: all */
uint64_t metrics_retries(void);

#endif
