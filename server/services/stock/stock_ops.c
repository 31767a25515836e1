/* stock_ops.c — StockService operations that move stock: receive, issue (FEFO),
 * adjust, expiry write-off, transfers (dispatch → in transit → receive) and blind
 * stocktakes. Each checks its arguments and scope here, then posts through one call of
 * the PL/pgSQL functions in 010_stock.sql, which lock, update and write the ledger. */
#include <inttypes.h>
#include <string.h>

#include "pg_array.h"
#include "stock.h"
#include "gridstock/v1/stock.rpc.h"

enum { TRANSFER_ITEMS_MAX = 200, COUNTS_MAX = 5000 };

static const char *const receive_sources[] = {"purchase", "donation", "transfer", NULL};
static const char *const transfer_statuses[] = {"in_transit", "received", NULL};

static const char *opt_i64(call *c, int64_t v)
{
    return v ? call_i64(c, v) : NULL;
}

static const char *actor(call *c)
{
    return call_i64(c, c->who.user_id);
}

/* The lot and the movement a receipt or an adjustment made, into its response; the
 * call's audit object is the lot. */
static gs_code lot_and_movement(call *c, int64_t lot, int64_t mv, Gridstock__V1__Lot **l,
                                Gridstock__V1__Movement **m)
{
    *l = call_msg(c, &gridstock__v1__lot__descriptor);
    *m = call_msg(c, &gridstock__v1__movement__descriptor);
    GS_TRY(stock_lot_load(c, lot, *l));
    GS_TRY(stock_movement_load(c, mv, *m));
    c->audit_object = call_printf(c, "lot:%" PRId64, lot);
    return GS_OK;
}

/* ------------------------------------------------------------------ receive / issue */

#define RECEIVE_COLUMNS(COL)                                                                       \
    COL(RCV_LOT_ID, "lot_id")                                                                      \
    COL(RCV_MOVEMENT_ID, ", movement_id")
enum { RECEIVE_COLUMNS(DB_COL_NAME) RCV_NCOLS };
#define RECEIVE_COLS RECEIVE_COLUMNS(DB_COL_SQL)

gs_code stock_receive(call *c, const Gridstock__V1__ReceiveRequest *req,
                      Gridstock__V1__ReceiveResponse *resp)
{
    stock_site s;
    stock_item it;
    db_res *r = NULL;

    GS_TRY(v_qty(c, "qty", req->qty));
    GS_TRY(stock_check_lot_code(c, "lot_code", req->lot_code, true));
    GS_TRY(v_date(c, "expires_on", req->expires_on));
    GS_TRY(dir_enum(c, "source", req->source, receive_sources, false));
    GS_TRY(stock_check_text(c, "reason", req->reason));
    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(stock_check_ref(c, req->ref_type, req->ref_id));
    GS_TRY(v_range(c, "unit_cost_fen", req->unit_cost_fen, 0, 1000000000000));
    GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code,
                                false, &s, &it));
    /* the declared unit cost of this receipt (061's stock_receive takes it) */
    if (req->unit_cost_fen)
        GS_TRY(db_exec(c, NULL, "SELECT stock_set_unit_costs(ARRAY[$1::bigint])", 1,
                       call_i64(c, req->unit_cost_fen)));

    const char *source = *req->source ? req->source : "purchase";
    const char *kind = strcmp(source, "donation") == 0 ? "donation_in" : "receipt";
    GS_TRY(db_exec(c, &r,
                   "SELECT " RECEIVE_COLS " FROM stock_receive($1::bigint, $2::bigint,"
                   " $3::bigint, $4, nullif($5, '')::date, $6, $7, $8, $9, $10::bigint,"
                   " $11::bigint, $12, $13)",
                   13, call_i64(c, s.id), call_i64(c, it.id), call_i64(c, req->qty), req->lot_code,
                   req->expires_on, source, kind, req->reason, req->ref_type,
                   opt_i64(c, req->ref_id), actor(c), c->request_id, req->note));
    GS_TRY(lot_and_movement(c, db_i64(r, 0, RCV_LOT_ID), db_i64(r, 0, RCV_MOVEMENT_ID), &resp->lot,
                            &resp->movement));
    c->audit_summary = call_printf(c, "received %" PRId64 " %s lot %s at %s (%s)", req->qty,
                                   it.code, req->lot_code, s.code, source);
    return GS_OK;
}

/* The lots a posting took from (stock_issue and stock_writeoff_expired return them as x,
 * joined to their item i). */
#define TAKEN_COLUMNS(COL)                                                                         \
    COL(TK_LOT_ID, "x.lot_id", lot_id, i64)                                                        \
    COL(TK_ITEM_ID, ", i.id", item_id, i64)                                                        \
    COL(TK_ITEM_CODE, ", i.code", item_code, str)                                                  \
    COL(TK_LOT_CODE, ", x.lot_code", lot_code, str)                                                \
    COL(TK_EXPIRES_ON, ", coalesce(to_char(x.expires_on, 'YYYY-MM-DD'), '')", expires_on, str)     \
    COL(TK_QTY, ", x.qty", qty, i64)                                                               \
    COL(TK_REMAINING, ", x.remaining", remaining, i64)                                             \
    COL(TK_MOVEMENT_ID, ", x.movement_id", movement_id, i64)
enum { TAKEN_COLUMNS(DB_COL_NAME) TK_NCOLS };
#define TAKEN_COLS TAKEN_COLUMNS(DB_COL_SQL)

static void lot_taken_from_row(Gridstock__V1__LotTaken *m, const db_res *r, int row)
{
    TAKEN_COLUMNS(DB_COL_FILL)
}

static int64_t taken_total(Gridstock__V1__LotTaken *const *taken, size_t n)
{
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += taken[i]->qty;
    return total;
}

gs_code stock_issue(call *c, const Gridstock__V1__IssueRequest *req,
                    Gridstock__V1__IssueResponse *resp)
{
    stock_site s;
    stock_item it;

    GS_TRY(v_qty(c, "qty", req->qty));
    GS_TRY(stock_check_lot_code(c, "lot_code", req->lot_code, false));
    GS_TRY(stock_check_text(c, "reason", req->reason));
    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(stock_check_ref(c, req->ref_type, req->ref_id));
    GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code,
                                false, &s, &it));

    DB_LOAD_ROWS(
        c, resp->taken, resp->n_taken, &gridstock__v1__lot_taken__descriptor, lot_taken_from_row,
        "SELECT " TAKEN_COLS " FROM stock_issue($1::bigint, $2::bigint, $3::bigint,"
        " nullif($4, ''), 'issue', $5, $6, $7::bigint, $8::bigint, $9, $10) x"
        " JOIN items i ON i.id = $2::bigint",
        10, call_i64(c, s.id), call_i64(c, it.id), call_i64(c, req->qty), req->lot_code,
        req->reason, req->ref_type, opt_i64(c, req->ref_id), actor(c), c->request_id, req->note);
    resp->total = taken_total(resp->taken, resp->n_taken);
    c->audit_object = call_printf(c, "site:%" PRId64, s.id);
    c->audit_summary = call_printf(c, "issued %" PRId64 " %s at %s from %zu lot(s)", resp->total,
                                   it.code, s.code, resp->n_taken);
    return GS_OK;
}

/* ------------------------------------------------------------------ adjust / write-off */

gs_code stock_adjust(call *c, const Gridstock__V1__AdjustRequest *req,
                     Gridstock__V1__AdjustResponse *resp)
{
    db_res *r = NULL;
    int64_t lot;

    if (req->qty == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "qty: must not be zero");
    GS_TRY(v_range(c, "qty", req->qty, -GS_QTY_MAX, GS_QTY_MAX));
    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 32));
    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(v_nonneg(c, "lot_id", req->lot_id));
    if (req->lot_id) {
        GS_TRY(db_find_id(c, &r, "lot", req->lot_id,
                          "SELECT l.id FROM lots l JOIN sites s ON s.id = l.site_id"
                          " JOIN org_units ou ON ou.id = s.org_unit_id"
                          " WHERE l.id = $1 AND ou.path <@ $2::ltree",
                          2, call_i64(c, req->lot_id), c->who.scope_path));
        lot = req->lot_id;
    } else {
        stock_site s;
        stock_item it;
        GS_TRY(stock_check_lot_code(c, "lot_code", req->lot_code, true));
        GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code,
                                    false, &s, &it));
        GS_TRY(db_exec(c, &r, "SELECT stock_lot_find($1::bigint, $2::bigint, $3)", 3,
                       call_i64(c, s.id), call_i64(c, it.id), req->lot_code));
        lot = db_one_i64(r, 0);
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT movement_id FROM stock_adjust($1::bigint, $2::bigint, $3, 'adjustment',"
                   " '', NULL, $4::bigint, $5, $6)",
                   6, call_i64(c, lot), call_i64(c, req->qty), req->reason, actor(c), c->request_id,
                   req->note));
    GS_TRY(lot_and_movement(c, lot, db_one_i64(r, 0), &resp->lot, &resp->movement));
    c->audit_summary =
        call_printf(c, "adjusted %s lot %s at %s by %+" PRId64 " (%s)", resp->lot->item_code,
                    resp->lot->lot_code, resp->lot->site_code, req->qty, req->reason);
    return GS_OK;
}

gs_code stock_write_off_expired(call *c, const Gridstock__V1__WriteOffExpiredRequest *req,
                                Gridstock__V1__WriteOffExpiredResponse *resp)
{
    stock_site s;
    db_res *r = NULL;

    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(stock_site_find(c, req->site_id, req->site_code, "site_id", &s));
    DB_LOAD_ROWS(c, resp->written_off, resp->n_written_off, &gridstock__v1__lot_taken__descriptor,
                 lot_taken_from_row,
                 "SELECT " TAKEN_COLS
                 " FROM stock_writeoff_expired($1::bigint, $2::bigint, $3, $4) x"
                 " JOIN items i ON i.id = x.item_id ORDER BY x.lot_id",
                 4, call_i64(c, s.id), actor(c), c->request_id, req->note);
    resp->total = taken_total(resp->written_off, resp->n_written_off);
    GS_TRY(db_exec(c, &r,
                   "SELECT coalesce(sum(reserved), 0) FROM lots"
                   " WHERE site_id = $1 AND stock_expired(expires_on)",
                   1, call_i64(c, s.id)));
    resp->still_reserved = db_one_i64(r, 0);
    c->audit_object = call_printf(c, "site:%" PRId64, s.id);
    c->audit_summary = call_printf(c, "wrote off %" PRId64 " expired units in %zu lot(s) at %s",
                                   resp->total, resp->n_written_off, s.code);
    return GS_OK;
}

/* ------------------------------------------------------------------ transfers */

#define TRANSFER_COLUMNS(COL)                                                                      \
    COL(TR_ID, "t.id", id, i64)                                                                    \
    COL(TR_FROM_SITE_ID, ", t.from_site_id", from_site_id, i64)                                    \
    COL(TR_FROM_SITE_CODE, ", fs.code", from_site_code, str)                                       \
    COL(TR_TO_SITE_ID, ", t.to_site_id", to_site_id, i64)                                          \
    COL(TR_TO_SITE_CODE, ", ts.code", to_site_code, str)                                           \
    COL(TR_STATUS, ", t.status", status, str)                                                      \
    COL(TR_NOTE, ", t.note", note, str)                                                            \
    COL(TR_REF_TYPE, ", t.ref_type", ref_type, str)                                                \
    COL(TR_REF_ID, ", coalesce(t.ref_id, 0)", ref_id, i64)                                         \
    COL(TR_DISPATCHED_BY, ", coalesce(du.login, '')", dispatched_by, str)                          \
    COL(TR_DISPATCHED_AT, ", " DIR_TS("t.dispatched_at"), dispatched_at, str)                      \
    COL(TR_RECEIVED_BY, ", coalesce(ru.login, '')", received_by, str)                              \
    COL(TR_RECEIVED_AT, ", " DIR_TS("t.received_at"), received_at, str)
enum { TRANSFER_COLUMNS(DB_COL_NAME) TR_NCOLS };
#define TRANSFER_COLS TRANSFER_COLUMNS(DB_COL_SQL)
#define TRANSFER_FROM                                                                              \
    " FROM stock_transfers t JOIN sites fs ON fs.id = t.from_site_id"                              \
    " JOIN org_units fou ON fou.id = fs.org_unit_id JOIN sites ts ON ts.id = t.to_site_id"         \
    " JOIN org_units tou ON tou.id = ts.org_unit_id"                                               \
    " LEFT JOIN users du ON du.id = t.dispatched_by LEFT JOIN users ru ON ru.id = t.received_by"

static void transfer_from_row(Gridstock__V1__Transfer *m, const db_res *r, int row)
{
    TRANSFER_COLUMNS(DB_COL_FILL)
}

#define TRANSFER_LINE_COLUMNS(COL)                                                                 \
    COL(TRL_ID, "tl.id", id, i64)                                                                  \
    COL(TRL_ITEM_ID, ", tl.item_id", item_id, i64)                                                 \
    COL(TRL_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(TRL_FROM_LOT_ID, ", tl.from_lot_id", from_lot_id, i64)                                     \
    COL(TRL_LOT_CODE, ", tl.lot_code", lot_code, str)                                              \
    COL(TRL_EXPIRES_ON, ", coalesce(to_char(tl.expires_on, 'YYYY-MM-DD'), '')", expires_on, str)   \
    COL(TRL_QTY, ", tl.qty", qty, i64)                                                             \
    COL(TRL_RECEIVED_QTY, ", coalesce(tl.received_qty, 0)", received_qty, i64)                     \
    COL(TRL_REASON, ", coalesce(tl.diff_reason, '')", reason, str)                                 \
    COL(TRL_TO_LOT_ID, ", coalesce(tl.to_lot_id, 0)", to_lot_id, i64)
enum { TRANSFER_LINE_COLUMNS(DB_COL_NAME) TRL_NCOLS };
#define TRANSFER_LINE_COLS TRANSFER_LINE_COLUMNS(DB_COL_SQL)

static void transfer_line_from_row(Gridstock__V1__TransferLine *m, const db_res *r, int row)
{
    TRANSFER_LINE_COLUMNS(DB_COL_FILL)
}

/* Loads transfer `id` with its lines if the caller sees its source or destination site
 * (only its destination when `to_only`). */
static gs_code transfer_load(call *c, int64_t id, bool to_only, Gridstock__V1__Transfer *m)
{
    GS_TRY(v_positive(c, "transfer_id", id));
    DB_LOAD(
        c, m, transfer_from_row, "transfer", id,
        "SELECT " TRANSFER_COLS TRANSFER_FROM
        " WHERE t.id = $1 AND (tou.path <@ $2::ltree OR (NOT $3::bool AND fou.path <@ $2::ltree))",
        3, call_i64(c, id), c->who.scope_path, to_only ? "true" : "false");
    DB_LOAD_ROWS(c, m->lines, m->n_lines, &gridstock__v1__transfer_line__descriptor,
                 transfer_line_from_row,
                 "SELECT " TRANSFER_LINE_COLS
                 " FROM stock_transfer_lines tl JOIN items i ON i.id = tl.item_id"
                 " WHERE tl.transfer_id = $1 ORDER BY tl.id",
                 1, call_i64(c, id));
    return GS_OK;
}

gs_code stock_dispatch_transfer(call *c, const Gridstock__V1__DispatchTransferRequest *req,
                                Gridstock__V1__Transfer *resp)
{
    stock_site from, to;
    db_res *r = NULL;
    size_t n = req->n_items;

    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(stock_check_ref(c, req->ref_type, req->ref_id));
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at least one is required");
    if (n > TRANSFER_ITEMS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at most %d per transfer",
                         TRANSFER_ITEMS_MAX);
    GS_TRY(stock_site_find(c, req->from_site_id, req->from_site_code, "from_site_id", &from));
    GS_TRY(stock_site_find(c, req->to_site_id, req->to_site_code, "to_site_id", &to));
    if (from.id == to.id)
        return call_fail(c, GS_INVALID_ARGUMENT, "to_site_id: must differ from from_site_id");

    int64_t *items = arena_alloc(c->arena, n * sizeof *items);
    int64_t *qtys = arena_alloc(c->arena, n * sizeof *qtys);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__TransferItem *ti = req->items[i];
        stock_item it;
        GS_TRY(stock_item_find(c, ti->item_id, ti->item_code,
                               call_printf(c, "items[%zu].item_id", i), false, &it));
        GS_TRY(v_qty(c, call_printf(c, "items[%zu].qty", i), ti->qty));
        GS_TRY(
            stock_check_lot_code(c, call_printf(c, "items[%zu].lot_code", i), ti->lot_code, false));
        items[i] = it.id;
        qtys[i] = ti->qty;
        lots[i] = ti->lot_code;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT stock_transfer_dispatch($1::bigint, $2::bigint, $3::bigint[],"
                   " $4::bigint[], $5::text[], $6, $7, $8::bigint, $9::bigint, $10)",
                   10, call_i64(c, from.id), call_i64(c, to.id), pg_array_i64(c, items, n),
                   pg_array_i64(c, qtys, n), pg_array_text(c, lots, n), req->note, req->ref_type,
                   opt_i64(c, req->ref_id), actor(c), c->request_id));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(transfer_load(c, id, false, resp));
    c->audit_object = call_printf(c, "transfer:%" PRId64, id);
    c->audit_summary =
        call_printf(c, "dispatched %zu item line(s) from %s to %s", n, from.code, to.code);
    return GS_OK;
}

gs_code stock_receive_transfer(call *c, const Gridstock__V1__ReceiveTransferRequest *req,
                               Gridstock__V1__Transfer *resp)
{
    size_t n = req->n_lines;

    GS_TRY(stock_check_text(c, "note", req->note));
    if (n > TRANSFER_ITEMS_MAX * 10)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: too many");
    GS_TRY(transfer_load(c, req->transfer_id, true, resp)); /* NOT_FOUND unless we receive it */

    int64_t *ids = arena_alloc(c->arena, (n ? n : 1) * sizeof *ids);
    int64_t *qtys = arena_alloc(c->arena, (n ? n : 1) * sizeof *qtys);
    const char **reasons = arena_alloc(c->arena, (n ? n : 1) * sizeof *reasons);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ReceivedLine *l = req->lines[i];
        GS_TRY(v_positive(c, call_printf(c, "lines[%zu].line_id", i), l->line_id));
        GS_TRY(v_nonneg(c, call_printf(c, "lines[%zu].received_qty", i), l->received_qty));
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].reason", i), l->reason, 32));
        ids[i] = l->line_id;
        qtys[i] = l->received_qty;
        reasons[i] = l->reason;
    }
    GS_TRY(db_exec(c, NULL,
                   "SELECT stock_transfer_receive($1::bigint, $2::bigint[], $3::bigint[],"
                   " $4::text[], $5::bigint, $6, $7)",
                   7, call_i64(c, req->transfer_id), pg_array_i64(c, ids, n),
                   pg_array_i64(c, qtys, n), pg_array_text(c, reasons, n), actor(c), c->request_id,
                   req->note));
    GS_TRY(transfer_load(c, req->transfer_id, true, resp));
    int64_t sent = 0, got = 0;
    for (size_t i = 0; i < resp->n_lines; i++) {
        sent += resp->lines[i]->qty;
        got += resp->lines[i]->received_qty;
    }
    c->audit_object = call_printf(c, "transfer:%" PRId64, req->transfer_id);
    c->audit_summary = call_printf(c, "received transfer from %s at %s: %" PRId64 " of %" PRId64,
                                   resp->from_site_code, resp->to_site_code, got, sent);
    return GS_OK;
}

gs_code stock_get_transfer(call *c, const Gridstock__V1__GetTransferRequest *req,
                           Gridstock__V1__Transfer *resp)
{
    return transfer_load(c, req->id, false, resp);
}

gs_code stock_list_transfers(call *c, const Gridstock__V1__ListTransfersRequest *req,
                             Gridstock__V1__ListTransfersResponse *resp)
{
    int64_t limit, after, site = 0;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "status", req->status, transfer_statuses, false));
    if (req->site_id || *req->site_code) {
        stock_site s;
        GS_TRY(stock_site_find(c, req->site_id, req->site_code, "site_id", &s));
        site = s.id;
    }
    GS_TRY(
        db_exec(c, &r,
                "SELECT " TRANSFER_COLS TRANSFER_FROM
                " WHERE (tou.path <@ $1::ltree OR fou.path <@ $1::ltree)"
                " AND ($2::bigint = 0 OR t.from_site_id = $2::bigint OR t.to_site_id = $2::bigint)"
                " AND ($3 = '' OR t.status = $3) AND t.id > $4::bigint ORDER BY t.id"
                " LIMIT $5::bigint",
                5, c->who.scope_path, call_i64(c, site), req->status, call_i64(c, after),
                call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, TR_ID, resp->next_page_token, resp->transfers, resp->n_transfers,
                 &gridstock__v1__transfer__descriptor, transfer_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ stocktakes */

#define STOCKTAKE_COLUMNS(COL)                                                                     \
    COL(STK_ID, "st.id", id, i64)                                                                  \
    COL(STK_SITE_ID, ", st.site_id", site_id, i64)                                                 \
    COL(STK_SITE_CODE, ", s.code", site_code, str)                                                 \
    COL(STK_STATUS, ", st.status", status, str)                                                    \
    COL(STK_NOTE, ", st.note", note, str)                                                          \
    COL(STK_OPENED_BY, ", coalesce(ob.login, '')", opened_by, str)                                 \
    COL(STK_OPENED_AT, ", " DIR_TS("st.opened_at"), opened_at, str)                                \
    COL(STK_SUBMITTED_BY, ", coalesce(sb.login, '')", submitted_by, str)                           \
    COL(STK_SUBMITTED_AT, ", " DIR_TS("st.submitted_at"), submitted_at, str)                       \
    COL(STK_COUNTED_LOTS,                                                                          \
        ", (SELECT count(*) FROM stocktake_counts sc WHERE sc.stocktake_id = st.id)",              \
        counted_lots, i32)
enum { STOCKTAKE_COLUMNS(DB_COL_NAME) STK_NCOLS };
#define STOCKTAKE_COLS STOCKTAKE_COLUMNS(DB_COL_SQL)
#define STOCKTAKE_FROM                                                                             \
    " FROM stocktakes st JOIN sites s ON s.id = st.site_id"                                        \
    " JOIN org_units ou ON ou.id = s.org_unit_id LEFT JOIN users ob ON ob.id = st.opened_by"       \
    " LEFT JOIN users sb ON sb.id = st.submitted_by"

static void stocktake_from_row(Gridstock__V1__Stocktake *m, const db_res *r, int row)
{
    STOCKTAKE_COLUMNS(DB_COL_FILL)
}

#define STOCKTAKE_LINE_COLUMNS(COL)                                                                \
    COL(STL_LOT_ID, "sc.lot_id", lot_id, i64)                                                      \
    COL(STL_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(STL_LOT_CODE, ", l.lot_code", lot_code, str)                                               \
    COL(STL_EXPIRES_ON, ", coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), '')", expires_on, str)    \
    COL(STL_SYSTEM_QTY, ", sc.system_qty", system_qty, i64)                                        \
    COL(STL_COUNTED, ", sc.counted", counted, i64)                                                 \
    COL(STL_VARIANCE, ", coalesce(sc.variance, 0)", variance, i64)
enum { STOCKTAKE_LINE_COLUMNS(DB_COL_NAME) STL_NCOLS };
#define STOCKTAKE_LINE_COLS STOCKTAKE_LINE_COLUMNS(DB_COL_SQL)

static void stocktake_line_from_row(Gridstock__V1__StocktakeLine *m, const db_res *r, int row)
{
    STOCKTAKE_LINE_COLUMNS(DB_COL_FILL)
}

/* Loads stocktake `id` if its site is in scope; its lines (with system quantities) only
 * once it is submitted: counting is blind. */
static gs_code stocktake_load(call *c, int64_t id, Gridstock__V1__Stocktake *m)
{
    GS_TRY(v_positive(c, "stocktake_id", id));
    DB_LOAD(c, m, stocktake_from_row, "stocktake", id,
            "SELECT " STOCKTAKE_COLS STOCKTAKE_FROM " WHERE st.id = $1 AND ou.path <@ $2::ltree", 2,
            call_i64(c, id), c->who.scope_path);
    if (strcmp(m->status, "submitted") != 0)
        return GS_OK;
    DB_LOAD_ROWS(c, m->lines, m->n_lines, &gridstock__v1__stocktake_line__descriptor,
                 stocktake_line_from_row,
                 "SELECT " STOCKTAKE_LINE_COLS
                 " FROM stocktake_counts sc JOIN lots l ON l.id = sc.lot_id"
                 " JOIN items i ON i.id = l.item_id WHERE sc.stocktake_id = $1 ORDER BY sc.lot_id",
                 1, call_i64(c, id));
    for (size_t i = 0; i < m->n_lines; i++)
        m->total_variance += m->lines[i]->variance;
    return GS_OK;
}

gs_code stock_open_stocktake(call *c, const Gridstock__V1__OpenStocktakeRequest *req,
                             Gridstock__V1__Stocktake *resp)
{
    stock_site s;
    db_res *r = NULL;

    GS_TRY(stock_check_text(c, "note", req->note));
    GS_TRY(stock_site_find(c, req->site_id, req->site_code, "site_id", &s));
    GS_TRY(db_exec(c, &r, "SELECT stock_stocktake_open($1::bigint, $2::bigint, $3)", 3,
                   call_i64(c, s.id), actor(c), req->note));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(stocktake_load(c, id, resp));
    c->audit_object = call_printf(c, "stocktake:%" PRId64, id);
    c->audit_summary = call_printf(c, "opened stocktake at %s", s.code);
    return GS_OK;
}

gs_code stock_enter_counts(call *c, const Gridstock__V1__EnterCountsRequest *req,
                           Gridstock__V1__EnterCountsResponse *resp)
{
    Gridstock__V1__Stocktake st = GRIDSTOCK__V1__STOCKTAKE__INIT;
    db_res *r = NULL;
    size_t n = req->n_counts;

    GS_TRY(v_positive(c, "stocktake_id", req->stocktake_id));
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "counts: at least one is required");
    if (n > COUNTS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "counts: at most %d per request", COUNTS_MAX);
    int64_t *lot_ids = arena_alloc(c->arena, n * sizeof *lot_ids);
    int64_t *counts = arena_alloc(c->arena, n * sizeof *counts);
    const char **items = arena_alloc(c->arena, n * sizeof *items);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__Count *k = req->counts[i];
        /* the bound of imported counts (imports.c): variances and totals stay in int64 */
        GS_TRY(
            v_range(c, call_printf(c, "counts[%zu].counted", i), k->counted, 0, INT64_C(1) << 40));
        GS_TRY(v_nonneg(c, call_printf(c, "counts[%zu].lot_id", i), k->lot_id));
        if (!k->lot_id) {
            GS_TRY(v_required(c, call_printf(c, "counts[%zu].item_code", i), k->item_code));
            GS_TRY(v_len(c, call_printf(c, "counts[%zu].item_code", i), k->item_code, 64));
            GS_TRY(stock_check_lot_code(c, call_printf(c, "counts[%zu].lot_code", i), k->lot_code,
                                        true));
        }
        lot_ids[i] = k->lot_id;
        counts[i] = k->counted;
        items[i] = k->item_code;
        lots[i] = k->lot_code;
    }
    GS_TRY(stocktake_load(c, req->stocktake_id, &st)); /* scope */
    GS_TRY(db_exec(c, &r,
                   "SELECT stock_stocktake_count($1::bigint, $2::bigint[], $3::text[], $4::text[],"
                   " $5::bigint[], $6::bigint)",
                   6, call_i64(c, st.id), pg_array_i64(c, lot_ids, n), pg_array_text(c, items, n),
                   pg_array_text(c, lots, n), pg_array_i64(c, counts, n), actor(c)));
    resp->stocktake_id = st.id;
    resp->accepted = (int32_t)n;
    resp->counted_lots = (int32_t)db_one_i64(r, 0);
    c->audit_object = call_printf(c, "stocktake:%" PRId64, st.id);
    c->audit_summary = call_printf(c, "entered %zu count(s) at %s", n, st.site_code);
    return GS_OK;
}

gs_code stock_submit_stocktake(call *c, const Gridstock__V1__SubmitStocktakeRequest *req,
                               Gridstock__V1__Stocktake *resp)
{
    Gridstock__V1__Stocktake st = GRIDSTOCK__V1__STOCKTAKE__INIT;

    GS_TRY(stocktake_load(c, req->stocktake_id, &st)); /* scope */
    GS_TRY(db_exec(c, NULL,
                   "SELECT count(*) FROM stock_stocktake_submit($1::bigint, $2::bigint, $3)", 3,
                   call_i64(c, st.id), actor(c), c->request_id));
    GS_TRY(stocktake_load(c, st.id, resp));
    c->audit_object = call_printf(c, "stocktake:%" PRId64, st.id);
    c->audit_summary = call_printf(c, "submitted stocktake at %s: %zu lot(s), variance %+" PRId64,
                                   resp->site_code, resp->n_lines, resp->total_variance);
    return GS_OK;
}

gs_code stock_get_stocktake(call *c, const Gridstock__V1__GetStocktakeRequest *req,
                            Gridstock__V1__Stocktake *resp)
{
    return stocktake_load(c, req->id, resp);
}
