/* metrics.c — the counters behind metrics.h and their Prometheus text rendering. One slot
 * of relaxed atomics per method (plus one for unknown paths), allocated once at start;
 * gauges owned elsewhere (database connections, open watches) are read at scrape time. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "listen.h"
#include "method.h"
#include "monitor.h"

#ifndef GS_VERSION
#define GS_VERSION "unknown"
#endif

/* Latency bucket upper bounds in microseconds (rendered in seconds, Prometheus style). */
static const int64_t bucket_us[] = {500,    1000,   2500,   5000,    10000,   25000,   50000,
                                    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct slot {
    const char *path; /* "/gridstock.v1.SiteService/ListSites"; NULL for the unknown slot */
    const char *kind; /* "unary", "server_stream", "bidi_stream" */
    _Atomic uint64_t by_code[GS_CODE_COUNT];
    _Atomic uint64_t buckets[NBUCKETS + 1]; /* per bucket (not cumulative); last: +Inf */
    _Atomic uint64_t sum_us;
};

static struct slot *slots; /* n_slots - 1 methods, then the unknown slot */
static size_t n_slots;
static struct slot fallback; /* before metrics_init, or if it failed */
static _Atomic int64_t in_flight;
static _Atomic uint64_t retries, replays, user_cap_refused;
static time_t started;

static const char *kind_name(rpc_kind k)
{
    return k == RPC_UNARY ? "unary" : k == RPC_SERVER_STREAM ? "server_stream" : "bidi_stream";
}

int metrics_init(void)
{
    size_t n = 1;
    for (service_def *const *sp = methods_services(); *sp; sp++)
        n += (*sp)->n_methods;
    struct slot *s = calloc(n, sizeof *s);
    if (!s)
        return -1;
    size_t i = 0;
    for (service_def *const *sp = methods_services(); *sp; sp++)
        for (size_t k = 0; k < (*sp)->n_methods; k++, i++) {
            s[i].path = (*sp)->methods[k].path;
            s[i].kind = kind_name((*sp)->methods[k].kind);
        }
    slots = s;
    n_slots = n;
    started = time(NULL);
    return 0;
}

void metrics_free(void)
{
    free(slots);
    slots = NULL;
    n_slots = 0;
}

/* The slot of a method-table row: its service's base index plus its row index. */
static struct slot *slot_of(const method_def *m)
{
    if (!slots)
        return &fallback;
    size_t base = 0;
    for (service_def *const *sp = methods_services(); m && *sp; sp++) {
        const service_def *s = *sp;
        if ((uintptr_t)m >= (uintptr_t)s->methods &&
            (uintptr_t)m < (uintptr_t)(s->methods + s->n_methods))
            return &slots[base + (size_t)(m - s->methods)];
        base += s->n_methods;
    }
    return &slots[n_slots - 1];
}

static void count(struct slot *s, gs_code code, int64_t micros, bool timed)
{
    if ((unsigned)code < GS_CODE_COUNT)
        atomic_fetch_add_explicit(&s->by_code[code], 1, memory_order_relaxed);
    if (!timed)
        return;
    size_t b = 0;
    while (b < NBUCKETS && micros > bucket_us[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    if (micros > 0)
        atomic_fetch_add_explicit(&s->sum_us, (uint64_t)micros, memory_order_relaxed);
}

void metrics_begin(void)
{
    atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
}

void metrics_call(const method_def *m, gs_code code, int64_t micros)
{
    atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed);
    count(slot_of(m), code, micros, true);
}

void metrics_call_path(const char *path, gs_code code, int64_t micros)
{
    struct slot *s = slots ? &slots[n_slots - 1] : &fallback;
    for (size_t i = 0; path && i + 1 < n_slots; i++)
        if (strcmp(slots[i].path, path) == 0) {
            s = &slots[i];
            break;
        }
    count(s, code, micros, false);
}

void metrics_user_cap_refused(void)
{
    atomic_fetch_add_explicit(&user_cap_refused, 1, memory_order_relaxed);
}

void metrics_retry(void)
{
    atomic_fetch_add_explicit(&retries, 1, memory_order_relaxed);
}
void metrics_replay(void)
{
    atomic_fetch_add_explicit(&replays, 1, memory_order_relaxed);
}

static uint64_t slot_calls(const struct slot *s, int code)
{
    if (code >= 0)
        return code < GS_CODE_COUNT ? atomic_load(&s->by_code[code]) : 0;
    uint64_t n = 0;
    for (int i = 0; i < GS_CODE_COUNT; i++)
        n += atomic_load(&s->by_code[i]);
    return n;
}

uint64_t metrics_calls(int code)
{
    uint64_t n = slot_calls(&fallback, code);
    for (size_t i = 0; i < n_slots; i++)
        n += slot_calls(&slots[i], code);
    return n;
}

uint64_t metrics_retries(void)
{
    return atomic_load(&retries);
}

/* ------------------------------------------------------------------ rendering */

struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !b->oom; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 1;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* "/gridstock.v1.SiteService/ListSites" → service and method label values. */
static void labels(const struct slot *s, char *out, size_t n)
{
    if (!s->path) {
        snprintf(out, n, "grpc_service=\"unknown\",grpc_method=\"unknown\",grpc_type=\"unary\"");
        return;
    }
    const char *slash = strrchr(s->path, '/');
    snprintf(out, n, "grpc_service=\"%.*s\",grpc_method=\"%s\",grpc_type=\"%s\"",
             (int)(slash - s->path - 1), s->path + 1, slash + 1, s->kind);
}

static void render_slots(struct buf *b)
{
    char l[256];
    put(b, "# HELP gridstock_grpc_server_handled_total Calls finished, by method and status.\n"
           "# TYPE gridstock_grpc_server_handled_total counter\n");
    for (size_t i = 0; i < n_slots; i++) {
        labels(&slots[i], l, sizeof l);
        for (int c = 0; c < GS_CODE_COUNT; c++) {
            uint64_t v = atomic_load_explicit(&slots[i].by_code[c], memory_order_relaxed);
            if (v)
                put(b, "gridstock_grpc_server_handled_total{%s,grpc_code=\"%s\"} %llu\n", l,
                    gs_code_name(c), (unsigned long long)v);
        }
    }
    put(b, "# HELP gridstock_grpc_server_handling_seconds Time from the call's arrival to its "
           "answer, by method.\n"
           "# TYPE gridstock_grpc_server_handling_seconds histogram\n");
    for (size_t i = 0; i < n_slots; i++) {
        const struct slot *s = &slots[i];
        uint64_t cum = 0, per[NBUCKETS + 1];
        for (size_t k = 0; k <= NBUCKETS; k++)
            cum += per[k] = atomic_load_explicit(&s->buckets[k], memory_order_relaxed);
        if (cum == 0)
            continue; /* a method never called has no series yet */
        labels(s, l, sizeof l);
        cum = 0;
        for (size_t k = 0; k < NBUCKETS; k++) {
            cum += per[k];
            put(b, "gridstock_grpc_server_handling_seconds_bucket{%s,le=\"%g\"} %llu\n", l,
                (double)bucket_us[k] / 1e6, (unsigned long long)cum);
        }
        cum += per[NBUCKETS];
        put(b, "gridstock_grpc_server_handling_seconds_bucket{%s,le=\"+Inf\"} %llu\n", l,
            (unsigned long long)cum);
        put(b, "gridstock_grpc_server_handling_seconds_sum{%s} %.6f\n", l,
            (double)atomic_load_explicit(&s->sum_us, memory_order_relaxed) / 1e6);
        put(b, "gridstock_grpc_server_handling_seconds_count{%s} %llu\n", l,
            (unsigned long long)cum);
    }
}

struct db_seen {
    struct buf *b;
    int pass; /* 0: up gauges, 1: reconnect counters */
};

static void db_line(void *arg, const char *name, bool up, uint64_t reconnects)
{
    struct db_seen *s = arg;
    if (s->pass == 0)
        put(s->b, "gridstock_db_connection_up{conn=\"%s\"} %d\n", name, up ? 1 : 0);
    else
        put(s->b, "gridstock_db_reconnects_total{conn=\"%s\"} %llu\n", name,
            (unsigned long long)reconnects);
}

char *metrics_render(size_t *len)
{
    struct buf b = {.p = malloc(16384), .cap = 16384};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    put(&b,
        "# HELP gridstock_build_info The running gridstockd; always 1.\n"
        "# TYPE gridstock_build_info gauge\n"
        "gridstock_build_info{version=\"%s\"} 1\n",
        GS_VERSION);
    put(&b,
        "# HELP gridstock_process_start_time_seconds Start time of the process (Unix time).\n"
        "# TYPE gridstock_process_start_time_seconds gauge\n"
        "gridstock_process_start_time_seconds %lld\n",
        (long long)started);
    put(&b,
        "# HELP gridstock_grpc_server_in_flight Calls being handled now.\n"
        "# TYPE gridstock_grpc_server_in_flight gauge\n"
        "gridstock_grpc_server_in_flight %lld\n",
        (long long)atomic_load(&in_flight));
    if (slots)
        render_slots(&b);
    put(&b,
        "# HELP gridstock_tx_retries_total Transactions retried after a serialization "
        "failure or deadlock.\n"
        "# TYPE gridstock_tx_retries_total counter\n"
        "gridstock_tx_retries_total %llu\n",
        (unsigned long long)atomic_load(&retries));
    put(&b,
        "# HELP gridstock_idempotent_replays_total Mutating calls answered from the stored "
        "response of an earlier call with the same request id.\n"
        "# TYPE gridstock_idempotent_replays_total counter\n"
        "gridstock_idempotent_replays_total %llu\n",
        (unsigned long long)atomic_load(&replays));
    put(&b,
        "# HELP gridstock_user_call_cap_refused_total Calls refused because their user "
        "already had max_calls_per_user calls running.\n"
        "# TYPE gridstock_user_call_cap_refused_total counter\n"
        "gridstock_user_call_cap_refused_total %llu\n",
        (unsigned long long)atomic_load(&user_cap_refused));
    listen_stats ws;
    listen_get_stats(&ws);
    put(&b,
        "# HELP gridstock_watch_streams_open Server-streaming watches open now.\n"
        "# TYPE gridstock_watch_streams_open gauge\n"
        "gridstock_watch_streams_open %zu\n"
        "# HELP gridstock_watch_streams_limit The most watches this process keeps open "
        "(max_watches; per user: max_watches_per_user).\n"
        "# TYPE gridstock_watch_streams_limit gauge\n"
        "gridstock_watch_streams_limit %zu\n"
        "# HELP gridstock_watch_streams_refused_total Watches refused at a limit, by limit.\n"
        "# TYPE gridstock_watch_streams_refused_total counter\n"
        "gridstock_watch_streams_refused_total{limit=\"max_watches\"} %llu\n"
        "gridstock_watch_streams_refused_total{limit=\"max_watches_per_user\"} %llu\n"
        "# HELP gridstock_watch_streams_ended_total Watches the server ended, by reason.\n"
        "# TYPE gridstock_watch_streams_ended_total counter\n"
        "gridstock_watch_streams_ended_total{reason=\"credentials\"} %llu\n"
        "gridstock_watch_streams_ended_total{reason=\"slow_reader\"} %llu\n",
        ws.open, ws.limit, (unsigned long long)ws.refused_total,
        (unsigned long long)ws.refused_user, (unsigned long long)ws.ended_credentials,
        (unsigned long long)ws.ended_slow);
    struct db_seen seen = {&b, 0};
    put(&b, "# HELP gridstock_db_connection_up Whether each database connection (one per worker, "
            "the listener, the monitor) was up when last used.\n"
            "# TYPE gridstock_db_connection_up gauge\n");
    db_foreach(db_line, &seen);
    seen.pass = 1;
    put(&b,
        "# HELP gridstock_db_reconnects_total Times each database connection was re-established.\n"
        "# TYPE gridstock_db_reconnects_total counter\n");
    db_foreach(db_line, &seen);
    double lag;
    if (monitor_read_lag(&lag))
        put(&b,
            "# HELP gridstock_db_read_lag_seconds How far the report replica (db_read) is behind "
            "the primary, measured by the monitor each second.\n"
            "# TYPE gridstock_db_read_lag_seconds gauge\n"
            "gridstock_db_read_lag_seconds %.3f\n",
            lag);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
