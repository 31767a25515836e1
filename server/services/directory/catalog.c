/* catalog.c — CatalogService: the district-wide material catalog, and per site and
 * item the reorder point and par level that drive restocking (sites within scope). */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "method.h"
#include "directory.h"

#include "gridstock/v1/catalog.pb-c.h"
#include "gridstock/v1/catalog.rpc.h"

/* The columns item_from_row reads, from items i. */
#define ITEM_COLUMNS(COL)                                                                          \
    COL(ITEM_ID, "i.id", id, i64)                                                                  \
    COL(ITEM_CODE, ", i.code", code, str)                                                          \
    COL(ITEM_NAME, ", i.name", name, str)                                                          \
    COL(ITEM_CATEGORY, ", i.category", category, str)                                              \
    COL(ITEM_UNIT, ", i.unit", unit, str)                                                          \
    COL(ITEM_SHELF_LIFE_DAYS, ", COALESCE(i.shelf_life_days, 0)", shelf_life_days, i32)            \
    COL(ITEM_ACTIVE, ", i.active", active, bool)                                                   \
    COL(ITEM_CREATED_AT, ", " DIR_TS("i.created_at"), created_at, str)                             \
    COL(ITEM_UPDATED_AT, ", " DIR_TS("i.updated_at"), updated_at, str)
enum { ITEM_COLUMNS(DB_COL_NAME) ITEM_NCOLS };
#define ITEM_COLS ITEM_COLUMNS(DB_COL_SQL)

/* The columns level_from_row reads. */
#define LEVEL_COLUMNS(COL)                                                                         \
    COL(LEVEL_SITE_ID, "si.site_id", site_id, i64)                                                 \
    COL(LEVEL_SITE_CODE, ", s.code", site_code, str)                                               \
    COL(LEVEL_ITEM_ID, ", si.item_id", item_id, i64)                                               \
    COL(LEVEL_ITEM_CODE, ", i.code", item_code, str)                                               \
    COL(LEVEL_ITEM_NAME, ", i.name", item_name, str)                                               \
    COL(LEVEL_UNIT, ", i.unit", unit, str)                                                         \
    COL(LEVEL_REORDER_POINT, ", si.reorder_point", reorder_point, i64)                             \
    COL(LEVEL_PAR_LEVEL, ", si.par_level", par_level, i64)                                         \
    COL(LEVEL_UPDATED_AT, ", " DIR_TS("si.updated_at"), updated_at, str)
enum { LEVEL_COLUMNS(DB_COL_NAME) LEVEL_NCOLS };
#define LEVEL_COLS LEVEL_COLUMNS(DB_COL_SQL)
#define LEVEL_FROM                                                                                 \
    " FROM site_items si JOIN sites s ON s.id = si.site_id JOIN items i ON i.id = si.item_id"

enum { SHELF_LIFE_MAX_DAYS = 36500 };

static void item_from_row(Gridstock__V1__Item *m, const db_res *r, int row)
{
    ITEM_COLUMNS(DB_COL_FILL)
}

static void level_from_row(Gridstock__V1__SiteItemLevel *m, const db_res *r, int row)
{
    LEVEL_COLUMNS(DB_COL_FILL)
}

/* Finds item `id` (or `code` when id is 0); `field` names the id field in errors. */
static gs_code item_find(call *c, int64_t id, const char *code, const char *field,
                         Gridstock__V1__Item *m)
{
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, true, &by));
    if (by == GS_BY_ID)
        DB_LOAD_BY(c, m, item_from_row, "item", by, id, code,
                   "SELECT " ITEM_COLS " FROM items i WHERE i.id = $1", 1, call_i64(c, id));
    else
        DB_LOAD_BY(c, m, item_from_row, "item", by, id, code,
                   "SELECT " ITEM_COLS " FROM items i WHERE i.code = $1", 1, code);
    return GS_OK;
}

#define SCOPED_SITE_COLUMNS(COL)                                                                   \
    COL(SSITE_ID, "s.id")                                                                          \
    COL(SSITE_CODE, ", s.code")
enum { SCOPED_SITE_COLUMNS(DB_COL_NAME) SSITE_NCOLS };
#define SCOPED_SITE_COLS SCOPED_SITE_COLUMNS(DB_COL_SQL)

/* Finds site `id` (or `code` when id is 0) in the caller's scope. */
static gs_code site_find(call *c, int64_t id, const char *code, const char *field, int64_t *site_id,
                         const char **site_code)
{
    db_res *r = NULL;
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, true, &by));
    if (by == GS_BY_ID)
        GS_TRY(db_find(c, &r, "site", by, id, code,
                       "SELECT " SCOPED_SITE_COLS
                       " FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"
                       " WHERE s.id = $1 AND ou.path <@ $2::ltree",
                       2, call_i64(c, id), c->who.scope_path));
    else
        GS_TRY(db_find(c, &r, "site", by, id, code,
                       "SELECT " SCOPED_SITE_COLS
                       " FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"
                       " WHERE s.code = $1 AND ou.path <@ $2::ltree",
                       2, code, c->who.scope_path));
    *site_id = db_i64(r, 0, SSITE_ID);
    *site_code = db_str(r, 0, SSITE_CODE);
    return GS_OK;
}

/* The catalog is the district's: only a user whose scope is the district writes items. */
static gs_code check_district_scope(call *c)
{
    if (strchr(c->who.scope_path, '.'))
        return call_fail(c, GS_PERMISSION_DENIED,
                         "the catalog is district-wide: only a user whose scope is the district"
                         " may create or change items");
    return GS_OK;
}

static gs_code check_item_fields(call *c, const char *name, const char *category, const char *unit,
                                 int32_t shelf_life_days)
{
    GS_TRY(v_required(c, "name", name));
    GS_TRY(v_len(c, "name", name, 200));
    GS_TRY(dir_enum(c, "category", category, dir_item_categories, true));
    GS_TRY(v_required(c, "unit", unit));
    GS_TRY(v_len(c, "unit", unit, 32));
    GS_TRY(v_range(c, "shelf_life_days", shelf_life_days, 0, SHELF_LIFE_MAX_DAYS));
    return GS_OK;
}

gs_code catalog_create_item(call *c, const Gridstock__V1__CreateItemRequest *req,
                            Gridstock__V1__Item *resp)
{
    db_res *r = NULL;

    GS_TRY(check_district_scope(c));
    GS_TRY(v_code(c, "code", req->code));
    GS_TRY(check_item_fields(c, req->name, req->category, req->unit, req->shelf_life_days));
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO items (code, name, category, unit, shelf_life_days)"
                   " VALUES ($1, $2, $3, $4, NULLIF($5::int, 0)) RETURNING id",
                   5, req->code, req->name, req->category, req->unit,
                   call_i64(c, req->shelf_life_days)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(item_find(c, id, NULL, "id", resp));
    c->audit_object = call_printf(c, "item:%" PRId64, id);
    c->audit_summary = call_printf(c, "created item %s \"%s\" (%s, per %s)", resp->code, resp->name,
                                   resp->category, resp->unit);
    return GS_OK;
}

static const char *const item_mask_fields[] = {"name",   "category", "unit", "shelf_life_days",
                                               "active", NULL};

gs_code catalog_update_item(call *c, const Gridstock__V1__UpdateItemRequest *req,
                            Gridstock__V1__Item *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *p[6] = {0};
    const char *changed = NULL;
    db_res *r = NULL;

    GS_TRY(check_district_scope(c));
    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(dir_mask_check(c, nm, mask, item_mask_fields));
    GS_TRY(
        db_exec(c, &r, "SELECT id FROM items WHERE id = $1 FOR UPDATE", 1, call_i64(c, req->id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "item %" PRId64 " not found", req->id);

    if (dir_mask_has(nm, mask, "name", *req->name)) {
        GS_TRY(v_required(c, "name", req->name));
        GS_TRY(v_len(c, "name", req->name, 200));
        p[1] = req->name;
        dir_note(c, &changed, "name");
    }
    if (dir_mask_has(nm, mask, "category", *req->category)) {
        GS_TRY(dir_enum(c, "category", req->category, dir_item_categories, true));
        p[2] = req->category;
        dir_note(c, &changed, "category");
    }
    if (dir_mask_has(nm, mask, "unit", *req->unit)) {
        GS_TRY(v_required(c, "unit", req->unit));
        GS_TRY(v_len(c, "unit", req->unit, 32));
        p[3] = req->unit;
        dir_note(c, &changed, "unit");
    }
    if (dir_mask_has(nm, mask, "shelf_life_days", req->shelf_life_days != 0)) {
        GS_TRY(v_range(c, "shelf_life_days", req->shelf_life_days, 0, SHELF_LIFE_MAX_DAYS));
        p[4] = call_i64(c, req->shelf_life_days);
        dir_note(c, &changed, "shelf_life_days");
    }
    if (dir_mask_has(nm, mask, "active", req->active)) {
        p[5] = req->active ? "true" : "false";
        dir_note(c, &changed, "active");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");

    p[0] = call_i64(c, req->id);
    GS_TRY(db_execv(c, NULL,
                    "UPDATE items SET name = COALESCE($2, name),"
                    " category = COALESCE($3, category), unit = COALESCE($4, unit),"
                    " shelf_life_days = CASE WHEN $5::int IS NULL THEN shelf_life_days"
                    "   ELSE NULLIF($5::int, 0) END,"
                    " active = COALESCE($6::bool, active), updated_at = now()"
                    " WHERE id = $1::bigint",
                    6, p));
    GS_TRY(item_find(c, req->id, NULL, "id", resp));
    c->audit_object = call_printf(c, "item:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "updated item %s: %s", resp->code, changed);
    return GS_OK;
}

gs_code catalog_get_item(call *c, const Gridstock__V1__GetItemRequest *req,
                         Gridstock__V1__Item *resp)
{
    return item_find(c, req->id, req->code, "id", resp);
}

gs_code catalog_list_items(call *c, const Gridstock__V1__ListItemsRequest *req,
                           Gridstock__V1__ListItemsResponse *resp)
{
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "query", req->query, 200));
    GS_TRY(dir_enum(c, "category", req->category, dir_item_categories, false));
    GS_TRY(db_exec(c, &r,
                   "SELECT " ITEM_COLS " FROM items i WHERE ($1 = '' OR i.category = $1)"
                   " AND ($2 = '' OR strpos(lower(i.code), lower($2)) > 0"
                   "      OR strpos(lower(i.name), lower($2)) > 0)"
                   " AND ($3::bool OR i.active)"
                   " AND i.id > $4::bigint ORDER BY i.id LIMIT $5::bigint",
                   5, req->category, req->query, req->include_inactive ? "true" : "false",
                   call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, ITEM_ID, resp->next_page_token, resp->items, resp->n_items,
                 &gridstock__v1__item__descriptor, item_from_row);
    return GS_OK;
}

gs_code catalog_set_site_item_level(call *c, const Gridstock__V1__SetSiteItemLevelRequest *req,
                                    Gridstock__V1__SiteItemLevel *resp)
{
    Gridstock__V1__Item item = GRIDSTOCK__V1__ITEM__INIT;
    int64_t site_id;
    const char *site_code;
    db_res *r = NULL;

    GS_TRY(v_nonneg(c, "reorder_point", req->reorder_point));
    GS_TRY(v_nonneg(c, "par_level", req->par_level));
    if (req->par_level < req->reorder_point)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "par_level: must be at least reorder_point (%" PRId64 "), got %" PRId64,
                         req->reorder_point, req->par_level);
    GS_TRY(site_find(c, req->site_id, req->site_code, "site_id", &site_id, &site_code));
    GS_TRY(item_find(c, req->item_id, req->item_code, "item_id", &item));
    if (!item.active)
        return call_fail(c, GS_FAILED_PRECONDITION, "item %s is inactive", item.code);

    GS_TRY(db_exec(c, NULL,
                   "INSERT INTO site_items (site_id, item_id, reorder_point, par_level)"
                   " VALUES ($1, $2, $3, $4) ON CONFLICT (site_id, item_id) DO UPDATE"
                   " SET reorder_point = EXCLUDED.reorder_point, par_level = EXCLUDED.par_level,"
                   " updated_at = now()",
                   4, call_i64(c, site_id), call_i64(c, item.id), call_i64(c, req->reorder_point),
                   call_i64(c, req->par_level)));
    GS_TRY(db_exec(c, &r,
                   "SELECT " LEVEL_COLS LEVEL_FROM " WHERE si.site_id = $1 AND si.item_id = $2", 2,
                   call_i64(c, site_id), call_i64(c, item.id)));
    level_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "site:%" PRId64 "/item:%" PRId64, site_id, item.id);
    c->audit_summary = call_printf(c, "%s at %s: reorder point %" PRId64 ", par level %" PRId64,
                                   item.code, site_code, req->reorder_point, req->par_level);
    return GS_OK;
}

gs_code catalog_list_site_item_levels(call *c, const Gridstock__V1__ListSiteItemLevelsRequest *req,
                                      Gridstock__V1__ListSiteItemLevelsResponse *resp)
{
    int64_t limit, after, site_id;
    const char *site_code;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(site_find(c, req->site_id, req->site_code, "site_id", &site_id, &site_code));
    GS_TRY(db_exec(c, &r,
                   "SELECT " LEVEL_COLS LEVEL_FROM " WHERE si.site_id = $1"
                   " AND si.item_id > $2::bigint ORDER BY si.item_id LIMIT $3::bigint",
                   3, call_i64(c, site_id), call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, LEVEL_ITEM_ID, resp->next_page_token, resp->levels, resp->n_levels,
                 &gridstock__v1__site_item_level__descriptor, level_from_row);
    return GS_OK;
}
