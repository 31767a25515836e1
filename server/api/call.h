/* call.h — everything a handler sees of one call: its decoded request, the response to
 * fill, the caller, the database (db.h) and the error to report. Handlers never see gRPC
 * or libpq; they return GS_OK or the code that call_fail recorded. */
#ifndef GS_CALL_H
#define GS_CALL_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "arena.h"
#include "auth.h"
#include "charset.h"
#include "gs_reasons.h"
#include "gs_status.h"

struct method_def;
struct worker;
struct db;
struct db_res;
struct db_deferred;

#define GS_ERROR_META_MAX 6

typedef struct call {
    const struct method_def *method;
    const ProtobufCMessage *req; /* decoded request; memory in the arena */
    ProtobufCMessage *resp;      /* initialised response; fill it in */
    caller who;
    const char *request_id; /* client's x-request-id (mutating calls), or "" */
    const char *peer;
    arena *arena; /* released when the call ends */
    struct worker *worker;
    struct db *db;                /* the worker's connection (db.h) */
    struct db_res *results;       /* results to clear when the call ends (db_result.c) */
    struct db_deferred *deferred; /* runtime statements riding with the next db_exec */
    bool retryable;               /* last failure was a serialization/deadlock (db_error.c) */
    int64_t deadline_ms;          /* -1: none */
    /* Set by the handler for the audit row of a mutating call. */
    const char *audit_object;  /* e.g. "site:12" */
    const char *audit_summary; /* short human summary */
    /* The error, set by call_fail and its kin or by the database layer; the runtime sends
     * it as the status and its google.rpc.Status details (error_details.c). */
    gs_code code;
    char message[512];
    gs_reason reason;  /* GS_R_NONE: the code's name is the reason */
    const char *field; /* the request field a BadRequest names, or NULL */
    struct {
        const char *key, *value;
    } meta[GS_ERROR_META_MAX]; /* ErrorInfo.metadata, e.g. available=5 */
    int n_meta;
} call;

typedef gs_code (*handler_fn)(call *c);

/* Records an error (message names the field or object) and returns `code`; its reason is
 * the code's name. Each call_fail* replaces the error recorded before. */
gs_code call_fail(call *c, gs_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a specific reason (gs_reasons.h). */
gs_code call_fail_why(call *c, gs_code code, gs_reason why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* INVALID_ARGUMENT about one request field: a BadRequest names `field` (kept by pointer:
 * a literal or arena text), the message starts with it. */
gs_code call_fail_field(call *c, const char *field, gs_reason why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Adds key=value to the recorded error's ErrorInfo metadata (copied; at most
 * GS_ERROR_META_MAX pairs, later ones are dropped). */
void call_fail_meta(call *c, const char *key, const char *value);

/* Arena helpers. */
char *call_printf(call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *call_i64(call *c, int64_t v); /* decimal text, for SQL parameters */
/* A new, initialised message of the given type, in the arena. */
void *call_msg(call *c, const ProtobufCMessageDescriptor *d);
/* An array of n pointers in the arena (for repeated message fields). */
void **call_ptrs(call *c, size_t n);

#define GS_TRY(expr)                                                                               \
    do {                                                                                           \
        gs_code gs_try_rc_ = (expr);                                                               \
        if (gs_try_rc_ != GS_OK)                                                                   \
            return gs_try_rc_;                                                                     \
    } while (0)

/* Validation helpers: each returns GS_OK or fails the call with INVALID_ARGUMENT naming
 * `field`. */
gs_code v_required(call *c, const char *field, const char *s);
gs_code v_len(call *c, const char *field, const char *s, size_t max);
gs_code v_positive(call *c, const char *field, int64_t v);
gs_code v_nonneg(call *c, const char *field, int64_t v);
gs_code v_range(call *c, const char *field, int64_t v, int64_t lo, int64_t hi);
/* A lookup "by id, or by code when id is 0" (the x_id / x_code pairs of requests):
 * INVALID_ARGUMENT naming `field` for a negative id, for neither (unless not `required`:
 * then GS_OK and *by = GS_BY_NONE) and for a code over 64 bytes. */
typedef enum gs_lookup { GS_BY_NONE, GS_BY_ID, GS_BY_CODE } gs_lookup;
gs_code v_id_or_code(call *c, const char *field, int64_t id, const char *code, bool required,
                     gs_lookup *by);
/* NOT_FOUND for such a lookup: `<what> "<code>" not found` or `<what> <id> not found`. */
gs_code call_not_found(call *c, const char *what, gs_lookup by, int64_t id, const char *code);
/* YYYY-MM-DD with a year in 2000–2200, or "" (optional). */
gs_code v_date(call *c, const char *field, const char *s);
/* Quantities (whole units) and money (fen) are positive and capped well below int64, so
 * no sum over a site's lots or an account's postings can overflow. */
#define GS_QTY_MAX 1000000000LL        /* units per line */
#define GS_AMOUNT_MAX 10000000000000LL /* fen per posting: 100 billion yuan */
gs_code v_qty(call *c, const char *field, int64_t v);
gs_code v_amount(call *c, const char *field, int64_t v);
/* RFC 3339 (2026-11-28T03:20:00Z, with optional fraction and offset) or a date
 * (YYYY-MM-DD, meaning its midnight UTC), years 1900–9999; "" passes (optional). */
gs_code v_timestamp(call *c, const char *field, const char *s);
/* At most `max` characters, each from the set `cs` (charset.h: GS_CS_CODE, GS_CS_LOGIN,
 * ...); "" passes, so pair it with v_required for a required field. */
gs_code v_chars(call *c, const char *field, const char *s, size_t max, const gs_charset *cs);
/* A code: required, [A-Z0-9._-]{1,64}. */
gs_code v_code(call *c, const char *field, const char *s);

/* Pagination: page_size 0 → default 100, max 1000; page_token is the last id seen.
 * Fills *limit (page_size + 1 to detect a next page) and *after_id. */
gs_code page_args(call *c, int32_t page_size, const char *page_token, int64_t *limit,
                  int64_t *after_id);
/* The next page token is made by db_page_next (db.h) from the fetched rows. */

#endif
