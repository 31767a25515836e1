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
    {REQ_DRAFT, REQ_SUBMITTED},    {REQ_DRAFT, REQ_CANCELLED},      {REQ_SUBMITTED, REQ_APPROVED},
    {REQ_SUBMITTED, REQ_REJECTED}, {REQ_SUBMITTED, REQ_CANCELLED},  {REQ_APPROVED, REQ_ALLOCATED},
    {REQ_APPROVED, REQ_CANCELLED}, {REQ_ALLOCATED, REQ_DISPATCHED}, {REQ_ALLOCATED, REQ_CANCELLED},
    {REQ_ALLOCATED, REQ_APPROVED}, {REQ_DISPATCHED, REQ_RECEIVED},  {REQ_RECEIVED, REQ_CLOSED},
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

#define REF_COLS                                                                                   \
    "r.id, r.number, r.status, r.org_unit_id, ou.code, ou.path::text, r.requester_id, r.priority"
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
    out->id = db_i64(r, 0, 0);
    out->number = db_str(r, 0, 1);
    int st = req_state_from_name(db_str(r, 0, 2));
    out->state = st < 0 ? REQ_DRAFT : (req_state)st;
    out->org_unit_id = db_i64(r, 0, 3);
    out->org_unit_code = db_str(r, 0, 4);
    out->org_unit_path = db_str(r, 0, 5);
    out->requester_id = db_i64(r, 0, 6);
    out->priority = db_str(r, 0, 7);
    return GS_OK;
}

/* ------------------------------------------------------------------ filling messages */

static char *S(const db_res *r, int row, int col)
{
    return (char *)db_str(r, row, col);
}

void req_hdr_from_row(Gridstock__V1__Requisition *m, const db_res *r, int i)
{
    m->id = db_i64(r, i, 0);
    m->number = S(r, i, 1);
    m->org_unit_id = db_i64(r, i, 2);
    m->org_unit_code = S(r, i, 3);
    m->org_unit_name = S(r, i, 4);
    m->requester_id = db_i64(r, i, 5);
    m->requester_login = S(r, i, 6);
    m->priority = S(r, i, 7);
    m->needed_by = S(r, i, 8);
    m->purpose = S(r, i, 9);
    m->delivery_site_id = db_i64(r, i, 10);
    m->delivery_site_code = S(r, i, 11);
    m->delivery_address = S(r, i, 12);
    m->status = S(r, i, 13);
    m->auto_approved = db_bool(r, i, 14);
    m->split_from_id = db_i64(r, i, 15);
    m->split_from_number = S(r, i, 16);
    m->approved_by_id = db_i64(r, i, 17);
    m->approved_by_login = S(r, i, 18);
    m->created_at = S(r, i, 19);
    m->submitted_at = S(r, i, 20);
    m->approved_at = S(r, i, 21);
    m->allocated_at = S(r, i, 22);
    m->reserved_until = S(r, i, 23);
    m->dispatched_at = S(r, i, 24);
    m->received_at = S(r, i, 25);
    m->closed_at = S(r, i, 26);
    m->updated_at = S(r, i, 27);
    m->status_comment = S(r, i, 28);
    m->approved_by_activation_id = db_i64(r, i, 29);
    m->rule_proposed_by_login = S(r, i, 30);
    m->rule_confirmed_by_login = S(r, i, 31);
}

/* Lines of one or more requisitions: column 0 is the requisition id. */
static const char SQL_LINES[] =
    "SELECT l.requisition_id, l.id, l.line_no, l.item_id, i.code, i.name, i.unit, l.qty_requested,"
    " coalesce(l.qty_approved, 0), l.approve_reason, l.qty_allocated, coalesce(b.qty, 0),"
    " l.qty_dispatched, coalesce(l.qty_accepted, 0), coalesce(l.qty_rejected, 0), l.reject_reason,"
    " l.reject_disposition, l.note"
    " FROM requisition_lines l JOIN items i ON i.id = l.item_id"
    " LEFT JOIN requisition_backorders b ON b.line_id = l.id AND b.status = 'open'"
    " WHERE l.requisition_id = ANY ($1::bigint[]) ORDER BY l.requisition_id, l.line_no";

static Gridstock__V1__RequisitionLine *line_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__RequisitionLine *l = call_msg(c, &gridstock__v1__requisition_line__descriptor);
    l->id = db_i64(r, i, 1);
    l->line_no = db_i32(r, i, 2);
    l->item_id = db_i64(r, i, 3);
    l->item_code = S(r, i, 4);
    l->item_name = S(r, i, 5);
    l->unit = S(r, i, 6);
    l->qty_requested = db_i64(r, i, 7);
    l->qty_approved = db_i64(r, i, 8);
    l->approve_reason = S(r, i, 9);
    l->qty_allocated = db_i64(r, i, 10);
    l->qty_backordered = db_i64(r, i, 11);
    l->qty_dispatched = db_i64(r, i, 12);
    l->qty_accepted = db_i64(r, i, 13);
    l->qty_rejected = db_i64(r, i, 14);
    l->reject_reason = S(r, i, 15);
    l->reject_disposition = S(r, i, 16);
    l->note = S(r, i, 17);
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
        int64_t id = db_i64(lines, i, 0);
        while (end < rows && db_i64(lines, end, 0) == id)
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

gs_code req_fill(call *c, int64_t id, Gridstock__V1__Requisition *m)
{
    db_res *h = NULL, *lines = NULL, *al = NULL;
    const char *ids = call_printf(c, "{%" PRId64 "}", id);
    db_stmt st[3] = {
        {"SELECT " REQ_HDR_COLS REQ_HDR_FROM " WHERE r.id = $1::bigint", 1, {call_i64(c, id)}, &h},
        {SQL_LINES, 1, {ids}, &lines},
        {"SELECT a.id, a.line_id, l.item_id, i.code, a.site_id, s.code, s.kind, a.lot_id,"
         " x.lot_code, coalesce(to_char(x.expires_on, 'YYYY-MM-DD'), ''), a.qty, a.distance_m,"
         " a.status FROM requisition_allocations a"
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
    m->n_allocations = (size_t)n;
    m->allocations = (Gridstock__V1__RequisitionAllocation **)call_ptrs(c, (size_t)n);
    for (int i = 0; i < n; i++) {
        Gridstock__V1__RequisitionAllocation *a =
            call_msg(c, &gridstock__v1__requisition_allocation__descriptor);
        a->id = db_i64(al, i, 0);
        a->line_id = db_i64(al, i, 1);
        a->item_id = db_i64(al, i, 2);
        a->item_code = S(al, i, 3);
        a->site_id = db_i64(al, i, 4);
        a->site_code = S(al, i, 5);
        a->site_kind = S(al, i, 6);
        a->lot_id = db_i64(al, i, 7);
        a->lot_code = S(al, i, 8);
        a->expires_on = S(al, i, 9);
        a->qty = db_i64(al, i, 10);
        a->distance_m = db_f64(al, i, 11);
        a->status = S(al, i, 12);
        m->allocations[i] = a;
    }
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
    resp->next_page_token = (char *)db_page_next(c, r, 0, limit, &rows);
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

gs_code requisition_history(call *c, const Gridstock__V1__RequisitionHistoryRequest *req,
                            Gridstock__V1__RequisitionHistoryResponse *resp)
{
    req_ref ref;
    db_res *r = NULL;

    GS_TRY(req_find(c, req->id, req->number, false, &ref));
    GS_TRY(db_exec(c, &r,
                   "SELECT h.id, h.from_state, h.to_state, coalesce(h.actor_id, 0),"
                   " coalesce(u.login, ''), " DIR_TS(
                       "h.at") ", h.comment, coalesce(h.activation_id, 0)"
                               " FROM requisition_history h LEFT JOIN users u ON u.id = h.actor_id"
                               " WHERE h.requisition_id = $1::bigint ORDER BY h.id",
                   1, call_i64(c, ref.id)));
    int n = db_rows(r);
    resp->number = (char *)ref.number;
    resp->n_transitions = (size_t)n;
    resp->transitions = (Gridstock__V1__RequisitionTransition **)call_ptrs(c, (size_t)n);
    for (int i = 0; i < n; i++) {
        Gridstock__V1__RequisitionTransition *t =
            call_msg(c, &gridstock__v1__requisition_transition__descriptor);
        t->id = db_i64(r, i, 0);
        t->from_state = S(r, i, 1);
        t->to_state = S(r, i, 2);
        t->actor_id = db_i64(r, i, 3);
        t->actor_login = S(r, i, 4);
        t->at = S(r, i, 5);
        t->comment = S(r, i, 6);
        t->activation_id = db_i64(r, i, 7);
        resp->transitions[i] = t;
    }
    return GS_OK;
}
