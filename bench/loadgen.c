/* loadgen.c — gridstock's load generator: keeps N calls of one scenario in flight on one
 * gRPC core completion queue (asynchronous, one thread), for a duration or a number of
 * iterations, and reports calls/s, latency percentiles and errors by status. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc_client.h"
#include "scenario.h"

#define EXIT_SKIPPED 3 /* the scenario's service is not offered by the server */
#define MAX_LOGINS 64
#define REQ_CAP (1u << 20)

static const char *const status_names[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};
#define N_STATUS 17
#define ST_BAD_REPLY N_STATUS /* OK but the reply was not what the scenario expected */
#define ST_BATCH_FAILED (N_STATUS + 1)

typedef struct options {
    const char *addr;
    const char *scenario;
    int inflight;
    double duration_s;
    double warmup_s;
    uint64_t iterations; /* 0 = until the duration is over */
    double timeout_s;
    const char *mint; /* gridstockd binary to mint missing tokens with */
    int quick;
    int no_setup;
} options;

typedef struct token {
    char login[64];
    char *bearer; /* "Bearer <token>" */
    grpc_slice value;
} token;

/* A growing array of latencies in microseconds. */
typedef struct lat_vec {
    uint32_t *v;
    size_t n, cap;
} lat_vec;

typedef struct slot {
    lg_iter it;
    int active;
    grpc_call *call;
    grpc_metadata md[2];
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *recv;
    grpc_status_code status;
    grpc_slice details;
    uint64_t t_call, t_iter;
} slot;

typedef struct run {
    const options *opt;
    const lg_scenario *sc;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    token tokens[MAX_LOGINS];
    int n_tokens;
    uint64_t t0, t_measure, t_end; /* ns, monotonic */
    uint64_t next_iter, started_iters;
    int active;
    uint64_t calls, iters, units;
    uint64_t total_calls, setup_calls; /* every completed call, warm-up and set-up included */
    uint64_t errors[N_STATUS + 2];
    char *first_error[N_STATUS + 2];
    lat_vec call_lat, iter_lat;
    lat_vec step_lat[LG_MAX_STEPS]; /* per step of a multi-step scenario */
    uint8_t *reqbuf;
    uint32_t nonce;
} run;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void lat_push(lat_vec *l, uint64_t ns)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 65536;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v)
            die("out of memory");
    }
    uint64_t us = ns / 1000;
    l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Percentile p (0..100) of a sorted vector, in milliseconds (nearest rank). */
static double pct_ms(const lat_vec *l, double p)
{
    if (!l->n)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)l->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > l->n)
        rank = l->n;
    return l->v[rank - 1] / 1000.0;
}

/* ---------------------------------------------------------------- tokens */

static token *find_token(run *r, const char *login)
{
    for (int i = 0; i < r->n_tokens; i++)
        if (strcmp(r->tokens[i].login, login) == 0)
            return &r->tokens[i];
    return NULL;
}

static void add_token(run *r, const char *login, const char *tok)
{
    token *t = find_token(r, login);
    if (!t) {
        if (r->n_tokens == MAX_LOGINS)
            die("too many logins");
        t = &r->tokens[r->n_tokens++];
        snprintf(t->login, sizeof t->login, "%s", login);
    } else {
        free(t->bearer);
    }
    if (strncasecmp(tok, "bearer ", 7) == 0)
        tok += 7;
    if (asprintf(&t->bearer, "Bearer %s", tok) < 0)
        die("out of memory");
}

static void read_token_file(run *r, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char login[64], tok[4000];
        if (line[0] == '#' || sscanf(line, "%63s %3999s", login, tok) != 2)
            continue;
        add_token(r, login, tok);
    }
    fclose(f);
}

/* Mints a token for login with `<mint> token issue` (database and keyring from the
 * GRIDSTOCKD_* environment). */
static void mint_token(run *r, const char *login)
{
    char cmd[1024], out[4096];
    for (const char *p = login; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", *p))
            die("login %s: unexpected character", login);
    snprintf(cmd, sizeof cmd, "'%s' token issue --login '%s' --ttl 86400", r->opt->mint, login);
    FILE *p = popen(cmd, "r");
    if (!p)
        die("cannot run %s", cmd);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    if (pclose(p) != 0 || n == 0)
        die("%s failed", cmd);
    char *last = NULL, *save = NULL;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (*l)
            last = l;
    if (!last)
        die("%s printed no token", cmd);
    add_token(r, login, last);
}

static void prepare_tokens(run *r)
{
    for (int i = 0; i < r->sc->n_steps; i++) {
        const lg_step *st = &r->sc->steps[i];
        for (int k = 0; k < (st->spread > 0 ? st->spread : 1); k++) {
            char buf[64];
            const char *login = lg_step_login(st, (uint64_t)k, buf, sizeof buf);
            if (find_token(r, login))
                continue;
            if (!r->opt->mint)
                die("no token for %s: give --token %s=TOKEN, --tokens FILE or --mint GRIDSTOCKD",
                    login, login);
            mint_token(r, login);
        }
    }
    for (int i = 0; i < r->n_tokens; i++)
        r->tokens[i].value = grpc_slice_from_copied_string(r->tokens[i].bearer);
}

/* ---------------------------------------------------------------- set-up and probe calls */

typedef struct setup_priv {
    run *r;
    gs_client *client;
} setup_priv;

static int setup_call(lg_setup_ctx *ctx, const char *method, const char *login,
                      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                      ProtobufCMessage **resp, const char *request_id)
{
    setup_priv *sp = ctx->priv;
    token *t = find_token(sp->r, login);
    if (!t) {
        if (!sp->r->opt->mint) {
            fprintf(stderr, "loadgen: set-up needs a token for %s\n", login);
            return GRPC_STATUS_UNAUTHENTICATED;
        }
        mint_token(sp->r, login);
        t = find_token(sp->r, login);
        t->value = grpc_slice_from_copied_string(t->bearer);
    }
    size_t len = req ? protobuf_c_message_get_packed_size(req) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        die("out of memory");
    if (req)
        protobuf_c_message_pack(req, buf);
    gs_md md[2] = {{"authorization", t->bearer}, {"x-request-id", request_id}};
    gs_reply rep;
    gs_client_unary(sp->client, method, buf, len, md, request_id ? 2 : 1, 120, &rep);
    sp->r->setup_calls++;
    free(buf);
    int code = rep.code;
    if (code != 0) {
        fprintf(stderr, "loadgen: set-up %s: %s: %s\n", method,
                code < N_STATUS ? status_names[code] : "?", rep.details ? rep.details : "");
    } else if (resp_desc && resp) {
        *resp = protobuf_c_message_unpack(resp_desc, NULL, rep.body_len, rep.body);
        if (!*resp) {
            fprintf(stderr, "loadgen: set-up %s: cannot decode the reply\n", method);
            code = GRPC_STATUS_INTERNAL;
        }
    }
    gs_reply_clear(&rep);
    return code;
}

/* Every method of the scenario answers something other than UNIMPLEMENTED to an empty
 * request sent without a request id (so nothing can change). 1 when all are there. */
static int probe(run *r, gs_client *client)
{
    for (int i = 0; i < r->sc->n_steps; i++) {
        const lg_step *st = &r->sc->steps[i];
        char lb[64];
        token *t = find_token(r, lg_step_login(st, 0, lb, sizeof lb));
        gs_md md[1] = {{"authorization", t->bearer}};
        gs_reply rep;
        gs_client_unary(client, st->method, NULL, 0, md, 1, 30, &rep);
        r->setup_calls++;
        int code = rep.code;
        if (code == GRPC_STATUS_UNAVAILABLE)
            die("server at %s unavailable: %s", r->opt->addr, rep.details ? rep.details : "");
        gs_reply_clear(&rep);
        if (code == GRPC_STATUS_UNIMPLEMENTED) {
            printf("skipped scenario=%s reason=\"%s not offered by the server\"\n", r->sc->name,
                   st->method);
            return 0;
        }
    }
    return 1;
}

/* ---------------------------------------------------------------- the load */

static void count_error(run *r, int st, const char *details)
{
    r->errors[st]++;
    if (!r->first_error[st])
        r->first_error[st] = strdup(details ? details : "");
}

static void start_call(run *r, slot *s);

/* SIGUSR1: start no new iteration, finish the ones in flight and report (bench/run stops
 * the load it runs beside another scenario this way). */
static volatile sig_atomic_t g_stop;
static void on_usr1(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void start_iteration(run *r, slot *s)
{
    uint64_t t = now_ns();
    if (g_stop || t >= r->t_end || (r->opt->iterations && r->started_iters >= r->opt->iterations)) {
        s->active = 0;
        r->active--;
        return;
    }
    memset(&s->it, 0, sizeof s->it);
    s->it.n = r->next_iter++;
    if (t >= r->t_measure)
        r->started_iters++;
    s->t_iter = t;
    start_call(r, s);
}

static void start_call(run *r, slot *s)
{
    const lg_step *st = &r->sc->steps[s->it.step];
    int len = st->build(&s->it, r->reqbuf, REQ_CAP);
    if (len < 0)
        die("scenario %s step %d: cannot build the request", r->sc->name, s->it.step);
    char reqid[96];
    snprintf(reqid, sizeof reqid, "lg-%08x-%" PRIu64 "-%d", r->nonce, s->it.n, s->it.step);
    s->md[0].key = grpc_slice_from_static_string("authorization");
    char lb[64];
    s->md[0].value =
        grpc_slice_ref(find_token(r, lg_step_login(st, s->it.n, lb, sizeof lb))->value);
    s->md[1].key = grpc_slice_from_static_string("x-request-id");
    s->md[1].value = grpc_slice_from_copied_string(reqid);
    grpc_metadata_array_init(&s->initial);
    grpc_metadata_array_init(&s->trailing);
    s->recv = NULL;
    s->details = grpc_empty_slice();
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_millis((int64_t)(r->opt->timeout_s * 1000), GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string(st->method);
    s->call = grpc_channel_create_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, method,
                                       NULL, deadline, NULL);
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)r->reqbuf, (size_t)len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = 2;
    ops[0].data.send_initial_metadata.metadata = s->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &s->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &s->trailing;
    ops[5].data.recv_status_on_client.status = &s->status;
    ops[5].data.recv_status_on_client.status_details = &s->details;
    s->t_call = now_ns();
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    grpc_byte_buffer_destroy(send);
    if (e != GRPC_CALL_OK)
        die("grpc_call_start_batch: error %d", (int)e);
}

static char *slice_str(grpc_slice sl)
{
    size_t n = GRPC_SLICE_LENGTH(sl);
    char *out = malloc(n + 1);
    if (!out)
        die("out of memory");
    memcpy(out, GRPC_SLICE_START_PTR(sl), n);
    out[n] = '\0';
    return out;
}

/* Reads the reply of the step that just completed; returns a status index (0 = fine). */
static int read_reply(run *r, slot *s)
{
    const lg_step *st = &r->sc->steps[s->it.step];
    if (!st->resp)
        return 0;
    if (!s->recv)
        return ST_BAD_REPLY;
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, s->recv))
        return ST_BAD_REPLY;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *m = protobuf_c_message_unpack(st->resp, NULL, GRPC_SLICE_LENGTH(all),
                                                    GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    if (!m)
        return ST_BAD_REPLY;
    int rc = st->reply ? st->reply(&s->it, m) : 0;
    protobuf_c_message_free_unpacked(m, NULL);
    return rc < 0 ? ST_BAD_REPLY : 0;
}

static void finish_call(run *r, slot *s, int success)
{
    uint64_t t = now_ns();
    int measured = t >= r->t_measure && s->t_call >= r->t_measure;
    r->total_calls++;
    int st = success ? (int)s->status : ST_BATCH_FAILED;
    char *details = NULL;
    if (st == 0)
        st = read_reply(r, s);
    if (st != 0)
        details = slice_str(s->details);
    if (st == ST_BAD_REPLY && !*details) {
        free(details);
        details = strdup("reply without the fields the scenario needs");
    }
    if (measured) {
        r->calls++;
        lat_push(&r->call_lat, t - s->t_call);
        if (r->sc->n_steps > 1 && s->it.step < LG_MAX_STEPS)
            lat_push(&r->step_lat[s->it.step], t - s->t_call);
    }
    if (s->recv)
        grpc_byte_buffer_destroy(s->recv);
    grpc_slice_unref(s->details);
    grpc_slice_unref(s->md[0].value);
    grpc_slice_unref(s->md[1].value);
    grpc_metadata_array_destroy(&s->initial);
    grpc_metadata_array_destroy(&s->trailing);
    grpc_call_unref(s->call);
    s->call = NULL;
    if (st != 0) {
        if (measured)
            count_error(r, st, details);
        free(details);
        start_iteration(r, s);
        return;
    }
    if (++s->it.step < r->sc->n_steps) {
        start_call(r, s);
        return;
    }
    if (measured && s->t_iter >= r->t_measure) {
        r->iters++;
        r->units += s->it.units;
        lat_push(&r->iter_lat, t - s->t_iter);
    }
    start_iteration(r, s);
}

static void run_load(run *r, int n)
{
    slot *slots = calloc((size_t)n, sizeof *slots);
    if (!slots)
        die("out of memory");
    r->active = n;
    for (int i = 0; i < n; i++) {
        slots[i].active = 1;
        start_iteration(r, &slots[i]);
    }
    while (r->active > 0) {
        grpc_event ev = grpc_completion_queue_next(
            r->cq,
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(500, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            die("completion queue ended unexpectedly");
        finish_call(r, ev.tag, ev.success);
    }
    free(slots);
}

/* ---------------------------------------------------------------- report */

static void report(run *r, double secs)
{
    const lg_scenario *sc = r->sc;
    uint64_t errors = 0;
    for (int i = 1; i < N_STATUS + 2; i++)
        errors += r->errors[i];
    if (r->call_lat.n) /* qsort's base must not be NULL, even for no elements */
        qsort(r->call_lat.v, r->call_lat.n, sizeof *r->call_lat.v, cmp_u32);
    if (r->iter_lat.n)
        qsort(r->iter_lat.v, r->iter_lat.n, sizeof *r->iter_lat.v, cmp_u32);
    double cps = secs > 0 ? (double)r->calls / secs : 0;
    double ips = secs > 0 ? (double)r->iters / secs : 0;
    double ups = secs > 0 ? (double)r->units / secs : 0;
    const lat_vec *il = sc->n_steps > 1 ? &r->iter_lat : &r->call_lat;

    printf("scenario %s (%s): %d in flight, %.1f s measured\n", sc->name, sc->summary,
           r->opt->inflight, secs);
    printf("  calls       %" PRIu64 "  (%.1f calls/s), errors %" PRIu64 "\n", r->calls, cps,
           errors);
    printf("  latency ms  p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", pct_ms(&r->call_lat, 50),
           pct_ms(&r->call_lat, 95), pct_ms(&r->call_lat, 99), pct_ms(&r->call_lat, 100));
    if (sc->n_steps > 1)
        printf("  iterations  %" PRIu64 "  (%.1f/s), %d calls each; ms p50 %.3f  p99 %.3f  max "
               "%.3f\n",
               r->iters, ips, sc->n_steps, pct_ms(il, 50), pct_ms(il, 99), pct_ms(il, 100));
    for (int i = 0; sc->n_steps > 1 && i < sc->n_steps && i < LG_MAX_STEPS; i++) {
        lat_vec *sl = &r->step_lat[i];
        if (sl->n)
            qsort(sl->v, sl->n, sizeof *sl->v, cmp_u32);
        const char *m = strrchr(sc->steps[i].method, '/');
        printf("  step %d      %-28s ms p50 %.3f  p99 %.3f  max %.3f  (%zu calls)\n", i + 1,
               m ? m + 1 : sc->steps[i].method, pct_ms(sl, 50), pct_ms(sl, 99), pct_ms(sl, 100),
               sl->n);
    }
    if (sc->unit)
        printf("  %-11s %" PRIu64 "  (%.1f/s)\n", sc->unit, r->units, ups);
    for (int i = 1; i < N_STATUS + 2; i++) {
        if (!r->errors[i])
            continue;
        const char *name = i < N_STATUS        ? status_names[i]
                           : i == ST_BAD_REPLY ? "BAD_REPLY"
                                               : "BATCH_FAILED";
        printf("  error       %-20s %" PRIu64 "  first: %s\n", name, r->errors[i],
               r->first_error[i] ? r->first_error[i] : "");
    }
    /* one machine-readable line for bench/run */
    printf("result scenario=%s kind=%s steps=%d inflight=%d seconds=%.3f calls=%" PRIu64
           " calls_per_s=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f iterations=%" PRIu64
           " iter_per_s=%.1f iter_p50_ms=%.3f iter_p99_ms=%.3f units=%" PRIu64
           " units_per_s=%.1f errors=%" PRIu64 " total_calls=%" PRIu64 " setup_calls=%" PRIu64,
           sc->name, sc->kind, sc->n_steps, r->opt->inflight, secs, r->calls, cps,
           pct_ms(&r->call_lat, 50), pct_ms(&r->call_lat, 95), pct_ms(&r->call_lat, 99),
           pct_ms(&r->call_lat, 100), r->iters, ips, pct_ms(il, 50), pct_ms(il, 99), r->units, ups,
           errors, r->total_calls, r->setup_calls);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf(" cpu_s=%.3f", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                              (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    for (int i = 1; i < N_STATUS + 2; i++)
        if (r->errors[i])
            printf(" err_%s=%" PRIu64,
                   i < N_STATUS        ? status_names[i]
                   : i == ST_BAD_REPLY ? "BAD_REPLY"
                                       : "BATCH_FAILED",
                   r->errors[i]);
    printf("\n");
    /* and one line per step of a multi-step scenario */
    for (int i = 0; sc->n_steps > 1 && i < sc->n_steps && i < LG_MAX_STEPS; i++) {
        const char *m = strrchr(sc->steps[i].method, '/');
        printf("step scenario=%s step=%d method=%s calls=%zu p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
               sc->name, i + 1, m ? m + 1 : sc->steps[i].method, r->step_lat[i].n,
               pct_ms(&r->step_lat[i], 50), pct_ms(&r->step_lat[i], 99),
               pct_ms(&r->step_lat[i], 100));
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen [options] SCENARIO\n"
               "  -a, --addr HOST:PORT     server (default 127.0.0.1:50051, env GRIDSTOCK_ADDR)\n"
               "  -c, --inflight N         calls in flight (default 8)\n"
               "  -d, --duration S         measured seconds (default 10)\n"
               "  -n, --calls N            stop after N iterations (= calls for one-call "
               "scenarios)\n"
               "  -w, --warmup S           seconds run before measuring (default 1)\n"
               "  -t, --timeout S          deadline of each call (default 60)\n"
               "      --token LOGIN=TOKEN  bearer token for a login (repeatable)\n"
               "      --tokens FILE        lines of `login token`\n"
               "      --mint GRIDSTOCKD    mint missing tokens with `GRIDSTOCKD token issue`\n"
               "                           (database and keyring from GRIDSTOCKD_DB and\n"
               "                           GRIDSTOCKD_TOKEN_KEYS)\n"
               "      --no-setup           skip the scenario's data set-up\n"
               "      --quick              smaller set-up (smoke runs)\n"
               "SIGUSR1 ends the run early: no new iterations, the report when the calls in\n"
               "flight have ended.\n"
               "  -l, --list               list the scenarios and the logins they use\n"
               "Exit status: 0 no errors, 1 failure, 2 some calls failed, 3 scenario skipped\n"
               "(its service is not offered by the server).\n");
}

static void list_scenarios(void)
{
    for (size_t i = 0; i < lg_n_scenarios; i++) {
        const lg_scenario *sc = &lg_scenarios[i];
        if (sc->missing) {
            printf("%-22s %-5s unavailable: %s — %s\n", sc->name, sc->kind, sc->missing,
                   sc->summary);
            continue;
        }
        printf("%-22s %-5s %d call%s  logins:", sc->name, sc->kind, sc->n_steps,
               sc->n_steps > 1 ? "s" : " ");
        for (int j = 0; j < sc->n_steps; j++) {
            int seen = 0;
            for (int k = 0; k < j; k++)
                seen |= strcmp(sc->steps[k].login, sc->steps[j].login) == 0;
            if (seen)
                continue;
            if (sc->steps[j].spread > 0) {
                char a[64], b[64];
                printf(
                    " %s..%s", lg_step_login(&sc->steps[j], 0, a, sizeof a),
                    lg_step_login(&sc->steps[j], (uint64_t)sc->steps[j].spread - 1, b, sizeof b));
            } else {
                printf(" %s", sc->steps[j].login);
            }
        }
        printf("  — %s\n", sc->summary);
    }
}

int main(int argc, char **argv)
{
    options opt = {.addr = getenv("GRIDSTOCK_ADDR") ? getenv("GRIDSTOCK_ADDR") : "127.0.0.1:50051",
                   .inflight = 8,
                   .duration_s = 10,
                   .warmup_s = 1,
                   .timeout_s = 60};
    int warmup_given = 0;
    run r;
    memset(&r, 0, sizeof r);
    r.opt = &opt;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    enum { O_TOKEN = 256, O_TOKENS, O_MINT, O_NOSETUP, O_QUICK };
    static const struct option longopts[] = {{"addr", required_argument, NULL, 'a'},
                                             {"inflight", required_argument, NULL, 'c'},
                                             {"duration", required_argument, NULL, 'd'},
                                             {"calls", required_argument, NULL, 'n'},
                                             {"warmup", required_argument, NULL, 'w'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"token", required_argument, NULL, O_TOKEN},
                                             {"tokens", required_argument, NULL, O_TOKENS},
                                             {"mint", required_argument, NULL, O_MINT},
                                             {"no-setup", no_argument, NULL, O_NOSETUP},
                                             {"quick", no_argument, NULL, O_QUICK},
                                             {"list", no_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "a:c:d:n:w:t:lh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            opt.addr = optarg;
            break;
        case 'c':
            opt.inflight = atoi(optarg);
            break;
        case 'd':
            opt.duration_s = atof(optarg);
            break;
        case 'n':
            opt.iterations = strtoull(optarg, NULL, 10);
            break;
        case 'w':
            opt.warmup_s = atof(optarg);
            warmup_given = 1;
            break;
        case 't':
            opt.timeout_s = atof(optarg);
            break;
        case O_TOKEN: {
            char *eq = strchr(optarg, '=');
            if (!eq)
                die("--token wants LOGIN=TOKEN");
            *eq = '\0';
            add_token(&r, optarg, eq + 1);
            break;
        }
        case O_TOKENS:
            read_token_file(&r, optarg);
            break;
        case O_MINT:
            opt.mint = optarg;
            break;
        case O_NOSETUP:
            opt.no_setup = 1;
            break;
        case O_QUICK:
            opt.quick = 1;
            break;
        case 'l':
            list_scenarios();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 1;
    }
    opt.scenario = argv[optind];
    if (opt.inflight < 1 || opt.inflight > 10000)
        die("--inflight must be 1..10000");
    if (opt.timeout_s <= 0)
        die("--timeout must be positive");
    if (opt.iterations == 0 && opt.duration_s <= 0)
        die("give a positive --duration or --calls");
    if (opt.iterations && !warmup_given)
        opt.warmup_s = 0; /* a counted run measures every call */
    r.sc = lg_find_scenario(opt.scenario);
    if (!r.sc)
        die("no scenario %s (see --list)", opt.scenario);
    if (r.sc->missing) {
        printf("skipped scenario=%s reason=\"%s\"\n", r.sc->name, r.sc->missing);
        return EXIT_SKIPPED;
    }
    prepare_tokens(&r);

    char err[256];
    gs_client_config cc = {.target = opt.addr};
    gs_client *client = gs_client_new(&cc, err, sizeof err);
    if (!client)
        die("%s", err);
    if (!probe(&r, client)) {
        gs_client_free(client);
        return EXIT_SKIPPED;
    }
    if (r.sc->setup && !opt.no_setup) {
        setup_priv sp = {&r, client};
        lg_setup_ctx ctx = {setup_call, &sp, opt.quick};
        uint64_t t = now_ns();
        if (r.sc->setup(&ctx) != 0)
            die("set-up of %s failed", r.sc->name);
        fprintf(stderr, "loadgen: set-up of %s took %.1f s\n", r.sc->name,
                (double)(now_ns() - t) / 1e9);
    }

    grpc_init();
    grpc_arg args[1] = {
        {GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = 256 << 20}}};
    grpc_channel_args chargs = {1, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    r.channel = grpc_channel_create(opt.addr, creds, &chargs);
    grpc_channel_credentials_release(creds);
    r.cq = grpc_completion_queue_create_for_next(NULL);
    r.reqbuf = malloc(REQ_CAP);
    if (!r.reqbuf)
        die("out of memory");
    r.nonce = (uint32_t)(now_ns() ^ ((uint64_t)getpid() << 16));

    r.t0 = now_ns();
    r.t_measure = r.t0 + (uint64_t)(opt.warmup_s * 1e9);
    r.t_end = opt.iterations ? UINT64_MAX : r.t_measure + (uint64_t)(opt.duration_s * 1e9);
    run_load(&r, opt.inflight);
    /* a run stopped early (SIGUSR1) measured until the last call ended */
    double secs = (double)(now_ns() - r.t_measure) / 1e9;
    report(&r, secs);

    uint64_t errors = 0;
    for (int i = 1; i < N_STATUS + 2; i++)
        errors += r.errors[i];
    grpc_completion_queue_shutdown(r.cq);
    while (grpc_completion_queue_next(r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(r.cq);
    grpc_channel_destroy(r.channel);
    for (int i = 0; i < r.n_tokens; i++) {
        grpc_slice_unref(r.tokens[i].value);
        free(r.tokens[i].bearer);
    }
    for (int i = 0; i < N_STATUS + 2; i++)
        free(r.first_error[i]);
    free(r.call_lat.v);
    free(r.iter_lat.v);
    for (int i = 0; i < LG_MAX_STEPS; i++)
        free(r.step_lat[i].v);
    free(r.reqbuf);
    grpc_shutdown();
    gs_client_free(client);
    return errors ? 2 : 0;
}
