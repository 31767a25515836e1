/* health.h — the standard gRPC health service (grpc.health.v1): one serving status for the
 * server ("") and every gridstock service, set by the lead's database monitor. */
#ifndef GS_HEALTH_H
#define GS_HEALTH_H

#include <stdbool.h>

#include "method.h"

extern service_def health_service;

/* Sets the status of "" and every gridstock.v1 service (SERVING or NOT_SERVING) and
 * pushes a change to every open Watch. Thread-safe. The status starts as SERVING. */
void health_set_serving(bool serving);
/* Ends every open Watch (UNAVAILABLE) and refuses new ones; from then on the status is
 * NOT_SERVING whatever health_set_serving says. Call when the server stops. */
void health_shutdown(void);

/* The stream handler of Watch (method table row). On GS_OK it keeps the reference the
 * runtime handed over for the callee; on an error the runtime finishes the stream. */
gs_code health_watch_start(call *c, rpc_stream *stream);

#endif
