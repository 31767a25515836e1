/* compounds.c — CompoundService: residential compounds and their "three-no" flags,
 * within the caller's scope. */
#include <inttypes.h>

#include "db.h"
#include "method.h"
#include "directory.h"

#include "gridstock/v1/compounds.pb-c.h"
#include "gridstock/v1/compounds.rpc.h"

/* The columns compound_from_row reads, from compounds cp JOIN org_units ou. */
#define CP_COLUMNS(COL)                                                                            \
    COL(CP_ID, "cp.id", id, i64)                                                                   \
    COL(CP_CODE, ", cp.code", code, str)                                                           \
    COL(CP_NAME, ", cp.name", name, str)                                                           \
    COL(CP_ORG_UNIT_ID, ", cp.org_unit_id", org_unit_id, i64)                                      \
    COL(CP_ORG_UNIT_CODE, ", ou.code", org_unit_code, str)                                         \
    COL(CP_ORG_UNIT_NAME, ", ou.name", org_unit_name, str)                                         \
    COL(CP_ADDRESS, ", cp.address", address, str)                                                  \
    COL(CP_BUILDINGS, ", cp.buildings", buildings, i32)                                            \
    COL(CP_HOUSEHOLDS, ", cp.households", households, i32)                                         \
    COL(CP_NO_PROPERTY_MGMT, ", cp.no_property_mgmt", no_property_mgmt, bool)                      \
    COL(CP_NO_COMPETENT_DEPT, ", cp.no_competent_dept", no_competent_dept, bool)                   \
    COL(CP_NO_CIVIL_DEFENCE, ", cp.no_civil_defence", no_civil_defence, bool)                      \
    COL(CP_THREE_NO, ", cp.three_no", three_no, bool)
enum { CP_COLUMNS(DB_COL_NAME) CP_NCOLS };
#define CP_COLS CP_COLUMNS(DB_COL_SQL)
#define CP_FROM " FROM compounds cp JOIN org_units ou ON ou.id = cp.org_unit_id"

static void compound_from_row(Gridstock__V1__Compound *m, const db_res *r,
                              int row){CP_COLUMNS(DB_COL_FILL)}

gs_code compound_get_compound(call *c, const Gridstock__V1__GetCompoundRequest *req,
                              Gridstock__V1__Compound *resp)
{
    if (req->id < 0)
        return v_positive(c, "id", req->id);
    if (req->id) {
        DB_LOAD(c, resp, compound_from_row, "compound", req->id,
                "SELECT " CP_COLS CP_FROM " WHERE cp.id = $1 AND ou.path <@ $2::ltree", 2,
                call_i64(c, req->id), c->who.scope_path);
        return GS_OK;
    }
    GS_TRY(v_required(c, "id", req->code)); /* neither id nor code */
    GS_TRY(v_len(c, "code", req->code, 64));
    DB_LOAD_BY(c, resp, compound_from_row, "compound", GS_BY_CODE, 0, req->code,
               "SELECT " CP_COLS CP_FROM " WHERE cp.code = $1 AND ou.path <@ $2::ltree", 2,
               req->code, c->who.scope_path);
    return GS_OK;
}

gs_code compound_list_compounds(call *c, const Gridstock__V1__ListCompoundsRequest *req,
                                Gridstock__V1__ListCompoundsResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "name", req->name, 200));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " CP_COLS CP_FROM " WHERE ou.path <@ $1::ltree"
                   " AND (NOT $2::bool OR cp.three_no)"
                   " AND ($3 = '' OR strpos(lower(cp.name), lower($3)) > 0)"
                   " AND cp.id > $4::bigint ORDER BY cp.id LIMIT $5::bigint",
                   5, u.path, req->three_no_only ? "true" : "false", req->name, call_i64(c, after),
                   call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, CP_ID, resp->next_page_token, resp->compounds, resp->n_compounds,
                 &gridstock__v1__compound__descriptor, compound_from_row);
    return GS_OK;
}
