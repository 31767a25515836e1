/* requisitions_emergency.c — the per-grid daily caps per item of emergency mode (set by a
 * role that cannot raise requisitions), and the auto-approval that runs when an emergency
 * requisition from a grid in an active area is submitted (req_emergency_submit,
 * 032_emergency_two_person.sql), with what the area's reserves could not cover called off
 * from supply agreements (requisitions_supply.c). Switching the mode:
 * requisitions_emergency_mode.c. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

#define CAP_COLUMNS(COL)                                                                           \
    COL(CAP_ORG_UNIT_ID, "c.org_unit_id")                                                          \
    COL(CAP_ORG_UNIT_CODE, ", ou.code")                                                            \
    COL(CAP_ITEM_ID, ", c.item_id")                                                                \
    COL(CAP_ITEM_CODE, ", i.code")                                                                 \
    COL(CAP_DAILY_QTY, ", c.daily_qty")                                                            \
    COL(CAP_UPDATED_BY_LOGIN, ", coalesce(u.login, '')")                                           \
    COL(CAP_UPDATED_AT, ", " DIR_TS("c.updated_at"))
enum { CAP_COLUMNS(DB_COL_NAME) CAP_NCOLS };
#define CAP_COLS CAP_COLUMNS(DB_COL_SQL)
#define CAP_FROM                                                                                   \
    " FROM emergency_caps c JOIN org_units ou ON ou.id = c.org_unit_id"                            \
    " JOIN items i ON i.id = c.item_id LEFT JOIN users u ON u.id = c.updated_by"

static Gridstock__V1__EmergencyCap *cap_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__EmergencyCap *m = call_msg(c, &gridstock__v1__emergency_cap__descriptor);
    m->org_unit_id = db_i64(r, i, CAP_ORG_UNIT_ID);
    m->org_unit_code = (char *)db_str(r, i, CAP_ORG_UNIT_CODE);
    m->item_id = db_i64(r, i, CAP_ITEM_ID);
    m->item_code = (char *)db_str(r, i, CAP_ITEM_CODE);
    m->daily_qty = db_i64(r, i, CAP_DAILY_QTY);
    m->updated_by_login = (char *)db_str(r, i, CAP_UPDATED_BY_LOGIN);
    m->updated_at = (char *)db_str(r, i, CAP_UPDATED_AT);
    return m;
}

#define CAP_ITEM_COLUMNS(COL)                                                                      \
    COL(CITEM_ID, "id")                                                                            \
    COL(CITEM_CODE, ", code")
enum { CAP_ITEM_COLUMNS(DB_COL_NAME) CITEM_NCOLS };
#define CAP_ITEM_COLS CAP_ITEM_COLUMNS(DB_COL_SQL)

gs_code requisition_set_emergency_cap(call *c, const Gridstock__V1__SetEmergencyCapRequest *req,
                                      Gridstock__V1__EmergencyCap *resp)
{
    dir_unit u;
    db_res *r = NULL;

    /* whoever may raise requisitions could raise their own limit (the database refuses it
     * too: emergency_caps_setter) */
    if (gs_role_has(c->who.role, PERM_REQ_CREATE))
        return call_fail(c, GS_PERMISSION_DENIED,
                         "emergency caps are set by a role that cannot raise requisitions"
                         " (a logistics officer), not by a %s",
                         gs_role_name(c->who.role));
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
                   "SELECT " CAP_ITEM_COLS " FROM items WHERE ($1::bigint > 0 AND id = $1::bigint)"
                   " OR ($1::bigint = 0 AND code = $2)",
                   2, call_i64(c, req->item_id), req->item_code));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "item %s not found",
                         req->item_id ? call_i64(c, req->item_id) : req->item_code);
    const char *item = db_str(r, 0, CITEM_ID), *item_code = db_str(r, 0, CITEM_CODE);
    int64_t item_id = db_i64(r, 0, CITEM_ID);
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
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    /* the caps set at the unit, below it, and above it up to the caller's scope (those apply
     * to its grids too); never a cap set above the caller's scope */
    GS_TRY(db_exec(
        c, &r,
        "SELECT " CAP_COLS CAP_FROM " WHERE (ou.path <@ $1::ltree OR ou.path @> $1::ltree)"
        " AND ou.path <@ $5::ltree AND ($2 = '' OR i.code = $2)"
        " ORDER BY nlevel(ou.path), ou.code, i.code OFFSET $3::bigint LIMIT $4::bigint",
        5, u.path, req->item_code, call_i64(c, offset), call_i64(c, limit), c->who.scope_path));
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

#define EMERGENCY_SUBMIT_COLUMNS(COL)                                                              \
    COL(ESUB_AREA, "e.area")                                                                       \
    COL(ESUB_SPLIT_NUMBER, ", coalesce(s.number, '')")                                             \
    COL(ESUB_ALLOCATED, ", e.allocated")                                                           \
    COL(ESUB_BACKORDERED, ", e.backordered")
enum { EMERGENCY_SUBMIT_COLUMNS(DB_COL_NAME) ESUB_NCOLS };
#define EMERGENCY_SUBMIT_COLS EMERGENCY_SUBMIT_COLUMNS(DB_COL_SQL)

gs_code req_emergency_on_submit(call *c, req_ref *r, const char **auto_note)
{
    db_res *res = NULL;
    *auto_note = "";
    if (strcmp(r->priority, "emergency") != 0)
        return GS_OK;
    GS_TRY(db_exec(c, &res,
                   "SELECT " EMERGENCY_SUBMIT_COLS
                   " FROM req_emergency_submit($1::bigint, $2::bigint, $3, $4::int) e"
                   " LEFT JOIN requisitions s ON s.id = e.split_id",
                   4, call_i64(c, r->id), call_i64(c, c->who.user_id), c->request_id,
                   call_i64(c, req_reservation_ttl())));
    const char *area = db_str(res, 0, ESUB_AREA), *split = db_str(res, 0, ESUB_SPLIT_NUMBER);
    if (!*area)
        return GS_OK;
    r->state = db_i64(res, 0, ESUB_ALLOCATED) > 0 ? REQ_ALLOCATED : REQ_APPROVED;
    int64_t back = db_i64(res, 0, ESUB_BACKORDERED), called = 0;
    if (back > 0) /* the area's reserves fell short: supplier markets on call */
        GS_TRY(req_supply_on_emergency(c, r->id, &called));
    *auto_note = call_printf(
        c,
        " (emergency mode in %s: approved at once, %" PRId64 " units allocated, %" PRId64
        " backordered%s%s%s)",
        area, db_i64(res, 0, ESUB_ALLOCATED), back - called,
        called ? call_printf(c, ", %" PRId64 " called off from supply agreements", called) : "",
        *split ? "; the rest above the caps is " : "", split);
    return GS_OK;
}
