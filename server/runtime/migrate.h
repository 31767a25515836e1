/* migrate.h — numbered SQL migrations (sql/migrations/NNN_name.sql), each applied once
 * in its own transaction, under an advisory lock so servers starting together are safe. */
#ifndef GS_MIGRATE_H
#define GS_MIGRATE_H

#include <stddef.h>

/* Applies what is missing. Returns the number applied, or -1 with err filled. */
int migrate_run(const char *conninfo, const char *dir, char *err, size_t errlen);
/* Highest version in dir (0 if none) and in the database (-1 if unreadable). */
int migrate_latest_file(const char *dir);
int migrate_db_version(const char *conninfo, char *err, size_t errlen);
/* The default migrations directory: the source tree's, else the installed one. */
const char *migrate_default_dir(void);

#endif
