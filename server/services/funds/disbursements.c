/* disbursements.c — DisbursementService: the two-phase life of a payment out of a grid
 * fund. A finance officer prepares; a finance approver who is not the preparer approves
 * (the money is reserved and the approval bound to the content hash) and posts; voiding
 * or expiry releases the reservation. Each step checks the transition against the state
 * table in funds.h, then runs its PL/pgSQL function (020_funds.sql), which re-checks
 * everything under a row lock. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "fsm.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/funds.pb-c.h"
#include "gridstock/v1/funds.rpc.h"

/* fund_ts(): RFC 3339 UTC text (020_funds.sql), NULL stays NULL. */
#define DISB_COLUMNS(COL)                                                                          \
    COL(DISB_ID, "d.id", id, i64)                                                                  \
    COL(DISB_FUND_ACCOUNT_ID, ", d.fund_account_id", fund_account_id, i64)                         \
    COL(DISB_FUND_CODE, ", f.code", fund_code, str)                                                \
    COL(DISB_GRID_CODE, ", ou.code", grid_code, str)                                               \
    COL(DISB_PAYEE_ACCOUNT_ID, ", d.payee_account_id", payee_account_id, i64)                      \
    COL(DISB_PAYEE_CODE, ", pa.code", payee_code, str)                                             \
    COL(DISB_PAYEE_NAME, ", pa.name", payee_name, str)                                             \
    COL(DISB_CATEGORY, ", d.category", category, str)                                              \
    COL(DISB_AMOUNT, ", d.amount", amount, i64)                                                    \
    COL(DISB_PURPOSE, ", d.purpose", purpose, str)                                                 \
    COL(DISB_PERIOD, ", d.period", period, str)                                                    \
    COL(DISB_STATE, ", d.state", state, str)                                                       \
    COL(DISB_EXTERNAL_KEY, ", coalesce(d.external_key, '')", external_key, str)                    \
    COL(DISB_VERSION, ", d.version", version, i32)                                                 \
    COL(DISB_CONTENT_HASH, ", encode(fund_disbursement_hash(d), 'hex')", content_hash, str)        \
    COL(DISB_PREPARER_ID, ", d.preparer_id", preparer_id, i64)                                     \
    COL(DISB_PREPARER_LOGIN, ", up.login", preparer_login, str)                                    \
    COL(DISB_PREPARED_AT, ", fund_ts(d.prepared_at)", prepared_at, str)                            \
    COL(DISB_APPROVER_ID, ", coalesce(d.approver_id, 0)", approver_id, i64)                        \
    COL(DISB_APPROVER_LOGIN, ", coalesce(ua.login, '')", approver_login, str)                      \
    COL(DISB_APPROVED_AT, ", fund_ts(d.approved_at)", approved_at, str)                            \
    COL(DISB_APPROVED_HASH, ", coalesce(encode(d.approved_hash, 'hex'), '')", approved_hash, str)  \
    COL(DISB_REJECTED_BY_ID, ", coalesce(d.rejected_by, 0)", rejected_by_id, i64)                  \
    COL(DISB_REJECTED_BY_LOGIN, ", coalesce(ur.login, '')", rejected_by_login, str)                \
    COL(DISB_REJECTED_AT, ", fund_ts(d.rejected_at)", rejected_at, str)                            \
    COL(DISB_REJECT_REASON, ", coalesce(d.reject_reason, '')", reject_reason, str)                 \
    COL(DISB_POSTED_BY_ID, ", coalesce(d.posted_by, 0)", posted_by_id, i64)                        \
    COL(DISB_POSTED_BY_LOGIN, ", coalesce(upo.login, '')", posted_by_login, str)                   \
    COL(DISB_POSTED_AT, ", fund_ts(d.posted_at)", posted_at, str)                                  \
    COL(DISB_POSTING_ID, ", coalesce(d.posting_id, 0)", posting_id, i64)                           \
    COL(DISB_VOIDED_BY_ID, ", coalesce(d.voided_by, 0)", voided_by_id, i64)                        \
    COL(DISB_VOIDED_BY_LOGIN, ", coalesce(uv.login, '')", voided_by_login, str)                    \
    COL(DISB_VOIDED_AT, ", fund_ts(d.voided_at)", voided_at, str)                                  \
    COL(DISB_VOID_REASON, ", coalesce(d.void_reason, '')", void_reason, str)                       \
    COL(DISB_REVERSAL_POSTING_ID, ", coalesce(d.reversal_posting_id, 0)", reversal_posting_id,     \
        i64)                                                                                       \
    COL(DISB_UPDATED_AT, ", fund_ts(d.updated_at)", updated_at, str)                               \
    COL(DISB_EXPIRES_AT,                                                                           \
        ", CASE WHEN d.state = 'approved' THEN fund_ts(d.approved_at + "                           \
        "make_interval(secs => $1::int)) END",                                                     \
        expires_at, str)
enum { DISB_COLUMNS(DB_COL_NAME) DISB_NCOLS };
#define DISB_COLS DISB_COLUMNS(DB_COL_SQL)
#define DISB_FROM                                                                                  \
    " FROM fund_disbursements d JOIN fund_accounts f ON f.id = d.fund_account_id"                  \
    " JOIN org_units ou ON ou.id = f.org_unit_id"                                                  \
    " JOIN fund_accounts pa ON pa.id = d.payee_account_id JOIN users up ON up.id = d.preparer_id"  \
    " LEFT JOIN users ua ON ua.id = d.approver_id LEFT JOIN users ur ON ur.id = d.rejected_by"     \
    " LEFT JOIN users upo ON upo.id = d.posted_by LEFT JOIN users uv ON uv.id = d.voided_by"

static void disb_from_row(Gridstock__V1__Disbursement *m, const db_res *r, int row)
{
    DISB_COLUMNS(DB_COL_FILL)
}

/* Disbursement `id` of a grid fund in the caller's scope into *out. */
static gs_code disb_load(call *c, int64_t id, Gridstock__V1__Disbursement *out)
{
    db_res *r = NULL;
    GS_TRY(v_positive(c, "id", id));
    GS_TRY(db_exec(c, &r, "SELECT " DISB_COLS DISB_FROM " WHERE d.id = $2 AND ou.path <@ $3::ltree",
                   3, call_i64(c, funds_disbursement_ttl_s()), call_i64(c, id), c->who.scope_path));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "disbursement %" PRId64 " not found", id);
    disb_from_row(out, r, 0);
    return GS_OK;
}

/* Loads disbursement `id` into *d and checks that it may go to `to` (the C state table);
 * the SQL function re-checks under its row lock. */
static gs_code disb_step(call *c, int64_t id, disb_state to, const char *verb,
                         Gridstock__V1__Disbursement *d)
{
    GS_TRY(disb_load(c, id, d));
    return fsm_check(c, &disb_fsm, fsm_state(&disb_fsm, d->state), (int)to,
                     call_printf(c, "%" PRId64, id), call_printf(c, "it cannot be %s", verb));
}

static void audit(call *c, int64_t id, const char *summary)
{
    c->audit_object = call_printf(c, "disbursement:%" PRId64, id);
    c->audit_summary = summary;
}

static gs_code check_text(call *c, const char *field, const char *s, bool required)
{
    if (required)
        GS_TRY(v_required(c, field, s));
    return v_len(c, field, s, 500);
}

gs_code disbursement_prepare_disbursement(call *c,
                                          const Gridstock__V1__PrepareDisbursementRequest *req,
                                          Gridstock__V1__Disbursement *resp)
{
    int64_t fund, payee;
    db_res *r = NULL;

    GS_TRY(v_amount(c, "amount", req->amount));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, true));
    GS_TRY(check_text(c, "purpose", req->purpose, true));
    GS_TRY(fund_check_period(c, "period", req->period, true));
    GS_TRY(v_len(c, "external_key", req->external_key, 200));
    /* the programme runs' namespace (027_fund_keys.sql refuses it too) */
    if (strncmp(req->external_key, "programme:", 10) == 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "external_key: the \"programme:\" prefix is reserved for programme runs");
    GS_TRY(
        fund_account_find(c, req->fund_account_id, "", req->grid_code, "fund_account_id", &fund));
    GS_TRY(fund_account_find(c, req->payee_account_id, req->payee_code, "", "payee_account_id",
                             &payee));
    GS_TRY(db_exec(c, &r,
                   "SELECT fund_disbursement_prepare($1, $2::ltree, $3, $4, $5, $6, $7, $8,"
                   " nullif($9, ''))",
                   9, call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, fund),
                   call_i64(c, payee), req->category, call_i64(c, req->amount), req->purpose,
                   req->period, req->external_key));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(disb_load(c, id, resp));
    const Gridstock__V1__Disbursement *d = resp;
    audit(c, id,
          call_printf(c, "prepared %" PRId64 " fen from %s to %s (%s, %s): %s", d->amount,
                      d->fund_code, d->payee_code, d->category, d->period, d->purpose));
    return GS_OK;
}

static const char *const update_fields[] = {"fund",    "payee",  "category", "amount",
                                            "purpose", "period", NULL};

gs_code disbursement_update_disbursement(call *c,
                                         const Gridstock__V1__UpdateDisbursementRequest *req,
                                         Gridstock__V1__Disbursement *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *p[9] = {0};
    const char *changed = NULL;
    db_res *r = NULL;

    GS_TRY(dir_mask_check(c, nm, mask, update_fields));
    GS_TRY(disb_step(c, req->id, DS_PREPARED, "changed", resp));
    if (dir_mask_has(nm, mask, "fund", req->fund_account_id || *req->grid_code)) {
        int64_t fund;
        GS_TRY(fund_account_find(c, req->fund_account_id, "", req->grid_code, "fund_account_id",
                                 &fund));
        p[3] = call_i64(c, fund);
        dir_note(c, &changed, "fund");
    }
    if (dir_mask_has(nm, mask, "payee", req->payee_account_id || *req->payee_code)) {
        int64_t payee;
        GS_TRY(fund_account_find(c, req->payee_account_id, req->payee_code, "", "payee_account_id",
                                 &payee));
        p[4] = call_i64(c, payee);
        dir_note(c, &changed, "payee");
    }
    if (dir_mask_has(nm, mask, "category", *req->category)) {
        GS_TRY(dir_enum(c, "category", req->category, fund_categories, true));
        p[5] = req->category;
        dir_note(c, &changed, "category");
    }
    if (dir_mask_has(nm, mask, "amount", req->amount != 0)) {
        GS_TRY(v_amount(c, "amount", req->amount));
        p[6] = call_i64(c, req->amount);
        dir_note(c, &changed, "amount");
    }
    if (dir_mask_has(nm, mask, "purpose", *req->purpose)) {
        GS_TRY(check_text(c, "purpose", req->purpose, true));
        p[7] = req->purpose;
        dir_note(c, &changed, "purpose");
    }
    if (dir_mask_has(nm, mask, "period", *req->period)) {
        GS_TRY(fund_check_period(c, "period", req->period, true));
        p[8] = req->period;
        dir_note(c, &changed, "period");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");
    p[0] = call_i64(c, c->who.user_id);
    p[1] = c->who.scope_path;
    p[2] = call_i64(c, req->id);
    GS_TRY(db_execv(
        c, &r, "SELECT fund_disbursement_update($1, $2::ltree, $3, $4, $5, $6, $7, $8, $9)", 9, p));
    bool voided = db_one_bool(r, 0);
    GS_TRY(disb_load(c, req->id, resp));
    audit(c, req->id,
          call_printf(c, "changed %s%s", changed,
                      voided ? "; the approval is void and the reservation released" : ""));
    return GS_OK;
}

/* "ab01..." (64 hex digits) → "\\xab01..." for a bytea parameter; NULL when empty. */
static gs_code hash_param(call *c, const char *hex, const char **out)
{
    *out = NULL;
    if (!*hex)
        return GS_OK;
    size_t n = strlen(hex);
    bool ok = n == 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
    if (!ok)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "expected_hash: 64 lower-case hex digits (a content_hash)");
    *out = call_printf(c, "\\x%s", hex);
    return GS_OK;
}

gs_code disbursement_approve_disbursement(call *c,
                                          const Gridstock__V1__ApproveDisbursementRequest *req,
                                          Gridstock__V1__Disbursement *resp)
{
    const char *expected;

    GS_TRY(hash_param(c, req->expected_hash, &expected));
    GS_TRY(disb_step(c, req->id, DS_APPROVED, "approved", resp));
    GS_TRY(db_exec(c, NULL, "SELECT fund_disbursement_approve($1, $2::ltree, $3, $4::bytea)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id), expected));
    GS_TRY(disb_load(c, req->id, resp));
    const Gridstock__V1__Disbursement *d = resp;
    audit(c, req->id,
          call_printf(c, "approved %" PRId64 " fen from %s to %s prepared by %s; hash %.16s",
                      d->amount, d->fund_code, d->payee_code, d->preparer_login, d->approved_hash));
    return GS_OK;
}

gs_code disbursement_reject_disbursement(call *c,
                                         const Gridstock__V1__RejectDisbursementRequest *req,
                                         Gridstock__V1__Disbursement *resp)
{
    GS_TRY(check_text(c, "reason", req->reason, true));
    GS_TRY(disb_step(c, req->id, DS_REJECTED, "rejected", resp));
    GS_TRY(db_exec(c, NULL, "SELECT fund_disbursement_reject($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   req->reason));
    GS_TRY(disb_load(c, req->id, resp));
    audit(c, req->id, call_printf(c, "rejected: %s", req->reason));
    return GS_OK;
}

gs_code disbursement_post_disbursement(call *c, const Gridstock__V1__PostDisbursementRequest *req,
                                       Gridstock__V1__Disbursement *resp)
{
    db_res *r = NULL;

    GS_TRY(disb_step(c, req->id, DS_POSTED, "posted", resp));
    GS_TRY(db_exec(c, &r, "SELECT fund_disbursement_post($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, c->request_id,
                   call_i64(c, req->id)));
    int64_t pid = db_one_i64(r, 0);
    GS_TRY(disb_load(c, req->id, resp));
    const Gridstock__V1__Disbursement *d = resp;
    audit(c, req->id,
          call_printf(c, "posted %" PRId64 " fen from %s to %s as posting %" PRId64, d->amount,
                      d->fund_code, d->payee_code, pid));
    return GS_OK;
}

gs_code disbursement_void_disbursement(call *c, const Gridstock__V1__VoidDisbursementRequest *req,
                                       Gridstock__V1__Disbursement *resp)
{
    db_res *r = NULL;

    GS_TRY(check_text(c, "reason", req->reason, false));
    GS_TRY(disb_step(c, req->id, DS_VOIDED, "voided", resp));
    GS_TRY(db_exec(c, &r, "SELECT fund_disbursement_void($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   req->reason));
    const char *was = db_one_str(r, 0);
    GS_TRY(disb_load(c, req->id, resp));
    audit(c, req->id,
          call_printf(c, "voided (was %s)%s%s", was, *req->reason ? ": " : "", req->reason));
    return GS_OK;
}

gs_code disbursement_get_disbursement(call *c, const Gridstock__V1__GetDisbursementRequest *req,
                                      Gridstock__V1__Disbursement *resp)
{
    return disb_load(c, req->id, resp);
}

gs_code disbursement_list_disbursements(call *c, const Gridstock__V1__ListDisbursementsRequest *req,
                                        Gridstock__V1__ListDisbursementsResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "state", req->state, disb_state_names, false));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, false));
    if (*req->period)
        GS_TRY(fund_check_period(c, "period", req->period, true));
    GS_TRY(v_nonneg(c, "payee_account_id", req->payee_account_id));
    GS_TRY(v_len(c, "preparer_login", req->preparer_login, 64));
    GS_TRY(v_len(c, "approver_login", req->approver_login, 64));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    /* newest first: the page token is the smallest id seen */
    GS_TRY(db_exec(c, &r,
                   "SELECT " DISB_COLS DISB_FROM " WHERE ou.path <@ $2::ltree"
                   " AND ($3::bigint = 0 OR d.id < $3::bigint) AND ($4 = '' OR d.state = $4)"
                   " AND ($5 = '' OR d.category = $5) AND ($6 = '' OR d.period = $6)"
                   " AND ($7::bigint = 0 OR d.payee_account_id = $7::bigint)"
                   " AND ($8 = '' OR up.login = $8) AND ($9 = '' OR ua.login = $9)"
                   " ORDER BY d.id DESC LIMIT $10::bigint",
                   10, call_i64(c, funds_disbursement_ttl_s()), u.path, call_i64(c, after),
                   req->state, req->category, req->period, call_i64(c, req->payee_account_id),
                   req->preparer_login, req->approver_login, call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, DISB_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->disbursements, resp->n_disbursements,
                 &gridstock__v1__disbursement__descriptor, disb_from_row);
    return GS_OK;
}
