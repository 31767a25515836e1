/* auth.c — roles, the role → permission matrix, and turning an `authorization` header
 * into a verified caller (token signature and expiry here; revocation, deactivation and
 * the current scope come from the users table, checked by dispatch.c in the call's
 * transaction). */
#include "auth.h"

#include <string.h>

static const char *const role_names[ROLE_COUNT] = {
#define GS_X(e, s) [e] = s,
    GS_ROLE_LIST(GS_X)
#undef GS_X
};

static const char *const perm_names[PERM_COUNT] = {
#define GS_X(e, s) [e] = s,
    GS_PERM_LIST(GS_X)
#undef GS_X
};

#define P(x) (1u << (x))
#define READ_BASICS P(PERM_DIRECTORY_READ)

/* The matrix. Scope (which org units) is separate: every role acts in its subtree. */
static const unsigned role_perms[ROLE_COUNT] = {
    [ROLE_ADMIN] = ~0u,
    [ROLE_LOGISTICS] = READ_BASICS | P(PERM_SITE_WRITE) | P(PERM_CATALOG_WRITE) |
                       P(PERM_STOCK_READ) | P(PERM_STOCK_WRITE) | P(PERM_PROCURE) |
                       P(PERM_CHARITY) | P(PERM_REQ_APPROVE),
    [ROLE_COMMUNITY] =
        READ_BASICS | P(PERM_STOCK_READ) | P(PERM_CHARITY) | P(PERM_REQ_CREATE) | P(PERM_HOUSEHOLD),
    [ROLE_FIN_OFFICER] = READ_BASICS | P(PERM_FUND_READ) | P(PERM_FUND_PREPARE),
    [ROLE_FIN_APPROVER] = READ_BASICS | P(PERM_FUND_READ) | P(PERM_FUND_APPROVE),
    [ROLE_POINT_LEADER] = READ_BASICS | P(PERM_STOCK_READ) | P(PERM_REQ_CREATE) |
                          P(PERM_EMERGENCY) | P(PERM_FUND_READ),
    [ROLE_AUDITOR] = READ_BASICS | P(PERM_STOCK_READ) | P(PERM_FUND_READ) | P(PERM_AUDIT_READ),
    [ROLE_SERVICE] = READ_BASICS | P(PERM_STOCK_READ) | P(PERM_STOCK_WRITE) | P(PERM_REQ_CREATE) |
                     P(PERM_FUND_READ),
};

/* Derived permissions (options.proto): a role holds one when it holds any of these. They
 * name the rule a method really checks where no single permission of the design does. */
static const unsigned derived_perms[PERM_COUNT] = {
    /* requisitions are read by the roles that work with them, and by auditors */
    [PERM_REQ_READ] =
        P(PERM_REQ_CREATE) | P(PERM_REQ_APPROVE) | P(PERM_EMERGENCY) | P(PERM_AUDIT_READ),
    /* cancel and close are open to both sides of a requisition */
    [PERM_REQ_ACT] = P(PERM_REQ_CREATE) | P(PERM_REQ_APPROVE),
    /* the preparer cancels a disbursement, the approver withdraws it */
    [PERM_FUND_VOID] = P(PERM_FUND_PREPARE) | P(PERM_FUND_APPROVE),
};

const char *gs_role_name(gs_role r)
{
    return (unsigned)r < ROLE_COUNT ? role_names[r] : "unknown";
}

int gs_role_from_name(const char *name)
{
    for (int i = 0; i < ROLE_COUNT; i++)
        if (name && strcmp(name, role_names[i]) == 0)
            return i;
    return -1;
}

bool gs_role_has(gs_role r, gs_perm p)
{
    if (p == PERM_NONE)
        return true;
    if ((unsigned)r >= ROLE_COUNT || (unsigned)p >= PERM_COUNT)
        return false;
    if (derived_perms[p])
        return (role_perms[r] & derived_perms[p]) != 0;
    return (role_perms[r] & P(p)) != 0;
}

const char *gs_perm_name(gs_perm p)
{
    return (unsigned)p < PERM_COUNT ? perm_names[p] : "unknown";
}
