/* fund_report_flags.c — FundReportService.ReviewFlags: patterns in the payments of the
 * grids in scope that a reviewer should look at (payments split just under the approval
 * threshold, one payee paid from many grids, budgets spent down late in their period),
 * among disbursements and purchases paid from grid funds alike; also printed by the HTML
 * report (fund_reports.c). */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "db.h"
#include "fund_reports.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/reports.rpc.h"

/* The payments in the review, grid in $1: disbursements approved (maybe posted or reversed
 * since) with approval in [$2, $3], and purchases paid from grid funds (060: each receipt
 * against a funded order posts fund -> the supplier's payee account) posted in [$2, $3]
 * (maybe reversed since). ref is the disbursement id, or the purchase order's number
 * (order_id set); approved_at a purchase's posting time. */
#define FLAG_BASE                                                                                  \
    "WITH d AS (SELECT d.id, NULL::bigint order_id, d.id::text ref, d.fund_account_id,"            \
    " d.payee_account_id, d.amount, d.approved_at, g.code grid, pa.code payee, pa.kind payee_kind" \
    " FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id"                  \
    " JOIN org_units g ON g.id = f.org_unit_id JOIN fund_accounts pa ON pa.id = "                  \
    "d.payee_account_id"                                                                           \
    " WHERE d.state IN ('approved', 'posted', 'reversed') AND g.path <@ $1::ltree"                 \
    " AND d.approved_at >= $2::date AND d.approved_at < $3::date + 1"                              \
    " UNION ALL SELECT p.id, o.id, o.number, o.fund_account_id, pe.account_id, pe.amount,"         \
    " p.created_at, g.code, pa.code, pa.kind"                                                      \
    " FROM fund_postings p JOIN (SELECT DISTINCT order_id, posting_id"                             \
    " FROM purchase_order_receipts WHERE posting_id IS NOT NULL) x ON x.posting_id = p.id"         \
    " JOIN purchase_orders o ON o.id = x.order_id"                                                 \
    " JOIN fund_accounts f ON f.id = o.fund_account_id AND f.kind = 'grid_fund'"                   \
    " JOIN org_units g ON g.id = f.org_unit_id"                                                    \
    " JOIN fund_entries pe ON pe.posting_id = p.id AND pe.account_id <> o.fund_account_id"         \
    " JOIN fund_accounts pa ON pa.id = pe.account_id"                                              \
    " WHERE p.kind = 'purchase' AND g.path <@ $1::ltree"                                           \
    " AND p.created_at >= $2::date AND p.created_at < $3::date + 1) "

/* The disbursement ids and the purchase orders among the payments `t` of a group. */
#define FLAG_IDS(t)                                                                                \
    "coalesce(string_agg(" t ".ref, ' ' ORDER BY " t ".id) FILTER (WHERE " t ".order_id IS NULL)," \
    " '')"
#define FLAG_ORDERS(t)                                                                             \
    "coalesce(string_agg(DISTINCT " t ".ref, ' ') FILTER (WHERE " t ".order_id IS NOT NULL), '')"

#define FLAG_SPLIT_COLUMNS(COL)                                                                    \
    COL(FSPLIT_GRID_CODE, "grid")                                                                  \
    COL(FSPLIT_PAYEE_CODE, ", payee")                                                              \
    COL(FSPLIT_AMOUNT, ", total")                                                                  \
    COL(FSPLIT_COUNT, ", n::int")                                                                  \
    COL(FSPLIT_DISBURSEMENT_IDS, ", ids")                                                          \
    COL(FSPLIT_DAYS, ", (last::date - first::date)")                                               \
    COL(FSPLIT_PURCHASE_ORDERS, ", orders")
enum { FLAG_SPLIT_COLUMNS(DB_COL_NAME) FSPLIT_NCOLS };
#define FLAG_SPLIT_COLS FLAG_SPLIT_COLUMNS(DB_COL_SQL)

static const char FLAG_SPLIT_SQL[] = FLAG_BASE
    ", s AS (SELECT * FROM d WHERE amount < $4::bigint AND amount >= $4::bigint * (1 - "
    "$5::float8)),"
    " w AS (SELECT a.ref anchor, a.fund_account_id, a.payee_account_id, a.grid, a.payee,"
    "  count(*) n, sum(b.amount)::bigint total, " FLAG_IDS("b") " ids, " FLAG_ORDERS(
        "b") " orders,"
             "  min(b.approved_at) first, max(b.approved_at) last"
             "  FROM s a JOIN s b ON b.fund_account_id = a.fund_account_id"
             "  AND b.payee_account_id = a.payee_account_id AND b.approved_at >= a.approved_at"
             "  AND b.approved_at < a.approved_at + make_interval(days => $6::int)"
             "  GROUP BY 1, 2, 3, 4, 5 HAVING count(*) >= 2 AND sum(b.amount) > $4::bigint)"
             " SELECT DISTINCT ON (fund_account_id, payee_account_id) " FLAG_SPLIT_COLS " FROM w"
             " ORDER BY fund_account_id, payee_account_id, n DESC, total DESC, anchor";

#define FLAG_MANY_COLUMNS(COL)                                                                     \
    COL(FMANY_GRID_CODE, "min(grid)")                                                              \
    COL(FMANY_PAYEE_CODE, ", payee")                                                               \
    COL(FMANY_AMOUNT, ", sum(amount)::bigint")                                                     \
    COL(FMANY_COUNT, ", count(*)::int")                                                            \
    COL(FMANY_DISBURSEMENT_IDS, ", " FLAG_IDS("d"))                                                \
    COL(FMANY_GRIDS, ", count(DISTINCT grid)::int")                                                \
    COL(FMANY_GRID_LIST, ", string_agg(DISTINCT grid, ', ')")                                      \
    COL(FMANY_PURCHASE_ORDERS, ", " FLAG_ORDERS("d"))
enum { FLAG_MANY_COLUMNS(DB_COL_NAME) FMANY_NCOLS };
#define FLAG_MANY_COLS FLAG_MANY_COLUMNS(DB_COL_SQL)

static const char FLAG_MANY_SQL[] =
    FLAG_BASE "SELECT " FLAG_MANY_COLS " FROM d WHERE payee_kind = 'payee' AND $4::bigint >= 0"
              " GROUP BY payee_account_id, payee HAVING count(DISTINCT grid) >= $5::int"
              " ORDER BY payee";

#define FLAG_LATE_COLUMNS(COL)                                                                     \
    COL(FLATE_GRID_CODE, "g.code")                                                                 \
    COL(FLATE_BUDGET, ", g.code || '/' || b.period || '/' || b.category")                          \
    COL(FLATE_AMOUNT, ", sum(d.amount)::bigint")                                                   \
    COL(FLATE_COUNT, ", count(*)::int")                                                            \
    COL(FLATE_DISBURSEMENT_IDS, ", " FLAG_IDS("d"))                                                \
    COL(FLATE_BUDGET_USED, ", b.spent + b.pending")                                                \
    COL(FLATE_BUDGET_AMOUNT, ", b.amount")                                                         \
    COL(FLATE_LAST_DAY, ", (b.end_day - 1)::text")                                                 \
    COL(FLATE_PURCHASE_ORDERS, ", " FLAG_ORDERS("d"))
enum { FLAG_LATE_COLUMNS(DB_COL_NAME) FLATE_NCOLS };
#define FLAG_LATE_COLS FLAG_LATE_COLUMNS(DB_COL_SQL)

/* a budget's payments: disbursements by their charges, purchases by their orders' */
static const char FLAG_LATE_SQL[] = FLAG_BASE
    "SELECT " FLAG_LATE_COLS " FROM fund_budgets b JOIN org_units g ON g.id = b.org_unit_id"
    " JOIN (SELECT c.budget_id, d.* FROM fund_budget_charges c JOIN d ON d.order_id IS NULL"
    " AND d.id = c.disbursement_id UNION ALL SELECT c.budget_id, d.* FROM purchase_order_charges c"
    " JOIN d ON d.order_id = c.order_id) d ON d.budget_id = b.id"
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
gs_code flags_collect(call *c, const flag_args *a, Gridstock__V1__ReviewFlag ***out, size_t *n)
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
        f->grid_code = (char *)db_str(s, i, FSPLIT_GRID_CODE);
        f->payee_code = (char *)db_str(s, i, FSPLIT_PAYEE_CODE);
        f->amount = db_i64(s, i, FSPLIT_AMOUNT);
        f->count = db_i32(s, i, FSPLIT_COUNT);
        f->disbursement_ids = (char *)db_str(s, i, FSPLIT_DISBURSEMENT_IDS);
        f->purchase_orders = (char *)db_str(s, i, FSPLIT_PURCHASE_ORDERS);
        f->reason = call_printf(
            c,
            "%d payments to %s from GF-%s within %s days, each just under the approval "
            "threshold of %" PRId64 " fen, together %" PRId64 " fen: a payment split to stay "
            "under the threshold?",
            f->count, f->payee_code, f->grid_code, db_str(s, i, FSPLIT_DAYS), a->threshold,
            f->amount);
        v[k++] = f;
    }
    for (int i = 0; i < db_rows(m); i++) {
        Gridstock__V1__ReviewFlag *f = flag_new(c, "many_grids");
        f->grid_code = (char *)db_str(m, i, FMANY_GRID_CODE);
        f->payee_code = (char *)db_str(m, i, FMANY_PAYEE_CODE);
        f->amount = db_i64(m, i, FMANY_AMOUNT);
        f->count = db_i32(m, i, FMANY_COUNT);
        f->disbursement_ids = (char *)db_str(m, i, FMANY_DISBURSEMENT_IDS);
        f->purchase_orders = (char *)db_str(m, i, FMANY_PURCHASE_ORDERS);
        f->reason = call_printf(c,
                                "payee %s was paid %" PRId64 " fen in %d payments from %s grid "
                                "funds (%s): one person paid from many grids?",
                                f->payee_code, f->amount, f->count, db_str(m, i, FMANY_GRIDS),
                                db_str(m, i, FMANY_GRID_LIST));
        v[k++] = f;
    }
    for (int i = 0; i < db_rows(l); i++) {
        Gridstock__V1__ReviewFlag *f = flag_new(c, "late_full");
        f->grid_code = (char *)db_str(l, i, FLATE_GRID_CODE);
        f->budget = (char *)db_str(l, i, FLATE_BUDGET);
        f->amount = db_i64(l, i, FLATE_AMOUNT);
        f->count = db_i32(l, i, FLATE_COUNT);
        f->disbursement_ids = (char *)db_str(l, i, FLATE_DISBURSEMENT_IDS);
        f->purchase_orders = (char *)db_str(l, i, FLATE_PURCHASE_ORDERS);
        int64_t used = db_i64(l, i, FLATE_BUDGET_USED), amount = db_i64(l, i, FLATE_BUDGET_AMOUNT);
        f->reason =
            call_printf(c,
                        "budget %s is %.0f%% used (%" PRId64 " of %" PRId64
                        " fen); %d payments (%" PRId64 " fen) were approved in the "
                        "last %d days of its period (ending %s): spending the budget "
                        "down before it lapses?",
                        f->budget, amount ? 100.0 * (double)used / (double)amount : 0, used, amount,
                        f->count, f->amount, a->late_days, db_str(l, i, FLATE_LAST_DAY));
        v[k++] = f;
    }
    *out = v;
    *n = k;
    return GS_OK;
}

#define FLAG_DATES_COLUMNS(COL)                                                                    \
    COL(FDATES_TO, "coalesce(nullif($1, '')::date, current_date)::text")                           \
    COL(FDATES_FROM, ", coalesce(nullif($2, '')::date, coalesce(nullif($1, '')::date, "            \
                     "current_date) - 90)::text")
enum { FLAG_DATES_COLUMNS(DB_COL_NAME) FDATES_NCOLS };
#define FLAG_DATES_COLS FLAG_DATES_COLUMNS(DB_COL_SQL)

/* Defaults and checks; from/to default to the 90 days up to today (UTC). */
gs_code flag_args_make(call *c, const Gridstock__V1__ReviewFlagsRequest *req, const dir_unit *u,
                       flag_args *a)
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
    GS_TRY(db_exec(c, &r, "SELECT " FLAG_DATES_COLS, 2, req->to_date, req->from_date));
    a->path = u->path;
    a->to = db_str(r, 0, FDATES_TO);
    a->from = db_str(r, 0, FDATES_FROM);
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
