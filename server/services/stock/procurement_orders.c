/* procurement_orders.c — purchase order handlers: create a draft, change its lines,
 * place, cancel, receive against it (partial receipts, lot and expiry per line), get and
 * list. Each state change is checked against the transition table first (naming the
 * current state) and then made under the order's row lock, where the purchase_orders_guard
 * trigger checks it again.
 *
 * An order may be paid from a fund (060_purchase_funds.sql): placing it is then its
 * approval by someone other than its author, which reserves its value on the fund and its
 * budgets; receipts post what was received at the price paid, and cancelling (closing
 * short) releases the rest. Each of those rules is checked here first and again by the
 * SQL functions and triggers. */
#include <inttypes.h>
#include <string.h>

#include "pg_array.h"
#include "procurement.h"
#include "gridstock/v1/procurement.rpc.h"

static const char *actor(call *c)
{
    return call_i64(c, c->who.user_id);
}

/* The delivery site of an order: a stock-keeping site within the caller's scope. */
static gs_code delivery_site(call *c, int64_t id, const char *code, stock_site *out)
{
    GS_TRY(stock_site_find(c, id, code, "site_id", out));
    if (strcmp(out->kind, "supplier_market") == 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "site_id: %s is a supplier market: orders are delivered to a reserve"
                         " point or charity station",
                         out->code);
    if (!out->active)
        return call_fail(c, GS_FAILED_PRECONDITION, "site %s is inactive", out->code);
    return GS_OK;
}

/* The budget categories a fund pays purchases under (fund_budgets.category). */
static const char *const budget_categories[] = {"subsidies",          "rewards",   "activities",
                                                "material_purchases", "emergency", NULL};

gs_code procurement_create_order(call *c, const Gridstock__V1__CreateOrderRequest *req,
                                 Gridstock__V1__PurchaseOrder *resp)
{
    stock_site sm, s;
    int64_t *items, *qtys, *prices;
    db_res *r = NULL;

    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(proc_supplier_find(c, req->supplier_site_id, req->supplier_site_code, "supplier_site_id",
                              &sm));
    if (!sm.active)
        return call_fail(c, GS_FAILED_PRECONDITION, "supplier market %s is inactive", sm.code);
    GS_TRY(delivery_site(c, req->site_id, req->site_code, &s));
    GS_TRY(proc_lines_check(c, req->n_lines, req->lines, &items, &qtys, &prices));
    int64_t fund = 0;
    bool funded = req->fund_account_id != 0 || *req->fund_code;
    GS_TRY(v_nonneg(c, "fund_account_id", req->fund_account_id));
    GS_TRY(v_len(c, "fund_code", req->fund_code, 80));
    if (funded) {
        GS_TRY(v_required(c, "budget_category", req->budget_category));
        GS_TRY(dir_enum(c, "budget_category", req->budget_category, budget_categories, false));
        GS_TRY(db_exec(c, &r, "SELECT (proc_order_fund($1::bigint, $2, $3::ltree)).id", 3,
                       call_i64(c, req->fund_account_id), req->fund_code, c->who.scope_path));
        fund = db_one_i64(r, 0);
    } else if (*req->budget_category) {
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "budget_category: only an order paid from a fund has one; give fund_code");
    }
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO purchase_orders (supplier_site_id, site_id, note, created_by,"
                   " fund_account_id, budget_category)"
                   " VALUES ($1, $2, $3, $4, nullif($5::bigint, 0), nullif($6, '')) RETURNING id",
                   6, call_i64(c, sm.id), call_i64(c, s.id), req->note, actor(c), call_i64(c, fund),
                   funded ? req->budget_category : ""));
    int64_t id = db_one_i64(r, 0);
    if (req->n_lines)
        GS_TRY(db_exec(
            c, NULL, "SELECT proc_set_lines($1::bigint, $2::bigint[], $3::bigint[], $4::bigint[])",
            4, call_i64(c, id), pg_array_i64(c, items, req->n_lines),
            pg_array_i64(c, qtys, req->n_lines), pg_array_i64(c, prices, req->n_lines)));
    GS_TRY(po_fill(c, id, true, resp));
    c->audit_object = call_printf(c, "purchase_order:%" PRId64, id);
    c->audit_summary = call_printf(c, "drafted %s from %s for %s: %zu line(s), %" PRId64 " fen%s%s",
                                   resp->number, sm.code, s.code, resp->n_lines, resp->total_fen,
                                   funded ? ", paid from " : "", funded ? resp->fund_code : "");
    return GS_OK;
}

gs_code procurement_update_draft(call *c, const Gridstock__V1__UpdateOrderDraftRequest *req,
                                 Gridstock__V1__PurchaseOrder *resp)
{
    po_ref o;
    int64_t *items, *qtys, *prices;

    GS_TRY(stock_check_text(c, "note", req->note));
    if (req->n_lines == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at least one is required");
    GS_TRY(proc_lines_check(c, req->n_lines, req->lines, &items, &qtys, &prices));
    GS_TRY(po_find(c, req->order_id, NULL, true, &o));
    if (o.state != PO_DRAFT)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "purchase order %s is %s: only a draft can be changed", o.number,
                         po_state_name(o.state));
    if (*req->note)
        GS_TRY(db_exec(c, NULL, "UPDATE purchase_orders SET note = $2 WHERE id = $1", 2,
                       call_i64(c, o.id), req->note));
    GS_TRY(db_exec(c, NULL,
                   "SELECT proc_set_lines($1::bigint, $2::bigint[], $3::bigint[], $4::bigint[])", 4,
                   call_i64(c, o.id), pg_array_i64(c, items, req->n_lines),
                   pg_array_i64(c, qtys, req->n_lines), pg_array_i64(c, prices, req->n_lines)));
    GS_TRY(po_fill(c, o.id, true, resp));
    c->audit_object = call_printf(c, "purchase_order:%" PRId64, o.id);
    c->audit_summary = call_printf(c, "changed draft %s: %zu line(s), %" PRId64 " fen", o.number,
                                   resp->n_lines, resp->total_fen);
    return GS_OK;
}

gs_code procurement_place_order(call *c, const Gridstock__V1__OrderActionRequest *req,
                                Gridstock__V1__PurchaseOrder *resp)
{
    po_ref o;
    db_res *r = NULL;

    GS_TRY(po_find(c, req->order_id, NULL, true, &o));
    GS_TRY(po_check_move(c, &o, PO_PLACED, "place it"));
    GS_TRY(db_exec(c, &r, "SELECT count(*) FROM purchase_order_lines WHERE order_id = $1", 1,
                   call_i64(c, o.id)));
    if (db_one_i64(r, 0) == 0)
        return call_fail(c, GS_FAILED_PRECONDITION, "purchase order %s has no lines", o.number);
    if (o.fund_account_id && o.created_by == c->who.user_id)
        return call_fail_why(c, GS_PERMISSION_DENIED, GS_R_SECOND_PERSON_REQUIRED,
                             "purchase order %s: its author cannot approve it; another officer"
                             " places it",
                             o.number);
    /* a funded order's approval: its value reserved on the fund and budgets (0 otherwise) */
    GS_TRY(db_exec(c, &r, "SELECT proc_order_reserve($1::bigint, $2::bigint)", 2, call_i64(c, o.id),
                   actor(c)));
    int64_t reserved = db_one_i64(r, 0);
    /* expected when the slowest line's lead time (supplier's current price) has passed */
    GS_TRY(
        db_exec(c, NULL,
                "UPDATE purchase_orders o SET status = 'placed', placed_by = $2, placed_at = now(),"
                " reserved_fen = $3::bigint,"
                " expected_on = current_date + coalesce((SELECT max(p.lead_time_days)"
                "   FROM purchase_order_lines l JOIN supplier_prices_current p"
                "     ON p.item_id = l.item_id AND p.supplier_site_id = o.supplier_site_id"
                "  WHERE l.order_id = o.id), 0)"
                " WHERE o.id = $1",
                3, call_i64(c, o.id), actor(c), call_i64(c, reserved)));
    GS_TRY(po_fill(c, o.id, true, resp));
    c->audit_object = call_printf(c, "purchase_order:%" PRId64, o.id);
    if (o.fund_account_id)
        c->audit_summary = call_printf(
            c, "approved and placed %s with %s: %" PRId64 " fen reserved on %s (%s), expected %s",
            o.number, resp->supplier_site_code, reserved, resp->fund_code, resp->budget_category,
            resp->expected_on);
    else
        c->audit_summary =
            call_printf(c, "placed %s with %s: %" PRId64 " fen, expected %s", o.number,
                        resp->supplier_site_code, resp->total_fen, resp->expected_on);
    return GS_OK;
}

gs_code procurement_cancel_order(call *c, const Gridstock__V1__OrderActionRequest *req,
                                 Gridstock__V1__PurchaseOrder *resp)
{
    po_ref o;

    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(stock_check_text(c, "reason", req->reason));
    GS_TRY(po_find(c, req->order_id, NULL, true, &o));
    GS_TRY(po_check_move(c, &o, PO_CANCELLED, "cancel it"));
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT proc_order_release($1::bigint)", 1, call_i64(c, o.id)));
    int64_t released = db_one_i64(r, 0);
    GS_TRY(db_exec(c, NULL,
                   "UPDATE purchase_orders SET status = 'cancelled', closed_by = $2,"
                   " closed_at = now(), cancel_reason = $3 WHERE id = $1",
                   3, call_i64(c, o.id), actor(c), req->reason));
    GS_TRY(po_fill(c, o.id, true, resp));
    c->audit_object = call_printf(c, "purchase_order:%" PRId64, o.id);
    c->audit_summary = call_printf(c, "cancelled %s (was %s, %" PRId64 " fen released): %s",
                                   o.number, po_state_name(o.state), released, req->reason);
    return GS_OK;
}

/* proc_order_receive's rows: one movement per received line, k its line's position. */
#define RECEIPT_COLUMNS(COL) COL(RCPT_K, "k") COL(RCPT_MOVEMENT_ID, ", movement_id")
enum { RECEIPT_COLUMNS(DB_COL_NAME) RCPT_NCOLS };
#define RECEIPT_COLS RECEIPT_COLUMNS(DB_COL_SQL)

gs_code procurement_receive_against_order(call *c,
                                          const Gridstock__V1__ReceiveAgainstOrderRequest *req,
                                          Gridstock__V1__ReceiveAgainstOrderResponse *resp)
{
    Gridstock__V1__PurchaseOrder *cur;
    po_ref o;
    db_res *r = NULL;
    size_t n = req->n_lines;

    GS_TRY(stock_check_text(c, "note", req->note));
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at least one is required");
    if (n > PO_LINES_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at most %d", PO_LINES_MAX);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ReceiptLineInput *l = req->lines[i];
        GS_TRY(v_nonneg(c, call_printf(c, "lines[%zu].line_id", i), l->line_id));
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].qty", i), l->qty, 1, 1000000000));
        GS_TRY(
            stock_check_lot_code(c, call_printf(c, "lines[%zu].lot_code", i), l->lot_code, true));
        GS_TRY(v_date(c, call_printf(c, "lines[%zu].expires_on", i), l->expires_on));
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].unit_price_fen", i), l->unit_price_fen, 0,
                       1000000000000));
        GS_TRY(stock_check_text(c, call_printf(c, "lines[%zu].price_reason", i), l->price_reason));
    }
    GS_TRY(po_find(c, req->order_id, NULL, true, &o));
    GS_TRY(po_check_move(c, &o, PO_RECEIVED, "receive against it"));
    cur = call_msg(c, &gridstock__v1__purchase_order__descriptor);
    GS_TRY(po_fill(c, o.id, true, cur));

    int64_t *line_ids = arena_alloc(c->arena, n * sizeof *line_ids);
    int64_t *qtys = arena_alloc(c->arena, n * sizeof *qtys);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    const char **expires = arena_alloc(c->arena, n * sizeof *expires);
    int64_t *paid = arena_alloc(c->arena, n * sizeof *paid);
    const char **reasons = arena_alloc(c->arena, n * sizeof *reasons);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ReceiptLineInput *l = req->lines[i];
        int64_t line = l->line_id;
        if (!line) { /* by item */
            stock_item it;
            GS_TRY(stock_item_find(c, l->item_id, l->item_code,
                                   call_printf(c, "lines[%zu].item_id", i), false, &it));
            for (size_t k = 0; k < cur->n_lines && !line; k++)
                if (cur->lines[k]->item_id == it.id)
                    line = cur->lines[k]->id;
            if (!line)
                return call_fail(c, GS_NOT_FOUND,
                                 "lines[%zu].item_id: %s is not on purchase order %s", i, it.code,
                                 o.number);
        }
        /* the order line's price is the price of record: another needs a reason */
        for (size_t k = 0; k < cur->n_lines; k++)
            if (cur->lines[k]->id == line && l->unit_price_fen &&
                l->unit_price_fen != cur->lines[k]->unit_price_fen && !*l->price_reason)
                return call_fail(c, GS_INVALID_ARGUMENT,
                                 "lines[%zu].price_reason: %s at %" PRId64
                                 " fen is not the order's %" PRId64 " fen: give a reason",
                                 i, cur->lines[k]->item_code, l->unit_price_fen,
                                 cur->lines[k]->unit_price_fen);
        line_ids[i] = line;
        paid[i] = l->unit_price_fen;
        reasons[i] = l->price_reason;
        qtys[i] = l->qty;
        lots[i] = l->lot_code;
        expires[i] = l->expires_on;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT " RECEIPT_COLS " FROM proc_order_receive_paid($1::bigint, $2::bigint[],"
                   " $3::bigint[], $4::text[],"
                   " (SELECT array_agg(nullif(x, '')::date ORDER BY i)"
                   "    FROM unnest($5::text[]) WITH ORDINALITY AS t(x, i)),"
                   " $9::bigint[], $10::text[], $6::bigint, $7, $8) ORDER BY k",
                   10, call_i64(c, o.id), pg_array_i64(c, line_ids, n), pg_array_i64(c, qtys, n),
                   pg_array_text(c, lots, n), pg_array_text(c, expires, n), actor(c), c->request_id,
                   req->note, pg_array_i64(c, paid, n), pg_array_text(c, reasons, n)));
    int rows = db_rows(r);
    resp->n_movement_ids = (size_t)rows;
    resp->movement_ids = arena_alloc(c->arena, (rows ? (size_t)rows : 1) * sizeof(int64_t));
    int64_t total = 0;
    for (int i = 0; i < rows; i++)
        resp->movement_ids[i] = db_i64(r, i, RCPT_MOVEMENT_ID);
    for (size_t i = 0; i < n; i++)
        total += qtys[i];
    resp->order = call_msg(c, &gridstock__v1__purchase_order__descriptor);
    GS_TRY(po_fill(c, o.id, true, resp->order));
    c->audit_object = call_printf(c, "purchase_order:%" PRId64, o.id);
    c->audit_summary =
        call_printf(c, "received %" PRId64 " unit(s) in %zu line(s) against %s at %s: %s%s", total,
                    n, o.number, resp->order->site_code, resp->order->status,
                    o.fund_account_id ? call_printf(c, "; %" PRId64 " fen spent from %s so far",
                                                    resp->order->spent_fen, resp->order->fund_code)
                                      : "");
    return GS_OK;
}

gs_code procurement_get_order(call *c, const Gridstock__V1__GetOrderRequest *req,
                              Gridstock__V1__PurchaseOrder *resp)
{
    po_ref o;
    GS_TRY(po_find(c, req->id, req->number, false, &o));
    return po_fill(c, o.id, true, resp);
}

static const char *const list_statuses[] = {
    "draft", "placed", "partly_received", "received", "cancelled", "open", NULL};

gs_code procurement_list_orders(call *c, const Gridstock__V1__ListOrdersRequest *req,
                                Gridstock__V1__ListOrdersResponse *resp)
{
    stock_site s = {0}, sm = {0};
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "status", req->status, list_statuses, false));
    if (req->site_id || *req->site_code)
        GS_TRY(stock_site_find(c, req->site_id, req->site_code, "site_id", &s));
    if (req->supplier_site_id || *req->supplier_site_code)
        GS_TRY(proc_supplier_find(c, req->supplier_site_id, req->supplier_site_code,
                                  "supplier_site_id", &sm));
    GS_TRY(db_exec(c, &r,
                   "SELECT " PO_COLS PO_FROM
                   " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR o.site_id = $2::bigint)"
                   " AND ($3::bigint = 0 OR o.supplier_site_id = $3::bigint)"
                   " AND ($4 = '' OR o.status = $4"
                   "      OR ($4 = 'open' AND o.status IN ('placed', 'partly_received')))"
                   " AND ($5::bigint = 0 OR o.id < $5::bigint) ORDER BY o.id DESC LIMIT $6::bigint",
                   6, c->who.scope_path, call_i64(c, s.id), call_i64(c, sm.id), req->status,
                   call_i64(c, after), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, PO_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->orders, resp->n_orders,
                 &gridstock__v1__purchase_order__descriptor, po_hdr_from_row);
    return GS_OK;
}
