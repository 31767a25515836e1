/* metrics.h — process-wide counters for the Prometheus endpoint (metrics_http.c) and the
 * shutdown log line: calls by method and status, latency histograms by method, calls in
 * flight, transaction retries, idempotent replays. The hot path is lock-free: the method
 * table is fixed at start, so each method has its own slot of relaxed atomics. */
#ifndef GS_METRICS_H
#define GS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "gs_status.h"

struct method_def;

/* Gives every method of the resolved method table (methods_resolve) a slot. Before the
 * workers start; calls counted before it land in the "unknown" slot. Returns -1 when out
 * of memory. */
int metrics_init(void);
void metrics_free(void);

/* A call entered / left the runtime (in-flight gauge). */
void metrics_begin(void);
/* One finished call of method m (its row in the method table) and metrics_begin's end. */
void metrics_call(const struct method_def *m, gs_code code, int64_t micros);
/* A call finished by the transport without a method (unknown path, refused while
 * stopping): looked up by path. Not counted as in flight. */
void metrics_call_path(const char *path, gs_code code, int64_t micros);
void metrics_retry(void);
/* A call refused at max_calls_per_user. */
void metrics_user_cap_refused(void);
void metrics_replay(void);

uint64_t metrics_calls(int code); /* -1: all */
uint64_t metrics_retries(void);

/* The Prometheus text exposition (format 0.0.4) of every series, malloc'd, NUL-terminated;
 * *len set. NULL when out of memory. */
char *metrics_render(size_t *len);

#endif
