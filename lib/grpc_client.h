/* grpc_client.h — the client side of gRPC core behind a small blocking API: a channel
 * (plaintext or TLS, optional client certificate), unary calls and server-streaming calls
 * on serialized messages. Only grpc_client.c and client-cli/ include <grpc/grpc.h>. */
#ifndef GS_GRPC_CLIENT_H
#define GS_GRPC_CLIENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gs_client gs_client;
typedef struct gs_stream gs_stream;

typedef struct gs_client_config {
    const char *target;    /* "host:port" */
    const char *ca_file;   /* PEM roots; setting it (or tls) turns TLS on */
    const char *cert_file; /* client certificate (PEM) for mutual TLS, with key_file */
    const char *key_file;
    const char *server_name; /* TLS name to verify instead of the target's host (optional) */
    int tls;                 /* TLS with the default roots even without ca_file */
    int max_message_bytes;   /* largest response accepted; 0 = 64 MiB */
} gs_client_config;

/* One request metadata entry (keys lower case, e.g. "authorization"). */
typedef struct gs_md {
    const char *key;
    const char *value;
} gs_md;

/* What a call ended with. Owned by the caller: release with gs_reply_clear. */
typedef struct gs_reply {
    int code;      /* gRPC status code (0 = OK) */
    char *details; /* status message, malloc'd, "" when none */
    uint8_t *body; /* the response message (unary), malloc'd, NULL when none */
    size_t body_len;
    uint8_t *status_bin;   /* the grpc-status-details-bin trailer (a google.rpc.Status), */
    size_t status_bin_len; /* malloc'd, NULL when the status came without one */
} gs_reply;

void gs_reply_clear(gs_reply *r);

/* Creates the channel (connects lazily). NULL with a message in err when a file cannot be
 * read. Calls grpc_init(); gs_client_free calls grpc_shutdown(). */
gs_client *gs_client_new(const gs_client_config *cfg, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void gs_client_free(gs_client *c);

/* Calls `path` ("/pkg.Service/Method") with the serialized request and waits for the
 * answer or the deadline (timeout_s <= 0: none). Always fills *out (status, details,
 * response bytes); a failure to start the call is reported as status INTERNAL. */
void gs_client_unary(gs_client *c, const char *path, const uint8_t *req, size_t req_len,
                     const gs_md *md, size_t n_md, double timeout_s, gs_reply *out);

/* Starts a server-streaming call. NULL with err set if the call cannot be started. */
gs_stream *gs_stream_open(gs_client *c, const char *path, const uint8_t *req, size_t req_len,
                          const gs_md *md, size_t n_md, double timeout_s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Waits for the next message: 1 with *msg (malloc'd, caller frees) and *len; 0 when the
 * stream has ended (read the status with gs_stream_close); -1 when *stop became non-zero
 * while waiting (checked every 100 ms; a signal handler may set it). */
int gs_stream_next(gs_stream *s, uint8_t **msg, size_t *len, volatile sig_atomic_t *stop)
    __attribute__((warn_unused_result));

/* Cancels the call if it is still running, fills *status (CANCELLED after a cancel),
 * and frees the stream. */
void gs_stream_close(gs_stream *s, gs_reply *status);

#endif
