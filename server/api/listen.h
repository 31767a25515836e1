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
#include "config.h"
#include "rpc.h"

/* A channel and the format of its payloads. A notification is parsed once (parse:
 * NULL to skip it) whatever the number of watches it feeds; each watch then filters the
 * parsed form; free_parsed releases it. Runs on the listener thread. Declare one static
 * const watch_channel per channel (its address identifies it). */
typedef struct watch_channel {
    const char *name; /* the pg_notify channel, shorter than 64 bytes */
    void *(*parse)(const char *payload);
    void (*free_parsed)(void *parsed);
} watch_channel;

/* Turns one parsed notification into a packed response message for this watch
 * (malloc'd, *len set), or returns NULL to skip it (e.g. outside the watcher's scope).
 * Runs on the listener thread; `user` is the watch's own state. */
typedef uint8_t *(*watch_fn)(void *user, const void *parsed, size_t *len);

/* Registers a server stream (from a stream_fn) for `channel`. Takes over the stream
 * reference the runtime handed to the stream handler and `user` (released with
 * free_user when the watch ends: client gone, server stopping, or refused here). Call
 * it last in the stream handler. Fails the call RESOURCE_EXHAUSTED past max_watches or
 * max_watches_per_user, UNAVAILABLE when the listener is not running. While open, the
 * watch re-checks its caller every watch_recheck_ms: an expired or revoked token, a
 * deactivated user (UNAUTHENTICATED) or a changed role or scope (PERMISSION_DENIED)
 * ends it. */
gs_code watch_add(call *c, rpc_stream *st, const watch_channel *channel, watch_fn fn, void *user,
                  void (*free_user)(void *));

/* True when ltree text `path` is `scope` or below it ("1.3.17" within "1.3"). */
bool path_within(const char *path, const char *scope);

/* Starts the listener thread (db, max_watches, max_watches_per_user, watch_recheck_ms). */
int listen_start(const gs_config *cfg);
/* Ends every watch (UNAVAILABLE "server stopping") and stops the thread. */
void listen_stop(void);
size_t listen_watch_count(void);

/* For metrics. */
typedef struct listen_stats {
    size_t open, limit;
    uint64_t refused_total, refused_user; /* refused at max_watches / max_watches_per_user */
    uint64_t ended_credentials;           /* ended by the re-check */
    uint64_t ended_slow;                  /* streams cut for falling behind (all kinds) */
} listen_stats;
void listen_get_stats(listen_stats *out);

#endif
