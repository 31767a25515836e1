/* procurement.c — ProcurementService: the purchase order state machine, supplier
 * price lists, loading orders, restock proposals turned into draft orders, and the method
 * table. The order handlers live in procurement_orders.c; every stock change goes
 * through 011_procurement.sql's functions and from there through stock_receive. */
#include "fsm.h"
#include "procurement.h"

#include <inttypes.h>
#include <string.h>
#include "gridstock/v1/procurement.rpc.h"

/* ------------------------------------------------------------------ state machine */

static const char *const po_state_names[PO_STATE_COUNT] = {
#define GS_X(e, s) [e] = s,
    PO_STATE_LIST(GS_X)
#undef GS_X
};

/* The legal moves; 011_procurement.sql's purchase_order_transitions holds the same rows
 * (tests compare them). Receiving more of a partly received order keeps its state and
 * is not a move. */
static const fsm_move po_transitions[] = {
    {PO_DRAFT, PO_PLACED},
    {PO_DRAFT, PO_CANCELLED},
    {PO_PLACED, PO_PARTLY_RECEIVED},
    {PO_PLACED, PO_RECEIVED},
    {PO_PLACED, PO_CANCELLED},
    {PO_PARTLY_RECEIVED, PO_RECEIVED},
    {PO_PARTLY_RECEIVED, PO_CANCELLED},
};

static const fsm po_fsm = {"purchase order", po_state_names, PO_STATE_COUNT, po_transitions,
                           sizeof po_transitions / sizeof po_transitions[0]};

const char *po_state_name(po_state s)
{
    return fsm_name(&po_fsm, (int)s);
}

int po_state_from_name(const char *name)
{
    return fsm_state(&po_fsm, name);
}

gs_code po_check_move(call *c, const po_ref *o, po_state to, const char *action)
{
    return fsm_check(c, &po_fsm, (int)o->state, (int)to, o->number,
                     call_printf(c, "cannot %s", action));
}

/* ------------------------------------------------------------------ loading */

#define PO_REF_COLUMNS(COL)                                                                        \
    COL(POR_ID, "o.id")                                                                            \
    COL(POR_NUMBER, ", o.number")                                                                  \
    COL(POR_STATUS, ", o.status")                                                                  \
    COL(POR_SITE_ID, ", o.site_id")                                                                \
    COL(POR_SUPPLIER_SITE_ID, ", o.supplier_site_id")                                              \
    COL(POR_CREATED_BY, ", coalesce(o.created_by, 0)")                                             \
    COL(POR_FUND_ACCOUNT_ID, ", coalesce(o.fund_account_id, 0)")
enum { PO_REF_COLUMNS(DB_COL_NAME) POR_NCOLS };
#define PO_REF_COLS PO_REF_COLUMNS(DB_COL_SQL)

gs_code po_find(call *c, int64_t id, const char *number, bool lock, po_ref *out)
{
    db_res *r = NULL;
    bool by_number = id == 0 && number && *number;

    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "order_id: must be positive, got %" PRId64, id);
    if (id == 0 && !by_number)
        return call_fail(c, GS_INVALID_ARGUMENT, "order_id: required");
    if (by_number)
        GS_TRY(v_len(c, "number", number, 64));
    if (lock)
        GS_TRY(db_exec(c, &r,
                       "SELECT " PO_REF_COLS
                       " FROM purchase_orders o JOIN sites s ON s.id = o.site_id"
                       " JOIN org_units ou ON ou.id = s.org_unit_id"
                       " WHERE (o.id = $1::bigint OR ($1::bigint = 0 AND o.number = $2))"
                       " AND ou.path <@ $3::ltree FOR UPDATE OF o",
                       3, call_i64(c, id), by_number ? number : "", c->who.scope_path));
    else
        GS_TRY(db_exec(c, &r,
                       "SELECT " PO_REF_COLS
                       " FROM purchase_orders o JOIN sites s ON s.id = o.site_id"
                       " JOIN org_units ou ON ou.id = s.org_unit_id"
                       " WHERE (o.id = $1::bigint OR ($1::bigint = 0 AND o.number = $2))"
                       " AND ou.path <@ $3::ltree",
                       3, call_i64(c, id), by_number ? number : "", c->who.scope_path));
    if (db_rows(r) == 0) {
        if (by_number)
            return call_fail(c, GS_NOT_FOUND, "purchase order %.64s not found", number);
        return call_fail(c, GS_NOT_FOUND, "purchase order %" PRId64 " not found", id);
    }
    out->id = db_i64(r, 0, POR_ID);
    out->number = db_str(r, 0, POR_NUMBER);
    int st = po_state_from_name(db_str(r, 0, POR_STATUS));
    if (st < 0)
        return call_fail(c, GS_INTERNAL, "purchase order %s has an unknown state", out->number);
    out->state = (po_state)st;
    out->site_id = db_i64(r, 0, POR_SITE_ID);
    out->supplier_site_id = db_i64(r, 0, POR_SUPPLIER_SITE_ID);
    out->created_by = db_i64(r, 0, POR_CREATED_BY);
    out->fund_account_id = db_i64(r, 0, POR_FUND_ACCOUNT_ID);
    return GS_OK;
}

void po_hdr_from_row(Gridstock__V1__PurchaseOrder *m, const db_res *r, int row)
{
    PO_COLUMNS(DB_COL_FILL)
}

#define PO_LINE_COLUMNS(COL)                                                                       \
    COL(POL_ID, "l.id", id, i64)                                                                   \
    COL(POL_ITEM_ID, ", l.item_id", item_id, i64)                                                  \
    COL(POL_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(POL_ITEM_NAME, ", i.name", item_name, str)                                                 \
    COL(POL_UNIT, ", i.unit", unit, str)                                                           \
    COL(POL_QTY, ", l.qty", qty, i64)                                                              \
    COL(POL_UNIT_PRICE_FEN, ", l.unit_price_fen", unit_price_fen, i64)                             \
    COL(POL_AMOUNT_FEN, ", l.qty * l.unit_price_fen", amount_fen, i64)                             \
    COL(POL_RECEIVED_QTY, ", l.received_qty", received_qty, i64)                                   \
    COL(POL_OUTSTANDING,                                                                           \
        ", CASE WHEN o.status IN ('received', 'cancelled') THEN 0"                                 \
        " ELSE l.qty - l.received_qty END",                                                        \
        outstanding, i64)
enum { PO_LINE_COLUMNS(DB_COL_NAME) POL_NCOLS };
#define PO_LINE_COLS PO_LINE_COLUMNS(DB_COL_SQL)

static void order_line_from_row(Gridstock__V1__OrderLine *m, const db_res *r,
                                int row){PO_LINE_COLUMNS(DB_COL_FILL)}

gs_code po_fill(call *c, int64_t id, bool lines, Gridstock__V1__PurchaseOrder *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " PO_COLS PO_FROM " WHERE o.id = $1", 1, call_i64(c, id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "purchase order %" PRId64 " not found", id);
    po_hdr_from_row(m, r, 0);
    if (!lines)
        return GS_OK;
    GS_TRY(db_exec(c, &r,
                   "SELECT " PO_LINE_COLS
                   " FROM purchase_order_lines l JOIN items i ON i.id = l.item_id"
                   " JOIN purchase_orders o ON o.id = l.order_id"
                   " WHERE l.order_id = $1 ORDER BY l.id",
                   1, call_i64(c, id)));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, m->lines, m->n_lines, &gridstock__v1__order_line__descriptor,
                 order_line_from_row);
    return GS_OK;
}

#define SUPPLIER_COLUMNS(COL)                                                                      \
    COL(SUP_ID, "s.id")                                                                            \
    COL(SUP_CODE, ", s.code")                                                                      \
    COL(SUP_NAME, ", s.name")                                                                      \
    COL(SUP_KIND, ", s.kind")                                                                      \
    COL(SUP_PATH, ", ou.path::text")                                                               \
    COL(SUP_ACTIVE, ", s.active")
enum { SUPPLIER_COLUMNS(DB_COL_NAME) SUP_NCOLS };
#define SUPPLIER_COLS SUPPLIER_COLUMNS(DB_COL_SQL)

gs_code proc_supplier_find(call *c, int64_t id, const char *code, const char *field,
                           stock_site *out)
{
    db_res *r = NULL;
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, true, &by));
    bool by_code = by == GS_BY_CODE;
    GS_TRY(db_exec(c, &r,
                   "SELECT " SUPPLIER_COLS " FROM sites s"
                   " JOIN org_units ou ON ou.id = s.org_unit_id"
                   " WHERE (s.id = $1::bigint OR ($1::bigint = 0 AND s.code = $2))"
                   " AND ou.path <@ subpath($3::ltree, 0, 1)",
                   3, call_i64(c, id), by_code ? code : "", c->who.scope_path));
    if (db_rows(r) == 0)
        return call_not_found(c, "supplier market", by, id, code);
    out->id = db_i64(r, 0, SUP_ID);
    out->code = db_str(r, 0, SUP_CODE);
    out->name = db_str(r, 0, SUP_NAME);
    out->kind = db_str(r, 0, SUP_KIND);
    out->path = db_str(r, 0, SUP_PATH);
    out->active = db_bool(r, 0, SUP_ACTIVE);
    if (strcmp(out->kind, "supplier_market") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: %s is a %s, not a supplier market", field,
                         out->code, out->kind);
    return GS_OK;
}

gs_code proc_lines_check(call *c, size_t n, Gridstock__V1__OrderLineInput *const *in,
                         int64_t **item_ids, int64_t **qtys, int64_t **prices)
{
    if (n > PO_LINES_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at most %d", PO_LINES_MAX);
    int64_t *ids = arena_alloc(c->arena, (n ? n : 1) * sizeof *ids);
    int64_t *q = arena_alloc(c->arena, (n ? n : 1) * sizeof *q);
    int64_t *p = arena_alloc(c->arena, (n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__OrderLineInput *l = in[i];
        stock_item it;
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].qty", i), l->qty, 1, 1000000000));
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].unit_price_fen", i), l->unit_price_fen, 0,
                       1000000000));
        GS_TRY(stock_item_find(c, l->item_id, l->item_code, call_printf(c, "lines[%zu].item_id", i),
                               false, &it));
        for (size_t j = 0; j < i; j++)
            if (ids[j] == it.id)
                return call_fail(c, GS_INVALID_ARGUMENT,
                                 "lines[%zu].item_id: %s is already on line %zu", i, it.code, j);
        ids[i] = it.id;
        q[i] = l->qty;
        p[i] = l->unit_price_fen;
    }
    *item_ids = ids;
    *qtys = q;
    *prices = p;
    return GS_OK;
}

/* ------------------------------------------------------------------ prices */

#define PRICE_COLUMNS(COL)                                                                         \
    COL(PRICE_ID, "p.id", id, i64)                                                                 \
    COL(PRICE_ITEM_ID, ", p.item_id", item_id, i64)                                                \
    COL(PRICE_ITEM_CODE, ", i.code", item_code, str)                                               \
    COL(PRICE_ITEM_NAME, ", i.name", item_name, str)                                               \
    COL(PRICE_UNIT, ", i.unit", unit, str)                                                         \
    COL(PRICE_SUPPLIER_SITE_ID, ", p.supplier_site_id", supplier_site_id, i64)                     \
    COL(PRICE_SUPPLIER_SITE_CODE, ", sm.code", supplier_site_code, str)                            \
    COL(PRICE_SUPPLIER_NAME, ", sm.name", supplier_name, str)                                      \
    COL(PRICE_UNIT_PRICE_FEN, ", p.unit_price_fen", unit_price_fen, i64)                           \
    COL(PRICE_LEAD_TIME_DAYS, ", p.lead_time_days", lead_time_days, i32)                           \
    COL(PRICE_VALID_FROM, ", to_char(p.valid_from, 'YYYY-MM-DD')", valid_from, str)                \
    COL(PRICE_VALID_TO, ", coalesce(to_char(p.valid_to, 'YYYY-MM-DD'), '')", valid_to, str)        \
    COL(PRICE_UPDATED_AT, ", " DIR_TS("p.updated_at"), updated_at, str)
enum { PRICE_COLUMNS(DB_COL_NAME) PRICE_NCOLS };
#define PRICE_COLS PRICE_COLUMNS(DB_COL_SQL)
#define PRICE_FROM                                                                                 \
    " FROM supplier_prices p JOIN items i ON i.id = p.item_id"                                     \
    " JOIN sites sm ON sm.id = p.supplier_site_id JOIN org_units smu ON smu.id = sm.org_unit_id"

static void price_from_row(Gridstock__V1__Price *m, const db_res *r, int row)
{
    PRICE_COLUMNS(DB_COL_FILL)
}

#define SET_PRICE_COLUMNS(COL) COL(SETP_ID, "price_id") COL(SETP_REPLACED, ", replaced")
enum { SET_PRICE_COLUMNS(DB_COL_NAME) SETP_NCOLS };
#define SET_PRICE_COLS SET_PRICE_COLUMNS(DB_COL_SQL)

gs_code procurement_set_price(call *c, const Gridstock__V1__SetPriceRequest *req,
                              Gridstock__V1__Price *resp)
{
    stock_site sm;
    stock_item it;
    db_res *r = NULL;

    GS_TRY(v_range(c, "unit_price_fen", req->unit_price_fen, 1, 1000000000));
    GS_TRY(v_range(c, "lead_time_days", req->lead_time_days, 0, 365));
    GS_TRY(v_date(c, "valid_from", req->valid_from));
    GS_TRY(v_date(c, "valid_to", req->valid_to));
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", false, &it));
    GS_TRY(stock_site_find(c, req->supplier_site_id, req->supplier_site_code, "supplier_site_id",
                           &sm));
    if (strcmp(sm.kind, "supplier_market") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "supplier_site_id: %s is a %s, not a supplier market", sm.code, sm.kind);
    GS_TRY(db_exec(c, &r,
                   "SELECT " SET_PRICE_COLS
                   " FROM proc_set_price($1::bigint, $2::bigint, $3::bigint,"
                   " $4::int, nullif($5, '')::date, nullif($6, '')::date, $7::bigint)",
                   7, call_i64(c, it.id), call_i64(c, sm.id), call_i64(c, req->unit_price_fen),
                   call_i64(c, req->lead_time_days), req->valid_from, req->valid_to,
                   call_i64(c, c->who.user_id)));
    int64_t id = db_i64(r, 0, SETP_ID);
    bool replaced = db_bool(r, 0, SETP_REPLACED);
    GS_TRY(db_exec(c, &r, "SELECT " PRICE_COLS PRICE_FROM " WHERE p.id = $1", 1, call_i64(c, id)));
    price_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "supplier_price:%" PRId64, id);
    c->audit_summary =
        call_printf(c, "%s price of %s at %s: %" PRId64 " fen from %s%s%s",
                    replaced ? "replaced" : "set", it.code, sm.code, req->unit_price_fen,
                    resp->valid_from, *resp->valid_to ? " to " : "", resp->valid_to);
    return GS_OK;
}

gs_code procurement_list_prices(call *c, const Gridstock__V1__ListPricesRequest *req,
                                Gridstock__V1__ListPricesResponse *resp)
{
    stock_item it;
    stock_site sm = {0};
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_date(c, "valid_on", req->valid_on));
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", true, &it));
    if (req->supplier_site_id || *req->supplier_site_code)
        GS_TRY(proc_supplier_find(c, req->supplier_site_id, req->supplier_site_code,
                                  "supplier_site_id", &sm));
    GS_TRY(
        db_exec(c, &r,
                "SELECT " PRICE_COLS PRICE_FROM " WHERE smu.path <@ subpath($1::ltree, 0, 1)"
                " AND ($2::bigint = 0 OR p.item_id = $2::bigint)"
                " AND ($3::bigint = 0 OR p.supplier_site_id = $3::bigint)"
                " AND ($4::boolean OR (p.valid_from <= coalesce(nullif($5, '')::date, current_date)"
                "      AND coalesce(p.valid_to, 'infinity') >= coalesce(nullif($5, '')::date,"
                "      current_date)))"
                " AND p.id > $6::bigint ORDER BY p.id LIMIT $7::bigint",
                7, c->who.scope_path, call_i64(c, it.id), call_i64(c, sm.id),
                req->include_all ? "true" : "false", req->valid_on, call_i64(c, after),
                call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, PRICE_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->prices, resp->n_prices, &gridstock__v1__price__descriptor,
                 price_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ proposals */

/* proc_propose_orders' rows joined with codes and names. */
#define PROPOSAL_COLUMNS(COL)                                                                      \
    COL(PROP_ORDER_ID, "coalesce(p.order_id, 0)")                                                  \
    COL(PROP_SITE_ID, ", p.site_id")                                                               \
    COL(PROP_ITEM_ID, ", p.item_id")                                                               \
    COL(PROP_QTY, ", p.qty")                                                                       \
    COL(PROP_SUPPLIER_SITE_ID, ", p.supplier_site_id")                                             \
    COL(PROP_UNIT_PRICE_FEN, ", coalesce(p.unit_price_fen, 0)")                                    \
    COL(PROP_DISTANCE_M, ", coalesce(p.distance_m, 0)")                                            \
    COL(PROP_SITE_CODE, ", s.code")                                                                \
    COL(PROP_SITE_NAME, ", s.name")                                                                \
    COL(PROP_SUPPLIER_SITE_CODE, ", coalesce(sm.code, '')")                                        \
    COL(PROP_SUPPLIER_NAME, ", coalesce(sm.name, '')")                                             \
    COL(PROP_ITEM_CODE, ", i.code")                                                                \
    COL(PROP_ITEM_NAME, ", i.name")                                                                \
    COL(PROP_UNIT, ", i.unit")
enum { PROPOSAL_COLUMNS(DB_COL_NAME) PROP_NCOLS };
#define PROPOSAL_COLS PROPOSAL_COLUMNS(DB_COL_SQL)

/* A dry run's proposal as unsaved orders: rows (ordered by site, supplier, item) of
 * proc_propose_orders joined with codes and names. */
static void dry_orders(call *c, const db_res *r, Gridstock__V1__ProposeOrdersResponse *resp)
{
    int rows = db_rows(r);
    size_t n = 0;
    resp->orders = (Gridstock__V1__PurchaseOrder **)call_ptrs(c, (size_t)rows);
    Gridstock__V1__PurchaseOrder *cur = NULL;
    for (int i = 0; i < rows; i++) {
        if (db_null(r, i, PROP_SUPPLIER_SITE_ID))
            continue;
        int64_t site = db_i64(r, i, PROP_SITE_ID), supplier = db_i64(r, i, PROP_SUPPLIER_SITE_ID);
        if (!cur || cur->site_id != site || cur->supplier_site_id != supplier) {
            cur = call_msg(c, &gridstock__v1__purchase_order__descriptor);
            cur->status = (char *)po_state_name(PO_DRAFT);
            cur->site_id = site;
            cur->site_code = (char *)db_str(r, i, PROP_SITE_CODE);
            cur->site_name = (char *)db_str(r, i, PROP_SITE_NAME);
            cur->supplier_site_id = supplier;
            cur->supplier_site_code = (char *)db_str(r, i, PROP_SUPPLIER_SITE_CODE);
            cur->supplier_name = (char *)db_str(r, i, PROP_SUPPLIER_NAME);
            cur->note = "restock proposal";
            cur->proposed = true;
            cur->lines = (Gridstock__V1__OrderLine **)call_ptrs(c, (size_t)rows);
            resp->orders[n++] = cur;
        }
        Gridstock__V1__OrderLine *l = call_msg(c, &gridstock__v1__order_line__descriptor);
        l->item_id = db_i64(r, i, PROP_ITEM_ID);
        l->item_code = (char *)db_str(r, i, PROP_ITEM_CODE);
        l->item_name = (char *)db_str(r, i, PROP_ITEM_NAME);
        l->unit = (char *)db_str(r, i, PROP_UNIT);
        l->qty = db_i64(r, i, PROP_QTY);
        l->unit_price_fen = db_i64(r, i, PROP_UNIT_PRICE_FEN);
        l->amount_fen = l->qty * l->unit_price_fen;
        l->outstanding = l->qty;
        cur->total_fen += l->amount_fen;
        cur->lines[cur->n_lines++] = l;
    }
    resp->n_orders = n;
}

gs_code procurement_propose_orders(call *c, const Gridstock__V1__ProposeOrdersRequest *req,
                                   Gridstock__V1__ProposeOrdersResponse *resp)
{
    const char *path;
    int64_t site;
    db_res *r = NULL;

    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    GS_TRY(db_exec(c, &r,
                   "SELECT " PROPOSAL_COLS
                   " FROM proc_propose_orders($1::ltree, $2::bigint, $3::bigint, $4::boolean) "
                   "p"
                   " JOIN sites s ON s.id = p.site_id JOIN items i ON i.id = p.item_id"
                   " LEFT JOIN sites sm ON sm.id = p.supplier_site_id"
                   " ORDER BY p.site_id, p.supplier_site_id NULLS LAST, p.item_id",
                   4, path, call_i64(c, site), call_i64(c, c->who.user_id),
                   req->dry_run ? "true" : "false"));
    int rows = db_rows(r), unpriced = 0;
    for (int i = 0; i < rows; i++)
        unpriced += db_null(r, i, PROP_SUPPLIER_SITE_ID);
    resp->n_unpriced = (size_t)unpriced;
    resp->unpriced = (Gridstock__V1__UnpricedItem **)call_ptrs(c, (size_t)unpriced);
    for (int i = 0, k = 0; i < rows; i++) {
        if (!db_null(r, i, PROP_SUPPLIER_SITE_ID))
            continue;
        Gridstock__V1__UnpricedItem *u = call_msg(c, &gridstock__v1__unpriced_item__descriptor);
        u->site_id = db_i64(r, i, PROP_SITE_ID);
        u->site_code = (char *)db_str(r, i, PROP_SITE_CODE);
        u->item_id = db_i64(r, i, PROP_ITEM_ID);
        u->item_code = (char *)db_str(r, i, PROP_ITEM_CODE);
        u->proposed_qty = db_i64(r, i, PROP_QTY);
        resp->unpriced[k++] = u;
    }
    if (req->dry_run) {
        dry_orders(c, r, resp);
    } else {
        /* the distinct order ids, in the order of the rows */
        resp->orders = (Gridstock__V1__PurchaseOrder **)call_ptrs(c, (size_t)rows);
        int64_t last = 0;
        for (int i = 0; i < rows; i++) {
            int64_t id = db_i64(r, i, PROP_ORDER_ID);
            if (id == 0 || id == last)
                continue;
            last = id;
            Gridstock__V1__PurchaseOrder *o =
                call_msg(c, &gridstock__v1__purchase_order__descriptor);
            GS_TRY(po_fill(c, id, true, o));
            resp->orders[resp->n_orders++] = o;
        }
    }
    size_t lines = 0;
    for (size_t i = 0; i < resp->n_orders; i++)
        lines += resp->orders[i]->n_lines;
    c->audit_object =
        site ? call_printf(c, "site:%" PRId64, site) : call_printf(c, "org_unit:%s", path);
    c->audit_summary =
        call_printf(c, "%s %zu draft order(s) with %zu line(s); %d item(s) unpriced",
                    req->dry_run ? "proposed" : "created", resp->n_orders, lines, unpriced);
    return GS_OK;
}
