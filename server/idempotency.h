/* idempotency.h — exactly-once for mutating calls: the client's request id, a hash of
 * the request and the response are stored in the call's own transaction. */
#ifndef GS_IDEMPOTENCY_H
#define GS_IDEMPOTENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "rpc.h"

/* SHA-256 over the method name and the canonical encoding of the decoded request. */
void idem_hash(const ProtobufCMessage *req, const char *method, uint8_t out[32]);
/* Claims (user, request id). First use: GS_OK, *replayed false. A retry of the same
 * request: GS_OK, *replayed true, reply holds the stored response. The same id with a
 * different request: ALREADY_EXISTS. Blocks while a concurrent twin is in flight. */
gs_code idem_claim(call *c, const uint8_t hash[32], bool *replayed, rpc_reply *reply);
/* Stores the response for later replays. */
gs_code idem_store(call *c, const uint8_t *resp, size_t len);

#endif
