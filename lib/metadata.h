/* metadata.h — the pure part of reading call metadata: the `authorization: Bearer <token>`
 * header and the `x-request-id` value. No I/O, no allocation, so it can be fuzzed alone;
 * dispatch.c turns the results into statuses and messages. */
#ifndef GS_METADATA_H
#define GS_METADATA_H

#include <stddef.h>

#define GS_REQUEST_ID_MAX 128 /* bytes */

typedef enum gs_md_auth {
    MD_AUTH_OK,         /* *token points at the token text inside the header */
    MD_AUTH_MISSING,    /* no header, or an empty one */
    MD_AUTH_NOT_BEARER, /* not "Bearer <token>" (scheme compared case-insensitively) */
} gs_md_auth;

/* Splits an authorization header value. On MD_AUTH_OK *token points into header (after
 * "Bearer "); it may be empty, which the token verifier refuses as malformed. */
gs_md_auth gs_md_bearer(const char *header, const char **token);

typedef enum gs_md_rid {
    MD_RID_OK,
    MD_RID_MISSING, /* NULL or empty */
    MD_RID_INVALID, /* over GS_REQUEST_ID_MAX bytes or not valid UTF-8 */
} gs_md_rid;

/* Checks an x-request-id value (needed on mutating calls). */
gs_md_rid gs_md_request_id(const char *id);

#endif
