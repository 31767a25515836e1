/* log.c — one structured line per event on stderr, written with a single write(2) so
 * lines from different workers never interleave. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static bool json;
static enum log_level min_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_configure(const char *format, const char *level)
{
    if (format && strcmp(format, "json") == 0)
        json = true;
    else if (format && *format && strcmp(format, "kv") != 0)
        return -1;
    if (level && *level) {
        for (int i = 0; i < 4; i++)
            if (strcmp(level, level_names[i]) == 0) {
                min_level = (enum log_level)i;
                return 0;
            }
        return -1;
    }
    return 0;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

struct buf {
    char data[4096];
    size_t n;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->n + n >= sizeof b->data - 2)
        n = sizeof b->data - 2 - b->n;
    memcpy(b->data + b->n, s, n);
    b->n += n;
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_value(struct buf *b, const char *v)
{
    if (!v)
        v = "";
    bool quote = json || !*v || strpbrk(v, " \"=\\\t\n") != NULL;
    if (!quote) {
        puts_(b, v);
        return;
    }
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(b, esc);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_pair(struct buf *b, const char *k, const char *v, bool first)
{
    if (json) {
        if (!first)
            put(b, ",", 1);
        put(b, "\"", 1);
        puts_(b, k);
        put(b, "\":", 2);
    } else {
        if (!first)
            put(b, " ", 1);
        puts_(b, k);
        put(b, "=", 1);
    }
    put_value(b, v);
}

void log_event(enum log_level level, const char *event, ...)
{
    if (level < min_level)
        return;
    struct buf b = {.n = 0};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    if (json)
        put(&b, "{", 1);
    put_pair(&b, "ts", ts, true);
    put_pair(&b, "level", level_names[level], false);
    put_pair(&b, "event", event, false);
    va_list ap;
    va_start(ap, event);
    for (const char *k; (k = va_arg(ap, const char *));) {
        const char *v = va_arg(ap, const char *);
        if (v) /* a NULL value leaves the key out */
            put_pair(&b, k, v, false);
    }
    va_end(ap);
    if (json)
        put(&b, "}", 1);
    b.data[b.n++] = '\n';
    ssize_t w = write(STDERR_FILENO, b.data, b.n);
    (void)w;
}

static _Thread_local char ring[8][32];
static _Thread_local unsigned ring_i;

static char *slot(void)
{
    return ring[ring_i++ % 8];
}

const char *log_u64(uint64_t v)
{
    char *s = slot();
    snprintf(s, 32, "%" PRIu64, v);
    return s;
}

const char *log_i64(int64_t v)
{
    char *s = slot();
    snprintf(s, 32, "%" PRId64, v);
    return s;
}

const char *log_ms(int64_t micros)
{
    char *s = slot();
    snprintf(s, 32, "%" PRId64 ".%03" PRId64, micros / 1000, micros % 1000);
    return s;
}
