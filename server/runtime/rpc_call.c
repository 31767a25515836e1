/* rpc_call.c — one call's plumbing on the gRPC core transport: its request read from the
 * accepted slot (metadata, deadline, peer), the batches that answer it (message, status
 * with google.rpc.Status details), and unary calls and unknown paths served end to end. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "error_details.h"

#define META_MAX 8192 /* longest metadata value we copy */

/* NULL when memory is short. */
static char *slice_dup(grpc_slice s, size_t max)
{
    size_t n = GRPC_SLICE_LENGTH(s);
    if (n > max)
        n = max;
    char *p = malloc(n + 1);
    if (!p)
        return NULL;
    memcpy(p, GRPC_SLICE_START_PTR(s), n);
    p[n] = '\0';
    return p;
}

static char *md_find(const grpc_metadata_array *md, const char *key)
{
    for (size_t i = 0; i < md->count; i++)
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0)
            return slice_dup(md->metadata[i].value, META_MAX);
    return NULL;
}

static int64_t deadline_ms(gpr_timespec deadline)
{
    gpr_timespec d = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
        return -1;
    gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
    int64_t ms = (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
    return ms < 0 ? 0 : ms;
}

static char *peer_identity(grpc_call *call)
{
    grpc_auth_context *ctx = grpc_call_auth_context(call);
    if (!ctx)
        return NULL;
    char *id = NULL;
    grpc_auth_property_iterator it = grpc_auth_context_peer_identity(ctx);
    const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
    if (p && p->value)
        id = strndup(p->value, p->value_length);
    grpc_auth_context_release(ctx);
    return id;
}

/* Fills uc->req from a slot that just accepted uc->call. */
void rpc_request_from_slot(struct ucall *uc, struct slot *s)
{
    uc->auth = md_find(&s->md, "authorization");
    uc->rid = md_find(&s->md, "x-request-id");
    uc->peer = grpc_call_get_peer(uc->call);
    uc->identity = s->w->srv->cfg.tls_client_ca_file ? peer_identity(uc->call) : NULL;
    uc->req.method = s->m ? s->m->cookie : NULL;
    uc->req.path = s->m ? s->m->path : NULL;
    uc->req.authorization = uc->auth;
    uc->req.request_id = uc->rid;
    uc->req.peer = uc->peer;
    uc->req.peer_identity = uc->identity;
    uc->req.deadline_ms = deadline_ms(s->deadline);
}

void rpc_request_free(struct ucall *uc)
{
    free(uc->auth);
    free(uc->rid);
    if (uc->peer)
        gpr_free(uc->peer);
    free(uc->identity);
    uc->auth = uc->rid = uc->peer = uc->identity = NULL;
}

/* Flattens a received byte buffer into one slice (caller unrefs). */
grpc_slice rpc_payload_slice(grpc_byte_buffer *bb)
{
    if (!bb)
        return grpc_empty_slice();
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return grpc_empty_slice();
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    return s;
}

grpc_byte_buffer *rpc_buffer_from(uint8_t *data, size_t len)
{
    grpc_slice s = grpc_slice_malloc(len);
    if (len)
        memcpy(GRPC_SLICE_START_PTR(s), data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

void rpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, void *tag)
{
    grpc_call_error e = grpc_call_start_batch(call, ops, n, tag, NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "gridstockd: grpc_call_start_batch failed: %d\n", (int)e);
        abort(); /* a programming error: ops out of order or two batches at once */
    }
}

void rpc_status_op(grpc_op *op, rpc_status *s, gs_code code, const char *message,
                   const uint8_t *details, size_t details_len)
{
    memset(s, 0, sizeof *s);
    s->message = grpc_slice_from_copied_string(message ? message : "");
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = (grpc_status_code)code;
    op->data.send_status_from_server.status_details = &s->message;
    if (code == GS_OK)
        return;
    uint8_t *made = NULL;
    if (!details)
        details = made = error_details_default(code, message, &details_len);
    if (!details) /* out of memory: the status goes without its details */
        return;
    s->details.key = grpc_slice_from_static_string("grpc-status-details-bin");
    s->details.value = grpc_slice_from_copied_buffer((const char *)details, details_len);
    op->data.send_status_from_server.trailing_metadata_count = 1;
    op->data.send_status_from_server.trailing_metadata = &s->details;
    free(made);
}

void rpc_status_release(rpc_status *s)
{
    grpc_slice_unref(s->message);
    grpc_slice_unref(s->details.key);
    grpc_slice_unref(s->details.value);
}

void rpc_refuse_oom(grpc_call *call)
{
    grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                 "server out of memory, try again", NULL);
    grpc_call_unref(call);
}

/* ------------------------------------------------------------------ unary */

void rpc_send_reply(struct ucall *uc, const rpc_reply *r)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (r->code == GS_OK) {
        uc->out = rpc_buffer_from(r->data, r->len);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = uc->out;
    }
    rpc_status status;
    rpc_status_op(&ops[n++], &status, r->code, r->message, r->details, r->details_len);
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &uc->cancelled;
    uc->code = r->code;
    uc->tag.kind = TAG_UNARY_DONE;
    rpc_start_batch(uc->call, ops, n, uc);
    rpc_status_release(&status);
}

void rpc_ucall_free(struct ucall *uc)
{
    if (uc->out)
        grpc_byte_buffer_destroy(uc->out);
    if (uc->in)
        grpc_byte_buffer_destroy(uc->in);
    if (uc->call)
        grpc_call_unref(uc->call);
    rpc_request_free(uc);
    free(uc->path);
    free(uc);
}

void rpc_handle_unary(struct worker *w, struct slot *s, grpc_call *call, grpc_byte_buffer *payload)
{
    struct ucall *uc = calloc(1, sizeof *uc);
    if (!uc) {
        if (payload)
            grpc_byte_buffer_destroy(payload);
        rpc_refuse_oom(call);
        return;
    }
    uc->call = call;
    uc->m = s->m;
    rpc_request_from_slot(uc, s);
    grpc_slice body = rpc_payload_slice(payload);
    uc->req.data = GRPC_SLICE_START_PTR(body);
    uc->req.len = GRPC_SLICE_LENGTH(body);
    rpc_reply reply = {.code = GS_OK};
    w->srv->h.unary(w->user, &uc->req, &reply);
    grpc_slice_unref(body);
    if (payload)
        grpc_byte_buffer_destroy(payload);
    rpc_request_free(uc);
    rpc_send_reply(uc, &reply);
    free(reply.data);
    free(reply.details);
}

void rpc_handle_unknown(struct worker *w, struct slot *s, grpc_call *call)
{
    struct ucall *uc = calloc(1, sizeof *uc);
    if (!uc || !(uc->path = slice_dup(s->details.method, 200))) {
        free(uc);
        rpc_refuse_oom(call);
        return;
    }
    uc->call = call;
    rpc_reply reply = {.code = GS_UNIMPLEMENTED};
    snprintf(reply.message, sizeof reply.message, "unknown method %s", uc->path);
    rpc_send_reply(uc, &reply);
    (void)w;
}
