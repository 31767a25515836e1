/* listen.c — the LISTEN/NOTIFY listener and the watch streams it feeds (see listen.h).
 * One thread, one connection: it polls the connection and a wake-up pipe, LISTENs to
 * every channel a watch asked for (again after a reconnect), parses each notification
 * once with its channel's parser and hands the result to the matching watches, re-checks
 * the watchers' credentials every watch_recheck_ms, and drops watches whose client has
 * gone. Notifications sent while the listener is disconnected are lost; watchers see the
 * next change.
 *
 * Only the listener thread unlinks and frees watches; workers only push new ones onto
 * the head of the list (under mu). So the listener walks the list without the lock, and
 * a slow stream never holds up a worker starting a watch. */
#include "listen.h"

#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "thread.h"

#define MAX_CHANNELS 32

struct watch {
    struct watch *next;
    rpc_stream *st;
    const watch_channel *channel;
    watch_fn fn;
    void *user;
    void (*free_user)(void *);
    bool dead; /* listener thread only */
    /* the caller as at the start, re-checked every watch_recheck_ms */
    int64_t uid, scope_id, iat, exp;
    gs_role role;
    char login[65];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct watch *watches; /* newest first; see the top of the file */
static size_t n_watches;
static struct {
    const watch_channel *ch;
    bool listening;
} channels[MAX_CHANNELS];
static int n_channels;
static int wake[2] = {-1, -1};
static pthread_t thread;
static bool running, stopping;
static char *conninfo_copy;
static int max_watches = 1000, max_per_user = 16, recheck_ms = 5000;
static uint64_t refused_total, refused_user, ended_credentials; /* under mu */

bool path_within(const char *path, const char *scope)
{
    size_t n = strlen(scope);
    return strncmp(path, scope, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

static void poke(void)
{
    char b = 1;
    ssize_t w = write(wake[1], &b, 1);
    (void)w;
}

/* mu held. */
static bool channel_known(const watch_channel *ch)
{
    for (int i = 0; i < n_channels; i++)
        if (channels[i].ch == ch)
            return true;
    if (n_channels == MAX_CHANNELS || strlen(ch->name) >= 64)
        return false;
    channels[n_channels].ch = ch;
    channels[n_channels].listening = false;
    n_channels++;
    return true;
}

static void watch_free(struct watch *w)
{
    rpc_stream_unref(w->st);
    if (w->free_user)
        w->free_user(w->user);
    free(w);
}

gs_code watch_add(call *c, rpc_stream *st, const watch_channel *channel, watch_fn fn, void *user,
                  void (*free_user)(void *))
{
    struct watch *w = calloc(1, sizeof *w);
    gs_code rc = GS_OK;
    size_t mine = 0;
    pthread_mutex_lock(&mu);
    if (!w) {
        rc = call_fail(c, GS_RESOURCE_EXHAUSTED, "server out of memory");
    } else if (!running || stopping || !channel_known(channel)) {
        rc = call_fail(c, GS_UNAVAILABLE, "watches are not available right now");
    } else if (n_watches >= (size_t)max_watches) {
        refused_total++;
        rc = call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_TOO_MANY_STREAMS,
                           "this server already has %d watches open (max_watches): try later",
                           max_watches);
    } else {
        for (struct watch *x = watches; x; x = x->next)
            mine += x->uid == c->who.user_id && !x->dead;
        if (mine >= (size_t)max_per_user) {
            refused_user++;
            rc = call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_TOO_MANY_STREAMS,
                               "user %s already has %d watches open (max_watches_per_user): close "
                               "one first",
                               c->who.login, max_per_user);
        }
    }
    if (rc != GS_OK) {
        pthread_mutex_unlock(&mu);
        free(w);
        if (free_user)
            free_user(user);
        return rc;
    }
    *w = (struct watch){.next = watches,
                        .st = st,
                        .channel = channel,
                        .fn = fn,
                        .user = user,
                        .free_user = free_user,
                        .uid = c->who.user_id,
                        .scope_id = c->who.scope_id,
                        .iat = c->who.token_iat,
                        .exp = c->who.token_exp,
                        .role = c->who.role};
    snprintf(w->login, sizeof w->login, "%s", c->who.login ? c->who.login : "");
    watches = w;
    n_watches++;
    pthread_mutex_unlock(&mu);
    poke();
    return GS_OK;
}

size_t listen_watch_count(void)
{
    pthread_mutex_lock(&mu);
    size_t n = n_watches;
    pthread_mutex_unlock(&mu);
    return n;
}

void listen_get_stats(listen_stats *out)
{
    pthread_mutex_lock(&mu);
    out->open = n_watches;
    out->limit = (size_t)max_watches;
    out->refused_total = refused_total;
    out->refused_user = refused_user;
    out->ended_credentials = ended_credentials;
    pthread_mutex_unlock(&mu);
    out->ended_slow = rpc_stream_cut_count();
}

/* The newest watch; the rest of the list is stable for the listener thread. */
static struct watch *watch_head(void)
{
    pthread_mutex_lock(&mu);
    struct watch *w = watches;
    pthread_mutex_unlock(&mu);
    return w;
}

static const watch_channel *channel_by_name(const char *name)
{
    const watch_channel *ch = NULL;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_channels && !ch; i++)
        if (strcmp(channels[i].ch->name, name) == 0)
            ch = channels[i].ch;
    pthread_mutex_unlock(&mu);
    return ch;
}

/* One notification: parsed once, offered to every watch of its channel. */
static void on_notify(void *arg, const char *channel, const char *payload)
{
    (void)arg;
    const watch_channel *ch = channel_by_name(channel);
    if (!ch)
        return;
    void *parsed = ch->parse(payload ? payload : "");
    if (!parsed)
        return;
    for (struct watch *w = watch_head(); w; w = w->next) {
        if (w->dead || w->channel != ch)
            continue;
        size_t len = 0;
        uint8_t *msg = w->fn(w->user, parsed, &len);
        if (msg && !rpc_stream_send(w->st, msg, len))
            w->dead = true;
    }
    ch->free_parsed(parsed);
}

/* Ends a watch whose caller is no longer who they were. */
static void watch_end(struct watch *w, gs_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void watch_end(struct watch *w, gs_code code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Logged and counted before the client hears of it, so whoever sees the stream end
     * also finds the log line and the metric. */
    log_event(LOG_INFO, "watch_ended", "user", w->login, "status", gs_code_name(code), "error", msg,
              NULL);
    pthread_mutex_lock(&mu);
    ended_credentials++;
    pthread_mutex_unlock(&mu);
    rpc_stream_abort(w->st, code, msg);
    w->dead = true;
}

static const char SQL_WATCHERS[] =
    "SELECT id, login, role, scope_id, active, extract(epoch FROM tokens_valid_after)::float8"
    "  FROM users WHERE id = ANY ($1::bigint[])";

/* Every watch's caller as the database knows them now (as dispatch's caller check does
 * for each unary call), and its token's expiry. */
static void recheck(db *d, arena *a)
{
    int64_t now = (int64_t)time(NULL);
    size_t n = 0;
    /* One snapshot of the list for all three passes: watches opened meanwhile are pushed
     * in front of it and wait for the next recheck. (Taking the head anew for each pass
     * let the ids outgrow their buffer, and ended new watches as "no longer exists"
     * because the query had not asked for them: the soak run found it.) */
    struct watch *head = watch_head();
    for (struct watch *w = head; w; w = w->next)
        if (!w->dead) {
            if (w->exp > 0 && w->exp <= now)
                watch_end(w, GS_UNAUTHENTICATED, "token of %s expired: sign in again", w->login);
            else
                n++;
        }
    if (n == 0)
        return;
    call c;
    memset(&c, 0, sizeof c);
    c.arena = a;
    c.deadline_ms = -1;
    size_t cap = n * 21 + 3, used = 0;
    char *ids = arena_try_alloc(a, cap);
    if (!ids)
        goto out;
    ids[used++] = '{';
    for (struct watch *w = head; w && used + 22 < cap; w = w->next)
        if (!w->dead)
            used +=
                (size_t)snprintf(ids + used, cap - used, "%s%" PRId64, used > 1 ? "," : "", w->uid);
    snprintf(ids + used, cap - used, "}");
    db_res *r = NULL;
    if (db_attach(&c, d) != GS_OK || db_exec(&c, &r, SQL_WATCHERS, 1, ids) != GS_OK) {
        log_event(LOG_WARN, "watch_recheck_failed", "error", c.message, NULL);
        goto out; /* try again next time */
    }
    int rows = db_rows(r);
    for (struct watch *w = head; w; w = w->next) {
        if (w->dead)
            continue;
        int row = -1;
        for (int i = 0; i < rows && row < 0; i++)
            if (db_i64(r, i, 0) == w->uid)
                row = i;
        if (row < 0 || strcmp(db_str(r, row, 1), w->login) != 0)
            watch_end(w, GS_UNAUTHENTICATED, "user %s no longer exists", w->login);
        else if (!db_bool(r, row, 4))
            watch_end(w, GS_UNAUTHENTICATED, "user %s is deactivated", w->login);
        else if (db_f64(r, row, 5) > (double)w->iat)
            watch_end(w, GS_UNAUTHENTICATED, "token of %s revoked: sign in again", w->login);
        else if (gs_role_from_name(db_str(r, row, 2)) != (int)w->role)
            watch_end(w, GS_PERMISSION_DENIED, "role of %s changed: sign in again", w->login);
        else if (db_i64(r, row, 3) != w->scope_id)
            watch_end(w, GS_PERMISSION_DENIED, "scope of %s changed: sign in again", w->login);
    }
out:
    db_call_done(&c);
    arena_reset(a);
}

/* Unlinks watches whose client went away or that were ended; frees them outside the
 * lock. Listener thread only. */
static void prune(void)
{
    struct watch *gone = NULL;
    pthread_mutex_lock(&mu);
    for (struct watch **p = &watches; *p;) {
        struct watch *w = *p;
        if (w->dead || rpc_stream_closed(w->st)) {
            *p = w->next;
            w->next = gone;
            gone = w;
            n_watches--;
        } else {
            p = &w->next;
        }
    }
    pthread_mutex_unlock(&mu);
    while (gone) {
        struct watch *next = gone->next;
        watch_free(gone);
        gone = next;
    }
}

static void listen_channels(db *d)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_channels; i++)
        if (!channels[i].listening && db_listen(d, channels[i].ch->name) == 0)
            channels[i].listening = true;
    pthread_mutex_unlock(&mu);
}

static void forget_channels(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_channels; i++)
        channels[i].listening = false;
    pthread_mutex_unlock(&mu);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *listen_main(void *arg)
{
    (void)arg;
    db *d = db_open(conninfo_copy);
    db_set_name(d, "listener"); /* its label in logs and metrics */
    arena *a = arena_new(16 * 1024);
    if (a)
        arena_set_limit(a, 64u << 20);
    int64_t next_check = now_ms() + recheck_ms;
    for (;;) {
        pthread_mutex_lock(&mu);
        bool stop = stopping;
        pthread_mutex_unlock(&mu);
        if (stop)
            break;
        bool up = db_ok(d);
        if (up)
            listen_channels(d);
        int64_t wait = next_check - now_ms();
        if (wait > (up ? 1000 : 500))
            wait = up ? 1000 : 500;
        struct pollfd fds[2] = {{wake[0], POLLIN, 0}, {up ? db_socket(d) : -1, POLLIN, 0}};
        poll(fds, 2, wait > 0 ? (int)wait : 0);
        if (fds[0].revents & POLLIN) {
            char buf[64];
            while (read(wake[0], buf, sizeof buf) > 0)
                ;
        }
        if (up && db_drain_notifications(d, on_notify, NULL) < 0)
            forget_channels();
        if (now_ms() >= next_check) {
            if (up && a) {
                recheck(d, a);
                /* its statement may have found the connection broken and made a new one
                 * (db_attach reconnects): LISTEN again, which is harmless if it did not */
                forget_channels();
            }
            next_check = now_ms() + recheck_ms;
            /* the recheck's statements may have taken notifications in with them */
            if (up && db_drain_notifications(d, on_notify, NULL) < 0)
                forget_channels();
        }
        prune();
    }
    arena_free(a);
    db_close(d);
    return NULL;
}

int listen_start(const gs_config *cfg)
{
    if (pipe(wake) != 0)
        return -1;
    fcntl(wake[0], F_SETFL, O_NONBLOCK);
    fcntl(wake[1], F_SETFL, O_NONBLOCK);
    conninfo_copy = strdup(cfg->db ? cfg->db : "");
    if (!conninfo_copy) {
        close(wake[0]);
        close(wake[1]);
        return -1;
    }
    max_watches = cfg->max_watches;
    max_per_user = cfg->max_watches_per_user;
    recheck_ms = cfg->watch_recheck_ms;
    stopping = false;
    if (gs_thread_start("listener", &thread, listen_main, NULL) != 0) {
        close(wake[0]);
        close(wake[1]);
        free(conninfo_copy);
        conninfo_copy = NULL;
        return -1;
    }
    pthread_mutex_lock(&mu);
    running = true;
    pthread_mutex_unlock(&mu);
    return 0;
}

void listen_stop(void)
{
    pthread_mutex_lock(&mu);
    bool was_running = running;
    stopping = true;
    running = false;
    pthread_mutex_unlock(&mu);
    if (!was_running)
        return;
    poke();
    pthread_join(thread, NULL);
    pthread_mutex_lock(&mu);
    struct watch *all = watches;
    watches = NULL;
    n_watches = 0;
    pthread_mutex_unlock(&mu);
    while (all) {
        struct watch *next = all->next;
        if (!all->dead)
            rpc_stream_finish(all->st, GS_UNAVAILABLE, "server stopping");
        watch_free(all);
        all = next;
    }
    close(wake[0]);
    close(wake[1]);
    free(conninfo_copy);
    conninfo_copy = NULL;
}
