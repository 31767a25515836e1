/* fund_reports.c — FundReportService: spending by grid, category and month (read from
 * the fund_spending summary of 022_fund_reports.sql), budget utilisation, balances, the
 * disbursement register, review flags, and a self-contained HTML report with inline SVG
 * charts. Every report is one repeated message (so the CLI's --csv exports it) limited to
 * the caller's scope. */
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
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/reports.pb-c.h"
#include "gridstock/v1/reports.rpc.h"

enum { REPORT_ROWS_MAX = 20000, REGISTER_PAGE_MAX = 10000, HTML_MAX = 4 << 20 };

static const char *const group_bys[] = {"grid", "community", "street", "category", "month", NULL};

/* The subtree a report covers: org_unit_id / org_unit_code, else the caller's scope. */
static gs_code report_unit(call *c, int64_t id, const char *code, dir_unit *u)
{
    return dir_unit_find(c, id, code, "org_unit_id", false, u);
}

/* "" or a month. */
static gs_code opt_month(call *c, const char *field, const char *p)
{
    return *p ? fund_check_period(c, field, p, true) : GS_OK;
}

/* ------------------------------------------------------------------ spending */

/* $1 subtree, $2 from month, $3 to month, $4 category, $5 group_by. */
static const char SPENDING_SQL[] =
    "WITH x AS (SELECT CASE $5 WHEN 'grid' THEN g.id WHEN 'community' THEN g.parent_id"
    "  WHEN 'street' THEN c.parent_id END unit,"
    "  CASE WHEN $5 = 'month' THEN '' ELSE s.category END cat, s.month,"
    "  sum(s.amount) amount, sum(s.disbursements) n"
    " FROM fund_spending s JOIN org_units g ON g.id = s.org_unit_id"
    " JOIN org_units c ON c.id = g.parent_id"
    " WHERE g.path <@ $1::ltree AND ($2 = '' OR s.month >= ($2 || '-01')::date)"
    " AND ($3 = '' OR s.month <= ($3 || '-01')::date) AND ($4 = '' OR s.category = $4)"
    " GROUP BY 1, 2, 3 HAVING sum(s.amount) <> 0 OR sum(s.disbursements) <> 0)"
    " SELECT coalesce(a.code, ''), coalesce(a.name, ''), x.cat, to_char(x.month, 'YYYY-MM'),"
    " x.amount::bigint, x.n::bigint FROM x LEFT JOIN org_units a ON a.id = x.unit"
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
        m->unit_code = (char *)db_str(r, i, 0);
        m->unit_name = (char *)db_str(r, i, 1);
        m->category = (char *)db_str(r, i, 2);
        m->period = (char *)db_str(r, i, 3);
        m->amount = db_i64(r, i, 4);
        m->disbursements = db_i64(r, i, 5);
        resp->total += m->amount;
        resp->disbursements += m->disbursements;
        resp->rows[i] = m;
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ budgets */

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
    GS_TRY(
        db_exec(c, &r,
                "SELECT g.code, b.period, b.category, b.amount, b.spent, b.pending,"
                " b.amount - b.spent - b.pending,"
                " CASE WHEN b.amount > 0 THEN (b.spent + b.pending)::float8 / b.amount ELSE 0 END u"
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
        m->grid_code = (char *)db_str(r, i, 0);
        m->period = (char *)db_str(r, i, 1);
        m->category = (char *)db_str(r, i, 2);
        m->amount = db_i64(r, i, 3);
        m->spent = db_i64(r, i, 4);
        m->pending = db_i64(r, i, 5);
        m->remaining = db_i64(r, i, 6);
        m->utilisation = db_f64(r, i, 7);
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
                   "SELECT f.code, f.name, f.kind, coalesce(ou.code, ''), f.balance, f.pending,"
                   " f.balance - f.pending FROM fund_accounts f"
                   " LEFT JOIN org_units ou ON ou.id = f.org_unit_id"
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
        m->account_code = (char *)db_str(r, i, 0);
        m->account_name = (char *)db_str(r, i, 1);
        m->kind = (char *)db_str(r, i, 2);
        m->org_unit_code = (char *)db_str(r, i, 3);
        m->balance = db_i64(r, i, 4);
        m->pending = db_i64(r, i, 5);
        m->available = db_i64(r, i, 6);
        resp->total_balance += m->balance;
        resp->total_pending += m->pending;
        resp->rows[i] = m;
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ register */

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
        "SELECT d.id, g.code, pa.code, pa.name, d.category, d.period, d.amount, d.state,"
        " d.purpose, coalesce(pr.code, ''), up.login, fund_ts(d.prepared_at),"
        " coalesce(ua.login, ''), coalesce(fund_ts(d.approved_at), ''), coalesce(upo.login, ''),"
        " coalesce(fund_ts(d.posted_at), ''), coalesce(ur.login, ''),"
        " coalesce(fund_ts(d.rejected_at), ''), coalesce(d.reject_reason, ''),"
        " CASE WHEN d.voided_at IS NULL THEN '' ELSE coalesce(uv.login, 'system') END,"
        " coalesce(fund_ts(d.voided_at), ''), coalesce(d.posting_id, 0),"
        " coalesce(d.reversal_posting_id, 0)"
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
    resp->next_page_token = (char *)db_page_next(c, r, 0, limit, &rows);
    resp->n_rows = (size_t)rows;
    resp->rows = (Gridstock__V1__RegisterRow **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        Gridstock__V1__RegisterRow *m = call_msg(c, &gridstock__v1__register_row__descriptor);
        int k = 0;
        m->id = db_i64(r, i, k++);
        m->grid_code = (char *)db_str(r, i, k++);
        m->payee_code = (char *)db_str(r, i, k++);
        m->payee_name = (char *)db_str(r, i, k++);
        m->category = (char *)db_str(r, i, k++);
        m->period = (char *)db_str(r, i, k++);
        m->amount = db_i64(r, i, k++);
        m->state = (char *)db_str(r, i, k++);
        m->purpose = (char *)db_str(r, i, k++);
        m->programme_code = (char *)db_str(r, i, k++);
        m->preparer = (char *)db_str(r, i, k++);
        m->prepared_at = (char *)db_str(r, i, k++);
        m->approver = (char *)db_str(r, i, k++);
        m->approved_at = (char *)db_str(r, i, k++);
        m->posted_by = (char *)db_str(r, i, k++);
        m->posted_at = (char *)db_str(r, i, k++);
        m->rejected_by = (char *)db_str(r, i, k++);
        m->rejected_at = (char *)db_str(r, i, k++);
        m->reject_reason = (char *)db_str(r, i, k++);
        m->voided_by = (char *)db_str(r, i, k++);
        m->voided_at = (char *)db_str(r, i, k++);
        m->posting_id = db_i64(r, i, k++);
        m->reversal_posting_id = db_i64(r, i, k++);
        resp->rows[i] = m;
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ review flags */

typedef struct flag_args {
    const char *path, *from, *to;
    int64_t threshold;
    int32_t window_days, many_grids, late_days;
    double margin, full_ratio;
} flag_args;

/* Disbursements in the review: approved (maybe posted or reversed since) with approval in
 * [$2, $3], grid in $1. */
#define FLAG_BASE                                                                                  \
    "WITH d AS (SELECT d.id, d.fund_account_id, d.payee_account_id, d.amount, d.approved_at,"      \
    " g.code grid, pa.code payee, pa.kind payee_kind"                                              \
    " FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id"                  \
    " JOIN org_units g ON g.id = f.org_unit_id JOIN fund_accounts pa ON pa.id = "                  \
    "d.payee_account_id"                                                                           \
    " WHERE d.state IN ('approved', 'posted', 'reversed') AND g.path <@ $1::ltree"                 \
    " AND d.approved_at >= $2::date AND d.approved_at < $3::date + 1) "

static const char FLAG_SPLIT_SQL[] = FLAG_BASE
    ", s AS (SELECT * FROM d WHERE amount < $4::bigint AND amount >= $4::bigint * (1 - "
    "$5::float8)),"
    " w AS (SELECT a.id anchor, a.fund_account_id, a.payee_account_id, a.grid, a.payee,"
    "  count(*) n, sum(b.amount)::bigint total, string_agg(b.id::text, ' ' ORDER BY b.id) ids,"
    "  min(b.approved_at) first, max(b.approved_at) last"
    "  FROM s a JOIN s b ON b.fund_account_id = a.fund_account_id"
    "  AND b.payee_account_id = a.payee_account_id AND b.approved_at >= a.approved_at"
    "  AND b.approved_at < a.approved_at + make_interval(days => $6::int)"
    "  GROUP BY 1, 2, 3, 4, 5 HAVING count(*) >= 2 AND sum(b.amount) > $4::bigint)"
    " SELECT DISTINCT ON (fund_account_id, payee_account_id) grid, payee, total, n::int, ids,"
    " (last::date - first::date) FROM w"
    " ORDER BY fund_account_id, payee_account_id, n DESC, total DESC, anchor";

static const char FLAG_MANY_SQL[] =
    FLAG_BASE "SELECT min(grid), payee, sum(amount)::bigint, count(*)::int,"
              " string_agg(id::text, ' ' ORDER BY id), count(DISTINCT grid)::int,"
              " string_agg(DISTINCT grid, ', ')"
              " FROM d WHERE payee_kind = 'payee' AND $4::bigint >= 0"
              " GROUP BY payee_account_id, payee HAVING count(DISTINCT grid) >= $5::int"
              " ORDER BY payee";

static const char FLAG_LATE_SQL[] = FLAG_BASE
    "SELECT g.code, g.code || '/' || b.period || '/' || b.category, sum(d.amount)::bigint,"
    " count(*)::int, string_agg(d.id::text, ' ' ORDER BY d.id), b.spent + b.pending, b.amount,"
    " (b.end_day - 1)::text"
    " FROM fund_budgets b JOIN org_units g ON g.id = b.org_unit_id"
    " JOIN fund_budget_charges c ON c.budget_id = b.id JOIN d ON d.id = c.disbursement_id"
    " WHERE b.amount > 0 AND (b.spent + b.pending)::float8 / b.amount >= $5::float8"
    " AND d.approved_at >= b.end_day - $4::int AND d.approved_at < b.end_day"
    " GROUP BY b.id, g.code ORDER BY 2";

static Gridstock__V1__ReviewFlag *flag_new(call *c, const char *kind)
{
    Gridstock__V1__ReviewFlag *f = call_msg(c, &gridstock__v1__review_flag__descriptor);
    f->kind = (char *)kind;
    return f;
}

/* Fills *out / *n with every flag for `a`. */
static gs_code flags_collect(call *c, const flag_args *a, Gridstock__V1__ReviewFlag ***out,
                             size_t *n)
{
    db_res *s = NULL, *m = NULL, *l = NULL;
    GS_TRY(db_exec(c, &s, FLAG_SPLIT_SQL, 6, a->path, a->from, a->to, call_i64(c, a->threshold),
                   dir_f64(c, a->margin), call_i64(c, a->window_days)));
    GS_TRY(
        db_exec(c, &m, FLAG_MANY_SQL, 5, a->path, a->from, a->to, "0", call_i64(c, a->many_grids)));
    GS_TRY(db_exec(c, &l, FLAG_LATE_SQL, 5, a->path, a->from, a->to, call_i64(c, a->late_days),
                   dir_f64(c, a->full_ratio)));
    size_t total = (size_t)db_rows(s) + (size_t)db_rows(m) + (size_t)db_rows(l), k = 0;
    Gridstock__V1__ReviewFlag **v = (Gridstock__V1__ReviewFlag **)call_ptrs(c, total);
    for (int i = 0; i < db_rows(s); i++) {
        Gridstock__V1__ReviewFlag *f = flag_new(c, "split");
        f->grid_code = (char *)db_str(s, i, 0);
        f->payee_code = (char *)db_str(s, i, 1);
        f->amount = db_i64(s, i, 2);
        f->count = db_i32(s, i, 3);
        f->disbursement_ids = (char *)db_str(s, i, 4);
        f->reason = call_printf(
            c,
            "%d payments to %s from GF-%s within %s days, each just under the approval "
            "threshold of %" PRId64 " fen, together %" PRId64 " fen: a payment split to stay "
            "under the threshold?",
            f->count, f->payee_code, f->grid_code, db_str(s, i, 5), a->threshold, f->amount);
        v[k++] = f;
    }
    for (int i = 0; i < db_rows(m); i++) {
        Gridstock__V1__ReviewFlag *f = flag_new(c, "many_grids");
        f->grid_code = (char *)db_str(m, i, 0);
        f->payee_code = (char *)db_str(m, i, 1);
        f->amount = db_i64(m, i, 2);
        f->count = db_i32(m, i, 3);
        f->disbursement_ids = (char *)db_str(m, i, 4);
        f->reason =
            call_printf(c,
                        "payee %s was paid %" PRId64 " fen in %d payments from %s grid "
                        "funds (%s): one person paid from many grids?",
                        f->payee_code, f->amount, f->count, db_str(m, i, 5), db_str(m, i, 6));
        v[k++] = f;
    }
    for (int i = 0; i < db_rows(l); i++) {
        Gridstock__V1__ReviewFlag *f = flag_new(c, "late_full");
        f->grid_code = (char *)db_str(l, i, 0);
        f->budget = (char *)db_str(l, i, 1);
        f->amount = db_i64(l, i, 2);
        f->count = db_i32(l, i, 3);
        f->disbursement_ids = (char *)db_str(l, i, 4);
        int64_t used = db_i64(l, i, 5), amount = db_i64(l, i, 6);
        f->reason = call_printf(c,
                                "budget %s is %.0f%% used (%" PRId64 " of %" PRId64
                                " fen); %d payments (%" PRId64 " fen) were approved in the "
                                "last %d days of its period (ending %s): spending the budget "
                                "down before it lapses?",
                                f->budget, amount ? 100.0 * (double)used / (double)amount : 0, used,
                                amount, f->count, f->amount, a->late_days, db_str(l, i, 7));
        v[k++] = f;
    }
    *out = v;
    *n = k;
    return GS_OK;
}

/* Defaults and checks; from/to default to the 90 days up to today (UTC). */
static gs_code flag_args_make(call *c, const Gridstock__V1__ReviewFlagsRequest *req,
                              const dir_unit *u, flag_args *a)
{
    db_res *r = NULL;
    GS_TRY(v_date(c, "from_date", req->from_date));
    GS_TRY(v_date(c, "to_date", req->to_date));
    GS_TRY(v_nonneg(c, "approval_threshold", req->approval_threshold));
    GS_TRY(v_range(c, "window_days", req->window_days, 0, 366));
    GS_TRY(v_range(c, "many_grids", req->many_grids, 0, 1000));
    GS_TRY(v_range(c, "late_days", req->late_days, 0, 366));
    GS_TRY(dir_double_range(c, "split_margin", req->split_margin, 0, 1));
    GS_TRY(dir_double_range(c, "full_ratio", req->full_ratio, 0, 1));
    GS_TRY(db_exec(c, &r,
                   "SELECT coalesce(nullif($1, '')::date, current_date)::text,"
                   " coalesce(nullif($2, '')::date, coalesce(nullif($1, '')::date,"
                   " current_date) - 90)::text",
                   2, req->to_date, req->from_date));
    a->path = u->path;
    a->to = db_str(r, 0, 0);
    a->from = db_str(r, 0, 1);
    a->threshold = req->approval_threshold ? req->approval_threshold : 1000000;
    a->window_days = req->window_days ? req->window_days : 30;
    a->margin = req->split_margin > 0 ? req->split_margin : 0.2;
    a->many_grids = req->many_grids ? req->many_grids : 3;
    a->late_days = req->late_days ? req->late_days : 5;
    a->full_ratio = req->full_ratio > 0 ? req->full_ratio : 0.9;
    if (strcmp(a->from, a->to) > 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "from_date: after to_date");
    return GS_OK;
}

gs_code fund_report_review_flags(call *c, const Gridstock__V1__ReviewFlagsRequest *req,
                                 Gridstock__V1__ReviewFlagsResponse *resp)
{
    dir_unit u;
    flag_args a;

    GS_TRY(report_unit(c, req->org_unit_id, req->org_unit_code, &u));
    GS_TRY(flag_args_make(c, req, &u, &a));
    return flags_collect(c, &a, &resp->flags, &resp->n_flags);
}

/* ------------------------------------------------------------------ HTML */

typedef struct sb {
    call *c;
    char *buf;
    size_t len, cap;
    bool full;
} sb;

static void sb_put(sb *s, const char *p, size_t n)
{
    if (s->full)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (s->len + n + 1 > cap)
            cap *= 2;
        if (cap > HTML_MAX) {
            s->full = true;
            return;
        }
        char *nb = arena_alloc(s->c->arena, cap);
        if (s->len)
            memcpy(nb, s->buf, s->len);
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

static void sb_printf(sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *s, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_put(s, tmp, (size_t)n);
        return;
    }
    char *big = arena_alloc(s->c->arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_put(s, big, (size_t)n);
}

/* Text with &, <, >, " and ' escaped. */
static void sb_esc(sb *s, const char *t)
{
    for (; *t; t++) {
        switch (*t) {
        case '&':
            sb_put(s, "&amp;", 5);
            break;
        case '<':
            sb_put(s, "&lt;", 4);
            break;
        case '>':
            sb_put(s, "&gt;", 4);
            break;
        case '"':
            sb_put(s, "&quot;", 6);
            break;
        case '\'':
            sb_put(s, "&#39;", 5);
            break;
        default:
            sb_put(s, t, 1);
        }
    }
}

/* 1234567 fen → "12,345.67" yuan. */
static const char *yuan(call *c, int64_t fen)
{
    char digits[32];
    uint64_t v = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(digits, sizeof digits, "%" PRIu64, v / 100);
    size_t n = strlen(digits);
    char out[48];
    size_t k = 0;
    if (fen < 0)
        out[k++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    snprintf(out + k, sizeof out - k, ".%02u", (unsigned)(v % 100));
    return arena_strdup(c->arena, out);
}

/* The same without the fen: "12,345". */
static const char *yuan_whole(call *c, int64_t fen)
{
    char *s = (char *)yuan(c, fen);
    char *dot = strrchr(s, '.');
    if (dot)
        *dot = '\0';
    return s;
}

static const char *const cat_colors[] = {"#3b6ea8", "#e39b2d", "#4f9d69", "#b8527a", "#8a6fb3"};

static int cat_index(const char *cat)
{
    for (int i = 0; fund_categories[i]; i++)
        if (strcmp(fund_categories[i], cat) == 0)
            return i;
    return 0;
}

/* A "nice" axis maximum at or above v. */
static double nice_max(double v)
{
    if (v <= 0)
        return 1;
    double p = pow(10, floor(log10(v)));
    const double steps[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (steps[i] * p >= v)
            return steps[i] * p;
    return 10 * p;
}

/* Stacked monthly bars by category, from rows (category, month, amount) ordered by month. */
static void svg_spending(sb *s, call *c, const db_res *r, const char *const *months, int nm)
{
    const int W = 760, H = 310, L = 80, B = 40, T = 30, R = 150;
    int rows = db_rows(r);
    int64_t *tot = arena_alloc(c->arena, (size_t)(nm ? nm : 1) * sizeof *tot);
    int64_t *stack = arena_alloc(c->arena, (size_t)(nm ? nm : 1) * 5 * sizeof *stack);
    for (int i = 0; i < rows; i++) {
        for (int m = 0; m < nm; m++)
            if (strcmp(db_str(r, i, 1), months[m]) == 0) {
                tot[m] += db_i64(r, i, 2);
                stack[m * 5 + cat_index(db_str(r, i, 0))] += db_i64(r, i, 2);
            }
    }
    double max = 0;
    for (int m = 0; m < nm; m++)
        if ((double)tot[m] > max)
            max = (double)tot[m];
    max = nice_max(max / 100.0);
    sb_printf(s,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"Spending over time\">\n",
              W, H, W, H);
    int pw = W - L - R, ph = H - T - B;
    for (int t = 0; t <= 4; t++) {
        int y = T + ph - ph * t / 4;
        sb_printf(s,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                  "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                  L, y, L + pw, y, L - 6, y + 4, yuan_whole(c, (int64_t)(max * 100 * t / 4)));
    }
    double bw = nm ? (double)pw / nm : pw;
    for (int m = 0; m < nm; m++) {
        double y = T + ph;
        for (int k = 0; k < 5; k++) {
            int64_t v = stack[m * 5 + k];
            if (v <= 0)
                continue;
            double h = (double)v / 100.0 / max * ph;
            y -= h;
            sb_printf(s,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                      "<title>%s %s: %s yuan</title></rect>\n",
                      L + m * bw + bw * 0.15, y, bw * 0.7, h, cat_colors[k], months[m],
                      fund_categories[k], yuan(c, v));
        }
        if (nm <= 12 || m % 2 == 0)
            sb_printf(
                s, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%s</text>\n",
                L + m * bw + bw / 2, T + ph + 16, months[m]);
    }
    for (int k = 0; k < 5; k++)
        sb_printf(s,
                  "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\" font-size=\"12\">%s</text>\n",
                  L + pw + 20, T + 10 + k * 20, cat_colors[k], L + pw + 38, T + 20 + k * 20,
                  fund_categories[k]);
    sb_printf(s, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">yuan</text>\n",
              L - 6, T - 10);
    sb_put(s, "</svg>\n", 7);
}

/* Horizontal bars: per grid (code, amount, spent, pending) budget use. */
static void svg_budgets(sb *s, call *c, const db_res *r, int n)
{
    const int W = 760, L = 90, row = 16, T = 24;
    int H = T + n * row + 30;
    int pw = W - L - 140;
    sb_printf(s,
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
              "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"Budget use by grid\">\n",
              W, H, W, H);
    for (int t = 0; t <= 4; t++) {
        int x = L + pw * t / 4;
        sb_printf(s,
                  "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                  "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d%%</text>\n",
                  x, T - 4, x, T + n * row, x, T + n * row + 14, 25 * t);
    }
    for (int i = 0; i < n; i++) {
        int64_t amount = db_i64(r, i, 1), spent = db_i64(r, i, 2), pending = db_i64(r, i, 3);
        double us = amount > 0 ? (double)spent / (double)amount : 0;
        double up = amount > 0 ? (double)pending / (double)amount : 0;
        if (us > 1)
            us = 1;
        if (us + up > 1)
            up = 1 - us;
        int y = T + i * row;
        double pct = amount > 0 ? 100.0 * (double)(spent + pending) / (double)amount : 0;
        sb_printf(s, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", L - 6,
                  y + 11);
        sb_esc(s, db_str(r, i, 0));
        sb_printf(s,
                  "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#eef1f5\"/>"
                  "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                  "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#9fb8d6\"/>"
                  "<text x=\"%d\" y=\"%d\" font-size=\"11\">%.0f%% of %s</text>\n",
                  L, y + 2, pw, row - 4, L, y + 2, us * pw, row - 4,
                  pct >= 90 ? "#c0392b" : "#3b6ea8", L + us * pw, y + 2, up * pw, row - 4,
                  L + pw + 6, y + 11, pct, yuan(c, amount));
    }
    sb_put(s, "</svg>\n", 7);
}

gs_code fund_report_export_html_report(call *c, const Gridstock__V1__ExportHtmlReportRequest *req,
                                       Gridstock__V1__ExportHtmlReportResponse *resp)
{
    dir_unit u;
    db_res *pr = NULL, *sp = NULL, *bud = NULL, *bal = NULL;

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
                   " SELECT to_char(m, 'YYYY-MM'), t.to_p, fund_ts(now())"
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
        months[i] = db_str(pr, i, 0);
    const char *to_p = db_str(pr, 0, 1), *now = db_str(pr, 0, 2);
    const char *bperiod = *req->budget_period ? req->budget_period : to_p;

    GS_TRY(db_exec(c, &sp,
                   "SELECT s.category, to_char(s.month, 'YYYY-MM'), sum(s.amount)::bigint,"
                   " sum(s.disbursements)::bigint"
                   " FROM fund_spending s JOIN org_units g ON g.id = s.org_unit_id"
                   " WHERE g.path <@ $1::ltree AND s.month BETWEEN ($2 || '-01')::date"
                   " AND ($3 || '-01')::date GROUP BY 1, 2 ORDER BY 2, 1",
                   3, u.path, months[0], months[nm - 1]));
    GS_TRY(db_exec(c, &bud,
                   "SELECT g.code, sum(b.amount)::bigint, sum(b.spent)::bigint,"
                   " sum(b.pending)::bigint FROM fund_budgets b JOIN org_units g"
                   " ON g.id = b.org_unit_id WHERE g.path <@ $1::ltree AND b.period = $2"
                   " GROUP BY g.code ORDER BY CASE WHEN sum(b.amount) > 0 THEN"
                   " (sum(b.spent) + sum(b.pending))::float8 / sum(b.amount) ELSE 0 END DESC,"
                   " g.code",
                   2, u.path, bperiod));
    GS_TRY(db_exec(c, &bal,
                   "SELECT count(*), coalesce(sum(f.balance), 0)::bigint,"
                   " coalesce(sum(f.pending), 0)::bigint, coalesce(min(f.balance - f.pending), 0),"
                   " coalesce((array_agg(ou.code ORDER BY f.balance - f.pending))[1], '')"
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
        int k = cat_index(db_str(sp, i, 0));
        cat_tot[k] += db_i64(sp, i, 2);
        cat_n[k] += db_i64(sp, i, 3);
        total += db_i64(sp, i, 2);
        count += db_i64(sp, i, 3);
    }
    int64_t btot = 0, bused = 0;
    for (int i = 0; i < db_rows(bud); i++) {
        btot += db_i64(bud, i, 1);
        bused += db_i64(bud, i, 2) + db_i64(bud, i, 3);
    }

    sb s = {.c = c};
    const char *title =
        *req->title ? req->title : call_printf(c, "Grid work funds \xe2\x80\x94 %s", u.name);
    sb_printf(&s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<title>");
    sb_esc(&s, title);
    sb_printf(&s, "</title>\n<style>\n"
                  "body{font-family:sans-serif;margin:24px;color:#222;max-width:980px}\n"
                  "h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;"
                  "border-bottom:1px solid #ccc;padding-bottom:4px}\n"
                  ".meta{color:#666;font-size:13px}.cards{display:flex;gap:12px;flex-wrap:wrap}"
                  ".card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}"
                  ".card b{display:block;font-size:18px}\n"
                  "table{border-collapse:collapse;font-size:13px;margin-top:8px}"
                  "th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}"
                  "td.n{text-align:right}th{background:#f3f5f8}\n"
                  "</style>\n</head>\n<body>\n<h1>");
    sb_esc(&s, title);
    sb_printf(&s, "</h1>\n<p class=\"meta\">");
    sb_esc(&s, u.code);
    sb_put(&s, " ", 1);
    sb_esc(&s, u.name);
    sb_printf(&s, " &middot; spending %s to %s &middot; budgets %s &middot; generated %s by ",
              months[0], months[nm - 1], bperiod, now);
    sb_esc(&s, c->who.login);
    sb_printf(&s,
              "</p>\n<div class=\"cards\">"
              "<div class=\"card\">Spent<b>%s</b>yuan in %" PRId64 " payments</div>",
              yuan(c, total), count);
    sb_printf(&s, "<div class=\"card\">Budgets %s<b>%.1f%%</b>used of %s yuan</div>", bperiod,
              btot ? 100.0 * (double)bused / (double)btot : 0.0, yuan(c, btot));
    sb_printf(&s, "<div class=\"card\">Grid funds<b>%s</b>yuan held by %s funds, %s reserved</div>",
              yuan(c, db_i64(bal, 0, 1)), db_str(bal, 0, 0), yuan(c, db_i64(bal, 0, 2)));
    sb_printf(&s, "<div class=\"card\">Review flags<b>%zu</b>to look at</div></div>\n", nflags);

    sb_printf(&s, "<h2>Spending over time</h2>\n");
    svg_spending(&s, c, sp, months, nm);
    sb_printf(&s, "<table><tr><th>category</th><th>payments</th><th>yuan</th></tr>\n");
    for (int k = 0; k < 5; k++)
        sb_printf(&s,
                  "<tr><td>%s</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%s</td></tr>\n",
                  fund_categories[k], cat_n[k], yuan(c, cat_tot[k]));
    sb_printf(&s,
              "<tr><th>total</th><th class=\"n\">%" PRId64 "</th><th class=\"n\">%s</th></tr>"
              "</table>\n",
              count, yuan(c, total));

    int nb = db_rows(bud), shown = nb > 60 ? 60 : nb;
    sb_printf(&s, "<h2>Budget use by grid, %s</h2>\n", bperiod);
    if (nb == 0)
        sb_printf(&s, "<p>No budgets for %s.</p>\n", bperiod);
    else {
        if (nb > shown)
            sb_printf(&s,
                      "<p class=\"meta\">The %d most used of %d grids; spent dark, reserved "
                      "light; red at 90%% or more.</p>\n",
                      shown, nb);
        else
            sb_printf(&s,
                      "<p class=\"meta\">Spent dark, reserved light; red at 90%% or more.</p>\n");
        svg_budgets(&s, c, bud, shown);
    }

    sb_printf(&s, "<h2>Review flags (%s to %s)</h2>\n", fa.from, fa.to);
    if (nflags == 0)
        sb_printf(&s, "<p>None.</p>\n");
    else {
        sb_printf(&s, "<table><tr><th>kind</th><th>grid</th><th>payee / budget</th>"
                      "<th>yuan</th><th>disbursements</th><th>why</th></tr>\n");
        for (size_t i = 0; i < nflags; i++) {
            const Gridstock__V1__ReviewFlag *f = flags[i];
            sb_printf(&s, "<tr><td>%s</td><td>", f->kind);
            sb_esc(&s, f->grid_code);
            sb_put(&s, "</td><td>", 9);
            sb_esc(&s, *f->payee_code ? f->payee_code : f->budget);
            sb_printf(&s, "</td><td class=\"n\">%s</td><td>", yuan(c, f->amount));
            sb_esc(&s, f->disbursement_ids);
            sb_put(&s, "</td><td>", 9);
            sb_esc(&s, f->reason);
            sb_put(&s, "</td></tr>\n", 11);
        }
        sb_put(&s, "</table>\n", 9);
    }
    sb_printf(&s, "<p class=\"meta\">Amounts in yuan (1 yuan = 100 fen). Spending is what was "
                  "posted for each month, net of reversals. gridstock</p>\n</body>\n</html>\n");
    if (s.full)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "the report would exceed %d bytes: choose a smaller org unit", HTML_MAX);
    resp->html = s.buf;
    return GS_OK;
}
