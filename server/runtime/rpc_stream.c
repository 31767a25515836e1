/* rpc_stream.c — server-streaming calls of the gRPC transport. Messages queue up and go
 * one batch at a time: a mutex serialises the batches of a stream, so any thread may send
 * while completions arrive on the worker's queue; references keep a stream alive until
 * both the call and its callee are done. The queue is bounded (stream_queue_bytes): a
 * client that stops reading is cut off rather than buffered for without end. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "log.h"
#include "rpc_internal.h"

static void stream_unref_locked_free(rpc_stream *st);
static void stream_drop_queue_locked(rpc_stream *st);

void rpc_stream_ref(rpc_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->refs++;
    pthread_mutex_unlock(&st->mu);
}

void rpc_stream_unref(rpc_stream *st)
{
    pthread_mutex_lock(&st->mu);
    stream_unref_locked_free(st);
}

/* Drops one reference; called with st->mu held, releases it. */
static void stream_unref_locked_free(rpc_stream *st)
{
    int left = --st->refs;
    pthread_mutex_unlock(&st->mu);
    if (left > 0)
        return;
    rpc_server *srv = st->srv;
    pthread_mutex_lock(&srv->streams_mu);
    if (st->prev)
        st->prev->next = st->next;
    else
        srv->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    pthread_mutex_unlock(&srv->streams_mu);
    stream_drop_queue_locked(st); /* nobody else holds st now */
    if (st->sending)
        grpc_byte_buffer_destroy(st->sending);
    grpc_call_unref(st->call);
    pthread_mutex_destroy(&st->mu);
    free(st->fin_details);
    free(st);
}

/* Starts the next batch if none is in flight; st->mu held. */
static void stream_pump_locked(rpc_stream *st)
{
    if (st->in_flight || st->status_sent || st->closed)
        return;
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!st->md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        st->md_sent = true;
    }
    rpc_status fin;
    bool status = false;
    if (st->head) {
        struct msg *m = st->head;
        st->head = m->next;
        if (!st->head)
            st->tail = NULL;
        st->queued -= m->len;
        st->sending = m->bb;
        free(m);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = st->sending;
    } else if (st->finishing) {
        rpc_status_op(&ops[n++], &fin, st->fin_code, st->fin_msg, st->fin_details,
                      st->fin_details_len);
        st->status_sent = true;
        status = true;
    } else {
        return;
    }
    st->in_flight = true;
    st->refs++; /* held by the batch */
    rpc_start_batch(st->call, ops, n, &st->send_tag);
    if (status)
        rpc_status_release(&fin);
}

/* Frees the messages not yet handed to gRPC; st->mu held. */
static void stream_drop_queue_locked(rpc_stream *st)
{
    for (struct msg *m = st->head, *n; m; m = n) {
        n = m->next;
        grpc_byte_buffer_destroy(m->bb);
        free(m);
    }
    st->head = st->tail = NULL;
    st->queued = 0;
}

/* Ends the call at once with `message` (queued messages are dropped); st->mu held. */
static void stream_cut_locked(rpc_stream *st, grpc_status_code code, const char *message)
{
    stream_drop_queue_locked(st);
    st->closed = true;
    grpc_call_cancel_with_status(st->call, code, message, NULL);
}

static _Atomic uint64_t cut_slow;

uint64_t rpc_stream_cut_count(void)
{
    return atomic_load_explicit(&cut_slow, memory_order_relaxed);
}

void rpc_stream_abort(rpc_stream *st, gs_code code, const char *message)
{
    pthread_mutex_lock(&st->mu);
    if (!st->closed && !st->status_sent)
        stream_cut_locked(st, (grpc_status_code)code, message ? message : "");
    pthread_mutex_unlock(&st->mu);
}

bool rpc_stream_send(rpc_stream *st, uint8_t *data, size_t len)
{
    pthread_mutex_lock(&st->mu);
    if (st->closed || st->finishing) {
        pthread_mutex_unlock(&st->mu);
        free(data);
        return false;
    }
    struct msg *m = calloc(1, sizeof *m);
    if (!m) {
        free(data);
        stream_cut_locked(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "server out of memory");
        pthread_mutex_unlock(&st->mu);
        return false;
    }
    m->bb = rpc_buffer_from(data, len);
    m->len = len;
    free(data);
    if (st->tail)
        st->tail->next = m;
    else
        st->head = m;
    st->tail = m;
    st->queued += len;
    stream_pump_locked(st); /* a client keeping up takes it at once */
    size_t cap =
        st->srv->cfg.stream_queue_bytes > 0 ? (size_t)st->srv->cfg.stream_queue_bytes : (size_t)-1;
    if (st->queued > cap) {
        char *peer = grpc_call_get_peer(st->call);
        char queued[32];
        snprintf(queued, sizeof queued, "%zu", st->queued);
        stream_cut_locked(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                          "stream closed: the client fell behind by more than "
                          "stream_queue_bytes");
        pthread_mutex_unlock(&st->mu);
        atomic_fetch_add_explicit(&cut_slow, 1, memory_order_relaxed);
        log_event(LOG_WARN, "stream_cut", "reason", "slow_reader", "peer", peer ? peer : "",
                  "queued_bytes", queued, NULL);
        gpr_free(peer);
        return false;
    }
    pthread_mutex_unlock(&st->mu);
    return true;
}

void rpc_stream_finish(rpc_stream *st, gs_code code, const char *message)
{
    rpc_stream_finish_details(st, code, message, NULL, 0);
}

void rpc_stream_finish_details(rpc_stream *st, gs_code code, const char *message, uint8_t *details,
                               size_t details_len)
{
    pthread_mutex_lock(&st->mu);
    if (!st->finishing && !st->closed) {
        st->finishing = true;
        st->fin_code = code;
        snprintf(st->fin_msg, sizeof st->fin_msg, "%s", message ? message : "");
        st->fin_details = details;
        st->fin_details_len = details_len;
        details = NULL;
        stream_pump_locked(st);
    }
    pthread_mutex_unlock(&st->mu);
    free(details); /* not taken: the stream had already ended */
}

bool rpc_stream_closed(const rpc_stream *st)
{
    rpc_stream *s = (rpc_stream *)st;
    pthread_mutex_lock(&s->mu);
    bool closed = s->closed || s->finishing;
    pthread_mutex_unlock(&s->mu);
    return closed;
}

void rpc_stream_send_done(rpc_stream *st, bool ok)
{
    pthread_mutex_lock(&st->mu);
    st->in_flight = false;
    if (st->sending) {
        grpc_byte_buffer_destroy(st->sending);
        st->sending = NULL;
    }
    if (!ok)
        st->closed = true;
    stream_pump_locked(st);
    stream_unref_locked_free(st);
}

void rpc_stream_close_done(rpc_stream *st)
{
    pthread_mutex_lock(&st->mu);
    st->closed = true;
    stream_unref_locked_free(st);
}

void rpc_handle_stream(struct worker *w, struct slot *s, grpc_call *call, grpc_byte_buffer *payload)
{
    rpc_server *srv = w->srv;
    rpc_stream *st = calloc(1, sizeof *st);
    if (!st) {
        if (payload)
            grpc_byte_buffer_destroy(payload);
        rpc_refuse_oom(call);
        return;
    }
    pthread_mutex_init(&st->mu, NULL);
    st->srv = srv;
    st->call = call;
    st->send_tag.kind = TAG_STREAM_SEND;
    st->close_tag.kind = TAG_STREAM_CLOSE;
    st->refs = 2; /* the close batch and the callee */
    pthread_mutex_lock(&srv->streams_mu);
    st->next = srv->streams;
    if (st->next)
        st->next->prev = st;
    srv->streams = st;
    pthread_mutex_unlock(&srv->streams_mu);

    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &st->cancelled;
    rpc_start_batch(call, &op, 1, &st->close_tag);

    struct ucall tmp = {.call = call};
    rpc_request_from_slot(&tmp, s);
    grpc_slice body = rpc_payload_slice(payload);
    tmp.req.data = GRPC_SLICE_START_PTR(body);
    tmp.req.len = GRPC_SLICE_LENGTH(body);
    srv->h.stream_start(w->user, &tmp.req, st);
    grpc_slice_unref(body);
    if (payload)
        grpc_byte_buffer_destroy(payload);
    rpc_request_free(&tmp);
}

/* Marks every live stream closed so no thread starts another batch on it. */
void rpc_close_all_streams(rpc_server *s)
{
    pthread_mutex_lock(&s->streams_mu);
    for (rpc_stream *st = s->streams; st; st = st->next) {
        pthread_mutex_lock(&st->mu);
        st->closed = true;
        pthread_mutex_unlock(&st->mu);
    }
    pthread_mutex_unlock(&s->streams_mu);
}
