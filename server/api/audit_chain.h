/* audit_chain.h — the keyed chain that seals the audit log (server/runtime/audit_chain.c).
 * Each seal is HMAC-SHA256(key, "gridstock audit v2" | seq | previous seal | the row's
 * fields) with a key from the audit keyring file, which lives with the servers and never
 * in the database. Services read seal status and verify the chain through the call; the
 * runtime seals in the background and answers `gridstockd audit ...`. */
#ifndef GS_AUDIT_CHAIN_H
#define GS_AUDIT_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "config.h"

typedef struct audit_chain_result {
    bool ok;
    int64_t sealed;   /* seals checked */
    int64_t unsealed; /* audit rows without a seal */
    int64_t head_seq; /* the last seal checked, and its HMAC */
    char head_hmac[65];
    char head_at[40];   /* when it was sealed, RFC 3339 UTC */
    char problem[400];  /* the first break, "" when ok */
    int64_t broken_seq; /* the first seal that does not verify, and its audit row */
    int64_t broken_audit_id;
} audit_chain_result;

/* A chain head kept outside the database (`gridstockd audit checkpoint`). */
typedef struct audit_checkpoint {
    int64_t seq;
    char hmac[65];
} audit_checkpoint;

/* ---- service side ---- */

/* True when this server holds audit keys (it seals and can verify keyed seals). */
bool audit_chain_keyed(void);

/* Verifies the chain in the call's connection: from the start, or from `cp` (NULL: the
 * start), stopping at the first seal that breaks it. GS_FAILED_PRECONDITION when this
 * server holds no audit key. */
gs_code audit_chain_verify(call *c, const audit_checkpoint *cp, audit_chain_result *out);

/* The seal status of audit row `audit_id` (see audit.proto AuditRow.seal) and the seal's
 * position (0 when unsealed). Strings are static. */
gs_code audit_chain_row_status(call *c, int64_t audit_id, const char **status, int64_t *seq);

/* ---- runtime side (main.c) ---- */

/* Loads cfg->audit_keys (nothing to load when empty: no sealing, verify refuses). */
int audit_chain_init(const gs_config *cfg, char *err, size_t errlen);
void audit_chain_free(void);
/* Seals in the background every period_s seconds on a connection of its own. */
int audit_sealer_start(const char *conninfo, int period_s);
void audit_sealer_stop(void);
/* `gridstockd audit seal|checkpoint|verify [--checkpoint FILE]`: exit status. */
int audit_command(const gs_config *cfg, const char *sub, const char *checkpoint_file);

#endif
