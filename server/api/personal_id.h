/* personal_id.h — keyed hashes of personal identity numbers (server/runtime/personal_id.c).
 * A household head's resident ID number is never stored or logged: services keep
 * HMAC-SHA256(key, "gridstock household id v1\n" | normalised number) in hex, with a key
 * from the household keyring file (household_keys), which lives with the servers and never
 * in the database. The first key hashes what is stored; the others are older keys, kept
 * so that a head registered under one of them is still found (a hash cannot be re-keyed
 * without the number): every registration is checked under every key of the keyring
 * (docs/operations.md, "Rotating the household key"). */
#ifndef GS_PERSONAL_ID_H
#define GS_PERSONAL_ID_H

#include <stdbool.h>

#include "call.h"
#include "config.h"

/* True when this server holds a household key. */
bool personal_id_keyed(void);

/* Checks `number` as a resident ID number of the People's Republic of China (17 digits and
 * a check character, digit or X, ISO 7064 MOD 11-2) and hashes it: *hex (64 hex digits)
 * under the first key, *kid that key's id, and *all the hashes under every key of the
 * keyring, the first key's first, as a PostgreSQL text[] literal; all in the call's arena.
 * INVALID_ARGUMENT naming `field` (never echoing the number) when it is not one;
 * FAILED_PRECONDITION when this server holds no household key. */
gs_code personal_id_hash(call *c, const char *field, const char *number, const char **hex,
                         const char **kid, const char **all);

/* ---- runtime side (main.c) ---- */

/* Loads cfg->household_keys (nothing to load when empty: personal_id_hash refuses). */
int personal_id_init(const gs_config *cfg, char *err, size_t errlen);
void personal_id_free(void);

#endif
