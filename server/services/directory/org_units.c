/* org_units.c — OrgUnitService: the district's org-unit tree (get, list, subtree for
 * display, subtree counts), always within the caller's scope. */
#include <inttypes.h>

#include "db.h"
#include "method.h"
#include "directory.h"

#include "gridstock/v1/org_units.pb-c.h"
#include "gridstock/v1/org_units.rpc.h"

/* The columns org_unit_from_row reads, from org_units ou LEFT JOIN org_units p (parent). */
#define OU_COLUMNS(COL)                                                                            \
    COL(OU_ID, "ou.id", id, i64)                                                                   \
    COL(OU_CODE, ", ou.code", code, str)                                                           \
    COL(OU_NAME, ", ou.name", name, str)                                                           \
    COL(OU_KIND, ", ou.kind", kind, str)                                                           \
    COL(OU_PARENT_ID, ", COALESCE(ou.parent_id, 0)", parent_id, i64)                               \
    COL(OU_PARENT_CODE, ", COALESCE(p.code, '')", parent_code, str)                                \
    COL(OU_PATH, ", ou.path::text", path, str)                                                     \
    COL(OU_LEVEL, ", nlevel(ou.path)", level, i32)                                                 \
    COL(OU_RESIDENTS, ", ou.residents", residents, i32)                                            \
    COL(OU_AREA_KM2, ", ou.area_km2::float8", area_km2, f64)                                       \
    COL(OU_CHILD_COUNT, ", (SELECT count(*) FROM org_units ch WHERE ch.parent_id = ou.id)",        \
        child_count, i32)
enum { OU_COLUMNS(DB_COL_NAME) OU_NCOLS };
#define OU_COLS OU_COLUMNS(DB_COL_SQL)
#define OU_FROM " FROM org_units ou LEFT JOIN org_units p ON p.id = ou.parent_id"

static void org_unit_from_row(Gridstock__V1__OrgUnit *m, const db_res *r, int row)
{
    OU_COLUMNS(DB_COL_FILL)
}

/* Fills `m` with the unit `id` (already known to be in scope). */
static gs_code org_unit_load(call *c, int64_t id, Gridstock__V1__OrgUnit *m)
{
    DB_LOAD(c, m, org_unit_from_row, "org unit", id, "SELECT " OU_COLS OU_FROM " WHERE ou.id = $1",
            1, call_i64(c, id));
    return GS_OK;
}

gs_code org_unit_get_org_unit(call *c, const Gridstock__V1__GetOrgUnitRequest *req,
                              Gridstock__V1__OrgUnit *resp)
{
    dir_unit u;

    GS_TRY(dir_unit_find(c, req->id, req->code, "id", true, &u));
    return org_unit_load(c, u.id, resp);
}

gs_code org_unit_list_org_units(call *c, const Gridstock__V1__ListOrgUnitsRequest *req,
                                Gridstock__V1__ListOrgUnitsResponse *resp)
{
    int64_t limit, after;
    const char *parent = NULL, *root = c->who.scope_path;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, dir_org_unit_kinds, false));
    GS_TRY(v_len(c, "name", req->name, 200));
    if (req->parent_id || *req->parent_code) {
        GS_TRY(dir_unit_find(c, req->parent_id, req->parent_code, "parent_id", true, &u));
        parent = call_i64(c, u.id);
    }
    if (req->root_id || *req->root_code) {
        GS_TRY(dir_unit_find(c, req->root_id, req->root_code, "root_id", true, &u));
        root = u.path;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT " OU_COLS OU_FROM " WHERE ou.path <@ $1::ltree AND ou.path <@ $2::ltree"
                   " AND ($3::bigint IS NULL OR ou.parent_id = $3::bigint)"
                   " AND ($4 = '' OR ou.kind = $4)"
                   " AND ($5 = '' OR strpos(lower(ou.name), lower($5)) > 0)"
                   " AND ou.id > $6::bigint ORDER BY ou.id LIMIT $7::bigint",
                   7, c->who.scope_path, root, parent, req->kind, req->name, call_i64(c, after),
                   call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, OU_ID, resp->next_page_token, resp->org_units, resp->n_org_units,
                 &gridstock__v1__org_unit__descriptor, org_unit_from_row);
    return GS_OK;
}

enum { TREE_MAX_NODES = 5000, TREE_DEFAULT_DEPTH = 2, TREE_MAX_DEPTH = 4 };

/* A tree node: the unit, then its depth below the root and what its subtree holds. */
#define TREE_COLUMNS(COL)                                                                          \
    COL(TREE_DEPTH, ", nlevel(ou.path) - nlevel($1::ltree)")                                       \
    COL(TREE_GRIDS, ", coalesce(g.n, 0)")                                                          \
    COL(TREE_COMPOUNDS, ", coalesce(cc.n, 0)")                                                     \
    COL(TREE_THREE_NO_COMPOUNDS, ", coalesce(cc.t, 0)")
enum { TREE_BEFORE_ = OU_NCOLS - 1, TREE_COLUMNS(DB_COL_NAME) TREE_NCOLS };
#define TREE_COLS TREE_COLUMNS(DB_COL_SQL)

gs_code org_unit_get_org_unit_tree(call *c, const Gridstock__V1__GetOrgUnitTreeRequest *req,
                                   Gridstock__V1__GetOrgUnitTreeResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_range(c, "max_depth", req->max_depth, 0, TREE_MAX_DEPTH));
    GS_TRY(dir_unit_find(c, req->id, req->code, "id", false, &u));
    int depth = req->max_depth ? req->max_depth : TREE_DEFAULT_DEPTH;
    /* Depth-first: ordering by the path's ids as numbers puts each node right after its
     * parent and siblings by id. Counts roll up over each node's own subtree, in one
     * aggregate pass: every grid and compound under the root counts once for each of its
     * ancestors in the tree (at most max_depth + 1). (A count per node made the cost the
     * number of nodes times the size of the subtree.) */
    GS_TRY(db_exec(c, &r,
                   "WITH g AS (SELECT subpath(x.path, 0, k) AS anc, count(*) AS n FROM org_units x,"
                   "   generate_series(nlevel($1::ltree), least(nlevel(x.path), nlevel($1::ltree) "
                   "+ $2::int)) k"
                   "   WHERE x.kind = 'grid' AND x.path <@ $1::ltree GROUP BY 1),"
                   " cc AS (SELECT subpath(cu.path, 0, k) AS anc, count(*) AS n,"
                   "   count(*) FILTER (WHERE cp.three_no) AS t"
                   "   FROM compounds cp JOIN org_units cu ON cu.id = cp.org_unit_id,"
                   "   generate_series(nlevel($1::ltree), least(nlevel(cu.path), nlevel($1::ltree) "
                   "+ $2::int)) k"
                   "   WHERE cu.path <@ $1::ltree GROUP BY 1)"
                   " SELECT " OU_COLS TREE_COLS OU_FROM
                   " LEFT JOIN g ON g.anc = ou.path LEFT JOIN cc ON cc.anc = ou.path"
                   " WHERE ou.path <@ $1::ltree AND nlevel(ou.path) <= nlevel($1::ltree) + $2::int"
                   " ORDER BY string_to_array(ou.path::text, '.')::bigint[] LIMIT $3::bigint",
                   3, u.path, call_i64(c, depth), call_i64(c, TREE_MAX_NODES + 1)));
    int rows = db_rows(r);
    if (rows > TREE_MAX_NODES) {
        rows = TREE_MAX_NODES;
        resp->truncated = true;
    }
    resp->n_nodes = (size_t)rows;
    resp->nodes = (Gridstock__V1__OrgUnitTreeNode **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__OrgUnitTreeNode *n =
            call_msg(c, &gridstock__v1__org_unit_tree_node__descriptor);
        n->org_unit = call_msg(c, &gridstock__v1__org_unit__descriptor);
        org_unit_from_row(n->org_unit, r, i);
        n->depth = db_i32(r, i, TREE_DEPTH);
        n->grids = db_i32(r, i, TREE_GRIDS);
        n->compounds = db_i32(r, i, TREE_COMPOUNDS);
        n->three_no_compounds = db_i32(r, i, TREE_THREE_NO_COMPOUNDS);
        resp->nodes[i] = n;
    }
    return GS_OK;
}

#define STATS_COLUMNS(COL)                                                                         \
    COL(STATS_STREETS, "count(*) FILTER (WHERE ou.kind = 'street')")                               \
    COL(STATS_COMMUNITIES, ", count(*) FILTER (WHERE ou.kind = 'community')")                      \
    COL(STATS_GRIDS, ", count(*) FILTER (WHERE ou.kind = 'grid')")                                 \
    COL(STATS_BUILDINGS, ", count(*) FILTER (WHERE ou.kind = 'building')")                         \
    COL(STATS_COMPOUNDS, ", (SELECT count(*) FROM compounds cp JOIN org_units cu ON cu.id = "      \
                         "cp.org_unit_id WHERE cu.path <@ $1::ltree)")                             \
    COL(STATS_THREE_NO_COMPOUNDS,                                                                  \
        ", (SELECT count(*) FROM compounds cp JOIN org_units cu ON cu.id = cp.org_unit_id WHERE "  \
        "cu.path <@ $1::ltree AND cp.three_no)")                                                   \
    COL(STATS_RESERVE_POINTS,                                                                      \
        ", (SELECT count(*) FILTER (WHERE s.kind = 'reserve_point') FROM sites s JOIN org_units "  \
        "su ON su.id = s.org_unit_id WHERE su.path <@ $1::ltree AND s.active)")                    \
    COL(STATS_CHARITY_STATIONS,                                                                    \
        ", (SELECT count(*) FILTER (WHERE s.kind = 'charity_station') FROM sites s JOIN "          \
        "org_units su ON su.id = s.org_unit_id WHERE su.path <@ $1::ltree AND s.active)")          \
    COL(STATS_SUPPLIER_MARKETS,                                                                    \
        ", (SELECT count(*) FILTER (WHERE s.kind = 'supplier_market') FROM sites s JOIN "          \
        "org_units su ON su.id = s.org_unit_id WHERE su.path <@ $1::ltree AND s.active)")          \
    COL(STATS_ACTIVE_USERS, ", (SELECT count(*) FROM users us JOIN org_units uu ON uu.id = "       \
                            "us.scope_id WHERE uu.path <@ $1::ltree AND us.active)")
enum { STATS_COLUMNS(DB_COL_NAME) STATS_NCOLS };
#define STATS_COLS STATS_COLUMNS(DB_COL_SQL)

gs_code org_unit_get_org_unit_stats(call *c, const Gridstock__V1__GetOrgUnitStatsRequest *req,
                                    Gridstock__V1__OrgUnitStats *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_unit_find(c, req->id, req->code, "id", false, &u));
    resp->org_unit = call_msg(c, &gridstock__v1__org_unit__descriptor);
    GS_TRY(org_unit_load(c, u.id, resp->org_unit));
    GS_TRY(db_exec(c, &r, "SELECT " STATS_COLS " FROM org_units ou WHERE ou.path <@ $1::ltree", 1,
                   u.path));
    resp->streets = db_i32(r, 0, STATS_STREETS);
    resp->communities = db_i32(r, 0, STATS_COMMUNITIES);
    resp->grids = db_i32(r, 0, STATS_GRIDS);
    resp->buildings = db_i32(r, 0, STATS_BUILDINGS);
    resp->compounds = db_i32(r, 0, STATS_COMPOUNDS);
    resp->three_no_compounds = db_i32(r, 0, STATS_THREE_NO_COMPOUNDS);
    resp->reserve_points = db_i32(r, 0, STATS_RESERVE_POINTS);
    resp->charity_stations = db_i32(r, 0, STATS_CHARITY_STATIONS);
    resp->supplier_markets = db_i32(r, 0, STATS_SUPPLIER_MARKETS);
    resp->active_users = db_i32(r, 0, STATS_ACTIVE_USERS);
    resp->residents = resp->org_unit->residents;
    resp->area_km2 = resp->org_unit->area_km2;
    return GS_OK;
}
