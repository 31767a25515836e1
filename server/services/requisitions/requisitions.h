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
 * requisitions_watch.c (the change stream). */
#ifndef GS_SVC_REQUISITIONS_H
#define GS_SVC_REQUISITIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/requisitions.pb-c.h"

/* The states of a requisition, in the order of its normal life:
 *   DRAFT       being written by the requester; lines can change
 *   SUBMITTED   waiting in the approval queue of the logistics officers over the unit
 *   APPROVED    quantities fixed (possibly lowered); waiting for allocation
 *   REJECTED    refused with a reason (final)
 *   ALLOCATED   stock reserved at concrete lots until reserved_until; back to APPROVED
 *               when the reservations expire
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
/* clang-format off */
#define REQ_HDR_COLS                                                                               \
    "r.id, r.number, r.org_unit_id, ou.code, ou.name, r.requester_id, ru.login, r.priority,"      \
    " coalesce(to_char(r.needed_by, 'YYYY-MM-DD'), ''), r.purpose,"                                \
    " coalesce(r.delivery_site_id, 0), coalesce(ds.code, ''), r.delivery_address, r.status,"       \
    " r.auto_approved, coalesce(r.split_from_id, 0), coalesce(sp.number, ''),"                     \
    " coalesce(r.approved_by, 0), coalesce(au.login, ''), "                                        \
    DIR_TS("r.created_at") ", " DIR_TS("r.submitted_at") ", "                                      \
    DIR_TS("r.approved_at") ", " DIR_TS("r.allocated_at") ", "                                     \
    DIR_TS("r.reserved_until") ", " DIR_TS("r.dispatched_at") ", "                                 \
    DIR_TS("r.received_at") ", " DIR_TS("r.closed_at") ", "                                        \
    DIR_TS("r.updated_at") ", r.status_comment, coalesce(r.approved_by_activation, 0),"           \
    " coalesce(eap.login, ''), coalesce(eac.login, '')"
/* clang-format on */
#define REQ_HDR_FROM                                                                               \
    " FROM requisitions r JOIN org_units ou ON ou.id = r.org_unit_id"                              \
    " JOIN users ru ON ru.id = r.requester_id LEFT JOIN sites ds ON ds.id = r.delivery_site_id"    \
    " LEFT JOIN requisitions sp ON sp.id = r.split_from_id"                                        \
    " LEFT JOIN users au ON au.id = r.approved_by"                                                 \
    " LEFT JOIN emergency_activations ea ON ea.id = r.approved_by_activation"                      \
    " LEFT JOIN users eap ON eap.id = ea.proposed_by LEFT JOIN users eac ON eac.id = "             \
    "ea.confirmed_by"

/* How many columns REQ_HDR_COLS has (a query's own columns follow). */
#define REQ_HDR_NCOLS 32
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

/* Handlers, by file. */

#endif
