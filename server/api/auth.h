/* auth.h — roles, permissions and the caller's identity. A role grants a set of
 * permissions (one matrix in auth.c); a caller acts only within the org-unit subtree of
 * their scope, which handlers enforce in SQL with `path <@ scope_path`. */
#ifndef GS_AUTH_H
#define GS_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#define GS_ROLE_LIST(X)                                                                            \
    X(ROLE_ADMIN, "admin")                                                                         \
    X(ROLE_LOGISTICS, "logistics_officer")                                                         \
    X(ROLE_COMMUNITY, "community_staff")                                                           \
    X(ROLE_FIN_OFFICER, "finance_officer")                                                         \
    X(ROLE_FIN_APPROVER, "finance_approver")                                                       \
    X(ROLE_POINT_LEADER, "point_leader")                                                           \
    X(ROLE_AUDITOR, "auditor")                                                                     \
    X(ROLE_SERVICE, "service")

typedef enum gs_role {
#define GS_X(e, s) e,
    GS_ROLE_LIST(GS_X)
#undef GS_X
        ROLE_COUNT
} gs_role;

/* Permissions a method can require. PERM_NONE: no token needed (health, reflection). */
typedef enum gs_perm {
    PERM_NONE,
    PERM_DIRECTORY_READ, /* org units, compounds, sites, catalog */
    PERM_USER_ADMIN,     /* users and roles */
    PERM_SITE_WRITE,     /* create/update/deactivate sites */
    PERM_CATALOG_WRITE,  /* items, reorder points, par levels */
    PERM_STOCK_READ,
    PERM_STOCK_WRITE, /* receive, issue, transfer, adjust, stocktake */
    PERM_PROCURE,     /* price lists, purchase orders */
    PERM_CHARITY,     /* donations, distributions */
    PERM_REQ_CREATE,  /* create/submit/cancel/confirm requisitions */
    PERM_REQ_APPROVE, /* approve, reject, allocate, dispatch */
    PERM_EMERGENCY,   /* switch emergency mode */
    PERM_FUND_READ,
    PERM_FUND_PREPARE, /* prepare disbursements, allocations, budgets */
    PERM_FUND_APPROVE,
    PERM_AUDIT_READ,
    PERM_COUNT
} gs_perm;

const char *gs_role_name(gs_role r);
/* -1 when unknown. */
int gs_role_from_name(const char *name);
bool gs_role_has(gs_role r, gs_perm p);
const char *gs_perm_name(gs_perm p);

/* Who is calling: filled by the runtime from the verified token and the users table. */
typedef struct caller {
    int64_t user_id;
    const char *login; /* users.login */
    gs_role role;
    int64_t scope_id;       /* org unit id */
    const char *scope_path; /* ltree text of the scope's path, e.g. "1.3.17" */
    int64_t token_iat;      /* the bearer token's issue and expiry times (Unix seconds), */
    int64_t token_exp;      /* for watches that re-check their caller; 0 when unknown */
} caller;

#endif
