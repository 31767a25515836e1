/* migrate.c — applies sql/migrations in order (see migrate.h). */
#include "migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "db.h"
#include "file_read.h"
#include "log.h"

#define MIGRATION_MAX (16 << 20)   /* bytes of one migration file */
#define MIGRATION_LOCK "727274001" /* pg_advisory_lock key, arbitrary but fixed */

const char *migrate_default_dir(void)
{
    struct stat st;
    if (stat(GS_SQL_DIR, &st) == 0)
        return GS_SQL_DIR;
    return GS_INSTALLED_SQL_DIR;
}

static int is_migration(const struct dirent *e)
{
    const char *n = e->d_name;
    size_t len = strlen(n);
    return len > 8 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' && n[1] <= '9' && n[2] >= '0' &&
           n[2] <= '9' && n[3] == '_' && strcmp(n + len - 4, ".sql") == 0;
}

int migrate_latest_file(const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, is_migration, alphasort);
    if (n < 0)
        return 0;
    int latest = n ? atoi(list[n - 1]->d_name) : 0;
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    return latest;
}

static int apply(db *d, const char *dir, const char *name, char *err, size_t errlen)
{
    char path[4096], check[32], have[16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int version = atoi(name);
    snprintf(check, sizeof check, "%d", version);
    int found = db_value(d, "SELECT 1 FROM schema_migrations WHERE version = $1::int", check, have,
                         sizeof have, err, errlen);
    if (found <= 0)
        return found; /* 0: applied already; -1: error */
    char why[128];
    char *body = gs_file_read(path, MIGRATION_MAX, NULL, why, sizeof why);
    if (!body) {
        snprintf(err, errlen, "cannot read %s: %s", path, why);
        return -1;
    }
    size_t n = strlen(body) + strlen(name) + 256;
    char *sql = malloc(n);
    if (!sql)
        abort();
    snprintf(sql, n,
             "BEGIN;\n%s\n;INSERT INTO schema_migrations (version, name) VALUES (%d, '%.*s');\n"
             "COMMIT;",
             body, version, (int)(strlen(name) - 4), name);
    free(body);
    char e[400];
    int rc = db_simple(d, sql, e, sizeof e);
    free(sql);
    if (rc) {
        char ignore[64];
        db_simple(d, "ROLLBACK", ignore, sizeof ignore);
        snprintf(err, errlen, "migration %s failed: %s", name, e);
        return -1;
    }
    log_event(LOG_INFO, "migration_applied", "version", log_i64(version), "file", name, NULL);
    return 1;
}

int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen)
{
    db *d = db_open(conninfo);
    int applied = -1;
    struct dirent **list = NULL;
    int n = -1;
    if (!db_ok(d)) {
        char where[256]; /* never the conninfo itself: it may hold a password (ops) */
        db_describe(conninfo, where, sizeof where);
        snprintf(err, errlen, "database unavailable (%s)", where);
        goto out;
    }
    if (db_simple(d, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")", err, errlen))
        goto out;
    if (db_simple(d,
                  "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                  " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                  err, errlen))
        goto unlock;
    n = scandir(dir, &list, is_migration, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "cannot read migrations directory %s", dir);
        goto unlock;
    }
    /* Versions are the files' numbers: two files with one number would leave the second
     * silently unapplied, so that refuses to migrate at all. */
    for (int i = 1; i < n; i++)
        if (atoi(list[i]->d_name) == atoi(list[i - 1]->d_name)) {
            snprintf(err, errlen, "migrations %s and %s share version %d: renumber one",
                     list[i - 1]->d_name, list[i]->d_name, atoi(list[i]->d_name));
            goto unlock;
        }
    applied = 0;
    for (int i = 0; i < n; i++) {
        int rc = apply(d, dir, list[i]->d_name, err, errlen);
        if (rc < 0) {
            applied = -1;
            break;
        }
        applied += rc;
    }
unlock:;
    char ignore[64];
    db_simple(d, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")", ignore, sizeof ignore);
out:
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
    db_close(d);
    return applied;
}

int migrate_db_version(const char *conninfo, char *err, size_t errlen)
{
    db *d = db_open(conninfo);
    char out[32];
    int rc = db_value(d, "SELECT coalesce(max(version), 0) FROM schema_migrations", NULL, out,
                      sizeof out, err, errlen);
    db_close(d);
    return rc == 0 ? atoi(out) : -1;
}
