/* rpc_internal.h — what the parts of the gRPC transport share: rpc.c (accepts, the queue,
 * workers, start and stop), rpc_call.c (a call's request and answer; unary calls),
 * rpc_bidi.c (reflection's bidi calls) and rpc_stream.c (server streams). Only these files
 * include <grpc/grpc.h>; nothing else includes this header. */
#ifndef GS_RPC_INTERNAL_H
#define GS_RPC_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <grpc/grpc.h>

#include "rpc.h"

enum tag_kind {
    TAG_ACCEPT,       /* a registered method's call arrived */
    TAG_ACCEPT_ANY,   /* the catch-all took a call to an unknown path */
    TAG_UNARY_DONE,   /* the reply batch of a unary call (or of an UNIMPLEMENTED) completed */
    TAG_STREAM_SEND,  /* a send batch of a server stream completed */
    TAG_STREAM_CLOSE, /* RECV_CLOSE_ON_SERVER of a stream: call over */
    TAG_BIDI_STEP,    /* a (send +) receive batch of a bidi call completed */
    TAG_BIDI_DONE,    /* the status batch of a bidi call completed */
    TAG_SHUTDOWN,     /* grpc_server_shutdown_and_notify */
};

struct tag {
    enum tag_kind kind;
};

struct reg_method {
    char *path;
    rpc_kind kind;
    const void *cookie;
    void *handle;
    bool light; /* served by the light worker only */
};

struct worker;

/* One outstanding accept. On arrival its call moves into a call object and the slot
 * is posted again. */
struct slot {
    struct tag tag;
    struct worker *w;
    struct reg_method *m; /* NULL for the catch-all */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details; /* catch-all only */
};

/* A unary call, an UNIMPLEMENTED answer or a bidi call in progress. */
struct ucall {
    struct tag tag;
    grpc_call *call;
    struct reg_method *m;
    int cancelled;
    grpc_byte_buffer *out;
    grpc_byte_buffer *in; /* bidi: the message being received */
    gs_code code;
    char *path;      /* catch-all and refusals only */
    gpr_timespec t0; /* bidi: when the call arrived */
    int msgs;        /* bidi: messages received so far */
    bool counted;    /* bidi: counted in rpc_server.bidi_open */
    rpc_request req;
    char *auth, *rid, *peer, *identity; /* owned copies behind req */
};

struct msg {
    struct msg *next;
    grpc_byte_buffer *bb;
    size_t len;
};

struct rpc_stream {
    struct tag send_tag, close_tag;
    pthread_mutex_t mu;
    rpc_server *srv;
    grpc_call *call;
    int refs;
    int cancelled;
    bool md_sent, in_flight, closed, finishing, status_sent;
    gs_code fin_code;
    char fin_msg[256];
    uint8_t *fin_details; /* google.rpc.Status or NULL; freed with the stream */
    size_t fin_details_len;
    struct msg *head, *tail;
    size_t queued; /* bytes in head..tail */
    grpc_byte_buffer *sending;
    struct rpc_stream *prev, *next; /* server's live list */
};

/* An accepted database call waiting for a database worker. */
struct job {
    struct job *next;
    struct slot *slot; /* released once the call is handled */
    grpc_call *call;
    grpc_byte_buffer *payload;
};

struct worker {
    rpc_server *srv;
    int index;
    bool light;   /* the last worker: pumps the queue, light methods, unknown paths */
    bool inited;  /* worker_init ran: worker_done must run */
    bool running; /* its thread was created: rpc_stop joins it */
    pthread_t thread;
    grpc_completion_queue *cq; /* the light worker's: the server's one queue */
    void *user;
};

struct rpc_server {
    rpc_config cfg;
    rpc_handlers h;
    grpc_server *server;
    struct reg_method *methods;
    size_t n_methods, cap_methods;
    struct worker *workers; /* n_workers - 1 database workers, then the light worker */
    int n_workers;          /* including the light worker */
    pthread_mutex_t q_mu;   /* the database calls waiting for a worker */
    pthread_cond_t q_cv;
    struct job *q_head, *q_tail;
    int q_len;
    bool q_stop; /* rpc_stop: workers leave once the queue is empty */
    atomic_bool stopping;
    grpc_completion_queue *shutdown_cq;
    struct tag shutdown_tag;
    int bidi_open; /* bidi calls in progress (light worker only) */
    pthread_mutex_t streams_mu;
    struct rpc_stream *streams;
    bool started;
};

/* Ends a call we could not take on (out of memory): RESOURCE_EXHAUSTED, reference
 * dropped. */
void rpc_refuse_oom(grpc_call *call);
/* Fills uc->req from the slot that accepted uc->call (set it first); rpc_request_free
 * releases it. */
void rpc_request_from_slot(struct ucall *uc, struct slot *s);
void rpc_request_free(struct ucall *uc);
/* Flattens a received byte buffer into one slice (caller unrefs). */
grpc_slice rpc_payload_slice(grpc_byte_buffer *bb);
grpc_byte_buffer *rpc_buffer_from(uint8_t *data, size_t len);
/* Starts a batch; aborts on a programming error (ops out of order, two at once). */
void rpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, void *tag);

/* What a SEND_STATUS_FROM_SERVER op points at until its batch has started. */
typedef struct rpc_status {
    grpc_slice message;
    grpc_metadata details; /* grpc-status-details-bin */
} rpc_status;
/* Fills op with the status `code`/`message`; a non-OK status carries `details` (a packed
 * google.rpc.Status, borrowed) or, when NULL, one made from the code and message. Call
 * rpc_status_release(s) once the batch has been started (core copies what it needs). */
void rpc_status_op(grpc_op *op, rpc_status *s, gs_code code, const char *message,
                   const uint8_t *details, size_t details_len);
void rpc_status_release(rpc_status *s);

/* rpc_call.c: unary calls and unknown paths, answered in one batch that completes as
 * TAG_UNARY_DONE; rpc_ucall_free releases the call object. */
void rpc_handle_unary(struct worker *w, struct slot *s, grpc_call *call, grpc_byte_buffer *payload);
void rpc_handle_unknown(struct worker *w, struct slot *s, grpc_call *call);
/* Sends the reply (message if OK, status, close) of uc and marks it TAG_UNARY_DONE. */
void rpc_send_reply(struct ucall *uc, const rpc_reply *r);
void rpc_ucall_free(struct ucall *uc);

/* rpc_bidi.c: a bidi call arrived (light worker); a step or its status batch completed. */
void rpc_handle_bidi_start(struct worker *w, struct slot *s, grpc_call *call);
void rpc_bidi_step(struct worker *w, struct ucall *uc, bool ok);
void rpc_bidi_finished(struct worker *w, struct ucall *uc, gs_code code);

/* rpc_stream.c: a server-streaming call arrived; batch completions; shutdown. */
void rpc_handle_stream(struct worker *w, struct slot *s, grpc_call *call,
                       grpc_byte_buffer *payload);
void rpc_stream_send_done(rpc_stream *st, bool ok);
void rpc_stream_close_done(rpc_stream *st);
void rpc_close_all_streams(rpc_server *s);

#endif
