/* idempotency.c — the request_log table behind exactly-once (see idempotency.h). */
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "db.h"
#include "log.h"
#include "method.h"
#include "monitor.h"

gs_code idem_hash(call *c, const char *method, uint8_t out[32])
{
    size_t n = protobuf_c_message_get_packed_size(c->req);
    uint8_t *buf = arena_try_alloc(c->arena, n ? n : 1);
    if (!buf)
        return call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_CALL_TOO_LARGE,
                             "out of memory for this call (max_call_bytes is %zu)",
                             arena_limit(c->arena));
    protobuf_c_message_pack(c->req, buf);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 32;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, method, strlen(method) + 1) == 1 &&
             EVP_DigestUpdate(ctx, buf, n) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
             len == 32;
    EVP_MD_CTX_free(ctx); /* NULL-safe */
    if (!ok) {
        log_event(LOG_ERROR, "idempotency_error", "error", "SHA-256 of the request failed", NULL);
        return call_fail(c, GS_INTERNAL, "internal error");
    }
    return GS_OK;
}

/* bytea in PostgreSQL's hex text form: \x0a1b… */
static char *to_hex(call *c, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char *s = arena_alloc(c->arena, 2 * n + 3);
    s[0] = '\\';
    s[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        s[2 + 2 * i] = digits[p[i] >> 4];
        s[3 + 2 * i] = digits[p[i] & 15];
    }
    s[2 * n + 2] = '\0';
    return s;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static const char SQL_CLAIM[] =
    "INSERT INTO request_log (user_id, request_id, method, request_hash)"
    " VALUES ($1::bigint, $2, $3, $4::bytea) ON CONFLICT DO NOTHING";
static const char SQL_STORED[] =
    "SELECT method, request_hash = $3::bytea, response FROM request_log"
    " WHERE user_id = $1::bigint AND request_id = $2";
static const char SQL_STORE[] = "UPDATE request_log SET status = 0, response = $3::bytea"
                                " WHERE user_id = $1::bigint AND request_id = $2";

void idem_claim_stmt(call *c, const uint8_t hash[32], db_stmt *st, db_res **res)
{
    *st = (db_stmt){
        SQL_CLAIM,
        4,
        {call_i64(c, c->who.user_id), c->request_id, c->method->path, to_hex(c, hash, 32)},
        res};
}

gs_code idem_claimed(call *c, const db_res *claim, const uint8_t hash[32], bool *replayed,
                     rpc_reply *reply)
{
    db_res *r;
    *replayed = false;
    if (db_affected(claim) == 1)
        return GS_OK;
    GS_TRY(db_exec(c, &r, SQL_STORED, 3, call_i64(c, c->who.user_id), c->request_id,
                   to_hex(c, hash, 32)));
    if (db_rows(r) == 0) /* cannot happen: the conflicting row is committed */
        return call_fail(c, GS_ABORTED, "request id %s is in use, try again", c->request_id);
    if (strcmp(db_str(r, 0, 0), c->method->path) != 0 || !db_bool(r, 0, 1))
        return call_fail_why(c, GS_ALREADY_EXISTS, GS_R_REQUEST_ID_REUSED,
                             "request id %s was already used for a different request",
                             c->request_id);
    const char *hex = db_str(r, 0, 2);
    size_t n = strlen(hex);
    if (n < 2 || hex[0] != '\\' || hex[1] != 'x')
        return call_fail(c, GS_INTERNAL, "internal error");
    size_t len = (n - 2) / 2;
    reply->data = malloc(len ? len : 1);
    if (!reply->data)
        return call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_CALL_TOO_LARGE,
                             "out of memory replaying request id %s", c->request_id);
    for (size_t i = 0; i < len; i++)
        reply->data[i] = (uint8_t)(hexval(hex[2 + 2 * i]) << 4 | hexval(hex[3 + 2 * i]));
    reply->len = len;
    reply->code = GS_OK;
    *replayed = true;
    return GS_OK;
}

void idem_store_stmt(call *c, const uint8_t *resp, size_t len, db_stmt *st)
{
    *st = (db_stmt){
        SQL_STORE, 3, {call_i64(c, c->who.user_id), c->request_id, to_hex(c, resp, len)}, NULL};
}

/* Retention: request ids and their stored responses older than request_log_days go, at
 * most 10,000 rows a minute per server (the row locks are short; several servers may
 * run it at once and simply share the work). */
static char purge_sql[256]; /* built once; the monitor keeps the pointer */

void idem_jobs_register(const gs_config *cfg)
{
    snprintf(purge_sql, sizeof purge_sql,
             "WITH gone AS (DELETE FROM request_log WHERE ctid = ANY (ARRAY("
             "SELECT ctid FROM request_log WHERE created_at < now() - make_interval(days => %d)"
             " LIMIT 10000)) RETURNING 1) SELECT count(*) FROM gone",
             cfg->request_log_days);
    monitor_every("request_log_purge", 60, purge_sql);
}
