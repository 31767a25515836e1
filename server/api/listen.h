/* listen.h — watch streams fed by PostgreSQL LISTEN/NOTIFY, so every server process sees
 * every change. One listener thread with its own connection serves all open watches; a
 * watch holds no worker. Producers call pg_notify(channel, payload) in SQL, inside their
 * transaction (delivered on commit). */
#ifndef GS_LISTEN_H
#define GS_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "rpc.h"

/* Turns one notification payload into a packed response message for this watch
 * (malloc'd, *len set), or returns NULL to skip it (e.g. outside the watcher's scope).
 * Runs on the listener thread; `user` is the watch's own state. */
typedef uint8_t *(*watch_fn)(void *user, const char *payload, size_t *len);

/* Registers a server stream (from a stream_fn) for `channel`. Takes over the stream
 * reference the runtime handed to the stream handler and `user` (released with
 * free_user when the watch ends: client gone, or server stopping). Call it last in the
 * stream handler; returns GS_OK (or fails the call if the listener is not running). */
gs_code watch_add(call *c, rpc_stream *st, const char *channel, watch_fn fn, void *user,
                  void (*free_user)(void *));

/* True when ltree text `path` is `scope` or below it ("1.3.17" within "1.3"). */
bool path_within(const char *path, const char *scope);

int listen_start(const char *conninfo);
/* Ends every watch (UNAVAILABLE "server stopping") and stops the thread. */
void listen_stop(void);
size_t listen_watch_count(void);

#endif
