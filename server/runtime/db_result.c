/* db_result.c — reading a statement's result (cells by named column, one-column values,
 * pages) and releasing the results a call collected. */
#include <stdlib.h>

#include "db_internal.h"
#include "log.h"

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
