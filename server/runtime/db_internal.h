/* db_internal.h — what the db*.c files share and nothing else sees: the connection
 * handle, a result, and the pieces one file defines for the others. These files are the
 * only ones that include <libpq-fe.h>. */
#ifndef GS_DB_INTERNAL_H
#define GS_DB_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "db.h"
#include "db_stmt_cache.h"

struct db {
    char *conninfo;
    PGconn *conn;
    int64_t last_attempt_ms;
    bool was_down; /* for the reconnect log line */
    bool stale;    /* a failover made it useless (read-only, shutting down): replace it */
    const char *session_attrs; /* target_session_attrs unless the conninfo names one */
    stmt_cache stmts;          /* what this connection has prepared */
    _Atomic uint64_t reconnects;
    int64_t timeout_ms; /* session statement_timeout in effect; -1 unknown */
    /* For metrics (db_foreach), read by other threads: */
    _Atomic bool up;
    char name[32];
    struct db *next_live; /* the registry of open handles, under db_conn.c's lock */
};

/* A result the call keeps until it ends (db_call_done), linked from call.results. */
struct db_res {
    PGresult *res;
    struct db_res *next;
};

/* db_conn.c: whether the connection is up now (and records it for db_foreach). */
bool db_connected(db *d);
/* db_conn.c: runs a simple (unprepared) query to its end; returns its first error result,
 * else its last result (caller clears), NULL when it could not be sent. */
PGresult *db_exec_simple(db *d, const char *sql);
/* db_error.c: fails the call from a libpq result (or its absence: the connection broke)
 * and returns the code; marks the handle stale after a failover. */
gs_code db_fail_from(call *c, PGresult *res);

#endif
