/* test_token.c — unit tests for lib/token.c: keyring parsing, sign/verify round trip and
 * every way a bearer token is rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "token.h"

#define NOW 1700000000LL

/* 64 hex digits each */
#define SECRET_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define SECRET_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static gs_keyring *ring(const char *text)
{
    char err[256] = "";
    gs_keyring *k = gs_keyring_parse(text, err, sizeof err);
    if (k == NULL)
        fail_msg("keyring: %s", err);
    return k;
}

static gs_token_claims sample_claims(void)
{
    gs_token_claims c;
    memset(&c, 0, sizeof c);
    snprintf(c.sub, sizeof c.sub, "logi.st01");
    c.uid = 42;
    snprintf(c.role, sizeof c.role, "logistics_officer");
    c.scope = 7;
    c.iat = NOW;
    c.exp = NOW + 3600;
    return c;
}

/* gcc 12 at -O2 mistakes the cmocka assert in sign() for a dangling pointer to `tok`. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

static char *sign(gs_keyring *k, gs_token_claims *c)
{
    char *tok = NULL;
    assert_int_equal(gs_token_sign(k, c, &tok), 0);
    assert_non_null(tok);
    return tok;
}

/* ---- helpers to forge tokens by hand ---- */

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = acc << 8 | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[acc >> bits & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[acc << (6 - bits) & 63];
    out[o] = '\0';
}

/* header.payload.signature with a real HMAC over the given JSON texts (hex_secret: 64 hex). */
static char *forge(const char *header, const char *payload, const char *hex_secret)
{
    size_t cap = 4 * (strlen(header) + strlen(payload)) + 128;
    char *tok = malloc(cap);
    assert_non_null(tok);
    b64url((const unsigned char *)header, strlen(header), tok);
    strcat(tok, ".");
    b64url((const unsigned char *)payload, strlen(payload), tok + strlen(tok));
    unsigned char key[32], mac[32];
    for (int i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex_secret + 2 * i, "%2x", &v);
        key[i] = (unsigned char)v;
    }
    unsigned maclen = 0;
    assert_non_null(
        HMAC(EVP_sha256(), key, 32, (const unsigned char *)tok, strlen(tok), mac, &maclen));
    strcat(tok, ".");
    b64url(mac, maclen, tok + strlen(tok));
    return tok;
}

#define HDR_OK "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"a\"}"
#define PAYLOAD_OK                                                                                 \
    "{\"sub\":\"admin\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"              \
    "\"exp\":1700003600,\"jti\":\"0123456789abcdef0123456789abcdef\"}"

static gs_token_result verify_forged(const char *header, const char *payload)
{
    gs_keyring *k = ring("a " SECRET_A "\n");
    char *tok = forge(header, payload, SECRET_A);
    gs_token_claims out;
    gs_token_result r = gs_token_verify(k, tok, NOW, &out);
    free(tok);
    gs_keyring_free(k);
    return r;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    (void)state;
    gs_keyring *k = ring("# signing key first\nk2 " SECRET_A "\nk1 " SECRET_B "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    assert_string_equal(c.kid, "k2");
    assert_int_equal(strlen(c.jti), 32);
    assert_int_equal(strspn(c.jti, "0123456789abcdef"), 32);
    assert_null(strchr(tok, '='));
    assert_null(strchr(tok, '+'));
    assert_null(strchr(tok, '/'));

    gs_token_claims out;
    memset(&out, 0xaa, sizeof out);
    assert_int_equal(gs_token_verify(k, tok, NOW, &out), TOKEN_OK);
    assert_string_equal(out.sub, "logi.st01");
    assert_int_equal(out.uid, 42);
    assert_string_equal(out.role, "logistics_officer");
    assert_int_equal(out.scope, 7);
    assert_int_equal(out.iat, NOW);
    assert_int_equal(out.exp, NOW + 3600);
    assert_string_equal(out.kid, "k2");
    assert_string_equal(out.jti, c.jti);
    /* NULL out is allowed */
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_OK);
    free(tok);

    /* a given jti is kept; two fresh ones differ */
    gs_token_claims c2 = sample_claims();
    snprintf(c2.jti, sizeof c2.jti, "fixed-id");
    tok = sign(k, &c2);
    assert_int_equal(gs_token_verify(k, tok, NOW, &out), TOKEN_OK);
    assert_string_equal(out.jti, "fixed-id");
    free(tok);
    gs_token_claims c3 = sample_claims();
    free(sign(k, &c3));
    assert_string_not_equal(c3.jti, c.jti);

    /* large ids survive */
    gs_token_claims c4 = sample_claims();
    c4.uid = INT64_MAX;
    c4.scope = 9007199254740993LL;
    tok = sign(k, &c4);
    assert_int_equal(gs_token_verify(k, tok, NOW, &out), TOKEN_OK);
    assert_int_equal(out.uid, INT64_MAX);
    assert_int_equal(out.scope, 9007199254740993LL);
    free(tok);
    gs_keyring_free(k);
}

static void test_forged_helper_agrees(void **state)
{
    (void)state;
    /* the hand-made token is accepted, so the rejections below test what they claim */
    assert_int_equal(verify_forged(HDR_OK, PAYLOAD_OK), TOKEN_OK);
    /* typ is optional */
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"kid\":\"a\"}", PAYLOAD_OK), TOKEN_OK);
}

static void test_tampered_payload(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    /* replace the payload with one claiming admin, keep header and signature */
    char *dot1 = strchr(tok, '.'), *dot2 = strrchr(tok, '.');
    char payload[512];
    b64url((const unsigned char *)PAYLOAD_OK, strlen(PAYLOAD_OK), payload);
    char forged[2048];
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(dot1 - tok), tok, payload, dot2);
    assert_int_equal(gs_token_verify(k, forged, NOW, NULL), TOKEN_BAD_SIGNATURE);

    /* one character of the payload changed */
    char *copy = strdup(tok);
    size_t i = (size_t)(dot1 - tok) + 5;
    copy[i] = copy[i] == 'A' ? 'B' : 'A';
    assert_int_equal(gs_token_verify(k, copy, NOW, NULL), TOKEN_BAD_SIGNATURE);
    free(copy);
    free(tok);
    gs_keyring_free(k);
}

static void test_tampered_signature(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    char *sig = strrchr(tok, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_BAD_SIGNATURE);
    /* truncated signature: not 32 bytes */
    sig[0] = '\0';
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_MALFORMED);
    free(tok);

    /* same kid, different secret */
    gs_keyring *other = ring("a " SECRET_B "\n");
    c = sample_claims();
    tok = sign(other, &c);
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_BAD_SIGNATURE);
    free(tok);
    gs_keyring_free(other);
    gs_keyring_free(k);
}

static void test_alg_none_and_others(void **state)
{
    (void)state;
    /* alg none, with the HMAC signature still attached */
    assert_int_equal(verify_forged("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"a\"}", PAYLOAD_OK),
                     TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":\"HS512\",\"kid\":\"a\"}", PAYLOAD_OK),
                     TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":\"hs256\",\"kid\":\"a\"}", PAYLOAD_OK),
                     TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"kid\":\"a\"}", PAYLOAD_OK), TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":256,\"kid\":\"a\"}", PAYLOAD_OK), TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"typ\":\"JWE\",\"kid\":\"a\"}", PAYLOAD_OK),
                     TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\"}", PAYLOAD_OK), TOKEN_MALFORMED);
    assert_int_equal(verify_forged("{\"alg\":\"HS256\",\"kid\":7}", PAYLOAD_OK), TOKEN_MALFORMED);
    assert_int_equal(
        verify_forged("{\"alg\":\"HS256\",\"kid\":\"a\",\"crit\":[\"exp\"]}", PAYLOAD_OK),
        TOKEN_MALFORMED);
    assert_int_equal(
        verify_forged("{\"alg\":\"HS256\",\"alg\":\"HS256\",\"kid\":\"a\"}", PAYLOAD_OK),
        TOKEN_MALFORMED);
    assert_int_equal(verify_forged("[\"HS256\"]", PAYLOAD_OK), TOKEN_MALFORMED);

    /* the classic: alg none with an empty signature */
    char h[128], p[512], tok[1024];
    const char *hdr = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"a\"}";
    b64url((const unsigned char *)hdr, strlen(hdr), h);
    b64url((const unsigned char *)PAYLOAD_OK, strlen(PAYLOAD_OK), p);
    snprintf(tok, sizeof tok, "%s.%s.", h, p);
    gs_keyring *k = ring("a " SECRET_A "\n");
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_MALFORMED);
    gs_keyring_free(k);
}

static void test_unknown_kid(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    gs_keyring *other = ring("b " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(other, &c);
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_UNKNOWN_KEY);
    free(tok);
    gs_keyring_free(other);
    gs_keyring_free(k);
}

static void test_expiry_and_iat(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    assert_int_equal(gs_token_verify(k, tok, c.exp - 1, NULL), TOKEN_OK);
    assert_int_equal(gs_token_verify(k, tok, c.exp, NULL), TOKEN_EXPIRED);
    assert_int_equal(gs_token_verify(k, tok, c.exp + 100000, NULL), TOKEN_EXPIRED);
    /* iat up to 60 s ahead of our clock is tolerated */
    assert_int_equal(gs_token_verify(k, tok, c.iat - 60, NULL), TOKEN_OK);
    assert_int_equal(gs_token_verify(k, tok, c.iat - 61, NULL), TOKEN_NOT_YET_VALID);
    free(tok);
    gs_keyring_free(k);
}

static void test_malformed(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    static const char *const bad[] = {
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "..",
        "...",
        "a..b",
        ".b.c",
        "Bearer x.y.z",
        "eyJ!bGciOiJIUzI1NiJ9.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9=.e30.AAAA",
        NULL,
    };
    for (int i = 0; bad[i] != NULL; i++)
        assert_int_equal(gs_token_verify(k, bad[i], NOW, NULL), TOKEN_MALFORMED);
    assert_int_equal(gs_token_verify(k, NULL, NOW, NULL), TOKEN_MALFORMED);

    char buf[8192];
    /* an extra part, padding, whitespace, a non-canonical last character */
    snprintf(buf, sizeof buf, "%s.x", tok);
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);
    snprintf(buf, sizeof buf, "%s=", tok);
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);
    snprintf(buf, sizeof buf, " %s", tok);
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);
    snprintf(buf, sizeof buf, "%s\n", tok);
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);
    /* 32 bytes encode to 43 characters whose last one carries 2 unused bits */
    snprintf(buf, sizeof buf, "%s", tok);
    char *last = buf + strlen(buf) - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alpha, *last) - alpha);
    *last = alpha[v ^ 1];
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);

    /* oversize: rejected before anything is decoded */
    memset(buf, 'A', 5000);
    buf[100] = '.';
    buf[200] = '.';
    buf[5000] = '\0';
    assert_int_equal(gs_token_verify(k, buf, NOW, NULL), TOKEN_MALFORMED);
    free(tok);
    gs_keyring_free(k);

    /* a correctly signed token over the cap */
    char big[4200];
    memset(big, 'x', sizeof big);
    int n = snprintf(big, sizeof big, "{\"pad\":\"");
    memset(big + n, 'x', 3200);
    snprintf(big + n + 3200, sizeof big - (size_t)n - 3200, "\",%s", PAYLOAD_OK + 1);
    assert_int_equal(verify_forged(HDR_OK, big), TOKEN_MALFORMED);
}

static void test_bad_claims(void **state)
{
    (void)state;
    /* signed correctly, but the claims are missing or of the wrong type */
    static const char *const bad[] = {
        "{}",
        "[]",
        "not json",
        "{\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":\"1\",\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":1700003600,\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":1.5,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":1700003600,\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":1700003600}",
        "{\"sub\":\"admin\",\"uid\":1,\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700003600,"
        "\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"exp\":1700003600,"
        "\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":true,\"jti\":\"j\"}",
        "{\"sub\":\"\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":1700003600,\"jti\":\"j\"}",
        "{\"sub\":\"ad\\u0000min\",\"uid\":1,\"role\":\"admin\",\"scope\":1,\"iat\":1700000000,"
        "\"exp\":1700003600,\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"uid\":1,\"role\":\"an_overly_long_role_name_beyond_32_bytes\","
        "\"scope\":1,\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"j\"}",
        "{\"sub\":\"admin\",\"sub\":\"auditor\",\"uid\":1,\"role\":\"admin\",\"scope\":1,"
        "\"iat\":1700000000,\"exp\":1700003600,\"jti\":\"j\"}",
        NULL,
    };
    for (int i = 0; bad[i] != NULL; i++) {
        print_message("claims case %d\n", i);
        assert_int_equal(verify_forged(HDR_OK, bad[i]), TOKEN_MALFORMED);
    }
}

static void test_rotation(void **state)
{
    (void)state;
    gs_keyring *old_ring = ring("old " SECRET_A "\n");
    gs_keyring *rotated = ring("new " SECRET_B "\nold " SECRET_A "\n");
    gs_token_claims c = sample_claims();
    char *old_tok = sign(old_ring, &c);
    gs_token_claims out;
    assert_int_equal(gs_token_verify(rotated, old_tok, NOW, &out), TOKEN_OK);
    assert_string_equal(out.kid, "old");
    /* new tokens are signed with the first key */
    gs_token_claims c2 = sample_claims();
    char *new_tok = sign(rotated, &c2);
    assert_string_equal(c2.kid, "new");
    assert_int_equal(gs_token_verify(rotated, new_tok, NOW, &out), TOKEN_OK);
    assert_string_equal(out.kid, "new");
    /* the old ring does not know the new key */
    assert_int_equal(gs_token_verify(old_ring, new_tok, NOW, NULL), TOKEN_UNKNOWN_KEY);
    free(old_tok);
    free(new_tok);
    gs_keyring_free(rotated);
    gs_keyring_free(old_ring);
}

static void test_sign_rejects_bad_claims(void **state)
{
    (void)state;
    gs_keyring *k = ring("a " SECRET_A "\n");
    char *tok = (char *)1;
    gs_token_claims c = sample_claims();
    c.sub[0] = '\0';
    assert_int_equal(gs_token_sign(k, &c, &tok), -1);
    assert_null(tok);
    c = sample_claims();
    c.role[0] = '\0';
    assert_int_equal(gs_token_sign(k, &c, &tok), -1);
    c = sample_claims();
    memset(c.sub, 'x', sizeof c.sub); /* not terminated */
    assert_int_equal(gs_token_sign(k, &c, &tok), -1);
    c = sample_claims();
    assert_int_equal(gs_token_sign(NULL, &c, &tok), -1);
    gs_keyring_free(k);
}

static void expect_keyring_error(const char *text, const char *needle)
{
    char err[256] = "";
    gs_keyring *k = gs_keyring_parse(text, err, sizeof err);
    assert_null(k);
    print_message("keyring error: %s\n", err);
    assert_non_null(strstr(err, needle));
    /* no secret material in the message */
    assert_null(strstr(err, "00112233"));
    assert_null(strstr(err, "ffeeddcc"));
}

static void test_keyring_parse(void **state)
{
    (void)state;
    gs_keyring *k = ring("\n# comment\n   \r\n  k-1.x_Y\t" SECRET_A "  \r\n# tail\n"
                         "k2 " SECRET_B SECRET_B);
    gs_token_claims c = sample_claims();
    free(sign(k, &c));
    assert_string_equal(c.kid, "k-1.x_Y");
    gs_keyring_free(k);
    /* upper-case hex and a 32-character kid are fine */
    k = ring("abcdefghijklmnopqrstuvwxyz012345 00112233445566778899AABBCCDDEEFF00112233445566778899"
             "AABBCCDDEEFF");
    gs_keyring_free(k);

    expect_keyring_error("", "no keys");
    expect_keyring_error("# only a comment\n\n", "no keys");
    expect_keyring_error("a 00112233445566778899aabbccddeeff00112233445566778899aabbccddee\n",
                         "line 1");
    expect_keyring_error("a " SECRET_A "0\n", "hex digits");
    expect_keyring_error("\na 00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\n",
                         "line 2: secret is not hexadecimal");
    expect_keyring_error("a/b " SECRET_A "\n", "key id");
    expect_keyring_error("abcdefghijklmnopqrstuvwxyz0123456 " SECRET_A "\n", "key id");
    expect_keyring_error("a " SECRET_A "\nb " SECRET_B "\na " SECRET_B "\n",
                         "line 3: duplicate key id \"a\"");
    expect_keyring_error("a " SECRET_A " extra\n", "more fields");
    expect_keyring_error("a\n", "missing secret");
}

static void test_keyring_load_and_generate(void **state)
{
    (void)state;
    char line[256], line2[256];
    assert_int_equal(gs_keyring_generate_line("k1", line, sizeof line), 0);
    assert_int_equal(strlen(line), 2 + 1 + 64 + 1);
    assert_int_equal(strncmp(line, "k1 ", 3), 0);
    assert_int_equal(line[strlen(line) - 1], '\n');
    assert_int_equal(gs_keyring_generate_line("k1", line2, sizeof line2), 0);
    assert_string_not_equal(line, line2);
    /* invalid kid, buffer too small */
    assert_int_equal(gs_keyring_generate_line("bad kid", line2, sizeof line2), -1);
    assert_int_equal(gs_keyring_generate_line("k1", line2, 20), -1);
    assert_string_equal(line2, "");
    /* no kid: one is made up */
    assert_int_equal(gs_keyring_generate_line(NULL, line2, sizeof line2), 0);
    assert_int_equal(line2[0], 'k');

    char path[] = "/tmp/test_token_ringXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# generated\n%s%s", line, line2);
    fclose(f);
    char err[256] = "";
    gs_keyring *k = gs_keyring_load(path, err, sizeof err);
    if (k == NULL)
        fail_msg("load: %s", err);
    gs_token_claims c = sample_claims();
    char *tok = sign(k, &c);
    assert_string_equal(c.kid, "k1");
    assert_int_equal(gs_token_verify(k, tok, NOW, NULL), TOKEN_OK);
    free(tok);
    gs_keyring_free(k);

    f = fopen(path, "w");
    fprintf(f, "k1 %s\n", "0123");
    fclose(f);
    assert_null(gs_keyring_load(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "line 1"));
    unlink(path);
    assert_null(gs_keyring_load(path, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
}

static void test_result_strings(void **state)
{
    (void)state;
    for (int r = TOKEN_OK; r <= TOKEN_NOT_YET_VALID; r++) {
        assert_non_null(gs_token_result_str((gs_token_result)r));
        assert_string_not_equal(gs_token_result_str((gs_token_result)r), "unknown token error");
    }
    assert_string_equal(gs_token_result_str(TOKEN_EXPIRED), "token expired");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_forged_helper_agrees),
        cmocka_unit_test(test_tampered_payload),
        cmocka_unit_test(test_tampered_signature),
        cmocka_unit_test(test_alg_none_and_others),
        cmocka_unit_test(test_unknown_kid),
        cmocka_unit_test(test_expiry_and_iat),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_bad_claims),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_sign_rejects_bad_claims),
        cmocka_unit_test(test_keyring_parse),
        cmocka_unit_test(test_keyring_load_and_generate),
        cmocka_unit_test(test_result_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
