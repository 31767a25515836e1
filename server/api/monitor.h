/* monitor.h — a background thread with its own connection that watches the database:
 * health goes NOT_SERVING while PostgreSQL is unreachable and SERVING when it is back. */
#ifndef GS_MONITOR_H
#define GS_MONITOR_H

/* Periodic database jobs (reservation expiry, audit sealing, ...): `sql` runs on the
 * monitor's connection every period_s seconds, in its own transaction. The SQL itself
 * must make a job safe when several server processes run it (conditional updates,
 * FOR UPDATE SKIP LOCKED), so each effect happens exactly once. Register before
 * monitor_start; `sql` must stay valid (a string literal). */
void monitor_every(const char *name, int period_s, const char *sql);

int monitor_start(const char *conninfo);
void monitor_stop(void);

#endif
