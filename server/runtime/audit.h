/* audit.h — the audit row every change writes in its own transaction. */
#ifndef GS_AUDIT_H
#define GS_AUDIT_H

#include "call.h"
#include "db.h"

/* Writes who (user, role), which method, which object (c->audit_object), the request
 * id and c->audit_summary. */
void audit_stmt(call *c, db_stmt *st); /* a statement for the call's epilogue batch */

#endif
