/* db.c — PostgreSQL through libpq: the only file that includes <libpq-fe.h>. One
 * connection per worker, reconnected on demand; statements prepared once per connection
 * (db_stmt_cache.c remembers which); a failure's SQLSTATE becomes a gs_code through
 * db_sqlstate.c's table; results collected per call and cleared at its end. */
#include "db.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "db_sqlstate.h"
#include "db_stmt_cache.h"
#include "error_reasons.h"
#include "log.h"

#define RECONNECT_MS 500

struct db {
    char *conninfo;
    PGconn *conn;
    int64_t last_attempt_ms;
    bool was_down;    /* for the reconnect log line */
    stmt_cache stmts; /* what this connection has prepared */
    _Atomic uint64_t reconnects;
    int64_t timeout_ms; /* session statement_timeout in effect; -1 unknown */
    /* For metrics (db_foreach), read by other threads: */
    _Atomic bool up;
    char name[32];
    struct db *next_live; /* the registry of open handles, under live_mu */
};

/* Every open handle, so the metrics endpoint can report each connection's state. Only
 * db_open/db_close/db_set_name/db_foreach take the lock; the hot path never does. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db *live;
static unsigned live_seq;

struct db_res {
    PGresult *res;
    struct db_res *next;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ connections */

/* The district's clock (config `timezone`), set on every session so current_date, ::date
 * casts and date_trunc follow it. Set once at start-up, before any db_open. */
static char session_tz[64] = "Asia/Shanghai";

void db_set_timezone(const char *tz)
{
    if (tz && *tz)
        snprintf(session_tz, sizeof session_tz, "%s", tz);
}

static char session_ttl[16] = "86400";

void db_set_reservation_ttl(int seconds)
{
    if (seconds > 0)
        snprintf(session_ttl, sizeof session_ttl, "%d", seconds);
}

/* SET TimeZone (and gs.reservation_ttl_s) on a new session; false (message in why) when
 * the server refuses it. */
static bool set_session_tz(PGconn *conn, char *why, size_t whylen)
{
    const char *vals[] = {session_tz, session_ttl};
    PGresult *r = PQexecParams(conn,
                               "SELECT set_config('TimeZone', $1, false),"
                               " set_config('gs.reservation_ttl_s', $2, false)",
                               2, NULL, vals, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        snprintf(why, whylen, "timezone \"%s\": %s", session_tz, PQerrorMessage(conn));
        why[strcspn(why, "\n")] = '\0';
    }
    PQclear(r);
    return ok;
}

/* Server NOTICEs (e.g. "relation exists, skipping") are not errors: debug log only. */
static void notice(void *arg, const char *message)
{
    (void)arg;
    if (log_enabled(LOG_DEBUG)) {
        char m[256];
        snprintf(m, sizeof m, "%s", message);
        m[strcspn(m, "\n")] = '\0';
        log_event(LOG_DEBUG, "db_notice", "message", m, NULL);
    }
}

static void db_connect(db *d)
{
    bool again = d->was_down || d->conn; /* not the first connection: a reconnect */
    if (d->conn)
        PQfinish(d->conn);
    d->conn = NULL;
    stmt_cache_clear(&d->stmts);
    d->timeout_ms = -1;
    if (!d->conninfo) {
        if (!d->was_down)
            log_event(LOG_ERROR, "db_unavailable", "conn", d->name, "error",
                      "out of memory copying the connection string", NULL);
        d->was_down = true;
        d->last_attempt_ms = now_ms();
        atomic_store_explicit(&d->up, false, memory_order_relaxed);
        return;
    }
    const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
    const char *vals[] = {d->conninfo, "3", "gridstockd", NULL};
    d->last_attempt_ms = now_ms();
    d->conn = PQconnectdbParams(keys, vals, 1);
    char why[256];
    bool tz_refused = false;
    if (PQstatus(d->conn) == CONNECTION_OK && !set_session_tz(d->conn, why, sizeof why)) {
        if (!d->was_down) /* once per outage, like db_unavailable */
            log_event(LOG_ERROR, "db_timezone", "conn", d->name, "error", why, NULL);
        PQfinish(d->conn);
        d->conn = NULL;
        tz_refused = true;
    }
    atomic_store_explicit(&d->up, PQstatus(d->conn) == CONNECTION_OK, memory_order_relaxed);
    if (PQstatus(d->conn) == CONNECTION_OK) {
        PQsetNoticeProcessor(d->conn, notice, NULL);
        if (again) {
            uint64_t n = atomic_fetch_add(&d->reconnects, 1) + 1;
            log_event(LOG_INFO, "db_reconnected", "conn", d->name, "reconnects", log_u64(n), NULL);
        }
        d->was_down = false;
        error_reasons_load(d); /* once per process */
    } else {
        if (!d->was_down && !tz_refused) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", PQerrorMessage(d->conn));
            msg[strcspn(msg, "\n")] = '\0';
            log_event(LOG_WARN, "db_unavailable", "conn", d->name, "error", msg, NULL);
        }
        d->was_down = true;
    }
}

db *db_open(const char *conninfo)
{
    db *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    /* Without its copy the handle never connects: libpq would read a NULL dbname as
     * "use the PG* defaults", which may be another database. */
    d->conninfo = strdup(conninfo ? conninfo : "");
    pthread_mutex_lock(&live_mu);
    snprintf(d->name, sizeof d->name, "conn-%u", live_seq++);
    d->next_live = live;
    live = d;
    pthread_mutex_unlock(&live_mu);
    db_connect(d);
    return d;
}

void db_set_name(db *d, const char *name)
{
    pthread_mutex_lock(&live_mu);
    snprintf(d->name, sizeof d->name, "%s", name);
    pthread_mutex_unlock(&live_mu);
}

void db_foreach(void (*cb)(void *arg, const char *name, bool up, uint64_t reconnects), void *arg)
{
    pthread_mutex_lock(&live_mu);
    for (struct db *d = live; d; d = d->next_live)
        cb(arg, d->name, atomic_load_explicit(&d->up, memory_order_relaxed),
           atomic_load_explicit(&d->reconnects, memory_order_relaxed));
    pthread_mutex_unlock(&live_mu);
}

void db_close(db *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&live_mu);
    for (struct db **p = &live; *p; p = &(*p)->next_live)
        if (*p == d) {
            *p = d->next_live;
            break;
        }
    pthread_mutex_unlock(&live_mu);
    if (d->conn)
        PQfinish(d->conn);
    free(d->conninfo);
    free(d);
}

static bool connected(db *d)
{
    bool ok = d->conn && PQstatus(d->conn) == CONNECTION_OK;
    atomic_store_explicit(&d->up, ok, memory_order_relaxed); /* for db_foreach */
    return ok;
}

bool db_ok(db *d)
{
    if (connected(d))
        return true;
    if (now_ms() - d->last_attempt_ms >= RECONNECT_MS)
        db_connect(d);
    return connected(d);
}

/* ------------------------------------------------------------------ errors */

static void first_line(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
    dst[strcspn(dst, "\n")] = '\0';
}

/* Our functions may name a specific reason in the error's HINT: "REASON key=value ...",
 * REASON one of gs_reasons.h (unknown ones are logged and dropped), the pairs going to
 * ErrorInfo.metadata (values without spaces). */
static void reason_from_hint(call *c, const char *hint)
{
    if (!hint || !*hint)
        return;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", hint);
    char *save = NULL, *tok = strtok_r(buf, " ", &save);
    gs_reason why = gs_reason_from_name(tok);
    if (why == GS_R_NONE) {
        log_event(LOG_WARN, "db_error_hint", "hint", hint, "error", "not a known reason", NULL);
        return;
    }
    c->reason = why;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (eq && eq != tok) {
            *eq = '\0';
            call_fail_meta(c, tok, eq + 1);
        }
    }
}

/* Fails the call from a libpq result (or its absence); returns the code. */
static gs_code fail_from(call *c, PGresult *res)
{
    db *d = c->db;
    if (!res || !connected(d)) {
        char msg[256];
        first_line(msg, sizeof msg, d->conn ? PQerrorMessage(d->conn) : "no connection");
        log_event(LOG_WARN, "db_error", "error", msg, NULL);
        return call_fail_why(c, GS_UNAVAILABLE, GS_R_DATABASE_UNAVAILABLE, "database unavailable");
    }
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    gs_code code = db_sqlstate_code(state);
    char p[256], dt[256];
    first_line(p, sizeof p, primary);
    first_line(dt, sizeof dt, detail);
    c->retryable = (code == GS_ABORTED);
    bool is = state != NULL;
    switch (code) {
    case GS_ALREADY_EXISTS:
        call_fail_why(c, code, GS_R_DUPLICATE, "already exists: %s", *dt ? dt : p);
        break;
    case GS_NOT_FOUND:
        if (is && strcmp(state, "23503") == 0)
            call_fail_why(c, code, GS_R_REFERENCED_NOT_FOUND, "referenced object not found: %s",
                          *dt ? dt : p);
        else
            call_fail(c, code, "%s", p);
        break;
    case GS_FAILED_PRECONDITION:
        if (constraint && is && strcmp(state, "23514") == 0 && strstr(p, constraint))
            call_fail_why(c, code, GS_R_CONSTRAINT_VIOLATED, "constraint %s violated", constraint);
        else if (constraint && is && strcmp(state, "23514") == 0)
            call_fail_why(c, code, GS_R_CONSTRAINT_VIOLATED, "%s", p); /* our own words */
        else
            call_fail(c, code, "%s", p);
        break;
    case GS_INVALID_ARGUMENT:
        if (column && is && strcmp(state, "23502") == 0)
            call_fail_field(c, arena_strdup(c->arena, column), GS_R_FIELD_REQUIRED, "required");
        else
            call_fail(c, code, "%s", p);
        break;
    case GS_DEADLINE_EXCEEDED:
        return call_fail(c, code, "deadline exceeded while the database was working");
    case GS_ABORTED:
        return call_fail_why(c, code, GS_R_CONCURRENT_CHANGE,
                             "conflict with a concurrent change, try again");
    case GS_UNAVAILABLE:
        log_event(LOG_WARN, "db_error", "sqlstate", state, "error", p, NULL);
        return call_fail_why(c, code, GS_R_DATABASE_UNAVAILABLE, "database unavailable");
    case GS_PERMISSION_DENIED:
        call_fail(c, code, "%s", p);
        break;
    default:
        log_event(LOG_ERROR, "db_error", "sqlstate", state ? state : "", "error", p, "detail", dt,
                  NULL);
        return call_fail(c, GS_INTERNAL, "internal error");
    }
    if (constraint && *constraint)
        call_fail_meta(c, "constraint", constraint);
    reason_from_hint(c, PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
    if (c->reason == GS_R_NONE || c->reason == GS_R_CONSTRAINT_VIOLATED)
        error_reasons_apply(c, p, constraint);
    return code;
}

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
    if (!connected(d))
        return fail_from(c, NULL);
    char name[24];
    bool fresh;
    stmt_entry *s = stmt_name(c, sql, name, &fresh);
    if (!s)
        return call_fail(c, GS_INTERNAL, "internal error");
    if (fresh) {
        PGresult *pr = PQprepare(d->conn, name, sql, n, NULL);
        if (!result_ok(pr)) {
            gs_code rc = fail_from(c, pr);
            PQclear(pr);
            return rc;
        }
        PQclear(pr);
        stmt_cache_remember(&d->stmts, s, sql);
    }
    PGresult *res = PQexecPrepared(d->conn, name, n, params, NULL, NULL, 0);
    if (!result_ok(res)) {
        gs_code rc = fail_from(c, res);
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
    if (!connected(d))
        return fail_from(c, NULL);
    if (!PQenterPipelineMode(d->conn))
        return fail_from(c, NULL);
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
        return rc != GS_OK ? rc : fail_from(c, NULL);
    }
    for (int i = 0; i < sent; i++) {
        if (fresh[i]) {
            PGresult *pr = PQgetResult(d->conn);
            if (!result_ok(pr)) {
                /* not prepared after all (failed, or skipped because an earlier
                 * statement of the pipeline failed): prepare it again next time */
                stmt_cache_forget(slots[i]);
                if (rc == GS_OK) {
                    rc = fail_from(c, pr);
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
            rc = fail_from(c, res);
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
        rc = fail_from(c, NULL);
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

int db_rows(const db_res *r)
{
    return r ? PQntuples(r->res) : 0;
}
int db_cols(const db_res *r)
{
    return r ? PQnfields(r->res) : 0;
}
/* The cell's text, or NULL for SQL NULL; a column the result does not have (a named
 * column missing from its select list: a bug) is logged and reads as NULL. */
static const char *cell(const db_res *r, int row, int col)
{
    if (col < 0 || col >= PQnfields(r->res)) {
        log_event(LOG_ERROR, "db_column_missing", "column", log_i64(col), "columns",
                  log_i64(PQnfields(r->res)), NULL);
        return NULL;
    }
    return PQgetisnull(r->res, row, col) ? NULL : PQgetvalue(r->res, row, col);
}
bool db_null(const db_res *r, int row, int col)
{
    return cell(r, row, col) == NULL;
}
const char *db_str(const db_res *r, int row, int col)
{
    const char *v = cell(r, row, col);
    return v ? v : "";
}
int64_t db_i64(const db_res *r, int row, int col)
{
    return strtoll(db_str(r, row, col), NULL, 10);
}
int32_t db_i32(const db_res *r, int row, int col)
{
    return (int32_t)db_i64(r, row, col);
}
double db_f64(const db_res *r, int row, int col)
{
    return strtod(db_str(r, row, col), NULL);
}
bool db_bool(const db_res *r, int row, int col)
{
    return db_str(r, row, col)[0] == 't';
}
static int one_col(const db_res *r)
{
    if (PQnfields(r->res) != 1) {
        log_event(LOG_ERROR, "db_column_missing", "columns", log_i64(PQnfields(r->res)), "expected",
                  "1", NULL);
        return -1;
    }
    return 0;
}
const char *db_one_str(const db_res *r, int row)
{
    return db_str(r, row, one_col(r));
}
int64_t db_one_i64(const db_res *r, int row)
{
    return db_i64(r, row, one_col(r));
}
bool db_one_bool(const db_res *r, int row)
{
    return db_bool(r, row, one_col(r));
}
int64_t db_affected(const db_res *r)
{
    const char *s = r ? PQcmdTuples(r->res) : "";
    return *s ? strtoll(s, NULL, 10) : 0;
}

const char *db_page_next(call *c, const db_res *r, int id_col, int64_t limit, int *rows)
{
    *rows = db_rows(r);
    if (*rows < limit)
        return "";
    *rows = (int)(limit - 1);
    return call_i64(c, db_i64(r, *rows - 1, id_col));
}

/* ------------------------------------------------------------------ transactions */

static PGresult *exec_simple(db *d, const char *sql)
{
    PGresult *last = NULL;
    if (!PQsendQuery(d->conn, sql))
        return NULL;
    for (PGresult *r; (r = PQgetResult(d->conn));) {
        if (last && PQresultStatus(last) != PGRES_FATAL_ERROR) {
            PQclear(last);
            last = r;
        } else if (!last) {
            last = r;
        } else {
            PQclear(r); /* keep the first error */
        }
    }
    return last;
}

gs_code db_attach(call *c, db *d)
{
    c->db = d;
    c->retryable = false;
    if (!db_ok(d))
        return call_fail(c, GS_UNAVAILABLE, "database unavailable");
    return GS_OK;
}

bool db_recover(db *d)
{
    db_connect(d);
    return connected(d);
}

int64_t db_timeout(const db *d)
{
    return d->timeout_ms;
}
void db_set_timeout_known(db *d, int64_t ms)
{
    d->timeout_ms = ms;
}

void db_rollback(call *c)
{
    if (c->db && connected(c->db)) {
        PQclear(exec_simple(c->db, "ROLLBACK"));
        c->db->timeout_ms = -1; /* a SET inside the transaction was undone */
    }
}

void db_release(call *c, db_res *r)
{
    for (db_res **p = &c->results; r && *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            PQclear(r->res);
            return;
        }
}

void db_call_done(call *c)
{
    for (db_res *r = c->results; r; r = r->next)
        PQclear(r->res);
    c->results = NULL;
}

bool db_retryable(const call *c)
{
    return c->retryable;
}

int db_simple(db *d, const char *sql, char *err, size_t errlen)
{
    if (!db_ok(d)) {
        snprintf(err, errlen, "database unavailable: %s", d->conn ? PQerrorMessage(d->conn) : "");
        err[strcspn(err, "\n")] = '\0';
        return -1;
    }
    PGresult *r = exec_simple(d, sql);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
        err[strcspn(err, "\n")] = '\0';
        rc = -1;
    }
    PQclear(r);
    return rc;
}

int db_value(db *d, const char *sql, const char *param, char *out, size_t outlen, char *err,
             size_t errlen)
{
    if (!db_ok(d)) {
        snprintf(err, errlen, "database unavailable");
        return -1;
    }
    const char *params[1] = {param};
    PGresult *r = PQexecParams(d->conn, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    int rc = 1;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(d->conn));
        err[strcspn(err, "\n")] = '\0';
        rc = -1;
    } else if (PQntuples(r) > 0) {
        snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

void db_describe(const char *conninfo, char *out, size_t outlen)
{
    static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", NULL};
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &err);
    size_t used = 0;
    out[0] = '\0';
    if (!opts) {
        PQfreemem(err);
        snprintf(out, outlen, "(unparsable conninfo)");
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        for (int i = 0; shown[i]; i++)
            if (strcmp(o->keyword, shown[i]) == 0 && o->val && *o->val && used < outlen) {
                int n = snprintf(out + used, outlen - used, "%s%s=%s", used ? " " : "", o->keyword,
                                 o->val);
                used += n > 0 ? (size_t)n : 0;
            }
    PQconninfoFree(opts);
    if (!out[0])
        snprintf(out, outlen, "(PG* environment)");
}

/* ------------------------------------------------------------------ LISTEN/NOTIFY */

int db_listen(db *d, const char *channel)
{
    if (!connected(d))
        return -1;
    char *quoted = PQescapeIdentifier(d->conn, channel, strlen(channel));
    if (!quoted)
        return -1;
    char sql[256];
    snprintf(sql, sizeof sql, "LISTEN %s", quoted);
    PQfreemem(quoted);
    PGresult *r = exec_simple(d, sql);
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    return rc;
}

int db_socket(db *d)
{
    return connected(d) ? PQsocket(d->conn) : -1;
}

int db_drain_notifications(db *d, void (*cb)(void *arg, const char *channel, const char *payload),
                           void *arg)
{
    if (!connected(d) || !PQconsumeInput(d->conn))
        return -1;
    int n = 0;
    for (PGnotify *nf; (nf = PQnotifies(d->conn)); n++) {
        cb(arg, nf->relname, nf->extra);
        PQfreemem(nf);
    }
    return connected(d) ? n : -1;
}
