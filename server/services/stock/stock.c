/* stock.c — StockService's method table and the helpers its handlers share (and
 * other stock-moving services may use): scoped site/item lookup, argument checks, array
 * literals, lot and movement rows. */
#include "stock.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"

#define SITE_COLUMNS(COL)                                                                          \
    COL(SITE_ID, "s.id")                                                                           \
    COL(SITE_CODE, ", s.code")                                                                     \
    COL(SITE_NAME, ", s.name")                                                                     \
    COL(SITE_KIND, ", s.kind")                                                                     \
    COL(SITE_PATH, ", ou.path::text")                                                              \
    COL(SITE_ACTIVE, ", s.active")
enum { SITE_COLUMNS(DB_COL_NAME) SITE_NCOLS };
#define SITE_COLS SITE_COLUMNS(DB_COL_SQL)
#define SITE_SEL "SELECT " SITE_COLS " FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"

static const char SQL_SITE_BY_CODE[] = SITE_SEL " WHERE s.code = $1 AND ou.path <@ $2::ltree";
static const char SQL_SITE_BY_ID[] = SITE_SEL " WHERE s.id = $1 AND ou.path <@ $2::ltree";
#define ITEM_COLUMNS(COL)                                                                          \
    COL(ITEM_ID, "id") COL(ITEM_CODE, ", code") COL(ITEM_NAME, ", name") COL(ITEM_UNIT, ", unit")
enum { ITEM_COLUMNS(DB_COL_NAME) ITEM_NCOLS };
#define ITEM_COLS ITEM_COLUMNS(DB_COL_SQL)
static const char SQL_ITEM_BY_CODE[] = "SELECT " ITEM_COLS " FROM items WHERE code = $1";
static const char SQL_ITEM_BY_ID[] = "SELECT " ITEM_COLS " FROM items WHERE id = $1";

/* The lookup of a site in the caller's scope, as a statement; GS_OK or a field error. */
static gs_code site_stmt(call *c, int64_t id, const char *code, const char *field, db_stmt *st,
                         db_res **r)
{
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, true, &by));
    bool by_code = by == GS_BY_CODE;
    *st = (db_stmt){by_code ? SQL_SITE_BY_CODE : SQL_SITE_BY_ID,
                    2,
                    {by_code ? code : call_i64(c, id), c->who.scope_path},
                    r};
    return GS_OK;
}

static gs_code site_read(call *c, int64_t id, const char *code, const db_res *r, stock_site *out)
{
    if (db_rows(r) == 0)
        return call_not_found(c, "site", id ? GS_BY_ID : GS_BY_CODE, id, code);
    out->id = db_i64(r, 0, SITE_ID);
    out->code = db_str(r, 0, SITE_CODE);
    out->name = db_str(r, 0, SITE_NAME);
    out->kind = db_str(r, 0, SITE_KIND);
    out->path = db_str(r, 0, SITE_PATH);
    out->active = db_bool(r, 0, SITE_ACTIVE);
    return GS_OK;
}

/* The lookup of an item as a statement; *none when it is optional and not given. */
static gs_code item_stmt(call *c, int64_t id, const char *code, const char *field, bool optional,
                         db_stmt *st, db_res **r, bool *none)
{
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, !optional, &by));
    *none = by == GS_BY_NONE;
    if (*none)
        return GS_OK;
    bool by_code = by == GS_BY_CODE;
    *st = (db_stmt){
        by_code ? SQL_ITEM_BY_CODE : SQL_ITEM_BY_ID, 1, {by_code ? code : call_i64(c, id)}, r};
    return GS_OK;
}

static gs_code item_read(call *c, int64_t id, const char *code, const db_res *r, stock_item *out)
{
    if (db_rows(r) == 0)
        return call_not_found(c, "item", id ? GS_BY_ID : GS_BY_CODE, id, code);
    out->id = db_i64(r, 0, ITEM_ID);
    out->code = db_str(r, 0, ITEM_CODE);
    out->name = db_str(r, 0, ITEM_NAME);
    out->unit = db_str(r, 0, ITEM_UNIT);
    return GS_OK;
}

gs_code stock_site_find(call *c, int64_t id, const char *code, const char *field, stock_site *out)
{
    db_stmt st;
    db_res *r = NULL;
    GS_TRY(site_stmt(c, id, code, field, &st, &r));
    GS_TRY(db_batch(c, &st, 1));
    return site_read(c, id, code, r, out);
}

gs_code stock_item_find(call *c, int64_t id, const char *code, const char *field, bool optional,
                        stock_item *out)
{
    db_stmt st;
    db_res *r = NULL;
    bool none;
    memset(out, 0, sizeof *out);
    GS_TRY(item_stmt(c, id, code, field, optional, &st, &r, &none));
    if (none)
        return GS_OK;
    GS_TRY(db_batch(c, &st, 1));
    return item_read(c, id, code, r, out);
}

gs_code stock_site_item_find(call *c, int64_t site_id, const char *site_code, int64_t item_id,
                             const char *item_code, bool item_optional, stock_site *s,
                             stock_item *it)
{
    db_stmt st[2];
    db_res *sr = NULL, *ir = NULL;
    bool none;
    memset(it, 0, sizeof *it);
    GS_TRY(site_stmt(c, site_id, site_code, "site_id", &st[0], &sr));
    GS_TRY(item_stmt(c, item_id, item_code, "item_id", item_optional, &st[1], &ir, &none));
    GS_TRY(db_batch(c, st, none ? 1 : 2));
    GS_TRY(site_read(c, site_id, site_code, sr, s));
    return none ? GS_OK : item_read(c, item_id, item_code, ir, it);
}

gs_code stock_area(call *c, int64_t org_unit_id, const char *org_unit_code, int64_t site_id,
                   const char *site_code, const char **path, int64_t *site_id_out)
{
    *site_id_out = 0;
    if (site_id || (site_code && *site_code)) {
        stock_site s;
        GS_TRY(stock_site_find(c, site_id, site_code, "site_id", &s));
        *site_id_out = s.id;
        *path = s.path;
        return GS_OK;
    }
    dir_unit u;
    GS_TRY(dir_unit_find(c, org_unit_id, org_unit_code, "org_unit_id", false, &u));
    *path = u.path;
    return GS_OK;
}

gs_code stock_check_lot_code(call *c, const char *field, const char *s, bool required)
{
    if (required)
        GS_TRY(v_required(c, field, s));
    return v_chars(c, field, s, 64, &GS_CS_LOT);
}

gs_code stock_check_ref(call *c, const char *type, int64_t id)
{
    size_t n = type ? strlen(type) : 0;
    GS_TRY(v_chars(c, "ref_type", type, 32, &GS_CS_REF_TYPE));
    GS_TRY(v_nonneg(c, "ref_id", id));
    if (id && n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "ref_type: required with ref_id");
    return GS_OK;
}

gs_code stock_check_text(call *c, const char *field, const char *s)
{
    return v_len(c, field, s, 500);
}

void stock_lot_from_row(Gridstock__V1__Lot *m, const db_res *r, int row)
{
    STOCK_LOT_COLUMNS(DB_COL_FILL)
}

void stock_movement_from_row(Gridstock__V1__Movement *m, const db_res *r,
                             int row){STOCK_MOVE_COLUMNS(DB_COL_FILL)}

gs_code stock_lot_load(call *c, int64_t id, Gridstock__V1__Lot *m)
{
    DB_LOAD(c, m, stock_lot_from_row, "lot", id,
            "SELECT " STOCK_LOT_COLS STOCK_LOT_FROM " WHERE l.id = $1", 1, call_i64(c, id));
    return GS_OK;
}

gs_code stock_movement_load(call *c, int64_t id, Gridstock__V1__Movement *m)
{
    DB_LOAD(c, m, stock_movement_from_row, "movement", id,
            "SELECT " STOCK_MOVE_COLS STOCK_MOVE_FROM " WHERE m.id = $1", 1, call_i64(c, id));
    return GS_OK;
}
