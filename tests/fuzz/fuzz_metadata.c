/* fuzz_metadata.c — libFuzzer target for call metadata handling (lib/metadata.c): the
 * input is split at the first NUL into an authorization header and an x-request-id; the
 * bearer split and the request id check must agree with their definitions, and a bearer
 * token found in the header goes on to the token verifier as in dispatch.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metadata.h"
#include "pb_check.h"
#include "token.h"

static gs_keyring *ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring) {
        char err[200];
        ring =
            gs_keyring_parse("k1 "
                             "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
                             err, sizeof err);
        if (!ring)
            abort();
    }
    char *buf = malloc(size + 2);
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *header = buf;
    const char *rid = buf + strlen(buf) + 1; /* after the first NUL (or the empty string) */

    const char *tok = NULL;
    gs_md_auth a = gs_md_bearer(header, &tok);
    switch (a) {
    case MD_AUTH_MISSING:
        if (*header || tok)
            abort();
        break;
    case MD_AUTH_NOT_BEARER:
        if (!*header || strncasecmp(header, "bearer ", 7) == 0 || tok)
            abort();
        break;
    case MD_AUTH_OK: {
        if (tok != header + 7)
            abort();
        gs_token_claims c;
        (void)gs_token_verify(ring, tok, 1800000000, &c);
        break;
    }
    default:
        abort();
    }

    size_t n = strlen(rid);
    gs_md_rid r = gs_md_request_id(rid);
    gs_md_rid want = n == 0                                           ? MD_RID_MISSING
                     : (n > GS_REQUEST_ID_MAX || !utf8_valid(rid, n)) ? MD_RID_INVALID
                                                                      : MD_RID_OK;
    if (r != want || gs_md_request_id(NULL) != MD_RID_MISSING)
        abort();
    free(buf);
    return 0;
}
