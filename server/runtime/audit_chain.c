/* audit_chain.c — the keyed chain over the audit log (see audit_chain.h): the background
 * sealer, chain and row verification, and `gridstockd audit seal|checkpoint|verify`.
 *
 * seal(seq) = HMAC-SHA256(key[kid], "gridstock audit v2\n" | seq "\n" | seal(seq - 1) |
 *             netstring of each row field: id, at (UTC, microseconds), user_id, login,
 *             role, method, object, request_id, summary, changes (JSON text), scope_path)
 * seal(0) = SHA-256("gridstock audit chain v1") (the genesis of migration 020).
 * The row's canonical bytes are built here from its columns, not by a function in the
 * database, so the schema owner cannot redefine what a seal covers. Seals with kid ''
 * are unkeyed SHA-256 seals from before migration 040, checked with audit_row_hash(). */
#include "audit_chain.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "arena.h"
#include "db.h"
#include "thread.h"
#include "log.h"
#include "token.h"

enum { SEAL_BATCH = 10000, VERIFY_CHUNK = 2000, ROW_NFIELDS = 11 };
#define SEAL_BYTES "33554432" /* text of the rows one seal run holds in memory: 32 MiB */

/* The row fields a seal covers, in order (ROW_NFIELDS columns). */
#define ROW_FIELDS                                                                                 \
    "l.id, to_char(l.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), l.user_id,"      \
    " l.login, l.role, l.method, l.object, l.request_id, l.summary,"                               \
    " coalesce(l.changes::text, ''), coalesce(l.scope_path::text, '')"

static gs_keyring *keys; /* set before any thread starts, freed after they stopped */

int audit_chain_init(const gs_config *cfg, char *err, size_t errlen)
{
    keys = NULL;
    if (!cfg->audit_keys || !*cfg->audit_keys)
        return 0;
    keys = gs_keyring_load(cfg->audit_keys, err, errlen);
    return keys ? 0 : -1;
}

bool audit_chain_keyed(void)
{
    return keys != NULL;
}

void audit_chain_free(void)
{
    gs_keyring_free(keys);
    keys = NULL;
}

/* ------------------------------------------------------------------ the seal */

static void genesis(unsigned char out[32])
{
    static const char g[] = "gridstock audit chain v1";
    unsigned int n = 0;
    EVP_Digest(g, sizeof g - 1, out, &n, EVP_sha256(), NULL);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 lower-case hex digits → 32 bytes; -1 when malformed. */
static int unhex32(const char *s, unsigned char out[32])
{
    if (strlen(s) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static void hex32(const unsigned char in[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* The seal of the row in columns col..col+ROW_NFIELDS-1 of r's row `row`. */
static int compute_seal(const char *kid, int64_t seq, const unsigned char prev[32], const db_res *r,
                        int row, int col, unsigned char out[32])
{
    static const char magic[] = "gridstock audit v2\n";
    const void *parts[3 + 3 * ROW_NFIELDS];
    size_t lens[3 + 3 * ROW_NFIELDS];
    char seqs[24], heads[ROW_NFIELDS][24];
    size_t n = 0;
    snprintf(seqs, sizeof seqs, "%" PRId64 "\n", seq);
    parts[n] = magic, lens[n++] = sizeof magic - 1;
    parts[n] = seqs, lens[n++] = strlen(seqs);
    parts[n] = prev, lens[n++] = 32;
    for (int i = 0; i < ROW_NFIELDS; i++) {
        const char *v = db_str(r, row, col + i);
        size_t len = strlen(v);
        snprintf(heads[i], sizeof heads[i], "%zu:", len);
        parts[n] = heads[i], lens[n++] = strlen(heads[i]);
        parts[n] = v, lens[n++] = len;
        parts[n] = ",", lens[n++] = 1;
    }
    return gs_keyring_hmac(keys, kid, parts, lens, n, out);
}

/* ------------------------------------------------------------------ sealing */

static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_LOCK[] = "SELECT pg_try_advisory_xact_lock(hashtext('gridstock.audit_seal'))";
static const char SQL_HEAD[] =
    "SELECT seq, encode(hash, 'hex') FROM audit_seal ORDER BY seq DESC LIMIT 1";
/* The oldest unsealed rows, at most $1 of them and (beyond the first) SEAL_BYTES of text. */
static const char SQL_UNSEALED[] =
    "SELECT " ROW_FIELDS " FROM (SELECT u.*, row_number() OVER w AS rn,"
    "   sum(octet_length(u.summary) + coalesce(octet_length(u.changes::text), 0)) OVER w AS bytes"
    " FROM (SELECT * FROM audit_log x"
    "       WHERE NOT EXISTS (SELECT 1 FROM audit_seal s WHERE s.audit_id = x.id)"
    "       ORDER BY x.id LIMIT $1::int) u WINDOW w AS (ORDER BY u.id)) l"
    " WHERE l.rn = 1 OR l.bytes <= $2::bigint ORDER BY l.id";
static const char SQL_APPEND[] =
    "SELECT audit_seal_append($1, $2::bigint, $3::bigint[],"
    " ARRAY(SELECT decode(h, 'hex') FROM unnest($4::text[]) WITH ORDINALITY u(h, o) ORDER BY o))";

/* Seals what is unsealed (at most SEAL_BATCH rows) in one transaction; *n rows sealed. */
static gs_code seal_once(call *c, int *n)
{
    db_res *r = NULL, *h = NULL;
    *n = 0;
    GS_TRY(db_exec(c, NULL, SQL_BEGIN, 0));
    GS_TRY(db_exec(c, &r, SQL_LOCK, 0));
    if (!db_bool(r, 0, 0)) { /* another server is sealing */
        db_rollback(c);
        return GS_OK;
    }
    GS_TRY(db_exec(c, &h, SQL_HEAD, 0));
    GS_TRY(db_exec(c, &r, SQL_UNSEALED, 2, call_i64(c, SEAL_BATCH), SEAL_BYTES));
    int rows = db_rows(r);
    if (rows == 0) {
        db_rollback(c);
        return GS_OK;
    }
    int64_t seq = db_rows(h) ? db_i64(h, 0, 0) : 0;
    unsigned char prev[32];
    if (db_rows(h)) {
        if (unhex32(db_str(h, 0, 1), prev))
            return call_fail(c, GS_INTERNAL, "audit chain head is not a 32-byte hash");
    } else {
        genesis(prev);
    }
    const char *kid = gs_keyring_first_kid(keys);
    char *ids = arena_alloc(c->arena, (size_t)rows * 21 + 3);
    char *hashes = arena_alloc(c->arena, (size_t)rows * 65 + 3);
    size_t ip = 0, hp = 0;
    ids[ip++] = '{';
    hashes[hp++] = '{';
    for (int i = 0; i < rows; i++) {
        unsigned char mac[32];
        if (compute_seal(kid, seq + 1 + i, prev, r, i, 0, mac))
            return call_fail(c, GS_INTERNAL, "audit seal: HMAC failed");
        memcpy(prev, mac, 32);
        ip += (size_t)snprintf(ids + ip, 22, "%s%s", i ? "," : "", db_str(r, i, 0));
        if (i)
            hashes[hp++] = ',';
        hex32(mac, hashes + hp);
        hp += 64;
    }
    ids[ip++] = '}';
    ids[ip] = '\0';
    hashes[hp++] = '}';
    hashes[hp] = '\0';
    GS_TRY(db_exec(c, NULL, SQL_APPEND, 4, kid, call_i64(c, seq + 1), ids, hashes));
    GS_TRY(db_exec(c, NULL, SQL_COMMIT, 0));
    *n = rows;
    return GS_OK;
}

static void scratch_call(call *c, arena *a, db *d)
{
    memset(c, 0, sizeof *c);
    c->arena = a;
    c->request_id = "";
    c->peer = "";
    c->deadline_ms = -1;
    c->who.login = "system";
    c->db = d;
}

/* Seals until nothing is left (or a run fails); returns rows sealed, -1 on failure. */
static int64_t seal_all(db *d, arena *a, char *err, size_t errlen)
{
    int64_t total = 0;
    for (;;) {
        call c;
        scratch_call(&c, a, d);
        int n = 0;
        gs_code rc = db_attach(&c, d);
        if (rc == GS_OK)
            rc = seal_once(&c, &n);
        if (rc != GS_OK) {
            db_rollback(&c);
            snprintf(err, errlen, "%s", c.message);
        }
        db_call_done(&c);
        arena_reset(a);
        if (rc != GS_OK)
            return -1;
        total += n;
        if (n == 0)
            return total;
    }
}

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, stop;
    char *conninfo;
    int period_s;
} sealer = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void *sealer_main(void *arg)
{
    (void)arg;
    db *d = db_open(sealer.conninfo);
    db_set_name(d, "audit-sealer");
    arena *a = arena_new(64 * 1024);
    pthread_mutex_lock(&sealer.mu);
    while (!sealer.stop) {
        pthread_mutex_unlock(&sealer.mu);
        char err[512] = "";
        int64_t n = seal_all(d, a, err, sizeof err);
        if (n < 0)
            log_event(LOG_WARN, "audit_seal_failed", "error", err, NULL);
        else if (n > 0)
            log_event(LOG_DEBUG, "audit_sealed", "rows", log_i64(n), NULL);
        pthread_mutex_lock(&sealer.mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += sealer.period_s;
        while (!sealer.stop && pthread_cond_timedwait(&sealer.cv, &sealer.mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&sealer.mu);
    arena_free(a);
    db_close(d);
    return NULL;
}

int audit_sealer_start(const char *conninfo, int period_s)
{
    if (!keys) {
        log_event(LOG_WARN, "audit_sealing_off", "reason",
                  "no audit_keys: audit rows are not sealed", NULL);
        return 0;
    }
    sealer.conninfo = strdup(conninfo ? conninfo : "");
    sealer.period_s = period_s > 0 ? period_s : 1;
    sealer.stop = false;
    if (!sealer.conninfo || gs_thread_start("sealer", &sealer.thread, sealer_main, NULL)) {
        free(sealer.conninfo);
        sealer.conninfo = NULL;
        return -1;
    }
    sealer.running = true;
    return 0;
}

void audit_sealer_stop(void)
{
    if (!sealer.running)
        return;
    pthread_mutex_lock(&sealer.mu);
    sealer.stop = true;
    pthread_cond_broadcast(&sealer.cv);
    pthread_mutex_unlock(&sealer.mu);
    pthread_join(sealer.thread, NULL);
    sealer.running = false;
    free(sealer.conninfo);
    sealer.conninfo = NULL;
}

/* ------------------------------------------------------------------ verifying */

static const char SQL_SEAL_AT[] =
    "SELECT seq, encode(hash, 'hex') FROM audit_seal WHERE seq = $1::bigint";
static const char SQL_LAST_SEQ[] = "SELECT coalesce(max(seq), 0) FROM audit_seal";
/* Columns: seq, audit_id, prev, hash, kid, present, legacy_ok, sealed_at, then the row. */
#define SEAL_COLS                                                                                  \
    "x.seq, x.audit_id, encode(x.prev_hash, 'hex'), encode(x.hash, 'hex'), x.kid,"                 \
    " l.id IS NOT NULL, coalesce(x.kid = '' AND audit_row_hash(x.prev_hash, l) = x.hash, false),"  \
    " to_char(x.sealed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
#define SEAL_ROW_COL 8
static const char SQL_SEALS[] =
    "SELECT " SEAL_COLS ROW_FIELDS " FROM audit_seal x LEFT JOIN audit_log l ON l.id = x.audit_id"
    " WHERE x.seq > $1::bigint ORDER BY x.seq LIMIT $2::int";
static const char SQL_UNSEALED_COUNT[] =
    "SELECT count(*) FROM audit_log l"
    " WHERE NOT EXISTS (SELECT 1 FROM audit_seal x WHERE x.audit_id = l.id)";

/* Checks seal `row` of r (SQL_SEALS columns) against `prev`; "" when it holds, else what
 * is wrong (in the arena). */
static const char *check_seal(call *c, const db_res *r, int row, const unsigned char prev[32],
                              bool check_prev)
{
    int64_t seq = db_i64(r, row, 0), aid = db_i64(r, row, 1);
    unsigned char sp[32], sh[32], mac[32];
    if (unhex32(db_str(r, row, 2), sp) || unhex32(db_str(r, row, 3), sh))
        return call_printf(c, "seal %" PRId64 " (audit row %" PRId64 ") is not a 32-byte hash", seq,
                           aid);
    if (check_prev && memcmp(sp, prev, 32) != 0)
        return call_printf(c,
                           "seal %" PRId64 " (audit row %" PRId64 ") does not follow seal %" PRId64
                           ": the chain is broken",
                           seq, aid, seq - 1);
    if (!db_bool(r, row, 5))
        return call_printf(
            c, "audit row %" PRId64 " was removed after it was sealed (seal %" PRId64 ")", aid,
            seq);
    const char *kid = db_str(r, row, 4);
    if (!*kid)
        return db_bool(r, row, 6)
                   ? ""
                   : call_printf(c,
                                 "audit row %" PRId64
                                 " was changed after it was sealed (seal %" PRId64 ", unkeyed)",
                                 aid, seq);
    if (compute_seal(kid, seq, sp, r, row, SEAL_ROW_COL, mac))
        return call_printf(c,
                           "seal %" PRId64 " (audit row %" PRId64
                           ") was made with audit key \"%s\","
                           " which is not in this server's audit keyring",
                           seq, aid, kid);
    if (memcmp(mac, sh, 32) != 0)
        return call_printf(
            c, "audit row %" PRId64 " was changed after it was sealed (seal %" PRId64 ")", aid,
            seq);
    return "";
}

static void broken(audit_chain_result *out, const char *problem, int64_t seq, int64_t aid)
{
    out->ok = false;
    snprintf(out->problem, sizeof out->problem, "%s", problem);
    out->broken_seq = seq;
    out->broken_audit_id = aid;
}

gs_code audit_chain_verify(call *c, const audit_checkpoint *cp, audit_chain_result *out)
{
    db_res *r = NULL;
    memset(out, 0, sizeof *out);
    out->ok = true;
    if (!keys)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "this server holds no audit key (audit_keys): it cannot verify seals");
    unsigned char prev[32];
    genesis(prev);
    hex32(prev, out->head_hmac);
    int64_t after = 0;
    bool check_prev = true;
    if (cp) {
        GS_TRY(db_exec(c, &r, SQL_SEAL_AT, 1, call_i64(c, cp->seq)));
        if (db_rows(r) == 0) {
            GS_TRY(db_exec(c, &r, SQL_LAST_SEQ, 0));
            int64_t last = db_i64(r, 0, 0);
            broken(out,
                   call_printf(c,
                               "the chain ends at seal %" PRId64
                               ", before the checkpoint's seal %" PRId64
                               ": sealed audit rows were removed (truncation)",
                               last, cp->seq),
                   last + 1, 0);
            return GS_OK;
        }
        if (strcmp(db_str(r, 0, 1), cp->hmac) != 0) {
            broken(out,
                   call_printf(
                       c, "seal %" PRId64 " differs from the checkpoint: the chain was rewritten",
                       cp->seq),
                   cp->seq, 0);
            return GS_OK;
        }
        after = cp->seq - 1;
        check_prev = false; /* the checkpoint's seal is anchored by its own HMAC */
    }
    for (;;) {
        GS_TRY(db_exec(c, &r, SQL_SEALS, 2, call_i64(c, after), call_i64(c, VERIFY_CHUNK)));
        int rows = db_rows(r);
        for (int i = 0; i < rows; i++) {
            int64_t seq = db_i64(r, i, 0), aid = db_i64(r, i, 1);
            if (seq != after + 1) {
                broken(out,
                       call_printf(c,
                                   "seal %" PRId64 " is missing: the chain jumps from seal %" PRId64
                                   " to seal %" PRId64 " (seals were removed)",
                                   after + 1, after, seq),
                       after + 1, 0);
                return GS_OK;
            }
            const char *problem = check_seal(c, r, i, prev, check_prev);
            if (*problem) {
                broken(out, problem, seq, aid);
                return GS_OK;
            }
            check_prev = true;
            unhex32(db_str(r, i, 3), prev);
            out->sealed++;
            out->head_seq = seq;
            snprintf(out->head_hmac, sizeof out->head_hmac, "%s", db_str(r, i, 3));
            snprintf(out->head_at, sizeof out->head_at, "%s", db_str(r, i, 7));
            after = seq;
        }
        db_release(c, r); /* a long chain is read a chunk at a time */
        r = NULL;
        if (rows < VERIFY_CHUNK)
            break;
    }
    GS_TRY(db_exec(c, &r, SQL_UNSEALED_COUNT, 0));
    out->unsealed = db_i64(r, 0, 0);
    return GS_OK;
}

static const char SQL_ROW_SEAL[] =
    "SELECT " SEAL_COLS ROW_FIELDS " FROM audit_seal x JOIN audit_log l ON l.id = x.audit_id"
    " WHERE x.audit_id = $1::bigint";

gs_code audit_chain_row_status(call *c, int64_t audit_id, const char **status, int64_t *seq)
{
    db_res *r = NULL;
    *seq = 0;
    GS_TRY(db_exec(c, &r, SQL_ROW_SEAL, 1, call_i64(c, audit_id)));
    if (db_rows(r) == 0) {
        *status = "unsealed";
        return GS_OK;
    }
    *seq = db_i64(r, 0, 0);
    const char *kid = db_str(r, 0, 4);
    if (!*kid) {
        *status = db_bool(r, 0, 6) ? "unkeyed" : "changed";
        return GS_OK;
    }
    if (!keys || !gs_keyring_first_kid(keys)) {
        *status = "unknown_key";
        return GS_OK;
    }
    unsigned char sp[32], sh[32], mac[32];
    if (unhex32(db_str(r, 0, 2), sp) || unhex32(db_str(r, 0, 3), sh)) {
        *status = "changed";
        return GS_OK;
    }
    if (compute_seal(kid, *seq, sp, r, 0, SEAL_ROW_COL, mac)) {
        *status = "unknown_key";
        return GS_OK;
    }
    *status = memcmp(mac, sh, 32) == 0 ? "valid" : "changed";
    return GS_OK;
}

/* ------------------------------------------------------------------ gridstockd audit */

/* "gridstock-audit-checkpoint seq=N hmac=HEX ..." from a file. 0 or -1. */
static int read_checkpoint(const char *path, audit_checkpoint *cp, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return -1;
    }
    char line[512];
    int rc = -1;
    while (rc && fgets(line, sizeof line, f)) {
        const char *s = strstr(line, "seq="), *h = strstr(line, "hmac=");
        if (strncmp(line, "gridstock-audit-checkpoint ", 27) != 0 || !s || !h)
            continue;
        char *end;
        long long v = strtoll(s + 4, &end, 10);
        unsigned char tmp[32];
        snprintf(cp->hmac, sizeof cp->hmac, "%.64s", h + 5);
        if (v > 0 && (*end == ' ' || *end == '\n' || !*end) && !unhex32(cp->hmac, tmp)) {
            cp->seq = v;
            rc = 0;
        }
    }
    fclose(f);
    if (rc)
        snprintf(err, errlen, "%s holds no \"gridstock-audit-checkpoint seq=N hmac=HEX\" line",
                 path);
    return rc;
}

int audit_command(const gs_config *cfg, const char *sub, const char *checkpoint_file)
{
    char err[512] = "";
    if (!sub || (strcmp(sub, "seal") && strcmp(sub, "checkpoint") && strcmp(sub, "verify"))) {
        fprintf(stderr, "gridstockd: audit: seal, checkpoint or verify [--checkpoint FILE]\n");
        return 2;
    }
    if (audit_chain_init(cfg, err, sizeof err)) {
        fprintf(stderr, "gridstockd: audit_keys: %s\n", err);
        return 1;
    }
    if (!keys) {
        fprintf(stderr, "gridstockd: audit: no audit_keys given (--audit-keys FILE)\n");
        return 1;
    }
    audit_checkpoint cp, *cpp = NULL;
    if (checkpoint_file && *checkpoint_file) {
        if (strcmp(sub, "verify") != 0) {
            fprintf(stderr, "gridstockd: audit %s: --checkpoint is for verify\n", sub);
            audit_chain_free();
            return 2;
        }
        if (read_checkpoint(checkpoint_file, &cp, err, sizeof err)) {
            fprintf(stderr, "gridstockd: audit verify: %s\n", err);
            audit_chain_free();
            return 1;
        }
        cpp = &cp;
    }
    db *d = db_open(cfg->db);
    arena *a = arena_new(64 * 1024);
    int status = 1;
    if (strcmp(sub, "seal") == 0) {
        int64_t n = seal_all(d, a, err, sizeof err);
        if (n < 0)
            fprintf(stderr, "gridstockd: audit seal: %s\n", err);
        else {
            printf("sealed %" PRId64 " audit row%s\n", n, n == 1 ? "" : "s");
            status = 0;
        }
    } else {
        call c;
        scratch_call(&c, a, d);
        audit_chain_result res;
        gs_code rc = db_attach(&c, d);
        if (rc == GS_OK)
            rc = audit_chain_verify(&c, cpp, &res);
        if (rc != GS_OK) {
            fprintf(stderr, "gridstockd: audit %s: %s\n", sub, c.message);
        } else if (!res.ok) {
            printf("BROKEN: %s\n", res.problem);
            printf("first broken seal %" PRId64 ", audit row %" PRId64 "\n", res.broken_seq,
                   res.broken_audit_id);
        } else if (strcmp(sub, "checkpoint") == 0) {
            printf("gridstock-audit-checkpoint seq=%" PRId64 " hmac=%s sealed_at=%s\n",
                   res.head_seq, res.head_hmac, res.head_at[0] ? res.head_at : "-");
            status = 0;
        } else {
            printf("ok: %" PRId64 " seal%s verified %s, head seq=%" PRId64 " hmac=%s;"
                   " %" PRId64 " audit row%s not sealed yet\n",
                   res.sealed, res.sealed == 1 ? "" : "s",
                   cpp ? "from the checkpoint" : "from the start", res.head_seq, res.head_hmac,
                   res.unsealed, res.unsealed == 1 ? "" : "s");
            status = 0;
        }
        db_call_done(&c);
    }
    arena_free(a);
    db_close(d);
    audit_chain_free();
    return status;
}
