/* db.h — the database seen by handlers and the runtime. The runtime's db*.c files are the
 * only ones that include <libpq-fe.h>. Statements are prepared once per connection (keyed by the
 * SQL text's address, so pass string literals), parameters are text, results live until the call
 * ends. SQLSTATEs are translated to gs_code once, by db_sqlstate.c's table. */
#ifndef GS_DB_H
#define GS_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"

typedef struct db db;
typedef struct db_res db_res;

/* Runs `sql` with n text parameters (NULL pointer = SQL NULL) inside the call's
 * transaction. On error fails the call (status from the SQLSTATE) and returns its code.
 * *out (may be NULL when the rows are not wanted) is freed when the call ends. */
gs_code db_exec(call *c, db_res **out, const char *sql, int n, ...);
gs_code db_execv(call *c, db_res **out, const char *sql, int n, const char *const *params);

/* Several statements in one round trip (libpq pipeline mode). Results go to each
 * stmt's *out (may be NULL) like db_exec's; returns GS_OK or the first failure (later
 * statements are then skipped by the server). A batch holds 1 to DB_BATCH_MAX
 * statements of at most DB_STMT_PARAMS parameters each; anything else is a bug in the
 * caller: nothing is sent, the call fails INTERNAL and an error is logged. */
#define DB_BATCH_MAX 8
#define DB_STMT_PARAMS 8
typedef struct db_stmt {
    const char *sql; /* a string literal, as for db_exec */
    int n;
    const char *params[DB_STMT_PARAMS];
    db_res **out;
} db_stmt;
gs_code db_batch(call *c, const db_stmt *stmts, int n);

/* Statements the runtime queues so they ride in the same round trip as the handler's
 * first db_exec (or go alone at db_flush). After they ran, `check` inspects their
 * results; its failure wins over whatever the handler's statement did (which the
 * runtime then rolls back or discards). */
typedef struct db_deferred {
    db_stmt stmts[DB_BATCH_MAX - 1];
    int n;
    gs_code (*check)(call *c, void *arg);
    void *arg;
} db_deferred;
void db_defer(call *c, db_deferred *d);
/* Sends what is deferred, if anything, and runs its check. */
gs_code db_flush(call *c);

/* Named result columns. A query's columns are declared once, as an X-list next to its
 * SQL: one COL(NAME, "fragment") per column, in SELECT order, each fragment after the
 * first carrying its leading ", ". The same list makes the names and the select list,
 * so a column added to the list moves the names with it:
 *
 *     #define PL_COLUMNS(COL) COL(PL_ID, "l.id") COL(PL_QTY, ", l.qty")
 *     enum { PL_COLUMNS(DB_COL_NAME) PL_NCOLS };
 *     #define PL_COLS PL_COLUMNS(DB_COL_SQL)
 *     db_exec(c, &r, "SELECT " PL_COLS " FROM ...", ...);
 *     l->qty = db_i64(r, i, PL_QTY);
 *
 * A list whose rows become one message names, in each entry, the message field and how
 * to read it (str, i64, i32, f64, bool; `_, none` for a column no field takes):
 *     COL(PL_ID, "l.id", id, i64) COL(PL_QTY, ", l.qty", qty, i64)
 * and then a from_row function with parameters (Msg *m, const db_res *r, int row) is just
 * PL_COLUMNS(DB_COL_FILL): the compiler checks every field against the message type.
 *
 * Columns selected after another list's continue its names:
 *     enum { PLX_BEFORE_ = PL_NCOLS - 1, PLX_COLUMNS(DB_COL_NAME) PLX_NCOLS };
 * A second query read by the same from_row function writes its own list with the
 * first list's names, and DB_COLS_MATCH(LIST, NCOLS) (a statement) checks at compile
 * time that each name stands in its place and that none is missing.
 * Reading a column the result does not have is a bug: it logs db_column_missing and
 * reads as NULL (0, "", false). */
#define DB_COL_NAME(name, ...) name,
#define DB_COL_SQL(name, sql, ...) sql
#define DB_COL_FILL(name, sql, field, type) DB_FILL_##type(m->field, r, row, name)
#define DB_FILL_str(dst, r, row, col) dst = (char *)db_str(r, row, col);
#define DB_FILL_i64(dst, r, row, col) dst = db_i64(r, row, col);
#define DB_FILL_i32(dst, r, row, col) dst = db_i32(r, row, col);
#define DB_FILL_f64(dst, r, row, col) dst = db_f64(r, row, col);
#define DB_FILL_bool(dst, r, row, col) dst = db_bool(r, row, col);
#define DB_FILL_none(dst, r, row, col)
#define DB_COL_TAG(name, ...) db_col_at_##name,
#define DB_COL_ASSERT(name, ...)                                                                   \
    _Static_assert((int)db_col_at_##name == (int)name, "column " #name " out of place");
#define DB_COLS_MATCH(LIST, ncols)                                                                 \
    do {                                                                                           \
        enum { LIST(DB_COL_TAG) db_cols_n_ };                                                      \
        LIST(DB_COL_ASSERT)                                                                        \
        _Static_assert((int)db_cols_n_ == (int)(ncols), #LIST ": columns missing");                \
    } while (0)

int db_rows(const db_res *r);
int db_cols(const db_res *r);
bool db_null(const db_res *r, int row, int col);
/* "" for NULL; valid until the call ends. */
const char *db_str(const db_res *r, int row, int col);
int64_t db_i64(const db_res *r, int row, int col);
int32_t db_i32(const db_res *r, int row, int col);
double db_f64(const db_res *r, int row, int col);
bool db_bool(const db_res *r, int row, int col);
/* The value of a one-column result (SELECT f(...), RETURNING id), which has no list:
 * a result with another number of columns is a bug, logged as db_column_missing. */
const char *db_one_str(const db_res *r, int row);
int64_t db_one_i64(const db_res *r, int row);
bool db_one_bool(const db_res *r, int row);
/* Fills a repeated message field from result rows: n = rows, arr = one new message of
 * `desc` per row, each filled by from_row(msg, r, row). from_row takes the field's own
 * message type, so the compiler checks it against arr. Everything lives in the call's
 * arena. A statement (a macro because the field's type varies). */
#define DB_ROWS_INTO(c, r, rows, arr, n, desc, from_row)                                           \
    do {                                                                                           \
        (n) = (size_t)(rows);                                                                      \
        (arr) = (void *)call_ptrs((c), (n));                                                       \
        for (int db_row_ = 0; db_row_ < (int)(n); db_row_++) {                                     \
            (arr)[db_row_] = call_msg((c), (desc));                                                \
            from_row((arr)[db_row_], (r), db_row_);                                                \
        }                                                                                          \
    } while (0)

/* ---- the shapes handlers repeat around db_exec ----
 * Loading one object (a Get, or the reload after a change): db_find runs `sql` (n text
 * parameters after it) and fails the call NOT_FOUND, `<what> <id> not found` or
 * `<what> "<code>" not found` as call_not_found words it, when it finds no row; *out
 * then holds at least one row. db_find_id is the same by id. */
gs_code db_find(call *c, db_res **out, const char *what, gs_lookup by, int64_t id, const char *code,
                const char *sql, int n, ...);
gs_code db_find_id(call *c, db_res **out, const char *what, int64_t id, const char *sql, int n,
                   ...);
/* Statements (macros because the message types vary; each returns from the handler on
 * failure, as GS_TRY does):
 * DB_LOAD: object `id` into msg by from_row(msg, r, 0), NOT_FOUND when `sql` finds none;
 *   DB_LOAD_BY the same for a lookup by id or by code (db_find).
 * DB_LOAD_ROWS: every row `sql` finds into the repeated field arr/n (DB_ROWS_INTO): the
 *   lines of an object just loaded, or a report's rows.
 * DB_PAGE_INTO: a List's page from the rows r fetched with page_args' limit: the next page
 *   token into `token` (db_page_next, ids in column id_col), the page's rows into arr/n. */
#define DB_LOAD(c, msg, from_row, what, id, sql, ...)                                              \
    do {                                                                                           \
        db_res *db_load_r_ = NULL;                                                                 \
        GS_TRY(db_find_id((c), &db_load_r_, (what), (id), sql, __VA_ARGS__));                      \
        from_row((msg), db_load_r_, 0);                                                            \
    } while (0)
#define DB_LOAD_BY(c, msg, from_row, what, by, id, code, sql, ...)                                 \
    do {                                                                                           \
        db_res *db_load_r_ = NULL;                                                                 \
        GS_TRY(db_find((c), &db_load_r_, (what), (by), (id), (code), sql, __VA_ARGS__));           \
        from_row((msg), db_load_r_, 0);                                                            \
    } while (0)
#define DB_LOAD_ROWS(c, arr, n, desc, from_row, sql, ...)                                          \
    do {                                                                                           \
        db_res *db_rows_r_ = NULL;                                                                 \
        GS_TRY(db_exec((c), &db_rows_r_, sql, __VA_ARGS__));                                       \
        DB_ROWS_INTO((c), db_rows_r_, db_rows(db_rows_r_), arr, n, desc, from_row);                \
    } while (0)
#define DB_PAGE_INTO(c, r, limit, id_col, token, arr, n, desc, from_row)                           \
    do {                                                                                           \
        int db_page_rows_;                                                                         \
        (token) = (char *)db_page_next((c), (r), (id_col), (limit), &db_page_rows_);               \
        DB_ROWS_INTO((c), (r), db_page_rows_, arr, n, desc, from_row);                             \
    } while (0)

/* Frees one result before the call ends (a loop over chunks of a large table); its
 * strings are gone with it. NULL is fine. */
void db_release(call *c, db_res *r);
/* Rows affected by an INSERT/UPDATE/DELETE. */
int64_t db_affected(const db_res *r);

/* Pagination (see page_args): a query fetched up to `limit` rows ordered by the id in
 * column id_col; sets *rows to the rows of this page (at most limit - 1) and returns the
 * next page token, "" if none. */
const char *db_page_next(call *c, const db_res *r, int id_col, int64_t limit, int *rows);

/* ---- runtime side (dispatch.c, main.c, monitor.c) ---- */
/* Never NULL; may be disconnected. Connects only to a server that takes writes
 * (target_session_attrs=read-write unless the conninfo says otherwise). */
db *db_open(const char *conninfo);
/* The same with another default target_session_attrs ("any", "prefer-standby": a report
 * replica); session_attrs must outlive the handle (a literal). */
db *db_open_attrs(const char *conninfo, const char *session_attrs);
/* The time zone every session gets (config `timezone`); call before the first db_open. A
 * zone the database refuses makes every connection fail with a db_timezone log line. */
void db_set_timezone(const char *tz);
/* The reservation time (config `reservation_ttl_s`) every session gets as
 * gs.reservation_ttl_s, read by the database's backorder fill (065_backorder_fill.sql);
 * call before the first db_open. */
void db_set_reservation_ttl(int seconds);
void db_close(db *d);
bool db_ok(db *d); /* connected (reconnects at most every 500 ms) */
/* Binds the call to the worker's connection, reconnecting if it is down (at most every
 * 500 ms); GS_UNAVAILABLE when the database cannot be reached. */
gs_code db_attach(call *c, db *d);
/* Reconnects at once (after a failure that broke the connection); true when connected. */
bool db_recover(db *d);
/* The statement_timeout this connection has in effect (session level), -1 unknown. */
int64_t db_timeout(const db *d);
void db_set_timeout_known(db *d, int64_t ms);
void db_rollback(call *c);
/* Releases the results the call collected. */
void db_call_done(call *c);
/* Plain statement outside a call (migrations, monitor). Returns 0 or -1 and logs. */
int db_simple(db *d, const char *sql, char *err, size_t errlen);
/* First column of the first row of `sql` (one optional text parameter) into out.
 * 0 found, 1 no row, -1 error (err filled). Outside any call (migrations, tokens). */
int db_value(db *d, const char *sql, const char *param, char *out, size_t outlen, char *err,
             size_t errlen);
/* Where a conninfo points, for messages: host, port, dbname and user only (never the
 * password or other options). */
void db_describe(const char *conninfo, char *out, size_t outlen);
/* A label for logs and metrics ("worker-0", "listener"); default "conn-<n>". */
void db_set_name(db *d, const char *name);
/* Calls cb for every open handle (any thread): name, connected when last used, and
 * reconnects so far. Takes a lock held by db_open/db_close only; cb must not call db_*. */
void db_foreach(void (*cb)(void *arg, const char *name, bool up, uint64_t reconnects), void *arg);
/* LISTEN/NOTIFY for listen.c: subscribe, the socket to poll, and reading what arrived
 * (cb per notification). -1 when the connection is broken. */
int db_listen(db *d, const char *channel);
int db_socket(db *d);
int db_drain_notifications(db *d, void (*cb)(void *arg, const char *channel, const char *payload),
                           void *arg);
/* Retryable failures (serialization, deadlock) mark the call; dispatch retries. */
bool db_retryable(const call *c);

#endif
