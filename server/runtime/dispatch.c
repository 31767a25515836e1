/* dispatch.c — the path of every call through the method table:
 *   authenticate (token) → authorise (role) → decode → check → transaction {
 *     caller from users table → claim request id → handler → audit → store response
 *   } → encode → one log line.
 * Handlers only read c->req and fill c->resp; everything generic happens here once. */
#include "dispatch.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db.h"
#include "error_details.h"
#include "idempotency.h"
#include "log.h"
#include "metadata.h"
#include "method.h"
#include "metrics.h"
#include "pb_check.h"
#include "token.h"

#define ATTEMPTS 3 /* serialization failures and deadlocks are retried this often */

#define SCOPE_CACHE 64

/* Org-unit paths never change (the schema forbids moving a unit), so each worker keeps
 * the paths of the scopes it has seen and a call can start without asking for them. */
struct scope_entry {
    int64_t id;
    char path[120];
};

struct worker {
    int index;
    db *db;            /* NULL on the light worker (health, reflection) */
    db *db_read;       /* the report replica (config db_read), NULL when none */
    bool primary_only; /* this call's read failed on the replica: run it on the primary */
    arena *arena;
    struct scope_entry scopes[SCOPE_CACHE];
};

/* Calls running now per user, for max_calls_per_user: the user each database worker
 * is serving (0: none). A call looks at every worker's entry under the lock; there are
 * at most 256 workers and the lock is held for that scan only. */
#define MAX_WORKERS 256
static pthread_mutex_t busy_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t busy_uid[MAX_WORKERS + 1];

static const gs_config *cfg;
/* Swapped whole by dispatch_set_keyring (SIGHUP reload); a call loads it once. */
static _Atomic(const gs_keyring *) keyring;
static const pb_limits limits = {.max_string = 4096, .max_repeated = 10000, .max_depth = 16};

void dispatch_init(const gs_config *config, const gs_keyring *keys)
{
    cfg = config;
    atomic_store(&keyring, keys);
}

void dispatch_set_keyring(const gs_keyring *keys)
{
    atomic_store(&keyring, keys);
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------------ workers */

/* Start-up only: running out of memory here stops the server before it serves. */
static void *worker_init(int index, bool with_db)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w || !(w->arena = arena_new(64 * 1024))) {
        fputs("gridstockd: out of memory starting a worker\n", stderr);
        abort();
    }
    w->index = index;
    arena_set_limit(w->arena, (size_t)cfg->max_call_bytes);
    if (with_db) {
        w->db = db_open(cfg->db);
        char name[32]; /* the connection's label in logs and metrics (ops) */
        snprintf(name, sizeof name, "worker-%d", index);
        db_set_name(w->db, name);
        if (cfg->db_read && *cfg->db_read) {
            /* any server will do: a replica is a standby, and a read-only one is fine */
            w->db_read = db_open_attrs(cfg->db_read, "any");
            snprintf(name, sizeof name, "worker-%d-read", index);
            db_set_name(w->db_read, name);
        }
    }
    return w;
}

static void worker_done(void *p)
{
    struct worker *w = p;
    if (w->db)
        db_close(w->db);
    if (w->db_read)
        db_close(w->db_read);
    arena_free(w->arena);
    free(w);
}

/* ------------------------------------------------------------------ steps */

static void call_setup(call *c, struct worker *w, const rpc_request *req)
{
    memset(c, 0, sizeof *c);
    c->method = req->method;
    c->worker = w;
    c->arena = w->arena;
    c->peer = req->peer ? req->peer : "";
    c->request_id = req->request_id ? req->request_id : "";
    c->deadline_ms = req->deadline_ms;
    c->who.login = "";
    c->who.scope_path = "";
}

/* Token → claims → role; permission check. No database. */
static gs_code authenticate(call *c, const rpc_request *req, gs_token_claims *claims)
{
    const method_def *m = c->method;
    if (m->perm == PERM_NONE)
        return GS_OK;
    const char *tok = NULL;
    switch (gs_md_bearer(req->authorization, &tok)) {
    case MD_AUTH_MISSING:
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_MISSING,
                             "missing bearer token (authorization metadata)");
    case MD_AUTH_NOT_BEARER:
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_MISSING,
                             "authorization metadata must be \"Bearer <token>\"");
    case MD_AUTH_OK:
        break;
    }
    gs_token_result tr = gs_token_verify(atomic_load(&keyring), tok, (int64_t)time(NULL), claims);
    if (tr != TOKEN_OK)
        return call_fail_why(c, GS_UNAUTHENTICATED,
                             tr == TOKEN_EXPIRED ? GS_R_TOKEN_EXPIRED : GS_R_TOKEN_INVALID,
                             "invalid token: %s", gs_token_result_str(tr));
    /* tls_client_is_user: the connection's certificate names the user the token is for (on a
     * mutual TLS listener every call has a certificate; none at all is refused too) */
    if (cfg->tls_client_is_user && cfg->tls_client_ca && *cfg->tls_client_ca &&
        (!req->peer_identity || strcmp(req->peer_identity, claims->sub) != 0))
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_CERTIFICATE_NOT_USER,
                             "the client certificate (%.64s) is not the token's user %.64s",
                             req->peer_identity ? req->peer_identity : "none", claims->sub);
    int role = gs_role_from_name(claims->role);
    if (role < 0)
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_INVALID,
                             "invalid token: unknown role");
    c->who.user_id = claims->uid;
    c->who.role = (gs_role)role;
    c->who.scope_id = claims->scope;
    c->who.login = arena_strdup(c->arena, claims->sub);
    if (!gs_role_has(c->who.role, m->perm))
        return call_fail_why(c, GS_PERMISSION_DENIED, GS_R_ROLE_NOT_ALLOWED,
                             "role %s may not call %s (needs %s)", claims->role, m->desc->name,
                             gs_perm_name(m->perm));
    if (m->flags & MF_MUTATES) {
        switch (gs_md_request_id(c->request_id)) {
        case MD_RID_MISSING:
            return call_fail_why(c, GS_INVALID_ARGUMENT, GS_R_REQUEST_ID_MISSING,
                                 "x-request-id metadata: required on %s (it changes data)",
                                 m->desc->name);
        case MD_RID_INVALID:
            return call_fail_why(c, GS_INVALID_ARGUMENT, GS_R_REQUEST_ID_MISSING,
                                 "x-request-id metadata: at most 128 bytes of UTF-8");
        case MD_RID_OK:
            break;
        }
    }
    return GS_OK;
}

static gs_code over_budget(call *c)
{
    return call_fail_why(c, GS_RESOURCE_EXHAUSTED, GS_R_CALL_TOO_LARGE,
                         "this call needs more memory than max_call_bytes (%d bytes) allows: ask "
                         "for less (a smaller page_size)",
                         cfg->max_call_bytes);
}

static gs_code decode(call *c, const rpc_request *req, const ProtobufCMessageDescriptor *in)
{
    char werr[300];
    if (pb_check_wire(in, req->data, req->len, &limits, werr, sizeof werr))
        return call_fail_why(c, GS_INVALID_ARGUMENT, GS_R_REQUEST_MALFORMED, "%s", werr);
    c->req = protobuf_c_message_unpack(in, arena_pb_allocator(c->arena), req->len, req->data);
    if (!c->req && arena_failed(c->arena))
        return over_budget(c);
    if (!c->req)
        return call_fail_why(c, GS_INVALID_ARGUMENT, GS_R_REQUEST_MALFORMED,
                             "malformed request: not a valid %s message", in->name);
    char err[300];
    if (pb_check(c->req, &limits, err, sizeof err))
        return call_fail(c, GS_INVALID_ARGUMENT, "%s", err);
    return GS_OK;
}

/* The caller as the database knows them now: active, not revoked, same role; the scope
 * is taken from the users table (a moved user's old tokens follow the move). */
static const char SQL_CALLER[] =
    "SELECT u.login, u.role, u.scope_id, ou.path::text, u.active,"
    "       u.tokens_valid_after > to_timestamp($2::bigint)"
    "  FROM users u JOIN org_units ou ON ou.id = u.scope_id WHERE u.id = $1::bigint";

/* Checks the caller row fetched by SQL_CALLER and takes the scope from it. */
static gs_code caller_check(call *c, const gs_token_claims *claims, const db_res *r)
{
    if (db_rows(r) == 0 || strcmp(db_str(r, 0, 0), claims->sub) != 0)
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_INVALID,
                             "invalid token: unknown user");
    if (!db_bool(r, 0, 4))
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_USER_DEACTIVATED, "user %s is deactivated",
                             claims->sub);
    if (db_bool(r, 0, 5))
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_REVOKED,
                             "token revoked: sign in again");
    if (strcmp(db_str(r, 0, 1), claims->role) != 0)
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_REVOKED,
                             "token role no longer matches the user: sign in again");
    if (db_i64(r, 0, 2) != claims->scope)
        return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_REVOKED,
                             "token scope no longer matches the user: sign in again");
    return GS_OK;
}

static struct scope_entry *scope_slot(struct worker *w, int64_t id)
{
    return &w->scopes[(uint64_t)id % SCOPE_CACHE];
}

static const char SQL_SCOPE_PATH[] = "SELECT path::text FROM org_units WHERE id = $1::bigint";

static int64_t tx_timeout_ms(const call *c)
{
    int64_t t = c->method->timeout_ms > 0 ? c->method->timeout_ms : cfg->statement_timeout_ms;
    if (c->deadline_ms >= 0 && c->deadline_ms < t)
        t = c->deadline_ms > 0 ? c->deadline_ms : 1;
    return t;
}

static gs_code pack_response(call *c, rpc_reply *reply)
{
    size_t n = protobuf_c_message_get_packed_size(c->resp);
    reply->data = malloc(n ? n : 1);
    if (!reply->data)
        return over_budget(c);
    reply->len = protobuf_c_message_pack(c->resp, reply->data);
    return GS_OK;
}

static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_TIMEOUT[] = "SELECT set_config('statement_timeout', $1, false)";

/* The runtime's statements before the handler, and what checks their results. */
struct prologue {
    db_deferred deferred;
    const gs_token_claims *claims;
    const uint8_t *hash;
    bool *replayed;
    rpc_reply *reply;
    db_res *caller_row, *claim, *scope_row;
    int64_t timeout;
    bool need_caller, tx;
};

static gs_code prologue_check(call *c, void *arg)
{
    struct prologue *p = arg;
    db_set_timeout_known(c->db, p->timeout);
    if (p->need_caller)
        GS_TRY(caller_check(c, p->claims, p->caller_row));
    if (p->scope_row) {
        if (db_rows(p->scope_row) == 0)
            return call_fail_why(c, GS_UNAUTHENTICATED, GS_R_TOKEN_INVALID,
                                 "invalid token: unknown scope");
        struct scope_entry *e = scope_slot(c->worker, p->claims->scope);
        const char *path = db_str(p->scope_row, 0, 0);
        c->who.scope_path = path;
        if (strlen(path) < sizeof e->path) {
            e->id = p->claims->scope;
            snprintf(e->path, sizeof e->path, "%s", path);
        }
    }
    if (p->tx) {
        GS_TRY(idem_claimed(c, p->claim, p->hash, p->replayed, p->reply));
        if (*p->replayed) /* stops the handler; run_call answers from the stored response */
            return call_fail(c, GS_ABORTED, "replayed");
    }
    return GS_OK;
}

/* The connection a call runs on: the report replica (db_read) for reads that need not see
 * the caller's own writes, when one is set and reachable; the primary for the rest. The
 * method table says which a method is (MF_MUTATES, MF_READS_OWN_WRITES). */
static db *call_db(struct worker *w, const method_def *m)
{
    if (w->db_read && !w->primary_only && !(m->flags & (MF_MUTATES | MF_READS_OWN_WRITES)) &&
        db_ok(w->db_read))
        return w->db_read;
    return w->db;
}

/* Queues everything the runtime needs before the handler: BEGIN (mutating calls), the
 * statement timeout if it changed, the caller's row (so revocation, deactivation and
 * role or scope changes act on the next call, in every server process), the request-id
 * claim (mutating calls). These ride in one round trip with the handler's first
 * statement (db_defer); only a scope path this worker has not seen yet costs a round
 * trip of its own. Reads run without an explicit transaction. */
static gs_code prologue(call *c, const gs_token_claims *cl, const uint8_t *hash, bool *replayed,
                        rpc_reply *reply)
{
    const method_def *m = c->method;
    db *d = call_db(c->worker, m);
    GS_TRY(db_attach(c, d));
    struct prologue *p = arena_alloc(c->arena, sizeof *p);
    p->claims = cl;
    p->hash = hash;
    p->replayed = replayed;
    p->reply = reply;
    p->tx = (m->flags & MF_MUTATES) != 0;
    p->need_caller = m->perm != PERM_NONE;
    p->timeout = tx_timeout_ms(c);
    db_stmt *st = p->deferred.stmts;
    int n = 0;
    if (p->tx)
        st[n++] = (db_stmt){SQL_BEGIN, 0, {NULL}, NULL};
    if (db_timeout(d) != p->timeout)
        st[n++] = (db_stmt){SQL_TIMEOUT, 1, {call_i64(c, p->timeout)}, NULL};
    bool scope_known = true;
    if (p->need_caller) {
        st[n++] =
            (db_stmt){SQL_CALLER, 2, {call_i64(c, cl->uid), call_i64(c, cl->iat)}, &p->caller_row};
        c->who.scope_id = cl->scope;
        struct scope_entry *e = scope_slot(c->worker, cl->scope);
        if (e->id == cl->scope && e->path[0]) {
            c->who.scope_path = arena_strdup(c->arena, e->path);
        } else {
            st[n++] = (db_stmt){SQL_SCOPE_PATH, 1, {call_i64(c, cl->scope)}, &p->scope_row};
            scope_known = false;
        }
    }
    if (p->tx)
        idem_claim_stmt(c, hash, &st[n++], &p->claim);
    p->deferred.n = n;
    p->deferred.check = prologue_check;
    p->deferred.arg = p;
    db_defer(c, &p->deferred);
    return scope_known ? GS_OK : db_flush(c);
}

/* After the handler of a mutating call, one round trip: audit row, stored response,
 * COMMIT. */
static gs_code epilogue(call *c, const rpc_reply *reply)
{
    db_stmt st[3];
    audit_stmt(c, &st[0]);
    idem_store_stmt(c, reply->data, reply->len, &st[1]);
    st[2] = (db_stmt){SQL_COMMIT, 0, {NULL}, NULL};
    return db_batch(c, st, 3);
}

/* One attempt of a database-backed call. GS_OK with reply filled (fresh or replayed). */
static gs_code run_call(call *c, const gs_token_claims *claims, const uint8_t *hash,
                        rpc_reply *reply, bool *replayed)
{
    const method_def *m = c->method;
    bool tx = (m->flags & MF_MUTATES) != 0;
    gs_code rc = prologue(c, claims, hash, replayed, reply);
    if (rc == GS_OK) {
        c->resp = call_msg(c, m->desc->output);
        rc = m->handler(c);
        if (rc == GS_OK && c->code != GS_OK)
            rc = c->code;              /* a handler that recorded an error but returned OK */
        gs_code flushed = db_flush(c); /* the prologue, if the handler ran no statement */
        if (flushed != GS_OK)
            rc = flushed;
    }
    if (*replayed) {
        db_rollback(c);
        return GS_OK;
    }
    if (rc == GS_OK)
        rc = pack_response(c, reply);
    if (rc == GS_OK && tx)
        rc = epilogue(c, reply);
    if (rc != GS_OK) {
        if (tx)
            db_rollback(c);
        free(reply->data);
        reply->data = NULL;
        reply->len = 0;
    }
    return rc;
}

static void log_call(const call *c, const char *path, gs_code code, int64_t t0, bool replayed)
{
    enum log_level level = code == GS_OK ? LOG_INFO : code == GS_INTERNAL ? LOG_ERROR : LOG_INFO;
    int64_t us = now_us() - t0;
    metrics_call(c->method, code, us); /* per-method slot; ends metrics_begin (ops) */
    if (replayed)
        metrics_replay();
    if (!log_enabled(level))
        return;
    log_event(level, "call", "method", path, "request_id", c->request_id, "user", c->who.login,
              "status", gs_code_name(code), "ms", log_ms(us), "peer", c->peer, "replay",
              replayed ? "1" : NULL, "error", code == GS_OK ? NULL : c->message, NULL);
}

static void finish_call(call *c)
{
    db_call_done(c);
    arena_reset(c->arena);
}

/* ------------------------------------------------------------------ guards */

/* Runs body(c, arg) with the call's arena set to jump back here when the call passes
 * max_call_bytes or malloc fails: the call then ends RESOURCE_EXHAUSTED and the process
 * carries on. Everything the body and the handlers it runs allocate is arena memory; the
 * database layer never jumps (it uses arena_try_alloc between pipeline reads), so a jump
 * leaves at most an open transaction (the caller rolls it back) and results filed under
 * the call (cleared at its end). *jumped says which way it came back. */
static gs_code guarded(call *c, gs_code (*body)(call *c, void *arg), void *arg, bool *jumped)
{
    jmp_buf jb;
    *jumped = false;
    if (setjmp(jb) != 0) {
        arena_set_jump(c->arena, NULL);
        *jumped = true;
        c->deferred = NULL; /* statements not sent yet stay unsent */
        return over_budget(c);
    }
    arena_set_jump(c->arena, &jb);
    gs_code rc = body(c, arg);
    arena_set_jump(c->arena, NULL);
    return rc;
}

/* max_calls_per_user: claims this worker's entry for the caller, or fails the call when
 * the caller already has that many calls running on other workers. */
static gs_code user_slot_take(call *c)
{
    int cap = cfg->max_calls_per_user;
    struct worker *w = c->worker;
    if (cap <= 0 || c->who.user_id == 0 || w->index < 0 || w->index >= MAX_WORKERS)
        return GS_OK;
    int running = 0;
    pthread_mutex_lock(&busy_mu);
    for (int i = 0; i < MAX_WORKERS; i++)
        running += busy_uid[i] == c->who.user_id;
    if (running < cap)
        busy_uid[w->index] = c->who.user_id;
    pthread_mutex_unlock(&busy_mu);
    if (running >= cap) {
        metrics_user_cap_refused();
        return call_fail_why(
            c, GS_RESOURCE_EXHAUSTED, GS_R_TOO_MANY_CALLS,
            "user %s already has %d call(s) running (max_calls_per_user): wait for "
            "them to finish",
            c->who.login, cap);
    }
    return GS_OK;
}

static void user_slot_release(call *c)
{
    struct worker *w = c->worker;
    if (w->index < 0 || w->index >= MAX_WORKERS)
        return;
    pthread_mutex_lock(&busy_mu);
    busy_uid[w->index] = 0;
    pthread_mutex_unlock(&busy_mu);
}

/* ------------------------------------------------------------------ rpc callbacks */

struct unary_args {
    const rpc_request *req;
    rpc_reply *reply;
    gs_token_claims *claims;
    bool replayed;
};

/* Decode, then the handler: directly (no database) or in up to ATTEMPTS transactions. */
static gs_code unary_body(call *c, void *arg)
{
    struct unary_args *a = arg;
    const method_def *m = c->method;
    gs_code rc = decode(c, a->req, m->desc->input);
    if (rc == GS_OK && c->deadline_ms == 0)
        rc = call_fail(c, GS_DEADLINE_EXCEEDED, "deadline exceeded before the call started");
    if (rc == GS_OK && (m->flags & MF_NO_DB)) {
        c->resp = call_msg(c, m->desc->output);
        rc = m->handler(c);
        if (rc == GS_OK)
            rc = pack_response(c, a->reply);
    } else if (rc == GS_OK) {
        uint8_t hash[32] = {0};
        if (m->flags & MF_MUTATES)
            rc = idem_hash(c, m->desc->name, hash);
        c->worker->primary_only = false; /* (a call that jumped out may have left it set) */
        for (int attempt = 0; rc == GS_OK && attempt < ATTEMPTS; attempt++) {
            c->code = GS_OK;
            c->message[0] = '\0';
            c->audit_object = c->audit_summary = NULL;
            c->deferred = NULL;
            db_call_done(c);
            rc = run_call(c, a->claims, hash, a->reply, &a->replayed);
            if (rc == GS_UNAVAILABLE && c->db && c->db == c->worker->db_read &&
                !c->worker->primary_only) {
                /* the replica went away under a read (nothing to undo): the primary answers */
                c->worker->primary_only = true;
                rc = GS_OK;
                attempt--;
                continue;
            }
            if (rc == GS_OK || !db_retryable(c))
                break;
            metrics_retry();
            if (attempt + 1 < ATTEMPTS)
                rc = GS_OK;
        }
        c->worker->primary_only = false;
    }
    return rc;
}

/* Ends reply with the call's outcome: on failure no message, the status and its
 * google.rpc.Status details. */
static void reply_with(call *c, gs_code rc, rpc_reply *reply)
{
    reply->code = rc;
    if (rc == GS_OK)
        return;
    if (c->code != rc) /* an outcome no call_fail recorded (a replayed failure cannot be) */
        c->code = rc;
    snprintf(reply->message, sizeof reply->message, "%s", c->message);
    free(reply->data);
    reply->data = NULL;
    reply->len = 0;
    reply->details = error_details_of_call(c, &reply->details_len);
}

/* How a unary or server-streaming call begins: its clock (returned), the in-flight gauge
 * (log_call ends it), the call set up and no token claims yet. */
static int64_t call_begin(call *c, struct worker *w, const rpc_request *req,
                          gs_token_claims *claims)
{
    int64_t t0 = now_us();
    metrics_begin(); /* in-flight gauge; log_call ends it (ops) */
    call_setup(c, w, req);
    memset(claims, 0, sizeof *claims);
    return t0;
}

static void on_unary(void *wp, const rpc_request *req, rpc_reply *reply)
{
    call c;
    gs_token_claims claims;
    int64_t t0 = call_begin(&c, wp, req, &claims);
    struct unary_args a = {req, reply, &claims, false};
    bool jumped = false, slot = false;
    gs_code rc = authenticate(&c, req, &claims);
    if (rc == GS_OK && (rc = user_slot_take(&c)) == GS_OK)
        slot = true;
    if (rc == GS_OK)
        rc = guarded(&c, unary_body, &a, &jumped);
    if (jumped) { /* whatever the call had begun is undone */
        if (c.db && (c.method->flags & MF_MUTATES))
            db_rollback(&c);
        a.replayed = false;
    }
    if (a.replayed)
        rc = reply->code;
    reply_with(&c, rc, reply);
    if (slot)
        user_slot_release(&c);
    log_call(&c, req->path, rc, t0, a.replayed);
    finish_call(&c);
}

struct stream_args {
    const rpc_request *req;
    gs_token_claims *claims;
    rpc_stream *st;
};

static gs_code stream_body(call *c, void *arg)
{
    struct stream_args *a = arg;
    const method_def *m = c->method;
    gs_code rc = decode(c, a->req, m->desc->input);
    if (rc == GS_OK && !(m->flags & MF_NO_DB)) {
        bool replayed = false;
        rc = prologue(c, a->claims, NULL, &replayed, NULL);
        if (rc == GS_OK)
            rc = db_flush(c);
    }
    if (rc == GS_OK)
        rc = m->stream(c, a->st);
    return rc;
}

static void on_stream_start(void *wp, const rpc_request *req, rpc_stream *st)
{
    call c;
    gs_token_claims claims;
    int64_t t0 = call_begin(&c, wp, req, &claims);
    struct stream_args a = {req, &claims, st};
    bool jumped = false;
    gs_code rc = authenticate(&c, req, &claims);
    c.who.token_iat = claims.iat;
    c.who.token_exp = claims.exp;
    if (rc == GS_OK)
        rc = guarded(&c, stream_body, &a, &jumped);
    if (rc != GS_OK) {
        size_t n = 0;
        if (c.code != rc)
            c.code = rc;
        uint8_t *details = error_details_of_call(&c, &n);
        rpc_stream_finish_details(st, rc, c.message, details, n);
        rpc_stream_unref(st);
    }
    log_call(&c, req->path, rc, t0, false);
    finish_call(&c);
}

static void on_bidi_start(void *wp, const rpc_request *req)
{
    (void)wp, (void)req;
    metrics_begin(); /* in-flight gauge; on_finished ends it */
}

static gs_code bidi_body(call *c, void *arg)
{
    struct unary_args *a = arg;
    const method_def *m = c->method;
    gs_code rc = decode(c, a->req, m->desc->input);
    if (rc == GS_OK) {
        c->resp = call_msg(c, m->desc->output);
        rc = m->handler(c);
    }
    if (rc == GS_OK)
        rc = pack_response(c, a->reply);
    return rc;
}

static void on_bidi_message(void *wp, const rpc_request *req, rpc_reply *reply)
{
    struct worker *w = wp;
    call c;
    call_setup(&c, w, req);
    struct unary_args a = {req, reply, NULL, false};
    bool jumped;
    gs_code rc = guarded(&c, bidi_body, &a, &jumped);
    reply_with(&c, rc, reply);
    finish_call(&c);
}

/* The end of a call the transport finished itself: a bidi call (one log line and the
 * method's metrics, like any other call) or an answer without a method (UNIMPLEMENTED,
 * or UNAVAILABLE while stopping). */
static void on_finished(const rpc_request *req, gs_code code, int64_t micros)
{
    const method_def *m = req->method;
    if (m) {
        metrics_call(m, code, micros);
        enum log_level level = code == GS_INTERNAL ? LOG_ERROR : LOG_INFO;
        if (log_enabled(level))
            log_event(level, "call", "method", req->path, "request_id",
                      req->request_id ? req->request_id : "", "user", "", "status",
                      gs_code_name(code), "ms", log_ms(micros), "peer", req->peer ? req->peer : "",
                      NULL);
        return;
    }
    metrics_call_path(req->path, code, micros); /* looked up by path (ops) */
    if (code == GS_UNIMPLEMENTED)
        log_event(LOG_INFO, "call", "method", req->path, "status", gs_code_name(code), NULL);
}

const rpc_handlers dispatch_handlers = {
    .worker_init = worker_init,
    .worker_done = worker_done,
    .unary = on_unary,
    .stream_start = on_stream_start,
    .bidi_start = on_bidi_start,
    .bidi_message = on_bidi_message,
    .finished = on_finished,
};

int dispatch_register(rpc_server *srv)
{
    for (service_def *const *sp = methods_services(); *sp; sp++)
        for (size_t i = 0; i < (*sp)->n_methods; i++) {
            method_def *m = &(*sp)->methods[i];
            if (rpc_method_add(srv, m->path, m->kind, m, (m->flags & MF_NO_DB) != 0))
                return -1;
        }
    return 0;
}
