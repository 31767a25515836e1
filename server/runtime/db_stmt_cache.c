/* db_stmt_cache.c — the per-connection cache of prepared statements (db_stmt_cache.h). */
#include "db_stmt_cache.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The key of a forgotten slot: lookups probe past it, inserts reuse it. */
static const char stmt_tombstone[] = "";

static stmt_entry *slot(stmt_cache *sc, const char *sql)
{
    size_t h = ((uintptr_t)sql >> 3) % STMT_SLOTS;
    stmt_entry *reuse = NULL;
    for (size_t i = 0; i < STMT_SLOTS; i++) {
        stmt_entry *e = &sc->slots[(h + i) % STMT_SLOTS];
        if (e->sql == sql)
            return e;
        if (e->sql == stmt_tombstone) {
            if (!reuse)
                reuse = e;
            continue;
        }
        if (!e->sql)
            return reuse ? reuse : e;
    }
    return reuse;
}

stmt_entry *stmt_cache_lookup(stmt_cache *sc, const char *sql, char name[24], bool *fresh)
{
    stmt_entry *e = slot(sc, sql);
    if (!e)
        return NULL;
    *fresh = e->sql != sql;
    snprintf(name, 24, "s%d", *fresh ? sc->n + 1 : e->id);
    return e;
}

void stmt_cache_remember(stmt_cache *sc, stmt_entry *e, const char *sql)
{
    e->sql = sql;
    e->id = ++sc->n;
}

void stmt_cache_forget(stmt_entry *e)
{
    e->sql = stmt_tombstone;
}

void stmt_cache_clear(stmt_cache *sc)
{
    memset(sc, 0, sizeof *sc);
}
