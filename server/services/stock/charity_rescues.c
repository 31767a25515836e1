/* charity_rescues.c — CharityService, near-expiry reserves turned into help (issue 19,
 * 072): AcceptTransferProposal dispatches a proposal's lot from its reserve point to a
 * charity station in one call (charity_rescue_accept, exactly-once and audited), and
 * RescueReport compares what was rescued with what still expired in a period. */
#include <inttypes.h>
#include <string.h>

#include "charity.h"
#include "stock.h"

#include "gridstock/v1/charity.pb-c.h"
#include "gridstock/v1/charity.rpc.h"

/* ------------------------------------------------------------------ rescues (072) */

#define RESCUE_COLUMNS(COL)                                                                        \
    COL(RES_ID, "r.id", id, i64)                                                                   \
    COL(RES_TRANSFER_ID, ", r.transfer_id", transfer_id, i64)                                      \
    COL(RES_LOT_ID, ", r.lot_id", lot_id, i64)                                                     \
    COL(RES_LOT_CODE, ", l.lot_code", lot_code, str)                                               \
    COL(RES_ITEM_CODE, ", i.code", item_code, str)                                                 \
    COL(RES_FROM_SITE_CODE, ", fs.code", from_site_code, str)                                      \
    COL(RES_TO_SITE_CODE, ", ts.code", to_site_code, str)                                          \
    COL(RES_QTY, ", r.qty", qty, i64)                                                              \
    COL(RES_EXPIRES_ON, ", to_char(r.expires_on, 'YYYY-MM-DD')", expires_on, str)                  \
    COL(RES_ACCEPTED_BY, ", coalesce(u.login, '')", accepted_by, str)                              \
    COL(RES_ACCEPTED_AT, ", " DIR_TS("r.accepted_at"), accepted_at, str)
enum { RESCUE_COLUMNS(DB_COL_NAME) RES_NCOLS };
#define RESCUE_COLS RESCUE_COLUMNS(DB_COL_SQL)

static void rescue_from_row(Gridstock__V1__Rescue *m, const db_res *r,
                            int row){RESCUE_COLUMNS(DB_COL_FILL)}

gs_code charity_accept_transfer_proposal(call *c,
                                         const Gridstock__V1__AcceptTransferProposalRequest *req,
                                         Gridstock__V1__Rescue *resp)
{
    stock_site to;
    db_res *r = NULL;

    GS_TRY(v_positive(c, "lot_id", req->lot_id));
    GS_TRY(v_range(c, "qty", req->qty, 0, GS_QTY_MAX));
    GS_TRY(v_range(c, "days", req->days, 0, 365));
    GS_TRY(charity_station_find(c, req->to_site_id, req->to_site_code, &to));
    GS_TRY(db_exec(c, &r,
                   "SELECT charity_rescue_accept($1::ltree, $2::bigint, $3::bigint, $4::bigint,"
                   " $5::integer, $6::bigint, $7)",
                   7, c->who.scope_path, call_i64(c, req->lot_id), call_i64(c, to.id),
                   call_i64(c, req->qty), call_i64(c, req->days ? req->days : 30), charity_actor(c),
                   c->request_id));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(
        db_exec(c, &r,
                "SELECT " RESCUE_COLS " FROM charity_rescues r JOIN lots l ON l.id = r.lot_id"
                " JOIN items i ON i.id = l.item_id JOIN sites fs ON fs.id = l.site_id"
                " JOIN sites ts ON ts.id = r.to_site_id LEFT JOIN users u ON u.id = r.accepted_by"
                " WHERE r.id = $1",
                1, call_i64(c, id)));
    rescue_from_row(resp, r, 0);
    c->audit_object = call_printf(c, "transfer:%" PRId64, resp->transfer_id);
    c->audit_summary = call_printf(c,
                                   "rescued %" PRId64 " of %s lot %s (expires %s) from %s to"
                                   " charity station %s",
                                   resp->qty, resp->item_code, resp->lot_code, resp->expires_on,
                                   resp->from_site_code, resp->to_site_code);
    return GS_OK;
}

#define RESCUE_ROW_COLUMNS(COL)                                                                    \
    COL(RR_ITEM_ID, "i.id", item_id, i64)                                                          \
    COL(RR_ITEM_CODE, ", i.code", item_code, str)                                                  \
    COL(RR_ITEM_NAME, ", i.name", item_name, str)                                                  \
    COL(RR_UNIT, ", i.unit", unit, str)                                                            \
    COL(RR_RESCUED_QTY, ", coalesce(sum(x.rescued), 0)::bigint", rescued_qty, i64)                 \
    COL(RR_RESCUED_LOTS, ", count(DISTINCT x.lot_id) FILTER (WHERE x.rescued > 0)", rescued_lots,  \
        i64)                                                                                       \
    COL(RR_EXPIRED_QTY, ", coalesce(sum(x.expired), 0)::bigint", expired_qty, i64)                 \
    COL(RR_EXPIRED_LOTS, ", count(DISTINCT x.lot_id) FILTER (WHERE x.expired > 0)", expired_lots,  \
        i64)                                                                                       \
    COL(RR_RESCUED_VALUE, ", coalesce(sum(x.rescued_fen), 0)::bigint", rescued_value_fen, i64)     \
    COL(RR_EXPIRED_VALUE, ", coalesce(sum(x.expired_fen), 0)::bigint", expired_value_fen, i64)
enum { RESCUE_ROW_COLUMNS(DB_COL_NAME) RR_NCOLS };
#define RESCUE_ROW_COLS RESCUE_ROW_COLUMNS(DB_COL_SQL)

static void rescue_row_from_row(Gridstock__V1__RescueRow *m, const db_res *r,
                                int row){RESCUE_ROW_COLUMNS(DB_COL_FILL)}

gs_code charity_rescue_report(call *c, const Gridstock__V1__RescueReportRequest *req,
                              Gridstock__V1__RescueReportResponse *resp)
{
    dir_unit u;
    db_res *r = NULL;

    GS_TRY(v_date(c, "since", req->since));
    GS_TRY(v_date(c, "until", req->until));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    GS_TRY(db_exec(c, &r,
                   "SELECT to_char(s, 'YYYY-MM-DD'), to_char(e, 'YYYY-MM-DD'), e - s FROM ("
                   " SELECT s, coalesce(nullif($2, '')::date, (s + interval '1 month')::date) e"
                   " FROM (SELECT coalesce(nullif($1, '')::date,"
                   "  date_trunc('month', current_date)::date) s) a) b",
                   2, req->since, req->until));
    const char *since = db_str(r, 0, 0), *until = db_str(r, 0, 1);
    int64_t days = db_i64(r, 0, 2);
    if (days <= 0 || days > 366)
        return call_fail_field(c, "until", GS_R_FIELD_INVALID,
                               "until: after since (%s) and at most 366 days later", since);
    /* rescued: accepted in the period, from sites of the area, valued as the ledger valued
     * the rescue's transfer_out (the lot's cost then); expired: lots of the area whose
     * expiry fell in the period before today, with what they hold at their cost and what
     * was written off at the ledger's value */
    GS_TRY(db_exec(
        c, &r,
        "WITH x AS ("
        " SELECT l.item_id, l.id lot_id, r.qty rescued, 0::bigint expired,"
        "  coalesce((SELECT -sum(m.value_fen) FROM stock_movements m WHERE m.lot_id = r.lot_id"
        "   AND m.kind = 'transfer_out' AND m.ref_type = 'transfer' AND m.ref_id = r.transfer_id),"
        "   r.qty * l.unit_cost_fen) rescued_fen, 0::bigint expired_fen"
        "  FROM charity_rescues r JOIN lots l ON l.id = r.lot_id"
        "  JOIN sites s ON s.id = l.site_id JOIN org_units ou ON ou.id = s.org_unit_id"
        "  WHERE ou.path <@ $1::ltree AND r.accepted_at >= $2::date::timestamptz"
        "  AND r.accepted_at < $3::date::timestamptz"
        " UNION ALL"
        " SELECT l.item_id, l.id, 0, l.on_hand + coalesce(w.qty, 0), 0,"
        "  l.on_hand * l.unit_cost_fen + coalesce(w.fen, 0)"
        "  FROM lots l JOIN sites s ON s.id = l.site_id JOIN org_units ou ON ou.id = s.org_unit_id"
        "  LEFT JOIN LATERAL (SELECT -sum(m.qty) qty, -sum(m.value_fen) fen FROM stock_movements m"
        "   WHERE m.lot_id = l.id AND m.kind = 'expiry_writeoff') w ON true"
        "  WHERE ou.path <@ $1::ltree AND l.expires_on >= $2::date"
        "  AND l.expires_on < least($3::date, current_date))"
        " SELECT " RESCUE_ROW_COLS " FROM x JOIN items i ON i.id = x.item_id"
        " GROUP BY i.id HAVING sum(x.rescued) > 0 OR sum(x.expired) > 0 ORDER BY i.code",
        3, u.path, since, until));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->rows, resp->n_rows, &gridstock__v1__rescue_row__descriptor,
                 rescue_row_from_row);
    for (size_t i = 0; i < resp->n_rows; i++) {
        resp->rescued_qty += resp->rows[i]->rescued_qty;
        resp->expired_qty += resp->rows[i]->expired_qty;
        resp->rescued_value_fen += resp->rows[i]->rescued_value_fen;
        resp->expired_value_fen += resp->rows[i]->expired_value_fen;
    }
    resp->since = (char *)since;
    resp->until = (char *)until;
    return GS_OK;
}
