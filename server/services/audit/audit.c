/* audit.c — AuditService: the audit trail read by auditors and district admins
 * (audit.read). Scope: every audit row is filed under an org-unit path (audit_log.
 * scope_path, set by the database from the row's object, see sql/migrations/040_audit.sql);
 * a caller sees the rows filed inside their scope's subtree. Rows from before migration
 * 040 have no path and are seen by district-wide callers only. */
#include <inttypes.h>
#include <string.h>

#include "audit_chain.h"
#include "db.h"
#include "directory/directory.h"
#include "method.h"

#include "gridstock/v1/audit.pb-c.h"
#include "gridstock/v1/audit.rpc.h"

/* The columns row_from_db reads, from audit_log l. */
#define AUDIT_COLUMNS(COL)                                                                         \
    COL(AUDIT_ID, "l.id")                                                                          \
    COL(AUDIT_AT, ", to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")       \
    COL(AUDIT_USER_ID, ", l.user_id")                                                              \
    COL(AUDIT_LOGIN, ", l.login")                                                                  \
    COL(AUDIT_ROLE, ", l.role")                                                                    \
    COL(AUDIT_METHOD, ", l.method")                                                                \
    COL(AUDIT_OBJECT, ", l.object")                                                                \
    COL(AUDIT_REQUEST_ID, ", l.request_id")                                                        \
    COL(AUDIT_SUMMARY, ", l.summary")                                                              \
    COL(AUDIT_CHANGES, ", coalesce(l.changes::text, '')")                                          \
    COL(AUDIT_SCOPE_PATH, ", coalesce(l.scope_path::text, '')")
enum { AUDIT_COLUMNS(DB_COL_NAME) AUDIT_NCOLS };
#define AUDIT_COLS AUDIT_COLUMNS(DB_COL_SQL)
/* The caller's scope ($1): rows filed in its subtree; unfiled (pre-040) rows for the
 * district only. */
#define AUDIT_SCOPE                                                                                \
    " (l.scope_path <@ $1::ltree OR (l.scope_path IS NULL AND nlevel($1::ltree) = 1))"

enum { TEXT_MAX = 200 };

static Gridstock__V1__AuditRow *row_from_db(call *c, const db_res *r, int i)
{
    Gridstock__V1__AuditRow *m = call_msg(c, &gridstock__v1__audit_row__descriptor);
    m->id = db_i64(r, i, AUDIT_ID);
    m->at = (char *)db_str(r, i, AUDIT_AT);
    m->user_id = db_i64(r, i, AUDIT_USER_ID);
    m->login = (char *)db_str(r, i, AUDIT_LOGIN);
    m->role = (char *)db_str(r, i, AUDIT_ROLE);
    m->method = (char *)db_str(r, i, AUDIT_METHOD);
    m->object = (char *)db_str(r, i, AUDIT_OBJECT);
    m->request_id = (char *)db_str(r, i, AUDIT_REQUEST_ID);
    m->summary = (char *)db_str(r, i, AUDIT_SUMMARY);
    m->changes = (char *)db_str(r, i, AUDIT_CHANGES);
    m->scope_path = (char *)db_str(r, i, AUDIT_SCOPE_PATH);
    return m;
}

/* Fills resp from r's rows (up to limit - 1) and the next page token. */
static void fill_page(call *c, Gridstock__V1__ListAuditResponse *resp, const db_res *r,
                      int64_t limit)
{
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, AUDIT_ID, limit, &rows);
    resp->n_rows = (size_t)rows;
    resp->rows = (Gridstock__V1__AuditRow **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++)
        resp->rows[i] = row_from_db(c, r, i);
}

/* The path of org unit `code` inside the caller's scope; NOT_FOUND otherwise. */
static gs_code unit_path(call *c, const char *code, const char **path)
{
    db_res *r = NULL;
    GS_TRY(v_len(c, "org_unit_code", code, 64));
    GS_TRY(db_find(c, &r, "org unit", GS_BY_CODE, 0, code,
                   "SELECT path::text FROM org_units WHERE code = $1 AND path <@ $2::ltree", 2,
                   code, c->who.scope_path));
    *path = db_one_str(r, 0);
    return GS_OK;
}

static const char *or_null(const char *s)
{
    return s && *s ? s : NULL;
}

gs_code audit_list(call *c, const Gridstock__V1__ListAuditRequest *req,
                   Gridstock__V1__ListAuditResponse *resp)
{
    int64_t limit, after;
    const char *unit = NULL;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "object", req->object, TEXT_MAX));
    GS_TRY(v_len(c, "login", req->login, 64));
    GS_TRY(v_len(c, "method", req->method, TEXT_MAX));
    GS_TRY(v_len(c, "request_id", req->request_id, 128));
    GS_TRY(v_len(c, "text", req->text, TEXT_MAX));
    GS_TRY(v_len(c, "since", req->since, 40));
    GS_TRY(v_len(c, "until", req->until, 40));
    GS_TRY(v_timestamp(c, "since", req->since));
    GS_TRY(v_timestamp(c, "until", req->until));
    if (*req->org_unit_code)
        GS_TRY(unit_path(c, req->org_unit_code, &unit));

    const char *p[11] = {c->who.scope_path,    or_null(req->object),     or_null(req->login),
                         or_null(req->method), or_null(req->request_id), or_null(req->since),
                         or_null(req->until),  or_null(req->text),       unit,
                         call_i64(c, after),   call_i64(c, limit)};
    GS_TRY(db_execv(c, &r,
                    "SELECT " AUDIT_COLS " FROM audit_log l WHERE" AUDIT_SCOPE
                    " AND ($2::text IS NULL OR l.object = $2)"
                    " AND ($3::text IS NULL OR l.login = $3)"
                    " AND ($4::text IS NULL OR l.method = $4 OR l.method LIKE '%/' || $4)"
                    " AND ($5::text IS NULL OR l.request_id = $5)"
                    " AND ($6::text IS NULL OR l.at >= stock_ts($6, 'since'))"
                    " AND ($7::text IS NULL OR l.at < stock_ts($7, 'until'))"
                    " AND ($8::text IS NULL OR strpos(lower(l.summary), lower($8)) > 0"
                    "      OR strpos(lower(l.changes::text), lower($8)) > 0)"
                    " AND ($9::ltree IS NULL OR l.scope_path <@ $9::ltree)"
                    " AND l.id > $10::bigint ORDER BY l.id LIMIT $11::bigint",
                    11, p));
    fill_page(c, resp, r, limit);
    return GS_OK;
}

gs_code audit_get(call *c, const Gridstock__V1__GetAuditRowRequest *req,
                  Gridstock__V1__AuditRow *resp)
{
    db_res *r = NULL;
    const char *status = "";

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(db_exec(
        c, &r, "SELECT " AUDIT_COLS " FROM audit_log l WHERE" AUDIT_SCOPE " AND l.id = $2::bigint",
        2, c->who.scope_path, call_i64(c, req->id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "audit row %" PRId64 " not found", req->id);
    *resp = *row_from_db(c, r, 0);
    GS_TRY(audit_chain_row_status(c, req->id, &status, &resp->seal_seq));
    resp->seal = (char *)status;
    return GS_OK;
}

/* The table whose rows an object kind names (as audit_capture records them), or NULL. */
static const char *object_table(const char *kind, size_t n)
{
    static const char *const map[][2] = {
        {"site", "sites"},
        {"item", "items"},
        {"user", "users"},
        {"lot", "lots"},
        {"transfer", "stock_transfers"},
        {"stocktake", "stocktakes"},
        {"purchase_order", "purchase_orders"},
        {"donation", "charity_donations"},
        {"distribution", "charity_distributions"},
        {"charity_quota", "charity_quotas"},
        {"supplier_price", "supplier_prices"},
        {"requisition", "requisitions"},
        {"fund_account", "fund_accounts"},
        {"fund_budget", "fund_budgets"},
        {"disbursement", "fund_disbursements"},
        {"programme", "fund_programmes"},
        {"programme_run", "fund_programme_runs"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i][0]) == n && strncmp(map[i][0], kind, n) == 0)
            return map[i][1];
    return NULL;
}

gs_code audit_history(call *c, const Gridstock__V1__AuditHistoryRequest *req,
                      Gridstock__V1__ListAuditResponse *resp)
{
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_required(c, "object", req->object));
    GS_TRY(v_len(c, "object", req->object, TEXT_MAX));
    const char *colon = strchr(req->object, ':');
    if (!colon || colon == req->object || !colon[1])
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "object: \"<kind>:<id>\", e.g. \"site:12\", got \"%.64s\"", req->object);
    const char *table = NULL, *id = NULL;
    size_t digits = strspn(colon + 1, "0123456789");
    if (digits > 0 && digits <= 18 && colon[1 + digits] == '\0') {
        table = object_table(req->object, (size_t)(colon - req->object));
        id = colon + 1;
    }
    const char *p[6] = {c->who.scope_path, req->object,        table,
                        table ? id : NULL, call_i64(c, after), call_i64(c, limit)};
    GS_TRY(db_execv(
        c, &r,
        "SELECT " AUDIT_COLS " FROM audit_log l WHERE" AUDIT_SCOPE
        " AND (l.object = $2 OR ($3::text IS NOT NULL AND ("
        "   l.changes @> jsonb_build_array(jsonb_build_object('t', $3::text, 'id', $4::bigint))"
        "   OR l.changes @> jsonb_build_array(jsonb_build_object('t', $3::text,"
        "                                     'ids', jsonb_build_array($4::bigint))))))"
        " AND l.id > $5::bigint ORDER BY l.id LIMIT $6::bigint",
        6, p));
    if (db_rows(r) == 0 && after == 0)
        return call_fail(c, GS_NOT_FOUND, "no audit rows for \"%.64s\" in your scope", req->object);
    fill_page(c, resp, r, limit);
    return GS_OK;
}

gs_code audit_verify_chain(call *c, const Gridstock__V1__VerifyAuditChainRequest *req,
                           Gridstock__V1__VerifyAuditChainResponse *resp)
{
    (void)req;
    audit_chain_result res;

    GS_TRY(dir_require_district(c, "VerifyChain checks the whole audit log"));
    GS_TRY(audit_chain_verify(c, NULL, &res));
    resp->ok = res.ok;
    resp->sealed = res.sealed;
    resp->unsealed = res.unsealed;
    resp->head_seq = res.head_seq;
    resp->head_hmac = call_printf(c, "%s", res.head_hmac);
    resp->problem = call_printf(c, "%s", res.problem);
    resp->broken_seq = res.broken_seq;
    resp->broken_audit_id = res.broken_audit_id;
    return GS_OK;
}
