/* requisitions.c — RequisitionService: the requisition state machine, loading a
 * requisition within the caller's scope, the reading handlers (Get, List, History) and
 * the method table. The other handlers live in svc_requisitions_*.c (see the header). */
#include "requisitions.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fsm.h"
#include "pg_array.h"
#include "directory/directory.h"
#include "gridstock/v1/requisitions.rpc.h"

/* ------------------------------------------------------------------ state machine */

static const char *const state_names[REQ_STATE_COUNT] = {
#define GS_X(e, s) [e] = s,
    REQ_STATE_LIST(GS_X)
#undef GS_X
};

/* Every legal move. 030_requisitions.sql holds the same rows (requisition_state_
 * transitions), so the database refuses whatever this table refuses. */
static const fsm_move transitions[] = {
    {REQ_DRAFT, REQ_SUBMITTED},     {REQ_DRAFT, REQ_CANCELLED},      {REQ_SUBMITTED, REQ_APPROVED},
    {REQ_SUBMITTED, REQ_REJECTED},  {REQ_SUBMITTED, REQ_CANCELLED},  {REQ_APPROVED, REQ_ALLOCATED},
    {REQ_APPROVED, REQ_CANCELLED},  {REQ_ALLOCATED, REQ_DISPATCHED}, {REQ_ALLOCATED, REQ_CANCELLED},
    {REQ_ALLOCATED, REQ_APPROVED},  {REQ_DISPATCHED, REQ_RECEIVED},  {REQ_RECEIVED, REQ_CLOSED},
    {REQ_ALLOCATED, REQ_ALLOCATED}, /* topped up: a backorder filled (065_backorder_fill.sql) */
};

static const fsm req_fsm = {"requisition", state_names, REQ_STATE_COUNT, transitions,
                            sizeof transitions / sizeof transitions[0]};

const char *req_state_name(req_state s)
{
    return fsm_name(&req_fsm, (int)s);
}

int req_state_from_name(const char *name)
{
    return fsm_state(&req_fsm, name);
}

gs_code req_check_move(call *c, const req_ref *r, req_state to)
{
    return fsm_check(c, &req_fsm, (int)r->state, (int)to, r->number,
                     call_printf(c, "it cannot become %s", req_state_name(to)));
}

gs_code req_move(call *c, req_ref *r, req_state to, const char *comment, int ttl_s)
{
    GS_TRY(req_check_move(c, r, to));
    GS_TRY(db_exec(c, NULL, "SELECT req_transition($1::bigint, $2, $3::bigint, $4, $5::int)", 5,
                   call_i64(c, r->id), req_state_name(to), call_i64(c, c->who.user_id),
                   comment ? comment : "", ttl_s > 0 ? call_i64(c, ttl_s) : NULL));
    r->state = to;
    return GS_OK;
}

/* ------------------------------------------------------------------ loading */

#define REF_COLUMNS(COL)                                                                           \
    COL(REF_ID, "r.id")                                                                            \
    COL(REF_NUMBER, ", r.number")                                                                  \
    COL(REF_STATUS, ", r.status")                                                                  \
    COL(REF_ORG_UNIT_ID, ", r.org_unit_id")                                                        \
    COL(REF_ORG_UNIT_CODE, ", ou.code")                                                            \
    COL(REF_ORG_UNIT_PATH, ", ou.path::text")                                                      \
    COL(REF_REQUESTER_ID, ", r.requester_id")                                                      \
    COL(REF_PRIORITY, ", r.priority")
enum { REF_COLUMNS(DB_COL_NAME) REF_NCOLS };
#define REF_COLS REF_COLUMNS(DB_COL_SQL)
#define REF_FROM " FROM requisitions r JOIN org_units ou ON ou.id = r.org_unit_id"

gs_code req_find(call *c, int64_t id, const char *number, bool lock, req_ref *out)
{
    db_res *r = NULL;
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "id: must be positive, got %" PRId64, id);
    if (id == 0) {
        if (!number || !*number)
            return call_fail(c, GS_INVALID_ARGUMENT, "id: required (id or number)");
        GS_TRY(v_len(c, "number", number, 64));
        if (lock)
            GS_TRY(db_exec(c, &r,
                           "SELECT " REF_COLS REF_FROM
                           " WHERE r.number = $1 AND ou.path <@ $2::ltree FOR UPDATE OF r",
                           2, number, c->who.scope_path));
        else
            GS_TRY(db_exec(
                c, &r, "SELECT " REF_COLS REF_FROM " WHERE r.number = $1 AND ou.path <@ $2::ltree",
                2, number, c->who.scope_path));
        if (db_rows(r) == 0)
            return call_fail(c, GS_NOT_FOUND, "requisition \"%.64s\" not found", number);
    } else {
        if (lock)
            GS_TRY(db_exec(c, &r,
                           "SELECT " REF_COLS REF_FROM
                           " WHERE r.id = $1::bigint AND ou.path <@ $2::ltree FOR UPDATE OF r",
                           2, call_i64(c, id), c->who.scope_path));
        else
            GS_TRY(db_exec(c, &r,
                           "SELECT " REF_COLS REF_FROM
                           " WHERE r.id = $1::bigint AND ou.path <@ $2::ltree",
                           2, call_i64(c, id), c->who.scope_path));
        if (db_rows(r) == 0)
            return call_fail(c, GS_NOT_FOUND, "requisition %" PRId64 " not found", id);
    }
    out->id = db_i64(r, 0, REF_ID);
    out->number = db_str(r, 0, REF_NUMBER);
    int st = req_state_from_name(db_str(r, 0, REF_STATUS));
    out->state = st < 0 ? REQ_DRAFT : (req_state)st;
    out->org_unit_id = db_i64(r, 0, REF_ORG_UNIT_ID);
    out->org_unit_code = db_str(r, 0, REF_ORG_UNIT_CODE);
    out->org_unit_path = db_str(r, 0, REF_ORG_UNIT_PATH);
    out->requester_id = db_i64(r, 0, REF_REQUESTER_ID);
    out->priority = db_str(r, 0, REF_PRIORITY);
    return GS_OK;
}

/* ------------------------------------------------------------------ filling messages */

void req_hdr_from_row(Gridstock__V1__Requisition *m, const db_res *r, int row)
{
    REQ_HDR_COLUMNS(DB_COL_FILL)
}

#define REQ_LINE_COLUMNS(COL)                                                                      \
    COL(RLINE_REQUISITION_ID, "l.requisition_id")                                                  \
    COL(RLINE_ID, ", l.id")                                                                        \
    COL(RLINE_LINE_NO, ", l.line_no")                                                              \
    COL(RLINE_ITEM_ID, ", l.item_id")                                                              \
    COL(RLINE_ITEM_CODE, ", i.code")                                                               \
    COL(RLINE_ITEM_NAME, ", i.name")                                                               \
    COL(RLINE_UNIT, ", i.unit")                                                                    \
    COL(RLINE_QTY_REQUESTED, ", l.qty_requested")                                                  \
    COL(RLINE_QTY_APPROVED, ", coalesce(l.qty_approved, 0)")                                       \
    COL(RLINE_APPROVE_REASON, ", l.approve_reason")                                                \
    COL(RLINE_QTY_ALLOCATED, ", l.qty_allocated")                                                  \
    COL(RLINE_QTY_BACKORDERED, ", coalesce(b.qty, 0)")                                             \
    COL(RLINE_QTY_DISPATCHED, ", l.qty_dispatched")                                                \
    COL(RLINE_QTY_ACCEPTED, ", coalesce(l.qty_accepted, 0)")                                       \
    COL(RLINE_QTY_REJECTED, ", coalesce(l.qty_rejected, 0)")                                       \
    COL(RLINE_REJECT_REASON, ", l.reject_reason")                                                  \
    COL(RLINE_REJECT_DISPOSITION, ", l.reject_disposition")                                        \
    COL(RLINE_NOTE, ", l.note")
enum { REQ_LINE_COLUMNS(DB_COL_NAME) RLINE_NCOLS };
#define REQ_LINE_COLS REQ_LINE_COLUMNS(DB_COL_SQL)

/* Lines of one or more requisitions: column 0 is the requisition id. */
static const char SQL_LINES[] =
    "SELECT " REQ_LINE_COLS " FROM requisition_lines l JOIN items i ON i.id = l.item_id"
    " LEFT JOIN requisition_backorders b ON b.line_id = l.id AND b.status = 'open'"
    " WHERE l.requisition_id = ANY ($1::bigint[]) ORDER BY l.requisition_id, l.line_no";

static Gridstock__V1__RequisitionLine *line_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__RequisitionLine *l = call_msg(c, &gridstock__v1__requisition_line__descriptor);
    l->id = db_i64(r, i, RLINE_ID);
    l->line_no = db_i32(r, i, RLINE_LINE_NO);
    l->item_id = db_i64(r, i, RLINE_ITEM_ID);
    l->item_code = (char *)db_str(r, i, RLINE_ITEM_CODE);
    l->item_name = (char *)db_str(r, i, RLINE_ITEM_NAME);
    l->unit = (char *)db_str(r, i, RLINE_UNIT);
    l->qty_requested = db_i64(r, i, RLINE_QTY_REQUESTED);
    l->qty_approved = db_i64(r, i, RLINE_QTY_APPROVED);
    l->approve_reason = (char *)db_str(r, i, RLINE_APPROVE_REASON);
    l->qty_allocated = db_i64(r, i, RLINE_QTY_ALLOCATED);
    l->qty_backordered = db_i64(r, i, RLINE_QTY_BACKORDERED);
    l->qty_dispatched = db_i64(r, i, RLINE_QTY_DISPATCHED);
    l->qty_accepted = db_i64(r, i, RLINE_QTY_ACCEPTED);
    l->qty_rejected = db_i64(r, i, RLINE_QTY_REJECTED);
    l->reject_reason = (char *)db_str(r, i, RLINE_REJECT_REASON);
    l->reject_disposition = (char *)db_str(r, i, RLINE_REJECT_DISPOSITION);
    l->note = (char *)db_str(r, i, RLINE_NOTE);
    return l;
}

static int by_id(const void *a, const void *b)
{
    int64_t x = (*(Gridstock__V1__Requisition *const *)a)->id;
    int64_t y = (*(Gridstock__V1__Requisition *const *)b)->id;
    return (x > y) - (x < y);
}

/* Gives each of the n requisitions in ms its rows of `lines` (SQL_LINES, ordered by
 * requisition): each run of rows is paired with its requisition by binary search over
 * the requisitions sorted by id, so time and memory grow with what is returned (not
 * with requisitions x lines). */
static void attach_lines(call *c, Gridstock__V1__Requisition **ms, int n, const db_res *lines)
{
    Gridstock__V1__Requisition **sorted = arena_alloc(c->arena, (size_t)n * sizeof *sorted);
    for (int i = 0; i < n; i++)
        sorted[i] = ms[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_id);
    int rows = db_rows(lines);
    for (int i = 0; i < rows;) {
        int end = i + 1;
        int64_t id = db_i64(lines, i, RLINE_REQUISITION_ID);
        while (end < rows && db_i64(lines, end, RLINE_REQUISITION_ID) == id)
            end++;
        Gridstock__V1__Requisition key = {.id = id}, *kp = &key;
        Gridstock__V1__Requisition **hit = bsearch(&kp, sorted, (size_t)n, sizeof *sorted, by_id);
        if (hit && !(*hit)->lines) { /* a requisition listed twice gets its lines once */
            Gridstock__V1__Requisition *m = *hit;
            m->lines = (Gridstock__V1__RequisitionLine **)call_ptrs(c, (size_t)(end - i));
            m->n_lines = 0;
            for (int k = i; k < end; k++)
                m->lines[m->n_lines++] = line_from_row(c, lines, k);
        }
        i = end;
    }
}

/* Attaches the lines of the n requisitions in ms (one query). */
gs_code req_attach_lines(call *c, Gridstock__V1__Requisition **ms, int n)
{
    db_res *lines = NULL;
    if (n <= 0)
        return GS_OK;
    int64_t *ids = arena_alloc(c->arena, (size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++)
        ids[i] = ms[i]->id;
    GS_TRY(db_exec(c, &lines, SQL_LINES, 1, pg_array_i64(c, ids, (size_t)n)));
    attach_lines(c, ms, n, lines);
    return GS_OK;
}

#define ALLOCATION_COLUMNS(COL)                                                                    \
    COL(ALLOC_ID, "a.id")                                                                          \
    COL(ALLOC_LINE_ID, ", a.line_id")                                                              \
    COL(ALLOC_ITEM_ID, ", l.item_id")                                                              \
    COL(ALLOC_ITEM_CODE, ", i.code")                                                               \
    COL(ALLOC_SITE_ID, ", a.site_id")                                                              \
    COL(ALLOC_SITE_CODE, ", s.code")                                                               \
    COL(ALLOC_SITE_KIND, ", s.kind")                                                               \
    COL(ALLOC_LOT_ID, ", a.lot_id")                                                                \
    COL(ALLOC_LOT_CODE, ", x.lot_code")                                                            \
    COL(ALLOC_EXPIRES_ON, ", coalesce(to_char(x.expires_on, 'YYYY-MM-DD'), '')")                   \
    COL(ALLOC_QTY, ", a.qty")                                                                      \
    COL(ALLOC_DISTANCE_M, ", a.distance_m")                                                        \
    COL(ALLOC_STATUS, ", a.status")
enum { ALLOCATION_COLUMNS(DB_COL_NAME) ALLOC_NCOLS };
#define ALLOCATION_COLS ALLOCATION_COLUMNS(DB_COL_SQL)

static void requisition_allocation_from_row(Gridstock__V1__RequisitionAllocation *m,
                                            const db_res *r, int i)
{
    m->id = db_i64(r, i, ALLOC_ID);
    m->line_id = db_i64(r, i, ALLOC_LINE_ID);
    m->item_id = db_i64(r, i, ALLOC_ITEM_ID);
    m->item_code = (char *)db_str(r, i, ALLOC_ITEM_CODE);
    m->site_id = db_i64(r, i, ALLOC_SITE_ID);
    m->site_code = (char *)db_str(r, i, ALLOC_SITE_CODE);
    m->site_kind = (char *)db_str(r, i, ALLOC_SITE_KIND);
    m->lot_id = db_i64(r, i, ALLOC_LOT_ID);
    m->lot_code = (char *)db_str(r, i, ALLOC_LOT_CODE);
    m->expires_on = (char *)db_str(r, i, ALLOC_EXPIRES_ON);
    m->qty = db_i64(r, i, ALLOC_QTY);
    m->distance_m = db_f64(r, i, ALLOC_DISTANCE_M);
    m->status = (char *)db_str(r, i, ALLOC_STATUS);
}

gs_code req_fill(call *c, int64_t id, Gridstock__V1__Requisition *m)
{
    db_res *h = NULL, *lines = NULL, *al = NULL;
    const char *ids = call_printf(c, "{%" PRId64 "}", id);
    db_stmt st[3] = {
        {"SELECT " REQ_HDR_COLS REQ_HDR_FROM " WHERE r.id = $1::bigint", 1, {call_i64(c, id)}, &h},
        {SQL_LINES, 1, {ids}, &lines},
        {"SELECT " ALLOCATION_COLS " FROM requisition_allocations a"
         " JOIN requisition_lines l ON l.id = a.line_id JOIN items i ON i.id = l.item_id"
         " JOIN sites s ON s.id = a.site_id JOIN lots x ON x.id = a.lot_id"
         " WHERE a.requisition_id = $1::bigint ORDER BY a.id",
         1,
         {call_i64(c, id)},
         &al},
    };
    GS_TRY(db_batch(c, st, 3));
    if (db_rows(h) == 0)
        return call_fail(c, GS_NOT_FOUND, "requisition %" PRId64 " not found", id);
    req_hdr_from_row(m, h, 0);
    attach_lines(c, &m, 1, lines);
    int n = db_rows(al);
    DB_ROWS_INTO(c, al, n, m->allocations, m->n_allocations,
                 &gridstock__v1__requisition_allocation__descriptor,
                 requisition_allocation_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ reading handlers */

gs_code requisition_get(call *c, const Gridstock__V1__GetRequisitionRequest *req,
                        Gridstock__V1__Requisition *resp)
{
    req_ref r;
    GS_TRY(req_find(c, req->id, req->number, false, &r));
    return req_fill(c, r.id, resp);
}

static const char *const priorities[] = {"routine", "urgent", "emergency", NULL};

gs_code requisition_list(call *c, const Gridstock__V1__ListRequisitionsRequest *req,
                         Gridstock__V1__ListRequisitionsResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    if (*req->status && req_state_from_name(req->status) < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "status: unknown state \"%.32s\"", req->status);
    GS_TRY(dir_enum(c, "priority", req->priority, priorities, false));
    GS_TRY(v_len(c, "item_code", req->item_code, 64));
    GS_TRY(v_date(c, "created_from", req->created_from));
    GS_TRY(v_date(c, "created_to", req->created_to));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " REQ_HDR_COLS REQ_HDR_FROM " WHERE ou.path <@ $1::ltree"
                   " AND ($2 = '' OR r.status = $2) AND ($3 = '' OR r.priority = $3)"
                   " AND ($4 = '' OR EXISTS (SELECT 1 FROM requisition_lines l JOIN items i"
                   "  ON i.id = l.item_id WHERE l.requisition_id = r.id AND i.code = $4))"
                   " AND ($5 = '' OR r.created_at >= $5::date)"
                   " AND ($6 = '' OR r.created_at < $6::date + 1)"
                   " AND (NOT $7::bool OR r.requester_id = $8::bigint)"
                   " AND r.id > $9::bigint ORDER BY r.id LIMIT $10::bigint",
                   10, u.path, req->status, req->priority, req->item_code, req->created_from,
                   req->created_to, req->mine ? "true" : "false", call_i64(c, c->who.user_id),
                   call_i64(c, after), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, RH_ID, limit, &rows);
    resp->n_requisitions = (size_t)rows;
    resp->requisitions = (Gridstock__V1__Requisition **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__Requisition *m = call_msg(c, &gridstock__v1__requisition__descriptor);
        req_hdr_from_row(m, r, i);
        resp->requisitions[i] = m;
    }
    if (req->with_lines)
        GS_TRY(req_attach_lines(c, resp->requisitions, rows));
    return GS_OK;
}

#define HISTORY_COLUMNS(COL)                                                                       \
    COL(HIST_ID, "h.id")                                                                           \
    COL(HIST_FROM_STATE, ", h.from_state")                                                         \
    COL(HIST_TO_STATE, ", h.to_state")                                                             \
    COL(HIST_ACTOR_ID, ", coalesce(h.actor_id, 0)")                                                \
    COL(HIST_ACTOR_LOGIN, ", coalesce(u.login, '')")                                               \
    COL(HIST_AT, ", " DIR_TS("h.at"))                                                              \
    COL(HIST_COMMENT, ", h.comment")                                                               \
    COL(HIST_ACTIVATION_ID, ", coalesce(h.activation_id, 0)")                                      \
    COL(HIST_KIND, ", h.kind")
enum { HISTORY_COLUMNS(DB_COL_NAME) HIST_NCOLS };
#define HISTORY_COLS HISTORY_COLUMNS(DB_COL_SQL)

static void requisition_transition_from_row(Gridstock__V1__RequisitionTransition *m,
                                            const db_res *r, int i)
{
    m->id = db_i64(r, i, HIST_ID);
    m->from_state = (char *)db_str(r, i, HIST_FROM_STATE);
    m->to_state = (char *)db_str(r, i, HIST_TO_STATE);
    m->actor_id = db_i64(r, i, HIST_ACTOR_ID);
    m->actor_login = (char *)db_str(r, i, HIST_ACTOR_LOGIN);
    m->at = (char *)db_str(r, i, HIST_AT);
    m->comment = (char *)db_str(r, i, HIST_COMMENT);
    m->activation_id = db_i64(r, i, HIST_ACTIVATION_ID);
    m->kind = (char *)db_str(r, i, HIST_KIND);
}

gs_code requisition_history(call *c, const Gridstock__V1__RequisitionHistoryRequest *req,
                            Gridstock__V1__RequisitionHistoryResponse *resp)
{
    req_ref ref;
    db_res *r = NULL;

    GS_TRY(req_find(c, req->id, req->number, false, &ref));
    GS_TRY(db_exec(c, &r,
                   "SELECT " HISTORY_COLS
                   " FROM requisition_history h LEFT JOIN users u ON u.id = h.actor_id"
                   " WHERE h.requisition_id = $1::bigint ORDER BY h.id",
                   1, call_i64(c, ref.id)));
    int n = db_rows(r);
    resp->number = (char *)ref.number;
    DB_ROWS_INTO(c, r, n, resp->transitions, resp->n_transitions,
                 &gridstock__v1__requisition_transition__descriptor,
                 requisition_transition_from_row);
    return GS_OK;
}
