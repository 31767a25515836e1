/* error_details.h — the gRPC rich error model: the google.rpc.Status (with one ErrorInfo
 * and, for invalid input, a BadRequest) that every non-OK status carries in its
 * grpc-status-details-bin trailer. */
#ifndef GS_ERROR_DETAILS_H
#define GS_ERROR_DETAILS_H

#include <stddef.h>
#include <stdint.h>

#include "gs_status.h"

struct call; /* call.h; the transport (rpc.c) includes this header without it */

/* The packed google.rpc.Status for the error recorded on c (malloc'd; NULL when out of
 * memory or c->code is GS_OK). An INVALID_ARGUMENT without a field names the one its
 * message starts with ("lines[2].qty: ..."), the convention of every validator here and
 * of our SQL functions' GS400 errors. */
uint8_t *error_details_of_call(const struct call *c, size_t *len);

/* The same for a status the transport makes itself (no call): the reason is the code's
 * name. */
uint8_t *error_details_default(gs_code code, const char *message, size_t *len);

#endif
