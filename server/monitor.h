/* monitor.h — a background thread with its own connection that watches the database:
 * health goes NOT_SERVING while PostgreSQL is unreachable and SERVING when it is back. */
#ifndef GS_MONITOR_H
#define GS_MONITOR_H

int monitor_start(const char *conninfo);
void monitor_stop(void);

#endif
