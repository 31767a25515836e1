/* personal_id.c — the household keyring and the keyed hashes of ID numbers (personal_id.h). */
#include "personal_id.h"

#include <stdio.h>
#include <string.h>

#include "token.h"

static gs_keyring *keys; /* set before any thread starts, freed after they stopped */

int personal_id_init(const gs_config *cfg, char *err, size_t errlen)
{
    keys = NULL;
    if (!cfg->household_keys || !*cfg->household_keys)
        return 0;
    keys = gs_keyring_load(cfg->household_keys, err, errlen);
    return keys ? 0 : -1;
}

void personal_id_free(void)
{
    gs_keyring_free(keys);
    keys = NULL;
}

bool personal_id_keyed(void)
{
    return keys != NULL;
}

/* 18 characters, 17 digits then a digit or X (x is taken as X), with a valid check
 * character; the normalised form goes to out. */
static bool valid_number(const char *s, char out[19])
{
    static const int weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    static const char checks[] = "10X98765432";
    if (strlen(s) != 18)
        return false;
    int sum = 0;
    for (int i = 0; i < 17; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        sum += (s[i] - '0') * weights[i];
        out[i] = s[i];
    }
    char last = s[17] == 'x' ? 'X' : s[17];
    if (last != checks[sum % 11])
        return false;
    out[17] = last;
    out[18] = '\0';
    return true;
}

/* HMAC of the normalised number under key `kid` as 64 hex digits into out[65]; 0 or -1. */
static int hash_hex(const char *kid, const char norm[19], char out[65])
{
    static const char magic[] = "gridstock household id v1\n";
    unsigned char mac[32];
    const void *parts[2] = {magic, norm};
    size_t lens[2] = {sizeof magic - 1, 18};
    if (gs_keyring_hmac(keys, kid, parts, lens, 2, mac))
        return -1;
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

gs_code personal_id_hash(call *c, const char *field, const char *number, const char **hex,
                         const char **kid, const char **all)
{
    char norm[19];
    if (!number || !*number)
        return call_fail_field(c, field, GS_R_FIELD_REQUIRED, "%s: required", field);
    if (!valid_number(number, norm))
        return call_fail_field(c, field, GS_R_FIELD_INVALID,
                               "%s: not a resident ID number (17 digits and a check digit or X)",
                               field);
    if (!keys)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "this server holds no household key (household_keys): the register "
                         "cannot check identities");
    /* every key's hash, the first key's first: "{h0,h1,...}" (a text[] literal) */
    size_t n = gs_keyring_count(keys);
    char *list = arena_alloc(c->arena, n * 65 + 3);
    char *p = list;
    int rc = 0;
    *p++ = '{';
    for (size_t i = 0; i < n && !rc; i++) {
        if (i)
            *p++ = ',';
        rc = hash_hex(gs_keyring_kid(keys, i), norm, p);
        p += 64;
    }
    *p++ = '}';
    *p = '\0';
    memset(norm, 0, sizeof norm);
    if (rc)
        return call_fail(c, GS_INTERNAL, "internal error");
    char *first = arena_alloc(c->arena, 65);
    memcpy(first, list + 1, 64);
    first[64] = '\0';
    *hex = first;
    *kid = gs_keyring_first_kid(keys);
    *all = list;
    return GS_OK;
}
