/* stock_value.c — StockService.ValueStock: what the reserves of an area are worth now (the
 * lots' unit costs, 061_stock_value.sql) and what was lost in a period (expired, damaged,
 * stocktake variance), grouped by site, community, street or item category. */
#include <inttypes.h>
#include <string.h>

#include "stock.h"
#include "gridstock/v1/stock.rpc.h"

#define VALUE_COLUMNS(COL)                                                                         \
    COL(VAL_KEY, "key", key, str)                                                                  \
    COL(VAL_NAME, ", name", name, str)                                                             \
    COL(VAL_LOTS, ", lots", lots, i64)                                                             \
    COL(VAL_ON_HAND, ", on_hand", on_hand, i64)                                                    \
    COL(VAL_VALUE_FEN, ", value_fen", value_fen, i64)                                              \
    COL(VAL_EXPIRED_FEN, ", expired_fen", expired_fen, i64)                                        \
    COL(VAL_DAMAGED_FEN, ", damaged_fen", damaged_fen, i64)                                        \
    COL(VAL_VARIANCE_FEN, ", variance_fen", variance_fen, i64)
enum { VALUE_COLUMNS(DB_COL_NAME) VAL_NCOLS };
#define VALUE_COLS VALUE_COLUMNS(DB_COL_SQL)

static void value_row_from_row(Gridstock__V1__StockValueRow *m, const db_res *r, int row)
{
    VALUE_COLUMNS(DB_COL_FILL)
}

static const char *const value_groups[] = {"site", "community", "street", "category", NULL};

gs_code stock_value_stock(call *c, const Gridstock__V1__ValueStockRequest *req,
                          Gridstock__V1__ValueStockResponse *resp)
{
    const char *path;
    int64_t site;
    db_res *r = NULL;

    GS_TRY(dir_enum(c, "group_by", req->group_by, value_groups, false));
    GS_TRY(v_date(c, "from", req->from));
    GS_TRY(v_date(c, "to", req->to));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, 0, "", &path, &site));
    GS_TRY(db_exec(
        c, &r,
        "SELECT coalesce(nullif($1, '')::date, date_trunc('month', current_date)::date)::text,"
        " coalesce(nullif($2, '')::date, current_date)::text",
        2, req->from, req->to));
    resp->from = (char *)db_str(r, 0, 0);
    resp->to = (char *)db_str(r, 0, 1);
    if (strcmp(resp->from, resp->to) > 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "to: %s is before from %s", resp->to, resp->from);
    GS_TRY(db_exec(
        c, &r, "SELECT " VALUE_COLS " FROM stock_value_report($1::ltree, $2, $3::date, $4::date)",
        4, path, *req->group_by ? req->group_by : "site", resp->from, resp->to));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->rows, resp->n_rows, &gridstock__v1__stock_value_row__descriptor,
                 value_row_from_row);
    for (size_t i = 0; i < resp->n_rows; i++) {
        const Gridstock__V1__StockValueRow *x = resp->rows[i];
        resp->total_value_fen += x->value_fen;
        resp->total_losses_fen += x->expired_fen + x->damaged_fen + x->variance_fen;
    }
    return GS_OK;
}
