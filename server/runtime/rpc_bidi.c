/* rpc_bidi.c — bidirectional calls (reflection is the only one) on the light worker:
 * one receive at a time, one answer per message, and the caps that keep them from
 * crowding out health. */
#include "rpc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

/* What reflection (the only bidi method) may cost the light worker, which also answers
 * health: bidi calls open at once (cfg.max_bidi_calls) and messages in one call
 * (cfg.max_bidi_messages; a client needs a few dozen to walk every service). Past either,
 * RESOURCE_EXHAUSTED. */

static void bidi_receive(struct ucall *uc, rpc_reply *r)
{
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!r) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    } else {
        uc->out = rpc_buffer_from(r->data, r->len);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = uc->out;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &uc->in;
    uc->tag.kind = TAG_BIDI_STEP;
    rpc_start_batch(uc->call, ops, n, uc);
}

/* Ends a bidi call; `first` says its initial metadata still has to go out (a call
 * refused before its first step), without which gRPC never sends the status. */
static void bidi_status(struct ucall *uc, const rpc_reply *r, bool first)
{
    grpc_op ops[3];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (first)
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    rpc_status status;
    rpc_status_op(&ops[n++], &status, r->code, r->message, r->details, r->details_len);
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &uc->cancelled;
    uc->code = r->code;
    uc->tag.kind = TAG_BIDI_DONE;
    rpc_start_batch(uc->call, ops, n, uc);
    rpc_status_release(&status);
}

void rpc_handle_bidi_start(struct worker *w, struct slot *s, grpc_call *call)
{
    struct ucall *uc = calloc(1, sizeof *uc);
    if (!uc) {
        rpc_refuse_oom(call);
        return;
    }
    uc->call = call;
    uc->m = s->m;
    uc->t0 = gpr_now(GPR_CLOCK_MONOTONIC);
    rpc_request_from_slot(uc, s);
    if (w->srv->h.bidi_start)
        w->srv->h.bidi_start(w->user, &uc->req);
    int open_max = w->srv->cfg.max_bidi_calls;
    if (w->srv->bidi_open >= open_max) {
        rpc_reply busy = {.code = GS_RESOURCE_EXHAUSTED};
        snprintf(busy.message, sizeof busy.message,
                 "more than %d reflection calls open at once: try again", open_max);
        bidi_status(uc, &busy, true);
        return;
    }
    w->srv->bidi_open++;
    uc->counted = true;
    bidi_receive(uc, NULL);
}

static int64_t micros_since(gpr_timespec t0)
{
    gpr_timespec d = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), t0);
    return (int64_t)d.tv_sec * 1000000 + d.tv_nsec / 1000;
}

/* A bidi call is over: report it like any other call, then free it. */
void rpc_bidi_finished(struct worker *w, struct ucall *uc, gs_code code)
{
    if (uc->counted)
        w->srv->bidi_open--;
    if (w->srv->h.finished)
        w->srv->h.finished(&uc->req, code, micros_since(uc->t0));
    rpc_ucall_free(uc);
}

void rpc_bidi_step(struct worker *w, struct ucall *uc, bool ok)
{
    if (uc->out) {
        grpc_byte_buffer_destroy(uc->out);
        uc->out = NULL;
    }
    if (!ok) { /* cancelled or broken: nothing more to send */
        rpc_bidi_finished(w, uc, GS_CANCELLED);
        return;
    }
    if (!uc->in) { /* the client half-closed */
        rpc_reply ok_reply = {.code = GS_OK};
        bidi_status(uc, &ok_reply, false);
        return;
    }
    int msgs_max = w->srv->cfg.max_bidi_messages;
    if (++uc->msgs > msgs_max) {
        grpc_byte_buffer_destroy(uc->in);
        uc->in = NULL;
        rpc_reply busy = {.code = GS_RESOURCE_EXHAUSTED};
        snprintf(busy.message, sizeof busy.message,
                 "more than %d messages in one call: open another", msgs_max);
        bidi_status(uc, &busy, false);
        return;
    }
    grpc_slice body = rpc_payload_slice(uc->in);
    grpc_byte_buffer_destroy(uc->in);
    uc->in = NULL;
    uc->req.data = GRPC_SLICE_START_PTR(body);
    uc->req.len = GRPC_SLICE_LENGTH(body);
    rpc_reply reply = {.code = GS_OK};
    w->srv->h.bidi_message(w->user, &uc->req, &reply);
    grpc_slice_unref(body);
    uc->req.data = NULL;
    uc->req.len = 0;
    if (reply.code != GS_OK)
        bidi_status(uc, &reply, false);
    else
        bidi_receive(uc, &reply);
    free(reply.data);
    free(reply.details);
}
