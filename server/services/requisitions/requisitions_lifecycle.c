/* requisitions_lifecycle.c — the requester's side of a requisition: create a draft
 * with its lines, change it, submit it (emergency auto-approval follows at once where it
 * applies), cancel before dispatch (releasing every reservation) and close. */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "pg_array.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

enum { MAX_LINES = 200 };

static const char *const priorities[] = {"routine", "urgent", "emergency", NULL};

#define DELIVERY_SITE_COLUMNS(COL)                                                                 \
    COL(DSITE_ID, "s.id")                                                                          \
    COL(DSITE_ACTIVE, ", s.active")                                                                \
    COL(DSITE_KIND, ", s.kind")
enum { DELIVERY_SITE_COLUMNS(DB_COL_NAME) DSITE_NCOLS };
#define DELIVERY_SITE_COLS DELIVERY_SITE_COLUMNS(DB_COL_SQL)

/* Checks a delivery site (id or code) for a requisition of the unit at `unit_path` and
 * returns its id as SQL text, NULL when none. The site lies in the caller's scope or in the
 * community of the requesting unit (a grid's own reserve point); any other is NOT_FOUND
 * like a missing one. */
static gs_code delivery_site(call *c, const char *unit_path, int64_t id, const char *code,
                             const char **out)
{
    db_res *r = NULL;
    *out = NULL;
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "delivery_site_id: must be positive");
    if (id == 0 && !*code)
        return GS_OK;
    GS_TRY(v_len(c, "delivery_site_code", code, 64));
    GS_TRY(db_exec(
        c, &r,
        "SELECT " DELIVERY_SITE_COLS " FROM sites s JOIN org_units ou ON ou.id = s.org_unit_id"
        " WHERE (($1::bigint > 0 AND s.id = $1::bigint) OR ($1::bigint = 0 AND s.code = $2))"
        " AND (ou.path <@ $3::ltree OR ou.path <@ (SELECT cm.path FROM org_units cm"
        "  WHERE cm.kind = 'community' AND cm.path @> $4::ltree))",
        4, call_i64(c, id), code, c->who.scope_path, unit_path));
    if (db_rows(r) == 0)
        return id ? call_fail(c, GS_NOT_FOUND, "site %" PRId64 " not found", id)
                  : call_fail(c, GS_NOT_FOUND, "site \"%.64s\" not found", code);
    if (!db_bool(r, 0, DSITE_ACTIVE))
        return call_fail(c, GS_FAILED_PRECONDITION, "delivery site %s is inactive",
                         id ? call_i64(c, id) : code);
    *out = db_str(r, 0, DSITE_ID);
    return GS_OK;
}

/* The lines' items, in the order given: 0 for an unknown one. */
#define LINE_ITEM_COLUMNS(COL)                                                                     \
    COL(LITEM_ORD, "x.ord")                                                                        \
    COL(LITEM_ID, ", coalesce(i.id, 0)")                                                           \
    COL(LITEM_ACTIVE, ", coalesce(i.active, false)")
enum { LINE_ITEM_COLUMNS(DB_COL_NAME) LITEM_NCOLS };
#define LINE_ITEM_COLS LINE_ITEM_COLUMNS(DB_COL_SQL)

/* Validates the lines, resolves their items and (re)writes them for requisition `id`. */
static gs_code write_lines(call *c, int64_t id, Gridstock__V1__RequisitionLineInput *const *in,
                           size_t n)
{
    db_res *r = NULL;
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at least one is required");
    if (n > MAX_LINES)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at most %d", MAX_LINES);
    int64_t *ids = arena_alloc(c->arena, n * sizeof *ids);
    int64_t *qty = arena_alloc(c->arena, n * sizeof *qty);
    const char **codes = arena_alloc(c->arena, n * sizeof *codes);
    const char **notes = arena_alloc(c->arena, n * sizeof *notes);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__RequisitionLineInput *l = in[i];
        if (l->item_id < 0)
            return call_fail(c, GS_INVALID_ARGUMENT, "lines[%zu].item_id: must be positive", i);
        if (l->item_id == 0 && !*l->item_code)
            return call_fail(c, GS_INVALID_ARGUMENT, "lines[%zu].item_code: required (id or code)",
                             i);
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].item_code", i), l->item_code, 64));
        GS_TRY(v_len(c, call_printf(c, "lines[%zu].note", i), l->note, 500));
        GS_TRY(v_range(c, call_printf(c, "lines[%zu].qty", i), l->qty, 1, 1000000000));
        ids[i] = l->item_id;
        codes[i] = l->item_code;
        qty[i] = l->qty;
        notes[i] = l->note;
    }
    GS_TRY(
        db_exec(c, &r,
                "SELECT " LINE_ITEM_COLS
                " FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS x(id, code, ord)"
                " LEFT JOIN items i ON CASE WHEN x.id > 0 THEN i.id = x.id ELSE i.code = x.code END"
                " ORDER BY x.ord",
                2, pg_array_i64(c, ids, n), pg_array_text(c, codes, n)));
    for (size_t i = 0; i < n; i++) {
        int64_t item = db_i64(r, (int)i, LITEM_ID);
        if (item == 0)
            return ids[i] ? call_fail(c, GS_NOT_FOUND, "lines[%zu]: item %" PRId64 " not found", i,
                                      ids[i])
                          : call_fail(c, GS_NOT_FOUND, "lines[%zu]: item \"%.64s\" not found", i,
                                      codes[i]);
        if (!db_bool(r, (int)i, LITEM_ACTIVE))
            return call_fail(c, GS_FAILED_PRECONDITION, "lines[%zu]: item %" PRId64 " is inactive",
                             i, item);
        for (size_t k = 0; k < i; k++)
            if (ids[k] == item)
                return call_fail(c, GS_INVALID_ARGUMENT,
                                 "lines[%zu]: the item of lines[%zu] again (one line per item)", i,
                                 k);
        ids[i] = item;
    }
    GS_TRY(db_exec(c, NULL, "DELETE FROM requisition_lines WHERE requisition_id = $1::bigint", 1,
                   call_i64(c, id)));
    GS_TRY(db_exec(c, NULL,
                   "INSERT INTO requisition_lines (requisition_id, line_no, item_id, qty_requested,"
                   " note) SELECT $1::bigint, x.ord, x.item, x.qty, x.note"
                   " FROM unnest($2::bigint[], $3::bigint[], $4::text[])"
                   " WITH ORDINALITY AS x(item, qty, note, ord)",
                   4, call_i64(c, id), pg_array_i64(c, ids, n), pg_array_i64(c, qty, n),
                   pg_array_text(c, notes, n)));
    return GS_OK;
}

static gs_code check_header(call *c, const char *priority, const char *needed_by,
                            const char *purpose, const char *address)
{
    GS_TRY(dir_enum(c, "priority", priority, priorities, false));
    GS_TRY(v_date(c, "needed_by", needed_by));
    GS_TRY(v_len(c, "purpose", purpose, 1000));
    GS_TRY(v_len(c, "delivery_address", address, 500));
    return GS_OK;
}

/* Submits r (locked, a draft) and runs emergency auto-approval; fills resp. */
static gs_code submit_locked(call *c, req_ref *r, const char *comment,
                             Gridstock__V1__Requisition *resp)
{
    const char *auto_note = "";
    GS_TRY(req_move(c, r, REQ_SUBMITTED, comment, 0));
    GS_TRY(req_emergency_on_submit(c, r, &auto_note));
    GS_TRY(req_fill(c, r->id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r->id);
    c->audit_summary = call_printf(c, "submitted %s%s", r->number, auto_note);
    return GS_OK;
}

/* What creating a requisition returns. */
#define CREATED_COLUMNS(COL) COL(CREATED_ID, "id") COL(CREATED_NUMBER, ", number")
enum { CREATED_COLUMNS(DB_COL_NAME) CREATED_NCOLS };
#define CREATED_COLS CREATED_COLUMNS(DB_COL_SQL)

gs_code requisition_create(call *c, const Gridstock__V1__CreateRequisitionRequest *req,
                           Gridstock__V1__Requisition *resp)
{
    dir_unit u;
    const char *site = NULL;
    db_res *r = NULL;

    GS_TRY(check_header(c, req->priority, req->needed_by, req->purpose, req->delivery_address));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    if (strcmp(u.kind, "grid") != 0 && strcmp(u.kind, "community") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "org_unit_id: requisitions come from a grid or community, %s is a %s",
                         u.code, u.kind);
    GS_TRY(delivery_site(c, u.path, req->delivery_site_id, req->delivery_site_code, &site));
    if (req->n_lines == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "lines: at least one is required");
    GS_TRY(
        db_exec(c, &r,
                "INSERT INTO requisitions (number, org_unit_id, requester_id, priority, needed_by,"
                " purpose, delivery_site_id, delivery_address)"
                " VALUES (req_next_number($1::bigint), $1::bigint, $2::bigint,"
                " coalesce(nullif($3, ''), 'routine'), nullif($4, '')::date, $5, $6::bigint, $7)"
                " RETURNING " CREATED_COLS,
                7, call_i64(c, u.id), call_i64(c, c->who.user_id), req->priority, req->needed_by,
                req->purpose, site, req->delivery_address));
    req_ref ref = {.id = db_i64(r, 0, CREATED_ID),
                   .number = db_str(r, 0, CREATED_NUMBER),
                   .state = REQ_DRAFT,
                   .org_unit_id = u.id,
                   .org_unit_code = u.code,
                   .org_unit_path = u.path,
                   .requester_id = c->who.user_id,
                   .priority = *req->priority ? req->priority : "routine"};
    GS_TRY(write_lines(c, ref.id, req->lines, req->n_lines));
    if (req->submit) {
        GS_TRY(submit_locked(c, &ref, "submitted on creation", resp));
        c->audit_summary = call_printf(c, "created and %s", c->audit_summary);
        return GS_OK;
    }
    GS_TRY(req_fill(c, ref.id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, ref.id);
    c->audit_summary =
        call_printf(c, "created draft %s for %s with %zu lines", ref.number, u.code, req->n_lines);
    return GS_OK;
}

static const char *const draft_fields[] = {"priority", "needed_by", "purpose",
                                           "delivery", "lines",     NULL};

gs_code requisition_update_draft(call *c, const Gridstock__V1__UpdateDraftRequest *req,
                                 Gridstock__V1__Requisition *resp)
{
    size_t nm = req->n_update_mask;
    char *const *mask = req->update_mask;
    const char *p[6] = {0};
    const char *changed = NULL;
    req_ref r;

    GS_TRY(dir_mask_check(c, nm, mask, draft_fields));
    GS_TRY(check_header(c, req->priority, req->needed_by, req->purpose, req->delivery_address));
    GS_TRY(req_find(c, req->id, "", true, &r));
    if (r.state != REQ_DRAFT)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "requisition %s is %s: only a draft can be changed", r.number,
                         req_state_name(r.state));
    if (dir_mask_has(nm, mask, "priority", *req->priority)) {
        p[1] = *req->priority ? req->priority : "routine";
        dir_note(c, &changed, "priority");
    }
    if (dir_mask_has(nm, mask, "needed_by", *req->needed_by)) {
        p[2] = req->needed_by;
        dir_note(c, &changed, "needed_by");
    }
    if (dir_mask_has(nm, mask, "purpose", *req->purpose)) {
        p[3] = req->purpose;
        dir_note(c, &changed, "purpose");
    }
    if (dir_mask_has(nm, mask, "delivery",
                     req->delivery_site_id || *req->delivery_site_code || *req->delivery_address)) {
        const char *site = NULL;
        GS_TRY(delivery_site(c, r.org_unit_path, req->delivery_site_id, req->delivery_site_code,
                             &site));
        p[4] = site ? site : "0";
        p[5] = req->delivery_address;
        dir_note(c, &changed, "delivery");
    }
    if (dir_mask_has(nm, mask, "lines", req->n_lines > 0)) {
        GS_TRY(write_lines(c, r.id, req->lines, req->n_lines));
        dir_note(c, &changed, "lines");
    }
    if (!changed)
        return call_fail(c, GS_INVALID_ARGUMENT, "update_mask: nothing to change");
    p[0] = call_i64(c, r.id);
    GS_TRY(db_execv(c, NULL,
                    "UPDATE requisitions SET priority = coalesce($2, priority),"
                    " needed_by = CASE WHEN $3::text IS NULL THEN needed_by"
                    "  ELSE nullif($3, '')::date END,"
                    " purpose = coalesce($4, purpose),"
                    " delivery_site_id = CASE WHEN $5::bigint IS NULL THEN delivery_site_id"
                    "  ELSE nullif($5::bigint, 0) END,"
                    " delivery_address = coalesce($6, delivery_address)"
                    " WHERE id = $1::bigint",
                    6, p));
    GS_TRY(req_fill(c, r.id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "changed draft %s: %s", r.number, changed);
    return GS_OK;
}

gs_code requisition_submit(call *c, const Gridstock__V1__RequisitionActionRequest *req,
                           Gridstock__V1__Requisition *resp)
{
    req_ref r;
    GS_TRY(v_len(c, "comment", req->comment, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_check_move(c, &r, REQ_SUBMITTED));
    return submit_locked(c, &r, req->comment, resp);
}

gs_code requisition_cancel(call *c, const Gridstock__V1__CancelRequest *req,
                           Gridstock__V1__Requisition *resp)
{
    req_ref r;
    db_res *res = NULL;
    int64_t released = 0;

    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_check_move(c, &r, REQ_CANCELLED));
    if (r.state == REQ_ALLOCATED) {
        GS_TRY(db_exec(c, &res, "SELECT req_release($1::bigint, 'released', $2::bigint, $3, $4)", 4,
                       call_i64(c, r.id), call_i64(c, c->who.user_id), c->request_id,
                       call_printf(c, "%s cancelled: %.400s", r.number, req->reason)));
        released = db_one_i64(res, 0);
    }
    GS_TRY(req_move(c, &r, REQ_CANCELLED, req->reason, 0));
    GS_TRY(req_fill(c, r.id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "cancelled %s (%" PRId64 " reserved units released): %.200s",
                                   r.number, released, req->reason);
    return GS_OK;
}

gs_code requisition_close(call *c, const Gridstock__V1__RequisitionActionRequest *req,
                          Gridstock__V1__Requisition *resp)
{
    req_ref r;
    GS_TRY(v_len(c, "comment", req->comment, 1000));
    GS_TRY(req_find(c, req->id, req->number, true, &r));
    GS_TRY(req_move(c, &r, REQ_CLOSED, req->comment, 0));
    GS_TRY(req_fill(c, r.id, resp));
    c->audit_object = call_printf(c, "requisition:%" PRId64, r.id);
    c->audit_summary = call_printf(c, "closed %s", r.number);
    return GS_OK;
}
