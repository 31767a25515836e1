/* programmes.c — ProgrammeService: subsidy programmes (grid leader subsidy, volunteer
 * allowance, assessment rewards and penalties), their members and assessment scores, and
 * runs that generate, approve and post a batch of disbursements. Each batch step is one
 * PL/pgSQL function of 021_programmes.sql (one statement per step, whatever the size of
 * the batch); handlers validate, resolve names within the caller's scope and fill the
 * responses. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "db.h"
#include "pg_array.h"
#include "funds.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/programmes.pb-c.h"
#include "gridstock/v1/programmes.rpc.h"

enum { BANDS_MAX = 20, MEMBERS_MAX = 5000, SCORES_MAX = 5000 };

static const char *const programme_kinds[] = {"grid_leader_subsidy", "volunteer_allowance",
                                              "assessment", NULL};

static gs_code check_score(call *c, const char *field, double v)
{
    if (!isfinite(v) || v < 0 || v > 100)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: a score from 0 to 100, got %g", field, v);
    return GS_OK;
}

/* ------------------------------------------------------------------ programmes */

#define PROG_COLUMNS(COL)                                                                          \
    COL(PROG_ID, "p.id")                                                                           \
    COL(PROG_CODE, ", p.code")                                                                     \
    COL(PROG_NAME, ", p.name")                                                                     \
    COL(PROG_KIND, ", p.kind")                                                                     \
    COL(PROG_CATEGORY, ", p.category")                                                             \
    COL(PROG_AMOUNT, ", p.amount")                                                                 \
    COL(PROG_ORG_UNIT_ID, ", p.org_unit_id")                                                       \
    COL(PROG_ORG_UNIT_CODE, ", ou.code")                                                           \
    COL(PROG_ACTIVE, ", p.active")                                                                 \
    COL(PROG_MEMBERS,                                                                              \
        ", (SELECT count(*) FROM fund_programme_members m WHERE m.programme_id = p.id)::int")      \
    COL(PROG_CREATED_BY_ID, ", p.created_by")                                                      \
    COL(PROG_CREATED_BY_LOGIN, ", u.login")                                                        \
    COL(PROG_CREATED_AT, ", fund_ts(p.created_at)")                                                \
    COL(PROG_BANDS, ", (SELECT coalesce(string_agg(b.min_score || ':' || b.amount, ' ' ORDER BY "  \
                    "b.min_score), '') FROM fund_programme_bands b WHERE b.programme_id = p.id)")
enum { PROG_COLUMNS(DB_COL_NAME) PROG_NCOLS };
#define PROG_COLS PROG_COLUMNS(DB_COL_SQL)
#define PROG_FROM                                                                                  \
    " FROM fund_programmes p JOIN org_units ou ON ou.id = p.org_unit_id"                           \
    " JOIN users u ON u.id = p.created_by"
/* the programme's subtree and the caller's scope overlap */
#define PROG_VISIBLE " (ou.path <@ $1::ltree OR $1::ltree <@ ou.path)"

static void programme_from_row(call *c, Gridstock__V1__Programme *m, const db_res *r, int row)
{
    m->id = db_i64(r, row, PROG_ID);
    m->code = (char *)db_str(r, row, PROG_CODE);
    m->name = (char *)db_str(r, row, PROG_NAME);
    m->kind = (char *)db_str(r, row, PROG_KIND);
    m->category = (char *)db_str(r, row, PROG_CATEGORY);
    m->amount = db_i64(r, row, PROG_AMOUNT);
    m->org_unit_id = db_i64(r, row, PROG_ORG_UNIT_ID);
    m->org_unit_code = (char *)db_str(r, row, PROG_ORG_UNIT_CODE);
    m->active = db_bool(r, row, PROG_ACTIVE);
    m->members = db_i32(r, row, PROG_MEMBERS);
    m->created_by_id = db_i64(r, row, PROG_CREATED_BY_ID);
    m->created_by_login = (char *)db_str(r, row, PROG_CREATED_BY_LOGIN);
    m->created_at = (char *)db_str(r, row, PROG_CREATED_AT);
    /* "60.00:0 90.00:50000" */
    const char *bands = db_str(r, row, PROG_BANDS);
    size_t n = 0;
    for (const char *s = bands; *s; s++)
        n += *s == ':';
    m->n_bands = n;
    m->bands = (Gridstock__V1__ProgrammeBand **)call_ptrs(c, n);
    const char *s = bands;
    for (size_t i = 0; i < n; i++) {
        Gridstock__V1__ProgrammeBand *b = call_msg(c, &gridstock__v1__programme_band__descriptor);
        int used = 0;
        if (sscanf(s, "%lf:%" SCNd64 "%n", &b->min_score, &b->amount, &used) < 2)
            break;
        s += used;
        while (*s == ' ')
            s++;
        m->bands[i] = b;
    }
}

static gs_code programme_load(call *c, int64_t id, const char *code, Gridstock__V1__Programme *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r,
                   "SELECT " PROG_COLS PROG_FROM " WHERE" PROG_VISIBLE
                   " AND CASE WHEN $2::bigint > 0 THEN p.id = $2::bigint ELSE p.code = $3 END",
                   3, c->who.scope_path, call_i64(c, id), code));
    if (db_rows(r) == 0) {
        if (id)
            return call_fail(c, GS_NOT_FOUND, "programme %" PRId64 " not found", id);
        return call_fail(c, GS_NOT_FOUND, "programme \"%.64s\" not found", code);
    }
    programme_from_row(c, m, r, 0);
    return GS_OK;
}

/* The programme named by id, else code (visible to the caller). */
static gs_code programme_find(call *c, int64_t id, const char *code, const char *field,
                              Gridstock__V1__Programme **out)
{
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: must be positive", field);
    if (id == 0 && !*code)
        return call_fail(c, GS_INVALID_ARGUMENT, "%s: required (id or code)", field);
    GS_TRY(v_len(c, field, code, 64));
    *out = call_msg(c, &gridstock__v1__programme__descriptor);
    return programme_load(c, id, code, *out);
}

/* Checks bands and turns them into two array literals. */
static gs_code bands_args(call *c, size_t n, Gridstock__V1__ProgrammeBand *const *bands,
                          const char **scores, const char **amounts)
{
    if (n == 0 || n > BANDS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "bands: 1 to %d bands, got %zu", BANDS_MAX, n);
    double *s = arena_alloc(c->arena, n * sizeof *s);
    int64_t *a = arena_alloc(c->arena, n * sizeof *a);
    for (size_t i = 0; i < n; i++) {
        GS_TRY(check_score(c, call_printf(c, "bands[%zu].min_score", i), bands[i]->min_score));
        GS_TRY(v_range(c, call_printf(c, "bands[%zu].amount", i), bands[i]->amount, -100000000,
                       100000000));
        s[i] = round(bands[i]->min_score * 100) / 100;
        a[i] = bands[i]->amount;
        for (size_t j = 0; j < i; j++)
            if (s[j] == s[i])
                return call_fail(c, GS_INVALID_ARGUMENT, "bands[%zu].min_score: %.2f appears twice",
                                 i, s[i]);
    }
    *scores = pg_array_num2(c, s, n);
    *amounts = pg_array_i64(c, a, n);
    return GS_OK;
}

gs_code programme_create_programme(call *c, const Gridstock__V1__CreateProgrammeRequest *req,
                                   Gridstock__V1__Programme *resp)
{
    const char *scores = "{}", *amounts = "{}";
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_code(c, "code", req->code));
    GS_TRY(v_required(c, "name", req->name));
    GS_TRY(v_len(c, "name", req->name, 200));
    GS_TRY(dir_enum(c, "kind", req->kind, programme_kinds, true));
    GS_TRY(dir_enum(c, "category", req->category, fund_categories, true));
    bool assessment = strcmp(req->kind, "assessment") == 0;
    if (assessment) {
        if (req->amount != 0)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "amount: an assessment programme pays by its bands; leave amount 0");
        GS_TRY(bands_args(c, req->n_bands, req->bands, &scores, &amounts));
    } else {
        GS_TRY(v_range(c, "amount", req->amount, 1, 100000000));
        if (req->n_bands)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "bands: only assessment programmes have score bands");
    }
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "WITH p AS (INSERT INTO fund_programmes (code, name, kind, category, amount,"
                   " org_unit_id, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id),"
                   " b AS (INSERT INTO fund_programme_bands (programme_id, min_score, amount)"
                   " SELECT p.id, x.s, x.a FROM p, unnest($8::numeric[], $9::bigint[]) x(s, a))"
                   " SELECT id FROM p",
                   9, req->code, req->name, req->kind, req->category, call_i64(c, req->amount),
                   call_i64(c, u.id), call_i64(c, c->who.user_id), scores, amounts));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(programme_load(c, id, "", resp));
    c->audit_object = call_printf(c, "programme:%" PRId64, id);
    c->audit_summary = call_printf(c, "created %s programme %s \"%s\" (%s) for %s", req->kind,
                                   req->code, req->name, req->category, u.code);
    return GS_OK;
}

static const char *const programme_update_fields[] = {"name", "amount", "bands", "active", NULL};

gs_code programme_update_programme(call *c, const Gridstock__V1__UpdateProgrammeRequest *req,
                                   Gridstock__V1__Programme *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *name = NULL, *amount = NULL, *active = NULL, *scores = NULL, *amounts = NULL;
    const char *changed = NULL;

    GS_TRY(dir_mask_check(c, nm, mask, programme_update_fields));
    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(programme_load(c, req->id, "", resp));
    /* A programme of a unit above the caller's scope is visible (its members in the scope
     * can be run), but only someone whose scope covers it all may change it. */
    db_res *own = NULL;
    GS_TRY(db_exec(c, &own,
                   "SELECT 1 FROM fund_programmes p JOIN org_units ou ON ou.id = p.org_unit_id"
                   " WHERE p.id = $1 AND ou.path <@ $2::ltree",
                   2, call_i64(c, req->id), c->who.scope_path));
    if (db_rows(own) == 0)
        return call_fail(c, GS_PERMISSION_DENIED,
                         "programme %s covers more than your scope: only its owner's level may "
                         "change it",
                         resp->code);
    bool assessment = strcmp(resp->kind, "assessment") == 0;
    if (dir_mask_has(nm, mask, "name", *req->name)) {
        GS_TRY(v_required(c, "name", req->name));
        GS_TRY(v_len(c, "name", req->name, 200));
        name = req->name;
        dir_note(c, &changed, "name");
    }
    if (dir_mask_has(nm, mask, "amount", req->amount != 0)) {
        if (assessment)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "amount: an assessment programme pays by its bands");
        GS_TRY(v_range(c, "amount", req->amount, 1, 100000000));
        amount = call_i64(c, req->amount);
        dir_note(c, &changed, "amount");
    }
    if (dir_mask_has(nm, mask, "bands", req->n_bands > 0)) {
        if (!assessment)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "bands: only assessment programmes have score bands");
        GS_TRY(bands_args(c, req->n_bands, req->bands, &scores, &amounts));
        dir_note(c, &changed, "bands");
    }
    /* as for every field, an empty mask takes only non-empty values: deactivating needs
     * update_mask ["active"] */
    if (dir_mask_has(nm, mask, "active", req->active)) {
        active = req->active ? "true" : "false";
        dir_note(c, &changed, "active");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");
    GS_TRY(db_exec(c, NULL,
                   "WITH u AS (UPDATE fund_programmes SET name = coalesce($2, name),"
                   " amount = coalesce($3::bigint, amount), active = coalesce($4::boolean, active),"
                   " updated_at = now() WHERE id = $1 RETURNING id),"
                   " d AS (DELETE FROM fund_programme_bands WHERE programme_id = $1"
                   " AND $5::numeric[] IS NOT NULL)"
                   " INSERT INTO fund_programme_bands (programme_id, min_score, amount)"
                   " SELECT $1, x.s, x.a FROM unnest($5::numeric[], $6::bigint[]) x(s, a)"
                   " ON CONFLICT (programme_id, min_score) DO UPDATE SET amount = excluded.amount",
                   6, call_i64(c, req->id), name, amount, active, scores, amounts));
    GS_TRY(programme_load(c, req->id, "", resp));
    c->audit_object = call_printf(c, "programme:%" PRId64, req->id);
    c->audit_summary = call_printf(c, "changed %s of programme %s", changed, resp->code);
    return GS_OK;
}

gs_code programme_get_programme(call *c, const Gridstock__V1__GetProgrammeRequest *req,
                                Gridstock__V1__Programme *resp)
{
    Gridstock__V1__Programme *p;
    GS_TRY(programme_find(c, req->id, req->code, "id", &p));
    *resp = *p;
    return GS_OK;
}

gs_code programme_list_programmes(call *c, const Gridstock__V1__ListProgrammesRequest *req,
                                  Gridstock__V1__ListProgrammesResponse *resp)
{
    db_res *r = NULL;

    GS_TRY(dir_enum(c, "kind", req->kind, programme_kinds, false));
    GS_TRY(db_exec(c, &r,
                   "SELECT " PROG_COLS PROG_FROM " WHERE" PROG_VISIBLE
                   " AND ($2 = '' OR p.kind = $2) AND (p.active OR $3::boolean)"
                   " ORDER BY p.id LIMIT 1000",
                   3, c->who.scope_path, req->kind, req->include_inactive ? "true" : "false"));
    int rows = db_rows(r);
    resp->n_programmes = (size_t)rows;
    resp->programmes = (Gridstock__V1__Programme **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        resp->programmes[i] = call_msg(c, &gridstock__v1__programme__descriptor);
        programme_from_row(c, resp->programmes[i], r, i);
    }
    return GS_OK;
}

/* ------------------------------------------------------------------ members */

#define MEMBER_COLUMNS(COL)                                                                        \
    COL(MEMBER_PAYEE_ACCOUNT_ID, "m.payee_account_id", payee_account_id, i64)                      \
    COL(MEMBER_PAYEE_CODE, ", a.code", payee_code, str)                                            \
    COL(MEMBER_PAYEE_NAME, ", a.name", payee_name, str)                                            \
    COL(MEMBER_GRID_CODE, ", g.code", grid_code, str)                                              \
    COL(MEMBER_AMOUNT, ", m.amount", amount, i64)
enum { MEMBER_COLUMNS(DB_COL_NAME) MEMBER_NCOLS };
#define MEMBER_COLS MEMBER_COLUMNS(DB_COL_SQL)

static void programme_member_from_row(Gridstock__V1__ProgrammeMember *m, const db_res *r, int row)
{
    MEMBER_COLUMNS(DB_COL_FILL)
}

static gs_code members_load(call *c, int64_t programme,
                            Gridstock__V1__ListProgrammeMembersResponse *resp)
{
    db_res *r = NULL;
    /* members in grids the caller can see */
    GS_TRY(
        db_exec(c, &r,
                "SELECT " MEMBER_COLS
                " FROM fund_programme_members m JOIN fund_accounts a ON a.id = m.payee_account_id"
                " JOIN org_units g ON g.id = m.grid_id"
                " WHERE m.programme_id = $1 AND g.path <@ $2::ltree ORDER BY g.code, a.code",
                2, call_i64(c, programme), c->who.scope_path));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->members, resp->n_members,
                 &gridstock__v1__programme_member__descriptor, programme_member_from_row);
    return GS_OK;
}

gs_code programme_set_programme_members(call *c,
                                        const Gridstock__V1__SetProgrammeMembersRequest *req,
                                        Gridstock__V1__ListProgrammeMembersResponse *resp)
{
    size_t n = req->n_members;
    Gridstock__V1__Programme *p;

    GS_TRY(v_positive(c, "programme_id", req->programme_id));
    if (n == 0 || n > MEMBERS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "members: 1 to %d members, got %zu", MEMBERS_MAX,
                         n);
    GS_TRY(programme_find(c, req->programme_id, "", "programme_id", &p));
    int64_t *ids = arena_alloc(c->arena, n * sizeof *ids);
    int64_t *amounts = arena_alloc(c->arena, n * sizeof *amounts);
    const char **codes = arena_alloc(c->arena, n * sizeof *codes);
    const char **grids = arena_alloc(c->arena, n * sizeof *grids);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__ProgrammeMember *m = req->members[i];
        if (m->payee_account_id < 0 || (m->payee_account_id == 0 && !*m->payee_code))
            return call_fail(c, GS_INVALID_ARGUMENT, "members[%zu].payee_account_id: required", i);
        GS_TRY(v_len(c, call_printf(c, "members[%zu].payee_code", i), m->payee_code, 80));
        if (!req->remove)
            GS_TRY(v_code(c, call_printf(c, "members[%zu].grid_code", i), m->grid_code));
        GS_TRY(v_range(c, call_printf(c, "members[%zu].amount", i), m->amount, 0, 100000000));
        ids[i] = m->payee_account_id;
        codes[i] = m->payee_code;
        grids[i] = m->grid_code;
        amounts[i] = m->amount;
    }
    GS_TRY(db_exec(c, NULL,
                   "SELECT fund_programme_set_members($1, $2::ltree, $3, $4::bigint[], $5::text[],"
                   " $6::text[], $7::bigint[], $8::boolean)",
                   8, call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, p->id),
                   pg_array_i64(c, ids, n), pg_array_text(c, codes, n), pg_array_text(c, grids, n),
                   pg_array_i64(c, amounts, n), req->remove ? "true" : "false"));
    GS_TRY(members_load(c, p->id, resp));
    c->audit_object = call_printf(c, "programme:%" PRId64, p->id);
    c->audit_summary = call_printf(c, "%s %zu members of programme %s",
                                   req->remove ? "removed" : "enrolled", n, p->code);
    return GS_OK;
}

gs_code programme_list_programme_members(call *c,
                                         const Gridstock__V1__ListProgrammeMembersRequest *req,
                                         Gridstock__V1__ListProgrammeMembersResponse *resp)
{
    Gridstock__V1__Programme *p;
    GS_TRY(programme_find(c, req->programme_id, "", "programme_id", &p));
    return members_load(c, p->id, resp);
}

/* ------------------------------------------------------------------ scores */

#define ENTER_SCORES_COLUMNS(COL)                                                                  \
    COL(ENTER_ENTERED, "entered")                                                                  \
    COL(ENTER_REPLACED, ", replaced")
enum { ENTER_SCORES_COLUMNS(DB_COL_NAME) ENTER_NCOLS };
#define ENTER_SCORES_COLS ENTER_SCORES_COLUMNS(DB_COL_SQL)

gs_code programme_enter_scores(call *c, const Gridstock__V1__EnterScoresRequest *req,
                               Gridstock__V1__EnterScoresResponse *resp)
{
    size_t n = req->n_scores;
    db_res *r = NULL;

    GS_TRY(fund_check_period(c, "period", req->period, false));
    if (n == 0 || n > SCORES_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "scores: 1 to %d scores, got %zu", SCORES_MAX, n);
    const char **grids = arena_alloc(c->arena, n * sizeof *grids);
    const char **notes = arena_alloc(c->arena, n * sizeof *notes);
    double *scores = arena_alloc(c->arena, n * sizeof *scores);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__AssessmentScore *s = req->scores[i];
        GS_TRY(v_code(c, call_printf(c, "scores[%zu].grid_code", i), s->grid_code));
        GS_TRY(check_score(c, call_printf(c, "scores[%zu].score", i), s->score));
        GS_TRY(v_len(c, call_printf(c, "scores[%zu].note", i), s->note, 500));
        if (*s->period && strcmp(s->period, req->period) != 0)
            return call_fail(c, GS_INVALID_ARGUMENT,
                             "scores[%zu].period: \"%.20s\" differs from the request's period %s",
                             i, s->period, req->period);
        grids[i] = s->grid_code;
        notes[i] = s->note;
        scores[i] = s->score;
    }
    GS_TRY(db_exec(
        c, &r,
        "SELECT " ENTER_SCORES_COLS " FROM fund_enter_scores($1, $2::ltree, $3, $4::text[],"
        " $5::numeric[], $6::text[])",
        6, call_i64(c, c->who.user_id), c->who.scope_path, req->period, pg_array_text(c, grids, n),
        pg_array_num2(c, scores, n), pg_array_text(c, notes, n)));
    resp->entered = db_i32(r, 0, ENTER_ENTERED);
    resp->replaced = db_i32(r, 0, ENTER_REPLACED);
    c->audit_object = call_printf(c, "assessment:%s", req->period);
    c->audit_summary = call_printf(c, "entered %d and replaced %d assessment scores for %s",
                                   resp->entered, resp->replaced, req->period);
    return GS_OK;
}

#define SCORE_COLUMNS(COL)                                                                         \
    COL(SCORE_GRID_CODE, "g.code", grid_code, str)                                                 \
    COL(SCORE_PERIOD, ", s.period", period, str)                                                   \
    COL(SCORE_SCORE, ", s.score::float8", score, f64)                                              \
    COL(SCORE_NOTE, ", s.note", note, str)                                                         \
    COL(SCORE_ENTERED_BY_LOGIN, ", u.login", entered_by_login, str)                                \
    COL(SCORE_ENTERED_AT, ", fund_ts(s.entered_at)", entered_at, str)
enum { SCORE_COLUMNS(DB_COL_NAME) SCORE_NCOLS };
#define SCORE_COLS SCORE_COLUMNS(DB_COL_SQL)

static void assessment_score_from_row(Gridstock__V1__AssessmentScore *m, const db_res *r,
                                      int row){SCORE_COLUMNS(DB_COL_FILL)}

gs_code programme_list_scores(call *c, const Gridstock__V1__ListScoresRequest *req,
                              Gridstock__V1__ListScoresResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(fund_check_period(c, "period", req->period, false));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT " SCORE_COLS
                   " FROM fund_assessment_scores s JOIN org_units g ON g.id = s.org_unit_id"
                   " JOIN users u ON u.id = s.entered_by"
                   " WHERE s.period = $1 AND g.path <@ $2::ltree ORDER BY g.code",
                   2, req->period, u.path));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->scores, resp->n_scores,
                 &gridstock__v1__assessment_score__descriptor, assessment_score_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ runs */

#define RUN_COLUMNS(COL)                                                                           \
    COL(RUN_ID, "r.id", id, i64)                                                                   \
    COL(RUN_PROGRAMME_ID, ", r.programme_id", programme_id, i64)                                   \
    COL(RUN_PROGRAMME_CODE, ", p.code", programme_code, str)                                       \
    COL(RUN_PERIOD, ", r.period", period, str)                                                     \
    COL(RUN_PAY_PERIOD, ", r.pay_period", pay_period, str)                                         \
    COL(RUN_CREATED_BY_ID, ", r.created_by", created_by_id, i64)                                   \
    COL(RUN_CREATED_BY_LOGIN, ", u.login", created_by_login, str)                                  \
    COL(RUN_CREATED_AT, ", fund_ts(r.created_at)", created_at, str)                                \
    COL(RUN_ITEMS, ", count(i.run_id)::int", items, i32)                                           \
    COL(RUN_PREPARED, ", count(*) FILTER (WHERE d.state = 'prepared')::int", prepared, i32)        \
    COL(RUN_APPROVED, ", count(*) FILTER (WHERE d.state = 'approved')::int", approved, i32)        \
    COL(RUN_POSTED, ", count(*) FILTER (WHERE d.state = 'posted')::int", posted, i32)              \
    COL(RUN_OTHER,                                                                                 \
        ", count(*) FILTER (WHERE d.state IN ('rejected', 'voided', 'expired', 'reversed'))::int", \
        other, i32)                                                                                \
    COL(RUN_DEDUCTIONS, ", count(*) FILTER (WHERE i.gross < 0)::int", deductions, i32)             \
    COL(RUN_ZERO, ", count(*) FILTER (WHERE i.gross >= 0 AND i.net = 0)::int", zero, i32)          \
    COL(RUN_TOTAL, ", coalesce(sum(d.amount), 0)::bigint", total, i64)                             \
    COL(RUN_TOTAL_PREPARED,                                                                        \
        ", coalesce(sum(d.amount) FILTER (WHERE d.state = 'prepared'), 0)::bigint",                \
        total_prepared, i64)                                                                       \
    COL(RUN_TOTAL_APPROVED,                                                                        \
        ", coalesce(sum(d.amount) FILTER (WHERE d.state = 'approved'), 0)::bigint",                \
        total_approved, i64)                                                                       \
    COL(RUN_TOTAL_POSTED,                                                                          \
        ", coalesce(sum(d.amount) FILTER (WHERE d.state = 'posted'), 0)::bigint", total_posted,    \
        i64)                                                                                       \
    COL(RUN_TOTAL_DEDUCTED, ", coalesce(sum(i.deducted), 0)::bigint", total_deducted, i64)         \
    COL(RUN_TOTAL_PENALTIES, ", coalesce(sum(-i.gross) FILTER (WHERE i.gross < 0), 0)::bigint",    \
        total_penalties, i64)
enum { RUN_COLUMNS(DB_COL_NAME) RUN_NCOLS };
#define RUN_COLS RUN_COLUMNS(DB_COL_SQL)

/* A run's summary over the items in the caller's scope. $1 scope. */
#define RUN_SELECT                                                                                 \
    "SELECT " RUN_COLS                                                                             \
    " FROM fund_programme_runs r JOIN fund_programmes p ON p.id = r.programme_id"                  \
    " JOIN org_units ou ON ou.id = p.org_unit_id JOIN users u ON u.id = r.created_by"              \
    " LEFT JOIN (fund_programme_run_items i JOIN org_units g ON g.id = i.grid_id)"                 \
    "  ON i.run_id = r.id AND g.path <@ $1::ltree"                                                 \
    " LEFT JOIN fund_disbursements d ON d.id = i.disbursement_id"                                  \
    " WHERE" PROG_VISIBLE

static void run_from_row(Gridstock__V1__ProgrammeRun *m, const db_res *r, int row)
{
    RUN_COLUMNS(DB_COL_FILL)
}

/* Run `id` (visible to the caller) into m. */
static gs_code run_load(call *c, int64_t id, Gridstock__V1__ProgrammeRun *m)
{
    db_res *r = NULL;
    GS_TRY(v_positive(c, "id", id));
    GS_TRY(db_exec(c, &r, RUN_SELECT " AND r.id = $2 GROUP BY r.id, p.code, u.login", 2,
                   c->who.scope_path, call_i64(c, id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "run %" PRId64 " not found", id);
    run_from_row(m, r, 0);
    return GS_OK;
}

#define PROG_RUN_COLUMNS(COL)                                                                      \
    COL(PRUN_RUN_ID, "run_id")                                                                     \
    COL(PRUN_CREATED, ", created")                                                                 \
    COL(PRUN_EXISTING, ", existing")
enum { PROG_RUN_COLUMNS(DB_COL_NAME) PRUN_NCOLS };
#define PROG_RUN_COLS PROG_RUN_COLUMNS(DB_COL_SQL)

gs_code programme_run_programme(call *c, const Gridstock__V1__RunProgrammeRequest *req,
                                Gridstock__V1__ProgrammeRun *resp)
{
    Gridstock__V1__Programme *p;
    db_res *r = NULL;

    GS_TRY(programme_find(c, req->programme_id, req->programme_code, "programme_id", &p));
    bool assessment = strcmp(p->kind, "assessment") == 0;
    GS_TRY(v_required(c, "period", req->period));
    GS_TRY(fund_check_period(c, "period", req->period, !assessment));
    const char *pay = req->pay_period;
    if (*pay)
        GS_TRY(fund_check_period(c, "pay_period", pay, true));
    else if (strlen(req->period) == 7 && req->period[5] != 'Q')
        pay = req->period;
    else
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "pay_period: required (YYYY-MM) when period %s is not a month",
                         req->period);
    if (!p->active)
        return call_fail(c, GS_FAILED_PRECONDITION, "programme %s is inactive", p->code);
    GS_TRY(db_exec(c, &r,
                   "SELECT " PROG_RUN_COLS " FROM fund_programme_run($1, $2::ltree, $3,"
                   " $4, $5, $6)",
                   6, call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, p->id),
                   req->period, pay, c->request_id));
    int64_t id = db_i64(r, 0, PRUN_RUN_ID);
    int32_t created = db_i32(r, 0, PRUN_CREATED), existing = db_i32(r, 0, PRUN_EXISTING);
    GS_TRY(run_load(c, id, resp));
    resp->created_now = created;
    resp->existing = existing;
    c->audit_object = call_printf(c, "programme_run:%" PRId64, id);
    c->audit_summary = call_printf(
        c,
        "ran programme %s for %s (paying in %s): %d payees added, %d already in the run; %d "
        "disbursements prepared, %" PRId64 " fen",
        p->code, req->period, pay, created, existing, resp->prepared, resp->total_prepared);
    return GS_OK;
}

gs_code programme_get_run(call *c, const Gridstock__V1__GetRunRequest *req,
                          Gridstock__V1__ProgrammeRun *resp)
{
    return run_load(c, req->id, resp);
}

gs_code programme_list_runs(call *c, const Gridstock__V1__ListRunsRequest *req,
                            Gridstock__V1__ListRunsResponse *resp)
{
    db_res *r = NULL;

    GS_TRY(v_nonneg(c, "programme_id", req->programme_id));
    if (*req->period)
        GS_TRY(fund_check_period(c, "period", req->period, false));
    GS_TRY(db_exec(c, &r,
                   RUN_SELECT " AND ($2::bigint = 0 OR r.programme_id = $2::bigint)"
                              " AND ($3 = '' OR r.period = $3)"
                              " GROUP BY r.id, p.code, u.login ORDER BY r.id DESC LIMIT 1000",
                   3, c->who.scope_path, call_i64(c, req->programme_id), req->period));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->runs, resp->n_runs, &gridstock__v1__programme_run__descriptor,
                 run_from_row);
    return GS_OK;
}

static const char *const item_states[] = {"prepared", "approved", "posted",    "rejected", "voided",
                                          "expired",  "reversed", "deduction", "zero",     NULL};

#define RUN_ITEM_COLUMNS(COL)                                                                      \
    COL(RITEM_PAYEE_ACCOUNT_ID, "i.payee_account_id", payee_account_id, i64)                       \
    COL(RITEM_RUN_ID, ", i.run_id", run_id, i64)                                                   \
    COL(RITEM_GRID_CODE, ", g.code", grid_code, str)                                               \
    COL(RITEM_PAYEE_CODE, ", a.code", payee_code, str)                                             \
    COL(RITEM_PAYEE_NAME, ", a.name", payee_name, str)                                             \
    COL(RITEM_SCORE, ", coalesce(i.score, 0)::float8", score, f64)                                 \
    COL(RITEM_GROSS, ", i.gross", gross, i64)                                                      \
    COL(RITEM_DEDUCTED, ", i.deducted", deducted, i64)                                             \
    COL(RITEM_NET, ", i.net", net, i64)                                                            \
    COL(RITEM_DISBURSEMENT_ID, ", coalesce(i.disbursement_id, 0)", disbursement_id, i64)           \
    COL(RITEM_STATE,                                                                               \
        ", coalesce(d.state, CASE WHEN i.gross < 0 THEN 'deduction' ELSE 'zero' END) st", state,   \
        str)
enum { RUN_ITEM_COLUMNS(DB_COL_NAME) RITEM_NCOLS };
#define RUN_ITEM_COLS RUN_ITEM_COLUMNS(DB_COL_SQL)

static void programme_run_item_from_row(Gridstock__V1__ProgrammeRunItem *m, const db_res *r,
                                        int row){RUN_ITEM_COLUMNS(DB_COL_FILL)}

gs_code programme_list_run_items(call *c, const Gridstock__V1__ListRunItemsRequest *req,
                                 Gridstock__V1__ListRunItemsResponse *resp)
{
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_enum(c, "state", req->state, item_states, false));
    GS_TRY(run_load(c, req->run_id, call_msg(c, &gridstock__v1__programme_run__descriptor)));
    GS_TRY(db_exec(c, &r,
                   "SELECT " RUN_ITEM_COLS
                   " FROM fund_programme_run_items i JOIN org_units g ON g.id = i.grid_id"
                   " JOIN fund_accounts a ON a.id = i.payee_account_id"
                   " LEFT JOIN fund_disbursements d ON d.id = i.disbursement_id"
                   " WHERE i.run_id = $1 AND g.path <@ $2::ltree AND i.payee_account_id > $3"
                   " AND ($4 = '' OR coalesce(d.state, CASE WHEN i.gross < 0 THEN 'deduction'"
                   " ELSE 'zero' END) = $4)"
                   " ORDER BY i.payee_account_id LIMIT $5",
                   5, call_i64(c, req->run_id), c->who.scope_path, call_i64(c, after), req->state,
                   call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, RITEM_PAYEE_ACCOUNT_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->items, resp->n_items,
                 &gridstock__v1__programme_run_item__descriptor, programme_run_item_from_row);
    return GS_OK;
}

gs_code programme_approve_run(call *c, const Gridstock__V1__ApproveRunRequest *req,
                              Gridstock__V1__ProgrammeRun *resp)
{
    db_res *r = NULL;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(v_nonneg(c, "expected_count", req->expected_count));
    GS_TRY(v_nonneg(c, "expected_total", req->expected_total));
    GS_TRY(db_exec(c, &r, "SELECT fund_run_approve($1, $2::ltree, $3, $4::int, $5::bigint, $6)", 6,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   req->expected_count ? call_i64(c, req->expected_count) : NULL,
                   req->expected_total ? call_i64(c, req->expected_total) : NULL, c->request_id));
    int64_t n = db_one_i64(r, 0);
    GS_TRY(run_load(c, req->id, resp));
    c->audit_object = call_printf(c, "programme_run:%" PRId64, req->id);
    c->audit_summary =
        call_printf(c,
                    "approved %" PRId64 " disbursements of run %" PRId64
                    " (programme %s, %s): %" PRId64 " fen reserved",
                    n, req->id, resp->programme_code, resp->period, resp->total_approved);
    return GS_OK;
}

gs_code programme_post_run(call *c, const Gridstock__V1__PostRunRequest *req,
                           Gridstock__V1__ProgrammeRun *resp)
{
    db_res *r = NULL;

    GS_TRY(v_positive(c, "id", req->id));
    GS_TRY(db_exec(c, &r, "SELECT fund_run_post($1, $2::ltree, $3, $4)", 4,
                   call_i64(c, c->who.user_id), c->who.scope_path, call_i64(c, req->id),
                   c->request_id));
    int64_t n = db_one_i64(r, 0);
    GS_TRY(run_load(c, req->id, resp));
    c->audit_object = call_printf(c, "programme_run:%" PRId64, req->id);
    c->audit_summary =
        call_printf(c, "posted %" PRId64 " disbursements of run %" PRId64 " (programme %s, %s)", n,
                    req->id, resp->programme_code, resp->period);
    return GS_OK;
}
