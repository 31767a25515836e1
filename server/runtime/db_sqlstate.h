/* db_sqlstate.h — SQLSTATE → gs_code, the one table (db.c uses it when a statement
 * fails). Pure: no libpq, so unit tests can read it. */
#ifndef GS_DB_SQLSTATE_H
#define GS_DB_SQLSTATE_H

#include "call.h"

/* The status for a PostgreSQL error code: an exact code first, then its two-character
 * class; GS_INTERNAL for NULL or a code the table does not know. */
gs_code db_sqlstate_code(const char *state);

#endif
