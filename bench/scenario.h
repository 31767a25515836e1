/* scenario.h — the load generator's scenario table: for each scenario the calls of one
 * iteration (method path, login whose token it carries, request builder, reply reader) and
 * an optional set-up run once before the load. */
#ifndef GS_BENCH_SCENARIO_H
#define GS_BENCH_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#define LG_MAX_VARS 8
#define LG_MAX_STEPS 8 /* steps of one scenario whose latencies are kept apart */

/* What one in-flight iteration carries from call to call. */
typedef struct lg_iter {
    uint64_t n;                /* iteration number, unique in the run (the per-call counter) */
    int step;                  /* index into the scenario's steps */
    int64_t vars[LG_MAX_VARS]; /* ids taken from earlier replies */
    uint64_t units;            /* work units counted by replies (postings, lines) */
} lg_iter;

/* Packs the request of one step into buf (cap bytes); returns its length, or -1. */
typedef int (*lg_build_fn)(lg_iter *it, uint8_t *buf, size_t cap);
/* Reads a successful reply (already unpacked with the step's response descriptor);
 * returns 0, or -1 when the reply is not what the scenario needs (counted as an error). */
typedef int (*lg_reply_fn)(lg_iter *it, const ProtobufCMessage *resp);

typedef struct lg_step {
    const char *method; /* "/gridstock.v1.SiteService/GetSite" */
    /* Whose bearer token the call carries. With spread > 0, a printf pattern with one %u:
     * iteration n uses login (n % spread) + 1, e.g. "staff.cm%02u" over 8 communities. */
    const char *login;
    lg_build_fn build;
    const ProtobufCMessageDescriptor *resp; /* unpacked for `reply`; NULL = not read */
    lg_reply_fn reply;
    int spread;
} lg_step;

/* The login of step st in iteration n (buf holds it when the step spreads). */
const char *lg_step_login(const lg_step *st, uint64_t n, char *buf, size_t cap);

/* Blocking calls for set-up (on lib/grpc_client). `call` returns the gRPC status code and
 * fills *resp (caller frees with protobuf_c_message_free_unpacked) when resp_desc is given;
 * details of a failure go to stderr. */
typedef struct lg_setup_ctx {
    int (*call)(struct lg_setup_ctx *ctx, const char *method, const char *login,
                const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                ProtobufCMessage **resp, const char *request_id);
    void *priv;
    int quick; /* a smoke run: set up less */
} lg_setup_ctx;

typedef struct lg_scenario {
    const char *name;
    const char *kind; /* "read" or "write": which pgbench figure it compares with */
    const char *summary;
    const char *unit; /* what `units` counts ("postings"), NULL when not counted */
    const lg_step *steps;
    int n_steps;
    int (*setup)(lg_setup_ctx *ctx); /* optional: 0, or -1 when the set-up failed */
    const char *missing;             /* non-NULL: cannot run yet, and why (no steps) */
} lg_scenario;

extern const lg_scenario lg_scenarios[];
extern const size_t lg_n_scenarios;

const lg_scenario *lg_find_scenario(const char *name);

/* Packs a message into buf; -1 when it does not fit. */
int lg_pack(const ProtobufCMessage *m, uint8_t *buf, size_t cap);

#endif
