/* procurement.h — what the ProcurementService files share: the purchase order state
 * machine (one enum, one transition table in procurement.c, mirrored in SQL by
 * purchase_order_transitions and the purchase_orders_guard trigger of
 * 011_procurement.sql), finding supplier markets and orders within the caller's reach,
 * and filling the PurchaseOrder message.
 *
 * Files: procurement.c (state machine, prices, loading, proposals, method table),
 * procurement_orders.c (create, change, place, cancel, receive, get, list). */
#ifndef GS_SVC_PROCUREMENT_H
#define GS_SVC_PROCUREMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "stock.h"

#include "gridstock/v1/procurement.pb-c.h"

/* The states of a purchase order, in the order of its life:
 *   DRAFT            being prepared; its lines can change
 *   PLACED           sent to the supplier; its lines count as on order (stock_on_order)
 *   PARTLY_RECEIVED  some goods arrived (receipt movements ref the order); the rest is
 *                    still on order
 *   RECEIVED         everything arrived (final)
 *   CANCELLED        withdrawn from draft, placed or partly received; what was not
 *                    received is no longer on order (final) */
#define PO_STATE_LIST(X)                                                                           \
    X(PO_DRAFT, "draft")                                                                           \
    X(PO_PLACED, "placed")                                                                         \
    X(PO_PARTLY_RECEIVED, "partly_received")                                                       \
    X(PO_RECEIVED, "received")                                                                     \
    X(PO_CANCELLED, "cancelled")

typedef enum po_state {
#define GS_X(e, s) e,
    PO_STATE_LIST(GS_X)
#undef GS_X
        PO_STATE_COUNT
} po_state;

const char *po_state_name(po_state s);
/* -1 when unknown. */
int po_state_from_name(const char *name);

/* A purchase order found for a site in the caller's scope. Strings live until the call
 * ends. */
typedef struct po_ref {
    int64_t id;
    const char *number;
    po_state state;
    int64_t site_id;
    int64_t supplier_site_id;
    int64_t created_by;      /* 0 when unknown */
    int64_t fund_account_id; /* 0: paid from no fund */
} po_ref;

/* Finds order `id` (or `number` when id is 0) whose site is in the caller's scope, locking
 * its row when `lock`. NOT_FOUND otherwise. */
gs_code po_find(call *c, int64_t id, const char *number, bool lock, po_ref *out);
/* FAILED_PRECONDITION naming the order's current state unless it may move to `to`;
 * `action` says what was attempted ("place it", "cancel it"). */
gs_code po_check_move(call *c, const po_ref *o, po_state to, const char *action);
/* Fills m with order `id`: header, and lines when `lines`. */
gs_code po_fill(call *c, int64_t id, bool lines, Gridstock__V1__PurchaseOrder *m);

/* The header columns po_hdr_from_row reads, from PO_FROM (o orders, s its site, ou the
 * site's org unit, sm the supplier). */
#define PO_COLUMNS(COL)                                                                            \
    COL(PO_ID, "o.id", id, i64)                                                                    \
    COL(PO_NUMBER, ", o.number", number, str)                                                      \
    COL(PO_STATUS, ", o.status", status, str)                                                      \
    COL(PO_SUPPLIER_SITE_ID, ", o.supplier_site_id", supplier_site_id, i64)                        \
    COL(PO_SUPPLIER_SITE_CODE, ", sm.code", supplier_site_code, str)                               \
    COL(PO_SUPPLIER_NAME, ", sm.name", supplier_name, str)                                         \
    COL(PO_SITE_ID, ", o.site_id", site_id, i64)                                                   \
    COL(PO_SITE_CODE, ", s.code", site_code, str)                                                  \
    COL(PO_SITE_NAME, ", s.name", site_name, str)                                                  \
    COL(PO_NOTE, ", o.note", note, str)                                                            \
    COL(PO_EXPECTED_ON, ", coalesce(to_char(o.expected_on, 'YYYY-MM-DD'), '')", expected_on, str)  \
    COL(PO_TOTAL_FEN,                                                                              \
        ", (SELECT coalesce(sum(l.qty * l.unit_price_fen), 0)"                                     \
        " FROM purchase_order_lines l WHERE l.order_id = o.id)",                                   \
        total_fen, i64)                                                                            \
    COL(PO_CREATED_BY, ", coalesce(cu.login, '')", created_by, str)                                \
    COL(PO_CREATED_AT, ", " DIR_TS("o.created_at"), created_at, str)                               \
    COL(PO_PLACED_BY, ", coalesce(pu.login, '')", placed_by, str)                                  \
    COL(PO_PLACED_AT, ", " DIR_TS("o.placed_at"), placed_at, str)                                  \
    COL(PO_CLOSED_AT, ", " DIR_TS("o.closed_at"), closed_at, str)                                  \
    COL(PO_CANCEL_REASON, ", o.cancel_reason", cancel_reason, str)                                 \
    COL(PO_PROPOSED, ", o.proposed", proposed, bool)                                               \
    COL(PO_FUND_ACCOUNT_ID, ", coalesce(o.fund_account_id, 0)", fund_account_id, i64)              \
    COL(PO_FUND_CODE, ", coalesce(fa.code, '')", fund_code, str)                                   \
    COL(PO_BUDGET_CATEGORY, ", coalesce(o.budget_category, '')", budget_category, str)             \
    COL(PO_RESERVED_FEN, ", o.reserved_fen", reserved_fen, i64)                                    \
    COL(PO_SPENT_FEN, ", o.spent_fen", spent_fen, i64)
enum { PO_COLUMNS(DB_COL_NAME) PO_NCOLS };
#define PO_COLS PO_COLUMNS(DB_COL_SQL)
#define PO_FROM                                                                                    \
    " FROM purchase_orders o JOIN sites s ON s.id = o.site_id"                                     \
    " JOIN org_units ou ON ou.id = s.org_unit_id JOIN sites sm ON sm.id = o.supplier_site_id"      \
    " LEFT JOIN users cu ON cu.id = o.created_by LEFT JOIN users pu ON pu.id = o.placed_by"        \
    " LEFT JOIN fund_accounts fa ON fa.id = o.fund_account_id"
void po_hdr_from_row(Gridstock__V1__PurchaseOrder *m, const db_res *r, int row);

/* A supplier market of the caller's district (supplier markets serve the whole
 * district), by id or by code when id is 0. INVALID_ARGUMENT naming `field` when neither
 * is given or the site is not a supplier market; NOT_FOUND when unknown. */
gs_code proc_supplier_find(call *c, int64_t id, const char *code, const char *field,
                           stock_site *out);

/* Checks order lines and resolves their items: ids into item_ids, quantities and prices
 * (0 = list price) into qtys and prices, each item once. Arrays in the arena. */
gs_code proc_lines_check(call *c, size_t n, Gridstock__V1__OrderLineInput *const *in,
                         int64_t **item_ids, int64_t **qtys, int64_t **prices);

enum { PO_LINES_MAX = 500 };

/* ---- handlers (procurement_orders.c) ---- */

#endif
