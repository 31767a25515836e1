/* gs_reasons.h — the stable reasons of gridstock's errors (google.rpc.ErrorInfo.reason,
 * domain "gridstock"), shared by the server, which sends them, and the CLI, which shows
 * them in the user's language. One X-macro: the reason and an English sentence a person
 * reads (marked for gettext). A status with no more specific reason carries the name of
 * its code as its reason ("NOT_FOUND"). docs/errors.md lists them; a test keeps the two
 * in step. Add at the end of a group; never rename one (clients match on them). */
#ifndef GS_REASONS_H
#define GS_REASONS_H

#ifndef N_
#define N_(s) (s)
#endif

#define GS_REASON_LIST(X)                                                                          \
    /* invalid input: each also carries a google.rpc.BadRequest naming the field */                \
    X(FIELD_REQUIRED, N_("a required field is empty"))                                             \
    X(FIELD_TOO_LONG, N_("a field is too long"))                                                   \
    X(FIELD_OUT_OF_RANGE, N_("a number is outside its allowed range"))                             \
    X(FIELD_BAD_FORMAT, N_("a field is not in the expected format"))                               \
    X(FIELD_BAD_CHARACTERS, N_("a field holds characters it may not hold"))                        \
    X(FIELD_INVALID, N_("a field's value is not valid"))                                           \
    X(REQUEST_MALFORMED, N_("the request is not a valid message"))                                 \
    X(REQUEST_ID_MISSING, N_("a change needs an x-request-id"))                                    \
    X(REQUEST_ID_REUSED, N_("this request id was already used for another request"))               \
    /* who is calling */                                                                           \
    X(TOKEN_MISSING, N_("not signed in"))                                                          \
    X(TOKEN_INVALID, N_("the sign-in token is not valid"))                                         \
    X(TOKEN_EXPIRED, N_("the sign-in token has expired: sign in again"))                           \
    X(TOKEN_REVOKED, N_("the sign-in was revoked or the user changed: sign in again"))             \
    X(USER_DEACTIVATED, N_("the user is deactivated"))                                             \
    X(CERTIFICATE_NOT_USER, N_("the client certificate belongs to another user than the token"))   \
    X(ROLE_NOT_ALLOWED, N_("your role may not do this"))                                           \
    /* limits */                                                                                   \
    X(CALL_TOO_LARGE, N_("the call needs more memory than the server allows: ask for less"))       \
    X(TOO_MANY_CALLS, N_("too many of your calls are running at once"))                            \
    X(TOO_MANY_STREAMS, N_("too many watches are open"))                                           \
    /* the database */                                                                             \
    X(CONCURRENT_CHANGE, N_("a concurrent change conflicted: try again"))                          \
    X(DATABASE_UNAVAILABLE, N_("the database is unavailable: try again later"))                    \
    X(DUPLICATE, N_("an object with this key already exists"))                                     \
    X(REFERENCED_NOT_FOUND, N_("a referenced object does not exist"))                              \
    X(CONSTRAINT_VIOLATED, N_("the change would break a rule of the data"))                        \
    /* stock */                                                                                    \
    X(STOCK_INSUFFICIENT, N_("not enough stock"))                                                  \
    X(STOCK_RESERVED, N_("the stock is reserved for other requests"))                              \
    X(RESERVATION_INSUFFICIENT, N_("less is reserved than asked for"))                             \
    X(LOT_EXPIRED, N_("the lot has expired"))                                                      \
    X(LOT_CONFLICT, N_("the lot already exists with other details"))                               \
    X(SITE_KEEPS_NO_STOCK, N_("a supplier market keeps no stock in gridstock"))                    \
    X(OBJECT_INACTIVE, N_("the site, item or account is inactive"))                                \
    X(WRONG_STATE, N_("the object is not in a state that allows this"))                            \
    X(QUOTA_EXCEEDED, N_("the household's quota would be exceeded"))                               \
    X(PRICE_MISSING, N_("the supplier has no price for this item"))                                \
    X(PRICE_PERIOD_CONFLICT, N_("another price already covers that period"))                       \
    X(RECEIPT_EXCEEDS_ORDER, N_("more is received than the order still expects"))                  \
    /* money */                                                                                    \
    X(FUNDS_INSUFFICIENT, N_("not enough money in the fund"))                                      \
    X(BUDGET_EXCEEDED, N_("the budget would be exceeded"))                                         \
    X(SECOND_PERSON_REQUIRED, N_("this needs a second person: you may not approve your own work")) \
    X(NOT_YOURS, N_("only the person who prepared it may change it"))                              \
    X(NOT_ELIGIBLE, N_("you are not eligible for this step in this area"))                         \
    X(FAILED_CHECKS, N_("the checks before this step found problems"))                             \
    /* households (issue 19) */                                                                    \
    X(HOUSEHOLD_REGISTERED, N_("this head of household is already registered in the district"))    \
    X(WALK_IN_SERVED,                                                                              \
      N_("the household is not registered and has had its walk-in help: register it"))

typedef enum gs_reason {
    GS_R_NONE = 0, /* no specific reason: the code's name is sent */
#define GS_R_X(name, text) GS_R_##name,
    GS_REASON_LIST(GS_R_X)
#undef GS_R_X
        GS_R_COUNT
} gs_reason;

/* "STOCK_INSUFFICIENT" for GS_R_STOCK_INSUFFICIENT; NULL for GS_R_NONE or out of range. */
const char *gs_reason_name(gs_reason r);
/* The English sentence for a reason name, or NULL when the name is not one of ours (the
 * CLI translates what it returns). */
const char *gs_reason_text(const char *name);
/* The reason with this name, or GS_R_NONE. */
gs_reason gs_reason_from_name(const char *name);

#endif
