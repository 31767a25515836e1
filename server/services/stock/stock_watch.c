/* stock_watch.c — WatchStockAlerts: low-stock and expiry alerts as they happen, from
 * every server process. The SQL posting functions send them with
 * pg_notify('gs_stock_alerts', json) (stock_alert in 010_stock.sql); listen.c hands each
 * to this file's filter, which keeps the watcher's area, site and kinds. */
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "pbjson.h"
#include "stock.h"
#include "gridstock/v1/stock.rpc.h"

#define ALERT_CHANNEL "gs_stock_alerts"

static const char *const alert_kinds[] = {"low_stock", "near_expiry", "expired", "charity_proposal",
                                          NULL};

/* What one watch keeps: owned by listen.c once watch_add succeeds. */
struct alert_watch {
    char *path;      /* ltree text: alerts of sites at or below it */
    int64_t site_id; /* 0 = any */
    unsigned kinds;  /* bit i = alert_kinds[i]; 0 = all */
};

static void alert_watch_free(void *p)
{
    struct alert_watch *w = p;
    if (w)
        free(w->path);
    free(w);
}

static int kind_index(const char *s)
{
    for (int i = 0; alert_kinds[i]; i++)
        if (strcmp(s, alert_kinds[i]) == 0)
            return i;
    return -1;
}

/* Listener thread, once per notification: the payload as a StockAlert. */
static void *alert_parse(const char *payload)
{
    char err[256];
    void *a = pbjson_parse(&gridstock__v1__stock_alert__descriptor, payload, strlen(payload), NULL,
                           err, sizeof err);
    if (!a)
        log_event(LOG_WARN, "stock_alert_bad_payload", "error", err, NULL);
    return a;
}

static void alert_free(void *parsed)
{
    protobuf_c_message_free_unpacked(parsed, NULL);
}

static const watch_channel alert_channel = {ALERT_CHANNEL, alert_parse, alert_free};

/* Listener thread, per watch: a parsed alert → a packed StockAlert, or NULL to skip it. */
static uint8_t *alert_filter(void *user, const void *parsed, size_t *len)
{
    struct alert_watch *w = user;
    uint8_t *out = NULL;
    const Gridstock__V1__StockAlert *a = parsed;
    int k = kind_index(a->kind);
    bool keep = path_within(a->org_unit_path, w->path) &&
                (w->site_id == 0 || a->site_id == w->site_id) &&
                (w->kinds == 0 || (k >= 0 && (w->kinds & (1u << k))));
    if (keep) {
        size_t n = protobuf_c_message_get_packed_size(&a->base);
        out = malloc(n ? n : 1);
        if (!out)
            return NULL; /* this watcher misses one alert; the process carries on */
        *len = protobuf_c_message_pack(&a->base, out);
    }
    return out;
}

gs_code stock_watch_stock_alerts(call *c, const Gridstock__V1__WatchStockAlertsRequest *req,
                                 rpc_stream *st)
{
    const char *path;
    int64_t site;
    unsigned kinds = 0;

    if (req->n_kinds > 8)
        return call_fail(c, GS_INVALID_ARGUMENT, "kinds: at most 8");
    for (size_t i = 0; i < req->n_kinds; i++) {
        GS_TRY(dir_enum(c, call_printf(c, "kinds[%zu]", i), req->kinds[i], alert_kinds, true));
        kinds |= 1u << kind_index(req->kinds[i]);
    }
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    struct alert_watch *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        alert_watch_free(w);
        return call_fail(c, GS_RESOURCE_EXHAUSTED, "server out of memory");
    }
    w->site_id = site;
    w->kinds = kinds;
    return watch_add(c, st, &alert_channel, alert_filter, w, alert_watch_free);
}
