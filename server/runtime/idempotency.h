/* idempotency.h — exactly-once for mutating calls: the client's request id, a hash of
 * the request and the response are stored in the call's own transaction. */
#ifndef GS_IDEMPOTENCY_H
#define GS_IDEMPOTENCY_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "config.h"
#include "db.h"
#include "rpc.h"

/* SHA-256 over the method name and the canonical encoding of the decoded request
 * (c->req). GS_OK, or fails the call (RESOURCE_EXHAUSTED past the call's memory cap,
 * INTERNAL if OpenSSL fails, logged). */
gs_code idem_hash(call *c, const char *method, uint8_t out[32]);
/* The claim of (user, request id) as a statement for the call's prologue batch; the
 * row count of its result goes to idem_claimed. `hash` must live until the batch ran. */
void idem_claim_stmt(call *c, const uint8_t hash[32], db_stmt *st, db_res **res);
/* After the claim ran. First use: GS_OK, *replayed false. A retry of the same request:
 * GS_OK, *replayed true, reply holds the stored response. The same id with a different
 * request: ALREADY_EXISTS. (A concurrent twin makes the claim wait for its commit.) */
gs_code idem_claimed(call *c, const db_res *claim, const uint8_t hash[32], bool *replayed,
                     rpc_reply *reply);
/* Stores the response for later replays (a statement for the epilogue batch). */
void idem_store_stmt(call *c, const uint8_t *resp, size_t len, db_stmt *st);

/* Registers the retention job (request_log_days) with the monitor; before it starts. */
void idem_jobs_register(const gs_config *cfg);

#endif
