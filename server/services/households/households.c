/* households.c — HouseholdService: the household register community staff keep for their
 * grids (register, update, move, get, list). The head's ID number is hashed with the
 * server's household key (personal_id.h) before anything reaches the database; the
 * register's rules (one household per identity across the district, a grid only through a
 * move, the audit without personal data) are 070_households.sql's. Audit summaries name
 * households by id and grid only. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "directory/directory.h"
#include "households.h"
#include "personal_id.h"

#include "gridstock/v1/households.pb-c.h"
#include "gridstock/v1/households.rpc.h"

static const char *const need_names[] = {"elderly_alone", "disabled_member", "low_income",
                                         "infant",        "chronic_illness", NULL};

static const char *actor(call *c)
{
    return call_i64(c, c->who.user_id);
}

static const char *flag(bool b)
{
    return b ? "true" : "false";
}

#define HH_COLUMNS(COL)                                                                            \
    COL(HH_ID, "h.id", id, i64)                                                                    \
    COL(HH_GRID_ID, ", h.grid_id", grid_id, i64)                                                   \
    COL(HH_GRID_CODE, ", g.code", grid_code, str)                                                  \
    COL(HH_GRID_NAME, ", g.name", grid_name, str)                                                  \
    COL(HH_COMMUNITY_CODE, ", coalesce(cm.code, '')", community_code, str)                         \
    COL(HH_HEAD_NAME, ", h.head_name", head_name, str)                                             \
    COL(HH_MEMBERS, ", h.members", members, i32)                                                   \
    COL(HH_COMPOUND_ID, ", coalesce(h.compound_id, 0)", compound_id, i64)                          \
    COL(HH_COMPOUND_CODE, ", coalesce(co.code, '')", compound_code, str)                           \
    COL(HH_BUILDING, ", h.building", building, str)                                                \
    COL(HH_CONTACT, ", h.contact", contact, str)                                                   \
    COL(HH_ELDERLY_ALONE, ", h.elderly_alone", _, none)                                            \
    COL(HH_DISABLED_MEMBER, ", h.disabled_member", _, none)                                        \
    COL(HH_LOW_INCOME, ", h.low_income", _, none)                                                  \
    COL(HH_INFANT, ", h.infant", _, none)                                                          \
    COL(HH_CHRONIC_ILLNESS, ", h.chronic_illness", _, none)                                        \
    COL(HH_PERSONAL_REV, ", h.personal_rev", personal_rev, i32)                                    \
    COL(HH_REGISTERED_BY, ", coalesce(u.login, '')", registered_by, str)                           \
    COL(HH_REGISTERED_AT, ", " DIR_TS("h.registered_at"), registered_at, str)                      \
    COL(HH_UPDATED_AT, ", " DIR_TS("h.updated_at"), updated_at, str)
enum { HH_COLUMNS(DB_COL_NAME) HH_NCOLS };
#define HH_COLS HH_COLUMNS(DB_COL_SQL)
#define HH_FROM                                                                                    \
    " FROM households h JOIN org_units g ON g.id = h.grid_id"                                      \
    " LEFT JOIN org_units cm ON cm.id = g.parent_id"                                               \
    " LEFT JOIN compounds co ON co.id = h.compound_id"                                             \
    " LEFT JOIN users u ON u.id = h.registered_by"

/* Fills a Household and the NeedFlags message it carries (arena memory) from row `row`. */
static void household_fill(call *c, Gridstock__V1__Household *m, const db_res *r, int row)
{
    HH_COLUMNS(DB_COL_FILL)
    Gridstock__V1__NeedFlags *n = call_msg(c, &gridstock__v1__need_flags__descriptor);
    n->elderly_alone = db_bool(r, row, HH_ELDERLY_ALONE);
    n->disabled_member = db_bool(r, row, HH_DISABLED_MEMBER);
    n->low_income = db_bool(r, row, HH_LOW_INCOME);
    n->infant = db_bool(r, row, HH_INFANT);
    n->chronic_illness = db_bool(r, row, HH_CHRONIC_ILLNESS);
    m->needs = n;
}

#define MOVE_COLUMNS(COL)                                                                          \
    COL(MV_ID, "m.id", id, i64)                                                                    \
    COL(MV_FROM_GRID_ID, ", coalesce(m.from_grid_id, 0)", from_grid_id, i64)                       \
    COL(MV_FROM_GRID_CODE, ", coalesce(f.code, '')", from_grid_code, str)                          \
    COL(MV_TO_GRID_ID, ", m.to_grid_id", to_grid_id, i64)                                          \
    COL(MV_TO_GRID_CODE, ", t.code", to_grid_code, str)                                            \
    COL(MV_REASON, ", m.reason", reason, str)                                                      \
    COL(MV_MOVED_BY, ", coalesce(u.login, '')", moved_by, str)                                     \
    COL(MV_MOVED_AT, ", " DIR_TS("m.moved_at"), moved_at, str)
enum { MOVE_COLUMNS(DB_COL_NAME) MV_NCOLS };
#define MOVE_COLS MOVE_COLUMNS(DB_COL_SQL)

static void move_from_row(Gridstock__V1__HouseholdMove *m, const db_res *r, int row)
{
    MOVE_COLUMNS(DB_COL_FILL)
}

/* Household `id` with its moves when its grid lies in the caller's scope; NOT_FOUND
 * otherwise, exactly like a missing one. */
static gs_code household_load(call *c, int64_t id, Gridstock__V1__Household *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " HH_COLS HH_FROM " WHERE h.id = $1 AND g.path <@ $2::ltree", 2,
                   call_i64(c, id), c->who.scope_path));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "household %" PRId64 " not found", id);
    household_fill(c, m, r, 0);
    GS_TRY(db_exec(c, &r,
                   "SELECT " MOVE_COLS
                   " FROM household_moves m LEFT JOIN org_units f ON f.id = m.from_grid_id"
                   " JOIN org_units t ON t.id = m.to_grid_id LEFT JOIN users u ON u.id = m.moved_by"
                   " WHERE m.household_id = $1 ORDER BY m.id",
                   1, call_i64(c, id)));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, m->moves, m->n_moves, &gridstock__v1__household_move__descriptor,
                 move_from_row);
    return GS_OK;
}

/* The personal fields every write carries; the text is checked here, its limits are also
 * the table's CHECKs. */
static gs_code check_person(call *c, const char *head, int32_t members, const char *building,
                            const char *contact)
{
    GS_TRY(v_required(c, "head_name", head));
    GS_TRY(v_len(c, "head_name", head, 100));
    GS_TRY(v_range(c, "members", members, 1, 30));
    GS_TRY(v_len(c, "building", building, 64));
    return v_len(c, "contact", contact, 100);
}

/* A compound of the district by id or code (0 when neither is given); whether it lies in
 * the household's grid is the database's rule. */
static gs_code compound_find(call *c, int64_t id, const char *code, int64_t *out)
{
    gs_lookup by;
    db_res *r = NULL;
    *out = 0;
    GS_TRY(v_id_or_code(c, "compound_id", id, code, false, &by));
    if (by == GS_BY_NONE)
        return GS_OK;
    GS_TRY(db_exec(c, &r,
                   "SELECT co.id FROM compounds co JOIN org_units ou ON ou.id = co.org_unit_id"
                   " WHERE (co.id = $1::bigint OR ($1::bigint = 0 AND co.code = $2))"
                   " AND ou.path <@ subpath($3::ltree, 0, 1)",
                   3, call_i64(c, id), by == GS_BY_CODE ? code : "", c->who.scope_path));
    if (db_rows(r) == 0)
        return call_not_found(c, "compound", by, id, code);
    *out = db_one_i64(r, 0);
    return GS_OK;
}

/* A grid of the caller's district by id or code, anywhere in it (a move's destination). */
static gs_code district_grid_find(call *c, int64_t id, const char *code, int64_t *out,
                                  const char **out_code)
{
    gs_lookup by;
    db_res *r = NULL;
    GS_TRY(v_id_or_code(c, "to_grid_id", id, code, true, &by));
    GS_TRY(db_exec(c, &r,
                   "SELECT id, code, kind FROM org_units"
                   " WHERE (id = $1::bigint OR ($1::bigint = 0 AND code = $2))"
                   " AND path <@ subpath($3::ltree, 0, 1)",
                   3, call_i64(c, id), by == GS_BY_CODE ? code : "", c->who.scope_path));
    if (db_rows(r) == 0)
        return call_not_found(c, "grid", by, id, code);
    if (strcmp(db_str(r, 0, 2), "grid") != 0)
        return call_fail_field(c, "to_grid_id", GS_R_FIELD_INVALID,
                               "to_grid_id: %s is a %s, not a grid", db_str(r, 0, 1),
                               db_str(r, 0, 2));
    *out = db_i64(r, 0, 0);
    *out_code = db_str(r, 0, 1);
    return GS_OK;
}

static const Gridstock__V1__NeedFlags no_needs = GRIDSTOCK__V1__NEED_FLAGS__INIT;

gs_code household_register_household(call *c, const Gridstock__V1__RegisterHouseholdRequest *req,
                                     Gridstock__V1__Household *resp)
{
    dir_unit g;
    int64_t compound;
    const char *hash, *kid, *hashes;
    db_res *r = NULL;
    const Gridstock__V1__NeedFlags *n = req->needs ? req->needs : &no_needs;

    GS_TRY(check_person(c, req->head_name, req->members, req->building, req->contact));
    GS_TRY(dir_unit_find(c, req->grid_id, req->grid_code, "grid_id", true, &g));
    if (strcmp(g.kind, "grid") != 0)
        return call_fail_field(c, "grid_id", GS_R_FIELD_INVALID, "grid_id: %s is a %s, not a grid",
                               g.code, g.kind);
    GS_TRY(compound_find(c, req->compound_id, req->compound_code, &compound));
    /* checked under every key of the household keyring, stored under the first (082) */
    GS_TRY(personal_id_hash(c, "id_number", req->id_number, &hash, &kid, &hashes));
    GS_TRY(db_exec(
        c, &r,
        "SELECT household_register_keyed($1::ltree, $2::bigint, $3, $4::integer, $5::bigint, $6,"
        " $7, $8::boolean, $9::boolean, $10::boolean, $11::boolean, $12::boolean, $13,"
        " $14, $15::text[], $16::bigint, $17)",
        17, c->who.scope_path, call_i64(c, g.id), req->head_name, call_i64(c, req->members),
        call_i64(c, compound), req->building, req->contact, flag(n->elderly_alone),
        flag(n->disabled_member), flag(n->low_income), flag(n->infant), flag(n->chronic_illness),
        hash, kid, hashes, actor(c), c->request_id));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(household_load(c, id, resp));
    c->audit_object = call_printf(c, "household:%" PRId64, id);
    c->audit_summary = call_printf(c, "registered household %" PRId64 " in %s (%d member(s))", id,
                                   g.code, req->members);
    return GS_OK;
}

gs_code household_update_household(call *c, const Gridstock__V1__UpdateHouseholdRequest *req,
                                   Gridstock__V1__Household *resp)
{
    int64_t compound;
    db_res *r = NULL;
    const Gridstock__V1__NeedFlags *n = req->needs ? req->needs : &no_needs;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(check_person(c, req->head_name, req->members, req->building, req->contact));
    GS_TRY(compound_find(c, req->compound_id, req->compound_code, &compound));
    GS_TRY(db_exec(
        c, &r,
        "UPDATE households SET head_name = $3, members = $4::integer,"
        " compound_id = nullif($5::bigint, 0), building = $6, contact = $7,"
        " elderly_alone = $8::boolean, disabled_member = $9::boolean,"
        " low_income = $10::boolean, infant = $11::boolean, chronic_illness = $12::boolean"
        " WHERE id = (household_in_scope($1::ltree, $2::bigint)).id",
        12, c->who.scope_path, call_i64(c, req->id), req->head_name, call_i64(c, req->members),
        call_i64(c, compound), req->building, req->contact, flag(n->elderly_alone),
        flag(n->disabled_member), flag(n->low_income), flag(n->infant), flag(n->chronic_illness)));
    GS_TRY(household_load(c, req->id, resp));
    c->audit_object = call_printf(c, "household:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "updated household %" PRId64 " of %s (%d member(s))", req->id,
                                   resp->grid_code, req->members);
    return GS_OK;
}

gs_code household_move_household(call *c, const Gridstock__V1__MoveHouseholdRequest *req,
                                 Gridstock__V1__Household *resp)
{
    int64_t to = 0, compound;
    const char *to_code = "";
    db_res *r = NULL;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(v_len(c, "building", req->building, 64));
    GS_TRY(v_len(c, "reason", req->reason, 200));
    GS_TRY(district_grid_find(c, req->to_grid_id, req->to_grid_code, &to, &to_code));
    GS_TRY(compound_find(c, req->compound_id, req->compound_code, &compound));
    GS_TRY(db_exec(c, &r,
                   "SELECT household_move($1::ltree, $2::bigint, $3::bigint, $4::bigint, $5, $6,"
                   " $7::bigint, $8)",
                   8, c->who.scope_path, call_i64(c, req->id), call_i64(c, to),
                   call_i64(c, compound), req->building, req->reason, actor(c), c->request_id));
    c->audit_object = call_printf(c, "household:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "moved household %" PRId64 " to %s", req->id, to_code);
    /* the new grid may lie outside the caller's scope: then only what they may know */
    GS_TRY(
        db_exec(c, &r,
                "SELECT g.path <@ $2::ltree FROM households h JOIN org_units g ON g.id = h.grid_id"
                " WHERE h.id = $1",
                2, call_i64(c, req->id), c->who.scope_path));
    if (db_one_bool(r, 0))
        return household_load(c, req->id, resp);
    resp->id = req->id;
    resp->grid_id = to;
    resp->grid_code = (char *)to_code;
    return GS_OK;
}

gs_code household_get_household(call *c, const Gridstock__V1__GetHouseholdRequest *req,
                                Gridstock__V1__Household *resp)
{
    GS_TRY(v_positive(c, "id", req->id));
    return household_load(c, req->id, resp);
}

gs_code household_list_households(call *c, const Gridstock__V1__ListHouseholdsRequest *req,
                                  Gridstock__V1__ListHouseholdsResponse *resp)
{
    dir_unit u;
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "need", req->need, need_names, false));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(
        c, &r,
        "SELECT " HH_COLS HH_FROM
        " WHERE g.path <@ $1::ltree AND ($2::bigint = 0 OR h.id > $2::bigint)"
        " AND CASE $3 WHEN '' THEN true WHEN 'elderly_alone' THEN h.elderly_alone"
        "  WHEN 'disabled_member' THEN h.disabled_member WHEN 'low_income' THEN h.low_income"
        "  WHEN 'infant' THEN h.infant ELSE h.chronic_illness END"
        " ORDER BY h.id LIMIT $4::bigint",
        4, u.path, call_i64(c, after), req->need, call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, HH_ID, limit, &rows);
    resp->n_households = (size_t)rows;
    resp->households = (Gridstock__V1__Household **)call_ptrs(c, resp->n_households);
    for (int i = 0; i < rows; i++) {
        resp->households[i] = call_msg(c, &gridstock__v1__household__descriptor);
        household_fill(c, resp->households[i], r, i);
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ who has been helped */

gs_code household_period(call *c, const char *since, const char *until, const char **s,
                         const char **u)
{
    db_res *r = NULL;
    GS_TRY(v_date(c, "since", since));
    GS_TRY(v_date(c, "until", until));
    GS_TRY(db_exec(c, &r,
                   "WITH p AS (SELECT coalesce(nullif($1, '')::date,"
                   "                           date_trunc('month', current_date)::date) s)"
                   " SELECT to_char(s, 'YYYY-MM-DD'),"
                   " to_char(coalesce(nullif($2, '')::date, (s + interval '1 month')::date),"
                   "         'YYYY-MM-DD'),"
                   " coalesce(nullif($2, '')::date, (s + interval '1 month')::date) - s FROM p",
                   2, since, until));
    *s = db_str(r, 0, 0);
    *u = db_str(r, 0, 1);
    int64_t days = db_i64(r, 0, 2);
    if (days <= 0)
        return call_fail_field(c, "until", GS_R_FIELD_INVALID, "until: must be after since (%s)",
                               *s);
    if (days > 366)
        return call_fail_field(c, "until", GS_R_FIELD_OUT_OF_RANGE,
                               "until: a period of at most 366 days, got %" PRId64, days);
    return GS_OK;
}

/* Whether household h had a distribution at any station in [$s, $u) (SQL text). */
#define SERVED_SQL(s, u)                                                                           \
    "EXISTS (SELECT 1 FROM charity_households ch JOIN charity_distributions d"                     \
    " ON d.household_id = ch.id WHERE ch.register_id = h.id"                                       \
    " AND d.distributed_at >= " s "::date::timestamptz"                                            \
    " AND d.distributed_at < " u "::date::timestamptz)"

gs_code household_helped_rows(call *c, const char *path, const char *since, const char *until,
                              db_res **out)
{
    /* every grid of the area, with or without registered households */
    return db_exec(
        c, out,
        "WITH hh AS (SELECT g.code gc, g.name gn, cm.code cc, cm.name cn, h.*,"
        "  h.id IS NOT NULL AND " SERVED_SQL(
            "$2", "$3") " sv"
                        "  FROM org_units g JOIN org_units cm ON cm.id = g.parent_id"
                        "  LEFT JOIN households h ON h.grid_id = g.id"
                        "  WHERE g.kind = 'grid' AND g.path <@ $1::ltree)"
                        " SELECT " HELPED_COLS " FROM hh h"
                        " GROUP BY GROUPING SETS ((cc, gc), (cc)) ORDER BY cc, grouping(gc), gc",
        3, path, since, until);
}

static void helped_from_row(Gridstock__V1__HelpedRow *m, const db_res *r,
                            int row){HELPED_COLUMNS(DB_COL_FILL)}

gs_code household_helped_report(call *c, const Gridstock__V1__HelpedReportRequest *req,
                                Gridstock__V1__HelpedReportResponse *resp)
{
    dir_unit u;
    const char *since, *until;
    db_res *r = NULL;

    GS_TRY(household_period(c, req->since, req->until, &since, &until));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(household_helped_rows(c, u.path, since, until, &r));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->rows, resp->n_rows, &gridstock__v1__helped_row__descriptor,
                 helped_from_row);
    resp->since = (char *)since;
    resp->until = (char *)until;
    return GS_OK;
}

#define DOOR_COLUMNS(COL)                                                                          \
    COL(DOOR_ID, "h.id", household_id, i64)                                                        \
    COL(DOOR_GRID, ", g.code", grid_code, str)                                                     \
    COL(DOOR_COMPOUND, ", coalesce(co.code, '')", compound_code, str)                              \
    COL(DOOR_COMPOUND_NAME, ", coalesce(co.name, '')", compound_name, str)                         \
    COL(DOOR_BUILDING, ", h.building", building, str)                                              \
    COL(DOOR_HEAD, ", h.head_name", head_name, str)                                                \
    COL(DOOR_MEMBERS, ", h.members", members, i32)                                                 \
    COL(DOOR_CONTACT, ", h.contact", contact, str)                                                 \
    COL(DOOR_NEEDS,                                                                                \
        ", concat_ws(',', CASE WHEN h.elderly_alone THEN 'elderly_alone' END,"                     \
        " CASE WHEN h.disabled_member THEN 'disabled_member' END,"                                 \
        " CASE WHEN h.low_income THEN 'low_income' END, CASE WHEN h.infant THEN 'infant' END,"     \
        " CASE WHEN h.chronic_illness THEN 'chronic_illness' END)",                                \
        needs, str)                                                                                \
    COL(DOOR_LAST,                                                                                 \
        ", coalesce((SELECT " DIR_TS(                                                              \
            "max(d.distributed_at)") " FROM charity_households ch"                                 \
                                     " JOIN charity_distributions d ON d.household_id = ch.id "    \
                                     "WHERE ch.register_id = h.id),"                               \
                                     " '')",                                                       \
        last_served_at, str)
enum { DOOR_COLUMNS(DB_COL_NAME) DOOR_NCOLS };
#define DOOR_COLS DOOR_COLUMNS(DB_COL_SQL)

static void door_from_row(Gridstock__V1__DoorToDoorRow *m, const db_res *r,
                          int row){DOOR_COLUMNS(DB_COL_FILL)}

gs_code household_door_to_door(call *c, const Gridstock__V1__DoorToDoorRequest *req,
                               Gridstock__V1__DoorToDoorResponse *resp)
{
    dir_unit u;
    const char *since, *until;
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "need", req->need, need_names, false));
    GS_TRY(household_period(c, req->since, req->until, &since, &until));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(
        c, &r,
        "SELECT " DOOR_COLS " FROM households h JOIN org_units g ON g.id = h.grid_id"
        " LEFT JOIN compounds co ON co.id = h.compound_id"
        " WHERE g.path <@ $1::ltree AND ($4::bigint = 0 OR h.id > $4::bigint)"
        " AND " SERVED_SQL(
            "$2", "$3") " = $5::boolean"
                        " AND CASE $6 WHEN '' THEN true WHEN 'elderly_alone' THEN h.elderly_alone"
                        "  WHEN 'disabled_member' THEN h.disabled_member WHEN 'low_income' THEN "
                        "h.low_income"
                        "  WHEN 'infant' THEN h.infant ELSE h.chronic_illness END"
                        " ORDER BY h.id LIMIT $7::bigint",
        7, u.path, since, until, call_i64(c, after), flag(req->served), req->need,
        call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, DOOR_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->rows, resp->n_rows, &gridstock__v1__door_to_door_row__descriptor,
                 door_from_row);
    return GS_OK;
}
