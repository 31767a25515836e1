/* log.h — structured log lines on stderr: one event per line, `ts=… level=… event=…`
 * followed by key=value pairs (or one JSON object with --log-format json). Values are
 * quoted when needed; tokens and secrets are never passed here. */
#ifndef GS_LOG_H
#define GS_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* "kv" or "json"; "debug".."error". Returns -1 for unknown names. */
int log_configure(const char *format, const char *level);
bool log_enabled(enum log_level level);
/* key, value pairs (const char *), NULL-terminated. A pair whose value is NULL is left out. */
void log_event(enum log_level level, const char *event, ...) __attribute__((sentinel));

/* Formatting helpers with thread-local rotating buffers, valid until the next 8 calls. */
const char *log_u64(uint64_t v);
const char *log_i64(int64_t v);
const char *log_ms(int64_t micros); /* "12.345" */

#endif
