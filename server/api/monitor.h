/* monitor.h — a background thread with its own connection that watches the database:
 * health goes NOT_SERVING while no server that takes writes is reachable (PostgreSQL down,
 * or a failover under way) and SERVING when one is. */
#ifndef GS_MONITOR_H
#define GS_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

/* Periodic database jobs (reservation expiry, audit sealing, ...): `sql` runs on the
 * monitor's connection every period_s seconds, in its own transaction. The SQL itself
 * must make a job safe when several server processes run it (conditional updates,
 * FOR UPDATE SKIP LOCKED), so each effect happens exactly once. Register before
 * monitor_start; `sql` must stay valid (a string literal). */
void monitor_every(const char *name, int period_s, const char *sql);

int monitor_start(const char *conninfo);
void monitor_stop(void);

/* The report replica (config db_read): when set before monitor_start, the monitor also
 * measures its replay lag each period (metrics: gridstock_db_read_lag_seconds). */
void monitor_read_replica(const char *conninfo);
/* The lag last measured, in seconds; false when there is no replica or it was not
 * reachable at the last check. */
bool monitor_read_lag(double *seconds);
/* Measures a replica's lag once on a connection of its own (gridstockd check): 0 and
 * *seconds, or -1 with err filled. */
int monitor_measure_lag(const char *conninfo, double *seconds, char *err, size_t errlen);

#endif
