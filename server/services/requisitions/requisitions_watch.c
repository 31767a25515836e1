/* requisitions_watch.c — WatchRequisitions: a stream of requisition changes within
 * the caller's scope (or a unit below it), optionally only changes into one state. Fed
 * by the requisitions_record trigger's notifications on channel gs_requisitions, so a
 * change made through any server process reaches every watcher. Emergency mode switches
 * (kind "emergency", 032_emergency_two_person.sql) reach the watchers of units at, above
 * or below the area; a watcher below the area gets no actor or reason. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "listen.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

#define CHANNEL "gs_requisitions"

/* What one watch wants; owned by the watch (freed by watch_free). */
struct req_watch {
    char *path;   /* ltree text of the subtree watched */
    char *status; /* "" or one state */
};

static void watch_user_free(void *p)
{
    struct req_watch *w = p;
    if (!w)
        return;
    free(w->path);
    free(w->status);
    free(w);
}

static char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return (char *)(s ? s : "");
}

/* Listener thread, once per notification: the payload's JSON object. */
static void *change_parse(const char *payload)
{
    return json_loads(payload, 0, NULL);
}

static void change_free(void *parsed)
{
    json_decref(parsed);
}

static const watch_channel channel = {CHANNEL, change_parse, change_free};

/* Listener thread, per watch: parsed change → packed RequisitionEvent, or NULL when not
 * for this watch. */
static uint8_t *on_change(void *user, const void *parsed, size_t *len)
{
    struct req_watch *w = user;
    uint8_t *out = NULL;
    json_t *o = (json_t *)parsed;
    const char *path = jstr(o, "path");
    bool emergency = strcmp(jstr(o, "kind"), "emergency") == 0;
    bool below = *path && path_within(path, w->path);
    if (!below && !(emergency && *path && path_within(w->path, path)))
        return NULL;
    if (*w->status && strcmp(jstr(o, "to"), w->status) != 0)
        return NULL;
    Gridstock__V1__RequisitionEvent ev = GRIDSTOCK__V1__REQUISITION_EVENT__INIT;
    ev.kind = jstr(o, "kind");
    ev.requisition_id = (int64_t)json_integer_value(json_object_get(o, "id"));
    ev.number = jstr(o, "number");
    ev.org_unit_id = (int64_t)json_integer_value(json_object_get(o, "org_unit_id"));
    ev.org_unit_code = jstr(o, "org_unit_code");
    ev.priority = jstr(o, "priority");
    ev.from_state = jstr(o, "from");
    ev.to_state = jstr(o, "to");
    ev.actor_login = below ? jstr(o, "actor") : "";
    ev.at = jstr(o, "at");
    ev.comment = below ? jstr(o, "comment") : "";
    if (emergency) {
        ev.activation_id = ev.requisition_id;
        ev.requisition_id = 0;
    }
    *len = gridstock__v1__requisition_event__get_packed_size(&ev);
    out = malloc(*len ? *len : 1);
    if (!out)
        return NULL; /* this watcher misses one event; the process carries on */
    gridstock__v1__requisition_event__pack(&ev, out);
    return out;
}

gs_code requisition_watch_requisitions(call *c, const Gridstock__V1__WatchRequisitionsRequest *req,
                                       rpc_stream *st)
{
    dir_unit u;

    if (*req->status && req_state_from_name(req->status) < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "status: unknown state \"%.32s\"", req->status);
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    struct req_watch *w = calloc(1, sizeof *w);
    if (w) {
        w->path = strdup(u.path);
        w->status = strdup(req->status);
    }
    if (!w || !w->path || !w->status) {
        watch_user_free(w);
        return call_fail(c, GS_RESOURCE_EXHAUSTED, "server out of memory");
    }
    return watch_add(c, st, &channel, on_change, w, watch_user_free);
}
