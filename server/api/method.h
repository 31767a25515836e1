/* method.h — the method table. Each proto service is one service_def whose rows name
 * the handler, the permission, and whether the method changes anything. The rows of the
 * gridstock services are generated from the options of each rpc (proto/gridstock/v1/
 * options.proto, scripts/gen_methods.py → gs_methods.c), with the typed handler
 * prototypes (<file>.rpc.h); only the standard services (health, reflection) write theirs
 * in C. The runtime derives path and message types from the protobuf-c service
 * descriptor and refuses to start if a row and the descriptor disagree. */
#ifndef GS_METHOD_H
#define GS_METHOD_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "auth.h"
#include "call.h"
#include "rpc.h"

enum method_flags {
    MF_MUTATES = 1 << 0, /* needs x-request-id; idempotent replay; audit row */
    MF_NO_DB = 1 << 1,   /* answered without a database transaction (health) */
    MF_PUBLIC = 1 << 2,  /* no token (PERM_NONE): only with MF_NO_DB (health, reflection) */
    /* a read that must see the caller's own writes: the primary even when db_read is set */
    MF_READS_OWN_WRITES = 1 << 3,
};

struct watch;
/* A server-streaming handler: validates the request (like a unary handler, inside a
 * read-only transaction) and registers the stream with its feeder; the runtime then
 * hands the stream over. */
typedef gs_code (*stream_fn)(call *c, rpc_stream *stream);
/* A bidi handler gets each request message and fills c->resp (reflection). Generated rows
 * point at adapters that call the typed handler with c->req and c->resp. */

typedef struct method_def {
    const char *name;   /* method name as in the .proto, e.g. "ListSites" */
    handler_fn handler; /* unary and bidi */
    gs_perm perm;
    unsigned flags;
    rpc_kind kind;
    stream_fn stream; /* RPC_SERVER_STREAM only */
    /* Database time this method may take when the client sets no shorter deadline; 0 =
     * the configured statement_timeout_ms. For batch calls over thousands of rows. */
    int timeout_ms;
    /* filled at start-up */
    const ProtobufCMethodDescriptor *desc;
    const ProtobufCServiceDescriptor *service;
    char path[160];
} method_def;

typedef struct service_def {
    const ProtobufCServiceDescriptor *desc;
    method_def *methods;
    size_t n_methods;
} service_def;

#define SERVICE_DEF(var, descriptor, rows)                                                         \
    service_def var = {&(descriptor), rows, sizeof(rows) / sizeof((rows)[0])}

/* Takes the domain services (services_table, generated) after the runtime's standard ones
 * (health, reflection), checks every service_def against its descriptor and fills
 * desc/path. A row without a permission is refused unless it is marked MF_PUBLIC and
 * MF_NO_DB. Returns 0, or -1 with a message naming the mismatch. */
int methods_resolve(service_def *const *domain, char *err, size_t errlen);

/* Every service the server offers, standard ones first, NULL-terminated; empty before
 * methods_resolve. */
service_def *const *methods_services(void);

#endif
