/* db.c — a call's statements through libpq: prepared once per connection
 * (db_stmt_cache.c remembers which), run one at a time or pipelined in a batch, with the
 * runtime's deferred statements riding along; a failure becomes the call's error
 * (db_error.c); results are filed under the call (db_result.c reads them). The other
 * db_*.c files hold connections (db_conn.c), errors and results. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "db_internal.h"
#include "log.h"

/* ------------------------------------------------------------------ statements */

static gs_code flush_with(call *c, const db_stmt *extra, int n_extra);

/* The prepared name of `sql` on this connection; *fresh when it must be prepared first.
 * NULL when the cache is full (a bug: statements are string literals). */
static stmt_entry *stmt_name(call *c, const char *sql, char name[24], bool *fresh)
{
    stmt_entry *s = stmt_cache_lookup(&c->db->stmts, sql, name, fresh);
    if (!s)
        log_event(LOG_ERROR, "db_error", "error", "statement cache full", NULL);
    return s;
}

/* Files a result under the call (cleared when it ends). Never jumps out of the arena:
 * it runs between reads of a pipeline. False (res cleared) when memory ran out. */
static bool keep_result(call *c, PGresult *res, db_res **out)
{
    if (!out) { /* nobody will read it */
        PQclear(res);
        return true;
    }
    db_res *r = NULL;
    if (arena_charge(c->arena, PQresultMemorySize(res)))
        r = arena_try_alloc(c->arena, sizeof *r);
    if (!r) {
        PQclear(res);
        return false;
    }
    r->res = res;
    r->next = c->results;
    c->results = r;
    *out = r;
    return true;
}

static gs_code out_of_memory(call *c)
{
    return call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_CALL_TOO_LARGE,
                         "out of memory for this call (max_call_bytes is %zu)",
                         arena_limit(c->arena));
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

gs_code db_execv(call *c, db_res **out, const char *sql, int n, const char *const *params)
{
    db *d = c->db;
    if (out)
        *out = NULL;
    if (c->deferred && n <= DB_STMT_PARAMS) {
        db_stmt st = {sql, n, {NULL}, out};
        memcpy(st.params, params, (size_t)n * sizeof params[0]);
        return flush_with(c, &st, 1);
    }
    if (c->deferred)
        GS_TRY(flush_with(c, NULL, 0));
    if (!db_connected(d))
        return db_fail_from(c, NULL);
    char name[24];
    bool fresh;
    stmt_entry *s = stmt_name(c, sql, name, &fresh);
    if (!s)
        return call_fail(c, GS_INTERNAL, "internal error");
    if (fresh) {
        PGresult *pr = PQprepare(d->conn, name, sql, n, NULL);
        if (!result_ok(pr)) {
            gs_code rc = db_fail_from(c, pr);
            PQclear(pr);
            return rc;
        }
        PQclear(pr);
        stmt_cache_remember(&d->stmts, s, sql);
    }
    PGresult *res = PQexecPrepared(d->conn, name, n, params, NULL, NULL, 0);
    if (!result_ok(res)) {
        gs_code rc = db_fail_from(c, res);
        PQclear(res);
        return rc;
    }
    return keep_result(c, res, out) ? GS_OK : out_of_memory(c);
}

/* Runs a batch; *failed is the index of the statement that failed first, or -1. */
static gs_code batch_run(call *c, const db_stmt *stmts, int n, int *failed)
{
    db *d = c->db;
    *failed = -1;
    int too_many_params = -1;
    for (int i = 0; i < n && i < DB_BATCH_MAX; i++)
        if (stmts[i].n < 0 || stmts[i].n > DB_STMT_PARAMS)
            too_many_params = i;
    if (n < 1 || n > DB_BATCH_MAX || too_many_params >= 0) { /* a caller's bug, not a client's */
        char what[96];
        if (too_many_params >= 0)
            snprintf(what, sizeof what, "batch statement %d has %d parameters (at most %d)",
                     too_many_params, stmts[too_many_params].n, DB_STMT_PARAMS);
        else
            snprintf(what, sizeof what, "a batch of %d statements (1 to %d allowed)", n,
                     DB_BATCH_MAX);
        log_event(LOG_ERROR, "db_error", "error", what, NULL);
        *failed = 0;
        return call_fail(c, GS_INTERNAL, "internal error");
    }
    if (!db_connected(d))
        return db_fail_from(c, NULL);
    if (!PQenterPipelineMode(d->conn))
        return db_fail_from(c, NULL);
    stmt_entry *slots[DB_BATCH_MAX];
    bool fresh[DB_BATCH_MAX];
    int sent = 0;
    gs_code rc = GS_OK;
    for (int i = 0; i < n; i++) {
        char name[24];
        /* a statement twice in one batch is prepared once: the first is remembered as
         * soon as its prepare is sent, so the second finds it */
        slots[i] = stmt_name(c, stmts[i].sql, name, &fresh[i]);
        if (!slots[i]) {
            rc = call_fail(c, GS_INTERNAL, "internal error");
            break;
        }
        if (fresh[i] && !PQsendPrepare(d->conn, name, stmts[i].sql, stmts[i].n, NULL))
            break;
        if (fresh[i])
            stmt_cache_remember(&d->stmts, slots[i], stmts[i].sql);
        if (!PQsendQueryPrepared(d->conn, name, stmts[i].n, stmts[i].params, NULL, NULL, 0))
            break;
        sent++;
    }
    if (!PQpipelineSync(d->conn)) {
        PQexitPipelineMode(d->conn);
        return rc != GS_OK ? rc : db_fail_from(c, NULL);
    }
    for (int i = 0; i < sent; i++) {
        if (fresh[i]) {
            PGresult *pr = PQgetResult(d->conn);
            if (!result_ok(pr)) {
                /* not prepared after all (failed, or skipped because an earlier
                 * statement of the pipeline failed): prepare it again next time */
                stmt_cache_forget(slots[i]);
                if (rc == GS_OK) {
                    rc = db_fail_from(c, pr);
                    *failed = i;
                }
            }
            PQclear(pr);
            PQclear(PQgetResult(d->conn)); /* the NULL that ends each command */
        }
        PGresult *res = PQgetResult(d->conn);
        PQclear(PQgetResult(d->conn));
        if (result_ok(res)) {
            if (!keep_result(c, res, stmts[i].out) && rc == GS_OK) {
                rc = out_of_memory(c);
                *failed = i;
            }
            continue;
        }
        if (rc == GS_OK && PQresultStatus(res) != PGRES_PIPELINE_ABORTED) {
            rc = db_fail_from(c, res);
            *failed = i;
        }
        PQclear(res);
    }
    /* the sync point */
    for (PGresult *r; (r = PQgetResult(d->conn));) {
        bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (sync)
            break;
    }
    PQexitPipelineMode(d->conn);
    if (rc == GS_OK && sent < n) {
        rc = db_fail_from(c, NULL);
        *failed = sent;
    }
    if (rc != GS_OK && *failed < 0)
        *failed = 0;
    return rc;
}

gs_code db_batch(call *c, const db_stmt *stmts, int n)
{
    if (c->deferred && c->deferred->n + n <= DB_BATCH_MAX)
        return flush_with(c, stmts, n);
    if (c->deferred)
        GS_TRY(flush_with(c, NULL, 0));
    int failed;
    return batch_run(c, stmts, n, &failed);
}

void db_defer(call *c, db_deferred *d)
{
    c->deferred = d->n > 0 ? d : NULL;
}

/* Sends the deferred statements plus n_extra more; see db_deferred. A batch whose first
 * statement found the connection broken is retried once on a new one: nothing of it can
 * have taken effect. */
static gs_code flush_with(call *c, const db_stmt *extra, int n_extra)
{
    db_deferred *dd = c->deferred;
    c->deferred = NULL;
    db_stmt all[DB_BATCH_MAX];
    int n = dd->n;
    memcpy(all, dd->stmts, (size_t)n * sizeof all[0]);
    for (int i = 0; i < n_extra; i++)
        all[n++] = extra[i];
    int failed;
    gs_code rc = batch_run(c, all, n, &failed);
    if (rc == GS_UNAVAILABLE && failed == 0 && db_recover(c->db))
        rc = batch_run(c, all, n, &failed);
    if (rc != GS_OK && failed < dd->n)
        return rc; /* a runtime statement failed: its results are not there to check */
    gs_code check = dd->check(c, dd->arg);
    return check != GS_OK ? check : rc;
}

gs_code db_flush(call *c)
{
    return c->deferred ? flush_with(c, NULL, 0) : GS_OK;
}

gs_code db_exec(call *c, db_res **out, const char *sql, int n, ...)
{
    const char *params[64];
    if (n > 64)
        return call_fail(c, GS_INTERNAL, "internal error");
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    va_end(ap);
    return db_execv(c, out, sql, n, params);
}

/* ------------------------------------------------------------------ transactions */

void db_rollback(call *c)
{
    if (c->db && db_connected(c->db)) {
        PQclear(db_exec_simple(c->db, "ROLLBACK"));
        c->db->timeout_ms = -1; /* a SET inside the transaction was undone */
    }
}

bool db_retryable(const call *c)
{
    return c->retryable;
}
