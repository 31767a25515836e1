/* db_sqlstate.c — the SQLSTATE → gs_code table (db_sqlstate.h). */
#include "db_sqlstate.h"

#include <string.h>

struct sqlstate_map {
    const char *state; /* exact code, or a two-character class */
    gs_code code;
};

/* Exact codes before the classes they belong to: the first prefix match wins. */
static const struct sqlstate_map sqlstates[] = {
    {"40001", GS_ABORTED},             /* serialization_failure: retried */
    {"40P01", GS_ABORTED},             /* deadlock_detected: retried */
    {"57014", GS_DEADLINE_EXCEEDED},   /* query_canceled: statement_timeout from the deadline */
    {"57P01", GS_UNAVAILABLE},         /* admin_shutdown */
    {"57P02", GS_UNAVAILABLE},         /* crash_shutdown */
    {"57P03", GS_UNAVAILABLE},         /* cannot_connect_now */
    {"57P04", GS_UNAVAILABLE},         /* database_dropped */
    {"25006", GS_UNAVAILABLE},         /* read_only_sql_transaction: a primary turned standby */
    {"23505", GS_ALREADY_EXISTS},      /* unique_violation */
    {"23503", GS_NOT_FOUND},           /* foreign_key_violation: a referenced object is missing */
    {"23514", GS_FAILED_PRECONDITION}, /* check_violation: an invariant would break */
    {"23502", GS_INVALID_ARGUMENT},    /* not_null_violation */
    {"23P01", GS_FAILED_PRECONDITION}, /* exclusion_violation */
    {"42501", GS_PERMISSION_DENIED},   /* insufficient_privilege (append-only tables) */
    {"P0001", GS_FAILED_PRECONDITION}, /* RAISE EXCEPTION in our functions */
    {"GS400", GS_INVALID_ARGUMENT},    /* our functions: bad argument */
    {"GS404", GS_NOT_FOUND},           /* our functions: no such object (or out of scope) */
    {"GS409", GS_FAILED_PRECONDITION}, /* our functions: wrong state, not enough stock/money */
    {"GS403", GS_PERMISSION_DENIED},   /* our functions: not allowed */
    {"08", GS_UNAVAILABLE},            /* connection exceptions */
    {"53", GS_UNAVAILABLE},            /* insufficient resources */
    {"22", GS_INVALID_ARGUMENT},       /* data exceptions: bad date, out of range number */
};

gs_code db_sqlstate_code(const char *state)
{
    if (!state)
        return GS_INTERNAL;
    for (size_t i = 0; i < sizeof sqlstates / sizeof sqlstates[0]; i++) {
        size_t n = strlen(sqlstates[i].state);
        if (strncmp(state, sqlstates[i].state, n) == 0)
            return sqlstates[i].code;
    }
    return GS_INTERNAL;
}

/* Errors after which this connection is no use: the server is going away, or it is (now) a
 * standby; the next call connects afresh, to whichever host is the primary then. */
bool db_sqlstate_stale(const char *state)
{
    static const char *const stale[] = {"25006", "57P01", "57P02", "57P03", "57P04", "08"};
    if (!state)
        return false;
    for (size_t i = 0; i < sizeof stale / sizeof stale[0]; i++)
        if (strncmp(state, stale[i], strlen(stale[i])) == 0)
            return true;
    return false;
}
