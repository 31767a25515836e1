/* audit.c — writes the audit_log row of a mutating call (see audit.h). The table is
 * append-only in the database (trigger), whatever the server does. */
#include "audit.h"

#include "db.h"
#include "method.h"

static const char SQL_AUDIT[] =
    "INSERT INTO audit_log (user_id, login, role, method, object, request_id, summary)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7)";

void audit_stmt(call *c, db_stmt *st)
{
    *st = (db_stmt){SQL_AUDIT,
                    7,
                    {call_i64(c, c->who.user_id), c->who.login, gs_role_name(c->who.role),
                     c->method->path, c->audit_object ? c->audit_object : "", c->request_id,
                     c->audit_summary ? c->audit_summary : ""},
                    NULL};
}
