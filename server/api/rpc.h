/* rpc.h — the gRPC transport, seen from the rest of the server. runtime/rpc*.c is the
 * only code that includes <grpc/grpc.h>: it owns the completion queues, the worker threads,
 * the batches and the streams. Everything above it deals in byte strings and gs_code. */
#ifndef GS_RPC_H
#define GS_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gs_status.h"

typedef enum rpc_kind {
    RPC_UNARY,         /* one request, one response */
    RPC_SERVER_STREAM, /* one request, many responses (watches) */
    RPC_BIDI,          /* many requests, one response each (reflection) */
} rpc_kind;

/* What the transport knows of one incoming request. All pointers are owned by the
 * transport and valid only during the callback that receives it. */
typedef struct rpc_request {
    const void *method;  /* the cookie given to rpc_method_add */
    const char *path;    /* "/pkg.Service/Method" */
    const uint8_t *data; /* request message bytes */
    size_t len;
    const char *authorization; /* "Bearer ..." metadata or NULL */
    const char *request_id;    /* "x-request-id" metadata or NULL */
    const char *peer;          /* "ipv4:127.0.0.1:5555" */
    const char *peer_identity; /* mTLS client certificate identity or NULL */
    int64_t deadline_ms;       /* milliseconds left, or -1 when the client set none */
} rpc_request;

/* The answer to a unary call or to one message of a bidi call. `data` and `details` are
 * malloc'd and taken over by the transport; `message` is copied. `details`, a packed
 * google.rpc.Status, goes out as the grpc-status-details-bin trailer of a non-OK status;
 * when NULL the transport makes one from the code and message. */
typedef struct rpc_reply {
    gs_code code;
    char message[512];
    uint8_t *data;
    size_t len;
    uint8_t *details;
    size_t details_len;
} rpc_reply;

typedef struct rpc_stream rpc_stream;

/* Callbacks from the transport, run on the worker thread that took the call.
 * `worker` is what worker_init returned for that thread. */
typedef struct rpc_handlers {
    /* with_db: false for the light worker, which serves only methods added as light
     * (no database: health, reflection), so they never wait behind database calls. */
    void *(*worker_init)(int index, bool with_db);
    void (*worker_done)(void *worker);
    void (*unary)(void *worker, const rpc_request *req, rpc_reply *reply);
    /* A server-streaming call started. The callee keeps `stream` (rpc_stream_ref'd for it)
     * and sends with rpc_stream_send until it calls rpc_stream_finish. */
    void (*stream_start)(void *worker, const rpc_request *req, rpc_stream *stream);
    /* A bidi call arrived (before its first message); may be NULL. */
    void (*bidi_start)(void *worker, const rpc_request *req);
    /* One message of a bidi call; reply->data is sent back, unless reply->code != GS_OK,
     * which ends the call with that status. */
    void (*bidi_message)(void *worker, const rpc_request *req, rpc_reply *reply);
    /* Called when a call the transport answered itself is over: every bidi call (req as
     * at its start, micros since then) and calls answered without a method (req->method
     * NULL: an unknown path gets UNIMPLEMENTED, any call while stopping UNAVAILABLE).
     * Unary and server-streaming calls are reported by their own callbacks. May be NULL. */
    void (*finished)(const rpc_request *req, gs_code code, int64_t micros);
} rpc_handlers;

typedef struct rpc_config {
    const char *listen; /* "127.0.0.1:50051" */
    int workers;
    int max_message_bytes;
    const char *tls_cert_file; /* NULL: plaintext */
    const char *tls_key_file;
    const char *tls_client_ca_file; /* non-NULL: require and verify client certificates */
    int grace_ms;                   /* shutdown grace period */
    int stream_queue_bytes;         /* unsent bytes a server stream may hold (0: no cap) */
    /* gRPC channel arguments (0 leaves gRPC's default, except where noted) */
    int keepalive_time_ms;
    int keepalive_timeout_ms;
    int max_connection_idle_ms; /* 0: never */
    int max_connection_age_ms;  /* 0: never */
    int max_connection_age_grace_ms;
    int max_concurrent_streams;
    int max_bidi_calls;    /* bidi (reflection) calls open at once; past it RESOURCE_EXHAUSTED */
    int max_bidi_messages; /* messages per bidi call; past it RESOURCE_EXHAUSTED */
} rpc_config;

typedef struct rpc_server rpc_server;

/* Registers a method; `cookie` comes back in rpc_request.method. A light method (no
 * database) is served by the light worker only. Before rpc_start; -1 out of memory. */
int rpc_method_add(rpc_server *s, const char *path, rpc_kind kind, const void *cookie, bool light);
rpc_server *rpc_server_new(const rpc_config *cfg, const rpc_handlers *h);
/* Binds and starts the workers; returns the bound port, 0 on failure (err filled). */
int rpc_start(rpc_server *s, char *err, size_t errlen);
/* Graceful stop: stop accepting, let in-flight calls finish within the grace period,
 * cancel what remains, join the workers. */
void rpc_stop(rpc_server *s);
void rpc_server_free(rpc_server *s);

/* Process-wide set-up (grpc_init) and tear-down (grpc_shutdown). */
void rpc_global_init(void);
void rpc_global_shutdown(void);

/* Streams: thread-safe. Messages queue up and go one batch at a time, in order.
 * A stream is reference counted; the transport holds one reference until the call is
 * done, the callee one from stream_start until rpc_stream_unref. */
void rpc_stream_ref(rpc_stream *st);
void rpc_stream_unref(rpc_stream *st);
/* Takes ownership of `data` (malloc'd). Returns false when the stream is closed
 * (client gone, finished): the callee should then drop it. A client that does not read
 * while more than stream_queue_bytes wait to be sent is cut off: the call is cancelled
 * with RESOURCE_EXHAUSTED, the queue dropped, and this returns false. */
bool rpc_stream_send(rpc_stream *st, uint8_t *data, size_t len);
/* Ends the stream with a status after queued messages. */
void rpc_stream_finish(rpc_stream *st, gs_code code, const char *message);
/* The same with the status's google.rpc.Status (malloc'd, taken over; NULL: made from the
 * code and message). */
void rpc_stream_finish_details(rpc_stream *st, gs_code code, const char *message, uint8_t *details,
                               size_t details_len);
/* Ends the stream at once with a status; queued messages are dropped. */
void rpc_stream_abort(rpc_stream *st, gs_code code, const char *message);
/* Streams cut so far because their client fell behind (stream_queue_bytes). */
uint64_t rpc_stream_cut_count(void);
bool rpc_stream_closed(const rpc_stream *st);

#endif
