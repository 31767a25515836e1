/* requisitions_supply.c — supplier markets on call in emergencies: standing supply
 * agreements (create, list with what is left of today's commitment, end) and the
 * call-offs made against them when an emergency requisition finds the area's reserves
 * short (req_supply_on_emergency; the rules are supply_calloff_shortfall and the triggers
 * of 066_supply_agreements.sql; each call-off is a placed purchase order paid from the
 * agreement's fund, 067_calloff_purchases.sql). */
#include <inttypes.h>
#include <string.h>

#include "db.h"
#include "pg_array.h"
#include "requisitions.h"
#include "gridstock/v1/requisitions.rpc.h"

static const char *const budget_categories[] = {"subsidies",          "rewards",   "activities",
                                                "material_purchases", "emergency", NULL};

/* ------------------------------------------------------------------ reading */

#define SA_COLUMNS(COL)                                                                            \
    COL(SA_ID, "a.id")                                                                             \
    COL(SA_SUPPLIER_SITE_ID, ", a.supplier_site_id")                                               \
    COL(SA_SUPPLIER_SITE_CODE, ", s.code")                                                         \
    COL(SA_ORG_UNIT_ID, ", a.org_unit_id")                                                         \
    COL(SA_ORG_UNIT_CODE, ", au.code")                                                             \
    COL(SA_DELIVERY_HOURS, ", a.delivery_hours")                                                   \
    COL(SA_VALID_FROM, ", to_char(a.valid_from, 'YYYY-MM-DD')")                                    \
    COL(SA_VALID_UNTIL, ", to_char(a.valid_until, 'YYYY-MM-DD')")                                  \
    COL(SA_FUND_ACCOUNT_ID, ", a.fund_account_id")                                                 \
    COL(SA_FUND_ACCOUNT_CODE, ", f.code")                                                          \
    COL(SA_BUDGET_CATEGORY, ", a.budget_category")                                                 \
    COL(SA_NOTE, ", a.note")                                                                       \
    COL(SA_CREATED_BY_LOGIN, ", cu.login")                                                         \
    COL(SA_CREATED_AT, ", " DIR_TS("a.created_at"))                                                \
    COL(SA_ENDED_AT, ", coalesce(" DIR_TS("a.ended_at") ", '')")                                   \
    COL(SA_END_REASON, ", a.end_reason")                                                           \
    COL(SA_IN_FORCE, ", a.ended_at IS NULL AND current_date BETWEEN a.valid_from AND "             \
                     "a.valid_until")
enum { SA_COLUMNS(DB_COL_NAME) SA_NCOLS };
#define SA_COLS SA_COLUMNS(DB_COL_SQL)
#define SA_FROM                                                                                    \
    " FROM supply_agreements a JOIN sites s ON s.id = a.supplier_site_id"                          \
    " JOIN org_units au ON au.id = a.org_unit_id JOIN fund_accounts f ON f.id = a.fund_account_id" \
    " JOIN users cu ON cu.id = a.created_by"

static Gridstock__V1__SupplyAgreement *sa_from_row(call *c, const db_res *r, int i)
{
    Gridstock__V1__SupplyAgreement *m = call_msg(c, &gridstock__v1__supply_agreement__descriptor);
    m->id = db_i64(r, i, SA_ID);
    m->supplier_site_id = db_i64(r, i, SA_SUPPLIER_SITE_ID);
    m->supplier_site_code = (char *)db_str(r, i, SA_SUPPLIER_SITE_CODE);
    m->org_unit_id = db_i64(r, i, SA_ORG_UNIT_ID);
    m->org_unit_code = (char *)db_str(r, i, SA_ORG_UNIT_CODE);
    m->delivery_hours = (int32_t)db_i64(r, i, SA_DELIVERY_HOURS);
    m->valid_from = (char *)db_str(r, i, SA_VALID_FROM);
    m->valid_until = (char *)db_str(r, i, SA_VALID_UNTIL);
    m->fund_account_id = db_i64(r, i, SA_FUND_ACCOUNT_ID);
    m->fund_account_code = (char *)db_str(r, i, SA_FUND_ACCOUNT_CODE);
    m->budget_category = (char *)db_str(r, i, SA_BUDGET_CATEGORY);
    m->note = (char *)db_str(r, i, SA_NOTE);
    m->created_by_login = (char *)db_str(r, i, SA_CREATED_BY_LOGIN);
    m->created_at = (char *)db_str(r, i, SA_CREATED_AT);
    m->ended_at = (char *)db_str(r, i, SA_ENDED_AT);
    m->end_reason = (char *)db_str(r, i, SA_END_REASON);
    m->in_force = db_bool(r, i, SA_IN_FORCE);
    return m;
}

#define SAI_COLUMNS(COL)                                                                           \
    COL(SAI_AGREEMENT_ID, "i.agreement_id")                                                        \
    COL(SAI_ITEM_ID, ", i.item_id")                                                                \
    COL(SAI_ITEM_CODE, ", it.code")                                                                \
    COL(SAI_DAILY_QTY, ", i.daily_qty")                                                            \
    COL(SAI_PRICE_CAP_FEN, ", i.price_cap_fen")                                                    \
    COL(SAI_USED_TODAY, ", coalesce(u.used, 0)")                                                   \
    COL(SAI_LEFT_TODAY, ", CASE WHEN a.ended_at IS NULL AND current_date BETWEEN a.valid_from"     \
                        " AND a.valid_until THEN coalesce(u.committed - u.used, i.daily_qty)"      \
                        " ELSE 0 END")
enum { SAI_COLUMNS(DB_COL_NAME) SAI_NCOLS };
#define SAI_COLS SAI_COLUMNS(DB_COL_SQL)

/* Loads the items of the n agreements in ms (one query), with today's usage. */
static gs_code sa_attach_items(call *c, Gridstock__V1__SupplyAgreement **ms, int n)
{
    if (n == 0)
        return GS_OK;
    int64_t *ids = arena_alloc(c->arena, (size_t)n * sizeof *ids);
    for (int k = 0; k < n; k++)
        ids[k] = ms[k]->id;
    db_res *r = NULL;
    GS_TRY(
        db_exec(c, &r,
                "SELECT " SAI_COLS
                " FROM supply_agreement_items i JOIN supply_agreements a ON a.id = i.agreement_id"
                " JOIN items it ON it.id = i.item_id LEFT JOIN supply_commitment_usage u"
                " ON u.agreement_id = i.agreement_id AND u.item_id = i.item_id"
                " AND u.day = current_date"
                " WHERE i.agreement_id = ANY ($1::bigint[]) ORDER BY i.agreement_id, it.code",
                1, pg_array_i64(c, ids, (size_t)n)));
    int rows = db_rows(r);
    for (int k = 0; k < n; k++)
        ms[k]->items = (Gridstock__V1__SupplyAgreementItem **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        int64_t aid = db_i64(r, i, SAI_AGREEMENT_ID);
        for (int k = 0; k < n; k++) {
            if (ms[k]->id != aid)
                continue;
            Gridstock__V1__SupplyAgreementItem *it =
                call_msg(c, &gridstock__v1__supply_agreement_item__descriptor);
            it->item_id = db_i64(r, i, SAI_ITEM_ID);
            it->item_code = (char *)db_str(r, i, SAI_ITEM_CODE);
            it->daily_qty = db_i64(r, i, SAI_DAILY_QTY);
            it->price_cap_fen = db_i64(r, i, SAI_PRICE_CAP_FEN);
            it->used_today = db_i64(r, i, SAI_USED_TODAY);
            it->left_today = db_i64(r, i, SAI_LEFT_TODAY);
            ms[k]->items[ms[k]->n_items++] = it;
            break;
        }
    }
    return GS_OK;
}

static gs_code sa_fill(call *c, int64_t id, Gridstock__V1__SupplyAgreement *resp)
{
    db_res *r = NULL;
    GS_TRY(
        db_exec(c, &r, "SELECT " SA_COLS SA_FROM " WHERE a.id = $1::bigint", 1, call_i64(c, id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "supply agreement %" PRId64 " not found", id);
    *resp = *sa_from_row(c, r, 0);
    Gridstock__V1__SupplyAgreement *one = resp;
    return sa_attach_items(c, &one, 1);
}

/* ------------------------------------------------------------------ create */

gs_code requisition_create_supply_agreement(call *c,
                                            const Gridstock__V1__CreateSupplyAgreementRequest *req,
                                            Gridstock__V1__SupplyAgreement *resp)
{
    gs_lookup site_by, fund_by;
    dir_unit u;
    db_res *r = NULL;
    size_t n = req->n_items;

    GS_TRY(v_id_or_code(c, "supplier_site_id", req->supplier_site_id, req->supplier_site_code, true,
                        &site_by));
    GS_TRY(v_id_or_code(c, "fund_account_id", req->fund_account_id, req->fund_account_code, true,
                        &fund_by));
    GS_TRY(v_range(c, "delivery_hours", req->delivery_hours, 1, 168));
    GS_TRY(v_required(c, "valid_from", req->valid_from));
    GS_TRY(v_date(c, "valid_from", req->valid_from));
    GS_TRY(v_required(c, "valid_until", req->valid_until));
    GS_TRY(v_date(c, "valid_until", req->valid_until));
    if (strcmp(req->valid_until, req->valid_from) < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "valid_until: %s is before valid_from %s",
                         req->valid_until, req->valid_from);
    GS_TRY(dir_enum(c, "budget_category", req->budget_category, budget_categories, false));
    GS_TRY(v_len(c, "note", req->note, 500));
    if (n == 0 || n > 200)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: 1 to 200 required, got %zu", n);
    int64_t *items = arena_alloc(c->arena, n * sizeof *items);
    int64_t *qtys = arena_alloc(c->arena, n * sizeof *qtys);
    int64_t *caps = arena_alloc(c->arena, n * sizeof *caps);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__SupplyAgreementItem *it = req->items[i];
        gs_lookup by;
        GS_TRY(v_id_or_code(c, call_printf(c, "items[%zu].item_id", i), it->item_id, it->item_code,
                            true, &by));
        GS_TRY(v_range(c, call_printf(c, "items[%zu].daily_qty", i), it->daily_qty, 1, GS_QTY_MAX));
        GS_TRY(v_range(c, call_printf(c, "items[%zu].price_cap_fen", i), it->price_cap_fen, 1,
                       100000000));
        qtys[i] = it->daily_qty;
        caps[i] = it->price_cap_fen;
    }
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", true, &u));
    if (strcmp(u.kind, "district") != 0 && strcmp(u.kind, "street") != 0 &&
        strcmp(u.kind, "community") != 0)
        return call_fail(
            c, GS_INVALID_ARGUMENT,
            "org_unit_id: an agreement serves a district, street or community, not a %s", u.kind);
    GS_TRY(db_exec(c, &r,
                   "SELECT id, code, kind FROM sites WHERE ($1::bigint > 0 AND id = $1::bigint)"
                   " OR ($1::bigint = 0 AND code = $2)",
                   2, call_i64(c, req->supplier_site_id), req->supplier_site_code));
    if (db_rows(r) == 0)
        return call_not_found(c, "site", site_by, req->supplier_site_id, req->supplier_site_code);
    int64_t site = db_i64(r, 0, 0);
    const char *site_code = db_str(r, 0, 1);
    if (strcmp(db_str(r, 0, 2), "supplier_market") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "supplier_site_id: site %s is not a supplier market", site_code);
    GS_TRY(db_exec(c, &r,
                   "SELECT id, kind FROM fund_accounts WHERE ($1::bigint > 0 AND id = $1::bigint)"
                   " OR ($1::bigint = 0 AND code = $2)",
                   2, call_i64(c, req->fund_account_id), req->fund_account_code));
    if (db_rows(r) == 0)
        return call_not_found(c, "fund account", fund_by, req->fund_account_id,
                              req->fund_account_code);
    int64_t fund = db_i64(r, 0, 0);
    const char *fkind = db_str(r, 0, 1);
    if (strcmp(fkind, "grid_fund") != 0 && strcmp(fkind, "source") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT,
                         "fund_account_id: call-offs are charged to a grid fund or a source"
                         " account");
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__SupplyAgreementItem *it = req->items[i];
        GS_TRY(db_exec(c, &r,
                       "SELECT id FROM items WHERE ($1::bigint > 0 AND id = $1::bigint)"
                       " OR ($1::bigint = 0 AND code = $2)",
                       2, call_i64(c, it->item_id), it->item_code));
        if (db_rows(r) == 0)
            return call_fail(c, GS_NOT_FOUND, "items[%zu]: item %s not found", i,
                             it->item_id ? call_i64(c, it->item_id) : it->item_code);
        items[i] = db_one_i64(r, 0);
        for (size_t k = 0; k < i; k++)
            if (items[k] == items[i])
                return call_fail(c, GS_INVALID_ARGUMENT, "items[%zu]: the item is listed twice", i);
    }
    GS_TRY(db_exec(c, &r,
                   "INSERT INTO supply_agreements (supplier_site_id, org_unit_id, delivery_hours,"
                   " valid_from, valid_until, fund_account_id, budget_category, note, created_by)"
                   " VALUES ($1::bigint, $2::bigint, $3::int, $4::date, $5::date, $6::bigint,"
                   " coalesce(nullif($7, ''), 'emergency'), $8, $9::bigint) RETURNING id",
                   9, call_i64(c, site), call_i64(c, u.id), call_i64(c, req->delivery_hours),
                   req->valid_from, req->valid_until, call_i64(c, fund), req->budget_category,
                   req->note, call_i64(c, c->who.user_id)));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(db_exec(c, NULL,
                   "INSERT INTO supply_agreement_items (agreement_id, item_id, daily_qty,"
                   " price_cap_fen) SELECT $1::bigint, x.i, x.q, x.p"
                   " FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS x(i, q, p)",
                   4, call_i64(c, id), pg_array_i64(c, items, n), pg_array_i64(c, qtys, n),
                   pg_array_i64(c, caps, n)));
    c->audit_object = call_printf(c, "supply_agreement:%" PRId64, id);
    c->audit_summary =
        call_printf(c, "supply agreement %" PRId64 ": %s serves %s from %s to %s, %zu items", id,
                    site_code, u.code, req->valid_from, req->valid_until, n);
    return sa_fill(c, id, resp);
}

/* ------------------------------------------------------------------ list and end */

gs_code requisition_list_supply_agreements(call *c,
                                           const Gridstock__V1__ListSupplyAgreementsRequest *req,
                                           Gridstock__V1__ListSupplyAgreementsResponse *resp)
{
    int64_t limit, after;
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    /* the agreements serving the unit (set on it or above) and those set below it */
    GS_TRY(db_exec(c, &r,
                   "SELECT " SA_COLS SA_FROM " WHERE (au.path <@ $1::ltree OR au.path @> $1::ltree)"
                   " AND ($2::boolean OR a.ended_at IS NULL) AND a.id > $3::bigint"
                   " ORDER BY a.id LIMIT $4::bigint",
                   4, u.path, req->include_ended ? "true" : "false", call_i64(c, after),
                   call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, SA_ID, limit, &rows);
    resp->n_agreements = (size_t)rows;
    resp->agreements = (Gridstock__V1__SupplyAgreement **)call_ptrs(c, (size_t)rows);
    for (int i = 0; i < rows; i++)
        resp->agreements[i] = sa_from_row(c, r, i);
    return sa_attach_items(c, resp->agreements, rows);
}

gs_code requisition_end_supply_agreement(call *c,
                                         const Gridstock__V1__EndSupplyAgreementRequest *req,
                                         Gridstock__V1__SupplyAgreement *resp)
{
    db_res *r = NULL;

    GS_TRY(v_range(c, "id", req->id, 1, INT64_MAX));
    GS_TRY(v_required(c, "reason", req->reason));
    GS_TRY(v_len(c, "reason", req->reason, 500));
    /* only an officer over the whole area served may end it */
    GS_TRY(db_exec(c, &r,
                   "SELECT a.ended_at IS NOT NULL FROM supply_agreements a"
                   " JOIN org_units au ON au.id = a.org_unit_id"
                   " WHERE a.id = $1::bigint AND au.path <@ $2::ltree FOR UPDATE OF a",
                   2, call_i64(c, req->id), c->who.scope_path));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "supply agreement %" PRId64 " not found", req->id);
    if (db_bool(r, 0, 0))
        return call_fail_why(c, GS_FAILED_PRECONDITION, GS_R_WRONG_STATE,
                             "supply agreement %" PRId64 " was ended: it cannot change", req->id);
    GS_TRY(db_exec(c, NULL,
                   "UPDATE supply_agreements SET ended_at = now(), ended_by = $2::bigint,"
                   " end_reason = $3 WHERE id = $1::bigint",
                   3, call_i64(c, req->id), call_i64(c, c->who.user_id), req->reason));
    c->audit_object = call_printf(c, "supply_agreement:%" PRId64, req->id);
    c->audit_summary =
        call_printf(c, "ended supply agreement %" PRId64 ": %.400s", req->id, req->reason);
    return sa_fill(c, req->id, resp);
}

/* ------------------------------------------------------------------ call-offs */

#define CO_COLUMNS(COL)                                                                            \
    COL(CO_ID, "o.id")                                                                             \
    COL(CO_AGREEMENT_ID, ", o.agreement_id")                                                       \
    COL(CO_SUPPLIER_SITE_CODE, ", s.code")                                                         \
    COL(CO_ITEM_CODE, ", it.code")                                                                 \
    COL(CO_REQUISITION_ID, ", o.requisition_id")                                                   \
    COL(CO_REQUISITION_NUMBER, ", q.number")                                                       \
    COL(CO_GRID_CODE, ", g.code")                                                                  \
    COL(CO_DAY, ", to_char(o.day, 'YYYY-MM-DD')")                                                  \
    COL(CO_QTY, ", o.qty")                                                                         \
    COL(CO_UNIT_PRICE_FEN, ", o.unit_price_fen")                                                   \
    COL(CO_PRICE_CAP_FEN, ", o.price_cap_fen")                                                     \
    COL(CO_AMOUNT_FEN, ", o.amount_fen")                                                           \
    COL(CO_FUND_ACCOUNT_CODE, ", f.code")                                                          \
    COL(CO_BUDGET_CATEGORY, ", o.budget_category")                                                 \
    COL(CO_DELIVERY_ADDRESS, ", o.delivery_address")                                               \
    COL(CO_DUE_AT, ", " DIR_TS("o.due_at"))                                                        \
    COL(CO_CREATED_AT, ", " DIR_TS("o.created_at"))                                                \
    COL(CO_PURCHASE_ORDER_ID, ", coalesce(o.purchase_order_id, 0)")                                \
    COL(CO_PURCHASE_ORDER_NUMBER, ", coalesce(po.number, '')")                                     \
    COL(CO_STATE, ", cs.state")                                                                    \
    COL(CO_QTY_RECEIVED, ", cs.qty_received")
enum { CO_COLUMNS(DB_COL_NAME) CO_NCOLS };
#define CO_COLS CO_COLUMNS(DB_COL_SQL)
#define CO_FROM                                                                                    \
    " FROM supply_calloffs o JOIN supply_agreements a ON a.id = o.agreement_id"                    \
    " JOIN sites s ON s.id = a.supplier_site_id JOIN items it ON it.id = o.item_id"                \
    " JOIN requisitions q ON q.id = o.requisition_id"                                              \
    " JOIN org_units g ON g.id = o.grid_id"                                                        \
    " JOIN fund_accounts f ON f.id = o.fund_account_id"                                            \
    " LEFT JOIN purchase_orders po ON po.id = o.purchase_order_id"                                 \
    " JOIN supply_calloff_states cs ON cs.calloff_id = o.id"

/* The states a call-off can be in (supply_calloff_states, 085_calloff_refusals.sql). */
static const char *const calloff_states[] = {"placed",    "partly_received", "received",
                                             "cancelled", "recorded",        NULL};

static void calloff_from_row(Gridstock__V1__CallOff *m, const db_res *r, int i)
{
    m->id = db_i64(r, i, CO_ID);
    m->agreement_id = db_i64(r, i, CO_AGREEMENT_ID);
    m->supplier_site_code = (char *)db_str(r, i, CO_SUPPLIER_SITE_CODE);
    m->item_code = (char *)db_str(r, i, CO_ITEM_CODE);
    m->requisition_id = db_i64(r, i, CO_REQUISITION_ID);
    m->requisition_number = (char *)db_str(r, i, CO_REQUISITION_NUMBER);
    m->grid_code = (char *)db_str(r, i, CO_GRID_CODE);
    m->day = (char *)db_str(r, i, CO_DAY);
    m->qty = db_i64(r, i, CO_QTY);
    m->unit_price_fen = db_i64(r, i, CO_UNIT_PRICE_FEN);
    m->price_cap_fen = db_i64(r, i, CO_PRICE_CAP_FEN);
    m->amount_fen = db_i64(r, i, CO_AMOUNT_FEN);
    m->fund_account_code = (char *)db_str(r, i, CO_FUND_ACCOUNT_CODE);
    m->budget_category = (char *)db_str(r, i, CO_BUDGET_CATEGORY);
    m->delivery_address = (char *)db_str(r, i, CO_DELIVERY_ADDRESS);
    m->due_at = (char *)db_str(r, i, CO_DUE_AT);
    m->created_at = (char *)db_str(r, i, CO_CREATED_AT);
    m->purchase_order_id = db_i64(r, i, CO_PURCHASE_ORDER_ID);
    m->purchase_order_number = (char *)db_str(r, i, CO_PURCHASE_ORDER_NUMBER);
    m->state = (char *)db_str(r, i, CO_STATE);
    m->qty_received = db_i64(r, i, CO_QTY_RECEIVED);
}

gs_code requisition_list_call_offs(call *c, const Gridstock__V1__ListCallOffsRequest *req,
                                   Gridstock__V1__ListCallOffsResponse *resp)
{
    int64_t limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_range(c, "agreement_id", req->agreement_id, 0, INT64_MAX));
    GS_TRY(v_range(c, "requisition_id", req->requisition_id, 0, INT64_MAX));
    GS_TRY(v_date(c, "day", req->day));
    /* those delivered to grids in scope */
    GS_TRY(db_exec(c, &r,
                   "SELECT " CO_COLS CO_FROM
                   " WHERE g.path <@ $1::ltree AND ($2::bigint = 0 OR o.agreement_id = $2::bigint)"
                   " AND ($3::bigint = 0 OR o.requisition_id = $3::bigint)"
                   " AND ($4 = '' OR o.day = $4::date) AND o.id > $5::bigint"
                   " ORDER BY o.id LIMIT $6::bigint",
                   6, c->who.scope_path, call_i64(c, req->agreement_id),
                   call_i64(c, req->requisition_id), req->day, call_i64(c, after),
                   call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, CO_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->call_offs, resp->n_call_offs,
                 &gridstock__v1__call_off__descriptor, calloff_from_row);
    return GS_OK;
}

/* The requester's view: the call-offs made for the requisitions of one requisition or of
 * the units under one unit, within the caller's scope (req_find, dir_unit_find: NOT_FOUND
 * outside it), whatever their agreement. */
gs_code requisition_list_requested_call_offs(call *c,
                                             const Gridstock__V1__ListRequestedCallOffsRequest *req,
                                             Gridstock__V1__ListCallOffsResponse *resp)
{
    int64_t limit, after, req_id = 0;
    const char *path;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_range(c, "requisition_id", req->requisition_id, 0, INT64_MAX));
    GS_TRY(v_len(c, "requisition_number", req->requisition_number, 64));
    GS_TRY(dir_enum(c, "state", req->state, calloff_states, false));
    if (req->requisition_id || *req->requisition_number) {
        req_ref ref;
        GS_TRY(req_find(c, req->requisition_id, req->requisition_number, false, &ref));
        req_id = ref.id;
        path = ref.org_unit_path;
    } else {
        dir_unit u;
        GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
        path = u.path;
    }
    GS_TRY(db_exec(c, &r,
                   "SELECT " CO_COLS CO_FROM " JOIN org_units qu ON qu.id = q.org_unit_id"
                   " WHERE qu.path <@ $1::ltree AND qu.path <@ $2::ltree"
                   " AND ($3::bigint = 0 OR o.requisition_id = $3::bigint)"
                   " AND ($4 = '' OR cs.state = $4) AND o.id > $5::bigint"
                   " ORDER BY o.id LIMIT $6::bigint",
                   6, path, c->who.scope_path, call_i64(c, req_id), req->state, call_i64(c, after),
                   call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, CO_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->call_offs, resp->n_call_offs,
                 &gridstock__v1__call_off__descriptor, calloff_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ the hook */

gs_code req_supply_on_emergency(call *c, int64_t req_id, int64_t *units)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT units FROM supply_calloff_shortfall($1::bigint, $2::bigint, $3)",
                   3, call_i64(c, req_id), call_i64(c, c->who.user_id), c->request_id));
    *units = db_one_i64(r, 0);
    return GS_OK;
}
