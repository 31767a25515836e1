/* health.c — the grpc.health.v1 Health service: Check answers from one process-wide
 * serving flag, Watch streams it (current status at once, then every change). */
#include "health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "gs_services.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

/* Open Watch calls beyond this are refused (RESOURCE_EXHAUSTED). */
#define MAX_WATCHES 10000

typedef struct watcher {
    rpc_stream *stream; /* holds the reference the runtime gave the callee */
    bool known;         /* unknown services never change status */
} watcher;

/* g_mu guards everything below; sends happen under it so that each stream sees the
 * statuses in the order they were set. */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static bool g_serving = true;
static bool g_shut_down;
static watcher *g_watchers;
static size_t g_n_watchers, g_cap_watchers;

/* "" (the whole server) and every gridstock service are known. */
static bool known_service(const char *name)
{
    if (!name || !*name)
        return true;
    if (strncmp(name, "gridstock.", 10) != 0)
        return false;
    for (size_t i = 0; gs_service_descriptors[i]; i++)
        if (strcmp(gs_service_descriptors[i]->name, name) == 0)
            return true;
    return false;
}

/* Packs one HealthCheckResponse and queues it; false when the client is gone. */
static bool send_status(rpc_stream *st, Grpc__Health__V1__HealthCheckResponse__ServingStatus s)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = s;
    size_t len = grpc__health__v1__health_check_response__get_packed_size(&resp);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return !rpc_stream_closed(st); /* skip this update, keep the stream */
    grpc__health__v1__health_check_response__pack(&resp, buf);
    return rpc_stream_send(st, buf, len);
}

static void drop_watcher(size_t i)
{
    rpc_stream_unref(g_watchers[i].stream);
    g_watchers[i] = g_watchers[--g_n_watchers];
}

static void prune_closed_locked(void)
{
    for (size_t i = 0; i < g_n_watchers;)
        if (rpc_stream_closed(g_watchers[i].stream))
            drop_watcher(i);
        else
            i++;
}

static gs_code health_check(call *c)
{
    const Grpc__Health__V1__HealthCheckRequest *req =
        (const Grpc__Health__V1__HealthCheckRequest *)c->req;
    Grpc__Health__V1__HealthCheckResponse *resp = (Grpc__Health__V1__HealthCheckResponse *)c->resp;
    if (!known_service(req->service))
        return call_fail(c, GS_NOT_FOUND, "unknown service: %s", req->service);
    pthread_mutex_lock(&g_mu);
    resp->status = g_serving ? SERVING : NOT_SERVING;
    pthread_mutex_unlock(&g_mu);
    return GS_OK;
}

gs_code health_watch_start(call *c, rpc_stream *stream)
{
    const Grpc__Health__V1__HealthCheckRequest *req =
        (const Grpc__Health__V1__HealthCheckRequest *)c->req;
    bool known = known_service(req->service);
    gs_code rc = GS_OK;

    pthread_mutex_lock(&g_mu);
    if (g_shut_down) {
        rc = call_fail(c, GS_UNAVAILABLE, "server is shutting down");
        goto out;
    }
    prune_closed_locked();
    if (g_n_watchers == g_cap_watchers) {
        size_t cap = g_cap_watchers ? g_cap_watchers * 2 : 16;
        watcher *n = cap <= MAX_WATCHES ? realloc(g_watchers, cap * sizeof *n) : NULL;
        if (!n) {
            rc = call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_TOO_MANY_STREAMS,
                               "too many health watches");
            goto out;
        }
        g_watchers = n;
        g_cap_watchers = cap;
    }
    /* From here the runtime's reference for the callee is ours (rpc.h stream_start). */
    if (!send_status(stream, known ? (g_serving ? SERVING : NOT_SERVING) : SERVICE_UNKNOWN)) {
        rpc_stream_unref(stream); /* the client left already */
        goto out;
    }
    g_watchers[g_n_watchers++] = (watcher){stream, known};
out:
    pthread_mutex_unlock(&g_mu);
    return rc;
}

void health_set_serving(bool serving)
{
    pthread_mutex_lock(&g_mu);
    if (g_shut_down)
        serving = false; /* a stopping server stays NOT_SERVING */
    if (g_serving != serving) {
        g_serving = serving;
        for (size_t i = 0; i < g_n_watchers;) {
            if (g_watchers[i].known &&
                !send_status(g_watchers[i].stream, serving ? SERVING : NOT_SERVING))
                drop_watcher(i);
            else
                i++;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

void health_shutdown(void)
{
    pthread_mutex_lock(&g_mu);
    g_shut_down = true;
    g_serving = false;
    for (size_t i = 0; i < g_n_watchers; i++) {
        rpc_stream_finish(g_watchers[i].stream, GS_UNAVAILABLE, "server is shutting down");
        rpc_stream_unref(g_watchers[i].stream);
    }
    free(g_watchers);
    g_watchers = NULL;
    g_n_watchers = g_cap_watchers = 0;
    pthread_mutex_unlock(&g_mu);
}

static method_def health_methods[] = {
    {.name = "Check",
     .handler = health_check,
     .perm = PERM_NONE,
     .flags = MF_PUBLIC | MF_NO_DB,
     .kind = RPC_UNARY},
    {.name = "Watch",
     .perm = PERM_NONE,
     .flags = MF_PUBLIC | MF_NO_DB,
     .kind = RPC_SERVER_STREAM,
     .stream = health_watch_start},
};
SERVICE_DEF(health_service, grpc__health__v1__health__descriptor, health_methods);
