/* monitor.c — database liveness for health checks (a primary that takes writes), periodic
 * jobs, and the report replica's lag (see monitor.h). */
#include "monitor.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "health.h"
#include "thread.h"
#include "log.h"

#define PERIOD_MS 1000

#define MAX_JOBS 16

struct job {
    const char *name, *sql;
    int period_s;
    time_t next;
};

static struct job jobs[MAX_JOBS];
static int n_jobs;
static pthread_t thread;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool stop, running;
static char *conninfo_copy;
static char *read_conninfo; /* the report replica, NULL when none */
/* its lag in microseconds, -1 unknown (no replica, or unreachable at the last check) */
static _Atomic int64_t read_lag_us = -1;

/* How far the replica's replay is behind: 0 when it has replayed all it received (or is
 * not a standby at all), else the age of the last transaction it replayed. */
static const char SQL_LAG[] =
    "SELECT CASE WHEN NOT pg_is_in_recovery()"
    " OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END";

void monitor_read_replica(const char *conninfo)
{
    free(read_conninfo);
    read_conninfo = conninfo && *conninfo ? strdup(conninfo) : NULL;
}

bool monitor_read_lag(double *seconds)
{
    int64_t us = atomic_load(&read_lag_us);
    if (us < 0)
        return false;
    *seconds = (double)us / 1e6;
    return true;
}

static int lag_on(db *d, double *seconds, char *err, size_t errlen)
{
    char out[64];
    int rc = db_value(d, SQL_LAG, NULL, out, sizeof out, err, errlen);
    if (rc != 0) {
        if (rc > 0)
            snprintf(err, errlen, "no answer");
        return -1;
    }
    *seconds = strtod(out, NULL);
    if (*seconds < 0)
        *seconds = 0;
    return 0;
}

int monitor_measure_lag(const char *conninfo, double *seconds, char *err, size_t errlen)
{
    db *d = db_open_attrs(conninfo, "any");
    int rc = lag_on(d, seconds, err, errlen);
    db_close(d);
    return rc;
}

void monitor_every(const char *name, int period_s, const char *sql)
{
    if (n_jobs < MAX_JOBS)
        jobs[n_jobs++] = (struct job){name, sql, period_s > 0 ? period_s : 1, 0};
}

/* Background jobs must never queue behind a lock a person's work holds, nor run away:
 * they give up quickly and try again next period. */
static const char JOB_LIMITS[] = "SET lock_timeout = '200ms'; SET statement_timeout = '60s'";

static void run_jobs(db *d)
{
    time_t now = time(NULL);
    bool limited = false;
    for (int i = 0; i < n_jobs; i++) {
        struct job *j = &jobs[i];
        if (now < j->next)
            continue;
        j->next = now + j->period_s;
        char out[64], err[256];
        if (!limited && db_simple(d, JOB_LIMITS, err, sizeof err) != 0)
            return;
        limited = true;
        int rc = db_value(d, j->sql, NULL, out, sizeof out, err, sizeof err);
        if (rc < 0)
            log_event(LOG_WARN, "job_failed", "job", j->name, "error", err, NULL);
        else if (rc == 0 && strcmp(out, "0") != 0 && *out)
            log_event(LOG_INFO, "job", "job", j->name, "result", out, NULL);
    }
}

static const char SQL_WRITABLE[] = "SELECT current_setting('transaction_read_only')";

static void *monitor_main(void *arg)
{
    (void)arg;
    db *d = db_open(conninfo_copy);
    db_set_name(d, "monitor"); /* its label in logs and metrics */
    db *rd = NULL;
    if (read_conninfo) {
        rd = db_open_attrs(read_conninfo, "any");
        db_set_name(rd, "monitor-read");
    }
    int serving = -1;
    pthread_mutex_lock(&mu);
    while (!stop) {
        pthread_mutex_unlock(&mu);
        char out[8], err[256];
        /* Serving means a primary is reachable: a server that turned read-only (a
         * failover demoted it) is not one, and the connection is replaced so that the
         * next check finds the new primary. */
        bool ok = db_value(d, SQL_WRITABLE, NULL, out, sizeof out, err, sizeof err) == 0;
        if (ok && strcmp(out, "off") != 0) {
            ok = false;
            db_recover(d);
        }
        if (ok != serving) {
            health_set_serving(ok);
            if (serving != -1)
                log_event(ok ? LOG_INFO : LOG_WARN, ok ? "db_up" : "db_down", NULL);
            serving = ok;
        }
        if (ok)
            run_jobs(d);
        if (rd) {
            double lag;
            char lerr[256];
            atomic_store(&read_lag_us,
                         lag_on(rd, &lag, lerr, sizeof lerr) == 0 ? (int64_t)(lag * 1e6) : -1);
        }
        pthread_mutex_lock(&mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += PERIOD_MS % 1000 * 1000000L;
        until.tv_sec += PERIOD_MS / 1000 + until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!stop)
            pthread_cond_timedwait(&cv, &mu, &until);
    }
    pthread_mutex_unlock(&mu);
    db_close(d);
    if (rd)
        db_close(rd);
    atomic_store(&read_lag_us, -1);
    return NULL;
}

int monitor_start(const char *conninfo)
{
    conninfo_copy = strdup(conninfo ? conninfo : "");
    stop = false;
    if (!conninfo_copy || gs_thread_start("monitor", &thread, monitor_main, NULL) != 0) {
        free(conninfo_copy);
        conninfo_copy = NULL;
        return -1;
    }
    running = true;
    return 0;
}

void monitor_stop(void)
{
    if (!running)
        return;
    pthread_mutex_lock(&mu);
    stop = true;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(thread, NULL);
    running = false;
    free(conninfo_copy);
    conninfo_copy = NULL;
    free(read_conninfo);
    read_conninfo = NULL;
}
