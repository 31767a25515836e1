/* rpc.c — the gRPC core transport's server: accepting calls, the queue of database calls
 * and the workers that take them, start-up and graceful shutdown. One call's batches are
 * in rpc_call.c (unary), rpc_bidi.c (reflection) and rpc_stream.c (server streams).
 *
 * One completion queue, pumped by the light worker: it accepts every call, answers the
 * methods without a database (health, reflection) and unknown paths itself, and takes
 * every batch completion. Database calls go into one FIFO from which the next idle
 * database worker takes them, so a call never waits behind a busy worker while another
 * is free, health and reflection never wait behind database calls, and stream sends
 * complete while every database worker is busy. */
#include "rpc_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "file_read.h"
#include "log.h"
#include "thread.h"

#define SLOTS_PER_METHOD 4 /* outstanding accepts per method */
#define GENERIC_SLOTS 2
#define QUEUE_MAX 4096 /* database calls waiting for a worker; past it RESOURCE_EXHAUSTED */

/* ------------------------------------------------------------------ accepting */

static void post_slot(struct slot *s)
{
    rpc_server *srv = s->w->srv;
    grpc_metadata_array_init(&s->md);
    s->call = NULL;
    s->payload = NULL;
    grpc_call_error e;
    if (s->m) {
        e = grpc_server_request_registered_call(srv->server, s->m->handle, &s->call, &s->deadline,
                                                &s->md, s->m->kind == RPC_BIDI ? NULL : &s->payload,
                                                s->w->cq, s->w->cq, s);
    } else {
        grpc_call_details_init(&s->details);
        e = grpc_server_request_call(srv->server, &s->call, &s->details, &s->md, s->w->cq, s->w->cq,
                                     s);
    }
    if (e != GRPC_CALL_OK) {
        /* One accept fewer on this queue for this method until the server restarts. */
        char code[16];
        snprintf(code, sizeof code, "%d", (int)e);
        log_event(atomic_load(&srv->stopping) ? LOG_DEBUG : LOG_ERROR, "accept_slot_lost", "method",
                  s->m ? s->m->path : "(any)", "worker", log_i64(s->w->index), "grpc_call_error",
                  code, NULL);
        grpc_metadata_array_destroy(&s->md);
        if (!s->m)
            grpc_call_details_destroy(&s->details);
        free(s);
    }
}

/* A new accept for method m (NULL: the catch-all) on worker w. */
static void post_new_slot(struct worker *w, struct reg_method *m)
{
    struct slot *sl = calloc(1, sizeof *sl);
    if (!sl) {
        log_event(LOG_ERROR, "accept_slot_lost", "method", m ? m->path : "(any)", "worker",
                  log_i64(w->index), "error", "out of memory", NULL);
        return;
    }
    sl->tag.kind = m ? TAG_ACCEPT : TAG_ACCEPT_ANY;
    sl->w = w;
    sl->m = m;
    post_slot(sl);
}

static void slot_release(struct slot *s)
{
    grpc_metadata_array_destroy(&s->md);
    if (!s->m)
        grpc_call_details_destroy(&s->details);
    if (s->payload)
        grpc_byte_buffer_destroy(s->payload);
    free(s);
}

/* ------------------------------------------------------------------ workers */

/* Handles an accepted call on worker w, then releases its slot. */
static void serve(struct worker *w, struct slot *s, grpc_call *call, grpc_byte_buffer *payload)
{
    if (!s->m)
        rpc_handle_unknown(w, s, call);
    else if (s->m->kind == RPC_UNARY)
        rpc_handle_unary(w, s, call, payload);
    else if (s->m->kind == RPC_SERVER_STREAM)
        rpc_handle_stream(w, s, call, payload);
    else
        rpc_handle_bidi_start(w, s, call); /* bidi methods are light: w is the light worker */
    slot_release(s);
}

static void on_accept(struct worker *w, struct slot *s, bool ok)
{
    rpc_server *srv = w->srv;
    if (!ok || atomic_load(&srv->stopping)) {
        if (ok && s->call) { /* accepted while stopping: refuse politely */
            struct ucall *uc = calloc(1, sizeof *uc);
            if (uc && !(uc->path = strdup(s->m ? s->m->path : "?"))) {
                free(uc);
                uc = NULL;
            }
            if (!uc) {
                rpc_refuse_oom(s->call);
            } else {
                uc->call = s->call;
                rpc_reply reply = {.code = GS_UNAVAILABLE};
                snprintf(reply.message, sizeof reply.message, "server is shutting down");
                rpc_send_reply(uc, &reply);
            }
            s->call = NULL;
        }
        slot_release(s);
        return;
    }
    /* Move the call out, re-post the slot before handling (GRPC_CORE.md). */
    grpc_call *call = s->call;
    grpc_byte_buffer *payload = s->payload;
    s->call = NULL;
    s->payload = NULL;
    post_new_slot(w, s->m);
    if (!s->m || s->m->light) {
        serve(w, s, call, payload);
        return;
    }
    /* A database call: the next idle database worker takes it. */
    struct job *j = calloc(1, sizeof *j);
    bool queued = false;
    if (j) {
        *j = (struct job){NULL, s, call, payload};
        pthread_mutex_lock(&srv->q_mu);
        if (srv->q_len < QUEUE_MAX) {
            if (srv->q_tail)
                srv->q_tail->next = j;
            else
                srv->q_head = j;
            srv->q_tail = j;
            srv->q_len++;
            queued = true;
            pthread_cond_signal(&srv->q_cv);
        }
        pthread_mutex_unlock(&srv->q_mu);
    }
    if (!queued) {
        free(j);
        if (payload)
            grpc_byte_buffer_destroy(payload);
        grpc_call_cancel_with_status(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "server busy: too many calls waiting, try again", NULL);
        grpc_call_unref(call);
        slot_release(s);
    }
}

/* A database worker: takes queued calls one at a time until rpc_stop empties the queue
 * and says stop. Its answers complete on the light worker's queue. */
static void *db_worker_main(void *arg)
{
    struct worker *w = arg;
    rpc_server *srv = w->srv;
    for (;;) {
        pthread_mutex_lock(&srv->q_mu);
        while (!srv->q_head && !srv->q_stop)
            pthread_cond_wait(&srv->q_cv, &srv->q_mu);
        struct job *j = srv->q_head;
        if (j) {
            srv->q_head = j->next;
            if (!srv->q_head)
                srv->q_tail = NULL;
            srv->q_len--;
        }
        pthread_mutex_unlock(&srv->q_mu);
        if (!j)
            break; /* stopping and nothing left */
        serve(w, j->slot, j->call, j->payload);
        free(j);
    }
    if (srv->h.worker_done && w->inited)
        srv->h.worker_done(w->user);
    w->inited = false;
    return NULL;
}

/* One completion of the light worker's queue. */
static void handle_event(struct worker *w, grpc_event ev)
{
    rpc_server *srv = w->srv;
    struct tag *t = ev.tag;
    switch (t->kind) {
    case TAG_ACCEPT:
    case TAG_ACCEPT_ANY:
        on_accept(w, (struct slot *)t, ev.success);
        break;
    case TAG_UNARY_DONE: {
        struct ucall *uc = (struct ucall *)t;
        if (uc->path && srv->h.finished) { /* answered here, without a method */
            rpc_request r = {.path = uc->path};
            srv->h.finished(&r, uc->code, 0);
        }
        rpc_ucall_free(uc);
        break;
    }
    case TAG_STREAM_SEND: {
        rpc_stream *st = (rpc_stream *)((char *)t - offsetof(rpc_stream, send_tag));
        rpc_stream_send_done(st, ev.success);
        break;
    }
    case TAG_STREAM_CLOSE: {
        rpc_stream *st = (rpc_stream *)((char *)t - offsetof(rpc_stream, close_tag));
        rpc_stream_close_done(st);
        break;
    }
    case TAG_BIDI_STEP:
        rpc_bidi_step(w, (struct ucall *)t, ev.success);
        break;
    case TAG_BIDI_DONE:
        rpc_bidi_finished(w, (struct ucall *)t, ((struct ucall *)t)->code);
        break;
    case TAG_SHUTDOWN:
        break;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rpc_server *srv = w->srv;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(w->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            handle_event(w, ev);
    }
    if (srv->h.worker_done && w->inited)
        srv->h.worker_done(w->user);
    w->inited = false;
    return NULL;
}

/* ------------------------------------------------------------------ server */

void rpc_global_init(void)
{
    grpc_init();
}
void rpc_global_shutdown(void)
{
    grpc_shutdown();
}

rpc_server *rpc_server_new(const rpc_config *cfg, const rpc_handlers *h)
{
    rpc_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->h = *h;
    pthread_mutex_init(&s->streams_mu, NULL);
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_cv, NULL);
    atomic_init(&s->stopping, false);
    return s;
}

int rpc_method_add(rpc_server *s, const char *path, rpc_kind kind, const void *cookie, bool light)
{
    if (s->n_methods == s->cap_methods) {
        size_t cap = s->cap_methods ? s->cap_methods * 2 : 64;
        struct reg_method *more = realloc(s->methods, cap * sizeof *more);
        if (!more)
            return -1;
        s->methods = more;
        s->cap_methods = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return -1;
    struct reg_method *m = &s->methods[s->n_methods++];
    m->path = copy;
    m->kind = kind;
    m->cookie = cookie;
    m->handle = NULL;
    m->light = light;
    return 0;
}

static grpc_server_credentials *server_credentials(const rpc_config *cfg, char *err, size_t errlen)
{
    if (!cfg->tls_cert_file || !*cfg->tls_cert_file)
        return grpc_insecure_server_credentials_create();
    grpc_server_credentials *creds = NULL;
    char *cert = gs_pem_read(cfg->tls_cert_file, err, errlen);
    char *key = cert ? gs_pem_read(cfg->tls_key_file ? cfg->tls_key_file : "", err, errlen) : NULL;
    char *ca = NULL;
    if (key && cfg->tls_client_ca_file && *cfg->tls_client_ca_file)
        ca = gs_pem_read(cfg->tls_client_ca_file, err, errlen);
    if (key && (!cfg->tls_client_ca_file || !*cfg->tls_client_ca_file || ca)) {
        grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
        creds = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
               : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (!creds)
            snprintf(err, errlen, "TLS credentials could not be created from %s / %s",
                     cfg->tls_cert_file, cfg->tls_key_file);
    }
    free(cert);
    gs_secret_free(key);
    free(ca);
    return creds;
}

static void arg_int(grpc_arg *a, const char *key, int value)
{
    a->type = GRPC_ARG_INTEGER;
    a->key = (char *)key;
    a->value.integer = value;
}

int rpc_start(rpc_server *s, char *err, size_t errlen)
{
    const rpc_config *c = &s->cfg;
    grpc_arg args[12];
    size_t n_args = 0;
    memset(args, 0, sizeof args);
    arg_int(&args[n_args++], GRPC_ARG_ALLOW_REUSEPORT, 0);
    arg_int(&args[n_args++], GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, c->max_message_bytes);
    arg_int(&args[n_args++], GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, c->max_message_bytes);
    if (c->keepalive_time_ms > 0) {
        arg_int(&args[n_args++], GRPC_ARG_KEEPALIVE_TIME_MS, c->keepalive_time_ms);
        /* clients may ping as often as the server does without being called abusive */
        arg_int(&args[n_args++], GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                c->keepalive_time_ms < 10000 ? c->keepalive_time_ms : 10000);
    }
    if (c->keepalive_timeout_ms > 0)
        arg_int(&args[n_args++], GRPC_ARG_KEEPALIVE_TIMEOUT_MS, c->keepalive_timeout_ms);
    if (c->max_connection_idle_ms > 0)
        arg_int(&args[n_args++], GRPC_ARG_MAX_CONNECTION_IDLE_MS, c->max_connection_idle_ms);
    if (c->max_connection_age_ms > 0) {
        arg_int(&args[n_args++], GRPC_ARG_MAX_CONNECTION_AGE_MS, c->max_connection_age_ms);
        arg_int(&args[n_args++], GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                c->max_connection_age_grace_ms);
    }
    if (c->max_concurrent_streams > 0)
        arg_int(&args[n_args++], GRPC_ARG_MAX_CONCURRENT_STREAMS, c->max_concurrent_streams);
    grpc_channel_args chargs = {.num_args = n_args, .args = args};

    s->server = grpc_server_create(&chargs, NULL);
    int db_workers = c->workers > 0 ? c->workers : 1;
    s->n_workers = db_workers + 1;
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    if (!s->workers) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    for (int i = 0; i < s->n_workers; i++) {
        s->workers[i].srv = s;
        s->workers[i].index = i;
        s->workers[i].light = i == db_workers;
    }
    struct worker *pump = &s->workers[db_workers];
    pump->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, pump->cq, NULL);
    s->shutdown_cq = grpc_completion_queue_create_for_pluck(NULL);
    for (size_t i = 0; i < s->n_methods; i++) {
        struct reg_method *m = &s->methods[i];
        m->handle = grpc_server_register_method(
            s->server, m->path, NULL,
            m->kind == RPC_BIDI ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
        if (!m->handle) {
            snprintf(err, errlen, "cannot register method %s", m->path);
            return 0;
        }
    }
    grpc_server_credentials *creds = server_credentials(&s->cfg, err, errlen);
    if (!creds)
        return 0;
    int port = grpc_server_add_http2_port(s->server, s->cfg.listen, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        snprintf(err, errlen, "cannot listen on %s (address in use or invalid)", s->cfg.listen);
        return 0;
    }
    grpc_server_start(s->server);
    s->started = true; /* from here on rpc_stop undoes what was done, even on failure */
    /* the light worker first: it pumps the queue the others' answers complete on */
    for (int n = 0; n < s->n_workers; n++) {
        int i = (db_workers + n) % s->n_workers;
        struct worker *w = &s->workers[i];
        w->user = s->h.worker_init ? s->h.worker_init(i, !w->light) : NULL;
        w->inited = true;
        if (w->light) {
            for (size_t k = 0; k < s->n_methods; k++)
                for (int j = 0; j < SLOTS_PER_METHOD; j++)
                    post_new_slot(w, &s->methods[k]);
            for (int j = 0; j < GENERIC_SLOTS; j++)
                post_new_slot(w, NULL);
        }
        if (gs_thread_start(w->light ? "light" : "worker", &w->thread,
                            w->light ? worker_main : db_worker_main, w) != 0) {
            snprintf(err, errlen, "cannot start worker thread %d of %d", n + 1, s->n_workers);
            return 0;
        }
        w->running = true;
    }
    return port;
}

/* Ends every database call still waiting for a worker with UNAVAILABLE. */
static void refuse_queued(rpc_server *s)
{
    pthread_mutex_lock(&s->q_mu);
    struct job *all = s->q_head;
    s->q_head = s->q_tail = NULL;
    s->q_len = 0;
    pthread_mutex_unlock(&s->q_mu);
    for (struct job *j = all, *next; j; j = next) {
        next = j->next;
        if (j->payload)
            grpc_byte_buffer_destroy(j->payload);
        grpc_call_cancel_with_status(j->call, GRPC_STATUS_UNAVAILABLE, "server is shutting down",
                                     NULL);
        grpc_call_unref(j->call);
        slot_release(j->slot);
        free(j);
    }
}

#define DRAIN_MS 250 /* serve what gRPC has already queued before refusing new calls */

void rpc_stop(rpc_server *s)
{
    if (!s->started)
        return;
    /* Calls that reached gRPC but no worker yet would be reset (CANCELLED) by the
     * shutdown; serving normally for a moment first (health already says NOT_SERVING)
     * answers them. */
    int drain = s->cfg.grace_ms < DRAIN_MS ? s->cfg.grace_ms : DRAIN_MS;
    if (drain > 0)
        gpr_sleep_until(
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(drain, GPR_TIMESPAN)));
    atomic_store(&s->stopping, true);
    s->shutdown_tag.kind = TAG_SHUTDOWN;
    grpc_server_shutdown_and_notify(s->server, s->shutdown_cq, &s->shutdown_tag);
    gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                      gpr_time_from_millis(s->cfg.grace_ms, GPR_TIMESPAN));
    struct worker *pump = &s->workers[s->n_workers - 1];
    bool any_db = false;
    for (int i = 0; i < s->n_workers; i++)
        any_db |= !s->workers[i].light && s->workers[i].running;
    if (!pump->running || !any_db) {
        /* Start-up failed part-way. Calls that arrived meanwhile hold their connections,
         * and the shutdown would wait for them for ever: take the light worker's
         * completions here if it never started, and refuse the database calls if no
         * database worker will take them, until the shutdown is done. */
        bool cancelled = false;
        for (;;) {
            if (!any_db)
                refuse_queued(s);
            grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, &s->shutdown_tag,
                                                        gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_OP_COMPLETE)
                break;
            if (!cancelled && gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), until) > 0) {
                grpc_server_cancel_all_calls(s->server);
                cancelled = true;
            }
            if (!pump->running) {
                ev =
                    grpc_completion_queue_next(pump->cq,
                                               gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                            gpr_time_from_millis(50, GPR_TIMESPAN)),
                                               NULL);
                if (ev.type == GRPC_OP_COMPLETE)
                    handle_event(pump, ev);
            } else {
                gpr_sleep_until(gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                             gpr_time_from_millis(50, GPR_TIMESPAN)));
            }
        }
    } else {
        grpc_event ev = grpc_completion_queue_pluck(s->shutdown_cq, &s->shutdown_tag, until, NULL);
        if (ev.type != GRPC_OP_COMPLETE) {
            grpc_server_cancel_all_calls(s->server);
            grpc_completion_queue_pluck(s->shutdown_cq, &s->shutdown_tag,
                                        gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        }
    }
    rpc_close_all_streams(s);
    grpc_server_cancel_all_calls(s->server); /* open streams end with CANCELLED */
    /* The database workers finish what is queued (those calls are cancelled by now, so
     * that is quick), then leave. Only threads that were created are joined. */
    pthread_mutex_lock(&s->q_mu);
    s->q_stop = true;
    pthread_cond_broadcast(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    for (int i = 0; i < s->n_workers; i++)
        if (!s->workers[i].light && s->workers[i].running) {
            pthread_join(s->workers[i].thread, NULL);
            s->workers[i].running = false;
        }
    /* Start-up failed part-way: calls no worker will take are refused here; workers
     * without a thread are released here. */
    refuse_queued(s);
    for (int i = 0; i < s->n_workers; i++) {
        struct worker *w = &s->workers[i];
        if (!w->light && w->inited && s->h.worker_done)
            s->h.worker_done(w->user);
        if (!w->light)
            w->inited = false;
    }
    /* Last the light worker, which took every completion until now. */
    grpc_completion_queue_shutdown(pump->cq);
    if (pump->running) {
        pthread_join(pump->thread, NULL);
        pump->running = false;
    } else {
        worker_main(pump); /* drains the queue (its accepts come back failed) */
    }
    s->started = false;
}

void rpc_server_free(rpc_server *s)
{
    if (!s)
        return;
    if (s->server)
        grpc_server_destroy(s->server);
    for (int i = 0; i < s->n_workers; i++)
        if (s->workers[i].cq)
            grpc_completion_queue_destroy(s->workers[i].cq);
    if (s->shutdown_cq) {
        grpc_completion_queue_shutdown(s->shutdown_cq);
        grpc_completion_queue_destroy(s->shutdown_cq);
    }
    for (size_t i = 0; i < s->n_methods; i++)
        free(s->methods[i].path);
    free(s->methods);
    free(s->workers);
    pthread_mutex_destroy(&s->streams_mu);
    pthread_mutex_destroy(&s->q_mu);
    pthread_cond_destroy(&s->q_cv);
    free(s);
}
