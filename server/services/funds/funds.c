/* funds.c — FundService: accounts, budgets, postings and VerifyLedger. Deposits,
 * allocations and reversals move by two people in fund_movements.c. The money moves in
 * the PL/pgSQL functions of 020_funds.sql (one round trip each); handlers validate,
 * resolve names to ids within the caller's scope, and fill the responses. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit_chain.h"
#include "db.h"
#include "fsm.h"
#include "pg_array.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/funds.pb-c.h"
#include "gridstock/v1/funds.rpc.h"

enum { PROBLEMS_MAX = 200 };

/* ------------------------------------------------------------------ accounts */

#define ACCOUNT_COLUMNS(COL)                                                                       \
    COL(ACCT_ID, "f.id", id, i64)                                                                  \
    COL(ACCT_CODE, ", f.code", code, str)                                                          \
    COL(ACCT_NAME, ", f.name", name, str)                                                          \
    COL(ACCT_KIND, ", f.kind", kind, str)                                                          \
    COL(ACCT_ORG_UNIT_ID, ", coalesce(f.org_unit_id, 0)", org_unit_id, i64)                        \
    COL(ACCT_ORG_UNIT_CODE, ", coalesce(ou.code, '')", org_unit_code, str)                         \
    COL(ACCT_BALANCE, ", f.balance", balance, i64)                                                 \
    COL(ACCT_PENDING, ", f.pending", pending, i64)                                                 \
    COL(ACCT_AVAILABLE, ", f.balance - f.pending", available, i64)                                 \
    COL(ACCT_ACTIVE, ", f.active", active, bool)                                                   \
    COL(ACCT_CREATED_AT, ", fund_ts(f.created_at)", created_at, str)
enum { ACCOUNT_COLUMNS(DB_COL_NAME) ACCT_NCOLS };
#define ACCOUNT_COLS ACCOUNT_COLUMNS(DB_COL_SQL)
#define ACCOUNT_FROM " FROM fund_accounts f LEFT JOIN org_units ou ON ou.id = f.org_unit_id"

static void account_from_row(Gridstock__V1__Account *m, const db_res *r, int row)
{
    ACCOUNT_COLUMNS(DB_COL_FILL)
}

static gs_code account_load(call *c, int64_t id, Gridstock__V1__Account *m)
{
    DB_LOAD(c, m, account_from_row, "account", id,
            "SELECT " ACCOUNT_COLS ACCOUNT_FROM " WHERE f.id = $1", 1, call_i64(c, id));
    return GS_OK;
}

static const char *const creatable_kinds[] = {"source", "payee", "expense", NULL};

gs_code fund_create_account(call *c, const Gridstock__V1__CreateAccountRequest *req,
                            Gridstock__V1__Account *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(dir_enum(c, "kind", req->kind, creatable_kinds, true));
    GS_TRY(v_code(c, "code", req->code));
    if (strncmp(req->code, "GF-", 3) == 0 || strcmp(req->code, "EXTERNAL") == 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "code: \"GF-\" and \"EXTERNAL\" are reserved for grid funds and the "
                         "external account");
    /* grid leaders' payee accounts are the server's: programme runs open them (027) */
    if (strncmp(req->code, "P-", 2) == 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "code: \"P-\" is reserved for the payee accounts of grid leaders that"
                         " programme runs open");
    GS_TRY(v_required(c, "name", req->name));
    GS_TRY(v_len(c, "name", req->name, 200));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO fund_accounts (code, name, kind, org_unit_id)"
                   " VALUES ($1, $2, $3, $4) RETURNING id",
                   4, req->code, req->name, req->kind, call_i64(c, u.id)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(account_load(c, id, resp));
    c->audit_object = call_printf(c, "fund_account:%" PRId64, id);
    c->audit_summary = call_printf(c, "opened %s account %s \"%s\" in %s", req->kind, req->code,
                                   req->name, u.code);
    return GS_OK;
}

gs_code fund_get_account(call *c, const Gridstock__V1__GetAccountRequest *req,
                         Gridstock__V1__Account *resp)
{
    int64_t id;
    GS_TRY(fund_account_find(c, req->id, req->code, req->grid_code, "id", &id));
    return account_load(c, id, resp);
}

gs_code fund_list_accounts(call *c, const Gridstock__V1__ListAccountsRequest *req,
                           Gridstock__V1__ListAccountsResponse *resp)
{
    int64_t limit, after;
    const char *subtree = "";
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, fund_account_kinds, false));
    if (req->org_unit_id || *req->org_unit_code) {
        dir_unit u;
        GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", true, &u));
        subtree = u.path;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT " ACCOUNT_COLS ACCOUNT_FROM
                   " WHERE fund_account_visible(f, $1::ltree) AND ($2 = '' OR f.kind = $2)"
                   " AND ($3 = '' OR ou.path <@ $3::ltree) AND f.id > $4::bigint"
                   " ORDER BY f.id LIMIT $5::bigint",
                   5, c->who.scope_path, req->kind, subtree, call_i64(c, after),
                   call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, ACCT_ID, resp->next_page_token, resp->accounts, resp->n_accounts,
                 &gridstock__v1__account__descriptor, account_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ budgets */

#define BUDGET_COLUMNS(COL)                                                                        \
    COL(BUDGET_ID, "b.id", id, i64)                                                                \
    COL(BUDGET_GRID_ID, ", b.org_unit_id", grid_id, i64)                                           \
    COL(BUDGET_GRID_CODE, ", ou.code", grid_code, str)                                             \
    COL(BUDGET_PERIOD, ", b.period", period, str)                                                  \
    COL(BUDGET_PERIOD_KIND, ", b.period_kind", period_kind, str)                                   \
    COL(BUDGET_FIRST_DAY, ", b.first_day::text", first_day, str)                                   \
    COL(BUDGET_LAST_DAY, ", (b.end_day - 1)::text", last_day, str)                                 \
    COL(BUDGET_CATEGORY, ", b.category", category, str)                                            \
    COL(BUDGET_AMOUNT, ", b.amount", amount, i64)                                                  \
    COL(BUDGET_SPENT, ", b.spent", spent, i64)                                                     \
    COL(BUDGET_PENDING, ", b.pending", pending, i64)                                               \
    COL(BUDGET_REMAINING, ", b.amount - b.spent - b.pending", remaining, i64)                      \
    COL(BUDGET_UTILISATION,                                                                        \
        ", CASE WHEN b.amount > 0 THEN (b.spent + b.pending)::float8 / b.amount ELSE 0 END",       \
        utilisation, f64)                                                                          \
    COL(BUDGET_UPDATED_AT, ", fund_ts(b.updated_at)", updated_at, str)
enum { BUDGET_COLUMNS(DB_COL_NAME) BUDGET_NCOLS };
#define BUDGET_COLS BUDGET_COLUMNS(DB_COL_SQL)
#define BUDGET_FROM " FROM fund_budgets b JOIN org_units ou ON ou.id = b.org_unit_id"

static void budget_from_row(Gridstock__V1__Budget *m, const db_res *r,
                            int row){BUDGET_COLUMNS(DB_COL_FILL)}

gs_code fund_set_budget(call *c, const Gridstock__V1__SetBudgetRequest *req,
                        Gridstock__V1__Budget *resp)
{
    dir_unit g;
    db_res *r = NULL;

    GS_TRY(fund_check_period(c, "period", req->period, false));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, true));
    GS_TRY(v_range(c, "amount", req->amount, 0, GS_AMOUNT_MAX));
    GS_TRY(dir_unit_find(c, req->grid_id, req->grid_code, "grid_id", true, &g));
    if (strcmp(g.kind, "grid") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "grid_id: %s is a %s, budgets are per grid",
                         g.code, g.kind);
    GS_TRY(db_exec(c, &r, "SELECT fund_set_budget($1, $2::ltree, $3, $4, $5, $6)", 6,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, g.id), req->period,
                   req->category, call_i64(c, req->amount)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(
        db_exec(c, &r, "SELECT " BUDGET_COLS BUDGET_FROM " WHERE b.id = $1", 1, call_i64(c, id)));
    budget_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "fund_budget:%" PRId64, id);
    c->audit_summary = call_printf(c, "budget %s/%s/%s set to %" PRId64 " fen", g.code, req->period,
                                   req->category, req->amount);
    return GS_OK;
}

gs_code fund_list_budgets(call *c, const Gridstock__V1__ListBudgetsRequest *req,
                          Gridstock__V1__ListBudgetsResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    if (*req->period)
        GS_TRY(fund_check_period(c, "period", req->period, false));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, false));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " BUDGET_COLS BUDGET_FROM " WHERE ou.path <@ $1::ltree"
                   " AND ($2 = '' OR b.period = $2) AND ($3 = '' OR b.category = $3)"
                   " AND b.id > $4::bigint ORDER BY b.id LIMIT $5::bigint",
                   5, u.path, req->period, req->category, call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, BUDGET_ID, resp->next_page_token, resp->budgets, resp->n_budgets,
                 &gridstock__v1__budget__descriptor, budget_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ postings */

#define POSTING_ID_COLUMNS(COL) COL(POSTING_ID, "p.id")
enum { POSTING_ID_COLUMNS(DB_COL_NAME) POSTING_NCOLS };
#define POSTING_ID_COLS POSTING_ID_COLUMNS(DB_COL_SQL)

gs_code fund_list_postings(call *c, const Gridstock__V1__ListPostingsRequest *req,
                           Gridstock__V1__ListPostingsResponse *resp)
{
    int64_t limit, after, account = 0;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, fund_posting_kinds, false));
    GS_TRY(v_nonneg(c, "disbursement_id", req->disbursement_id));
    GS_TRY(v_len(c, "batch", req->batch, 200));
    if (req->account_id || *req->account_code)
        GS_TRY(
            fund_account_find(c, req->account_id, req->account_code, "", "account_id", &account));
    /* newest first: the page token is the smallest id seen */
    GS_TRY(db_exec(c, &r,
                   "SELECT " POSTING_ID_COLS " FROM fund_postings p"
                   " WHERE ($1::bigint = 0 OR p.id < $1::bigint) AND ($2 = '' OR p.kind = $2)"
                   " AND ($3::bigint = 0 OR p.disbursement_id = $3::bigint)"
                   " AND ($4 = '' OR p.batch = $4)"
                   " AND ($5::bigint = 0 OR EXISTS (SELECT 1 FROM fund_entries e"
                   "  WHERE e.posting_id = p.id AND e.account_id = $5::bigint))"
                   " AND EXISTS (SELECT 1 FROM fund_entries e JOIN fund_accounts a"
                   "  ON a.id = e.account_id JOIN org_units ou ON ou.id = a.org_unit_id"
                   "  WHERE e.posting_id = p.id AND ou.path <@ $6::ltree)"
                   " ORDER BY p.id DESC LIMIT $7::bigint",
                   7, call_i64(c, after), req->kind, call_i64(c, req->disbursement_id), req->batch,
                   call_i64(c, account), c->who.scope_path, call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, POSTING_ID, limit, &rows);
    int64_t *ids = arena_alloc(c->arena, (size_t)rows * sizeof *ids + 1);
    for (int i = 0; i < rows; i++)
        ids[i] = db_i64(r, i, POSTING_ID);
    resp->n_postings = (size_t)rows;
    resp->postings = (Gridstock__V1__Posting **)call_ptrs(c, (size_t)rows);
    return fund_postings_load(c, ids, rows, (void **)resp->postings);
}

/* ------------------------------------------------------------------ verification */

/* Adds a problem unless the list is full. */
static void add_problem(call *c, Gridstock__V1__VerifyLedgerResponse *resp, const char *p)
{
    if (resp->n_problems < PROBLEMS_MAX)
        resp->problems[resp->n_problems++] = (char *)p;
}

#define TRANSITION_COLUMNS(COL)                                                                    \
    COL(TRANS_FROM_STATE, "from_state")                                                            \
    COL(TRANS_TO_STATE, ", to_state")
enum { TRANSITION_COLUMNS(DB_COL_NAME) TRANS_NCOLS };
#define TRANSITION_COLS TRANSITION_COLUMNS(DB_COL_SQL)

/* The C transition table against the SQL one. */
static gs_code check_transitions(call *c, Gridstock__V1__VerifyLedgerResponse *resp)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " TRANSITION_COLS " FROM fund_disbursement_transitions", 0));
    int rows = db_rows(r), matched = 0;
    for (int i = 0; i < rows; i++) {
        int from = fsm_state(&disb_fsm, db_str(r, i, TRANS_FROM_STATE)),
            to = fsm_state(&disb_fsm, db_str(r, i, TRANS_TO_STATE));
        if (from < 0 || to < 0 || !fsm_can(&disb_fsm, from, to))
            add_problem(c, resp,
                        call_printf(c, "transition %s -> %s is in the database, not in the server",
                                    db_str(r, i, TRANS_FROM_STATE), db_str(r, i, TRANS_TO_STATE)));
        else
            matched++;
    }
    if (matched != (int)disb_fsm.n_moves)
        add_problem(c, resp,
                    call_printf(c, "the server allows %d disbursement transitions, the database %d",
                                (int)disb_fsm.n_moves, matched));
    return GS_OK;
}

#define VERIFY_COUNT_COLUMNS(COL)                                                                  \
    COL(VL_ACCOUNTS, "(SELECT count(*) FROM fund_accounts)")                                       \
    COL(VL_POSTINGS, ", (SELECT count(*) FROM fund_postings)")                                     \
    COL(VL_ENTRIES, ", (SELECT count(*) FROM fund_entries)")                                       \
    COL(VL_DISBURSEMENTS, ", (SELECT count(*) FROM fund_disbursements)")                           \
    COL(VL_BUDGETS, ", (SELECT count(*) FROM fund_budgets)")                                       \
    COL(VL_TOTAL_DEPOSITED, ", (SELECT -balance FROM fund_accounts WHERE code = 'EXTERNAL')")
enum { VERIFY_COUNT_COLUMNS(DB_COL_NAME) VL_NCOLS };
#define VERIFY_COUNT_COLS VERIFY_COUNT_COLUMNS(DB_COL_SQL)

#define AUDIT_VERIFY_COLUMNS(COL)                                                                  \
    COL(AV_SEALED, "sealed")                                                                       \
    COL(AV_UNSEALED, ", unsealed")                                                                 \
    COL(AV_HEAD, ", head")                                                                         \
    COL(AV_PROBLEM, ", p")
enum { AUDIT_VERIFY_COLUMNS(DB_COL_NAME) AV_NCOLS };
#define AUDIT_VERIFY_COLS AUDIT_VERIFY_COLUMNS(DB_COL_SQL)

gs_code fund_verify_ledger(call *c, const Gridstock__V1__VerifyLedgerRequest *req,
                           Gridstock__V1__VerifyLedgerResponse *resp)
{
    db_res *r = NULL;

    GS_TRY(dir_require_district(c, "VerifyLedger checks the whole ledger"));
    resp->problems = (char **)call_ptrs(c, PROBLEMS_MAX);
    GS_TRY(db_exec(c, &r, "SELECT p FROM fund_verify_ledger() p LIMIT $1::int", 1,
                   call_i64(c, PROBLEMS_MAX)));
    for (int i = 0; i < db_rows(r); i++)
        add_problem(c, resp, db_one_str(r, i));
    GS_TRY(check_transitions(c, resp));
    GS_TRY(db_exec(c, &r,
                   "SELECT " AUDIT_VERIFY_COLS " FROM audit_verify(),"
                   " LATERAL unnest(problems || ARRAY[NULL]::text[]) p",
                   0));
    for (int i = 0; i < db_rows(r); i++) {
        resp->audit_rows_sealed = db_i64(r, i, AV_SEALED);
        resp->audit_rows_unsealed = db_i64(r, i, AV_UNSEALED);
        resp->audit_chain_head = (char *)db_str(r, i, AV_HEAD);
        if (!db_null(r, i, AV_PROBLEM))
            add_problem(c, resp, db_str(r, i, AV_PROBLEM));
    }
    if (audit_chain_keyed()) { /* the keyed seals' content: only the servers hold the key */
        audit_chain_result chain;
        GS_TRY(audit_chain_verify(c, NULL, &chain));
        if (!chain.ok)
            add_problem(c, resp, call_printf(c, "%s", chain.problem));
    }
    GS_TRY(db_exec(c, &r, "SELECT " VERIFY_COUNT_COLS, 0));
    resp->accounts = db_i64(r, 0, VL_ACCOUNTS);
    resp->postings = db_i64(r, 0, VL_POSTINGS);
    resp->entries = db_i64(r, 0, VL_ENTRIES);
    resp->disbursements = db_i64(r, 0, VL_DISBURSEMENTS);
    resp->budgets = db_i64(r, 0, VL_BUDGETS);
    resp->total_deposited = db_i64(r, 0, VL_TOTAL_DEPOSITED);
    resp->ok = resp->n_problems == 0;
    return GS_OK;
}
