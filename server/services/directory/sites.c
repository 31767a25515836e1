/* sites.c — SiteService: reserve points, charity stations and supplier markets;
 * create, change, deactivate, look up, list, and find the nearest (earthdistance). */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "method.h"
#include "directory.h"

#include "gridstock/v1/sites.pb-c.h"
#include "gridstock/v1/sites.rpc.h"

/* The columns site_from_row reads, from sites s JOIN org_units ou. */
#define SITE_COLUMNS(COL)                                                                          \
    COL(SITE_ID, "s.id", id, i64)                                                                  \
    COL(SITE_CODE, ", s.code", code, str)                                                          \
    COL(SITE_NAME, ", s.name", name, str)                                                          \
    COL(SITE_KIND, ", s.kind", kind, str)                                                          \
    COL(SITE_ORG_UNIT_ID, ", s.org_unit_id", org_unit_id, i64)                                     \
    COL(SITE_ORG_UNIT_CODE, ", ou.code", org_unit_code, str)                                       \
    COL(SITE_ORG_UNIT_NAME, ", ou.name", org_unit_name, str)                                       \
    COL(SITE_ADDRESS, ", s.address", address, str)                                                 \
    COL(SITE_LAT, ", s.lat", lat, f64)                                                             \
    COL(SITE_LON, ", s.lon", lon, f64)                                                             \
    COL(SITE_CAPACITY_M3, ", s.capacity_m3", capacity_m3, i32)                                     \
    COL(SITE_CONTACT_NAME, ", s.contact_name", contact_name, str)                                  \
    COL(SITE_CONTACT_PHONE, ", s.contact_phone", contact_phone, str)                               \
    COL(SITE_OPENING_HOURS, ", s.opening_hours", opening_hours, str)                               \
    COL(SITE_ACTIVE, ", s.active", active, bool)                                                   \
    COL(SITE_CREATED_AT, ", " DIR_TS("s.created_at"), created_at, str)                             \
    COL(SITE_UPDATED_AT, ", " DIR_TS("s.updated_at"), updated_at, str)
enum { SITE_COLUMNS(DB_COL_NAME) SITE_NCOLS };
#define SITE_COLS SITE_COLUMNS(DB_COL_SQL)
#define SITE_FROM " FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"

enum { NEAREST_DEFAULT = 10, NEAREST_MAX = 100 };

static void site_from_row(Gridstock__V1__Site *m, const db_res *r, int row)
{
    SITE_COLUMNS(DB_COL_FILL)
}

/* Fills `m` with site `id` if it is in the caller's scope, locking it when `lock`. */
static gs_code site_load(call *c, int64_t id, bool lock, Gridstock__V1__Site *m)
{
    GS_TRY(v_positive(c, "id", id));
    if (lock)
        DB_LOAD(c, m, site_from_row, "site", id,
                "SELECT " SITE_COLS SITE_FROM " WHERE s.id = $1 AND ou.path <@ $2::ltree"
                " FOR UPDATE OF s",
                2, call_i64(c, id), c->who.scope_path);
    else
        DB_LOAD(c, m, site_from_row, "site", id,
                "SELECT " SITE_COLS SITE_FROM " WHERE s.id = $1 AND ou.path <@ $2::ltree", 2,
                call_i64(c, id), c->who.scope_path);
    return GS_OK;
}

/* Checks the free-text fields a create or update sets. */
static gs_code check_text_fields(call *c, const char *address, const char *contact_name,
                                 const char *contact_phone, const char *opening_hours)
{
    GS_TRY(v_len(c, "address", address, 500));
    GS_TRY(v_len(c, "contact_name", contact_name, 200));
    GS_TRY(v_len(c, "contact_phone", contact_phone, 32));
    GS_TRY(v_len(c, "opening_hours", opening_hours, 200));
    return GS_OK;
}

gs_code site_create_site(call *c, const Gridstock__V1__CreateSiteRequest *req,
                         Gridstock__V1__Site *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_code(c, "code", req->code));
    GS_TRY(v_required(c, "name", req->name));
    GS_TRY(v_len(c, "name", req->name, 200));
    GS_TRY(dir_enum(c, "kind", req->kind, dir_site_kinds, true));
    GS_TRY(dir_double_range(c, "lat", req->lat, -90, 90));
    GS_TRY(dir_double_range(c, "lon", req->lon, -180, 180));
    GS_TRY(v_nonneg(c, "capacity_m3", req->capacity_m3));
    GS_TRY(check_text_fields(c, req->address, req->contact_name, req->contact_phone,
                             req->opening_hours));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", true, &u));

    GS_TRY(db_exec(c, &r,
                   "INSERT INTO sites (code, name, kind, org_unit_id, address, lat, lon,"
                   " capacity_m3, contact_name, contact_phone, opening_hours)"
                   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                   11, req->code, req->name, req->kind, call_i64(c, u.id), req->address,
                   dir_f64(c, req->lat), dir_f64(c, req->lon), call_i64(c, req->capacity_m3),
                   req->contact_name, req->contact_phone, req->opening_hours));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(site_load(c, id, false, resp));
    c->audit_object = call_printf(c, "site:%" PRId64, id);
    c->audit_summary =
        call_printf(c, "created %s %s \"%s\" in %s", resp->kind, resp->code, resp->name, u.code);
    return GS_OK;
}

static const char *const site_mask_fields[] = {
    "name",         "kind",          "org_unit",      "address", "location", "capacity_m3",
    "contact_name", "contact_phone", "opening_hours", "active",  NULL};

gs_code site_update_site(call *c, const Gridstock__V1__UpdateSiteRequest *req,
                         Gridstock__V1__Site *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *p[12] = {0};
    const char *changed = NULL;
    db_res *r = NULL;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(dir_mask_check(c, nm, mask, site_mask_fields));
    GS_TRY(site_load(c, req->id, true, resp)); /* NOT_FOUND outside the scope */

    if (dir_mask_has(nm, mask, "name", *req->name)) {
        GS_TRY(v_required(c, "name", req->name));
        GS_TRY(v_len(c, "name", req->name, 200));
        p[1] = req->name;
        dir_note(c, &changed, "name");
    }
    if (dir_mask_has(nm, mask, "kind", *req->kind)) {
        GS_TRY(dir_enum(c, "kind", req->kind, dir_site_kinds, true));
        p[2] = req->kind;
        dir_note(c, &changed, "kind");
    }
    if (dir_mask_has(nm, mask, "org_unit", req->org_unit_id || *req->org_unit_code)) {
        dir_unit u;
        GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", true, &u));
        p[3] = call_i64(c, u.id);
        dir_note(c, &changed, "org_unit");
    }
    if (dir_mask_has(nm, mask, "address", *req->address)) {
        GS_TRY(v_len(c, "address", req->address, 500));
        p[4] = req->address;
        dir_note(c, &changed, "address");
    }
    if (dir_mask_has(nm, mask, "location", req->lat != 0 || req->lon != 0)) {
        GS_TRY(dir_double_range(c, "lat", req->lat, -90, 90));
        GS_TRY(dir_double_range(c, "lon", req->lon, -180, 180));
        p[5] = dir_f64(c, req->lat);
        p[6] = dir_f64(c, req->lon);
        dir_note(c, &changed, "location");
    }
    if (dir_mask_has(nm, mask, "capacity_m3", req->capacity_m3 != 0)) {
        GS_TRY(v_nonneg(c, "capacity_m3", req->capacity_m3));
        p[7] = call_i64(c, req->capacity_m3);
        dir_note(c, &changed, "capacity_m3");
    }
    if (dir_mask_has(nm, mask, "contact_name", *req->contact_name)) {
        GS_TRY(v_len(c, "contact_name", req->contact_name, 200));
        p[8] = req->contact_name;
        dir_note(c, &changed, "contact_name");
    }
    if (dir_mask_has(nm, mask, "contact_phone", *req->contact_phone)) {
        GS_TRY(v_len(c, "contact_phone", req->contact_phone, 32));
        p[9] = req->contact_phone;
        dir_note(c, &changed, "contact_phone");
    }
    if (dir_mask_has(nm, mask, "opening_hours", *req->opening_hours)) {
        GS_TRY(v_len(c, "opening_hours", req->opening_hours, 200));
        p[10] = req->opening_hours;
        dir_note(c, &changed, "opening_hours");
    }
    if (dir_mask_has(nm, mask, "active", req->active)) {
        p[11] = req->active ? "true" : "false";
        dir_note(c, &changed, "active");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");

    p[0] = call_i64(c, req->id);
    GS_TRY(db_execv(c, &r,
                    "UPDATE sites SET name = COALESCE($2, name), kind = COALESCE($3, kind),"
                    " org_unit_id = COALESCE($4::bigint, org_unit_id),"
                    " address = COALESCE($5, address), lat = COALESCE($6::float8, lat),"
                    " lon = COALESCE($7::float8, lon),"
                    " capacity_m3 = COALESCE($8::int, capacity_m3),"
                    " contact_name = COALESCE($9, contact_name),"
                    " contact_phone = COALESCE($10, contact_phone),"
                    " opening_hours = COALESCE($11, opening_hours),"
                    " active = COALESCE($12::bool, active), updated_at = now()"
                    " WHERE id = $1::bigint",
                    12, p));
    GS_TRY(site_load(c, req->id, false, resp));
    c->audit_object = call_printf(c, "site:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "updated site %s: %s", resp->code, changed);
    return GS_OK;
}

gs_code site_deactivate_site(call *c, const Gridstock__V1__DeactivateSiteRequest *req,
                             Gridstock__V1__Site *resp)
{
    GS_TRY(site_load(c, req->id, true, resp));
    c->audit_object = call_printf(c, "site:%" PRId64, req->id);
    if (!resp->active) {
        c->audit_summary = call_printf(c, "site %s was already inactive", resp->code);
        return GS_OK;
    }
    GS_TRY(db_exec(c, NULL, "UPDATE sites SET active = false, updated_at = now() WHERE id = $1", 1,
                   call_i64(c, req->id)));
    GS_TRY(site_load(c, req->id, false, resp));
    c->audit_summary = call_printf(c, "deactivated site %s", resp->code);
    return GS_OK;
}

gs_code site_get_site(call *c, const Gridstock__V1__GetSiteRequest *req, Gridstock__V1__Site *resp)
{
    if (req->id || !*req->code) {
        if (!req->id)
            return call_fail(c, GS_INVALID_ARGUMENT, "id: required (id or code)");
        return site_load(c, req->id, false, resp);
    }
    GS_TRY(v_len(c, "code", req->code, 64));
    DB_LOAD_BY(c, resp, site_from_row, "site", GS_BY_CODE, 0, req->code,
               "SELECT " SITE_COLS SITE_FROM " WHERE s.code = $1 AND ou.path <@ $2::ltree", 2,
               req->code, c->who.scope_path);
    return GS_OK;
}

gs_code site_list_sites(call *c, const Gridstock__V1__ListSitesRequest *req,
                        Gridstock__V1__ListSitesResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, dir_site_kinds, false));
    GS_TRY(v_len(c, "name", req->name, 200));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " SITE_COLS SITE_FROM " WHERE ou.path <@ $1::ltree"
                   " AND ($2 = '' OR s.kind = $2) AND ($3::bool OR s.active)"
                   " AND ($4 = '' OR strpos(lower(s.name), lower($4)) > 0)"
                   " AND s.id > $5::bigint ORDER BY s.id LIMIT $6::bigint",
                   6, u.path, req->kind, req->include_inactive ? "true" : "false", req->name,
                   call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, SITE_ID, resp->next_page_token, resp->sites, resp->n_sites,
                 &gridstock__v1__site__descriptor, site_from_row);
    return GS_OK;
}

/* A nearby site: the site, then its distance in metres from the point asked about. */
#define NEAREST_COLUMNS(COL)                                                                       \
    COL(NEAREST_DISTANCE_M,                                                                        \
        ", earth_distance(ll_to_earth($1::float8, $2::float8), ll_to_earth(s.lat, s.lon))")
enum { NEAREST_BEFORE_ = SITE_NCOLS - 1, NEAREST_COLUMNS(DB_COL_NAME) NEAREST_NCOLS };
#define NEAREST_COLS NEAREST_COLUMNS(DB_COL_SQL)

gs_code site_nearest_sites(call *c, const Gridstock__V1__NearestSitesRequest *req,
                           Gridstock__V1__NearestSitesResponse *resp)
{
    db_res *r = NULL;

    GS_TRY(dir_double_range(c, "lat", req->lat, -90, 90));
    GS_TRY(dir_double_range(c, "lon", req->lon, -180, 180));
    GS_TRY(dir_enum(c, "kind", req->kind, dir_site_kinds, false));
    GS_TRY(v_range(c, "limit", req->limit, 0, NEAREST_MAX));
    GS_TRY(dir_double_range(c, "max_km", req->max_km, 0, 20000));
    int limit = req->limit ? req->limit : NEAREST_DEFAULT;
    /* `<->` on the earth cubes orders by chord length, which orders like the great-circle
     * distance and lets the sites_earth gist index (on site_earth, migration 080) answer
     * nearest-first; earth_box narrows to the radius through the same index. */
    GS_TRY(db_exec(c, &r,
                   "SELECT " SITE_COLS NEAREST_COLS SITE_FROM
                   " WHERE ou.path <@ $3::ltree AND s.active"
                   " AND ($4 = '' OR s.kind = $4)"
                   " AND ($5::float8 <= 0 OR (earth_box(ll_to_earth($1::float8, $2::float8),"
                   "   $5::float8) @> site_earth(s.lat, s.lon)"
                   "  AND earth_distance(ll_to_earth($1::float8, $2::float8),"
                   "   ll_to_earth(s.lat, s.lon)) <= $5::float8))"
                   " ORDER BY site_earth(s.lat, s.lon) <-> ll_to_earth($1::float8, $2::float8),"
                   " s.id LIMIT $6::int",
                   6, dir_f64(c, req->lat), dir_f64(c, req->lon), c->who.scope_path, req->kind,
                   dir_f64(c, req->max_km * 1000.0), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->n_results = (size_t)rows;
    resp->results = (Gridstock__V1__SiteDistance **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__SiteDistance *d = call_msg(c, &gridstock__v1__site_distance__descriptor);
        d->site = call_msg(c, &gridstock__v1__site__descriptor);
        site_from_row(d->site, r, i);
        d->distance_m = db_f64(r, i, NEAREST_DISTANCE_M);
        resp->results[i] = d;
    }
    return GS_OK;
}
