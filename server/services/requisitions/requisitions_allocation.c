/* requisitions_allocation.c — what happens to stock for a requisition: allocation
 * (reservations at the nearest reserve points in the officer's scope, FEFO within a
 * site, split across sites, the rest backordered; an allocated requisition with
 * unreserved approved units can be topped up), dispatch (issuing the reserved
 * stock), proof of delivery (per line accepted and rejected, rejected units returned to
 * their lots or written off). The stock changes are made by 030_requisitions.sql's
 * functions on top of 010_stock.sql's. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "pg_array.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

#define ALLOCATE_COLUMNS(COL)                                                                      \
    COL(ALLOCATED_ALLOCATED, "allocated")                                                          \
    COL(ALLOCATED_BACKORDERED, ", backordered")
enum { ALLOCATE_COLUMNS(DB_COL_NAME) ALLOCATED_NCOLS };
#define ALLOCATE_COLS ALLOCATE_COLUMNS(DB_COL_SQL)

gs_code requisition_allocate(call *c, const Gridstock__V1__RequisitionActionRequest *req,
                             Gridstock__V1__Requisition *resp)
{
    req_ref r;
    db_res *res = NULL;

    GS_TRY(v_len(c, "comment", req->comment, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_check_move(c, &r, REQ_ALLOCATED));
    if (r.state == REQ_ALLOCATED) { /* a top-up: only while something approved is unreserved */
        GS_TRY(db_exec(c, &res,
                       "SELECT EXISTS (SELECT 1 FROM requisition_lines WHERE requisition_id ="
                       " $1::bigint AND coalesce(qty_approved, 0) > qty_allocated)",
                       1, call_i64(c, r.id)));
        if (!db_bool(res, 0, 0))
            return call_fail_why(c, GS_FAILED_PRECONDITION, GS_R_WRONG_STATE,
                                 "requisition %s is allocated: nothing is left to allocate",
                                 r.number);
    }
    GS_TRY(db_exec(c, &res,
                   "SELECT " ALLOCATE_COLS " FROM req_allocate($1::bigint, $2::ltree,"
                   " ARRAY['reserve_point'], $3::bigint, $4)",
                   4, call_i64(c, r.id), c->who.scope_path, call_i64(c, c->who.user_id),
                   c->request_id));
    int64_t got = db_i64(res, 0, ALLOCATED_ALLOCATED), back = db_i64(res, 0, ALLOCATED_BACKORDERED);
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    if (got > 0) {
        const char *comment =
            call_printf(c, "%" PRId64 " units reserved, %" PRId64 " backordered%s%.900s", got, back,
                        *req->comment ? ": " : "", req->comment);
        GS_TRY(req_move(c, &r, REQ_ALLOCATED, comment, req_reservation_ttl()));
        c->audit_summary = call_printf(c, "allocated %s: %s", r.number, comment);
    } else {
        /* nothing in stock: it stays approved, the backorder records the demand */
        c->audit_summary = call_printf(
            c, "allocation of %s found no stock: %" PRId64 " units backordered", r.number, back);
    }
    return req_fill(c, r.id, resp);
}

gs_code requisition_dispatch(call *c, const Gridstock__V1__RequisitionActionRequest *req,
                             Gridstock__V1__Requisition *resp)
{
    req_ref r;
    db_res *res = NULL;

    GS_TRY(v_len(c, "comment", req->comment, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_check_move(c, &r, REQ_DISPATCHED));
    GS_TRY(db_exec(c, &res, "SELECT req_dispatch($1::bigint, $2::bigint, $3, $4)", 4,
                   call_i64(c, r.id), call_i64(c, c->who.user_id), c->request_id,
                   call_printf(c, "requisition %s", r.number)));
    int64_t issued = db_one_i64(res, 0);
    const char *comment = call_printf(c, "%" PRId64 " units issued%s%.900s", issued,
                                      *req->comment ? ": " : "", req->comment);
    GS_TRY(req_move(c, &r, REQ_DISPATCHED, comment, 0));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "dispatched %s: %s", r.number, comment);
    return req_fill(c, r.id, resp);
}

static const char *const dispositions[] = {"return", "write_off", NULL};

gs_code requisition_confirm_receipt(call *c, const Gridstock__V1__ConfirmReceiptRequest *req,
                                    Gridstock__V1__Requisition *resp)
{
    size_t n = req->n_lines;
    req_ref r;
    db_res *res = NULL;

    GS_TRY(v_len(c, "comment", req->comment, 1000));
    if (n > 200)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at most 200");
    int64_t *ids = arena_alloc(c->arena, (n ? n : 1) * sizeof *ids);
    int64_t *acc = arena_alloc(c->arena, (n ? n : 1) * sizeof *acc);
    int64_t *rej = arena_alloc(c->arena, (n ? n : 1) * sizeof *rej);
    const char **reasons = arena_alloc(c->arena, (n ? n : 1) * sizeof *reasons);
    const char **disp = arena_alloc(c->arena, (n ? n : 1) * sizeof *disp);
    int64_t rejected = 0;
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ReceiptLine *l = req->lines[i];
        /* no line holds more than GS_QTY_MAX, so 200 of these cannot overflow the sum */
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].accepted_qty", i), l->accepted_qty, 0,
                       GS_QTY_MAX));
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].rejected_qty", i), l->rejected_qty, 0,
                       GS_QTY_MAX));
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].reason", i), l->reason, 500));
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].item_code", i), l->item_code, 64));
        if (l->line_id <= 0 && !*l->item_code)
            return call_fail(c, GS_INVALID_ARGUMENT, "lines[%zu].line_id: required (or item_code)",
                             i);
        if (l->rejected_qty > 0) {
            GS_TRY(v_required(c, call_printf(c, "lines[%zu].reason", i), l->reason));
            GS_TRY(dir_enum(c, call_printf(c, "lines[%zu].disposition", i), l->disposition,
                            dispositions, true));
        }
        ids[i] = l->line_id;
        acc[i] = l->accepted_qty;
        rej[i] = l->rejected_qty;
        reasons[i] = l->reason;
        disp[i] = l->disposition;
        rejected += l->rejected_qty;
    }
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_check_move(c, &r, REQ_RECEIVED));
    /* lines named by item code: their ids */
    for (size_t i = 0; i < n; i++) {
        if (ids[i] > 0)
            continue;
        GS_TRY(db_exec(c, &res,
                       "SELECT l.id FROM requisition_lines l JOIN items i ON i.id = l.item_id"
                       " WHERE l.requisition_id = $1::bigint AND i.code = $2",
                       2, call_i64(c, r.id), req->lines[i]->item_code));
        if (db_rows(res) == 0)
            return call_fail(c, GS_NOT_FOUND, "lines[%zu]: no %.64s line in requisition %s", i,
                             req->lines[i]->item_code, r.number);
        ids[i] = db_one_i64(res, 0);
    }
    GS_TRY(db_exec(c, &res,
                   "SELECT req_receive($1::bigint, $2::bigint[], $3::bigint[], $4::bigint[],"
                   " $5::text[], $6::text[], $7::bigint, $8)",
                   8, call_i64(c, r.id), pg_array_i64(c, ids, n), pg_array_i64(c, acc, n),
                   pg_array_i64(c, rej, n), pg_array_text(c, reasons, n), pg_array_text(c, disp, n),
                   call_i64(c, c->who.user_id), c->request_id));
    int64_t returned = db_one_i64(res, 0);
    const char *comment =
        call_printf(c, "%" PRId64 " units rejected (%" PRId64 " returned to stock)%s%.900s",
                    rejected, returned, *req->comment ? ": " : "", req->comment);
    GS_TRY(req_move(c, &r, REQ_RECEIVED, comment, 0));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "received %s: %s", r.number, comment);
    return req_fill(c, r.id, resp);
}
