/* db_error.c — a failed statement becomes the call's error: the SQLSTATE's status
 * (db_sqlstate.c's table), the reason named in our functions' HINT, or the one
 * error_reasons.c maps from the message, and the message the client sees. */
#include <string.h>

#include "db_internal.h"
#include "db_sqlstate.h"
#include "error_reasons.h"
#include "log.h"

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

gs_code db_fail_from(call *c, PGresult *res)
{
    db *d = c->db;
    if (!res || !db_connected(d)) {
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
    if (db_sqlstate_stale(state)) {
        d->stale = true;
        if (strcmp(state, "25006") == 0) {
            /* The database turned read-only under us (a failover demoted it): the
             * transaction changed nothing, so dispatch may run it again on a new
             * connection, which finds the new primary if there is one. */
            c->retryable = true;
            log_event(LOG_WARN, "db_read_only", "conn", d->name, "error", p, NULL);
            return call_fail_why(c, GS_UNAVAILABLE, GS_R_DATABASE_UNAVAILABLE,
                                 "database unavailable: it is read-only (failover under way?)");
        }
    }
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
