/* token.h — bearer tokens: compact JWS (header.payload.signature, base64url), HS256 only,
 * signed with HMAC-SHA256 from a keyring whose first key signs and all keys verify (key
 * rotation by key id). Signatures are compared in constant time. */
#ifndef GS_TOKEN_H
#define GS_TOKEN_H

#include <stddef.h>
#include <stdint.h>

typedef struct gs_token_claims {
    char sub[65];  /* user login */
    int64_t uid;   /* users.id */
    char role[33]; /* role name, e.g. "logistics_officer" */
    int64_t scope; /* org unit id */
    int64_t iat;   /* issued at, unix seconds */
    int64_t exp;   /* expires at, unix seconds */
    char kid[33];  /* key id that signed it (filled by sign/verify) */
    char jti[33];  /* random token id (filled by sign when empty) */
} gs_token_claims;

typedef enum gs_token_result {
    TOKEN_OK,
    TOKEN_MALFORMED,   /* not three base64url parts, bad JSON, missing claim, alg != HS256 */
    TOKEN_UNKNOWN_KEY, /* kid not in the keyring */
    TOKEN_BAD_SIGNATURE,
    TOKEN_EXPIRED,
    TOKEN_NOT_YET_VALID, /* iat in the future beyond 60 s of clock skew */
} gs_token_result;

typedef struct gs_keyring gs_keyring;

/* Keyring file: one key per line, "<kid> <secret as 64+ hex digits>"; '#' comments and
 * blank lines ignored; the first key signs. NULL on error with a message in err. */
gs_keyring *gs_keyring_load(const char *path, char *err, size_t errlen);
gs_keyring *gs_keyring_parse(const char *text, char *err, size_t errlen);
void gs_keyring_free(gs_keyring *k);
/* Writes a new random key line ("<kid> <hex>\n") into buf; 0 or -1. */
int gs_keyring_generate_line(const char *kid, char *buf, size_t buflen);

/* Signs claims with the keyring's first key; *out is malloc'd. 0 or -1. */
int gs_token_sign(const gs_keyring *k, gs_token_claims *claims, char **out);
/* Verifies `token` (without "Bearer ") at time `now`; fills *out on TOKEN_OK. */
gs_token_result gs_token_verify(const gs_keyring *k, const char *token, int64_t now,
                                gs_token_claims *out);
const char *gs_token_result_str(gs_token_result r);

/* The same keyring format keys other HMACs (the audit chain, server/runtime/audit_chain.c):
 * the first key's id, and HMAC-SHA256 of the concatenated parts with the key `kid`
 * (NULL: the first key). 0, or -1 when the key is unknown. */
const char *gs_keyring_first_kid(const gs_keyring *k);
/* How many keys the keyring holds, and the id of key i in file order (0 = the first);
 * NULL past the end. */
size_t gs_keyring_count(const gs_keyring *k);
const char *gs_keyring_kid(const gs_keyring *k, size_t i);
int gs_keyring_hmac(const gs_keyring *k, const char *kid, const void *const *parts,
                    const size_t *lens, size_t n_parts, unsigned char out[32]);

#endif
