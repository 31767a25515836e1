/* requisitions_emergency.c — emergency mode: a point leader (or admin) switches a
 * district or street on and off with a reason (audited, with who and when kept), the
 * per-grid daily caps per item, and the auto-approval that runs when an emergency
 * requisition from a grid in an active area is submitted (030_requisitions.sql,
 * req_emergency_submit). */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

#define MODE_COLS                                                                                  \
    "ou.id, ou.code, ou.name, ou.kind, coalesce(m.active, false), coalesce(m.reason, ''),"         \
    " coalesce(m.switched_by, 0), coalesce(u.login, ''), " DIR_TS("m.switched_at")
#define MODE_FROM                                                                                  \
    " FROM org_units ou LEFT JOIN emergency_modes m ON m.org_unit_id = ou.id"                      \
    " LEFT JOIN users u ON u.id = m.switched_by"

static Gridstock__V1__EmergencyMode *mode_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__EmergencyMode *m = call_msg(c, &gridstock__v1__emergency_mode__descriptor);
    m->org_unit_id = db_i64(r, i, 0);
    m->org_unit_code = (char *)db_str(r, i, 1);
    m->org_unit_name = (char *)db_str(r, i, 2);
    m->org_unit_kind = (char *)db_str(r, i, 3);
    m->active = db_bool(r, i, 4);
    m->reason = (char *)db_str(r, i, 5);
    m->switched_by_id = db_i64(r, i, 6);
    m->switched_by_login = (char *)db_str(r, i, 7);
    m->switched_at = (char *)db_str(r, i, 8);
    return m;
}

/* An org unit by id or code that is within the caller's scope or above it (a point
 * leader of a community acts for its street and district in an emergency). */
static gs_code area_find(call *c, int64_t id, const char *code, dir_unit *out)
{
    db_res *r = NULL;
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "org_unit_id: must be positive");
    if (id == 0 && !*code)
        id = c->who.scope_id;
    GS_TRY(v_len(c, "org_unit_code", code, 64));
    GS_TRY(db_exec(c, &r,
                   "SELECT id, code, name, kind, path::text FROM org_units"
                   " WHERE (($1::bigint > 0 AND id = $1::bigint) OR ($1::bigint = 0 AND code = $2))"
                   " AND (path <@ $3::ltree OR path @> $3::ltree)",
                   3, call_i64(c, id), code, c->who.scope_path));
    if (db_rows(r) == 0)
        return id ? call_fail(c, GS_NOT_FOUND, "org unit %" PRId64 " not found", id)
                  : call_fail(c, GS_NOT_FOUND, "org unit \"%.64s\" not found", code);
    out->id = db_i64(r, 0, 0);
    out->code = db_str(r, 0, 1);
    out->name = db_str(r, 0, 2);
    out->kind = db_str(r, 0, 3);
    out->path = db_str(r, 0, 4);
    return GS_OK;
}

gs_code requisition_set_emergency_mode(call *c, const Gridstock__V1__SetEmergencyModeRequest *req,
                                       Gridstock__V1__EmergencyMode *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 500));
    GS_TRY(area_find(c, req->org_unit_id, req->org_unit_code, &u));
    if (strcmp(u.kind, "district") != 0 && strcmp(u.kind, "street") != 0)
        return call_fail(
            c, GS_INVALID_ARGUMENT,
            "org_unit_id: emergency mode is switched for a district or street, %s is a %s", u.code,
            u.kind);
    GS_TRY(db_exec(c, &r,
                   "SELECT active FROM emergency_modes WHERE org_unit_id = $1::bigint FOR UPDATE",
                   1, call_i64(c, u.id)));
    bool was = db_rows(r) > 0 && db_bool(r, 0, 0);
    if (was == req->active)
        return call_fail(c, GS_FAILED_PRECONDITION, "emergency mode in %s is already %s", u.code,
                         was ? "on" : "off");
    GS_TRY(db_exec(c, NULL,
                   "INSERT INTO emergency_modes (org_unit_id, active, reason, switched_by)"
                   " VALUES ($1::bigint, $2::bool, $3, $4::bigint)"
                   " ON CONFLICT (org_unit_id) DO UPDATE SET active = EXCLUDED.active,"
                   " reason = EXCLUDED.reason, switched_by = EXCLUDED.switched_by,"
                   " switched_at = now()",
                   4, call_i64(c, u.id), req->active ? "true" : "false", req->reason,
                   call_i64(c, c->who.user_id)));
    GS_TRY(db_exec(c, &r, "SELECT " MODE_COLS MODE_FROM " WHERE ou.id = $1::bigint", 1,
                   call_i64(c, u.id)));
    *resp = *mode_from_row(c, r, 0);
    c->audit_object = call_printf(c, "emergency_mode:%s", u.code);
    c->audit_summary = call_printf(c, "emergency mode %s in %s: %.300s", req->active ? "on" : "off",
                                   u.code, req->reason);
    return GS_OK;
}

gs_code requisition_get_emergency_mode(call *c, const Gridstock__V1__GetEmergencyModeRequest *req,
                                       Gridstock__V1__GetEmergencyModeResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(area_find(c, req->org_unit_id, req->org_unit_code, &u));
    /* every switched unit above, at or below u; the widest active one above or at u is in
     * effect there */
    GS_TRY(db_exec(
        c, &r,
        "SELECT " MODE_COLS ", ou.path @> $1::ltree" MODE_FROM
        " WHERE m.org_unit_id IS NOT NULL AND (ou.path @> $1::ltree OR ou.path <@ $1::ltree)"
        " ORDER BY nlevel(ou.path), ou.code",
        1, u.path));
    int n = db_rows(r);
    resp->n_modes = (size_t)n;
    resp->modes = (Gridstock__V1__EmergencyMode **)call_ptrs(c, (size_t)n);
    for (int i = 0; i < n; i++) {
        resp->modes[i] = mode_from_row(c, r, i);
        if (!resp->in_effect && resp->modes[i]->active && db_bool(r, i, 9)) {
            resp->in_effect = true;
            resp->effective = resp->modes[i];
        }
    }
    return GS_OK;
}

#define CAP_COLS                                                                                   \
    "c.org_unit_id, ou.code, c.item_id, i.code, c.daily_qty, coalesce(u.login, ''), " DIR_TS(      \
        "c.updated_at")
#define CAP_FROM                                                                                   \
    " FROM emergency_caps c JOIN org_units ou ON ou.id = c.org_unit_id"                            \
    " JOIN items i ON i.id = c.item_id LEFT JOIN users u ON u.id = c.updated_by"

static Gridstock__V1__EmergencyCap *cap_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__EmergencyCap *m = call_msg(c, &gridstock__v1__emergency_cap__descriptor);
    m->org_unit_id = db_i64(r, i, 0);
    m->org_unit_code = (char *)db_str(r, i, 1);
    m->item_id = db_i64(r, i, 2);
    m->item_code = (char *)db_str(r, i, 3);
    m->daily_qty = db_i64(r, i, 4);
    m->updated_by_login = (char *)db_str(r, i, 5);
    m->updated_at = (char *)db_str(r, i, 6);
    return m;
}

gs_code requisition_set_emergency_cap(call *c, const Gridstock__V1__SetEmergencyCapRequest *req,
                                      Gridstock__V1__EmergencyCap *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", true, &u));
    if (strcmp(u.kind, "building") == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "org_unit_id: caps are set on a grid or above");
    GS_TRY(v_range(c, "daily_qty", req->daily_qty, 0, 1000000000));
    if (req->item_id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "item_id: must be positive");
    if (req->item_id == 0)
        GS_TRY(v_required(c, "item_code", req->item_code));
    GS_TRY(v_len(c, "item_code", req->item_code, 64));
    GS_TRY(db_exec(c, &r,
                   "SELECT id, code FROM items WHERE ($1::bigint > 0 AND id = $1::bigint)"
                   " OR ($1::bigint = 0 AND code = $2)",
                   2, call_i64(c, req->item_id), req->item_code));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "item %s not found",
                         req->item_id ? call_i64(c, req->item_id) : req->item_code);
    const char *item = db_str(r, 0, 0), *item_code = db_str(r, 0, 1);
    int64_t item_id = db_i64(r, 0, 0);
    c->audit_object = call_printf(c, "emergency_cap:%s:%s", u.code, item_code);
    if (req->remove) {
        GS_TRY(db_exec(c, &r,
                       "DELETE FROM emergency_caps WHERE org_unit_id = $1::bigint"
                       " AND item_id = $2::bigint",
                       2, call_i64(c, u.id), item));
        if (db_affected(r) == 0)
            return call_fail(c, GS_NOT_FOUND, "no emergency cap for %s in %s", item_code, u.code);
        resp->org_unit_id = u.id;
        resp->org_unit_code = (char *)u.code;
        resp->item_id = item_id;
        resp->item_code = (char *)item_code;
        c->audit_summary =
            call_printf(c, "removed the emergency cap for %s in %s", item_code, u.code);
        return GS_OK;
    }
    GS_TRY(db_exec(
        c, NULL,
        "INSERT INTO emergency_caps (org_unit_id, item_id, daily_qty, updated_by)"
        " VALUES ($1::bigint, $2::bigint, $3::bigint, $4::bigint)"
        " ON CONFLICT (org_unit_id, item_id) DO UPDATE SET daily_qty = EXCLUDED.daily_qty,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()",
        4, call_i64(c, u.id), item, call_i64(c, req->daily_qty), call_i64(c, c->who.user_id)));
    GS_TRY(db_exec(c, &r,
                   "SELECT " CAP_COLS CAP_FROM " WHERE c.org_unit_id = $1::bigint"
                   " AND c.item_id = $2::bigint",
                   2, call_i64(c, u.id), item));
    *resp = *cap_from_row(c, r, 0);
    c->audit_summary = call_printf(c, "emergency cap for %s in %s: %" PRId64 " a day per grid",
                                   item_code, u.code, req->daily_qty);
    return GS_OK;
}

gs_code requisition_list_emergency_caps(call *c, const Gridstock__V1__ListEmergencyCapsRequest *req,
                                        Gridstock__V1__ListEmergencyCapsResponse *resp)
{
    int64_t limit, offset;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &offset));
    GS_TRY(v_len(c, "item_code", req->item_code, 64));
    GS_TRY(area_find(c, req->org_unit_id, req->org_unit_code, &u));
    /* the caps set at the unit, below it, and above it (those apply to its grids too) */
    GS_TRY(db_exec(c, &r,
                   "SELECT " CAP_COLS CAP_FROM
                   " WHERE (ou.path <@ $1::ltree OR ou.path @> $1::ltree)"
                   " AND ($2 = '' OR i.code = $2)"
                   " ORDER BY nlevel(ou.path), ou.code, i.code OFFSET $3::bigint LIMIT $4::bigint",
                   4, u.path, req->item_code, call_i64(c, offset), call_i64(c, limit)));
    int rows = db_rows(r);
    if (rows == limit) {
        rows--;
        resp->next_page_token = (char *)call_i64(c, offset + rows);
    }
    resp->n_caps = (size_t)rows;
    resp->caps = (Gridstock__V1__EmergencyCap **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++)
        resp->caps[i] = cap_from_row(c, r, i);
    return GS_OK;
}

gs_code req_emergency_on_submit(call *c, req_ref *r, const char **auto_note)
{
    db_res *res = NULL;
    *auto_note = "";
    if (strcmp(r->priority, "emergency") != 0)
        return GS_OK;
    GS_TRY(db_exec(c, &res,
                   "SELECT e.area, coalesce(s.number, ''), e.allocated, e.backordered"
                   " FROM req_emergency_submit($1::bigint, $2::bigint, $3, $4::int) e"
                   " LEFT JOIN requisitions s ON s.id = e.split_id",
                   4, call_i64(c, r->id), call_i64(c, c->who.user_id), c->request_id,
                   call_i64(c, req_reservation_ttl())));
    const char *area = db_str(res, 0, 0), *split = db_str(res, 0, 1);
    if (!*area)
        return GS_OK;
    r->state = db_i64(res, 0, 2) > 0 ? REQ_ALLOCATED : REQ_APPROVED;
    *auto_note = call_printf(c,
                             " (emergency mode in %s: approved at once, %" PRId64
                             " units allocated, %" PRId64 " backordered%s%s)",
                             area, db_i64(res, 0, 2), db_i64(res, 0, 3),
                             *split ? "; the rest above the caps is " : "", split);
    return GS_OK;
}
