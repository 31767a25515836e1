/* stock_reports.c — StockService reads: balances (per lot, item and site), stock as
 * of a past time from the ledger, the stock card, movements, low stock with restock
 * proposals, near expiry, charity transfer proposals, stock by org unit, the ledger
 * verification and the adjustment reasons. Everything is limited to the caller's scope. */
#include <inttypes.h>
#include <string.h>

#include "stock.h"
#include "gridstock/v1/stock.rpc.h"

enum { REPORT_ROWS_MAX = 10000, DAYS_DEFAULT = 30 };

static const char *const movement_kinds[] = {"receipt",         "issue",       "transfer_out",
                                             "transfer_in",     "adjustment",  "stocktake_variance",
                                             "expiry_writeoff", "donation_in", "distribution_out",
                                             "reserve",         "release",     NULL};
static const char *const site_kinds[] = {"reserve_point", "charity_station", "supplier_market",
                                         NULL};

/* The columns item_balance_from_row reads: GetBalance's list (site and item as
 * parameters); ListBalances selects the same names from its CTE, then its page key. */
#define BALANCE_COLUMNS(COL)                                                                       \
    COL(BAL_SITE_ID, "$1::bigint", site_id, i64)                                                   \
    COL(BAL_SITE_CODE, ", $3::text", site_code, str)                                               \
    COL(BAL_ITEM_ID, ", i.id", item_id, i64)                                                       \
    COL(BAL_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(BAL_ITEM_NAME, ", i.name", item_name, str)                                                 \
    COL(BAL_UNIT, ", i.unit", unit, str)                                                           \
    COL(BAL_ON_HAND, ", coalesce(b.on_hand, 0)", on_hand, i64)                                     \
    COL(BAL_RESERVED, ", coalesce(b.reserved, 0)", reserved, i64)                                  \
    COL(BAL_AVAILABLE, ", coalesce(b.available, 0)", available, i64)                               \
    COL(BAL_EXPIRED, ", coalesce(b.expired, 0)", expired, i64)                                     \
    COL(BAL_REORDER_POINT, ", coalesce(si.reorder_point, 0)", reorder_point, i64)                  \
    COL(BAL_PAR_LEVEL, ", coalesce(si.par_level, 0)", par_level, i64)
enum { BALANCE_COLUMNS(DB_COL_NAME) BAL_NCOLS, BAL_PAGE_KEY = BAL_NCOLS };
#define BALANCE_COLS BALANCE_COLUMNS(DB_COL_SQL)
#define LIST_BALANCE_COLUMNS(COL)                                                                  \
    COL(BAL_SITE_ID, "s.id")                                                                       \
    COL(BAL_SITE_CODE, ", s.code")                                                                 \
    COL(BAL_ITEM_ID, ", i.id")                                                                     \
    COL(BAL_ITEM_CODE, ", i.code")                                                                 \
    COL(BAL_ITEM_NAME, ", i.name")                                                                 \
    COL(BAL_UNIT, ", i.unit")                                                                      \
    COL(BAL_ON_HAND, ", x.on_hand")                                                                \
    COL(BAL_RESERVED, ", x.reserved")                                                              \
    COL(BAL_AVAILABLE, ", x.available")                                                            \
    COL(BAL_EXPIRED, ", x.expired")                                                                \
    COL(BAL_REORDER_POINT, ", x.rop")                                                              \
    COL(BAL_PAR_LEVEL, ", x.par")                                                                  \
    COL(BAL_PAGE_KEY, ", x.site_id * 4294967296 + x.item_id")
#define LIST_BALANCE_COLS LIST_BALANCE_COLUMNS(DB_COL_SQL)

static void item_balance_from_row(Gridstock__V1__ItemBalance *m, const db_res *r, int row)
{
    DB_COLS_MATCH(LIST_BALANCE_COLUMNS, BAL_NCOLS + 1);
    BALANCE_COLUMNS(DB_COL_FILL)
}

/* Hands the lots of `lr` (STOCK_LOT_COLS, ordered by item id) to the items (ordered by
 * item id). */
static void attach_lots(call *c, Gridstock__V1__ItemBalance **items, size_t n_items,
                        const db_res *lr)
{
    int rows = db_rows(lr), at = 0;
    for (size_t k = 0; k < n_items; k++) {
        Gridstock__V1__ItemBalance *ib = items[k];
        int start = at;
        while (at < rows && db_i64(lr, at, LOT_ITEM_ID) < ib->item_id)
            start = ++at;
        while (at < rows && db_i64(lr, at, LOT_ITEM_ID) == ib->item_id)
            at++;
        ib->n_lots = (size_t)(at - start);
        ib->lots = (Gridstock__V1__Lot **)call_ptrs(c, ib->n_lots);
        for (int i = start; i < at; i++) {
            ib->lots[i - start] = call_msg(c, &gridstock__v1__lot__descriptor);
            stock_lot_from_row(ib->lots[i - start], lr, i);
        }
    }
}

gs_code stock_get_balance(call *c, const Gridstock__V1__GetBalanceRequest *req,
                          Gridstock__V1__SiteBalance *resp)
{
    stock_site s;
    stock_item it;
    db_res *r = NULL, *lr = NULL;

    GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code, true,
                                &s, &it));
    const char *site = call_i64(c, s.id), *item = call_i64(c, it.id);
#define BALANCE_FROM                                                                               \
    " FROM items i"                                                                                \
    " LEFT JOIN stock_item_balances b ON b.item_id = i.id AND b.site_id = $1::bigint"              \
    " LEFT JOIN site_items si ON si.item_id = i.id AND si.site_id = $1::bigint"
    /* balances and lots in one round trip; one item (the usual call) with a statement of its
     * own, whose plan reads that item's lots only */
    db_stmt st[2] = {
        {it.id ? "SELECT " BALANCE_COLS BALANCE_FROM " WHERE i.id = $2::bigint"
               : "SELECT " BALANCE_COLS BALANCE_FROM " WHERE $2::bigint = 0"
                 " AND (b.item_id IS NOT NULL OR si.item_id IS NOT NULL) ORDER BY i.id",
         3,
         {site, item, s.code},
         &r},
        {it.id ? "SELECT " STOCK_LOT_COLS STOCK_LOT_FROM
                 " WHERE l.site_id = $1 AND l.item_id = $2::bigint"
                 " AND l.on_hand > 0 ORDER BY l.expires_on NULLS LAST, l.id"
               : "SELECT " STOCK_LOT_COLS STOCK_LOT_FROM " WHERE l.site_id = $1 AND $2::bigint = 0"
                 " AND l.on_hand > 0 ORDER BY l.item_id, l.expires_on NULLS LAST, l.id",
         2,
         {site, item},
         &lr},
    };
#undef BALANCE_FROM
    GS_TRY(db_batch(c, st, 2));
    int rows = db_rows(r);
    resp->site_id = s.id;
    resp->site_code = (char *)s.code;
    resp->site_name = (char *)s.name;
    resp->n_items = (size_t)rows;
    resp->items = (Gridstock__V1__ItemBalance **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__ItemBalance *ib = call_msg(c, &gridstock__v1__item_balance__descriptor);
        item_balance_from_row(ib, r, i);
        resp->on_hand += ib->on_hand;
        resp->reserved += ib->reserved;
        resp->available += ib->available;
        resp->expired += ib->expired;
        resp->items[i] = ib;
    }
    attach_lots(c, resp->items, resp->n_items, lr);
    return GS_OK;
}

gs_code stock_list_balances(call *c, const Gridstock__V1__ListBalancesRequest *req,
                            Gridstock__V1__ListBalancesResponse *resp)
{
    int64_t limit, after, site;
    const char *path;
    stock_item it;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", true, &it));
    /* The page key orders by site, then item: site id * 2^32 + item id. */
    GS_TRY(db_exec(c, &r,
                   "WITH x AS ("
                   " SELECT coalesce(b.site_id, si.site_id) AS site_id,"
                   "  coalesce(b.item_id, si.item_id) AS item_id,"
                   "  coalesce(b.on_hand, 0) AS on_hand, coalesce(b.reserved, 0) AS reserved,"
                   "  coalesce(b.available, 0) AS available, coalesce(b.expired, 0) AS expired,"
                   "  coalesce(si.reorder_point, 0) AS rop, coalesce(si.par_level, 0) AS par"
                   " FROM stock_item_balances b FULL JOIN site_items si"
                   "  ON si.site_id = b.site_id AND si.item_id = b.item_id)"
                   " SELECT " LIST_BALANCE_COLS " FROM x JOIN sites s ON s.id = x.site_id"
                   " JOIN org_units ou ON ou.id = s.org_unit_id JOIN items i ON i.id = "
                   "x.item_id"
                   " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR s.id = $2::bigint)"
                   " AND ($3::bigint = 0 OR i.id = $3::bigint) AND ($4::bool OR x.on_hand > 0)"
                   " AND x.site_id * 4294967296 + x.item_id > $5::bigint"
                   " ORDER BY x.site_id * 4294967296 + x.item_id LIMIT $6::bigint",
                   6, path, call_i64(c, site), call_i64(c, it.id),
                   req->include_zero ? "true" : "false", call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, BAL_PAGE_KEY, resp->next_page_token, resp->balances, resp->n_balances,
                 &gridstock__v1__item_balance__descriptor, item_balance_from_row);
    return GS_OK;
}

/* Per lot at a site (and item): the sums of its movements up to p.t ... */
#define ASOF_LOTS                                                                                  \
    " h AS (SELECT m.lot_id, sum(m.qty)::bigint AS on_hand,"                                       \
    "   sum(m.reserved_delta)::bigint AS reserved FROM stock_movements m, p"                       \
    "  WHERE m.site_id = $1::bigint AND ($2::bigint = 0 OR m.item_id = $2::bigint)"                \
    "  AND m.at <= p.t GROUP BY m.lot_id HAVING sum(m.qty) <> 0 OR sum(m.reserved_delta) <> 0)"
/* ... read like STOCK_LOT_COLS (the same names), with expiry judged on that day. */
#define ASOF_LOT_COLUMNS(COL)                                                                      \
    COL(LOT_ID, "l.id")                                                                            \
    COL(LOT_SITE_ID, ", l.site_id")                                                                \
    COL(LOT_SITE_CODE, ", s.code")                                                                 \
    COL(LOT_ITEM_ID, ", l.item_id")                                                                \
    COL(LOT_ITEM_CODE, ", i.code")                                                                 \
    COL(LOT_ITEM_NAME, ", i.name")                                                                 \
    COL(LOT_UNIT, ", i.unit")                                                                      \
    COL(LOT_LOT_CODE, ", l.lot_code")                                                              \
    COL(LOT_EXPIRES_ON, ", coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), '')")                     \
    COL(LOT_SOURCE, ", l.source")                                                                  \
    COL(LOT_ON_HAND, ", h.on_hand")                                                                \
    COL(LOT_RESERVED, ", h.reserved")                                                              \
    COL(LOT_AVAILABLE, ", CASE WHEN l.expires_on < p.t::date THEN 0"                               \
                       " ELSE h.on_hand - h.reserved END")                                         \
    COL(LOT_EXPIRED, ", coalesce(l.expires_on < p.t::date, false)")                                \
    COL(LOT_DAYS_LEFT, ", coalesce(l.expires_on - p.t::date, 0)")                                  \
    COL(LOT_RECEIVED_AT, ", " DIR_TS("l.received_at"))                                             \
    COL(LOT_UNIT_COST_FEN, ", l.unit_cost_fen")
#define ASOF_LOT_COLS ASOF_LOT_COLUMNS(DB_COL_SQL)
#define ASOF_SELECT                                                                                \
    " SELECT " ASOF_LOT_COLUMNS(                                                                   \
        DB_COL_SQL) " FROM h JOIN lots l ON l.id = h.lot_id JOIN sites s ON s.id = l.site_id"      \
                    " JOIN items i ON i.id = l.item_id, p ORDER BY l.item_id, l.expires_on NULLS " \
                    "LAST, l.id"

gs_code stock_stock_as_of(call *c, const Gridstock__V1__StockAsOfRequest *req,
                          Gridstock__V1__StockAsOfResponse *resp)
{
    stock_site s;
    stock_item it;
    db_res *r = NULL;

    DB_COLS_MATCH(ASOF_LOT_COLUMNS, STOCK_LOT_NCOLS);
    GS_TRY(v_required(c, "at", req->at));
    GS_TRY(v_len(c, "at", req->at, 64));
    GS_TRY(v_timestamp(c, "at", req->at));
    GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code, true,
                                &s, &it));
    GS_TRY(db_exec(c, &r, "SELECT " DIR_TS("stock_ts($1, 'at')"), 1, req->at));
    resp->at = (char *)db_one_str(r, 0);
    GS_TRY(db_exec(c, &r, "WITH p AS (SELECT stock_ts($3, 'at') AS t)," ASOF_LOTS ASOF_SELECT, 3,
                   call_i64(c, s.id), call_i64(c, it.id), req->at));
    int rows = db_rows(r);
    size_t n_items = 0;
    for (int i = 0; i < rows; i++)
        if (i == 0 || db_i64(r, i, LOT_ITEM_ID) != db_i64(r, i - 1, LOT_ITEM_ID))
            n_items++;
    resp->n_items = n_items;
    resp->items = (Gridstock__V1__ItemBalance **)call_ptrs(c, n_items);
    Gridstock__V1__ItemBalance *ib = NULL;
    size_t k = 0;
    for (int i = 0; i < rows; i++) {
        if (i == 0 || db_i64(r, i, LOT_ITEM_ID) != db_i64(r, i - 1, LOT_ITEM_ID)) {
            ib = call_msg(c, &gridstock__v1__item_balance__descriptor);
            ib->site_id = s.id;
            ib->site_code = (char *)s.code;
            ib->item_id = db_i64(r, i, LOT_ITEM_ID);
            ib->item_code = (char *)db_str(r, i, LOT_ITEM_CODE);
            ib->item_name = (char *)db_str(r, i, LOT_ITEM_NAME);
            ib->unit = (char *)db_str(r, i, LOT_UNIT);
            resp->items[k++] = ib;
        }
        ib->n_lots++;
    }
    /* second pass: the lots of each item */
    int at = 0;
    for (k = 0; k < n_items; k++) {
        ib = resp->items[k];
        ib->lots = (Gridstock__V1__Lot **)call_ptrs(c, ib->n_lots);
        for (size_t j = 0; j < ib->n_lots; j++, at++) {
            Gridstock__V1__Lot *l = call_msg(c, &gridstock__v1__lot__descriptor);
            stock_lot_from_row(l, r, at);
            ib->on_hand += l->on_hand;
            ib->reserved += l->reserved;
            ib->available += l->available;
            if (l->expired)
                ib->expired += l->on_hand;
            ib->lots[j] = l;
        }
    }
    return GS_OK;
}

/* A stock card's row: a movement, then the balance after it. */
#define CARD_COLUMNS(COL) COL(CARD_BALANCE, ", run.bal::bigint")
enum { CARD_BEFORE_ = STOCK_MOVE_NCOLS - 1, CARD_COLUMNS(DB_COL_NAME) CARD_NCOLS };
#define CARD_COLS CARD_COLUMNS(DB_COL_SQL)

gs_code stock_stock_card(call *c, const Gridstock__V1__StockCardRequest *req,
                         Gridstock__V1__StockCardResponse *resp)
{
    int64_t limit, after;
    stock_site s;
    stock_item it;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "since", req->since, 64));
    GS_TRY(v_len(c, "until", req->until, 64));
    GS_TRY(v_timestamp(c, "since", req->since));
    GS_TRY(v_timestamp(c, "until", req->until));
    GS_TRY(stock_site_item_find(c, req->site_id, req->site_code, req->item_id, req->item_code,
                                false, &s, &it));
    const char *site = call_i64(c, s.id), *item = call_i64(c, it.id);
    /* Each row's balance is the sum of every movement of the site and item up to it
     * (whatever the time filter): one sum of what came before the page, then a running
     * sum over the page's id range. (A sum per row made a page of n rows cost n passes
     * over the item's history.) */
    GS_TRY(db_exec(c, &r,
                   "WITH p AS (SELECT coalesce(stock_ts($3, 'since'), '-infinity') AS since,"
                   "  coalesce(stock_ts($4, 'until'), 'infinity') AS until),"
                   " pg AS (SELECT m.id FROM stock_movements m, p"
                   "  WHERE m.site_id = $1::bigint AND m.item_id = $2::bigint"
                   "  AND m.at >= p.since AND m.at < p.until AND m.id > $5::bigint"
                   "  ORDER BY m.id LIMIT $6::bigint),"
                   " b AS (SELECT min(id) AS lo, max(id) AS hi FROM pg),"
                   " base AS (SELECT coalesce(sum(y.qty), 0) AS v FROM stock_movements y, b"
                   "  WHERE y.site_id = $1::bigint AND y.item_id = $2::bigint AND y.id < b.lo),"
                   " run AS (SELECT x.id, base.v + sum(x.qty) OVER (ORDER BY x.id) AS bal"
                   "  FROM stock_movements x, b, base WHERE x.site_id = $1::bigint"
                   "  AND x.item_id = $2::bigint AND x.id BETWEEN b.lo AND b.hi)"
                   " SELECT " STOCK_MOVE_COLS CARD_COLS STOCK_MOVE_FROM
                   " JOIN run ON run.id = m.id WHERE m.id IN (SELECT id FROM pg) ORDER BY m.id",
                   6, site, item, req->since, req->until, call_i64(c, after), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, MOVE_ID, limit, &rows);
    resp->site_code = (char *)s.code;
    resp->item_code = (char *)it.code;
    resp->n_movements = (size_t)rows;
    resp->movements = (Gridstock__V1__Movement **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__Movement *m = call_msg(c, &gridstock__v1__movement__descriptor);
        stock_movement_from_row(m, r, i);
        m->balance = db_i64(r, i, CARD_BALANCE);
        resp->movements[i] = m;
    }
    if (rows > 0) {
        resp->opening_balance = resp->movements[0]->balance - resp->movements[0]->qty;
    } else {
        db_res *o = NULL;
        GS_TRY(db_exec(c, &o,
                       "SELECT coalesce(sum(qty), 0)::bigint FROM stock_movements"
                       " WHERE site_id = $1 AND item_id = $2 AND id <= $3::bigint"
                       " AND at < coalesce(stock_ts($4, 'until'), 'infinity')",
                       4, site, item, call_i64(c, after ? after : INT64_MAX), req->until));
        resp->opening_balance = db_one_i64(o, 0);
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT coalesce(sum(on_hand), 0)::bigint FROM lots"
                   " WHERE site_id = $1 AND item_id = $2",
                   2, site, item));
    resp->on_hand = db_one_i64(r, 0);
    return GS_OK;
}

gs_code stock_list_movements(call *c, const Gridstock__V1__ListMovementsRequest *req,
                             Gridstock__V1__ListMovementsResponse *resp)
{
    int64_t limit, after, site;
    const char *path;
    stock_item it;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, movement_kinds, false));
    GS_TRY(stock_check_ref(c, req->ref_type, 0));
    GS_TRY(v_nonneg(c, "ref_id", req->ref_id));
    GS_TRY(v_len(c, "since", req->since, 64));
    GS_TRY(v_len(c, "until", req->until, 64));
    GS_TRY(v_timestamp(c, "since", req->since));
    GS_TRY(v_timestamp(c, "until", req->until));
    GS_TRY(v_len(c, "request_id", req->request_id, 128));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", true, &it));
    GS_TRY(db_exec(c, &r,
                   "WITH p AS (SELECT coalesce(stock_ts($7, 'since'), '-infinity') AS since,"
                   "  coalesce(stock_ts($8, 'until'), 'infinity') AS until)"
                   " SELECT " STOCK_MOVE_COLS STOCK_MOVE_FROM ", p"
                   " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR m.site_id = $2::bigint)"
                   " AND ($3::bigint = 0 OR m.item_id = $3::bigint) AND ($4 = '' OR m.kind = $4)"
                   " AND ($5 = '' OR m.ref_type = $5) AND ($6::bigint = 0 OR m.ref_id = $6::bigint)"
                   " AND m.at >= p.since AND m.at < p.until"
                   " AND ($9 = '' OR m.request_id = $9) AND m.id > $10::bigint"
                   " ORDER BY m.id LIMIT $11::bigint",
                   11, path, call_i64(c, site), call_i64(c, it.id), req->kind, req->ref_type,
                   call_i64(c, req->ref_id), req->since, req->until, req->request_id,
                   call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, MOVE_ID, resp->next_page_token, resp->movements, resp->n_movements,
                 &gridstock__v1__movement__descriptor, stock_movement_from_row);
    return GS_OK;
}

#define LOW_COLUMNS(COL)                                                                           \
    COL(LOW_SITE_ID, "lv.site_id", site_id, i64)                                                   \
    COL(LOW_SITE_CODE, ", s.code", site_code, str)                                                 \
    COL(LOW_SITE_NAME, ", s.name", site_name, str)                                                 \
    COL(LOW_ITEM_ID, ", lv.item_id", item_id, i64)                                                 \
    COL(LOW_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(LOW_ITEM_NAME, ", i.name", item_name, str)                                                 \
    COL(LOW_UNIT, ", i.unit", unit, str)                                                           \
    COL(LOW_AVAILABLE, ", lv.available", available, i64)                                           \
    COL(LOW_REORDER_POINT, ", lv.reorder_point", reorder_point, i64)                               \
    COL(LOW_PAR_LEVEL, ", lv.par_level", par_level, i64)                                           \
    COL(LOW_ON_ORDER, ", lv.on_order", on_order, i64)                                              \
    COL(LOW_PROPOSED_QTY, ", lv.proposed_qty", proposed_qty, i64)
enum { LOW_COLUMNS(DB_COL_NAME) LOW_NCOLS };
#define LOW_COLS LOW_COLUMNS(DB_COL_SQL)

static void low_stock_line_from_row(Gridstock__V1__LowStockLine *m, const db_res *r,
                                    int row){LOW_COLUMNS(DB_COL_FILL)}

gs_code stock_low_stock(call *c, const Gridstock__V1__LowStockRequest *req,
                        Gridstock__V1__LowStockResponse *resp)
{
    int64_t site;
    const char *path;
    GS_TRY(dir_enum(c, "site_kind", req->site_kind, site_kinds, false));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    DB_LOAD_ROWS(c, resp->lines, resp->n_lines, &gridstock__v1__low_stock_line__descriptor,
                 low_stock_line_from_row,
                 "SELECT " LOW_COLS " FROM stock_levels lv JOIN sites s ON s.id = lv.site_id"
                 " JOIN org_units ou ON ou.id = s.org_unit_id JOIN items i ON i.id = "
                 "lv.item_id"
                 " WHERE lv.low AND s.active AND i.active AND ou.path <@ $1::ltree"
                 " AND ($2::bigint = 0 OR s.id = $2::bigint) AND ($3 = '' OR s.kind = $3)"
                 " ORDER BY s.id, i.id LIMIT $4::int",
                 4, path, call_i64(c, site), req->site_kind, call_i64(c, REPORT_ROWS_MAX));
    return GS_OK;
}

gs_code stock_near_expiry(call *c, const Gridstock__V1__NearExpiryRequest *req,
                          Gridstock__V1__NearExpiryResponse *resp)
{
    int64_t site;
    const char *path;
    GS_TRY(v_range(c, "days", req->days, 0, 3650));
    GS_TRY(v_len(c, "item_code", req->item_code, 64));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    int days = req->days ? req->days : DAYS_DEFAULT;
    DB_LOAD_ROWS(c, resp->lots, resp->n_lots, &gridstock__v1__lot__descriptor, stock_lot_from_row,
                 "SELECT " STOCK_LOT_COLS STOCK_LOT_FROM
                 " JOIN org_units ou ON ou.id = s.org_unit_id"
                 " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR s.id = $2::bigint)"
                 " AND ($3 = '' OR i.code = $3) AND l.on_hand > 0 AND l.expires_on IS NOT NULL"
                 " AND l.expires_on <= current_date + $4::int"
                 " AND ($5::bool OR l.expires_on >= current_date)"
                 " ORDER BY l.expires_on, l.id LIMIT $6::int",
                 6, path, call_i64(c, site), req->item_code, call_i64(c, days),
                 req->include_expired ? "true" : "false", call_i64(c, REPORT_ROWS_MAX));
    return GS_OK;
}

/* A charity transfer proposal: the lot, then the station it should go to. */
#define CHARITY_PROPOSAL_COLUMNS(COL)                                                              \
    COL(CTP_TO_SITE_ID, ", cs.id")                                                                 \
    COL(CTP_TO_SITE_CODE, ", cs.code")                                                             \
    COL(CTP_TO_SITE_NAME, ", cs.name")                                                             \
    COL(CTP_DISTANCE_M, ", cs.dist")
enum { CTP_BEFORE_ = STOCK_LOT_NCOLS - 1, CHARITY_PROPOSAL_COLUMNS(DB_COL_NAME) CTP_NCOLS };
#define CHARITY_PROPOSAL_COLS CHARITY_PROPOSAL_COLUMNS(DB_COL_SQL)

gs_code stock_charity_transfer_proposals(call *c,
                                         const Gridstock__V1__CharityTransferProposalsRequest *req,
                                         Gridstock__V1__CharityTransferProposalsResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_range(c, "days", req->days, 0, 365));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    int days = req->days ? req->days : DAYS_DEFAULT;
    /* For each unreserved near-expiry lot at a reserve point: the nearest active charity
     * station in the area, preferring one that stocks the item. */
    GS_TRY(
        db_exec(c, &r,
                "SELECT " STOCK_LOT_COLS CHARITY_PROPOSAL_COLS STOCK_LOT_FROM
                " JOIN org_units ou ON ou.id = s.org_unit_id"
                " CROSS JOIN LATERAL ("
                "  SELECT c2.id, c2.code, c2.name,"
                "   earth_distance(ll_to_earth(s.lat, s.lon), ll_to_earth(c2.lat, c2.lon)) AS dist"
                "  FROM sites c2 JOIN org_units cou ON cou.id = c2.org_unit_id"
                "  LEFT JOIN site_items csi ON csi.site_id = c2.id AND csi.item_id = l.item_id"
                "  WHERE c2.kind = 'charity_station' AND c2.active AND cou.path <@ $1::ltree"
                "  ORDER BY csi.item_id IS NULL, 4, c2.id LIMIT 1) cs"
                " WHERE s.kind = 'reserve_point' AND ou.path <@ $1::ltree"
                " AND l.expires_on IS NOT NULL AND l.expires_on >= current_date"
                " AND l.expires_on <= current_date + $2::int AND l.on_hand > l.reserved"
                " ORDER BY l.expires_on, l.id LIMIT $3::int",
                3, u.path, call_i64(c, days), call_i64(c, REPORT_ROWS_MAX)));
    int rows = db_rows(r);
    resp->n_proposals = (size_t)rows;
    resp->proposals = (Gridstock__V1__CharityTransferProposal **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__CharityTransferProposal *p =
            call_msg(c, &gridstock__v1__charity_transfer_proposal__descriptor);
        p->lot = call_msg(c, &gridstock__v1__lot__descriptor);
        stock_lot_from_row(p->lot, r, i);
        p->qty = p->lot->available;
        p->to_site_id = db_i64(r, i, CTP_TO_SITE_ID);
        p->to_site_code = (char *)db_str(r, i, CTP_TO_SITE_CODE);
        p->to_site_name = (char *)db_str(r, i, CTP_TO_SITE_NAME);
        p->distance_m = db_f64(r, i, CTP_DISTANCE_M);
        resp->proposals[i] = p;
    }
    return GS_OK;
}

#define OU_STOCK_COLUMNS(COL)                                                                      \
    COL(OUS_ORG_UNIT_ID, "g.id", org_unit_id, i64)                                                 \
    COL(OUS_ORG_UNIT_CODE, ", g.code", org_unit_code, str)                                         \
    COL(OUS_ORG_UNIT_NAME, ", g.name", org_unit_name, str)                                         \
    COL(OUS_ORG_UNIT_KIND, ", g.kind", org_unit_kind, str)                                         \
    COL(OUS_ITEM_ID, ", i.id", item_id, i64)                                                       \
    COL(OUS_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(OUS_ITEM_NAME, ", i.name", item_name, str)                                                 \
    COL(OUS_UNIT, ", i.unit", unit, str)                                                           \
    COL(OUS_SITES, ", count(DISTINCT b.site_id)::int", sites, i32)                                 \
    COL(OUS_ON_HAND, ", sum(b.on_hand)::bigint", on_hand, i64)                                     \
    COL(OUS_RESERVED, ", sum(b.reserved)::bigint", reserved, i64)                                  \
    COL(OUS_AVAILABLE, ", sum(b.available)::bigint", available, i64)                               \
    COL(OUS_EXPIRED, ", sum(b.expired)::bigint", expired, i64)
enum { OU_STOCK_COLUMNS(DB_COL_NAME) OUS_NCOLS };
#define OU_STOCK_COLS OU_STOCK_COLUMNS(DB_COL_SQL)

static void org_unit_stock_from_row(Gridstock__V1__OrgUnitStock *m, const db_res *r,
                                    int row){OU_STOCK_COLUMNS(DB_COL_FILL)}

gs_code stock_stock_by_org_unit(call *c, const Gridstock__V1__StockByOrgUnitRequest *req,
                                Gridstock__V1__StockByOrgUnitResponse *resp)
{
    dir_unit u;
    stock_item it;
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", true, &it));
    /* Groups: each child unit (its whole subtree), and the unit itself for the sites placed
     * directly in it. */
    DB_LOAD_ROWS(c, resp->rows, resp->n_rows, &gridstock__v1__org_unit_stock__descriptor,
                 org_unit_stock_from_row,
                 "WITH g AS ("
                 " SELECT c.id, c.code, c.name, c.kind, c.path, false AS direct FROM org_units c"
                 "  WHERE c.parent_id = $1::bigint"
                 " UNION ALL SELECT u.id, u.code, u.name, u.kind, u.path, true FROM org_units u"
                 "  WHERE u.id = $1::bigint)"
                 " SELECT " OU_STOCK_COLS " FROM g JOIN org_units ou"
                 "  ON CASE WHEN g.direct THEN ou.id = g.id ELSE ou.path <@ g.path END"
                 " JOIN sites s ON s.org_unit_id = ou.id"
                 " JOIN stock_item_balances b ON b.site_id = s.id"
                 " JOIN items i ON i.id = b.item_id"
                 " WHERE ($2::bigint = 0 OR i.id = $2::bigint) AND b.on_hand > 0"
                 " GROUP BY g.id, g.code, g.name, g.kind, i.id, i.code, i.name, i.unit"
                 " ORDER BY g.code, i.id LIMIT $3::int",
                 3, call_i64(c, u.id), call_i64(c, it.id), call_i64(c, REPORT_ROWS_MAX));
    return GS_OK;
}

#define DIFF_COLUMNS(COL)                                                                          \
    COL(DIFF_LOT_ID, "d.lot_id", lot_id, i64)                                                      \
    COL(DIFF_SITE_CODE, ", s.code", site_code, str)                                                \
    COL(DIFF_ITEM_CODE, ", i.code", item_code, str)                                                \
    COL(DIFF_LOT_CODE, ", d.lot_code", lot_code, str)                                              \
    COL(DIFF_ON_HAND, ", d.on_hand", on_hand, i64)                                                 \
    COL(DIFF_LEDGER_ON_HAND, ", d.ledger_on_hand", ledger_on_hand, i64)                            \
    COL(DIFF_RESERVED, ", d.reserved", reserved, i64)                                              \
    COL(DIFF_LEDGER_RESERVED, ", d.ledger_reserved", ledger_reserved, i64)
enum { DIFF_COLUMNS(DB_COL_NAME) DIFF_NCOLS };
#define DIFF_COLS DIFF_COLUMNS(DB_COL_SQL)

#define VERIFY_COLUMNS(COL)                                                                        \
    COL(VERIFY_LOTS_CHECKED, "(SELECT count(*) FROM lots l JOIN sites s ON s.id = l.site_id JOIN " \
                             "org_units ou ON ou.id = s.org_unit_id WHERE ou.path <@ $1::ltree)")  \
    COL(VERIFY_MOVEMENTS_CHECKED,                                                                  \
        ", (SELECT count(*) FROM stock_movements m JOIN sites s ON s.id = m.site_id JOIN "         \
        "org_units ou ON ou.id = s.org_unit_id WHERE ou.path <@ $1::ltree)")
enum { VERIFY_COLUMNS(DB_COL_NAME) VERIFY_NCOLS };
#define VERIFY_COLS VERIFY_COLUMNS(DB_COL_SQL)

static void stock_difference_from_row(Gridstock__V1__StockDifference *m, const db_res *r,
                                      int row){DIFF_COLUMNS(DB_COL_FILL)}

gs_code stock_verify_stock(call *c, const Gridstock__V1__VerifyStockRequest *req,
                           Gridstock__V1__VerifyStockResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r, "SELECT " VERIFY_COLS, 1, u.path));
    resp->lots_checked = db_i64(r, 0, VERIFY_LOTS_CHECKED);
    resp->movements_checked = db_i64(r, 0, VERIFY_MOVEMENTS_CHECKED);
    DB_LOAD_ROWS(c, resp->differences, resp->n_differences,
                 &gridstock__v1__stock_difference__descriptor, stock_difference_from_row,
                 "SELECT " DIFF_COLS " FROM stock_ledger_differences d"
                 " JOIN sites s ON s.id = d.site_id JOIN org_units ou ON ou.id = "
                 "s.org_unit_id"
                 " JOIN items i ON i.id = d.item_id WHERE ou.path <@ $1::ltree"
                 " ORDER BY d.lot_id LIMIT $2::int",
                 2, u.path, call_i64(c, REPORT_ROWS_MAX));
    resp->clean = resp->n_differences == 0;
    return GS_OK;
}

#define REASON_COLUMNS(COL)                                                                        \
    COL(REASON_CODE, "code", code, str)                                                            \
    COL(REASON_NAME, ", name", name, str)                                                          \
    COL(REASON_DIRECTION, ", direction", direction, str)                                           \
    COL(REASON_ACTIVE, ", active", active, bool)
enum { REASON_COLUMNS(DB_COL_NAME) REASON_NCOLS };
#define REASON_COLS REASON_COLUMNS(DB_COL_SQL)

static void adjustment_reason_from_row(Gridstock__V1__AdjustmentReason *m, const db_res *r,
                                       int row){REASON_COLUMNS(DB_COL_FILL)}

gs_code
    stock_list_adjustment_reasons(call *c, const Gridstock__V1__ListAdjustmentReasonsRequest *req,
                                  Gridstock__V1__ListAdjustmentReasonsResponse *resp)
{
    DB_LOAD_ROWS(c, resp->reasons, resp->n_reasons, &gridstock__v1__adjustment_reason__descriptor,
                 adjustment_reason_from_row,
                 "SELECT " REASON_COLS " FROM stock_reasons"
                 " WHERE $1::bool OR active ORDER BY sort_order, code",
                 1, req->include_inactive ? "true" : "false");
    return GS_OK;
}
