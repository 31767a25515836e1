/* fuzz_token.c — libFuzzer target for the bearer token parser: gs_token_verify on any
 * bytes, against a fixed two-key keyring, at a fixed time. A token that verifies must have
 * been signed with a key of the ring, so the target also checks that re-signing its claims
 * gives a token that verifies to the same claims. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

static gs_keyring *ring;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ring) {
        char err[200];
        ring = gs_keyring_parse(
            "k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
            "# old key\n"
            "k0 f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f\n",
            err, sizeof err);
        if (!ring)
            abort();
    }
    char *tok = malloc(size + 1);
    memcpy(tok, data, size);
    tok[size] = '\0';
    gs_token_claims c;
    memset(&c, 0, sizeof c);
    gs_token_result r = gs_token_verify(ring, tok, 1800000000, &c);
    if ((unsigned)r > TOKEN_NOT_YET_VALID || !gs_token_result_str(r))
        abort();
    if (r == TOKEN_OK) {
        if (c.exp <= 1800000000 || memchr(c.sub, 0, sizeof c.sub) == NULL)
            abort();
        char *again = NULL;
        gs_token_claims c2 = c;
        if (gs_token_sign(ring, &c2, &again) != 0)
            abort();
        gs_token_claims c3;
        if (gs_token_verify(ring, again, 1800000000, &c3) != TOKEN_OK || c3.uid != c.uid ||
            c3.scope != c.scope || strcmp(c3.sub, c.sub) != 0 || strcmp(c3.role, c.role) != 0)
            abort();
        free(again);
    }
    free(tok);
    return 0;
}
