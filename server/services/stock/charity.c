/* charity.c — CharityService, donations and distributions: donations in at charity
 * stations (numbered receipts, donation_in movements), distributions out to households
 * (distribution_out, FEFO) under the quotas that hold across every station of the
 * district, and their lists; with the helpers the other charity files share (charity.h).
 * The posting and the quota check are one call of 012_charity.sql's functions each,
 * inside the call's transaction. Quotas and quota rules: charity_quotas.c; near-expiry
 * lots turned into help: charity_rescues.c. */
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "charity.h"
#include "pg_array.h"
#include "listen.h"
#include "stock.h"

#include "gridstock/v1/charity.pb-c.h"
#include "gridstock/v1/charity.rpc.h"

enum { DONATION_ITEMS_MAX = 200, DISTRIBUTION_ITEMS_MAX = 50 };

const char *const charity_quota_periods[] = {"week", "month", NULL};

const char *charity_actor(call *c)
{
    return call_i64(c, c->who.user_id);
}

gs_code charity_station_find(call *c, int64_t id, const char *code, stock_site *out)
{
    GS_TRY(stock_site_find(c, id, code, "site_id", out));
    if (strcmp(out->kind, "charity_station") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "site_id: %s is a %s, not a charity station",
                         out->code, out->kind);
    if (!out->active)
        return call_fail(c, GS_FAILED_PRECONDITION, "charity station %s is inactive", out->code);
    return GS_OK;
}

const char *charity_district_id(call *c)
{
    size_t n = strcspn(c->who.scope_path, ".");
    return call_printf(c, "%.*s", (int)n, c->who.scope_path);
}

/* A household identifier: [A-Za-z0-9._-]{1,64}. */
static gs_code check_household(call *c, const char *field, const char *s)
{
    GS_TRY(v_required(c, field, s));
    return v_chars(c, field, s, 64, &GS_CS_IDENT);
}

#define GRID_COLUMNS(COL)                                                                          \
    COL(GRID_ID, "id")                                                                             \
    COL(GRID_CODE, ", code")                                                                       \
    COL(GRID_NAME, ", name")                                                                       \
    COL(GRID_KIND, ", kind")                                                                       \
    COL(GRID_PATH, ", path::text")
enum { GRID_COLUMNS(DB_COL_NAME) GRID_NCOLS };
#define GRID_COLS GRID_COLUMNS(DB_COL_SQL)

/* A grid of the caller's district (households come to any station), by id or code. */
static gs_code grid_find(call *c, int64_t id, const char *code, dir_unit *out)
{
    db_res *r = NULL;
    bool by_code = id == 0 && code && *code;
    if (id < 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "grid_id: must be positive, got %" PRId64, id);
    if (id == 0 && !by_code)
        return call_fail(c, GS_INVALID_ARGUMENT, "grid_id: required (id or code)");
    if (by_code)
        GS_TRY(v_len(c, "grid_code", code, 64));
    GS_TRY(db_exec(c, &r,
                   "SELECT " GRID_COLS " FROM org_units"
                   " WHERE (id = $1::bigint OR ($1::bigint = 0 AND code = $2))"
                   " AND path <@ subpath($3::ltree, 0, 1)",
                   3, call_i64(c, id), by_code ? code : "", c->who.scope_path));
    if (db_rows(r) == 0) {
        if (by_code)
            return call_fail(c, GS_NOT_FOUND, "grid \"%.64s\" not found", code);
        return call_fail(c, GS_NOT_FOUND, "grid %" PRId64 " not found", id);
    }
    out->id = db_i64(r, 0, GRID_ID);
    out->code = db_str(r, 0, GRID_CODE);
    out->name = db_str(r, 0, GRID_NAME);
    out->kind = db_str(r, 0, GRID_KIND);
    out->path = db_str(r, 0, GRID_PATH);
    if (strcmp(out->kind, "grid") != 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "grid_id: %s is a %s, not a grid", out->code,
                         out->kind);
    return GS_OK;
}

/* Checks item i of a request: the item (id or code), qty, lot code; fills *item_id. */
static gs_code item_line(call *c, const char *list, size_t i, int64_t item_id,
                         const char *item_code, int64_t qty, const char *lot_code, int64_t *out)
{
    stock_item it;
    GS_TRY(v_range(c, call_printf(c, "%s[%zu].qty", list, i), qty, 1, 1000000000));
    GS_TRY(stock_check_lot_code(c, call_printf(c, "%s[%zu].lot_code", list, i), lot_code, false));
    GS_TRY(stock_item_find(c, item_id, item_code, call_printf(c, "%s[%zu].item_id", list, i), false,
                           &it));
    *out = it.id;
    return GS_OK;
}

/* ------------------------------------------------------------------ donations */

#define DONATION_COLUMNS(COL)                                                                      \
    COL(DON_ID, "d.id", id, i64)                                                                   \
    COL(DON_RECEIPT_NUMBER, ", d.receipt_number", receipt_number, str)                             \
    COL(DON_SITE_ID, ", d.site_id", site_id, i64)                                                  \
    COL(DON_SITE_CODE, ", s.code", site_code, str)                                                 \
    COL(DON_SITE_NAME, ", s.name", site_name, str)                                                 \
    COL(DON_DONOR_NAME, ", d.donor_name", donor_name, str)                                         \
    COL(DON_DONOR_CONTACT, ", d.donor_contact", donor_contact, str)                                \
    COL(DON_ANONYMOUS, ", d.anonymous", anonymous, bool)                                           \
    COL(DON_NOTE, ", d.note", note, str)                                                           \
    COL(DON_RECEIVED_BY, ", coalesce(u.login, '')", received_by, str)                              \
    COL(DON_RECEIVED_AT, ", " DIR_TS("d.received_at"), received_at, str)                           \
    COL(DON_TOTAL_QTY,                                                                             \
        ", (SELECT coalesce(sum(qty), 0) FROM charity_donation_lines x WHERE "                     \
        "x.donation_id = d.id)",                                                                   \
        total_qty, i64)
enum { DONATION_COLUMNS(DB_COL_NAME) DON_NCOLS };
#define DONATION_COLS DONATION_COLUMNS(DB_COL_SQL)
#define DONATION_FROM                                                                              \
    " FROM charity_donations d JOIN sites s ON s.id = d.site_id"                                   \
    " JOIN org_units ou ON ou.id = s.org_unit_id LEFT JOIN users u ON u.id = d.received_by"

static void donation_from_row(Gridstock__V1__Donation *m, const db_res *r, int row)
{
    DONATION_COLUMNS(DB_COL_FILL)
}

#define DONATION_LINE_COLUMNS(COL)                                                                 \
    COL(DONL_ITEM_ID, "x.item_id", item_id, i64)                                                   \
    COL(DONL_ITEM_CODE, ", i.code", item_code, str)                                                \
    COL(DONL_ITEM_NAME, ", i.name", item_name, str)                                                \
    COL(DONL_UNIT, ", i.unit", unit, str)                                                          \
    COL(DONL_QTY, ", x.qty", qty, i64)                                                             \
    COL(DONL_LOT_ID, ", x.lot_id", lot_id, i64)                                                    \
    COL(DONL_LOT_CODE, ", l.lot_code", lot_code, str)                                              \
    COL(DONL_EXPIRES_ON, ", coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), '')", expires_on, str)   \
    COL(DONL_MOVEMENT_ID, ", x.movement_id", movement_id, i64)
enum { DONATION_LINE_COLUMNS(DB_COL_NAME) DONL_NCOLS };
#define DONATION_LINE_COLS DONATION_LINE_COLUMNS(DB_COL_SQL)

static void donation_line_from_row(Gridstock__V1__DonationLine *m, const db_res *r, int row)
{
    DONATION_LINE_COLUMNS(DB_COL_FILL)
}

static gs_code donation_load(call *c, int64_t id, Gridstock__V1__Donation *m)
{
    db_res *r = NULL;
    GS_TRY(db_exec(c, &r, "SELECT " DONATION_COLS DONATION_FROM " WHERE d.id = $1", 1,
                   call_i64(c, id)));
    if (db_rows(r) == 0)
        return call_fail(c, GS_NOT_FOUND, "donation %" PRId64 " not found", id);
    donation_from_row(m, r, 0);
    GS_TRY(db_exec(c, &r,
                   "SELECT " DONATION_LINE_COLS
                   " FROM charity_donation_lines x JOIN items i ON i.id = x.item_id"
                   " JOIN lots l ON l.id = x.lot_id WHERE x.donation_id = $1 ORDER BY x.id",
                   1, call_i64(c, id)));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, m->lines, m->n_lines, &gridstock__v1__donation_line__descriptor,
                 donation_line_from_row);
    return GS_OK;
}

gs_code charity_record_donation(call *c, const Gridstock__V1__RecordDonationRequest *req,
                                Gridstock__V1__Donation *resp)
{
    stock_site s;
    db_res *r = NULL;
    size_t n = req->n_items;

    GS_TRY(v_required(c, "donor_name", req->donor_name));
    GS_TRY(v_len(c, "donor_name", req->donor_name, 200));
    GS_TRY(v_len(c, "donor_contact", req->donor_contact, 200));
    GS_TRY(stock_check_text(c, "note", req->note));
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at least one is required");
    if (n > DONATION_ITEMS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at most %d", DONATION_ITEMS_MAX);
    GS_TRY(charity_station_find(c, req->site_id, req->site_code, &s));
    int64_t *items = arena_alloc(c->arena, n * sizeof *items);
    int64_t *qtys = arena_alloc(c->arena, n * sizeof *qtys);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    const char **expires = arena_alloc(c->arena, n * sizeof *expires);
    int64_t *values = arena_alloc(c->arena, n * sizeof *values);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__DonationItem *d = req->items[i];
        GS_TRY(v_date(c, call_printf(c, "items[%zu].expires_on", i), d->expires_on));
        GS_TRY(v_range(c, call_printf(c, "items[%zu].unit_value_fen", i), d->unit_value_fen, 0,
                       1000000000000));
        values[i] = d->unit_value_fen;
        GS_TRY(item_line(c, "items", i, d->item_id, d->item_code, d->qty, d->lot_code, &items[i]));
        qtys[i] = d->qty;
        lots[i] = d->lot_code;
        expires[i] = d->expires_on;
    }
    /* the declared values, one per lot in the order of the items (0: none declared) */
    GS_TRY(db_exec(c, NULL,
                   "SELECT stock_set_unit_costs(ARRAY(SELECT nullif(x, 0) FROM unnest($1::bigint[])"
                   " WITH ORDINALITY AS t(x, i) ORDER BY i))",
                   1, pg_array_i64(c, values, n)));
    GS_TRY(db_exec(c, &r,
                   "SELECT charity_record_donation($1::bigint, $2, $3, $4::boolean, $5::bigint[],"
                   " $6::bigint[], $7::text[],"
                   " (SELECT array_agg(nullif(x, '')::date ORDER BY i)"
                   "    FROM unnest($8::text[]) WITH ORDINALITY AS t(x, i)),"
                   " $9::bigint, $10, $11)",
                   11, call_i64(c, s.id), req->donor_name, req->donor_contact,
                   req->anonymous ? "true" : "false", pg_array_i64(c, items, n),
                   pg_array_i64(c, qtys, n), pg_array_text(c, lots, n),
                   pg_array_text(c, expires, n), charity_actor(c), c->request_id, req->note));
    int64_t id = db_one_i64(r, 0);
    GS_TRY(donation_load(c, id, resp));
    c->audit_object = call_printf(c, "donation:%" PRId64, id);
    c->audit_summary = call_printf(c, "donation %s at %s: %" PRId64 " unit(s) in %zu line(s)",
                                   resp->receipt_number, s.code, resp->total_qty, resp->n_lines);
    return GS_OK;
}

gs_code charity_list_donations(call *c, const Gridstock__V1__ListDonationsRequest *req,
                               Gridstock__V1__ListDonationsResponse *resp)
{
    const char *path;
    int64_t site, limit, after;
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "donor", req->donor, 200));
    GS_TRY(v_len(c, "since", req->since, 40));
    GS_TRY(v_len(c, "until", req->until, 40));
    GS_TRY(v_timestamp(c, "since", req->since));
    GS_TRY(v_timestamp(c, "until", req->until));
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    GS_TRY(db_exec(c, &r,
                   "SELECT " DONATION_COLS DONATION_FROM
                   " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR d.site_id = $2::bigint)"
                   " AND ($3 = '' OR strpos(lower(d.donor_name), lower($3)) > 0)"
                   " AND ($4 = '' OR d.received_at >= stock_ts($4, 'since'))"
                   " AND ($5 = '' OR d.received_at < stock_ts($5, 'until'))"
                   " AND ($6::bigint = 0 OR d.id < $6::bigint) ORDER BY d.id DESC LIMIT $7::bigint",
                   7, path, call_i64(c, site), req->donor, req->since, req->until,
                   call_i64(c, after), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, DON_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->donations, resp->n_donations,
                 &gridstock__v1__donation__descriptor, donation_from_row);
    return GS_OK;
}

/* ------------------------------------------------------------------ distributions */

#define DIST_COLUMNS(COL)                                                                          \
    COL(DIST_ID, "d.id", id, i64)                                                                  \
    COL(DIST_SITE_ID, ", d.site_id", site_id, i64)                                                 \
    COL(DIST_SITE_CODE, ", s.code", site_code, str)                                                \
    COL(DIST_HOUSEHOLD, ", h.code", household, str)                                                \
    COL(DIST_GRID_ID, ", h.grid_id", grid_id, i64)                                                 \
    COL(DIST_GRID_CODE, ", g.code", grid_code, str)                                                \
    COL(DIST_GRID_NAME, ", g.name", grid_name, str)                                                \
    COL(DIST_NOTE, ", d.note", note, str)                                                          \
    COL(DIST_DISTRIBUTED_BY, ", coalesce(u.login, '')", distributed_by, str)                       \
    COL(DIST_DISTRIBUTED_AT, ", " DIR_TS("d.distributed_at"), distributed_at, str)                 \
    COL(DIST_HOUSEHOLD_ID, ", coalesce(h.register_id, 0)", household_id, i64)                      \
    COL(DIST_WALK_IN, ", d.walk_in", walk_in, bool)
enum { DIST_COLUMNS(DB_COL_NAME) DIST_NCOLS };
#define DIST_COLS DIST_COLUMNS(DB_COL_SQL)
#define DIST_FROM                                                                                  \
    " FROM charity_distributions d JOIN sites s ON s.id = d.site_id"                               \
    " JOIN org_units ou ON ou.id = s.org_unit_id"                                                  \
    " JOIN charity_households h ON h.id = d.household_id JOIN org_units g ON g.id = h.grid_id"     \
    " LEFT JOIN users u ON u.id = d.distributed_by"

static void dist_from_row(Gridstock__V1__Distribution *m, const db_res *r, int row)
{
    DIST_COLUMNS(DB_COL_FILL)
}

#define DIST_LINE_COLUMNS(COL)                                                                     \
    COL(DLINE_DISTRIBUTION_ID, "x.distribution_id")                                                \
    COL(DLINE_ITEM_ID, ", x.item_id")                                                              \
    COL(DLINE_ITEM_CODE, ", i.code")                                                               \
    COL(DLINE_ITEM_NAME, ", i.name")                                                               \
    COL(DLINE_QTY, ", x.qty")                                                                      \
    COL(DLINE_LOT_ID, ", x.lot_id")                                                                \
    COL(DLINE_LOT_CODE, ", l.lot_code")                                                            \
    COL(DLINE_EXPIRES_ON, ", coalesce(to_char(l.expires_on, 'YYYY-MM-DD'), '')")                   \
    COL(DLINE_MOVEMENT_ID, ", x.movement_id")
enum { DIST_LINE_COLUMNS(DB_COL_NAME) DLINE_NCOLS };
#define DIST_LINE_COLS DIST_LINE_COLUMNS(DB_COL_SQL)

/* Attaches the lines of the n distributions in ms (one query), which are in descending
 * id order as listed. The lines come in the same order, so one merge pass pairs them and
 * each distribution gets an array of exactly its own lines: memory and time grow with
 * what is returned. */
static gs_code dist_attach_lines(call *c, Gridstock__V1__Distribution **ms, size_t n)
{
    db_res *r = NULL;
    if (n == 0)
        return GS_OK;
    int64_t *ids = arena_alloc(c->arena, n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = ms[i]->id;
    GS_TRY(db_exec(c, &r,
                   "SELECT " DIST_LINE_COLS
                   " FROM charity_distribution_lines x JOIN items i ON i.id = x.item_id"
                   " JOIN lots l ON l.id = x.lot_id WHERE x.distribution_id = ANY "
                   "($1::bigint[])"
                   " ORDER BY x.distribution_id DESC, x.id",
                   1, pg_array_i64(c, ids, n)));
    int rows = db_rows(r);
    size_t k = 0;
    for (int i = 0; i < rows;) {
        int64_t did = db_i64(r, i, DLINE_DISTRIBUTION_ID);
        int end = i + 1;
        while (end < rows && db_i64(r, end, DLINE_DISTRIBUTION_ID) == did)
            end++;
        while (k < n && ms[k]->id > did)
            k++;
        if (k < n && ms[k]->id == did) {
            Gridstock__V1__Distribution *m = ms[k];
            m->lines = (Gridstock__V1__DistributionLine **)call_ptrs(c, (size_t)(end - i));
            for (; i < end; i++) {
                Gridstock__V1__DistributionLine *l =
                    call_msg(c, &gridstock__v1__distribution_line__descriptor);
                l->item_id = db_i64(r, i, DLINE_ITEM_ID);
                l->item_code = (char *)db_str(r, i, DLINE_ITEM_CODE);
                l->item_name = (char *)db_str(r, i, DLINE_ITEM_NAME);
                l->qty = db_i64(r, i, DLINE_QTY);
                l->lot_id = db_i64(r, i, DLINE_LOT_ID);
                l->lot_code = (char *)db_str(r, i, DLINE_LOT_CODE);
                l->expires_on = (char *)db_str(r, i, DLINE_EXPIRES_ON);
                l->movement_id = db_i64(r, i, DLINE_MOVEMENT_ID);
                m->lines[m->n_lines++] = l;
            }
        }
        i = end;
    }
    return GS_OK;
}

#define QUOTA_USE_COLUMNS(COL)                                                                     \
    COL(QUSE_ITEM_ID, "q.item_id", item_id, i64)                                                   \
    COL(QUSE_ITEM_CODE, ", i.code", item_code, str)                                                \
    COL(QUSE_PERIOD, ", q.period", period, str)                                                    \
    COL(QUSE_PERIOD_START, ", to_char(u.period_start, 'YYYY-MM-DD')", period_start, str)           \
    COL(QUSE_QUOTA, ", q.qty", quota, i64)                                                         \
    COL(QUSE_USED, ", u.used", used, i64)                                                          \
    COL(QUSE_REMAINING, ", greatest(q.qty - u.used, 0)", remaining, i64)                           \
    COL(QUSE_CATEGORY, ", ''", category, str)                                                      \
    COL(QUSE_RULE_ID, ", 0", rule_id, i64)
enum { QUOTA_USE_COLUMNS(DB_COL_NAME) QUSE_NCOLS };
#define QUOTA_USE_COLS QUOTA_USE_COLUMNS(DB_COL_SQL)

static void quota_use_from_row(Gridstock__V1__QuotaUse *m, const db_res *r,
                               int row){QUOTA_USE_COLUMNS(DB_COL_FILL)}

/* The same QuotaUse rows for the quota rules of a registered household (071). */
#define RULE_USE_COLUMNS(COL)                                                                      \
    COL(QUSE_ITEM_ID, "coalesce(q.item_id, 0)", item_id, i64)                                      \
    COL(QUSE_ITEM_CODE, ", coalesce(i.code, '')", item_code, str)                                  \
    COL(QUSE_PERIOD, ", q.period", period, str)                                                    \
    COL(QUSE_PERIOD_START, ", to_char(u.period_start, 'YYYY-MM-DD')", period_start, str)           \
    COL(QUSE_QUOTA, ", charity_rule_quota(q, hh)", quota, i64)                                     \
    COL(QUSE_USED, ", u.used", used, i64)                                                          \
    COL(QUSE_REMAINING, ", greatest(charity_rule_quota(q, hh) - u.used, 0)", remaining, i64)       \
    COL(QUSE_CATEGORY, ", coalesce(q.category, '')", category, str)                                \
    COL(QUSE_RULE_ID, ", q.id", rule_id, i64)
#define RULE_USE_COLS RULE_USE_COLUMNS(DB_COL_SQL)

gs_code charity_distribute(call *c, const Gridstock__V1__DistributeRequest *req,
                           Gridstock__V1__Distribution *resp)
{
    stock_site s;
    dir_unit g = {0};
    db_res *r = NULL;
    size_t n = req->n_items;

    bool registered = req->household_id != 0;
    if (registered) {
        GS_TRY(v_positive(c, "household_id", req->household_id));
        if (*req->household || req->grid_id || *req->grid_code)
            return call_fail_field(c, "household", GS_R_FIELD_INVALID,
                                   "household: give household_id or household and grid, not both");
    } else
        GS_TRY(check_household(c, "household", req->household));
    GS_TRY(stock_check_text(c, "note", req->note));
    if (n == 0)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at least one is required");
    if (n > DISTRIBUTION_ITEMS_MAX)
        return call_fail(c, GS_INVALID_ARGUMENT, "items: at most %d", DISTRIBUTION_ITEMS_MAX);
    GS_TRY(charity_station_find(c, req->site_id, req->site_code, &s));
    if (!registered)
        GS_TRY(grid_find(c, req->grid_id, req->grid_code, &g));
    int64_t *items = arena_alloc(c->arena, n * sizeof *items);
    int64_t *qtys = arena_alloc(c->arena, n * sizeof *qtys);
    const char **lots = arena_alloc(c->arena, n * sizeof *lots);
    for (size_t i = 0; i < n; i++) {
        const Gridstock__V1__DistributionItem *d = req->items[i];
        GS_TRY(item_line(c, "items", i, d->item_id, d->item_code, d->qty, d->lot_code, &items[i]));
        for (size_t j = 0; j < i; j++)
            if (items[j] == items[i])
                return call_fail(c, GS_INVALID_ARGUMENT,
                                 "items[%zu].item_id: the item is already on line %zu", i, j);
        qtys[i] = d->qty;
        lots[i] = d->lot_code;
    }
    if (registered) { /* the household's current grid, wherever in the district */
        GS_TRY(db_exec(c, &r,
                       "SELECT " GRID_COLS
                       " FROM org_units WHERE id = (SELECT grid_id FROM households"
                       " WHERE id = $1::bigint) AND path <@ subpath($2::ltree, 0, 1)",
                       2, call_i64(c, req->household_id), c->who.scope_path));
        if (db_rows(r) == 0)
            return call_fail(c, GS_NOT_FOUND, "household_id: household %" PRId64 " not found",
                             req->household_id);
        g.id = db_i64(r, 0, GRID_ID);
        g.code = db_str(r, 0, GRID_CODE);
        g.path = db_str(r, 0, GRID_PATH);
    }
    const char *label =
        registered ? call_printf(c, "REG-%" PRId64, req->household_id) : req->household;
    /* a household of a grid outside the caller's scope may be served (quotas hold across the
     * district), but what it had elsewhere is not the caller's to read */
    bool grid_in_scope = path_within(g.path, c->who.scope_path);
    gs_code rc;
    if (registered)
        rc = db_exec(c, &r,
                     "SELECT charity_distribute_household($1::bigint, $2::bigint, $3::bigint[],"
                     " $4::bigint[], $5::text[], $6::bigint, $7, $8)",
                     8, call_i64(c, s.id), call_i64(c, req->household_id),
                     pg_array_i64(c, items, n), pg_array_i64(c, qtys, n), pg_array_text(c, lots, n),
                     charity_actor(c), c->request_id, req->note);
    else
        rc = db_exec(c, &r,
                     "SELECT charity_distribute($1::bigint, $2, $3::bigint, $4::bigint[],"
                     " $5::bigint[], $6::text[], $7::bigint, $8, $9)",
                     9, call_i64(c, s.id), req->household, call_i64(c, g.id),
                     pg_array_i64(c, items, n), pg_array_i64(c, qtys, n), pg_array_text(c, lots, n),
                     charity_actor(c), c->request_id, req->note);
    if (rc == GS_FAILED_PRECONDITION && !grid_in_scope && strstr(c->message, "quota"))
        return call_fail_why(c, rc, GS_R_QUOTA_EXCEEDED,
                             "items: household %.64s of %s has reached its quota for an item",
                             label, g.code);
    if (rc != GS_OK)
        return rc;
    int64_t id = db_one_i64(r, 0);
    GS_TRY(db_exec(c, &r, "SELECT " DIST_COLS DIST_FROM " WHERE d.id = $1", 1, call_i64(c, id)));
    dist_from_row(resp, r, 0);
    GS_TRY(dist_attach_lines(c, &resp, 1));
    /* what is left of each quota touched: item quotas, then a registered household's rules */
    GS_TRY(
        db_exec(c, &r,
                "SELECT " QUOTA_USE_COLS " FROM charity_quotas q JOIN items i ON i.id = q.item_id"
                " JOIN charity_households h ON h.grid_id = $2::bigint AND h.code = $3"
                " JOIN charity_quota_usage u ON u.household_id = h.id AND u.item_id = "
                "q.item_id"
                "  AND u.period = q.period"
                "  AND u.period_start = charity_period_start(q.period, current_date)"
                " WHERE q.org_unit_id = $1::bigint AND q.item_id = ANY ($4::bigint[])"
                " AND $5::bool"
                " UNION ALL SELECT " RULE_USE_COLS
                " FROM charity_quota_rules q LEFT JOIN items i ON i.id = q.item_id"
                " JOIN charity_households h ON h.grid_id = $2::bigint AND h.code = $3"
                " JOIN households hh ON hh.id = h.register_id"
                " JOIN charity_rule_usage u ON u.household_id = h.id AND u.rule_id = q.id"
                "  AND u.period_start = charity_period_start(q.period, current_date)"
                " WHERE q.org_unit_id = $1::bigint AND $5::bool AND (q.item_id = ANY ($4::bigint[])"
                "  OR q.category IN (SELECT category FROM items WHERE id = ANY ($4::bigint[])))"
                " ORDER BY 9, 1, 3",
                5, charity_district_id(c), call_i64(c, g.id), label, pg_array_i64(c, items, n),
                grid_in_scope ? "true" : "false"));
    int rows = db_rows(r);
    DB_ROWS_INTO(c, r, rows, resp->quotas, resp->n_quotas, &gridstock__v1__quota_use__descriptor,
                 quota_use_from_row);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += qtys[i];
    c->audit_object = call_printf(c, "distribution:%" PRId64, id);
    c->audit_summary = call_printf(
        c, "distributed %" PRId64 " unit(s) of %zu item(s) at %s to household %s of %s%s", total, n,
        s.code, label, g.code, resp->walk_in ? " (walk-in)" : "");
    return GS_OK;
}

gs_code charity_list_distributions(call *c, const Gridstock__V1__ListDistributionsRequest *req,
                                   Gridstock__V1__ListDistributionsResponse *resp)
{
    const char *path;
    int64_t site, limit, after;
    dir_unit g = {0};
    db_res *r = NULL;

    GS_TRY(page_args(c, req->page_size, req->page_token, &limit, &after));
    GS_TRY(v_len(c, "since", req->since, 40));
    GS_TRY(v_len(c, "until", req->until, 40));
    GS_TRY(v_timestamp(c, "since", req->since));
    GS_TRY(v_timestamp(c, "until", req->until));
    if (*req->household)
        GS_TRY(check_household(c, "household", req->household));
    if (req->grid_id || *req->grid_code)
        GS_TRY(grid_find(c, req->grid_id, req->grid_code, &g));
    else if (*req->household)
        return call_fail(c, GS_INVALID_ARGUMENT, "grid_id: required with household");
    GS_TRY(stock_area(c, req->org_unit_id, req->org_unit_code, req->site_id, req->site_code, &path,
                      &site));
    GS_TRY(db_exec(c, &r,
                   "SELECT " DIST_COLS DIST_FROM
                   " WHERE ou.path <@ $1::ltree AND ($2::bigint = 0 OR d.site_id = $2::bigint)"
                   " AND ($3::bigint = 0 OR h.grid_id = $3::bigint) AND ($4 = '' OR h.code = $4)"
                   " AND ($5 = '' OR d.distributed_at >= stock_ts($5, 'since'))"
                   " AND ($6 = '' OR d.distributed_at < stock_ts($6, 'until'))"
                   " AND ($7::bigint = 0 OR d.id < $7::bigint) ORDER BY d.id DESC LIMIT $8::bigint",
                   8, path, call_i64(c, site), call_i64(c, g.id), req->household, req->since,
                   req->until, call_i64(c, after), call_i64(c, limit)));
    int rows = db_rows(r);
    resp->next_page_token = (char *)db_page_next(c, r, DIST_ID, limit, &rows);
    DB_ROWS_INTO(c, r, rows, resp->distributions, resp->n_distributions,
                 &gridstock__v1__distribution__descriptor, dist_from_row);
    return dist_attach_lines(c, resp->distributions, resp->n_distributions);
}
