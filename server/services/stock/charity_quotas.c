/* charity_quotas.c — CharityService, the quotas a distribution is checked against (issue
 * 19): per-item quotas per household (SetQuota, ListQuotas), quota rules per item or
 * category and period, per household or per member, with multipliers per need flag
 * (SetQuotaRule, 071), and the district's walk-in rule (SetWalkInRule); each holds across
 * the whole district, so only district-wide users set them. The check itself runs in the
 * distribution's transaction (charity.c, 071_quota_rules.sql). */
#include <inttypes.h>
#include <string.h>

#include "charity.h"
#include "stock.h"

#include "gridstock/v1/charity.pb-c.h"
#include "gridstock/v1/charity.rpc.h"

/* ------------------------------------------------------------------ quotas */

#define QUOTA_COLUMNS(COL)                                                                         \
    COL(QUOTA_ID, "q.id", id, i64)                                                                 \
    COL(QUOTA_ORG_UNIT_ID, ", q.org_unit_id", org_unit_id, i64)                                    \
    COL(QUOTA_ORG_UNIT_CODE, ", ou.code", org_unit_code, str)                                      \
    COL(QUOTA_ITEM_ID, ", q.item_id", item_id, i64)                                                \
    COL(QUOTA_ITEM_CODE, ", i.code", item_code, str)                                               \
    COL(QUOTA_ITEM_NAME, ", i.name", item_name, str)                                               \
    COL(QUOTA_PERIOD, ", q.period", period, str)                                                   \
    COL(QUOTA_QTY, ", q.qty", qty, i64)                                                            \
    COL(QUOTA_UPDATED_BY, ", coalesce(u.login, '')", updated_by, str)                              \
    COL(QUOTA_UPDATED_AT, ", " DIR_TS("q.updated_at"), updated_at, str)
enum { QUOTA_COLUMNS(DB_COL_NAME) QUOTA_NCOLS };
#define QUOTA_COLS QUOTA_COLUMNS(DB_COL_SQL)
#define QUOTA_FROM                                                                                 \
    " FROM charity_quotas q JOIN org_units ou ON ou.id = q.org_unit_id"                            \
    " JOIN items i ON i.id = q.item_id LEFT JOIN users u ON u.id = q.updated_by"

static void quota_from_row(Gridstock__V1__Quota *m, const db_res *r, int row)
{
    QUOTA_COLUMNS(DB_COL_FILL)
}

#define OU_CODE_COLUMNS(COL)                                                                       \
    COL(OU_ORG_UNIT_ID, "id")                                                                      \
    COL(OU_ORG_UNIT_CODE, ", code")
enum { OU_CODE_COLUMNS(DB_COL_NAME) OU_NCOLS };
#define OU_CODE_COLS OU_CODE_COLUMNS(DB_COL_SQL)

gs_code charity_set_quota(call *c, const Gridstock__V1__SetQuotaRequest *req,
                          Gridstock__V1__Quota *resp)
{
    stock_item it;
    db_res *r = NULL;

    GS_TRY(dir_enum(c, "period", req->period, charity_quota_periods, true));
    GS_TRY(v_range(c, "qty", req->qty, 0, 1000000000));
    if (strchr(c->who.scope_path, '.'))
        return call_fail(c, GS_PERMISSION_DENIED,
                         "quotas hold across the whole district: only a user whose scope is the"
                         " district may set them");
    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", false, &it));
    const char *district = charity_district_id(c);
    if (req->qty == 0) {
        GS_TRY(db_exec(c, NULL,
                       "DELETE FROM charity_quotas WHERE org_unit_id = $1 AND item_id = $2"
                       " AND period = $3",
                       3, district, call_i64(c, it.id), req->period));
        GS_TRY(db_exec(c, &r, "SELECT " OU_CODE_COLS " FROM org_units WHERE id = $1", 1, district));
        resp->org_unit_id = db_i64(r, 0, OU_ORG_UNIT_ID);
        resp->org_unit_code = (char *)db_str(r, 0, OU_ORG_UNIT_CODE);
        resp->item_id = it.id;
        resp->item_code = (char *)it.code;
        resp->item_name = (char *)it.name;
        resp->period = req->period;
        resp->updated_by = (char *)c->who.login;
        c->audit_object = call_printf(c, "item:%" PRId64, it.id);
        c->audit_summary = call_printf(c, "removed the %s quota of %s", req->period, it.code);
        return GS_OK;
    }
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO charity_quotas (org_unit_id, item_id, period, qty, updated_by)"
                   " VALUES ($1, $2, $3, $4, $5)"
                   " ON CONFLICT (org_unit_id, item_id, period) DO UPDATE"
                   " SET qty = EXCLUDED.qty, updated_by = EXCLUDED.updated_by, updated_at = now()"
                   " RETURNING id",
                   5, district, call_i64(c, it.id), req->period, call_i64(c, req->qty),
                   charity_actor(c)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(db_exec(c, &r, "SELECT " QUOTA_COLS QUOTA_FROM " WHERE q.id = $1", 1, call_i64(c, id)));
    quota_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "charity_quota:%" PRId64, id);
    c->audit_summary = call_printf(c, "quota of %s per household: %" PRId64 " a %s", it.code,
                                   req->qty, req->period);
    return GS_OK;
}

gs_code charity_list_quotas(call *c, const Gridstock__V1__ListQuotasRequest *req,
                            Gridstock__V1__ListQuotasResponse *resp)
{
    stock_item it;
    db_res *r = NULL;

    GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", true, &it));
    GS_TRY(db_exec(c, &r,
                   "SELECT " QUOTA_COLS QUOTA_FROM
                   " WHERE q.org_unit_id = $1 AND ($2::bigint = 0 OR q.item_id = $2::bigint)"
                   " ORDER BY i.code, q.period",
                   2, charity_district_id(c), call_i64(c, it.id)));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->quotas, resp->n_quotas, &gridstock__v1__quota__descriptor,
                 quota_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ quota rules (071) */

static const char *const rule_bases[] = {"household", "member", NULL};
static const char *const item_categories[] = {"water",      "food",    "medicine", "hygiene",
                                              "protection", "shelter", "tools",    "power",
                                              "other",      NULL};

#define RULE_COLUMNS(COL)                                                                          \
    COL(RULE_ID, "q.id", id, i64)                                                                  \
    COL(RULE_ITEM_ID, ", coalesce(q.item_id, 0)", item_id, i64)                                    \
    COL(RULE_ITEM_CODE, ", coalesce(i.code, '')", item_code, str)                                  \
    COL(RULE_CATEGORY, ", coalesce(q.category, '')", category, str)                                \
    COL(RULE_PERIOD, ", q.period", period, str)                                                    \
    COL(RULE_BASIS, ", q.basis", basis, str)                                                       \
    COL(RULE_QTY, ", q.qty", qty, i64)                                                             \
    COL(RULE_PCT_ELDERLY_ALONE, ", q.pct_elderly_alone", pct_elderly_alone, i32)                   \
    COL(RULE_PCT_DISABLED_MEMBER, ", q.pct_disabled_member", pct_disabled_member, i32)             \
    COL(RULE_PCT_LOW_INCOME, ", q.pct_low_income", pct_low_income, i32)                            \
    COL(RULE_PCT_INFANT, ", q.pct_infant", pct_infant, i32)                                        \
    COL(RULE_PCT_CHRONIC_ILLNESS, ", q.pct_chronic_illness", pct_chronic_illness, i32)             \
    COL(RULE_UPDATED_BY, ", coalesce(u.login, '')", updated_by, str)                               \
    COL(RULE_UPDATED_AT, ", " DIR_TS("q.updated_at"), updated_at, str)
enum { RULE_COLUMNS(DB_COL_NAME) RULE_NCOLS };
#define RULE_COLS RULE_COLUMNS(DB_COL_SQL)
#define RULE_FROM                                                                                  \
    " FROM charity_quota_rules q LEFT JOIN items i ON i.id = q.item_id"                            \
    " LEFT JOIN users u ON u.id = q.updated_by"

static void rule_from_row(Gridstock__V1__QuotaRule *m, const db_res *r, int row)
{
    RULE_COLUMNS(DB_COL_FILL)
}

static gs_code district_only(call *c, const char *what)
{
    if (strchr(c->who.scope_path, '.'))
        return call_fail(c, GS_PERMISSION_DENIED,
                         "%s hold across the whole district: only a user whose scope is the"
                         " district may set them",
                         what);
    return GS_OK;
}

/* A multiplier in percent: 0 → 100, else 100..1000. */
static gs_code pct(call *c, const char *field, int32_t v, const char **out)
{
    if (v != 0)
        GS_TRY(v_range(c, field, v, 100, 1000));
    *out = call_i64(c, v ? v : 100);
    return GS_OK;
}

gs_code charity_set_quota_rule(call *c, const Gridstock__V1__SetQuotaRuleRequest *req,
                               Gridstock__V1__QuotaRule *resp)
{
    stock_item it = {0};
    db_res *r = NULL;
    const char *p[5];
    const char *basis = *req->basis ? req->basis : "household";

    GS_TRY(dir_enum(c, "period", req->period, charity_quota_periods, true));
    GS_TRY(dir_enum(c, "basis", req->basis, rule_bases, false));
    GS_TRY(dir_enum(c, "category", req->category, item_categories, false));
    GS_TRY(v_range(c, "qty", req->qty, 0, 1000000));
    GS_TRY(pct(c, "pct_elderly_alone", req->pct_elderly_alone, &p[0]));
    GS_TRY(pct(c, "pct_disabled_member", req->pct_disabled_member, &p[1]));
    GS_TRY(pct(c, "pct_low_income", req->pct_low_income, &p[2]));
    GS_TRY(pct(c, "pct_infant", req->pct_infant, &p[3]));
    GS_TRY(pct(c, "pct_chronic_illness", req->pct_chronic_illness, &p[4]));
    GS_TRY(district_only(c, "quota rules"));
    bool by_item = req->item_id != 0 || *req->item_code;
    if (by_item == (*req->category != '\0'))
        return call_fail_field(c, "item_id", GS_R_FIELD_INVALID,
                               "item_id: give an item or a category, one of them");
    if (by_item)
        GS_TRY(stock_item_find(c, req->item_id, req->item_code, "item_id", false, &it));
    const char *district = charity_district_id(c);
    const char *item = it.id ? call_i64(c, it.id) : NULL;
    const char *cat = by_item ? NULL : req->category;
    const char *what = by_item ? it.code : req->category;
    if (req->qty == 0) {
        GS_TRY(db_exec(c, &r,
                       "DELETE FROM charity_quota_rules WHERE org_unit_id = $1"
                       " AND item_id IS NOT DISTINCT FROM $2::bigint"
                       " AND category IS NOT DISTINCT FROM $3 AND period = $4 RETURNING id",
                       4, district, item, cat, req->period));
        resp->item_id = it.id;
        resp->item_code = (char *)(it.code ? it.code : "");
        resp->category = (char *)(cat ? cat : "");
        resp->period = req->period;
        resp->basis = (char *)basis;
        resp->updated_by = (char *)c->who.login;
        c->audit_object = call_printf(c, "charity_quota_rule:%" PRId64,
                                      db_rows(r) ? db_one_i64(r, 0) : (int64_t)0);
        c->audit_summary = call_printf(c, "removed the %s quota rule of %s", req->period, what);
        return GS_OK;
    }
    GS_TRY(
        db_exec(c, &r,
                "INSERT INTO charity_quota_rules (org_unit_id, item_id, category, period, basis,"
                " qty, pct_elderly_alone, pct_disabled_member, pct_low_income, pct_infant,"
                " pct_chronic_illness, updated_by)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                " ON CONFLICT (org_unit_id, coalesce(item_id, 0), coalesce(category, ''), period)"
                " DO UPDATE SET basis = EXCLUDED.basis, qty = EXCLUDED.qty,"
                " pct_elderly_alone = EXCLUDED.pct_elderly_alone,"
                " pct_disabled_member = EXCLUDED.pct_disabled_member,"
                " pct_low_income = EXCLUDED.pct_low_income, pct_infant = EXCLUDED.pct_infant,"
                " pct_chronic_illness = EXCLUDED.pct_chronic_illness,"
                " updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING id",
                12, district, item, cat, req->period, basis, call_i64(c, req->qty), p[0], p[1],
                p[2], p[3], p[4], charity_actor(c)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(db_exec(c, &r, "SELECT " RULE_COLS RULE_FROM " WHERE q.id = $1", 1, call_i64(c, id)));
    rule_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "charity_quota_rule:%" PRId64, id);
    c->audit_summary = call_printf(c, "quota rule of %s: %" PRId64 " a %s per %s", what, req->qty,
                                   req->period, basis);
    return GS_OK;
}

#define WALKIN_COLUMNS(COL)                                                                        \
    COL(WALKIN_SERVES, "w.serves", serves, i32)                                                    \
    COL(WALKIN_UPDATED_BY, ", coalesce(u.login, '')", updated_by, str)                             \
    COL(WALKIN_UPDATED_AT, ", " DIR_TS("w.updated_at"), updated_at, str)
enum { WALKIN_COLUMNS(DB_COL_NAME) WALKIN_NCOLS };
#define WALKIN_COLS WALKIN_COLUMNS(DB_COL_SQL)

static gs_code walkin_load(call *c, Gridstock__V1__WalkInRule *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r,
                   "SELECT " WALKIN_COLS " FROM charity_walkin_rules w"
                   " LEFT JOIN users u ON u.id = w.updated_by WHERE w.org_unit_id = $1",
                   1, charity_district_id(c)));
    if (db_rows(r) == 0)
        return GS_OK;
    m->set = true;
    int row = 0;
    WALKIN_COLUMNS(DB_COL_FILL)
    return GS_OK;
}

gs_code charity_set_walk_in_rule(call *c, const Gridstock__V1__SetWalkInRuleRequest *req,
                                 Gridstock__V1__WalkInRule *resp)
{
    GS_TRY(v_range(c, "serves", req->serves, 0, 100));
    GS_TRY(district_only(c, "walk-in rules"));
    GS_TRY(db_exec(c, NULL,
                   "INSERT INTO charity_walkin_rules (org_unit_id, serves, updated_by)"
                   " VALUES ($1, $2, $3) ON CONFLICT (org_unit_id) DO UPDATE"
                   " SET serves = EXCLUDED.serves, updated_by = EXCLUDED.updated_by,"
                   " updated_at = now()",
                   3, charity_district_id(c), call_i64(c, req->serves), charity_actor(c)));
    GS_TRY(walkin_load(c, resp));
    c->audit_object = call_printf(c, "org_unit:%s", charity_district_id(c));
    c->audit_summary =
        call_printf(c, "walk-ins served at most %d time(s) before registration", req->serves);
    return GS_OK;
}

gs_code charity_list_quota_rules(call *c, const Gridstock__V1__ListQuotaRulesRequest *req,
                                 Gridstock__V1__ListQuotaRulesResponse *resp)
{
    db_res *r = NULL;
    (void)req;
    GS_TRY(db_exec(c, &r,
                   "SELECT " RULE_COLS RULE_FROM
                   " WHERE q.org_unit_id = $1 ORDER BY coalesce(i.code, q.category), q.period",
                   1, charity_district_id(c)));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->rules, resp->n_rules, &gridstock__v1__quota_rule__descriptor,
                 rule_from_row);
    resp->walk_in = call_msg(c, &gridstock__v1__walk_in_rule__descriptor);
    return walkin_load(c, resp->walk_in);
}
