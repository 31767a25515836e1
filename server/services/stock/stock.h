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

/* The columns stock_lot_from_row reads, from STOCK_LOT_FROM (lots l, sites s, items i). */
#define STOCK_LOT_COLUMNS(COL)                                                                     \
    COL(LOT_ID, "l.id", id, i64)                                                                   \
    COL(LOT_SITE_ID, ", l.site_id", site_id, i64)                                                  \
    COL(LOT_SITE_CODE, ", s.code", site_code, str)                                                 \
    COL(LOT_ITEM_ID, ", l.item_id", item_id, i64)                                                  \
    COL(LOT_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(LOT_ITEM_NAME, ", i.name", item_name, str)                                                 \
    COL(LOT_UNIT, ", i.unit", unit, str)                                                           \
    COL(LOT_LOT_CODE, ", l.lot_code", lot_code, str)                                               \
    COL(LOT_EXPIRES_ON, ", coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), '')", expires_on, str)    \
    COL(LOT_SOURCE, ", l.source", source, str)                                                     \
    COL(LOT_ON_HAND, ", l.on_hand", on_hand, i64)                                                  \
    COL(LOT_RESERVED, ", l.reserved", reserved, i64)                                               \
    COL(LOT_AVAILABLE,                                                                             \
        ", CASE WHEN stock_expired(l.expires_on) THEN 0"                                           \
        " ELSE l.on_hand - l.reserved END",                                                        \
        available, i64)                                                                            \
    COL(LOT_EXPIRED, ", stock_expired(l.expires_on)", expired, bool)                               \
    COL(LOT_DAYS_LEFT, ", coalesce(l.expires_on - current_date, 0)", days_left, i32)               \
    COL(LOT_RECEIVED_AT, ", " DIR_TS("l.received_at"), received_at, str)                           \
    COL(LOT_UNIT_COST_FEN, ", l.unit_cost_fen", unit_cost_fen, i64)
enum { STOCK_LOT_COLUMNS(DB_COL_NAME) STOCK_LOT_NCOLS };
#define STOCK_LOT_COLS STOCK_LOT_COLUMNS(DB_COL_SQL)
#define STOCK_LOT_FROM                                                                             \
    " FROM lots l JOIN sites s ON s.id = l.site_id JOIN items i ON i.id = l.item_id"
void stock_lot_from_row(Gridstock__V1__Lot *m, const db_res *r, int row);

/* The columns stock_movement_from_row reads, from STOCK_MOVE_FROM. */
#define STOCK_MOVE_COLUMNS(COL)                                                                    \
    COL(MOVE_ID, "m.id", id, i64)                                                                  \
    COL(MOVE_AT, ", " DIR_TS("m.at"), at, str)                                                     \
    COL(MOVE_KIND, ", m.kind", kind, str)                                                          \
    COL(MOVE_SITE_ID, ", m.site_id", site_id, i64)                                                 \
    COL(MOVE_SITE_CODE, ", s.code", site_code, str)                                                \
    COL(MOVE_ITEM_ID, ", m.item_id", item_id, i64)                                                 \
    COL(MOVE_ITEM_CODE, ", i.code", item_code, str)                                                \
    COL(MOVE_LOT_ID, ", m.lot_id", lot_id, i64)                                                    \
    COL(MOVE_LOT_CODE, ", l.lot_code", lot_code, str)                                              \
    COL(MOVE_QTY, ", m.qty", qty, i64)                                                             \
    COL(MOVE_RESERVED_DELTA, ", m.reserved_delta", reserved_delta, i64)                            \
    COL(MOVE_REASON, ", m.reason", reason, str)                                                    \
    COL(MOVE_REF_TYPE, ", m.ref_type", ref_type, str)                                              \
    COL(MOVE_REF_ID, ", coalesce(m.ref_id, 0)", ref_id, i64)                                       \
    COL(MOVE_REQUEST_ID, ", m.request_id", request_id, str)                                        \
    COL(MOVE_ACTOR_ID, ", coalesce(m.actor_id, 0)", actor_id, i64)                                 \
    COL(MOVE_ACTOR_LOGIN, ", coalesce(u.login, '')", actor_login, str)                             \
    COL(MOVE_NOTE, ", m.note", note, str)                                                          \
    COL(MOVE_VALUE_FEN, ", m.value_fen", value_fen, i64)
enum { STOCK_MOVE_COLUMNS(DB_COL_NAME) STOCK_MOVE_NCOLS };
#define STOCK_MOVE_COLS STOCK_MOVE_COLUMNS(DB_COL_SQL)
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
