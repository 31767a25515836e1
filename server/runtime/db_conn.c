/* db_conn.c — the connections: one per worker, opened with the session settings every
 * session gets, reconnected on demand (and at once after a failover), listed for the
 * metrics endpoint; plain statements outside a call (migrations, tokens) and
 * LISTEN/NOTIFY for listen.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db_internal.h"
#include "error_reasons.h"
#include "log.h"

#define RECONNECT_MS 500

/* Every open handle, so the metrics endpoint can report each connection's state. Only
 * db_open/db_close/db_set_name/db_foreach take the lock; the hot path never does. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct db *live;
static unsigned live_seq;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    d->stale = false;
    if (!d->conninfo) {
        if (!d->was_down)
            log_event(LOG_ERROR, "db_unavailable", "conn", d->name, "error",
                      "out of memory copying the connection string", NULL);
        d->was_down = true;
        d->last_attempt_ms = now_ms();
        atomic_store_explicit(&d->up, false, memory_order_relaxed);
        return;
    }
    /* Keys before dbname are defaults the conninfo may override: with several hosts
     * ("host=a,b") libpq tries each and keeps the first that takes writes, so after a
     * failover a reconnect finds the new primary. */
    const char *keys[] = {"target_session_attrs", "connect_timeout", "dbname",
                          "fallback_application_name", NULL};
    const char *vals[] = {d->session_attrs, "3", d->conninfo, "gridstockd", NULL};
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
    return db_open_attrs(conninfo, "read-write");
}

db *db_open_attrs(const char *conninfo, const char *session_attrs)
{
    db *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    d->session_attrs = session_attrs;
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

bool db_connected(db *d)
{
    bool ok = d->conn && PQstatus(d->conn) == CONNECTION_OK;
    atomic_store_explicit(&d->up, ok, memory_order_relaxed); /* for db_foreach */
    return ok;
}

bool db_ok(db *d)
{
    if (d->stale) /* at once: the new primary may be there already */
        return db_recover(d);
    if (db_connected(d))
        return true;
    if (now_ms() - d->last_attempt_ms >= RECONNECT_MS)
        db_connect(d);
    return db_connected(d);
}

PGresult *db_exec_simple(db *d, const char *sql)
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
        return call_fail_why(c, GS_UNAVAILABLE, GS_R_DATABASE_UNAVAILABLE, "database unavailable");
    return GS_OK;
}

bool db_recover(db *d)
{
    db_connect(d);
    return db_connected(d);
}

int64_t db_timeout(const db *d)
{
    return d->timeout_ms;
}

void db_set_timeout_known(db *d, int64_t ms)
{
    d->timeout_ms = ms;
}

int db_simple(db *d, const char *sql, char *err, size_t errlen)
{
    if (!db_ok(d)) {
        snprintf(err, errlen, "database unavailable: %s", d->conn ? PQerrorMessage(d->conn) : "");
        err[strcspn(err, "\n")] = '\0';
        return -1;
    }
    PGresult *r = db_exec_simple(d, sql);
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
    if (!db_connected(d))
        return -1;
    char *quoted = PQescapeIdentifier(d->conn, channel, strlen(channel));
    if (!quoted)
        return -1;
    char sql[256];
    snprintf(sql, sizeof sql, "LISTEN %s", quoted);
    PQfreemem(quoted);
    PGresult *r = db_exec_simple(d, sql);
    int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    return rc;
}

int db_socket(db *d)
{
    return db_connected(d) ? PQsocket(d->conn) : -1;
}

int db_drain_notifications(db *d, void (*cb)(void *arg, const char *channel, const char *payload),
                           void *arg)
{
    if (!db_connected(d) || !PQconsumeInput(d->conn))
        return -1;
    int n = 0;
    for (PGnotify *nf; (nf = PQnotifies(d->conn)); n++) {
        cb(arg, nf->relname, nf->extra);
        PQfreemem(nf);
    }
    return db_connected(d) ? n : -1;
}
