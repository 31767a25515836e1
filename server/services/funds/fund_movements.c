/* fund_movements.c — FundMovementService: deposits, allocations (one grid or many) and
 * reversals by two people. A finance officer prepares; a finance approver who is not the
 * preparer approves (reserving what the movement takes out of a source or grid fund);
 * someone other than the preparer posts. The rules and the money live in
 * 026_fund_two_person.sql (fund_movement_* functions, CHECKs, the state machine); the
 * expiry of approved movements runs with the disbursements' (funds_ledger.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/funds.pb-c.h"
#include "gridstock/v1/funds.rpc.h"

enum { BATCH_MAX = 5000 };

static const char *const movement_kinds[] = {"deposit", "allocation", "reversal", NULL};
static const char *const movement_states[] = {"prepared", "approved", "posted", "rejected",
                                              "voided",   "expired",  NULL};

#define MOVE_COLUMNS(COL)                                                                          \
    COL(FMOVE_ID, "m.id", id, i64)                                                                 \
    COL(FMOVE_KIND, ", m.kind", kind, str)                                                         \
    COL(FMOVE_STATE, ", m.state", state, str)                                                      \
    COL(FMOVE_SOURCE_ACCOUNT_ID, ", coalesce(m.source_account_id, 0)", source_account_id, i64)     \
    COL(FMOVE_SOURCE_CODE, ", coalesce(s.code, '')", source_code, str)                             \
    COL(FMOVE_REVERSES_POSTING_ID, ", coalesce(m.reverses_posting_id, 0)", reverses_posting_id,    \
        i64)                                                                                       \
    COL(FMOVE_TOTAL, ", m.total", total, i64)                                                      \
    COL(FMOVE_MEMO, ", m.memo", memo, str)                                                         \
    COL(FMOVE_PREPARER_LOGIN, ", pu.login", preparer_login, str)                                   \
    COL(FMOVE_PREPARED_AT, ", fund_ts(m.prepared_at)", prepared_at, str)                           \
    COL(FMOVE_APPROVER_LOGIN, ", coalesce(au.login, '')", approver_login, str)                     \
    COL(FMOVE_APPROVED_AT, ", coalesce(fund_ts(m.approved_at), '')", approved_at, str)             \
    COL(FMOVE_REJECTED_BY_LOGIN, ", coalesce(ru.login, '')", rejected_by_login, str)               \
    COL(FMOVE_REJECTED_AT, ", coalesce(fund_ts(m.rejected_at), '')", rejected_at, str)             \
    COL(FMOVE_REJECT_REASON, ", coalesce(m.reject_reason, '')", reject_reason, str)                \
    COL(FMOVE_VOIDED_BY_LOGIN, ", coalesce(vu.login, '')", voided_by_login, str)                   \
    COL(FMOVE_VOIDED_AT, ", coalesce(fund_ts(m.voided_at), '')", voided_at, str)                   \
    COL(FMOVE_VOID_REASON, ", coalesce(m.void_reason, '')", void_reason, str)                      \
    COL(FMOVE_POSTED_BY_LOGIN, ", coalesce(xu.login, '')", posted_by_login, str)                   \
    COL(FMOVE_POSTED_AT, ", coalesce(fund_ts(m.posted_at), '')", posted_at, str)                   \
    COL(FMOVE_REVERSAL_POSTING_ID,                                                                 \
        ", CASE WHEN m.kind = 'reversal' THEN (SELECT p.id FROM fund_postings p WHERE "            \
        "p.reverses_id = m.reverses_posting_id AND m.state = 'posted') END",                       \
        _, none)
enum { MOVE_COLUMNS(DB_COL_NAME) FMOVE_NCOLS };
#define MOVE_COLS MOVE_COLUMNS(DB_COL_SQL)
#define MOVE_FROM                                                                                  \
    " FROM fund_movements m LEFT JOIN fund_accounts s ON s.id = m.source_account_id"               \
    " JOIN users pu ON pu.id = m.preparer_id LEFT JOIN users au ON au.id = m.approver_id"          \
    " LEFT JOIN users ru ON ru.id = m.rejected_by LEFT JOIN users vu ON vu.id = m.voided_by"       \
    " LEFT JOIN users xu ON xu.id = m.posted_by"

static void move_from_row(Gridstock__V1__FundMovement *m, const db_res *r, int row)
{
    MOVE_COLUMNS(DB_COL_FILL)
}

#define MOVE_ITEM_COLUMNS(COL)                                                                     \
    COL(MITEM_MOVEMENT_ID, "i.movement_id")                                                        \
    COL(MITEM_ACCOUNT_ID, ", i.account_id")                                                        \
    COL(MITEM_ACCOUNT_CODE, ", a.code")                                                            \
    COL(MITEM_AMOUNT, ", i.amount")                                                                \
    COL(MITEM_POSTING_ID, ", coalesce(i.posting_id, 0)")
enum { MOVE_ITEM_COLUMNS(DB_COL_NAME) MITEM_NCOLS };
#define MOVE_ITEM_COLS MOVE_ITEM_COLUMNS(DB_COL_SQL)

/* Fills the n movements of ms (ids set) with their items and posting ids. */
static gs_code attach_items(call *c, Gridstock__V1__FundMovement **ms, const db_res *hdr, int n)
{
    db_res *r = NULL;
    if (n == 0)
        return GS_OK;
    size_t cap = (size_t)n * 24 + 4, len = 0;
    char *ids = arena_alloc(c->arena, cap);
    ids[len++] = '{';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(ids + len, cap - len, "%s%" PRId64, i ? "," : "", ms[i]->id);
    ids[len++] = '}';
    ids[len] = '\0';
    GS_TRY(db_exec(c, &r,
                   "SELECT " MOVE_ITEM_COLS
                   " FROM fund_movement_items i JOIN fund_accounts a ON a.id = i.account_id"
                   " WHERE i.movement_id = ANY ($1::bigint[]) ORDER BY i.movement_id, i.line_no",
                   1, ids));
    int rows = db_rows(r);
    for (int k = 0; k < n; k++) {
        Gridstock__V1__FundMovement *m = ms[k];
        m->items = (Gridstock__V1__FundMovementItem **)call_ptrs(c, (size_t)rows);
        m->posting_ids = arena_alloc(c->arena, ((size_t)rows + 1) * sizeof *m->posting_ids);
        for (int i = 0; i < rows; i++) {
            if (db_i64(r, i, MITEM_MOVEMENT_ID) != m->id)
                continue;
            Gridstock__V1__FundMovementItem *it =
                call_msg(c, &gridstock__v1__fund_movement_item__descriptor);
            it->account_id = db_i64(r, i, MITEM_ACCOUNT_ID);
            it->account_code = (char *)db_str(r, i, MITEM_ACCOUNT_CODE);
            it->amount = db_i64(r, i, MITEM_AMOUNT);
            it->posting_id = db_i64(r, i, MITEM_POSTING_ID);
            m->items[m->n_items++] = it;
            if (it->posting_id)
                m->posting_ids[m->n_posting_ids++] = it->posting_id;
        }
        if (!db_null(hdr, k, FMOVE_REVERSAL_POSTING_ID)) /* a posted reversal: its posting */
            m->posting_ids[m->n_posting_ids++] = db_i64(hdr, k, FMOVE_REVERSAL_POSTING_ID);
    }
    return GS_OK;
}

/* Loads movement id (known to be in scope) into m. */
static gs_code move_load(call *c, int64_t id, Gridstock__V1__FundMovement *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " MOVE_COLS MOVE_FROM " WHERE m.id = $1::bigint", 1,
                   call_i64(c, id)));
    move_from_row(m, r, 0);
    return attach_items(c, &m, r, 1);
}

static void audit(call *c, int64_t id, const char *what, const Gridstock__V1__FundMovement *m)
{
    c->audit_object = call_printf(c, "fund_movement:%" PRId64, id);
    c->audit_summary = call_printf(c, "%s %s %" PRId64 " of %" PRId64 " fen%s%s", what, m->kind, id,
                                   m->total, *m->source_code ? " from " : "", m->source_code);
}

/* ------------------------------------------------------------------ prepare */

gs_code fund_movement_prepare_deposit(call *c, const Gridstock__V1__DepositRequest *req,
                                      Gridstock__V1__FundMovement *resp)
{
    db_res *r = NULL;
    int64_t src;

    GS_TRY(v_amount(c, "amount", req->amount));
    GS_TRY(v_len(c, "memo", req->memo, 500));
    GS_TRY(fund_account_find(c, req->source_account_id, req->source_code, "", "source_account_id",
                             &src));
    GS_TRY(db_exec(c, &r, "SELECT fund_movement_prepare_deposit($1, $2::ltree, $3, $4, $5, $6)", 6,
                   call_i64(c, c->who.user_id), c->who.scope_path, c->request_id, call_i64(c, src),
                   call_i64(c, req->amount), req->memo));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(move_load(c, id, resp));
    audit(c, id, "prepared", resp);
    return GS_OK;
}

/* Prepares an allocation of n items (validated) from source src. */
static gs_code prepare_items(call *c, int64_t src, size_t n, const int64_t *fund_ids,
                             char *const *grids, const int64_t *amounts, const char *memo,
                             Gridstock__V1__FundMovement *resp)
{
    db_res *r = NULL;
    /* array literals: ids and amounts are numbers; grid codes passed v_code (no quoting) */
    size_t cap = n * 70 + 8, lf = 0, lg = 0, la = 0;
    char *af = arena_alloc(c->arena, cap), *ag = arena_alloc(c->arena, cap),
         *aa = arena_alloc(c->arena, cap);
    af[lf++] = ag[lg++] = aa[la++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        lf += (size_t)snprintf(af + lf, cap - lf, "%s%" PRId64, sep, fund_ids[i]);
        lg += (size_t)snprintf(ag + lg, cap - lg, "%s\"%s\"", sep, grids[i]);
        la += (size_t)snprintf(aa + la, cap - la, "%s%" PRId64, sep, amounts[i]);
    }
    af[lf++] = ag[lg++] = aa[la++] = '}';
    af[lf] = ag[lg] = aa[la] = '\0';
    const char *batch = *c->request_id ? call_printf(c, "alloc:%s", c->request_id) : "";
    GS_TRY(db_exec(c, &r,
                   "SELECT fund_movement_prepare_allocation($1, $2::ltree, $3, $4, $5::bigint[],"
                   " $6::text[], $7::bigint[], $8, $9)",
                   9, call_i64(c, c->who.user_id), c->who.scope_path, c->request_id,
                   call_i64(c, src), af, ag, aa, memo, batch));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(move_load(c, id, resp));
    audit(c, id, call_printf(c, "prepared (%zu grid fund%s)", n, n == 1 ? "" : "s"), resp);
    return GS_OK;
}

gs_code fund_movement_prepare_allocation(call *c, const Gridstock__V1__AllocateRequest *req,
                                         Gridstock__V1__FundMovement *resp)
{
    int64_t src;

    GS_TRY(v_amount(c, "amount", req->amount));
    GS_TRY(v_len(c, "memo", req->memo, 500));
    if (req->fund_account_id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "fund_account_id: must be positive");
    if (!req->fund_account_id)
        GS_TRY(v_code(c, "grid_code", req->grid_code));
    GS_TRY(fund_account_find(c, req->source_account_id, req->source_code, "", "source_account_id",
                             &src));
    char *grid = req->fund_account_id ? "" : req->grid_code;
    return prepare_items(c, src, 1, &req->fund_account_id, &grid, &req->amount, req->memo, resp);
}

gs_code fund_movement_prepare_allocation_batch(call *c,
                                               const Gridstock__V1__AllocateBatchRequest *req,
                                               Gridstock__V1__FundMovement *resp)
{
    int64_t src;
    size_t n = req->n_items;

    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at least one allocation is required");
    if (n > BATCH_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at most %d per call, got %zu", BATCH_MAX,
                         n);
    GS_TRY(v_len(c, "memo", req->memo, 500));
    int64_t *fund_ids = arena_alloc(c->arena, n * sizeof *fund_ids);
    int64_t *amounts = arena_alloc(c->arena, n * sizeof *amounts);
    char **grids = arena_alloc(c->arena, n * sizeof *grids);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__AllocationItem *it = req->items[i];
        GS_TRY(v_amount(c, call_printf(c, "items[%zu].amount", i), it->amount));
        if (it->fund_account_id < 0)
            return call_fail(c, GS_INVALID_ARGUMENT, "items[%zu].fund_account_id: must be positive",
                             i);
        if (!it->fund_account_id)
            GS_TRY(v_code(c, call_printf(c, "items[%zu].grid_code", i), it->grid_code));
        fund_ids[i] = it->fund_account_id;
        amounts[i] = it->amount;
        grids[i] = it->fund_account_id ? "" : it->grid_code;
    }
    GS_TRY(fund_account_find(c, req->source_account_id, req->source_code, "", "source_account_id",
                             &src));
    return prepare_items(c, src, n, fund_ids, grids, amounts, req->memo, resp);
}

gs_code fund_movement_prepare_reversal(call *c, const Gridstock__V1__ReverseRequest *req,
                                       Gridstock__V1__FundMovement *resp)
{
    db_res *r = NULL;

    GS_TRY(v_positive(c, "posting_id", req->posting_id));
    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 500));
    GS_TRY(db_exec(c, &r, "SELECT fund_movement_prepare_reversal($1, $2::ltree, $3, $4, $5)", 5,
                   call_i64(c, c->who.user_id), c->who.scope_path, c->request_id,
                   call_i64(c, req->posting_id), req->reason));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(move_load(c, id, resp));
    audit(c, id,
          call_printf(c, "prepared (posting %" PRId64 ": %.300s)", req->posting_id, req->reason),
          resp);
    return GS_OK;
}

/* ------------------------------------------------------------------ the second person */

/* NOT_FOUND unless movement id exists within the caller's scope. A plain read, so it is
 * also the statement a replayed call's runtime prologue rides with (a replay must not
 * meet a failing statement first). */
static gs_code move_visible(call *c, int64_t id)
{
    db_res *r = NULL;
    GS_TRY(v_positive(c, "id", id));
    GS_TRY(db_find_id(c, &r, "fund movement", id,
                      "SELECT 1 FROM fund_movements m WHERE m.id = $1::bigint"
                      " AND fund_movement_visible(m, $2::ltree)",
                      2, call_i64(c, id), c->who.scope_path));
    return GS_OK;
}

gs_code fund_movement_approve_movement(call *c, const Gridstock__V1__FundMovementRequest *req,
                                       Gridstock__V1__FundMovement *resp)
{
    GS_TRY(move_visible(c, req->id));
    GS_TRY(db_exec(c, NULL, "SELECT fund_movement_approve($1, $2::ltree, $3)", 3,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id)));
    GS_TRY(move_load(c, req->id, resp));
    audit(c, req->id, "approved (reserved)", resp);
    return GS_OK;
}

gs_code fund_movement_reject_movement(call *c, const Gridstock__V1__FundMovementRequest *req,
                                      Gridstock__V1__FundMovement *resp)
{
    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 500));
    GS_TRY(move_visible(c, req->id));
    GS_TRY(db_exec(c, NULL, "SELECT fund_movement_reject($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   req->reason));
    GS_TRY(move_load(c, req->id, resp));
    audit(c, req->id, "rejected", resp);
    return GS_OK;
}

gs_code fund_movement_post_movement(call *c, const Gridstock__V1__FundMovementRequest *req,
                                    Gridstock__V1__FundMovement *resp)
{
    Gridstock__V1__FundMovement *m = resp;
    db_res *r = NULL;

    GS_TRY(move_visible(c, req->id));
    GS_TRY(db_exec(c, &r, "SELECT * FROM fund_movement_post($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, c->request_id,
                   call_i64(c, req->id)));
    int rows = db_rows(r);
    int64_t *ids = arena_alloc(c->arena, ((size_t)rows + 1) * sizeof *ids);
    for (int i = 0; i < rows; i++)
        ids[i] = db_one_i64(r, i);
    GS_TRY(move_load(c, req->id, resp));
    m->n_postings = (size_t)rows;
    m->postings = (Gridstock__V1__Posting **)call_ptrs(c, (size_t)rows);
    GS_TRY(fund_postings_load(c, ids, rows, (void **)m->postings));
    audit(c, req->id, call_printf(c, "posted (%d posting%s)", rows, rows == 1 ? "" : "s"), resp);
    return GS_OK;
}

gs_code fund_movement_void_movement(call *c, const Gridstock__V1__FundMovementRequest *req,
                                    Gridstock__V1__FundMovement *resp)
{
    db_res *r = NULL;

    GS_TRY(v_len(c, "reason", req->reason, 500));
    GS_TRY(move_visible(c, req->id));
    GS_TRY(db_exec(c, &r, "SELECT fund_movement_void($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   req->reason));
    const char *was = db_one_str(r, 0);
    GS_TRY(move_load(c, req->id, resp));
    audit(c, req->id, call_printf(c, "voided (was %s)", was), resp);
    return GS_OK;
}

/* ------------------------------------------------------------------ reading */

gs_code fund_movement_get_movement(call *c, const Gridstock__V1__FundMovementRequest *req,
                                   Gridstock__V1__FundMovement *resp)
{
    GS_TRY(move_visible(c, req->id));
    return move_load(c, req->id, resp);
}

gs_code fund_movement_list_movements(call *c, const Gridstock__V1__ListFundMovementsRequest *req,
                                     Gridstock__V1__ListFundMovementsResponse *resp)
{
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "kind", req->kind, movement_kinds, false));
    GS_TRY(dir_enum(c, "state", req->state, movement_states, false));
    /* newest first: the page token is the last id seen, the next page has smaller ids */
    GS_TRY(db_exec(c, &r,
                   "SELECT " MOVE_COLS MOVE_FROM " WHERE fund_movement_visible(m, $1::ltree)"
                   " AND ($2 = '' OR m.kind = $2) AND ($3 = '' OR m.state = $3)"
                   " AND ($4::bigint = 0 OR m.id < $4::bigint) ORDER BY m.id DESC LIMIT $5::bigint",
                   5, c->who.scope_path, req->kind, req->state, call_i64(c, after),
                   call_i64(c, limit)));
    int rows = db_rows(r);
    if (rows == limit) {
        rows--;
        resp->next_page_token = (char *)call_i64(c, db_i64(r, rows - 1, FMOVE_ID));
    }
    DB_ROWS_INTO(c, r, rows, resp->movements, resp->n_movements,
                 &gridstock__v1__fund_movement__descriptor, move_from_row);
    return attach_items(c, resp->movements, r, rows);
}
