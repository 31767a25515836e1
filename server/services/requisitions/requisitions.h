/* requisitions.h — what the RequisitionService files share: the requisition state
 * machine (one enum, one transition table in requisitions.c, mirrored in SQL by
 * requisition_state_transitions and the requisitions_guard trigger of
 * 030_requisitions.sql), loading a requisition within the caller's scope, and filling
 * the Requisition message.
 *
 * Files: requisitions.c (state machine, loading, reading handlers, method table),
 * requisitions_lifecycle.c (create, change, submit, approve, reject, cancel, close),
 * requisitions_allocation.c (allocate, dispatch, proof of delivery, reservation
 * expiry job), requisitions_emergency.c (caps and the auto-approval at submission),
 * requisitions_emergency_mode.c (emergency mode by two people: propose, confirm, read),
 * requisitions_supply.c (supply agreements with supplier markets and their emergency
 * call-offs),
 * requisitions_watch.c (the change stream). */
#ifndef GS_SVC_REQUISITIONS_H
#define GS_SVC_REQUISITIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "db.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/requisitions.pb-c.h"

/* The states of a requisition, in the order of its normal life:
 *   DRAFT       being written by the requester; lines can change
 *   SUBMITTED   waiting in the approval queue of the logistics officers over the unit
 *   APPROVED    quantities fixed (possibly lowered); waiting for allocation
 *   REJECTED    refused with a reason (final)
 *   ALLOCATED   stock reserved at concrete lots until reserved_until; back to APPROVED
 *               when the reservations expire; ALLOCATED again when topped up (an
 *               officer's allocation of the rest, or a backorder filled by an arrival)
 *   DISPATCHED  the reserved stock was issued (ledger movements ref the requisition)
 *   RECEIVED    the requester confirmed delivery per line (proof of delivery)
 *   CLOSED      done (final)
 *   CANCELLED   withdrawn before dispatch; every reservation released (final) */
#define REQ_STATE_LIST(X)                                                                          \
    X(REQ_DRAFT, "draft")                                                                          \
    X(REQ_SUBMITTED, "submitted")                                                                  \
    X(REQ_APPROVED, "approved")                                                                    \
    X(REQ_REJECTED, "rejected")                                                                    \
    X(REQ_ALLOCATED, "allocated")                                                                  \
    X(REQ_DISPATCHED, "dispatched")                                                                \
    X(REQ_RECEIVED, "received")                                                                    \
    X(REQ_CLOSED, "closed")                                                                        \
    X(REQ_CANCELLED, "cancelled")

typedef enum req_state {
#define GS_X(e, s) e,
    REQ_STATE_LIST(GS_X)
#undef GS_X
        REQ_STATE_COUNT
} req_state;

const char *req_state_name(req_state s);
/* -1 when unknown. */
int req_state_from_name(const char *name);

/* A requisition found within the caller's scope. Strings live until the call ends. */
typedef struct req_ref {
    int64_t id;
    const char *number;
    req_state state;
    int64_t org_unit_id;
    const char *org_unit_code;
    const char *org_unit_path;
    int64_t requester_id;
    const char *priority;
} req_ref;

/* Finds requisition `id` (or `number` when id is 0) among the caller's scope, locking
 * its row when `lock`. NOT_FOUND otherwise (also when it is another unit's). */
gs_code req_find(call *c, int64_t id, const char *number, bool lock, req_ref *out);

/* FAILED_PRECONDITION naming r's current state unless r may move to `to`. */
gs_code req_check_move(call *c, const req_ref *r, req_state to);

/* Moves r to `to`, recording the caller and `comment` (ttl_s > 0: the reservation time
 * of an allocation). FAILED_PRECONDITION naming the current state when the table does not
 * allow it. Updates r->state. */
gs_code req_move(call *c, req_ref *r, req_state to, const char *comment, int ttl_s);

/* Fills m with requisition id: header, lines and allocations. */
gs_code req_fill(call *c, int64_t id, Gridstock__V1__Requisition *m);

/* The header columns req_hdr_from_row reads. */
#define REQ_HDR_COLUMNS(COL)                                                                       \
    COL(RH_ID, "r.id", id, i64)                                                                    \
    COL(RH_NUMBER, ", r.number", number, str)                                                      \
    COL(RH_ORG_UNIT_ID, ", r.org_unit_id", org_unit_id, i64)                                       \
    COL(RH_ORG_UNIT_CODE, ", ou.code", org_unit_code, str)                                         \
    COL(RH_ORG_UNIT_NAME, ", ou.name", org_unit_name, str)                                         \
    COL(RH_REQUESTER_ID, ", r.requester_id", requester_id, i64)                                    \
    COL(RH_REQUESTER_LOGIN, ", ru.login", requester_login, str)                                    \
    COL(RH_PRIORITY, ", r.priority", priority, str)                                                \
    COL(RH_NEEDED_BY, ", coalesce(to_char(r.needed_by, 'YYYY-MM-DD'), '')", needed_by, str)        \
    COL(RH_PURPOSE, ", r.purpose", purpose, str)                                                   \
    COL(RH_DELIVERY_SITE_ID, ", coalesce(r.delivery_site_id, 0)", delivery_site_id, i64)           \
    COL(RH_DELIVERY_SITE_CODE, ", coalesce(ds.code, '')", delivery_site_code, str)                 \
    COL(RH_DELIVERY_ADDRESS, ", r.delivery_address", delivery_address, str)                        \
    COL(RH_STATUS, ", r.status", status, str)                                                      \
    COL(RH_AUTO_APPROVED, ", r.auto_approved", auto_approved, bool)                                \
    COL(RH_SPLIT_FROM_ID, ", coalesce(r.split_from_id, 0)", split_from_id, i64)                    \
    COL(RH_SPLIT_FROM_NUMBER, ", coalesce(sp.number, '')", split_from_number, str)                 \
    COL(RH_APPROVED_BY_ID, ", coalesce(r.approved_by, 0)", approved_by_id, i64)                    \
    COL(RH_APPROVED_BY_LOGIN, ", coalesce(au.login, '')", approved_by_login, str)                  \
    COL(RH_CREATED_AT, ", " DIR_TS("r.created_at"), created_at, str)                               \
    COL(RH_SUBMITTED_AT, ", " DIR_TS("r.submitted_at"), submitted_at, str)                         \
    COL(RH_APPROVED_AT, ", " DIR_TS("r.approved_at"), approved_at, str)                            \
    COL(RH_ALLOCATED_AT, ", " DIR_TS("r.allocated_at"), allocated_at, str)                         \
    COL(RH_RESERVED_UNTIL, ", " DIR_TS("r.reserved_until"), reserved_until, str)                   \
    COL(RH_DISPATCHED_AT, ", " DIR_TS("r.dispatched_at"), dispatched_at, str)                      \
    COL(RH_RECEIVED_AT, ", " DIR_TS("r.received_at"), received_at, str)                            \
    COL(RH_CLOSED_AT, ", " DIR_TS("r.closed_at"), closed_at, str)                                  \
    COL(RH_UPDATED_AT, ", " DIR_TS("r.updated_at"), updated_at, str)                               \
    COL(RH_STATUS_COMMENT, ", r.status_comment", status_comment, str)                              \
    COL(RH_APPROVED_BY_ACTIVATION_ID, ", coalesce(r.approved_by_activation, 0)",                   \
        approved_by_activation_id, i64)                                                            \
    COL(RH_RULE_PROPOSED_BY_LOGIN, ", coalesce(eap.login, '')", rule_proposed_by_login, str)       \
    COL(RH_RULE_CONFIRMED_BY_LOGIN, ", coalesce(eac.login, '')", rule_confirmed_by_login, str)
enum { REQ_HDR_COLUMNS(DB_COL_NAME) REQ_HDR_NCOLS };
#define REQ_HDR_COLS REQ_HDR_COLUMNS(DB_COL_SQL)
#define REQ_HDR_FROM                                                                               \
    " FROM requisitions r JOIN org_units ou ON ou.id = r.org_unit_id"                              \
    " JOIN users ru ON ru.id = r.requester_id LEFT JOIN sites ds ON ds.id = r.delivery_site_id"    \
    " LEFT JOIN requisitions sp ON sp.id = r.split_from_id"                                        \
    " LEFT JOIN users au ON au.id = r.approved_by"                                                 \
    " LEFT JOIN emergency_activations ea ON ea.id = r.approved_by_activation"                      \
    " LEFT JOIN users eap ON eap.id = ea.proposed_by LEFT JOIN users eac ON eac.id = "             \
    "ea.confirmed_by"

/* Header columns (REQ_HDR_COLS, from REQ_HDR_FROM: r requisitions, ou its unit) into m. */
void req_hdr_from_row(Gridstock__V1__Requisition *m, const struct db_res *r, int row);
/* Loads the lines of the n requisitions in ms (one query) and attaches them. */
gs_code req_attach_lines(call *c, Gridstock__V1__Requisition **ms, int n);

/* The reservation time (seconds) set by requisition_jobs_register (default one day). */
int req_reservation_ttl(void);
/* The longest an emergency activation may run from now, hours (emergency_max_hours). */
int req_emergency_max_hours(void);

/* Emergency auto-approval right after a submission (requisitions_emergency.c): sets
 * *auto_note to a summary when it acted, else "". */
gs_code req_emergency_on_submit(call *c, req_ref *r, const char **auto_note);

/* After an emergency auto-approval that left backorders (requisitions_supply.c): calls
 * the shortfall off against the supply agreements serving the grid; *units called off. */
gs_code req_supply_on_emergency(call *c, int64_t req_id, int64_t *units);

/* Handlers, by file. */

#endif
