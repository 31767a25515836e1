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

/* Permissions a method can require: gridstock.v1.Perm in proto/gridstock/v1/options.proto,
 * generated into gs_perm.h by the build (each rpc names its own there). PERM_NONE: no token
 * needed (health, reflection). PERM_REQ_READ, PERM_REQ_ACT and PERM_FUND_VOID are derived:
 * a role holds one when it holds any of the permissions auth.c lists for it. */
#include "gs_perm.h"

typedef enum gs_perm {
#define GS_X(e, s) e,
    GS_PERM_LIST(GS_X)
#undef GS_X
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
