/* token.c — bearer tokens: compact JWS with HS256 over a keyring (the only file that calls
 * OpenSSL for tokens). Secrets never appear in error messages and are wiped on free. */
#include "token.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "file_read.h"

#define TOKEN_MAX_LEN 4096    /* longer bearer tokens are rejected unparsed */
#define TOKEN_CLOCK_SKEW_S 60 /* iat may be this far in the future */
#define KEY_MIN_BYTES 32      /* HS256 keys shorter than the hash are refused */
#define KEY_MAX_BYTES 256     /* 512 hex digits */
#define KEYRING_MAX_KEYS 64
#define KEYRING_MAX_FILE (1 << 20)
#define KID_MAX_LEN 32
#define SIG_LEN 32 /* SHA-256 */

typedef struct gs_key {
    char kid[KID_MAX_LEN + 1];
    unsigned char secret[KEY_MAX_BYTES];
    size_t secret_len;
} gs_key;

struct gs_keyring {
    size_t n;
    gs_key keys[KEYRING_MAX_KEYS];
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- base64url without padding ---- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/* Writes the encoding of in[0..n) and a NUL into out (b64url_encoded_len(n) + 1 bytes). */
static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
}

static int b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes in[0..n) into out (at least n * 3 / 4 bytes); *outlen gets the length. Rejects
 * padding, characters outside the alphabet, impossible lengths and non-zero trailing bits
 * (so every byte string has exactly one accepted encoding). 0 or -1. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, size_t *outlen)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (unsigned)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}

/* ---- hex ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- keyring ---- */

static bool kid_valid(const char *kid, size_t n)
{
    if (n == 0 || n > KID_MAX_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const gs_key *keyring_find(const gs_keyring *k, const char *kid)
{
    for (size_t i = 0; i < k->n; i++)
        if (strcmp(k->keys[i].kid, kid) == 0)
            return &k->keys[i];
    return NULL;
}

/* Parses one non-blank, non-comment line (without its newline) into a new key. */
static int keyring_add_line(gs_keyring *k, const char *p, const char *end, int lineno, char *err,
                            size_t errlen)
{
    const char *kid = p;
    while (p < end && !is_space(*p))
        p++;
    size_t kidlen = (size_t)(p - kid);
    while (p < end && is_space(*p))
        p++;
    const char *hex = p;
    while (p < end && !is_space(*p))
        p++;
    size_t hexlen = (size_t)(p - hex);
    while (p < end && is_space(*p))
        p++;

    if (!kid_valid(kid, kidlen)) {
        set_err(err, errlen, "keyring line %d: key id must be 1-%d characters of [A-Za-z0-9._-]",
                lineno, KID_MAX_LEN);
        return -1;
    }
    if (hexlen == 0) {
        set_err(err, errlen, "keyring line %d: missing secret after key id", lineno);
        return -1;
    }
    if (p != end) {
        set_err(err, errlen, "keyring line %d: expected \"<kid> <hex secret>\", found more fields",
                lineno);
        return -1;
    }
    if (hexlen % 2 != 0 || hexlen < 2 * KEY_MIN_BYTES || hexlen > 2 * KEY_MAX_BYTES) {
        set_err(err, errlen,
                "keyring line %d: secret must be an even number of hex digits, %d to %d", lineno,
                2 * KEY_MIN_BYTES, 2 * KEY_MAX_BYTES);
        return -1;
    }
    if (k->n == KEYRING_MAX_KEYS) {
        set_err(err, errlen, "keyring line %d: more than %d keys", lineno, KEYRING_MAX_KEYS);
        return -1;
    }
    gs_key *key = &k->keys[k->n];
    memcpy(key->kid, kid, kidlen);
    key->kid[kidlen] = '\0';
    if (keyring_find(k, key->kid) != NULL) {
        set_err(err, errlen, "keyring line %d: duplicate key id \"%s\"", lineno, key->kid);
        return -1;
    }
    for (size_t i = 0; i < hexlen / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(key, sizeof *key);
            set_err(err, errlen, "keyring line %d: secret is not hexadecimal", lineno);
            return -1;
        }
        key->secret[i] = (unsigned char)(hi << 4 | lo);
    }
    key->secret_len = hexlen / 2;
    k->n++;
    return 0;
}

gs_keyring *gs_keyring_parse(const char *text, char *err, size_t errlen)
{
    gs_keyring *k = calloc(1, sizeof *k);
    if (k == NULL) {
        set_err(err, errlen, "keyring: out of memory");
        return NULL;
    }
    const char *p = text;
    int lineno = 0;
    while (*p != '\0') {
        lineno++;
        const char *eol = strchr(p, '\n');
        const char *end = eol != NULL ? eol : p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && is_space(*s))
            s++;
        while (e > s && is_space(e[-1]))
            e--;
        if (s < e && *s != '#' && keyring_add_line(k, s, e, lineno, err, errlen) != 0)
            goto fail;
        p = eol != NULL ? eol + 1 : end;
    }
    if (k->n == 0) {
        set_err(err, errlen, "keyring: no keys (expected lines \"<kid> <hex secret>\")");
        goto fail;
    }
    return k;
fail:
    gs_keyring_free(k);
    return NULL;
}

gs_keyring *gs_keyring_load(const char *path, char *err, size_t errlen)
{
    gs_keyring *k = NULL;
    size_t len = 0;
    char why[128];
    char *buf = gs_file_read(path, KEYRING_MAX_FILE, &len, why, sizeof why);
    if (buf == NULL) {
        set_err(err, errlen, "keyring %s: %s", path, why);
        return NULL;
    }
    if (memchr(buf, '\0', len) != NULL) {
        set_err(err, errlen, "keyring %s: contains a NUL byte", path);
        goto out;
    }
    char inner[256];
    k = gs_keyring_parse(buf, inner, sizeof inner);
    if (k == NULL)
        set_err(err, errlen, "%s: %s", path, inner);
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
    return k;
}

void gs_keyring_free(gs_keyring *k)
{
    if (k == NULL)
        return;
    OPENSSL_cleanse(k, sizeof *k);
    free(k);
}

int gs_keyring_generate_line(const char *kid, char *buf, size_t buflen)
{
    unsigned char secret[KEY_MIN_BYTES];
    char hex[2 * KEY_MIN_BYTES + 1];
    char kidbuf[KID_MAX_LEN + 1];
    int rc = -1;

    if (buf == NULL || buflen == 0)
        return -1;
    buf[0] = '\0';
    if (kid == NULL || kid[0] == '\0') {
        /* no id given: "k" and 8 random hex digits */
        unsigned char r[4];
        if (RAND_bytes(r, sizeof r) != 1)
            return -1;
        kidbuf[0] = 'k';
        hex_encode(r, sizeof r, kidbuf + 1);
        kid = kidbuf;
    }
    if (!kid_valid(kid, strlen(kid)))
        return -1;
    if (RAND_bytes(secret, sizeof secret) != 1)
        goto out;
    hex_encode(secret, sizeof secret, hex);
    int n = snprintf(buf, buflen, "%s %s\n", kid, hex);
    if (n < 0 || (size_t)n >= buflen) {
        OPENSSL_cleanse(buf, buflen);
        buf[0] = '\0';
        goto out;
    }
    rc = 0;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

/* ---- signing ---- */

static int hmac_sha256(const gs_key *key, const char *data, size_t n, unsigned char out[SIG_LEN])
{
    unsigned int outlen = 0;
    if (HMAC(EVP_sha256(), key->secret, (int)key->secret_len, (const unsigned char *)data, n, out,
             &outlen) == NULL ||
        outlen != SIG_LEN)
        return -1;
    return 0;
}

const char *gs_keyring_first_kid(const gs_keyring *k)
{
    return k && k->n ? k->keys[0].kid : NULL;
}

size_t gs_keyring_count(const gs_keyring *k)
{
    return k ? k->n : 0;
}

const char *gs_keyring_kid(const gs_keyring *k, size_t i)
{
    return k && i < k->n ? k->keys[i].kid : NULL;
}

int gs_keyring_hmac(const gs_keyring *k, const char *kid, const void *const *parts,
                    const size_t *lens, size_t n_parts, unsigned char out[32])
{
    const gs_key *key = !k || !k->n ? NULL : kid ? keyring_find(k, kid) : &k->keys[0];
    if (!key)
        return -1;
    size_t total = 0;
    for (size_t i = 0; i < n_parts; i++)
        total += lens[i];
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf)
        return -1;
    size_t pos = 0;
    for (size_t i = 0; i < n_parts; i++) {
        memcpy(buf + pos, parts[i], lens[i]);
        pos += lens[i];
    }
    int rc = hmac_sha256(key, (const char *)buf, total, out);
    free(buf);
    return rc;
}

/* Appends the base64url encoding of `json` (serialized compactly) to buf at *pos. */
static int append_json_b64(char *buf, size_t cap, size_t *pos, json_t *json)
{
    char *s = json_dumps(json, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (s == NULL)
        return -1;
    size_t n = strlen(s);
    int rc = -1;
    if (*pos + b64url_encoded_len(n) + 1 <= cap) {
        b64url_encode((const unsigned char *)s, n, buf + *pos);
        *pos += b64url_encoded_len(n);
        rc = 0;
    }
    free(s);
    return rc;
}

static bool bounded_string(const char *s, size_t size, bool allow_empty)
{
    size_t n = strnlen(s, size);
    return n < size && (allow_empty || n > 0);
}

int gs_token_sign(const gs_keyring *k, gs_token_claims *claims, char **out)
{
    json_t *header = NULL, *payload = NULL;
    char *buf = NULL;
    int rc = -1;

    *out = NULL;
    if (k == NULL || k->n == 0 || claims == NULL)
        return -1;
    if (!bounded_string(claims->sub, sizeof claims->sub, false) ||
        !bounded_string(claims->role, sizeof claims->role, false) ||
        !bounded_string(claims->jti, sizeof claims->jti, true))
        return -1;
    if (claims->jti[0] == '\0') {
        unsigned char r[16];
        if (RAND_bytes(r, sizeof r) != 1)
            return -1;
        hex_encode(r, sizeof r, claims->jti);
    }
    const gs_key *key = &k->keys[0];
    snprintf(claims->kid, sizeof claims->kid, "%s", key->kid);

    header = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "typ", "JWT", "kid", key->kid);
    payload = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:s}", "sub", claims->sub, "uid",
                        (json_int_t)claims->uid, "role", claims->role, "scope",
                        (json_int_t)claims->scope, "iat", (json_int_t)claims->iat, "exp",
                        (json_int_t)claims->exp, "jti", claims->jti);
    if (header == NULL || payload == NULL)
        goto out;

    buf = malloc(TOKEN_MAX_LEN + 1);
    if (buf == NULL)
        goto out;
    size_t pos = 0;
    if (append_json_b64(buf, TOKEN_MAX_LEN + 1, &pos, header) != 0)
        goto out;
    buf[pos++] = '.';
    if (append_json_b64(buf, TOKEN_MAX_LEN + 1, &pos, payload) != 0)
        goto out;
    unsigned char sig[SIG_LEN];
    if (hmac_sha256(key, buf, pos, sig) != 0)
        goto out;
    if (pos + 1 + b64url_encoded_len(SIG_LEN) > TOKEN_MAX_LEN)
        goto out;
    buf[pos++] = '.';
    b64url_encode(sig, SIG_LEN, buf + pos);
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    json_decref(header);
    json_decref(payload);
    return rc;
}

/* ---- verification ---- */

/* Decodes one base64url part and parses it as a JSON object; NULL when either fails. */
static json_t *decode_json_part(const char *s, size_t n)
{
    unsigned char buf[TOKEN_MAX_LEN];
    size_t len = 0;
    if (n == 0 || b64url_decode(s, n, buf, &len) != 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* Copies a string claim of 1..size-1 bytes without embedded NULs into dst. */
static bool get_string(json_t *obj, const char *name, char *dst, size_t size)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n >= size || strlen(s) != n)
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

static bool get_int(json_t *obj, const char *name, int64_t *dst)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v))
        return false;
    *dst = (int64_t)json_integer_value(v);
    return true;
}

gs_token_result gs_token_verify(const gs_keyring *k, const char *token, int64_t now,
                                gs_token_claims *out)
{
    json_t *header = NULL, *payload = NULL;
    gs_token_result r = TOKEN_MALFORMED;
    gs_token_claims c;
    memset(&c, 0, sizeof c);

    if (k == NULL || token == NULL)
        return TOKEN_MALFORMED;
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    if (len == 0 || len > TOKEN_MAX_LEN)
        return TOKEN_MALFORMED;
    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL)
        return TOKEN_MALFORMED;
    const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return TOKEN_MALFORMED;
    size_t signed_len = (size_t)(dot2 - token);
    const char *sig_b64 = dot2 + 1;
    size_t sig_b64_len = len - signed_len - 1;

    unsigned char sig[TOKEN_MAX_LEN];
    size_t siglen = 0;
    if (b64url_decode(sig_b64, sig_b64_len, sig, &siglen) != 0 || siglen != SIG_LEN)
        return TOKEN_MALFORMED;

    header = decode_json_part(token, (size_t)(dot1 - token));
    if (header == NULL)
        goto out;
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        goto out;
    json_t *typ = json_object_get(header, "typ");
    if (typ != NULL && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        goto out;
    if (json_object_get(header, "crit") != NULL) /* no extensions are understood */
        goto out;
    if (!get_string(header, "kid", c.kid, sizeof c.kid))
        goto out;

    const gs_key *key = keyring_find(k, c.kid);
    if (key == NULL) {
        r = TOKEN_UNKNOWN_KEY;
        goto out;
    }
    unsigned char want[SIG_LEN];
    if (hmac_sha256(key, token, signed_len, want) != 0)
        goto out;
    if (CRYPTO_memcmp(want, sig, SIG_LEN) != 0) {
        r = TOKEN_BAD_SIGNATURE;
        goto out;
    }

    /* authenticated from here on: the payload was written by a key holder */
    payload = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL)
        goto out;
    if (!get_string(payload, "sub", c.sub, sizeof c.sub) || !get_int(payload, "uid", &c.uid) ||
        !get_string(payload, "role", c.role, sizeof c.role) ||
        !get_int(payload, "scope", &c.scope) || !get_int(payload, "iat", &c.iat) ||
        !get_int(payload, "exp", &c.exp) || !get_string(payload, "jti", c.jti, sizeof c.jti))
        goto out;
    if (c.exp <= now) {
        r = TOKEN_EXPIRED;
        goto out;
    }
    if (now <= INT64_MAX - TOKEN_CLOCK_SKEW_S && c.iat > now + TOKEN_CLOCK_SKEW_S) {
        r = TOKEN_NOT_YET_VALID;
        goto out;
    }
    r = TOKEN_OK;
    if (out != NULL)
        *out = c;
out:
    json_decref(header);
    json_decref(payload);
    return r;
}

const char *gs_token_result_str(gs_token_result r)
{
    switch (r) {
    case TOKEN_OK:
        return "ok";
    case TOKEN_MALFORMED:
        return "malformed token";
    case TOKEN_UNKNOWN_KEY:
        return "unknown signing key";
    case TOKEN_BAD_SIGNATURE:
        return "bad signature";
    case TOKEN_EXPIRED:
        return "token expired";
    case TOKEN_NOT_YET_VALID:
        return "token not yet valid";
    }
    return "unknown token error";
}
