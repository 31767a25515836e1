/* requisitions_approval.c — the logistics officer's side of a submitted requisition:
 * the approval queue (most urgent, then oldest first, with the stock available nearby
 * per line), approval (possibly with lower quantities, never by the requester), batch
 * approval with one result per requisition, and rejection with a reason. An approval may
 * also allocate the stock there is and buy the shortfall from a supplier market, paid from
 * the requesting grid's fund (062_requisition_purchases.sql), in the same transaction. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "pg_array.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

enum { BATCH_MAX = 100, NEARBY_DEFAULT = 3, NEARBY_MAX = 10 };

static const char *const priorities[] = {"routine", "urgent", "emergency", NULL};

/* ------------------------------------------------------------------ queue */

/* A queue entry: the requisition's header, then how long it has waited. */
#define QUEUE_COLUMNS(COL)                                                                         \
    COL(QUEUE_WAITING_S, ", extract(epoch FROM now() - r.submitted_at)::bigint")
enum { QUEUE_BEFORE_ = REQ_HDR_NCOLS - 1, QUEUE_COLUMNS(DB_COL_NAME) QUEUE_NCOLS };
#define QUEUE_COLS QUEUE_COLUMNS(DB_COL_SQL)

#define AVAILABILITY_COLUMNS(COL)                                                                  \
    COL(AVAIL_LINE_ID, "ln.id")                                                                    \
    COL(AVAIL_AVAILABLE_IN_SCOPE,                                                                  \
        ", coalesce((SELECT sum(available) FROM st WHERE st.item_id = ln.item_id), 0)")            \
    COL(AVAIL_SITE_ID, ", coalesce(n.site_id, 0)")                                                 \
    COL(AVAIL_SITE_CODE, ", coalesce(n.code, '')")                                                 \
    COL(AVAIL_SITE_KIND, ", coalesce(n.kind, '')")                                                 \
    COL(AVAIL_AVAILABLE, ", coalesce(n.available, 0)")                                             \
    COL(AVAIL_DISTANCE_M, ", coalesce(n.dist, 0)")
enum { AVAILABILITY_COLUMNS(DB_COL_NAME) AVAIL_NCOLS };
#define AVAILABILITY_COLS AVAILABILITY_COLUMNS(DB_COL_SQL)

gs_code requisition_approval_queue(call *c, const Gridstock__V1__ApprovalQueueRequest *req,
                                   Gridstock__V1__ApprovalQueueResponse *resp)
{
    int64_t limit, offset;
    dir_unit u;
    db_res *r = NULL, *av = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &offset));
    GS_TRY(dir_enum(c, "priority", req->priority, priorities, false));
    GS_TRY(v_range(c, "nearby_sites", req->nearby_sites, 0, NEARBY_MAX));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    /* page_token is the offset into the queue: its order is not by id */
    GS_TRY(
        db_exec(c, &r,
                "SELECT " REQ_HDR_COLS QUEUE_COLS REQ_HDR_FROM
                " WHERE r.status = 'submitted' AND ou.path <@ $1::ltree"
                " AND ($2 = '' OR r.priority = $2)"
                " ORDER BY CASE r.priority WHEN 'emergency' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END,"
                " r.submitted_at, r.id OFFSET $3::bigint LIMIT $4::bigint",
                4, u.path, req->priority, call_i64(c, offset), call_i64(c, limit)));
    int rows = db_rows(r);
    if (rows == limit) {
        rows--;
        resp->next_page_token = (char *)call_i64(c, offset + rows);
    }
    resp->n_entries = (size_t)rows;
    resp->entries = (Gridstock__V1__ApprovalQueueEntry **)call_ptrs(c, (size_t)rows);
    Gridstock__V1__Requisition **ms = (void *)call_ptrs(c, (size_t)rows);
    int64_t *ids = arena_alloc(c->arena, (size_t)(rows ? rows : 1) * sizeof *ids);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__ApprovalQueueEntry *e =
            call_msg(c, &gridstock__v1__approval_queue_entry__descriptor);
        e->requisition = ms[i] = call_msg(c, &gridstock__v1__requisition__descriptor);
        req_hdr_from_row(e->requisition, r, i);
        e->waiting_s = db_i64(r, i, QUEUE_WAITING_S);
        ids[i] = e->requisition->id;
        resp->entries[i] = e;
    }
    if (rows == 0)
        return GS_OK;
    GS_TRY(req_attach_lines(c, ms, rows));
    /* For every line: what the caller's reserve points hold of its item in total, and the
     * nearest of them with stock (distance from the requisition's origin). */
    GS_TRY(db_exec(
        c, &av,
        "WITH ln AS (SELECT l.id, l.item_id, o.lat, o.lon FROM requisition_lines l"
        "  CROSS JOIN LATERAL req_origin(l.requisition_id) o"
        "  WHERE l.requisition_id = ANY ($1::bigint[])),"
        " st AS (SELECT b.site_id, b.item_id, b.available, s.code, s.kind, s.lat, s.lon"
        "  FROM stock_item_balances b JOIN sites s ON s.id = b.site_id"
        "  JOIN org_units ou ON ou.id = s.org_unit_id"
        "  WHERE s.active AND s.kind = 'reserve_point' AND ou.path <@ $2::ltree"
        "  AND b.available > 0 AND b.item_id IN (SELECT item_id FROM ln))"
        " SELECT " AVAILABILITY_COLS
        " FROM ln LEFT JOIN LATERAL (SELECT st.site_id, st.code, st.kind, st.available,"
        "  coalesce(earth_distance(ll_to_earth(ln.lat, ln.lon), ll_to_earth(st.lat, st.lon)), 0)"
        "  AS dist FROM st WHERE st.item_id = ln.item_id ORDER BY 5, st.site_id LIMIT $3::int) n"
        " ON true ORDER BY ln.id, n.dist",
        3, pg_array_i64(c, ids, (size_t)rows), c->who.scope_path,
        call_i64(c, req->nearby_sites ? req->nearby_sites : NEARBY_DEFAULT)));
    int na = db_rows(av);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__ApprovalQueueEntry *e = resp->entries[i];
        Gridstock__V1__Requisition *m = e->requisition;
        e->availability = (Gridstock__V1__LineAvailability **)call_ptrs(c, m->n_lines);
        e->n_availability = m->n_lines;
        for (size_t k = 0; k < m->n_lines; k++) {
            Gridstock__V1__LineAvailability *a =
                call_msg(c, &gridstock__v1__line_availability__descriptor);
            a->line_id = m->lines[k]->id;
            a->item_id = m->lines[k]->item_id;
            a->item_code = m->lines[k]->item_code;
            a->qty_requested = m->lines[k]->qty_requested;
            int first = -1, cnt = 0;
            for (int j = 0; j < na; j++)
                if (db_i64(av, j, AVAIL_LINE_ID) == a->line_id) {
                    if (first < 0)
                        first = j;
                    cnt += db_i64(av, j, AVAIL_SITE_ID) != 0;
                }
            a->nearest = (Gridstock__V1__NearbyStock **)call_ptrs(c, (size_t)cnt);
            for (int j = first; j >= 0 && j < na && db_i64(av, j, AVAIL_LINE_ID) == a->line_id;
                 j++) {
                a->available_in_scope = db_i64(av, j, AVAIL_AVAILABLE_IN_SCOPE);
                if (db_i64(av, j, AVAIL_SITE_ID) == 0)
                    continue;
                Gridstock__V1__NearbyStock *s =
                    call_msg(c, &gridstock__v1__nearby_stock__descriptor);
                s->site_id = db_i64(av, j, AVAIL_SITE_ID);
                s->site_code = (char *)db_str(av, j, AVAIL_SITE_CODE);
                s->site_kind = (char *)db_str(av, j, AVAIL_SITE_KIND);
                s->available = db_i64(av, j, AVAIL_AVAILABLE);
                s->distance_m = db_f64(av, j, AVAIL_DISTANCE_M);
                a->nearest[a->n_nearest++] = s;
            }
            e->availability[k] = a;
        }
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ approve */

#define APPROVE_LINE_COLUMNS(COL)                                                                  \
    COL(ALINE_ID, "l.id")                                                                          \
    COL(ALINE_QTY_REQUESTED, ", l.qty_requested")                                                  \
    COL(ALINE_ITEM_CODE, ", i.code")                                                               \
    COL(ALINE_DECIDED, ", l.qty_approved IS NOT NULL")
enum { APPROVE_LINE_COLUMNS(DB_COL_NAME) ALINE_NCOLS };
#define APPROVE_LINE_COLS APPROVE_LINE_COLUMNS(DB_COL_SQL)

#define SHORTFALL_COLUMNS(COL)                                                                     \
    COL(SHORT_ORDERS, "count(*)")                                                                  \
    COL(SHORT_NUMBERS, ", coalesce(string_agg(o.number, ', ' ORDER BY o.id), '')")                 \
    COL(SHORT_RESERVED, ", coalesce(sum(p.reserved_fen), 0)")                                      \
    COL(SHORT_FUND, ", coalesce(min(fa.code), '')")
enum { SHORTFALL_COLUMNS(DB_COL_NAME) SHORT_NCOLS };
#define SHORTFALL_COLS SHORTFALL_COLUMNS(DB_COL_SQL)

/* After the approval of r: reserves the stock there is (as Allocate does) and buys the
 * backordered rest, the money reserved on the requesting grid's fund. Sets *note to what
 * was done, for the history and the audit. */
static gs_code allocate_and_buy(call *c, req_ref *r, const char **note)
{
    db_res *res = NULL;
    GS_TRY(db_exec(c, &res,
                   "SELECT allocated, backordered FROM req_allocate($1::bigint, $2::ltree,"
                   " ARRAY['reserve_point'], $3::bigint, $4)",
                   4, call_i64(c, r->id), c->who.scope_path, call_i64(c, c->who.user_id),
                   c->request_id));
    int64_t got = db_i64(res, 0, 0), back = db_i64(res, 0, 1);
    const char *bought = "";
    if (back > 0) {
        GS_TRY(db_exec(c, &res,
                       "SELECT " SHORTFALL_COLS
                       " FROM req_purchase_shortfall($1::bigint, $2::ltree, $3::bigint) p"
                       " JOIN purchase_orders o ON o.id = p.order_id"
                       " JOIN fund_accounts fa ON fa.id = o.fund_account_id",
                       3, call_i64(c, r->id), c->who.scope_path, call_i64(c, c->who.user_id)));
        bought = call_printf(c, "; %" PRId64 " units bought (%s), %s fen reserved on %s", back,
                             db_str(res, 0, SHORT_NUMBERS), db_str(res, 0, SHORT_RESERVED),
                             db_str(res, 0, SHORT_FUND));
    }
    *note = call_printf(c, "%" PRId64 " units reserved%s", got, bought);
    if (got > 0)
        GS_TRY(req_move(c, r, REQ_ALLOCATED, *note, req_reservation_ttl()));
    return GS_OK;
}

/* Approves one requisition (locked inside); fills out, and *note when it also allocated
 * and bought (purchase_shortfall). */
static gs_code approve_one(call *c, const Gridstock__V1__ApproveRequest *a,
                           Gridstock__V1__Requisition *out, req_ref *r, const char **note)
{
    *note = NULL;
    db_res *res = NULL;
    GS_TRY(v_len(c, "comment", a->comment, 1000));
    GS_TRY(req_find(c, a->id, a->number, true, r));
    if (r->requester_id == c->who.user_id)
        return call_fail_why(c, GS_PERMISSION_DENIED, GS_R_SECOND_PERSON_REQUIRED,
                             "requisition %s: the requester cannot approve their own requisition",
                             r->number);
    /* allocated → approved is the expiry job's move, not an approval */
    if (r->state != REQ_SUBMITTED)
        return call_fail(c, GS_FAILED_PRECONDITION, "requisition %s is %s: it cannot become %s",
                         r->number, req_state_name(r->state), req_state_name(REQ_APPROVED));
    const char *lowered = NULL;
    for (size_t i = 0; i < a->n_lines; i++) {
        const Gridstock__V1__LineApproval *l = a->lines[i];
        if (l->line_id <= 0 && !*l->item_code)
            return call_fail(c, GS_INVALID_ARGUMENT, "lines[%zu].line_id: required (or item_code)",
                             i);
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].item_code", i), l->item_code, 64));
        GS_TRY(v_nonneg(c, call_printf(c, "lines[%zu].qty", i), l->qty));
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].reason", i), l->reason, 500));
        GS_TRY(db_exec(c, &res,
                       "SELECT " APPROVE_LINE_COLS
                       " FROM requisition_lines l JOIN items i ON i.id = l.item_id"
                       " WHERE l.requisition_id = $1::bigint AND (l.id = $2::bigint"
                       " OR ($2::bigint <= 0 AND i.code = $3))",
                       3, call_i64(c, r->id), call_i64(c, l->line_id), l->item_code));
        if (db_rows(res) == 0)
            return call_fail(c, GS_NOT_FOUND, "lines[%zu]: no such line in requisition %s", i,
                             r->number);
        if (db_bool(res, 0, ALINE_DECIDED))
            return call_fail(c, GS_INVALID_ARGUMENT, "lines[%zu]: line %s is listed twice", i,
                             db_str(res, 0, ALINE_ITEM_CODE));
        int64_t requested = db_i64(res, 0, ALINE_QTY_REQUESTED);
        if (l->qty > requested)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "lines[%zu].qty: %" PRId64 " is more than the %" PRId64
                             " requested (approval may only lower it)",
                             i, l->qty, requested);
        if (l->qty < requested && !*l->reason)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "lines[%zu].reason: required when lowering the quantity", i);
        GS_TRY(db_exec(c, NULL,
                       "UPDATE requisition_lines SET qty_approved = $2::bigint,"
                       " approve_reason = CASE WHEN $2::bigint < qty_requested THEN $3 ELSE '' END"
                       " WHERE id = $1::bigint",
                       3, db_str(res, 0, ALINE_ID), call_i64(c, l->qty), l->reason));
        if (l->qty < requested)
            dir_note(c, &lowered,
                     call_printf(c, "%s %" PRId64 "->%" PRId64, db_str(res, 0, ALINE_ITEM_CODE),
                                 requested, l->qty));
    }
    GS_TRY(db_exec(c, NULL,
                   "UPDATE requisition_lines SET qty_approved = qty_requested"
                   " WHERE requisition_id = $1::bigint AND qty_approved IS NULL",
                   1, call_i64(c, r->id)));
    GS_TRY(db_exec(c, &res,
                   "SELECT coalesce(sum(qty_approved), 0) FROM requisition_lines"
                   " WHERE requisition_id = $1::bigint",
                   1, call_i64(c, r->id)));
    if (db_one_i64(res, 0) == 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "lines: every quantity is 0; reject the requisition instead");
    GS_TRY(db_exec(c, NULL,
                   "UPDATE requisitions SET approved_by = $2::bigint WHERE id = $1::bigint", 2,
                   call_i64(c, r->id), call_i64(c, c->who.user_id)));
    const char *comment = a->comment;
    if (lowered)
        comment = *comment ? call_printf(c, "%s (lowered: %s)", comment, lowered)
                           : call_printf(c, "lowered: %s", lowered);
    GS_TRY(req_move(c, r, REQ_APPROVED, comment, 0));
    if (a->purchase_shortfall)
        GS_TRY(allocate_and_buy(c, r, note));
    return req_fill(c, r->id, out);
}

gs_code requisition_approve(call *c, const Gridstock__V1__ApproveRequest *req,
                            Gridstock__V1__Requisition *resp)
{
    req_ref r;
    const char *note;
    GS_TRY(approve_one(c, req, resp, &r, &note));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = note ? call_printf(c, "approved %s: %s", r.number, note)
                            : call_printf(c, "approved %s", r.number);
    return GS_OK;
}

gs_code requisition_approve_batch(call *c, const Gridstock__V1__ApproveBatchRequest *req,
                                  Gridstock__V1__ApproveBatchResponse *resp)
{
    const char *done = NULL;

    if (req->n_approvals == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "approvals: at least one is required");
    if (req->n_approvals > BATCH_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "approvals: at most %d", BATCH_MAX);
    resp->n_results = req->n_approvals;
    resp->results = (Gridstock__V1__ApproveBatchResult **)call_ptrs(c, req->n_approvals);
    for (size_t i = 0; i < req->n_approvals; i++) {
        const Gridstock__V1__ApproveRequest *a = req->approvals[i];
        Gridstock__V1__ApproveBatchResult *res =
            call_msg(c, &gridstock__v1__approve_batch_result__descriptor);
        resp->results[i] = res;
        res->id = a->id;
        res->number = a->number;
        /* each approval in its own subtransaction: one failure undoes only itself */
        GS_TRY(db_exec(c, NULL, "SAVEPOINT req_batch", 0));
        Gridstock__V1__Requisition *m = call_msg(c, &gridstock__v1__requisition__descriptor);
        req_ref r = {0};
        const char *note;
        gs_code rc = approve_one(c, a, m, &r, &note);
        if (rc == GS_OK) {
            GS_TRY(db_exec(c, NULL, "RELEASE SAVEPOINT req_batch", 0));
            res->id = m->id;
            res->number = m->number;
            res->requisition = m;
            resp->approved++;
            dir_note(c, &done, m->number);
        } else {
            if (db_retryable(c))
                return rc; /* a deadlock or serialization failure: the whole call is retried */
            res->code = (int32_t)rc;
            res->code_name = (char *)gs_code_name(rc);
            res->message = call_printf(c, "%s", c->message);
            resp->failed++;
            c->code = GS_OK;
            c->message[0] = '\0';
            GS_TRY(db_exec(c, NULL, "ROLLBACK TO SAVEPOINT req_batch", 0));
        }
    }
    c->audit_object = "requisitions:batch";
    c->audit_summary = call_printf(c, "approved %d of %zu: %.400s", (int)resp->approved,
                                   req->n_approvals, done ? done : "none");
    return GS_OK;
}

gs_code requisition_reject(call *c, const Gridstock__V1__RejectRequest *req,
                           Gridstock__V1__Requisition *resp)
{
    req_ref r;
    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    if (r.requester_id == c->who.user_id)
        return call_fail_why(c, GS_PERMISSION_DENIED, GS_R_SECOND_PERSON_REQUIRED,
                             "requisition %s: the requester cannot decide on their own requisition",
                             r.number);
    GS_TRY(req_move(c, &r, REQ_REJECTED, req->reason, 0));
    GS_TRY(req_fill(c, r.id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "rejected %s: %.200s", r.number, req->reason);
    return GS_OK;
}
