/* directory.c — helpers shared by the directory services (and used by the other
 * domains): scoped org-unit lookup, the district-wide scope check, update masks and
 * enumerated-value checks. */
#include "directory.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "db.h"

const char *const dir_org_unit_kinds[] = {"district", "street",   "community",
                                          "grid",     "building", NULL};
const char *const dir_site_kinds[] = {"reserve_point", "charity_station", "supplier_market", NULL};
const char *const dir_item_categories[] = {"water",   "food",  "medicine", "hygiene", "protection",
                                           "shelter", "tools", "power",    "other",   NULL};

#define UNIT_COLUMNS(COL)                                                                          \
    COL(UNIT_ID, "id")                                                                             \
    COL(UNIT_CODE, ", code")                                                                       \
    COL(UNIT_NAME, ", name")                                                                       \
    COL(UNIT_KIND, ", kind")                                                                       \
    COL(UNIT_PATH, ", path::text")
enum { UNIT_COLUMNS(DB_COL_NAME) UNIT_NCOLS };
#define UNIT_COLS UNIT_COLUMNS(DB_COL_SQL)

gs_code dir_unit_find(call *c, int64_t id, const char *code, const char *field, bool required,
                      dir_unit *out)
{
    db_res *r = NULL;
    gs_lookup by;
    GS_TRY(v_id_or_code(c, field, id, code, required, &by));
    if (by == GS_BY_NONE) /* not required and not given: the caller's own unit */
        id = c->who.scope_id;
    if (by == GS_BY_CODE) {
        GS_TRY(db_exec(c, &r,
                       "SELECT " UNIT_COLS " FROM org_units"
                       " WHERE code = $1 AND path <@ $2::ltree",
                       2, code, c->who.scope_path));
    } else {
        GS_TRY(db_exec(c, &r,
                       "SELECT " UNIT_COLS " FROM org_units"
                       " WHERE id = $1 AND path <@ $2::ltree",
                       2, call_i64(c, id), c->who.scope_path));
    }
    if (db_rows(r) == 0)
        return call_not_found(c, "org unit", by, id, code);
    out->id = db_i64(r, 0, UNIT_ID);
    out->code = db_str(r, 0, UNIT_CODE);
    out->name = db_str(r, 0, UNIT_NAME);
    out->kind = db_str(r, 0, UNIT_KIND);
    out->path = db_str(r, 0, UNIT_PATH);
    return GS_OK;
}

gs_code dir_mask_check(call *c, size_t n, char *const *mask, const char *const *allowed)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(mask[i], *a) == 0;
        if (!ok)
            return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: unknown field \"%.64s\"",
                             mask[i]);
    }
    return GS_OK;
}

bool dir_mask_has(size_t n, char *const *mask, const char *name, bool set)
{
    if (n == 0)
        return set;
    for (size_t i = 0; i < n; i++)
        if (strcmp(mask[i], name) == 0)
            return true;
    return false;
}

void dir_note(call *c, const char **list, const char *field)
{
    *list = *list ? call_printf(c, "%s, %s", *list, field) : field;
}

gs_code dir_enum(call *c, const char *field, const char *s, const char *const *allowed,
                 bool required)
{
    if (!s || !*s) {
        if (required)
            return call_fail(c, GS_INVALID_ARGUMENT, "%s: required", field);
        return GS_OK;
    }
    char list[256] = "";
    size_t used = 0;
    for (const char *const *a = allowed; *a; a++) {
        if (strcmp(s, *a) == 0)
            return GS_OK;
        int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *a);
        if (w > 0 && (size_t)w < sizeof list - used)
            used += (size_t)w;
    }
    return call_fail(c, GS_INVALID_ARGUMENT, "%s: \"%.64s\" is not one of %s", field, s, list);
}

gs_code dir_double_range(call *c, const char *field, double v, double lo, double hi)
{
    if (!isfinite(v) || v < lo || v > hi)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: must be between %g and %g, got %g", field, lo,
                         hi, v);
    return GS_OK;
}

const char *dir_f64(call *c, double v)
{
    return call_printf(c, "%.17g", v);
}

gs_code dir_require_district(call *c, const char *what)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT parent_id IS NULL FROM org_units WHERE id = $1", 1,
                   call_i64(c, c->who.scope_id)));
    if (db_rows(r) == 0 || !db_one_bool(r, 0))
        return call_fail(c, GS_PERMISSION_DENIED, "%s: it needs a district-wide scope", what);
    return GS_OK;
}
