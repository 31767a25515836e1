/* stock.h — StockService's shared pieces: scoped site and item lookup, lot and
 * movement rows → messages, PostgreSQL array literals for the posting functions of
 * 010_stock.sql, and the handlers of stock_ops.c, stock_reports.c and
 * stock_watch.c. Other stock-moving services (procurement, charity, requisitions) use
 * the lookups and row readers too, and post through the same SQL functions. */
#ifndef GS_SVC_STOCK_H
#define GS_SVC_STOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "db.h"
#include "method.h"
#include "directory/directory.h"

#include "gridstock/v1/stock.pb-c.h"

/* A site within the caller's scope; strings live until the call ends. */
typedef struct stock_site {
    int64_t id;
    const char *code;
    const char *name;
    const char *kind;
    const char *path; /* ltree text of its org unit */
    bool active;
} stock_site;

typedef struct stock_item {
    int64_t id;
    const char *code;
    const char *name;
    const char *unit;
} stock_item;

/* Finds site `id` (or `code` when id is 0) within the caller's scope. Neither given:
 * INVALID_ARGUMENT naming `field`; unknown or out of scope: NOT_FOUND, same message. */
gs_code stock_site_find(call *c, int64_t id, const char *code, const char *field, stock_site *out);
/* Finds item `id` (or `code` when id is 0); required unless `optional` (then *out is
 * zeroed when neither is given). */
gs_code stock_item_find(call *c, int64_t id, const char *code, const char *field, bool optional,
                        stock_item *out);
/* Both lookups above in one round trip (site_id / item_id name the fields in errors). */
gs_code stock_site_item_find(call *c, int64_t site_id, const char *site_code, int64_t item_id,
                             const char *item_code, bool item_optional, stock_site *s,
                             stock_item *it);

/* The subtree a report covers: the site when one is named (*site_id set), else the org
 * unit (default: the caller's scope). *path is the ltree text to match with `<@`. */
gs_code stock_area(call *c, int64_t org_unit_id, const char *org_unit_code, int64_t site_id,
                   const char *site_code, const char **path, int64_t *site_id_out);

/* Lot codes: [A-Za-z0-9._/-]{1,64}. ref_type: [a-z_]{0,32}. Free text: at most 500 bytes. */
gs_code stock_check_lot_code(call *c, const char *field, const char *s, bool required);
gs_code stock_check_ref(call *c, const char *type, int64_t id);
gs_code stock_check_text(call *c, const char *field, const char *s);

/* PostgreSQL array literals ("{...}") for array parameters of the SQL functions; strings
 * are quoted. Memory in the call's arena. */
const char *stock_text_array(call *c, size_t n, const char *const *v);
const char *stock_i64_array(call *c, size_t n, const int64_t *v);

/* The columns stock_lot_from_row reads (STOCK_LOT_NCOLS of them), from
 * STOCK_LOT_FROM (lots l, sites s, items i). */
/* clang-format off */
#define STOCK_LOT_COLS                                                                             \
    "l.id, l.site_id, s.code, l.item_id, i.code, i.name, i.unit, l.lot_code,"                      \
    " coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), ''), l.source, l.on_hand, l.reserved,"         \
    " CASE WHEN stock_expired(l.expires_on) THEN 0 ELSE l.on_hand - l.reserved END,"               \
    " stock_expired(l.expires_on), coalesce(l.expires_on - current_date, 0), "                     \
    DIR_TS("l.received_at")
/* clang-format on */
#define STOCK_LOT_NCOLS 16
#define STOCK_LOT_FROM                                                                             \
    " FROM lots l JOIN sites s ON s.id = l.site_id JOIN items i ON i.id = l.item_id"
void stock_lot_from_row(Gridstock__V1__Lot *m, const db_res *r, int row, int col);

/* The columns stock_movement_from_row reads (STOCK_MOVE_NCOLS), from STOCK_MOVE_FROM. */
/* clang-format off */
#define STOCK_MOVE_COLS                                                                            \
    "m.id, " DIR_TS("m.at") ", m.kind, m.site_id, s.code, m.item_id, i.code, m.lot_id,"            \
    " l.lot_code, m.qty, m.reserved_delta, m.reason, m.ref_type, coalesce(m.ref_id, 0),"           \
    " m.request_id, coalesce(m.actor_id, 0), coalesce(u.login, ''), m.note"
/* clang-format on */
#define STOCK_MOVE_NCOLS 18
#define STOCK_MOVE_FROM                                                                            \
    " FROM stock_movements m JOIN sites s ON s.id = m.site_id JOIN items i ON i.id = m.item_id"    \
    " JOIN lots l ON l.id = m.lot_id JOIN org_units ou ON ou.id = s.org_unit_id"                   \
    " LEFT JOIN users u ON u.id = m.actor_id"
void stock_movement_from_row(Gridstock__V1__Movement *m, const db_res *r, int row);

/* Loads lot `id` into m (no scope check: callers found it through a scoped site). */
gs_code stock_lot_load(call *c, int64_t id, Gridstock__V1__Lot *m);
/* Loads movement `id` into m. */
gs_code stock_movement_load(call *c, int64_t id, Gridstock__V1__Movement *m);

/* ---- handlers ---- */
/* stock_ops.c */
/* stock_reports.c */
/* stock_watch.c */

#endif
