/* requisitions_emergency_mode.c — emergency mode by two people, for one's own area, for a
 * limited time: SetEmergencyMode records a proposal (on, off, or an extension) for a
 * community, street or district inside the caller's scope; ConfirmEmergencyMode by a
 * second eligible person makes it take effect; GetEmergencyMode reads the state within the
 * caller's subtree. The rules live in SQL (032_emergency_two_person.sql: emergency_propose,
 * emergency_confirm, the guards and CHECKs); the expiry job is in requisitions_jobs.c. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "listen.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

/* A unit's switch state and its running activation (if any). */
#define MODE_COLUMNS(COL)                                                                          \
    COL(MODE_ORG_UNIT_ID, "ou.id")                                                                 \
    COL(MODE_ORG_UNIT_CODE, ", ou.code")                                                           \
    COL(MODE_ORG_UNIT_NAME, ", ou.name")                                                           \
    COL(MODE_ORG_UNIT_KIND, ", ou.kind")                                                           \
    COL(MODE_ACTIVE, ", e.id IS NOT NULL")                                                         \
    COL(MODE_REASON, ", coalesce(m.reason, '')")                                                   \
    COL(MODE_SWITCHED_BY_ID, ", coalesce(m.switched_by, 0)")                                       \
    COL(MODE_SWITCHED_BY_LOGIN, ", coalesce(su.login, '')")                                        \
    COL(MODE_SWITCHED_AT, ", " DIR_TS("m.switched_at"))                                            \
    COL(MODE_ACTIVATION_ID, ", coalesce(e.id, 0)")                                                 \
    COL(MODE_STARTED_AT, ", " DIR_TS("e.started_at"))                                              \
    COL(MODE_ENDS_AT, ", " DIR_TS("e.ends_at"))                                                    \
    COL(MODE_PROPOSED_BY_LOGIN, ", coalesce(pu.login, '')")                                        \
    COL(MODE_CONFIRMED_BY_LOGIN, ", coalesce(cu.login, '')")                                       \
    COL(MODE_PATH, ", ou.path::text")
enum { MODE_COLUMNS(DB_COL_NAME) MODE_NCOLS };
#define MODE_COLS MODE_COLUMNS(DB_COL_SQL)
#define MODE_FROM                                                                                  \
    " FROM org_units ou LEFT JOIN emergency_modes m ON m.org_unit_id = ou.id"                      \
    " LEFT JOIN users su ON su.id = m.switched_by"                                                 \
    " LEFT JOIN emergency_activations e ON e.org_unit_id = ou.id AND e.ended_at IS NULL"           \
    "  AND e.ends_at > now()"                                                                      \
    " LEFT JOIN users pu ON pu.id = e.proposed_by LEFT JOIN users cu ON cu.id = e.confirmed_by"

static Gridstock__V1__EmergencyMode *mode_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__EmergencyMode *m = call_msg(c, &gridstock__v1__emergency_mode__descriptor);
    m->org_unit_id = db_i64(r, i, MODE_ORG_UNIT_ID);
    m->org_unit_code = (char *)db_str(r, i, MODE_ORG_UNIT_CODE);
    m->org_unit_name = (char *)db_str(r, i, MODE_ORG_UNIT_NAME);
    m->org_unit_kind = (char *)db_str(r, i, MODE_ORG_UNIT_KIND);
    m->active = db_bool(r, i, MODE_ACTIVE);
    m->ends_at = (char *)db_str(r, i, MODE_ENDS_AT);
    /* an area above the caller's scope: its identity, whether it is on and until when */
    if (!path_within(db_str(r, i, MODE_PATH), c->who.scope_path))
        return m;
    m->reason = (char *)db_str(r, i, MODE_REASON);
    m->switched_by_id = db_i64(r, i, MODE_SWITCHED_BY_ID);
    m->switched_by_login = (char *)db_str(r, i, MODE_SWITCHED_BY_LOGIN);
    m->switched_at = (char *)db_str(r, i, MODE_SWITCHED_AT);
    m->activation_id = db_i64(r, i, MODE_ACTIVATION_ID);
    m->started_at = (char *)db_str(r, i, MODE_STARTED_AT);
    m->proposed_by_login = (char *)db_str(r, i, MODE_PROPOSED_BY_LOGIN);
    m->confirmed_by_login = (char *)db_str(r, i, MODE_CONFIRMED_BY_LOGIN);
    return m;
}

#define PROP_COLUMNS(COL)                                                                          \
    COL(EPROP_ID, "p.id")                                                                          \
    COL(EPROP_ORG_UNIT_ID, ", p.org_unit_id")                                                      \
    COL(EPROP_ORG_UNIT_CODE, ", ou.code")                                                          \
    COL(EPROP_ACTION, ", p.action")                                                                \
    COL(EPROP_ACTIVATION_ID, ", coalesce(p.activation_id, 0)")                                     \
    COL(EPROP_HOURS, ", coalesce(p.hours, 0)")                                                     \
    COL(EPROP_REASON, ", p.reason")                                                                \
    COL(EPROP_PROPOSED_BY_LOGIN, ", pu.login")                                                     \
    COL(EPROP_PROPOSED_AT, ", " DIR_TS("p.proposed_at"))                                           \
    COL(EPROP_EXPIRES_AT, ", " DIR_TS("p.expires_at"))                                             \
    COL(EPROP_STATUS, ", CASE WHEN p.confirmed_by IS NOT NULL THEN 'confirmed' WHEN p.expires_at " \
                      "<= now() THEN 'lapsed' ELSE 'open' END")                                    \
    COL(EPROP_CONFIRMED_BY_LOGIN, ", coalesce(cu.login, '')")                                      \
    COL(EPROP_CONFIRMED_AT, ", " DIR_TS("p.confirmed_at"))
enum { PROP_COLUMNS(DB_COL_NAME) EPROP_NCOLS };
#define PROP_COLS PROP_COLUMNS(DB_COL_SQL)
#define PROP_FROM                                                                                  \
    " FROM emergency_proposals p JOIN org_units ou ON ou.id = p.org_unit_id"                       \
    " JOIN users pu ON pu.id = p.proposed_by LEFT JOIN users cu ON cu.id = p.confirmed_by"

static Gridstock__V1__EmergencyProposal *prop_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__EmergencyProposal *p =
        call_msg(c, &gridstock__v1__emergency_proposal__descriptor);
    p->id = db_i64(r, i, EPROP_ID);
    p->org_unit_id = db_i64(r, i, EPROP_ORG_UNIT_ID);
    p->org_unit_code = (char *)db_str(r, i, EPROP_ORG_UNIT_CODE);
    p->action = (char *)db_str(r, i, EPROP_ACTION);
    p->activation_id = db_i64(r, i, EPROP_ACTIVATION_ID);
    p->hours = db_i32(r, i, EPROP_HOURS);
    p->reason = (char *)db_str(r, i, EPROP_REASON);
    p->proposed_by_login = (char *)db_str(r, i, EPROP_PROPOSED_BY_LOGIN);
    p->proposed_at = (char *)db_str(r, i, EPROP_PROPOSED_AT);
    p->expires_at = (char *)db_str(r, i, EPROP_EXPIRES_AT);
    p->status = (char *)db_str(r, i, EPROP_STATUS);
    p->confirmed_by_login = (char *)db_str(r, i, EPROP_CONFIRMED_BY_LOGIN);
    p->confirmed_at = (char *)db_str(r, i, EPROP_CONFIRMED_AT);
    return p;
}

static gs_code mode_of(call *c, int64_t unit, Gridstock__V1__EmergencyMode *out)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " MODE_COLS MODE_FROM " WHERE ou.id = $1::bigint", 1,
                   call_i64(c, unit)));
    *out = *mode_from_row(c, r, 0);
    return GS_OK;
}

static gs_code proposal_of(call *c, int64_t id, Gridstock__V1__EmergencyProposal **out)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " PROP_COLS PROP_FROM " WHERE p.id = $1::bigint", 1,
                   call_i64(c, id)));
    *out = prop_from_row(c, r, 0);
    return GS_OK;
}

gs_code requisition_set_emergency_mode(call *c, const Gridstock__V1__SetEmergencyModeRequest *req,
                                       Gridstock__V1__EmergencyMode *resp)
{
    int max = req_emergency_max_hours();
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 500));
    if (req->extend && !req->active)
        return call_fail(c, GS_INVALID_ARGUMENT, "extend: only with active (an extension is on)");
    if (req->extend)
        GS_TRY(v_range(c, "hours", req->hours, 1, max));
    else if (req->active)
        GS_TRY(v_range(c, "hours", req->hours, 0, max));
    else if (req->hours != 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "hours: not with a switch-off");
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    if (strcmp(u.kind, "district") != 0 && strcmp(u.kind, "street") != 0 &&
        strcmp(u.kind, "community") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "org_unit_id: emergency mode is switched for a district, street or"
                         " community, %s is a %s",
                         u.code, u.kind);
    const char *action = req->extend ? "extend" : req->active ? "on" : "off";
    GS_TRY(db_exec(c, &r,
                   "SELECT emergency_propose($1::bigint, $2::bigint, $3, $4::int, $5, $6::int)", 6,
                   call_i64(c, c->who.user_id), call_i64(c, u.id), action, call_i64(c, req->hours),
                   req->reason, call_i64(c, max)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(mode_of(c, u.id, resp));
    GS_TRY(proposal_of(c, id, &resp->proposal));
    c->audit_object = call_printf(c, "emergency_mode:%s", u.code);
    c->audit_summary =
        call_printf(c,
                    "proposed emergency mode %s in %s%s (proposal %" PRId64
                    ", waiting for a second person): %.300s",
                    action, u.code,
                    resp->proposal->hours ? call_printf(c, " for %d h", resp->proposal->hours) : "",
                    id, req->reason);
    return GS_OK;
}

gs_code requisition_confirm_emergency_mode(call *c,
                                           const Gridstock__V1__ConfirmEmergencyModeRequest *req,
                                           Gridstock__V1__EmergencyMode *resp)
{
    Gridstock__V1__EmergencyProposal *p = NULL;
    db_res *r = NULL;

    GS_TRY(v_positive(c, "proposal_id", req->proposal_id));
    GS_TRY(db_exec(c, &r, "SELECT emergency_confirm($1::bigint, $2::ltree, $3::bigint, $4::int)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->proposal_id),
                   call_i64(c, req_emergency_max_hours())));
    int64_t activation = db_one_i64(r, 0);
    GS_TRY(proposal_of(c, req->proposal_id, &p));
    GS_TRY(mode_of(c, p->org_unit_id, resp));
    resp->proposal = p;
    if (!resp->activation_id) /* switched off: name the activation that ended */
        resp->activation_id = activation;
    c->audit_object = call_printf(c, "emergency_mode:%s", p->org_unit_code);
    c->audit_summary = call_printf(c,
                                   "confirmed proposal %" PRId64
                                   " by %s: emergency mode %s in %s (activation %" PRId64 "%s%s)",
                                   p->id, p->proposed_by_login, p->action, p->org_unit_code,
                                   activation, *resp->ends_at ? ", until " : "", resp->ends_at);
    return GS_OK;
}

gs_code requisition_get_emergency_mode(call *c, const Gridstock__V1__GetEmergencyModeRequest *req,
                                       Gridstock__V1__GetEmergencyModeResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    /* the nearest running activation covering u, wherever it was declared (trimmed by
     * mode_from_row when above the caller's scope) */
    GS_TRY(db_exec(c, &r,
                   "SELECT " MODE_COLS MODE_FROM " WHERE ou.path @> $1::ltree AND e.id IS NOT NULL"
                   " ORDER BY nlevel(ou.path) DESC LIMIT 1",
                   1, u.path));
    if (db_rows(r) > 0) {
        resp->in_effect = true;
        resp->effective = mode_from_row(c, r, 0);
    }
    /* every unit at or below u ever switched */
    GS_TRY(db_exec(c, &r,
                   "SELECT " MODE_COLS MODE_FROM " WHERE ou.path <@ $1::ltree"
                   " AND (m.org_unit_id IS NOT NULL OR e.id IS NOT NULL)"
                   " ORDER BY nlevel(ou.path), ou.code LIMIT 1000",
                   1, u.path));
    int n = db_rows(r);
    resp->n_modes = (size_t)n;
    resp->modes = (Gridstock__V1__EmergencyMode **)call_ptrs(c, (size_t)n);
    for (int i = 0; i < n; i++)
        resp->modes[i] = mode_from_row(c, r, i);
    /* proposals waiting at or below u */
    GS_TRY(db_exec(c, &r,
                   "SELECT " PROP_COLS PROP_FROM " WHERE ou.path <@ $1::ltree"
                   " AND p.confirmed_by IS NULL AND p.expires_at > now()"
                   " ORDER BY p.id LIMIT 1000",
                   1, u.path));
    n = db_rows(r);
    resp->n_proposals = (size_t)n;
    resp->proposals = (Gridstock__V1__EmergencyProposal **)call_ptrs(c, (size_t)n);
    for (int i = 0; i < n; i++)
        resp->proposals[i] = prop_from_row(c, r, i);
    return GS_OK;
}
