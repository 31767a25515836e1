/* users.c — UserService: accounts, their role and scope, deactivation and token
 * revocation (admins, within their own scope), and WhoAmI for every caller. */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "method.h"
#include "directory.h"

#include "gridstock/v1/users.pb-c.h"
#include "gridstock/v1/users.rpc.h"

/* The columns user_from_row reads, from users us JOIN org_units ou (the scope unit). */
#define USER_COLUMNS(COL)                                                                          \
    COL(USER_ID, "us.id", id, i64)                                                                 \
    COL(USER_LOGIN, ", us.login", login, str)                                                      \
    COL(USER_DISPLAY_NAME, ", us.display_name", display_name, str)                                 \
    COL(USER_ROLE, ", us.role", role, str)                                                         \
    COL(USER_SCOPE_ID, ", us.scope_id", scope_id, i64)                                             \
    COL(USER_SCOPE_CODE, ", ou.code", scope_code, str)                                             \
    COL(USER_SCOPE_NAME, ", ou.name", scope_name, str)                                             \
    COL(USER_PHONE, ", us.phone", phone, str)                                                      \
    COL(USER_ACTIVE, ", us.active", active, bool)                                                  \
    COL(USER_TOKENS_VALID_AFTER,                                                                   \
        ", CASE WHEN us.tokens_valid_after = '-infinity' THEN '' ELSE " DIR_TS(                    \
            "us.tokens_valid_after") " END",                                                       \
        tokens_valid_after, str)                                                                   \
    COL(USER_CREATED_AT, ", " DIR_TS("us.created_at"), created_at, str)                            \
    COL(USER_UPDATED_AT, ", " DIR_TS("us.updated_at"), updated_at, str)
enum { USER_COLUMNS(DB_COL_NAME) USER_NCOLS };
#define USER_COLS USER_COLUMNS(DB_COL_SQL)
#define USER_FROM " FROM users us JOIN org_units ou ON ou.id = us.scope_id"

static void user_from_row(Gridstock__V1__User *m, const db_res *r, int row)
{
    USER_COLUMNS(DB_COL_FILL)
}

/* Fills `m` with user `id` if their scope lies in the caller's, locking the row when
 * `lock`. */
static gs_code user_load(call *c, int64_t id, bool lock, Gridstock__V1__User *m)
{
    GS_TRY(v_positive(c, "id", id));
    if (lock)
        DB_LOAD(c, m, user_from_row, "user", id,
                "SELECT " USER_COLS USER_FROM " WHERE us.id = $1 AND ou.path <@ $2::ltree"
                " FOR UPDATE OF us",
                2, call_i64(c, id), c->who.scope_path);
    else
        DB_LOAD(c, m, user_from_row, "user", id,
                "SELECT " USER_COLS USER_FROM " WHERE us.id = $1 AND ou.path <@ $2::ltree", 2,
                call_i64(c, id), c->who.scope_path);
    return GS_OK;
}

static gs_code v_login(call *c, const char *field, const char *s)
{
    GS_TRY(v_required(c, field, s));
    return v_chars(c, field, s, 64, &GS_CS_LOGIN);
}

static gs_code v_role(call *c, const char *field, const char *s)
{
    GS_TRY(v_required(c, field, s));
    if (gs_role_from_name(s) >= 0)
        return GS_OK;
    return call_fail(c, GS_INVALID_ARGUMENT,
                     "%s: \"%.64s\" is not a role (admin, logistics_officer, community_staff,"
                     " finance_officer, finance_approver, point_leader, auditor, service)",
                     field, s);
}

static gs_code v_display_name(call *c, const char *s)
{
    GS_TRY(v_required(c, "display_name", s));
    return v_len(c, "display_name", s, 200);
}

gs_code user_create_user(call *c, const Gridstock__V1__CreateUserRequest *req,
                         Gridstock__V1__User *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_login(c, "login", req->login));
    GS_TRY(v_display_name(c, req->display_name));
    GS_TRY(v_role(c, "role", req->role));
    GS_TRY(v_len(c, "phone", req->phone, 32));
    GS_TRY(dir_unit_find(c, req->scope_id, req->scope_code, "scope_id", true, &u));
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO users (login, display_name, role, scope_id, phone)"
                   " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                   5, req->login, req->display_name, req->role, call_i64(c, u.id), req->phone));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(user_load(c, id, false, resp));
    c->audit_object = call_printf(c, "user:%" PRId64, id);
    c->audit_summary =
        call_printf(c, "created user %s as %s in %s", resp->login, resp->role, u.code);
    return GS_OK;
}

static const char *const user_mask_fields[] = {"display_name", "role",   "scope",
                                               "phone",        "active", NULL};

gs_code user_update_user(call *c, const Gridstock__V1__UpdateUserRequest *req,
                         Gridstock__V1__User *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *p[6] = {0};
    const char *changed = NULL;
    bool self = req->id == c->who.user_id;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(dir_mask_check(c, nm, mask, user_mask_fields));
    GS_TRY(user_load(c, req->id, true, resp)); /* NOT_FOUND outside the scope */

    if (dir_mask_has(nm, mask, "display_name", *req->display_name)) {
        GS_TRY(v_display_name(c, req->display_name));
        p[1] = req->display_name;
        dir_note(c, &changed, "display_name");
    }
    if (dir_mask_has(nm, mask, "role", *req->role)) {
        GS_TRY(v_role(c, "role", req->role));
        if (self && strcmp(req->role, resp->role) != 0)
            return call_fail_why(c, GS_FAILED_PRECONDITION, GS_R_SECOND_PERSON_REQUIRED,
                                 "role: you cannot change your own role");
        p[2] = req->role;
        dir_note(c, &changed, "role");
    }
    if (dir_mask_has(nm, mask, "scope", req->scope_id || *req->scope_code)) {
        dir_unit u;
        GS_TRY(dir_unit_find(c, req->scope_id, req->scope_code, "scope_id", true, &u));
        if (self && u.id != resp->scope_id)
            return call_fail_why(c, GS_FAILED_PRECONDITION, GS_R_SECOND_PERSON_REQUIRED,
                                 "scope_id: you cannot change your own scope");
        p[3] = call_i64(c, u.id);
        dir_note(c, &changed, "scope");
    }
    if (dir_mask_has(nm, mask, "phone", *req->phone)) {
        GS_TRY(v_len(c, "phone", req->phone, 32));
        p[4] = req->phone;
        dir_note(c, &changed, "phone");
    }
    if (dir_mask_has(nm, mask, "active", req->active)) {
        if (self && !req->active)
            return call_fail(c, GS_FAILED_PRECONDITION, "active: you cannot deactivate yourself");
        p[5] = req->active ? "true" : "false";
        dir_note(c, &changed, "active");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");

    p[0] = call_i64(c, req->id);
    /* Deactivation also refuses every token issued so far. */
    GS_TRY(db_execv(c, NULL,
                    "UPDATE users SET display_name = COALESCE($2, display_name),"
                    " role = COALESCE($3, role), scope_id = COALESCE($4::bigint, scope_id),"
                    " phone = COALESCE($5, phone), active = COALESCE($6::bool, active),"
                    " tokens_valid_after = CASE WHEN $6::bool IS FALSE AND active THEN now()"
                    "   ELSE tokens_valid_after END,"
                    " updated_at = now() WHERE id = $1::bigint",
                    6, p));
    GS_TRY(user_load(c, req->id, false, resp));
    c->audit_object = call_printf(c, "user:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "updated user %s: %s", resp->login, changed);
    return GS_OK;
}

gs_code user_deactivate_user(call *c, const Gridstock__V1__DeactivateUserRequest *req,
                             Gridstock__V1__User *resp)
{
    GS_TRY(user_load(c, req->id, true, resp));
    if (req->id == c->who.user_id)
        return call_fail(c, GS_FAILED_PRECONDITION, "id: you cannot deactivate yourself");
    c->audit_object = call_printf(c, "user:%" PRId64, req->id);
    if (!resp->active) {
        c->audit_summary = call_printf(c, "user %s was already inactive", resp->login);
        return GS_OK;
    }
    GS_TRY(db_exec(c, NULL,
                   "UPDATE users SET active = false, tokens_valid_after = now(),"
                   " updated_at = now() WHERE id = $1",
                   1, call_i64(c, req->id)));
    GS_TRY(user_load(c, req->id, false, resp));
    c->audit_summary = call_printf(c, "deactivated user %s and revoked their tokens", resp->login);
    return GS_OK;
}

gs_code user_get_user(call *c, const Gridstock__V1__GetUserRequest *req, Gridstock__V1__User *resp)
{
    if (req->id || !*req->login) {
        if (!req->id)
            return call_fail(c, GS_INVALID_ARGUMENT, "id: required (id or login)");
        return user_load(c, req->id, false, resp);
    }
    GS_TRY(v_len(c, "login", req->login, 64));
    DB_LOAD_BY(c, resp, user_from_row, "user", GS_BY_CODE, 0, req->login,
               "SELECT " USER_COLS USER_FROM " WHERE us.login = $1 AND ou.path <@ $2::ltree", 2,
               req->login, c->who.scope_path);
    return GS_OK;
}

gs_code user_list_users(call *c, const Gridstock__V1__ListUsersRequest *req,
                        Gridstock__V1__ListUsersResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    if (*req->role)
        GS_TRY(v_role(c, "role", req->role));
    GS_TRY(v_len(c, "query", req->query, 200));
    GS_TRY(dir_unit_find(c, req->scope_id, req->scope_code, "scope_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " USER_COLS USER_FROM " WHERE ou.path <@ $1::ltree"
                   " AND ($2 = '' OR us.role = $2) AND ($3::bool OR us.active)"
                   " AND ($4 = '' OR strpos(us.login, lower($4)) > 0"
                   "      OR strpos(lower(us.display_name), lower($4)) > 0)"
                   " AND us.id > $5::bigint ORDER BY us.id LIMIT $6::bigint",
                   6, u.path, req->role, req->include_inactive ? "true" : "false", req->query,
                   call_i64(c, after), call_i64(c, limit)));
    DB_PAGE_INTO(c, r, limit, USER_ID, resp->next_page_token, resp->users, resp->n_users,
                 &gridstock__v1__user__descriptor, user_from_row);
    return GS_OK;
}

gs_code user_revoke_user_tokens(call *c, const Gridstock__V1__RevokeUserTokensRequest *req,
                                Gridstock__V1__User *resp)
{
    GS_TRY(user_load(c, req->id, true, resp));
    GS_TRY(db_exec(c, NULL,
                   "UPDATE users SET tokens_valid_after = now(), updated_at = now() WHERE id = $1",
                   1, call_i64(c, req->id)));
    GS_TRY(user_load(c, req->id, false, resp));
    c->audit_object = call_printf(c, "user:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "revoked the tokens of %s", resp->login);
    return GS_OK;
}

/* WhoAmI: the user, then the kind of unit their scope is. */
#define WHOAMI_COLUMNS(COL) COL(WHOAMI_SCOPE_KIND, ", ou.kind")
enum { WHOAMI_BEFORE_ = USER_NCOLS - 1, WHOAMI_COLUMNS(DB_COL_NAME) WHOAMI_NCOLS };
#define WHOAMI_COLS WHOAMI_COLUMNS(DB_COL_SQL)

gs_code user_who_am_i(call *c, const Gridstock__V1__WhoAmIRequest *req,
                      Gridstock__V1__WhoAmIResponse *resp)
{
    db_res *r = NULL;

    /* The caller's own row, whatever their scope (a service account may sit anywhere). */
    GS_TRY(db_find_id(c, &r, "user", c->who.user_id,
                      "SELECT " USER_COLS WHOAMI_COLS USER_FROM " WHERE us.id = $1", 1,
                      call_i64(c, c->who.user_id)));
    resp->user = call_msg(c, &gridstock__v1__user__descriptor);
    user_from_row(resp->user, r, 0);
    resp->role = (char *)gs_role_name(c->who.role);
    resp->scope_id = resp->user->scope_id;
    resp->scope_code = resp->user->scope_code;
    resp->scope_name = resp->user->scope_name;
    resp->scope_kind = (char *)db_str(r, 0, WHOAMI_SCOPE_KIND);

    size_t n = 0;
    resp->permissions = (char **)call_ptrs(c, PERM_COUNT);
    for (int p = PERM_NONE + 1; p < PERM_COUNT; p++)
        if (gs_role_has(c->who.role, (gs_perm)p))
            resp->permissions[n++] = (char *)gs_perm_name((gs_perm)p);
    resp->n_permissions = n;
    return GS_OK;
}
