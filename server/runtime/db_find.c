/* db_find.c — one object found or NOT_FOUND (db.h: db_find, db_find_id), the lookup every
 * Get and every reload after a change makes; the macros beside them in db.h (DB_LOAD,
 * DB_LOAD_ROWS, DB_PAGE_INTO) build on it and on db_exec. */
#include <stdarg.h>

#include "db.h"

enum { FIND_PARAMS_MAX = 16 };

static gs_code find_v(call *c, db_res **out, const char *what, gs_lookup by, int64_t id,
                      const char *code, const char *sql, int n, va_list ap)
{
    const char *params[FIND_PARAMS_MAX];
    if (n < 0 || n > FIND_PARAMS_MAX)
        return call_fail(c, GS_INTERNAL, "internal error");
    for (int i = 0; i < n; i++)
        params[i] = va_arg(ap, const char *);
    GS_TRY(db_execv(c, out, sql, n, params));
    if (db_rows(*out) == 0)
        return call_not_found(c, what, by, id, code);
    return GS_OK;
}

gs_code db_find(call *c, db_res **out, const char *what, gs_lookup by, int64_t id, const char *code,
                const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    gs_code rc = find_v(c, out, what, by, id, code, sql, n, ap);
    va_end(ap);
    return rc;
}

gs_code db_find_id(call *c, db_res **out, const char *what, int64_t id, const char *sql, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    gs_code rc = find_v(c, out, what, GS_BY_ID, id, "", sql, n, ap);
    va_end(ap);
    return rc;
}
