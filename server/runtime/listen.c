/* listen.c — the LISTEN/NOTIFY listener and the watch streams it feeds (see listen.h).
 * One thread, one connection: it polls the connection and a wake-up pipe, LISTENs to
 * every channel a watch asked for (again after a reconnect), hands each notification
 * to the matching watches, and drops watches whose client has gone. Notifications sent
 * while the listener is disconnected are lost; watchers see the next change. */
#include "listen.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"

#define MAX_CHANNELS 32

struct watch {
    struct watch *next;
    rpc_stream *st;
    const char *channel; /* points into channels[] */
    watch_fn fn;
    void *user;
    void (*free_user)(void *);
    bool dead;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct watch *watches;
static size_t n_watches;
static struct {
    char name[64];
    bool listening;
} channels[MAX_CHANNELS];
static int n_channels;
static int wake[2] = {-1, -1};
static pthread_t thread;
static bool running, stopping;
static char *conninfo_copy;

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

static const char *channel_intern(const char *name)
{
    for (int i = 0; i < n_channels; i++)
        if (strcmp(channels[i].name, name) == 0)
            return channels[i].name;
    if (n_channels == MAX_CHANNELS || strlen(name) >= sizeof channels[0].name)
        return NULL;
    snprintf(channels[n_channels].name, sizeof channels[0].name, "%s", name);
    channels[n_channels].listening = false;
    return channels[n_channels++].name;
}

static void watch_free(struct watch *w)
{
    rpc_stream_unref(w->st);
    if (w->free_user)
        w->free_user(w->user);
    free(w);
}

gs_code watch_add(call *c, rpc_stream *st, const char *channel, watch_fn fn, void *user,
                  void (*free_user)(void *))
{
    pthread_mutex_lock(&mu);
    const char *ch = running && !stopping ? channel_intern(channel) : NULL;
    if (!ch) {
        pthread_mutex_unlock(&mu);
        if (free_user)
            free_user(user);
        return call_fail(c, GS_UNAVAILABLE, "watches are not available right now");
    }
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        abort();
    *w = (struct watch){watches, st, ch, fn, user, free_user, false};
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

static void on_notify(void *arg, const char *channel, const char *payload)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (struct watch *w = watches; w; w = w->next) {
        if (w->dead || strcmp(w->channel, channel) != 0)
            continue;
        size_t len = 0;
        uint8_t *msg = w->fn(w->user, payload ? payload : "", &len);
        if (msg && !rpc_stream_send(w->st, msg, len))
            w->dead = true;
    }
    pthread_mutex_unlock(&mu);
}

/* Unlinks watches whose client went away; frees them outside the lock. */
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
        if (!channels[i].listening && db_listen(d, channels[i].name) == 0)
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

static void *listen_main(void *arg)
{
    (void)arg;
    db *d = db_open(conninfo_copy);
    db_set_name(d, "listener"); /* its label in logs and metrics */
    for (;;) {
        pthread_mutex_lock(&mu);
        bool stop = stopping;
        pthread_mutex_unlock(&mu);
        if (stop)
            break;
        bool up = db_ok(d);
        if (up)
            listen_channels(d);
        struct pollfd fds[2] = {{wake[0], POLLIN, 0}, {up ? db_socket(d) : -1, POLLIN, 0}};
        poll(fds, 2, up ? 1000 : 500);
        if (fds[0].revents & POLLIN) {
            char buf[64];
            while (read(wake[0], buf, sizeof buf) > 0)
                ;
        }
        if (up && db_drain_notifications(d, on_notify, NULL) < 0)
            forget_channels();
        prune();
    }
    db_close(d);
    return NULL;
}

int listen_start(const char *conninfo)
{
    if (pipe(wake) != 0)
        return -1;
    fcntl(wake[0], F_SETFL, O_NONBLOCK);
    fcntl(wake[1], F_SETFL, O_NONBLOCK);
    conninfo_copy = strdup(conninfo ? conninfo : "");
    stopping = false;
    if (pthread_create(&thread, NULL, listen_main, NULL) != 0)
        return -1;
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
    struct watch *all = watches;
    watches = NULL;
    n_watches = 0;
    pthread_mutex_unlock(&mu);
    if (!was_running)
        return;
    poke();
    pthread_join(thread, NULL);
    while (all) {
        struct watch *next = all->next;
        rpc_stream_finish(all->st, GS_UNAVAILABLE, "server stopping");
        watch_free(all);
        all = next;
    }
    close(wake[0]);
    close(wake[1]);
    free(conninfo_copy);
    conninfo_copy = NULL;
}
