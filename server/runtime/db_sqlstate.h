/* db_sqlstate.h — SQLSTATE → gs_code, the one table (db_error.c uses it when a
 * statement fails). Pure: no libpq, so unit tests can read it. */
#ifndef GS_DB_SQLSTATE_H
#define GS_DB_SQLSTATE_H

#include <stdbool.h>

#include "call.h"

/* The status for a PostgreSQL error code: an exact code first, then its two-character
 * class; GS_INTERNAL for NULL or a code the table does not know. */
gs_code db_sqlstate_code(const char *state);

/* True for the codes after which the connection must be replaced before the next call (the
 * server is shutting down, or is read-only: a failover demoted it). */
bool db_sqlstate_stale(const char *state);

#endif
