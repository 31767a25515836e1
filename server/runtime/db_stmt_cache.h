/* db_stmt_cache.h — which statements a connection has prepared, and under what name.
 * Keyed by the address of the SQL text (callers pass string literals), open addressing
 * with tombstones: a statement whose prepare did not happen is forgotten without hiding
 * the statements stored after it in the same probe chain. One per connection (db_internal.h),
 * used by one thread at a time. */
#ifndef GS_DB_STMT_CACHE_H
#define GS_DB_STMT_CACHE_H

#include <stdbool.h>

#define STMT_SLOTS 512 /* more distinct statements than this is a bug */

typedef struct stmt_entry {
    const char *sql; /* the key; NULL never used, stmt_tombstone forgotten */
    int id;          /* prepared as "s<id>" */
} stmt_entry;

typedef struct stmt_cache {
    stmt_entry slots[STMT_SLOTS];
    int n; /* statements prepared so far on the connection (ids are 1..n) */
} stmt_cache;

/* The entry for `sql` and its prepared name ("s<id>", into name[24]); *fresh when it must
 * be prepared first (then stmt_cache_remember once the prepare is sent, or
 * stmt_cache_forget if it is not). NULL when the cache is full. */
stmt_entry *stmt_cache_lookup(stmt_cache *sc, const char *sql, char name[24], bool *fresh);
void stmt_cache_remember(stmt_cache *sc, stmt_entry *e, const char *sql);
/* Forgets a statement whose prepare did not happen, so it is prepared next time. */
void stmt_cache_forget(stmt_entry *e);
/* Empties the cache (a new connection has no prepared statements). */
void stmt_cache_clear(stmt_cache *sc);

#endif
