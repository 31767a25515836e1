/* fund_reports.c — FundReportService: spending by grid, category and month (read from
 * the fund_spending summary of 022_fund_reports.sql, with the purchases paid from funds of
 * 088_fund_reports_goods.sql), budget utilisation, balances (with the value of the reserves
 * under a grid fund's or source's unit), the disbursement register, and a self-contained
 * HTML report with inline SVG charts (queried here, rendered by report/report_html.c); the
 * review flags are in fund_report_flags.c. Every report is one repeated message (so the
 * CLI's --csv exports it) limited to the caller's scope. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "fund_reports.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"
#include "report/report_html.h"

#include "gridstock/v1/reports.pb-c.h"
#include "gridstock/v1/reports.rpc.h"

enum { REPORT_ROWS_MAX = 20000, REGISTER_PAGE_MAX = 10000, HTML_MAX = 4 << 20 };

static const char *const group_bys[] = {"grid", "community", "street", "category", "month", NULL};

gs_code report_unit(call *c, int64_t id, const char *code, dir_unit *u)
{
    return dir_unit_find(c, id, code, "org_unit_id", false, u);
}

/* "" or a month. */
static gs_code opt_month(call *c, const char *field, const char *p)
{
    return *p ? fund_check_period(c, field, p, true) : GS_OK;
}

/* ------------------------------------------------------------------ spending */

#define SPENDING_COLUMNS(COL)                                                                      \
    COL(SPEND_UNIT_CODE, "coalesce(a.code, '')")                                                   \
    COL(SPEND_UNIT_NAME, ", coalesce(a.name, '')")                                                 \
    COL(SPEND_CATEGORY, ", x.cat")                                                                 \
    COL(SPEND_PERIOD, ", to_char(x.month, 'YYYY-MM')")                                             \
    COL(SPEND_AMOUNT, ", x.amount::bigint")                                                        \
    COL(SPEND_DISBURSEMENTS, ", x.n::bigint")                                                      \
    COL(SPEND_PURCHASES, ", x.np::bigint")                                                         \
    COL(SPEND_PURCHASE_AMOUNT, ", x.pamount::bigint")
enum { SPENDING_COLUMNS(DB_COL_NAME) SPEND_NCOLS };
#define SPENDING_COLS SPENDING_COLUMNS(DB_COL_SQL)

/* $1 subtree, $2 from month, $3 to month, $4 category, $5 group_by. Disbursements by grid
 * (fund_spending) and purchases by the paying fund's unit (fund_purchase_spending, 088): a
 * grid, or a source's street or district, which is its own community and street. */
static const char SPENDING_SQL[] =
    "WITH s AS (SELECT org_unit_id, category, month, amount, disbursements, 0::bigint np,"
    "  0::bigint pamount FROM fund_spending UNION ALL SELECT org_unit_id, category, month,"
    "  amount, 0, purchases, amount FROM fund_purchase_spending),"
    " x AS (SELECT CASE $5 WHEN 'grid' THEN g.id"
    "  WHEN 'community' THEN CASE g.kind WHEN 'grid' THEN g.parent_id ELSE g.id END"
    "  WHEN 'street' THEN CASE g.kind WHEN 'grid' THEN c.parent_id WHEN 'community'"
    "  THEN g.parent_id ELSE g.id END END unit,"
    "  CASE WHEN $5 = 'month' THEN '' ELSE s.category END cat, s.month,"
    "  sum(s.amount) amount, sum(s.disbursements) n, sum(s.np) np, sum(s.pamount) pamount"
    " FROM s JOIN org_units g ON g.id = s.org_unit_id"
    " LEFT JOIN org_units c ON c.id = g.parent_id"
    " WHERE g.path <@ $1::ltree AND ($2 = '' OR s.month >= ($2 || '-01')::date)"
    " AND ($3 = '' OR s.month <= ($3 || '-01')::date) AND ($4 = '' OR s.category = $4)"
    " GROUP BY 1, 2, 3 HAVING sum(s.amount) <> 0 OR sum(s.disbursements) <> 0"
    " OR sum(s.np) <> 0)"
    " SELECT " SPENDING_COLS " FROM x LEFT JOIN org_units a ON a.id = x.unit"
    " ORDER BY 1, 3, x.month LIMIT 20001";

gs_code fund_report_spending_report(call *c, const Gridstock__V1__SpendingReportRequest *req,
                                    Gridstock__V1__SpendingReportResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(opt_month(c, "from_period", req->from_period));
    GS_TRY(opt_month(c, "to_period", req->to_period));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, false));
    GS_TRY(dir_enum(c, "group_by", req->group_by, group_bys, false));
    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    const char *group = *req->group_by ? req->group_by : "grid";
    GS_TRY(db_exec(c, &r, SPENDING_SQL, 5, u.path, req->from_period, req->to_period, req->category,
                   group));
    int rows = db_rows(r);
    if (rows > REPORT_ROWS_MAX)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "more than %d rows: narrow the periods or group by community or street",
                         REPORT_ROWS_MAX);
    resp->n_rows = (size_t)rows;
    resp->rows = (Gridstock__V1__SpendingRow **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__SpendingRow *m = call_msg(c, &gridstock__v1__spending_row__descriptor);
        m->unit_code = (char *)db_str(r, i, SPEND_UNIT_CODE);
        m->unit_name = (char *)db_str(r, i, SPEND_UNIT_NAME);
        m->category = (char *)db_str(r, i, SPEND_CATEGORY);
        m->period = (char *)db_str(r, i, SPEND_PERIOD);
        m->amount = db_i64(r, i, SPEND_AMOUNT);
        m->disbursements = db_i64(r, i, SPEND_DISBURSEMENTS);
        m->purchases = db_i64(r, i, SPEND_PURCHASES);
        m->purchase_amount = db_i64(r, i, SPEND_PURCHASE_AMOUNT);
        resp->total += m->amount;
        resp->disbursements += m->disbursements;
        resp->purchases += m->purchases;
        resp->purchase_total += m->purchase_amount;
        resp->rows[i] = m;
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ budgets */

#define UTILISATION_COLUMNS(COL)                                                                   \
    COL(UTIL_GRID_CODE, "g.code")                                                                  \
    COL(UTIL_PERIOD, ", b.period")                                                                 \
    COL(UTIL_CATEGORY, ", b.category")                                                             \
    COL(UTIL_AMOUNT, ", b.amount")                                                                 \
    COL(UTIL_SPENT, ", b.spent")                                                                   \
    COL(UTIL_PENDING, ", b.pending")                                                               \
    COL(UTIL_REMAINING, ", b.amount - b.spent - b.pending")                                        \
    COL(UTIL_UTILISATION,                                                                          \
        ", CASE WHEN b.amount > 0 THEN (b.spent + b.pending)::float8 / b.amount ELSE 0 END u")
enum { UTILISATION_COLUMNS(DB_COL_NAME) UTIL_NCOLS };
#define UTILISATION_COLS UTILISATION_COLUMNS(DB_COL_SQL)

gs_code fund_report_budget_utilisation(call *c, const Gridstock__V1__BudgetUtilisationRequest *req,
                                       Gridstock__V1__BudgetUtilisationResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    if (*req->period)
        GS_TRY(fund_check_period(c, "period", req->period, false));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, false));
    GS_TRY(dir_double_range(c, "min_utilisation", req->min_utilisation, 0, 1));
    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " UTILISATION_COLS
                   " FROM fund_budgets b JOIN org_units g ON g.id = b.org_unit_id"
                   " WHERE g.path <@ $1::ltree AND ($2 = '' OR b.period = $2)"
                   " AND ($3 = '' OR b.category = $3)"
                   " AND CASE WHEN b.amount > 0 THEN (b.spent + b.pending)::float8 / b.amount"
                   "  ELSE 0 END >= $4::float8"
                   " ORDER BY u DESC, g.code, b.first_day, b.period, b.category LIMIT 20001",
                   4, u.path, req->period, req->category, dir_f64(c, req->min_utilisation)));
    int rows = db_rows(r);
    if (rows > REPORT_ROWS_MAX)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "more than %d budgets: give a period or a category", REPORT_ROWS_MAX);
    resp->n_rows = (size_t)rows;
    resp->rows = (Gridstock__V1__BudgetUtilisationRow **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__BudgetUtilisationRow *m =
            call_msg(c, &gridstock__v1__budget_utilisation_row__descriptor);
        m->grid_code = (char *)db_str(r, i, UTIL_GRID_CODE);
        m->period = (char *)db_str(r, i, UTIL_PERIOD);
        m->category = (char *)db_str(r, i, UTIL_CATEGORY);
        m->amount = db_i64(r, i, UTIL_AMOUNT);
        m->spent = db_i64(r, i, UTIL_SPENT);
        m->pending = db_i64(r, i, UTIL_PENDING);
        m->remaining = db_i64(r, i, UTIL_REMAINING);
        m->utilisation = db_f64(r, i, UTIL_UTILISATION);
        resp->total_amount += m->amount;
        resp->total_spent += m->spent;
        resp->total_pending += m->pending;
        resp->rows[i] = m;
    }
    if (resp->total_amount > 0)
        resp->utilisation =
            (double)(resp->total_spent + resp->total_pending) / (double)resp->total_amount;
    return GS_OK;
}

/* ------------------------------------------------------------------ balances */

static const char *const balance_kinds[] = {"external", "source",  "grid_fund",
                                            "payee",    "expense", NULL};

#define BALANCE_ROW_COLUMNS(COL)                                                                   \
    COL(BAL_ACCOUNT_CODE, "f.code")                                                                \
    COL(BAL_ACCOUNT_NAME, ", f.name")                                                              \
    COL(BAL_KIND, ", f.kind")                                                                      \
    COL(BAL_ORG_UNIT_CODE, ", coalesce(ou.code, '')")                                              \
    COL(BAL_BALANCE, ", f.balance")                                                                \
    COL(BAL_PENDING, ", f.pending")                                                                \
    COL(BAL_AVAILABLE, ", f.balance - f.pending")                                                  \
    COL(BAL_RESERVE_VALUE, ", coalesce(rv.value_fen, 0)")                                          \
    COL(BAL_RESERVE_SITES, ", coalesce(rv.sites, 0)")
enum { BALANCE_ROW_COLUMNS(DB_COL_NAME) BAL_NCOLS };
#define BALANCE_ROW_COLS BALANCE_ROW_COLUMNS(DB_COL_SQL)

gs_code fund_report_balances(call *c, const Gridstock__V1__BalancesRequest *req,
                             Gridstock__V1__BalancesResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_enum(c, "kind", req->kind, balance_kinds, false));
    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    /* accounts the caller can see that belong to the subtree, or enclose it (sources,
     * district-wide payees); the external account only when asked for */
    GS_TRY(db_exec(c, &r,
                   "SELECT " BALANCE_ROW_COLS " FROM fund_accounts f"
                   " LEFT JOIN org_units ou ON ou.id = f.org_unit_id"
                   " LEFT JOIN LATERAL stock_unit_reserve_value(ou.path) rv"
                   " ON f.kind IN ('grid_fund', 'source')"
                   " WHERE fund_account_visible(f, $2::ltree)"
                   " AND (ou.id IS NULL OR ou.path <@ $1::ltree OR $1::ltree <@ ou.path)"
                   " AND CASE WHEN $3 = '' THEN f.kind <> 'external' ELSE f.kind = $3 END"
                   " AND (NOT $4::boolean OR f.balance <> 0 OR f.pending <> 0)"
                   " ORDER BY array_position(ARRAY['external', 'source', 'grid_fund', 'expense',"
                   " 'payee'], f.kind), f.code LIMIT 20001",
                   4, u.path, c->who.scope_path, req->kind, req->nonzero_only ? "true" : "false"));
    int rows = db_rows(r);
    if (rows > REPORT_ROWS_MAX)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "more than %d accounts: give a kind or a smaller org unit",
                         REPORT_ROWS_MAX);
    resp->n_rows = (size_t)rows;
    resp->rows = (Gridstock__V1__BalanceRow **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__BalanceRow *m = call_msg(c, &gridstock__v1__balance_row__descriptor);
        m->account_code = (char *)db_str(r, i, BAL_ACCOUNT_CODE);
        m->account_name = (char *)db_str(r, i, BAL_ACCOUNT_NAME);
        m->kind = (char *)db_str(r, i, BAL_KIND);
        m->org_unit_code = (char *)db_str(r, i, BAL_ORG_UNIT_CODE);
        m->balance = db_i64(r, i, BAL_BALANCE);
        m->pending = db_i64(r, i, BAL_PENDING);
        m->available = db_i64(r, i, BAL_AVAILABLE);
        m->reserve_value_fen = db_i64(r, i, BAL_RESERVE_VALUE);
        m->reserve_sites = (int32_t)db_i64(r, i, BAL_RESERVE_SITES);
        resp->total_balance += m->balance;
        resp->total_pending += m->pending;
        resp->rows[i] = m;
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ register */

#define REGISTER_COLUMNS(COL)                                                                      \
    COL(REG_ID, "d.id", id, i64)                                                                   \
    COL(REG_GRID_CODE, ", g.code", grid_code, str)                                                 \
    COL(REG_PAYEE_CODE, ", pa.code", payee_code, str)                                              \
    COL(REG_PAYEE_NAME, ", pa.name", payee_name, str)                                              \
    COL(REG_CATEGORY, ", d.category", category, str)                                               \
    COL(REG_PERIOD, ", d.period", period, str)                                                     \
    COL(REG_AMOUNT, ", d.amount", amount, i64)                                                     \
    COL(REG_STATE, ", d.state", state, str)                                                        \
    COL(REG_PURPOSE, ", d.purpose", purpose, str)                                                  \
    COL(REG_PROGRAMME_CODE, ", coalesce(pr.code, '')", programme_code, str)                        \
    COL(REG_PREPARER, ", up.login", preparer, str)                                                 \
    COL(REG_PREPARED_AT, ", fund_ts(d.prepared_at)", prepared_at, str)                             \
    COL(REG_APPROVER, ", coalesce(ua.login, '')", approver, str)                                   \
    COL(REG_APPROVED_AT, ", coalesce(fund_ts(d.approved_at), '')", approved_at, str)               \
    COL(REG_POSTED_BY, ", coalesce(upo.login, '')", posted_by, str)                                \
    COL(REG_POSTED_AT, ", coalesce(fund_ts(d.posted_at), '')", posted_at, str)                     \
    COL(REG_REJECTED_BY, ", coalesce(ur.login, '')", rejected_by, str)                             \
    COL(REG_REJECTED_AT, ", coalesce(fund_ts(d.rejected_at), '')", rejected_at, str)               \
    COL(REG_REJECT_REASON, ", coalesce(d.reject_reason, '')", reject_reason, str)                  \
    COL(REG_VOIDED_BY,                                                                             \
        ", CASE WHEN d.voided_at IS NULL THEN '' ELSE coalesce(uv.login, 'system') END",           \
        voided_by, str)                                                                            \
    COL(REG_VOIDED_AT, ", coalesce(fund_ts(d.voided_at), '')", voided_at, str)                     \
    COL(REG_POSTING_ID, ", coalesce(d.posting_id, 0)", posting_id, i64)                            \
    COL(REG_REVERSAL_POSTING_ID, ", coalesce(d.reversal_posting_id, 0)", reversal_posting_id, i64)
enum { REGISTER_COLUMNS(DB_COL_NAME) REG_NCOLS };
#define REGISTER_COLS REGISTER_COLUMNS(DB_COL_SQL)

static void register_row_from_row(Gridstock__V1__RegisterRow *m, const db_res *r,
                                  int row){REGISTER_COLUMNS(DB_COL_FILL)}

gs_code fund_report_disbursement_register(call *c,
                                          const Gridstock__V1__DisbursementRegisterRequest *req,
                                          Gridstock__V1__DisbursementRegisterResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;
    int64_t after = 0;

    GS_TRY(opt_month(c, "from_period", req->from_period));
    GS_TRY(opt_month(c, "to_period", req->to_period));
    GS_TRY(dir_enum(c, "state", req->state, disb_state_names, false));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, false));
    GS_TRY(v_range(c, "page_size", req->page_size, 0, REGISTER_PAGE_MAX));
    if (*req->page_token) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(req->page_token, &end, 10);
        if (errno || !end || *end || v <= 0)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "page_token: not a token from a previous page");
        after = v;
    }
    int64_t limit = (req->page_size ? req->page_size : 1000) + 1;
    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    GS_TRY(db_exec(
        c, &r,
        "SELECT " REGISTER_COLS
        " FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id"
        " JOIN org_units g ON g.id = f.org_unit_id"
        " JOIN fund_accounts pa ON pa.id = d.payee_account_id JOIN users up ON up.id = "
        "d.preparer_id"
        " LEFT JOIN users ua ON ua.id = d.approver_id LEFT JOIN users ur ON ur.id = d.rejected_by"
        " LEFT JOIN users upo ON upo.id = d.posted_by LEFT JOIN users uv ON uv.id = d.voided_by"
        " LEFT JOIN fund_programme_run_items ri ON ri.disbursement_id = d.id"
        " LEFT JOIN fund_programme_runs ru ON ru.id = ri.run_id"
        " LEFT JOIN fund_programmes pr ON pr.id = ru.programme_id"
        " WHERE g.path <@ $1::ltree AND d.id > $2::bigint AND ($3 = '' OR d.period >= $3)"
        " AND ($4 = '' OR d.period <= $4) AND ($5 = '' OR d.state = $5)"
        " AND ($6 = '' OR d.category = $6) ORDER BY d.id LIMIT $7",
        7, u.path, call_i64(c, after), req->from_period, req->to_period, req->state, req->category,
        call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, REG_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->rows, resp->n_rows, &gridstock__v1__register_row__descriptor,
                 register_row_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ HTML */

static const char *const cat_colors[] = {"#3b6ea8", "#e39b2d", "#4f9d69", "#b8527a", "#8a6fb3"};

static int cat_index(const char *cat)
{
    for (int i = 0; fund_categories[i]; i++)
        if (strcmp(fund_categories[i], cat) == 0)
            return i;
    return 0;
}

static const char *yuan(call *c, int64_t fen)
{
    return report_amount(c, fen, 100, false);
}

#define HTML_BUDGET_COLUMNS(COL)                                                                   \
    COL(HBUD_GRID_CODE, "g.code")                                                                  \
    COL(HBUD_AMOUNT, ", sum(b.amount)::bigint")                                                    \
    COL(HBUD_SPENT, ", sum(b.spent)::bigint")                                                      \
    COL(HBUD_PENDING, ", sum(b.pending)::bigint")
enum { HTML_BUDGET_COLUMNS(DB_COL_NAME) HBUD_NCOLS };
#define HTML_BUDGET_COLS HTML_BUDGET_COLUMNS(DB_COL_SQL)

#define HTML_SPENDING_COLUMNS(COL)                                                                 \
    COL(HSPEND_CATEGORY, "s.category")                                                             \
    COL(HSPEND_MONTH, ", to_char(s.month, 'YYYY-MM')")                                             \
    COL(HSPEND_AMOUNT, ", sum(s.amount)::bigint")                                                  \
    COL(HSPEND_DISBURSEMENTS, ", sum(s.disbursements)::bigint")
enum { HTML_SPENDING_COLUMNS(DB_COL_NAME) HSPEND_NCOLS };
#define HTML_SPENDING_COLS HTML_SPENDING_COLUMNS(DB_COL_SQL)

/* Stacked monthly bars by category, from rows (category, month, amount). */
static void chart_spending(report_doc *d, call *c, const db_res *r, const char *const *months,
                           int nm)
{
    int64_t *stack = arena_alloc(c->arena, (size_t)(nm ? nm : 1) * 5 * sizeof *stack);
    for (int i = 0; i < db_rows(r); i++)
        for (int m = 0; m < nm; m++)
            if (strcmp(db_str(r, i, HSPEND_MONTH), months[m]) == 0)
                stack[m * 5 + cat_index(db_str(r, i, HSPEND_CATEGORY))] +=
                    db_i64(r, i, HSPEND_AMOUNT);
    static const char *const labels[] = {RN_("subsidies"), RN_("rewards"), RN_("activities"),
                                         RN_("material_purchases"), RN_("emergency")};
    const char **names = arena_alloc(c->arena, 5 * sizeof *names);
    for (int k = 0; k < 5; k++)
        names[k] = RT(d, labels[k]);
    report_stacked_bars chart = {.aria_label = RT(d, "Spending over time"),
                                 .unit = RT(d, "yuan"),
                                 .scale = 100,
                                 .n_bars = nm,
                                 .bar_labels = months,
                                 .n_series = 5,
                                 .series_names = names,
                                 .colors = cat_colors,
                                 .values = stack};
    report_svg_stacked_bars(d, &chart);
}

/* Horizontal bars: per grid, from rows (code, amount, spent, pending), budget use. */
static void chart_budgets(report_doc *d, call *c, const db_res *r, int n)
{
    size_t sz = (size_t)(n ? n : 1);
    const char **codes = arena_alloc(c->arena, sz * sizeof *codes);
    int64_t *amount = arena_alloc(c->arena, sz * sizeof *amount),
            *spent = arena_alloc(c->arena, sz * sizeof *spent),
            *pending = arena_alloc(c->arena, sz * sizeof *pending);
    for (int i = 0; i < n; i++) {
        codes[i] = db_str(r, i, HBUD_GRID_CODE);
        amount[i] = db_i64(r, i, HBUD_AMOUNT);
        spent[i] = db_i64(r, i, HBUD_SPENT);
        pending[i] = db_i64(r, i, HBUD_PENDING);
    }
    report_use_bars chart = {.aria_label = RT(d, "Budget use by grid"),
                             .scale = 100,
                             .warn_pct = 90,
                             .n = n,
                             .labels = codes,
                             .capacity = amount,
                             .used = spent,
                             .reserved = pending};
    report_svg_use_bars(d, &chart);
}

/* A review flag's kind as the report's reader says it. */
static const char *flag_label(const report_doc *d, const char *kind)
{
    if (!strcmp(kind, "split"))
        return RT(d, "split payment?");
    if (!strcmp(kind, "many_grids"))
        return RT(d, "one payee, many grids?");
    if (!strcmp(kind, "late_full"))
        return RT(d, "budget spent down late?");
    return kind;
}

#define HTML_BALANCE_COLUMNS(COL)                                                                  \
    COL(HBAL_FUNDS, "count(*)")                                                                    \
    COL(HBAL_BALANCE, ", coalesce(sum(f.balance), 0)::bigint")                                     \
    COL(HBAL_PENDING, ", coalesce(sum(f.pending), 0)::bigint")                                     \
    COL(HBAL_MIN_AVAILABLE, ", coalesce(min(f.balance - f.pending), 0)")                           \
    COL(HBAL_LOWEST_CODE, ", coalesce((array_agg(ou.code ORDER BY f.balance - f.pending))[1], "    \
                          "'')")                                                                   \
    COL(HBAL_RESERVE_VALUE, ", (SELECT value_fen FROM stock_unit_reserve_value($1::ltree))")       \
    COL(HBAL_RESERVE_SITES, ", (SELECT sites FROM stock_unit_reserve_value($1::ltree))")
enum { HTML_BALANCE_COLUMNS(DB_COL_NAME) HBAL_NCOLS };
#define HTML_BALANCE_COLS HTML_BALANCE_COLUMNS(DB_COL_SQL)

#define HTML_MONTH_COLUMNS(COL)                                                                    \
    COL(HMONTH_MONTH, "to_char(m, 'YYYY-MM')")                                                     \
    COL(HMONTH_TO_PERIOD, ", t.to_p")                                                              \
    COL(HMONTH_NOW, ", fund_ts(now())")
enum { HTML_MONTH_COLUMNS(DB_COL_NAME) HMONTH_NCOLS };
#define HTML_MONTH_COLS HTML_MONTH_COLUMNS(DB_COL_SQL)

gs_code fund_report_export_html_report(call *c, const Gridstock__V1__ExportHtmlReportRequest *req,
                                       Gridstock__V1__ExportHtmlReportResponse *resp)
{
    dir_unit u;
    db_res *pr = NULL, *sp = NULL, *bud = NULL, *bal = NULL;
    report_lang lang;

    GS_TRY(report_lang_pick(c, "lang", req->lang, &lang));
    GS_TRY(opt_month(c, "from_period", req->from_period));
    GS_TRY(opt_month(c, "to_period", req->to_period));
    if (*req->budget_period)
        GS_TRY(fund_check_period(c, "budget_period", req->budget_period, false));
    GS_TRY(v_len(c, "title", req->title, 200));
    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    /* the months of the range, oldest first */
    GS_TRY(db_exec(c, &pr,
                   "WITH t AS (SELECT coalesce(nullif($2, ''), to_char(current_date,"
                   " 'YYYY-MM')) AS to_p)"
                   " SELECT " HTML_MONTH_COLS
                   " FROM t, generate_series(coalesce((nullif($1, '') || '-01')::date,"
                   " (t.to_p || '-01')::date - interval '11 months'), (t.to_p || '-01')::date,"
                   " interval '1 month') m ORDER BY m",
                   2, req->from_period, req->to_period));
    int nm = db_rows(pr);
    if (nm == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "from_period: after to_period");
    if (nm > 120)
        return call_fail(c, GS_INVALID_ARGUMENT, "from_period: at most 120 months in a report");
    const char **months = arena_alloc(c->arena, (size_t)nm * sizeof *months);
    for (int i = 0; i < nm; i++)
        months[i] = db_str(pr, i, HMONTH_MONTH);
    const char *to_p = db_str(pr, 0, HMONTH_TO_PERIOD), *now = db_str(pr, 0, HMONTH_NOW);
    const char *bperiod = *req->budget_period ? req->budget_period : to_p;

    GS_TRY(db_exec(c, &sp,
                   "SELECT " HTML_SPENDING_COLS
                   " FROM (SELECT org_unit_id, category, month, amount, disbursements"
                   " FROM fund_spending UNION ALL SELECT org_unit_id, category, month, amount,"
                   " purchases FROM fund_purchase_spending) s"
                   " JOIN org_units g ON g.id = s.org_unit_id"
                   " WHERE g.path <@ $1::ltree AND s.month BETWEEN ($2 || '-01')::date"
                   " AND ($3 || '-01')::date GROUP BY 1, 2 ORDER BY 2, 1",
                   3, u.path, months[0], months[nm - 1]));
    GS_TRY(db_exec(c, &bud,
                   "SELECT " HTML_BUDGET_COLS " FROM fund_budgets b JOIN org_units g"
                   " ON g.id = b.org_unit_id WHERE g.path <@ $1::ltree AND b.period = $2"
                   " GROUP BY g.code ORDER BY CASE WHEN sum(b.amount) > 0 THEN"
                   " (sum(b.spent) + sum(b.pending))::float8 / sum(b.amount) ELSE 0 END DESC,"
                   " g.code",
                   2, u.path, bperiod));
    GS_TRY(db_exec(c, &bal,
                   "SELECT " HTML_BALANCE_COLS
                   " FROM fund_accounts f JOIN org_units ou ON ou.id = f.org_unit_id"
                   " WHERE f.kind = 'grid_fund' AND ou.path <@ $1::ltree",
                   1, u.path));

    Gridstock__V1__ReviewFlag **flags = NULL;
    size_t nflags = 0;
    Gridstock__V1__ReviewFlagsRequest freq = GRIDSTOCK__V1__REVIEW_FLAGS_REQUEST__INIT;
    flag_args fa;
    GS_TRY(flag_args_make(c, &freq, &u, &fa));
    GS_TRY(flags_collect(c, &fa, &flags, &nflags));

    int64_t cat_tot[5] = {0}, cat_n[5] = {0}, total = 0, count = 0;
    for (int i = 0; i < db_rows(sp); i++) {
        int k = cat_index(db_str(sp, i, HSPEND_CATEGORY));
        cat_tot[k] += db_i64(sp, i, HSPEND_AMOUNT);
        cat_n[k] += db_i64(sp, i, HSPEND_DISBURSEMENTS);
        total += db_i64(sp, i, HSPEND_AMOUNT);
        count += db_i64(sp, i, HSPEND_DISBURSEMENTS);
    }
    int64_t btot = 0, bused = 0;
    for (int i = 0; i < db_rows(bud); i++) {
        btot += db_i64(bud, i, HBUD_AMOUNT);
        bused += db_i64(bud, i, HBUD_SPENT) + db_i64(bud, i, HBUD_PENDING);
    }

    report_doc d = {.lang = lang}; /* RT reads only the language until report_begin */
    const char *title = *req->title
                            ? req->title
                            : call_printf(c, RT(&d, "Grid work funds \xe2\x80\x94 %s"), u.name);
    report_begin(&d, c, HTML_MAX, &lang, title);
    report_puts(&d, "<p class=\"meta\">");
    report_esc(&d, u.code);
    report_puts(&d, " ");
    report_esc(&d, u.name);
    report_printf(
        &d, RT(&d, " &middot; spending %s to %s &middot; budgets %s &middot; generated %s by "),
        months[0], months[nm - 1], bperiod, now);
    report_esc(&d, c->who.login);
    report_puts(&d, "</p>\n");
    report_cards_begin(&d);
    report_printf(&d,
                  RT(&d, "<div class=\"card\">Spent<b>%s</b>yuan in %" PRId64 " payments</div>"),
                  yuan(c, total), count);
    report_printf(&d, RT(&d, "<div class=\"card\">Budgets %s<b>%.1f%%</b>used of %s yuan</div>"),
                  bperiod, btot ? 100.0 * (double)bused / (double)btot : 0.0, yuan(c, btot));
    report_printf(
        &d,
        RT(&d, "<div class=\"card\">Grid funds<b>%s</b>yuan held by %s funds, %s reserved</div>"),
        yuan(c, db_i64(bal, 0, HBAL_BALANCE)), db_str(bal, 0, HBAL_FUNDS),
        yuan(c, db_i64(bal, 0, HBAL_PENDING)));
    if (db_i64(bal, 0, HBAL_RESERVE_SITES) > 0) /* the unit keeps stock: what it is worth */
        report_printf(
            &d, RT(&d, "<div class=\"card\">Reserves<b>%s</b>yuan of stock at %s sites</div>"),
            yuan(c, db_i64(bal, 0, HBAL_RESERVE_VALUE)), db_str(bal, 0, HBAL_RESERVE_SITES));
    report_printf(&d, RT(&d, "<div class=\"card\">Review flags<b>%zu</b>to look at</div>"), nflags);
    report_cards_end(&d);

    report_printf(&d, "<h2>%s</h2>\n", RT(&d, "Spending over time"));
    chart_spending(&d, c, sp, months, nm);
    report_printf(&d, "<table><tr><th>%s</th><th>%s</th><th>%s</th></tr>\n", RT(&d, "category"),
                  RT(&d, "payments"), RT(&d, "yuan"));
    for (int k = 0; k < 5; k++)
        report_printf(
            &d, "<tr><td>%s</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%s</td></tr>\n",
            RT(&d, fund_categories[k]), cat_n[k], yuan(c, cat_tot[k]));
    report_printf(&d,
                  "<tr><th>%s</th><th class=\"n\">%" PRId64 "</th><th class=\"n\">%s</th></tr>"
                  "</table>\n",
                  RT(&d, "total"), count, yuan(c, total));

    int nb = db_rows(bud), shown = nb > 60 ? 60 : nb;
    report_puts(&d, "<h2>");
    report_printf(&d, RT(&d, "Budget use by grid, %s"), bperiod);
    report_puts(&d, "</h2>\n<p>");
    if (nb == 0)
        report_printf(&d, RT(&d, "No budgets for %s."), bperiod);
    else {
        if (nb > shown)
            report_printf(&d,
                          RT(&d, "The %d most used of %d grids; spent dark, reserved "
                                 "light; red at 90%% or more."),
                          shown, nb);
        else
            report_printf(&d, RT(&d, "Spent dark, reserved light; red at 90%% or more."));
    }
    report_puts(&d, "</p>\n");
    if (nb > 0)
        chart_budgets(&d, c, bud, shown);

    report_puts(&d, "<h2>");
    report_printf(&d, RT(&d, "Review flags (%s to %s)"), fa.from, fa.to);
    report_puts(&d, "</h2>\n");
    if (nflags == 0)
        report_printf(&d, "<p>%s</p>\n", RT(&d, "None."));
    else {
        report_printf(&d,
                      "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                      "<th>%s</th></tr>\n",
                      RT(&d, "kind"), RT(&d, "grid"), RT(&d, "payee / budget"), RT(&d, "yuan"),
                      RT(&d, "disbursements"), RT(&d, "why"));
        for (size_t i = 0; i < nflags; i++) {
            const Gridstock__V1__ReviewFlag *f = flags[i];
            report_printf(&d, "<tr><td>%s</td><td>", flag_label(&d, f->kind));
            report_esc(&d, f->grid_code);
            report_puts(&d, "</td><td>");
            report_esc(&d, *f->payee_code ? f->payee_code : f->budget);
            report_printf(&d, "</td><td class=\"n\">%s</td><td>", yuan(c, f->amount));
            report_esc(&d, f->disbursement_ids);
            report_puts(&d, "</td><td>");
            report_esc(&d, f->reason);
            report_puts(&d, "</td></tr>\n");
        }
        report_puts(&d, "</table>\n");
    }
    const char *html = report_end(
        &d, RT(&d, "<p class=\"meta\">Amounts in yuan (1 yuan = 100 fen). Spending is what "
                   "was posted for each month, net of reversals. gridstock</p>\n"));
    if (!html)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "the report would exceed %d bytes: choose a smaller org unit", HTML_MAX);
    resp->html = (char *)html;
    return GS_OK;
}
