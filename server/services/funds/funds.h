/* funds.h — what the grid-work-fund services (funds.c, disbursements.c, and the
 * programme/report services built on them) share: the disbursement state machine, the
 * enumerations of 020_funds.sql, account and posting lookups, and the periodic jobs
 * (reservation expiry, audit sealing) main registers before monitor_start. */
#ifndef GS_FUNDS_H
#define GS_FUNDS_H

#include <stdbool.h>
#include <stdint.h>

#include "call.h"
#include "config.h"

/* The disbursement state machine. The same transitions are the rows of the SQL table
 * fund_disbursement_transitions, which a trigger enforces; VerifyLedger reports any
 * difference between the two.
 *
 *   prepared  — written by a finance officer; may be edited, approved, rejected, voided
 *   approved  — a finance approver (not the preparer) reserved the money on the grid fund
 *               and its budgets; bound to the content hash. Posted, voided, expired, or
 *               sent back to prepared by an edit (which voids the approval)
 *   posted    — the money moved fund → payee (a posting); may be reversed
 *   rejected, voided, expired, reversed — final */
#define DISB_STATE_LIST(X)                                                                         \
    X(DS_PREPARED, "prepared")                                                                     \
    X(DS_APPROVED, "approved")                                                                     \
    X(DS_POSTED, "posted")                                                                         \
    X(DS_REJECTED, "rejected")                                                                     \
    X(DS_VOIDED, "voided")                                                                         \
    X(DS_EXPIRED, "expired")                                                                       \
    X(DS_REVERSED, "reversed")

typedef enum disb_state {
#define GS_X(e, s) e,
    DISB_STATE_LIST(GS_X)
#undef GS_X
        DS_COUNT
} disb_state;

/* Its states and moves (fsm.h). */
extern const struct fsm disb_fsm;

/* The enumerations of 020_funds.sql, NULL-terminated (for dir_enum). */
extern const char *const fund_categories[];
extern const char *const fund_account_kinds[];
extern const char *const fund_posting_kinds[];
extern const char *const disb_state_names[];

/* The account named by id, else code, else (grid_code) the work fund of that grid, that
 * the caller can see (its org unit in the caller's subtree; payees and expense accounts
 * of an enclosing unit and district-wide accounts too). None given: INVALID_ARGUMENT
 * naming `field`; unknown or invisible: NOT_FOUND. */
gs_code fund_account_find(call *c, int64_t id, const char *code, const char *grid_code,
                          const char *field, int64_t *out_id);

/* Fills n postings (ids in `ids`, in that order) with their entries; each message is
 * allocated in the call's arena (Gridstock__V1__Posting *). */
gs_code fund_postings_load(call *c, const int64_t *ids, int n, void **out);

/* A period: YYYY, YYYY-Qn or YYYY-MM (month_only: YYYY-MM), years 2000..2200; else
 * INVALID_ARGUMENT naming `field`. */
gs_code fund_check_period(call *c, const char *field, const char *p, bool month_only);

/* The TTL of approved-but-unposted disbursements (seconds), as configured. */
int funds_disbursement_ttl_s(void);

/* Registers the periodic jobs with the monitor: expiry of approved disbursements and fund
 * movements older than cfg->disbursement_ttl_s (every 30 s) and sealing of the audit log
 * (every 5 s).
 * Call from main before monitor_start. */
void funds_jobs_register(const gs_config *cfg);

#endif
