/* imports.c — ImportService: the batch calls behind `gridstock import items|prices|counts`.
 * Each checks every row here (errors name the CSV line and the row index), then applies all
 * rows in one statement of 013_import_expiry_scan.sql's functions (or 010_stock.sql's
 * stock_stocktake_count), so a file is applied entirely or not at all. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory/directory.h"
#include "pg_array.h"
#include "stock.h"

#include "gridstock/v1/imports.pb-c.h"
#include "gridstock/v1/imports.rpc.h"

enum { IMPORT_ROWS_MAX = 20000 };

/* "line 7: rows[5].code" (or "rows[5].code" without a line), in the arena. */
static const char *row_field(call *c, int32_t line, size_t i, const char *field)
{
    if (line > 0)
        return call_printf(c, "line %d: rows[%zu]%s%s", (int)line, i, *field ? "." : "", field);
    return call_printf(c, "rows[%zu]%s%s", i, *field ? "." : "", field);
}

static gs_code check_rows(call *c, size_t n)
{
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "rows: at least one is required");
    if (n > IMPORT_ROWS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "rows: at most %d per import", IMPORT_ROWS_MAX);
    return GS_OK;
}

/* ------------------------------------------------------------------ items */

#define IMPORT_ITEMS_COLUMNS(COL)                                                                  \
    COL(IITEM_CREATED, "created")                                                                  \
    COL(IITEM_UPDATED, ", updated")                                                                \
    COL(IITEM_UNCHANGED, ", unchanged")
enum { IMPORT_ITEMS_COLUMNS(DB_COL_NAME) IITEM_NCOLS };
#define IMPORT_ITEMS_COLS IMPORT_ITEMS_COLUMNS(DB_COL_SQL)

gs_code import_import_items(call *c, const Gridstock__V1__ImportItemsRequest *req,
                            Gridstock__V1__ImportResponse *resp)
{
    db_res *r = NULL;
    size_t n = req->n_rows;

    /* the catalog is the district's (as CatalogService's CreateItem and UpdateItem) */
    if (strchr(c->who.scope_path, '.'))
        return call_fail(c, GS_PERMISSION_DENIED,
                         "the catalog is district-wide: only a user whose scope is the district"
                         " may import items");
    GS_TRY(check_rows(c, n));
    int64_t *lines = arena_alloc(c->arena, n * sizeof *lines);
    int64_t *shelf = arena_alloc(c->arena, n * sizeof *shelf);
    bool *active = arena_alloc(c->arena, n * sizeof *active);
    const char **codes = arena_alloc(c->arena, n * sizeof *codes);
    const char **names = arena_alloc(c->arena, n * sizeof *names);
    const char **cats = arena_alloc(c->arena, n * sizeof *cats);
    const char **units = arena_alloc(c->arena, n * sizeof *units);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ItemRow *w = req->rows[i];
        GS_TRY(v_code(c, row_field(c, w->line, i, "code"), w->code));
        GS_TRY(v_required(c, row_field(c, w->line, i, "name"), w->name));
        GS_TRY(v_len(c, row_field(c, w->line, i, "name"), w->name, 200));
        GS_TRY(dir_enum(c, row_field(c, w->line, i, "category"), w->category, dir_item_categories,
                        true));
        GS_TRY(v_required(c, row_field(c, w->line, i, "unit"), w->unit));
        GS_TRY(v_len(c, row_field(c, w->line, i, "unit"), w->unit, 32));
        GS_TRY(
            v_range(c, row_field(c, w->line, i, "shelf_life_days"), w->shelf_life_days, 0, 36500));
        lines[i] = w->line;
        codes[i] = w->code;
        names[i] = w->name;
        cats[i] = w->category;
        units[i] = w->unit;
        shelf[i] = w->shelf_life_days;
        active[i] = !w->inactive;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT " IMPORT_ITEMS_COLS " FROM import_items($1::int[], $2::text[],"
                   " $3::text[], $4::text[], $5::text[], $6::int[], $7::boolean[])",
                   7, pg_array_i64(c, lines, n), pg_array_text(c, codes, n),
                   pg_array_text(c, names, n), pg_array_text(c, cats, n),
                   pg_array_text(c, units, n), pg_array_i64(c, shelf, n),
                   pg_array_bool(c, active, n)));
    resp->rows = (int32_t)n;
    resp->created = db_i32(r, 0, IITEM_CREATED);
    resp->updated = db_i32(r, 0, IITEM_UPDATED);
    resp->unchanged = db_i32(r, 0, IITEM_UNCHANGED);
    c->audit_object = "catalog";
    c->audit_summary = call_printf(c, "imported %zu item(s): %d new, %d changed, %d unchanged", n,
                                   (int)resp->created, (int)resp->updated, (int)resp->unchanged);
    return GS_OK;
}

/* ------------------------------------------------------------------ prices */

#define IMPORT_PRICES_COLUMNS(COL)                                                                 \
    COL(IPRICE_CREATED, "created")                                                                 \
    COL(IPRICE_UPDATED, ", updated")
enum { IMPORT_PRICES_COLUMNS(DB_COL_NAME) IPRICE_NCOLS };
#define IMPORT_PRICES_COLS IMPORT_PRICES_COLUMNS(DB_COL_SQL)

gs_code import_import_prices(call *c, const Gridstock__V1__ImportPricesRequest *req,
                             Gridstock__V1__ImportResponse *resp)
{
    db_res *r = NULL;
    size_t n = req->n_rows;

    GS_TRY(check_rows(c, n));
    int64_t *lines = arena_alloc(c->arena, n * sizeof *lines);
    int64_t *prices = arena_alloc(c->arena, n * sizeof *prices);
    int64_t *leads = arena_alloc(c->arena, n * sizeof *leads);
    const char **items = arena_alloc(c->arena, n * sizeof *items);
    const char **suppliers = arena_alloc(c->arena, n * sizeof *suppliers);
    const char **from = arena_alloc(c->arena, n * sizeof *from);
    const char **to = arena_alloc(c->arena, n * sizeof *to);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__PriceRow *w = req->rows[i];
        GS_TRY(v_code(c, row_field(c, w->line, i, "item_code"), w->item_code));
        GS_TRY(v_code(c, row_field(c, w->line, i, "supplier_site_code"), w->supplier_site_code));
        GS_TRY(v_range(c, row_field(c, w->line, i, "unit_price_fen"), w->unit_price_fen, 1,
                       1000000000));
        GS_TRY(v_range(c, row_field(c, w->line, i, "lead_time_days"), w->lead_time_days, 0, 365));
        GS_TRY(v_date(c, row_field(c, w->line, i, "valid_from"), w->valid_from));
        GS_TRY(v_date(c, row_field(c, w->line, i, "valid_to"), w->valid_to));
        lines[i] = w->line;
        items[i] = w->item_code;
        suppliers[i] = w->supplier_site_code;
        prices[i] = w->unit_price_fen;
        leads[i] = w->lead_time_days;
        from[i] = w->valid_from;
        to[i] = w->valid_to;
    }
    GS_TRY(db_exec(
        c, &r,
        "SELECT " IMPORT_PRICES_COLS " FROM import_prices($1::ltree, $2::int[], $3::text[],"
        " $4::text[], $5::bigint[], $6::int[],"
        " (SELECT array_agg(nullif(x, '')::date ORDER BY i)"
        "    FROM unnest($7::text[]) WITH ORDINALITY AS t(x, i)),"
        " (SELECT array_agg(nullif(x, '')::date ORDER BY i)"
        "    FROM unnest($8::text[]) WITH ORDINALITY AS t(x, i)),"
        " $9::bigint)",
        9, c->who.scope_path, pg_array_i64(c, lines, n), pg_array_text(c, items, n),
        pg_array_text(c, suppliers, n), pg_array_i64(c, prices, n), pg_array_i64(c, leads, n),
        pg_array_text(c, from, n), pg_array_text(c, to, n), call_i64(c, c->who.user_id)));
    resp->rows = (int32_t)n;
    resp->created = db_i32(r, 0, IPRICE_CREATED);
    resp->updated = db_i32(r, 0, IPRICE_UPDATED);
    c->audit_object = "supplier_prices";
    c->audit_summary = call_printf(c, "imported %zu price(s): %d new, %d replaced", n,
                                   (int)resp->created, (int)resp->updated);
    return GS_OK;
}

/* ------------------------------------------------------------------ counts */

/* stock_stocktake_count names a failing count "counts[i]"; say which CSV line it was. */
static void name_line(call *c, const Gridstock__V1__ImportCountsRequest *req)
{
    char *end;
    if (strncmp(c->message, "counts[", 7) != 0)
        return;
    long i = strtol(c->message + 7, &end, 10);
    if (*end != ']' || i < 0 || (size_t)i >= req->n_rows)
        return;
    char was[sizeof c->message];
    snprintf(was, sizeof was, "%s", end + 1);
    if (req->rows[i]->line > 0)
        snprintf(c->message, sizeof c->message, "line %d: rows[%ld]%.440s", (int)req->rows[i]->line,
                 i, was);
    else
        snprintf(c->message, sizeof c->message, "rows[%ld]%.440s", i, was);
}

#define STOCKTAKE_SITE_COLUMNS(COL)                                                                \
    COL(STK_ID, "st.id")                                                                           \
    COL(STK_SITE_CODE, ", s.code")
enum { STOCKTAKE_SITE_COLUMNS(DB_COL_NAME) STK_NCOLS };
#define STOCKTAKE_SITE_COLS STOCKTAKE_SITE_COLUMNS(DB_COL_SQL)

#define DUPLICATE_COLUMNS(COL)                                                                     \
    COL(DUP_FIRST, "min(k)")                                                                       \
    COL(DUP_LAST, ", max(k)")                                                                      \
    COL(DUP_ITEM_CODE, ", i")                                                                      \
    COL(DUP_LOT_CODE, ", l")
enum { DUPLICATE_COLUMNS(DB_COL_NAME) DUP_NCOLS };
#define DUPLICATE_COLS DUPLICATE_COLUMNS(DB_COL_SQL)

gs_code import_import_counts(call *c, const Gridstock__V1__ImportCountsRequest *req,
                             Gridstock__V1__ImportResponse *resp)
{
    db_res *r = NULL;
    size_t n = req->n_rows;

    GS_TRY(v_positive(c, "stocktake_id", req->stocktake_id));
    GS_TRY(check_rows(c, n));
    int64_t *lot_ids = arena_alloc(c->arena, n * sizeof *lot_ids);
    int64_t *counts = arena_alloc(c->arena, n * sizeof *counts);
    const char **items = arena_alloc(c->arena, n * sizeof *items);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__CountRow *w = req->rows[i];
        GS_TRY(v_code(c, row_field(c, w->line, i, "item_code"), w->item_code));
        GS_TRY(stock_check_lot_code(c, row_field(c, w->line, i, "lot_code"), w->lot_code, true));
        GS_TRY(v_range(c, row_field(c, w->line, i, "counted"), w->counted, 0, INT64_C(1) << 40));
        lot_ids[i] = 0;
        counts[i] = w->counted;
        items[i] = w->item_code;
        lots[i] = w->lot_code;
    }
    const char *item_arr = pg_array_text(c, items, n), *lot_arr = pg_array_text(c, lots, n);
    /* each lot once: a file that counts a lot twice is a mistake, not a recount */
    GS_TRY(db_exec(c, &r,
                   "SELECT " DUPLICATE_COLS " FROM unnest($1::text[], $2::text[])"
                   " WITH ORDINALITY AS t(i, l, k) GROUP BY i, l HAVING count(*) > 1"
                   " ORDER BY max(k) LIMIT 1",
                   2, item_arr, lot_arr));
    if (db_rows(r) > 0) {
        size_t first = (size_t)db_i64(r, 0, DUP_FIRST) - 1,
               dup = (size_t)db_i64(r, 0, DUP_LAST) - 1;
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: lot %s of %s is also counted in rows[%zu]",
                         row_field(c, req->rows[dup]->line, dup, "lot_code"),
                         db_str(r, 0, DUP_LOT_CODE), db_str(r, 0, DUP_ITEM_CODE), first);
    }
    GS_TRY(db_find_id(c, &r, "stocktake", req->stocktake_id,
                      "SELECT " STOCKTAKE_SITE_COLS
                      " FROM stocktakes st JOIN sites s ON s.id = st.site_id"
                      " JOIN org_units ou ON ou.id = s.org_unit_id"
                      " WHERE st.id = $1 AND ou.path <@ $2::ltree",
                      2, call_i64(c, req->stocktake_id), c->who.scope_path));
    const char *site = db_str(r, 0, STK_SITE_CODE);
    gs_code rc = db_exec(c, &r,
                         "SELECT stock_stocktake_count($1::bigint, $2::bigint[], $3::text[],"
                         " $4::text[], $5::bigint[], $6::bigint)",
                         6, call_i64(c, req->stocktake_id), pg_array_i64(c, lot_ids, n), item_arr,
                         lot_arr, pg_array_i64(c, counts, n), call_i64(c, c->who.user_id));
    if (rc != GS_OK) {
        name_line(c, req);
        return rc;
    }
    resp->rows = (int32_t)n;
    resp->updated = (int32_t)n;
    c->audit_object = call_printf(c, "stocktake:%" PRId64, req->stocktake_id);
    c->audit_summary = call_printf(c, "imported %zu count(s) at %s (%d lot(s) counted so far)", n,
                                   site, (int)db_one_i64(r, 0));
    return GS_OK;
}
