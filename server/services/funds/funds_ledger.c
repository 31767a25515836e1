/* funds_ledger.c — the disbursement state machine, the fund enumerations, account and
 * posting lookups shared by the fund services, and the fund jobs run by the monitor. */
#include "funds.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "fsm.h"
#include "pg_array.h"
#include "monitor.h"

#include "gridstock/v1/funds.pb-c.h"

const char *const disb_state_names[] = {
#define GS_X(e, s) s,
    DISB_STATE_LIST(GS_X)
#undef GS_X
        NULL};

/* Mirrored by fund_disbursement_transitions in 020_funds.sql. */
static const fsm_move disb_transitions[] = {
    {DS_PREPARED, DS_PREPARED}, /* edit */
    {DS_PREPARED, DS_APPROVED}, {DS_PREPARED, DS_REJECTED},
    {DS_PREPARED, DS_VOIDED},   {DS_APPROVED, DS_PREPARED}, /* edit: the approval is void */
    {DS_APPROVED, DS_POSTED},   {DS_APPROVED, DS_VOIDED},
    {DS_APPROVED, DS_EXPIRED},  {DS_POSTED, DS_REVERSED},
};
const fsm disb_fsm = {"disbursement", disb_state_names, DS_COUNT, disb_transitions,
                      sizeof disb_transitions / sizeof disb_transitions[0]};

const char *const fund_categories[] = {"subsidies",          "rewards",   "activities",
                                       "material_purchases", "emergency", NULL};
const char *const fund_account_kinds[] = {"external", "source",  "grid_fund",
                                          "payee",    "expense", NULL};
const char *const fund_posting_kinds[] = {"deposit",  "allocation", "disbursement",
                                          "reversal", "purchase",   NULL};

gs_code fund_account_find(call *c, int64_t id, const char *code, const char *grid_code,
                          const char *field, int64_t *out_id)
{
    db_res *r = NULL;
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: must be positive, got %" PRId64, field, id);
    if (id == 0 && !*code && !*grid_code)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: required", field);
    GS_TRY(v_len(c, field, code, 80));
    GS_TRY(v_len(c, field, grid_code, 64));
    GS_TRY(
        db_exec(c, &r,
                "SELECT f.id FROM fund_accounts f LEFT JOIN org_units ou ON ou.id = f.org_unit_id"
                " WHERE CASE WHEN $1::bigint > 0 THEN f.id = $1::bigint"
                "  WHEN $2 <> '' THEN f.code = $2"
                "  ELSE f.kind = 'grid_fund' AND ou.code = $3 END"
                " AND fund_account_visible(f, $4::ltree)",
                4, call_i64(c, id), code, grid_code, c->who.scope_path));
    if (db_rows(r) == 0) {
        if (id)
            return call_fail(c, GS_NOT_FOUND, "%s: account %" PRId64 " not found", field, id);
        if (*code)
            return call_fail(c, GS_NOT_FOUND, "%s: account \"%.80s\" not found", field, code);
        return call_fail(c, GS_NOT_FOUND, "%s: no work fund for grid \"%.64s\"", field, grid_code);
    }
    *out_id = db_one_i64(r, 0);
    return GS_OK;
}

#define ENTRY_COLUMNS(COL)                                                                         \
    COL(ENTRY_POSTING_ID, "e.posting_id")                                                          \
    COL(ENTRY_ACCOUNT_ID, ", e.account_id")                                                        \
    COL(ENTRY_ACCOUNT_CODE, ", a.code")                                                            \
    COL(ENTRY_AMOUNT, ", e.amount")
enum { ENTRY_COLUMNS(DB_COL_NAME) ENTRY_NCOLS };
#define ENTRY_COLS ENTRY_COLUMNS(DB_COL_SQL)

#define POSTING_COLUMNS(COL)                                                                       \
    COL(POST_ID, "p.id")                                                                           \
    COL(POST_KIND, ", p.kind")                                                                     \
    COL(POST_MEMO, ", p.memo")                                                                     \
    COL(POST_BATCH, ", p.batch")                                                                   \
    COL(POST_DISBURSEMENT_ID, ", coalesce(p.disbursement_id, 0)")                                  \
    COL(POST_REVERSES_ID, ", coalesce(p.reverses_id, 0)")                                          \
    COL(POST_REVERSED_BY_ID, ", coalesce(rv.id, 0)")                                               \
    COL(POST_CREATED_BY_ID, ", p.created_by")                                                      \
    COL(POST_CREATED_BY_LOGIN, ", u.login")                                                        \
    COL(POST_REQUEST_ID, ", p.request_id")                                                         \
    COL(POST_CREATED_AT, ", fund_ts(p.created_at)")
enum { POSTING_COLUMNS(DB_COL_NAME) POST_NCOLS };
#define POSTING_COLS POSTING_COLUMNS(DB_COL_SQL)

gs_code fund_postings_load(call *c, const int64_t *ids, int n, void **out)
{
    db_res *r = NULL, *e = NULL;
    if (n == 0)
        return GS_OK;
    const char *arr = pg_array_i64(c, ids, (size_t)n);
    GS_TRY(db_exec(c, &r,
                   "SELECT " POSTING_COLS " FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, n)"
                   " JOIN fund_postings p ON p.id = x.id JOIN users u ON u.id = p.created_by"
                   " LEFT JOIN fund_postings rv ON rv.reverses_id = p.id ORDER BY x.n",
                   1, arr));
    GS_TRY(db_exec(c, &e,
                   "SELECT " ENTRY_COLS " FROM fund_entries e"
                   " JOIN fund_accounts a ON a.id = e.account_id"
                   " WHERE e.posting_id = ANY ($1::bigint[])"
                   " ORDER BY e.posting_id, e.amount, e.account_id",
                   1, arr));
    int rows = db_rows(r), erows = db_rows(e);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__Posting *p = call_msg(c, &gridstock__v1__posting__descriptor);
        p->id = db_i64(r, i, POST_ID);
        p->kind = (char *)db_str(r, i, POST_KIND);
        p->memo = (char *)db_str(r, i, POST_MEMO);
        p->batch = (char *)db_str(r, i, POST_BATCH);
        p->disbursement_id = db_i64(r, i, POST_DISBURSEMENT_ID);
        p->reverses_id = db_i64(r, i, POST_REVERSES_ID);
        p->reversed_by_id = db_i64(r, i, POST_REVERSED_BY_ID);
        p->created_by_id = db_i64(r, i, POST_CREATED_BY_ID);
        p->created_by_login = (char *)db_str(r, i, POST_CREATED_BY_LOGIN);
        p->request_id = (char *)db_str(r, i, POST_REQUEST_ID);
        p->created_at = (char *)db_str(r, i, POST_CREATED_AT);
        int first = -1, cnt = 0;
        for (int j = 0; j < erows; j++) {
            if (db_i64(e, j, ENTRY_POSTING_ID) != p->id)
                continue;
            if (first < 0)
                first = j;
            cnt++;
        }
        p->n_entries = (size_t)cnt;
        p->entries = (Gridstock__V1__Entry **)call_ptrs(c, (size_t)cnt);
        for (int k = 0; k < cnt; k++) {
            Gridstock__V1__Entry *en = call_msg(c, &gridstock__v1__entry__descriptor);
            en->account_id = db_i64(e, first + k, ENTRY_ACCOUNT_ID);
            en->account_code = (char *)db_str(e, first + k, ENTRY_ACCOUNT_CODE);
            en->amount = db_i64(e, first + k, ENTRY_AMOUNT);
            p->entries[k] = en;
        }
        out[i] = p;
    }
    if (rows != n)
        return call_fail(c, GS_INTERNAL, "internal error: %d of %d postings found", rows, n);
    return GS_OK;
}

gs_code fund_check_period(call *c, const char *field, const char *p, bool month_only)
{
    size_t n = strlen(p);
    bool digits4 = n >= 4 && p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' &&
                   p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9';
    bool ok = false;
    if (digits4 && n == 7 && p[4] == '-' && p[5] == 'Q' && !month_only)
        ok = p[6] >= '1' && p[6] <= '4';
    else if (digits4 && n == 7 && p[4] == '-' && p[5] >= '0' && p[5] <= '1' && p[6] >= '0' &&
             p[6] <= '9') {
        int m = (p[5] - '0') * 10 + (p[6] - '0');
        ok = m >= 1 && m <= 12;
    } else if (digits4 && n == 4 && !month_only)
        ok = true;
    if (ok && (strncmp(p, "2000", 4) < 0 || strncmp(p, "2200", 4) > 0))
        ok = false;
    if (!ok)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: expected %s, got \"%.20s\"", field,
                         month_only ? "YYYY-MM" : "YYYY, YYYY-Qn or YYYY-MM", p);
    return GS_OK;
}

/* ------------------------------------------------------------------ jobs */

static int ttl_s = 604800;
static char expire_sql[128];
static char expire_moves_sql[128];

int funds_disbursement_ttl_s(void)
{
    return ttl_s;
}

void funds_jobs_register(const gs_config *cfg)
{
    ttl_s = cfg->disbursement_ttl_s;
    /* built once; the monitor keeps the pointer */
    snprintf(expire_sql, sizeof expire_sql,
             "SELECT fund_expire_disbursements(make_interval(secs => %d))", ttl_s);
    monitor_every("fund_expire_disbursements", 30, expire_sql);
    /* approved deposits, allocations and reversals expire after the same time */
    snprintf(expire_moves_sql, sizeof expire_moves_sql,
             "SELECT fund_expire_movements(make_interval(secs => %d))", ttl_s);
    monitor_every("fund_expire_movements", 30, expire_moves_sql);
}
