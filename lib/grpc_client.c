/* grpc_client.c — blocking unary and server-streaming calls on gRPC core (see grpc_client.h). */
#include "grpc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "file_read.h"

struct gs_client {
    grpc_channel *channel;
};

/* One call and its private pluck queue. Tags: the address of a member. */
struct gs_stream {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata *md;
    size_t n_md;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    grpc_byte_buffer *recv;
    int start_pending, status_pending, recv_pending; /* batches not yet plucked */
    int ended;                                       /* end of stream seen */
    char tag_start, tag_status, tag_recv;
};

void gs_reply_clear(gs_reply *r)
{
    free(r->details);
    free(r->body);
    free(r->status_bin);
    memset(r, 0, sizeof *r);
}

gs_client *gs_client_new(const gs_client_config *cfg, char *err, size_t errlen)
{
    gs_client *c = NULL;
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_channel_credentials *creds = NULL;
    grpc_arg args[2];
    int nargs = 0;

    if ((cfg->cert_file != NULL) != (cfg->key_file != NULL)) {
        snprintf(err, errlen, "a client certificate needs both a certificate and a key file");
        return NULL;
    }
    if (cfg->ca_file && !(ca = gs_pem_read(cfg->ca_file, err, errlen)))
        goto out;
    if (cfg->cert_file && (!(cert = gs_pem_read(cfg->cert_file, err, errlen)) ||
                           !(key = gs_pem_read(cfg->key_file, err, errlen))))
        goto out;
    if (!(c = calloc(1, sizeof *c))) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    grpc_init();
    if (ca || cert || cfg->tls) {
        grpc_ssl_pem_key_cert_pair pair = {key, cert};
        creds = grpc_ssl_credentials_create_ex(ca, cert ? &pair : NULL, NULL, NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    args[nargs].type = GRPC_ARG_INTEGER;
    args[nargs].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[nargs++].value.integer = cfg->max_message_bytes > 0 ? cfg->max_message_bytes : 64 << 20;
    if (cfg->server_name && *cfg->server_name) {
        args[nargs].type = GRPC_ARG_STRING;
        args[nargs].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[nargs++].value.string = (char *)cfg->server_name;
    }
    grpc_channel_args chargs = {(size_t)nargs, args};
    c->channel = grpc_channel_create(cfg->target, creds, &chargs);
    grpc_channel_credentials_release(creds);
out:
    free(ca);
    free(cert);
    gs_secret_free(key);
    return c;
}

void gs_client_free(gs_client *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    free(c);
    grpc_shutdown();
}

static gpr_timespec deadline_after(double seconds)
{
    if (seconds <= 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis((int64_t)(seconds * 1000.0), GPR_TIMESPAN));
}

static char *slice_strdup(grpc_slice s)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    char *out = malloc(n + 1);
    if (out) {
        memcpy(out, GRPC_SLICE_START_PTR(s), n);
        out[n] = '\0';
    }
    return out;
}

/* Moves a received byte buffer into a malloc'd array; destroys the buffer. */
static int take_buffer(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader reader;
    *out = NULL;
    *len = 0;
    if (!grpc_byte_buffer_reader_init(&reader, bb)) {
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(bb);
    *len = GRPC_SLICE_LENGTH(all);
    *out = malloc(*len ? *len : 1);
    if (*out)
        memcpy(*out, GRPC_SLICE_START_PTR(all), *len);
    grpc_slice_unref(all);
    return *out ? 0 : -1;
}

static void pluck(gs_stream *s, void *tag)
{
    grpc_completion_queue_pluck(s->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

/* Creates the call and sends the request: metadata, message, half-close. With
 * `with_response`, the same batch also receives the single response message. */
static gs_stream *start(gs_client *c, const char *path, const uint8_t *req, size_t req_len,
                        const gs_md *md, size_t n_md, double timeout_s, char *err, size_t errlen,
                        int with_response)
{
    gs_stream *s = calloc(1, sizeof *s);
    if (!s || (n_md && !(s->md = calloc(n_md, sizeof *s->md)))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_copied_string(path);
    s->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, method,
                                       NULL, deadline_after(timeout_s), NULL);
    grpc_slice_unref(method);
    for (size_t i = 0; i < n_md; i++) {
        s->md[i].key = grpc_slice_from_copied_string(md[i].key);
        s->md[i].value = grpc_slice_from_copied_string(md[i].value);
    }
    s->n_md = n_md;
    grpc_metadata_array_init(&s->initial);
    grpc_metadata_array_init(&s->trailing);
    s->details = grpc_empty_slice();

    grpc_slice body = grpc_slice_from_copied_buffer((const char *)req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[n].data.send_initial_metadata.count = n_md;
    ops[n++].data.send_initial_metadata.metadata = s->md;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = send;
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[n++].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
    if (with_response) {
        ops[n].op = GRPC_OP_RECV_MESSAGE;
        ops[n++].data.recv_message.recv_message = &s->recv;
        ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[n].data.recv_status_on_client.trailing_metadata = &s->trailing;
        ops[n].data.recv_status_on_client.status = &s->status;
        ops[n++].data.recv_status_on_client.status_details = &s->details;
    }
    grpc_call_error e = grpc_call_start_batch(s->call, ops, n, &s->tag_start, NULL);
    grpc_byte_buffer_destroy(send);
    if (e != GRPC_CALL_OK) {
        snprintf(err, errlen, "cannot start the call (grpc_call_error %d)", (int)e);
        gs_stream_close(s, NULL);
        return NULL;
    }
    s->start_pending = 1;
    if (!with_response) {
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        ops[0].data.recv_status_on_client.trailing_metadata = &s->trailing;
        ops[0].data.recv_status_on_client.status = &s->status;
        ops[0].data.recv_status_on_client.status_details = &s->details;
        if (grpc_call_start_batch(s->call, ops, 1, &s->tag_status, NULL) != GRPC_CALL_OK) {
            snprintf(err, errlen, "cannot start the call");
            gs_stream_close(s, NULL);
            return NULL;
        }
        s->status_pending = 1;
    }
    return s;
}

void gs_client_unary(gs_client *c, const char *path, const uint8_t *req, size_t req_len,
                     const gs_md *md, size_t n_md, double timeout_s, gs_reply *out)
{
    char err[256];
    memset(out, 0, sizeof *out);
    gs_stream *s = start(c, path, req, req_len, md, n_md, timeout_s, err, sizeof err, 1);
    if (!s) {
        out->code = GRPC_STATUS_INTERNAL;
        out->details = strdup(err);
        return;
    }
    pluck(s, &s->tag_start);
    s->start_pending = 0;
    s->ended = 1;
    if (s->recv) {
        if (take_buffer(s->recv, &out->body, &out->body_len) < 0 && s->status == GRPC_STATUS_OK)
            s->status = GRPC_STATUS_INTERNAL;
        s->recv = NULL;
    }
    gs_stream_close(s, out);
}

gs_stream *gs_stream_open(gs_client *c, const char *path, const uint8_t *req, size_t req_len,
                          const gs_md *md, size_t n_md, double timeout_s, char *err, size_t errlen)
{
    return start(c, path, req, req_len, md, n_md, timeout_s, err, errlen, 0);
}

int gs_stream_next(gs_stream *s, uint8_t **msg, size_t *len, volatile sig_atomic_t *stop)
{
    *msg = NULL;
    *len = 0;
    if (s->ended)
        return 0;
    if (!s->recv_pending) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &s->recv;
        if (grpc_call_start_batch(s->call, &op, 1, &s->tag_recv, NULL) != GRPC_CALL_OK) {
            s->ended = 1;
            return 0;
        }
        s->recv_pending = 1;
    }
    for (;;) {
        gpr_timespec tick =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(100, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_pluck(s->cq, &s->tag_recv, tick, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            break;
        if (stop && *stop)
            return -1;
    }
    s->recv_pending = 0;
    if (!s->recv) {
        s->ended = 1;
        return 0;
    }
    grpc_byte_buffer *bb = s->recv;
    s->recv = NULL;
    if (take_buffer(bb, msg, len) < 0) {
        grpc_call_cancel(s->call, NULL);
        s->ended = 1;
        return 0;
    }
    return 1;
}

/* Copies the grpc-status-details-bin trailer into r (core has already decoded base64). */
static void take_status_bin(const grpc_metadata_array *md, gs_reply *r)
{
    free(r->status_bin);
    r->status_bin = NULL;
    r->status_bin_len = 0;
    for (size_t i = 0; i < md->count; i++) {
        if (!grpc_slice_str_cmp(md->metadata[i].key, "grpc-status-details-bin")) {
            size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
            r->status_bin = malloc(n ? n : 1);
            if (r->status_bin) {
                memcpy(r->status_bin, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
                r->status_bin_len = n;
            }
            return;
        }
    }
}

void gs_stream_close(gs_stream *s, gs_reply *status)
{
    if (!s)
        return;
    if (!s->ended || s->recv_pending)
        grpc_call_cancel(s->call, NULL);
    if (s->start_pending)
        pluck(s, &s->tag_start);
    if (s->recv_pending)
        pluck(s, &s->tag_recv);
    if (s->status_pending)
        pluck(s, &s->tag_status);
    if (status) {
        status->code = (int)s->status;
        free(status->details);
        status->details = slice_strdup(s->details);
        take_status_bin(&s->trailing, status);
    }
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial);
    grpc_metadata_array_destroy(&s->trailing);
    for (size_t i = 0; i < s->n_md; i++) {
        grpc_slice_unref(s->md[i].key);
        grpc_slice_unref(s->md[i].value);
    }
    free(s->md);
    if (s->call)
        grpc_call_unref(s->call);
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_pluck(s->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_destroy(s->cq);
    free(s);
}
