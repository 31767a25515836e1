/* stock_dashboard.c — StockService/ExportDashboard: the logistics officer's overview of the
 * stock in an org unit as one HTML page from the shared report renderer: a map of every
 * active site coloured by its worst state, days of supply per community at the rate its
 * sites gave out in the last 30 days, the items below their reorder point, the lots that
 * expire soon and, for roles that may see the household register, who has been helped
 * this month (HelpedReport's figures, from its query). Scope: the caller's, as every
 * stock read. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "directory/directory.h"
#include "gridstock/v1/stock.rpc.h"
#include "households/households.h"
#include "report/report_html.h"
#include "stock.h"

enum { DASH_HTML_MAX = 4 << 20, LIST_MAX = 100 };

/* A site's worst state, in the order of the map's legend. */
enum site_state { ST_EMPTY, ST_LOW, ST_EXPIRING, ST_FINE, ST_SUPPLIER, ST_COUNT };

#define SITE_STATE_COLUMNS(COL)                                                                    \
    COL(S_CODE, "s.code")                                                                          \
    COL(S_NAME, ", s.name")                                                                        \
    COL(S_KIND, ", s.kind")                                                                        \
    COL(S_LAT, ", s.lat")                                                                          \
    COL(S_LON, ", s.lon")                                                                          \
    COL(S_STATE,                                                                                   \
        ", CASE WHEN s.kind = 'supplier_market' THEN 4 WHEN coalesce(li.available, 0) = 0 THEN 0 " \
        "WHEN coalesce(p.low, 0) > 0 THEN 1 WHEN coalesce(li.expiring, 0) > 0 THEN 2 ELSE 3 END")  \
    COL(S_EMPTY, ", coalesce(p.empty, 0)")                                                         \
    COL(S_LOW, ", coalesce(p.low, 0)")                                                             \
    COL(S_EXPIRING, ", coalesce(li.expiring, 0)")
enum { SITE_STATE_COLUMNS(DB_COL_NAME) S_NCOLS };
#define SITE_STATE_COLS SITE_STATE_COLUMNS(DB_COL_SQL)

/* Per active site in the unit: its place and its worst state. Empty: nothing available at
 * all; low: an item it keeps a level for is below its reorder point (at zero included);
 * expiring: a lot with stock expires within the window. */
static const char SQL_SITES[] =
    "WITH s AS (SELECT s.id, s.code, s.name, s.kind, s.lat, s.lon FROM sites s"
    "   JOIN org_units ou ON ou.id = s.org_unit_id WHERE ou.path <@ $1::ltree AND s.active),"
    " lv AS (SELECT si.site_id, si.reorder_point, coalesce(sum(l.on_hand - l.reserved)"
    "   FILTER (WHERE NOT stock_expired(l.expires_on)), 0) AS available"
    "   FROM site_items si JOIN s ON s.id = si.site_id LEFT JOIN lots l"
    "   ON l.site_id = si.site_id AND l.item_id = si.item_id"
    "   GROUP BY si.site_id, si.item_id, si.reorder_point),"
    " per AS (SELECT site_id, count(*) FILTER (WHERE available = 0) AS empty,"
    "   count(*) FILTER (WHERE available < reorder_point) AS low"
    "   FROM lv GROUP BY site_id),"
    " lots_in AS (SELECT l.site_id,"
    "   coalesce(sum(l.on_hand - l.reserved) FILTER (WHERE NOT stock_expired(l.expires_on)),"
    "   0) AS available, count(*) FILTER (WHERE l.on_hand > 0 AND l.expires_on >= current_date"
    "   AND l.expires_on < current_date + $2::int) AS expiring"
    "   FROM lots l JOIN s ON s.id = l.site_id GROUP BY l.site_id)"
    " SELECT " SITE_STATE_COLS
    " FROM s LEFT JOIN per p ON p.site_id = s.id LEFT JOIN lots_in li ON li.site_id = s.id"
    " ORDER BY s.code";

#define SUPPLY_COLUMNS(COL)                                                                        \
    COL(C_CODE, "cm.code")                                                                         \
    COL(C_NAME, ", cm.name")                                                                       \
    COL(C_RESIDENTS, ", cm.residents")                                                             \
    COL(C_SITES, ", (SELECT count(*) FROM st WHERE st.cm_id = cm.id)")                             \
    COL(C_ITEMS_USED, ", (SELECT count(*) FROM d WHERE d.cm_id = cm.id)")                          \
    COL(C_ITEM, ", coalesce(w.code, '')")                                                          \
    COL(C_ITEM_NAME, ", coalesce(w.name, '')")                                                     \
    COL(C_UNIT, ", coalesce(w.unit, '')")                                                          \
    COL(C_AVAILABLE, ", coalesce(w.available, 0)")                                                 \
    COL(C_USED, ", coalesce(w.used, 0)")                                                           \
    COL(C_DAYS, ", w.days")
enum { SUPPLY_COLUMNS(DB_COL_NAME) C_NCOLS };
#define SUPPLY_COLS SUPPLY_COLUMNS(DB_COL_SQL)

/* Per community in (or around) the unit: residents, its stock-keeping sites, and the item
 * that runs out first at the rate of the last 30 days' issues and distributions. */
static const char SQL_SUPPLY[] =
    "WITH cm AS (SELECT id, code, name, path, residents FROM org_units"
    "   WHERE kind = 'community' AND (path <@ $1::ltree OR $1::ltree <@ path)),"
    " st AS (SELECT cm.id AS cm_id, s.id AS site_id FROM cm JOIN org_units ou"
    "   ON ou.path <@ cm.path JOIN sites s ON s.org_unit_id = ou.id"
    "   WHERE s.kind <> 'supplier_market' AND s.active),"
    " av AS (SELECT st.cm_id, l.item_id, sum(l.on_hand - l.reserved) AS available"
    "   FROM st JOIN lots l ON l.site_id = st.site_id WHERE NOT stock_expired(l.expires_on)"
    "   GROUP BY 1, 2),"
    " used AS (SELECT st.cm_id, m.item_id, -sum(m.qty) AS used FROM st JOIN stock_movements m"
    "   ON m.site_id = st.site_id WHERE m.kind IN ('issue', 'distribution_out')"
    "   AND m.at >= now() - interval '30 days' GROUP BY 1, 2),"
    " d AS (SELECT u.cm_id, u.item_id, coalesce(av.available, 0) AS available, u.used"
    "   FROM used u LEFT JOIN av ON av.cm_id = u.cm_id AND av.item_id = u.item_id)"
    " SELECT " SUPPLY_COLS
    " FROM cm LEFT JOIN LATERAL (SELECT i.code, i.name, i.unit, d.available, d.used,"
    "   d.available * 30.0 / d.used AS days FROM d JOIN items i ON i.id = d.item_id"
    "   WHERE d.cm_id = cm.id ORDER BY 6, i.code LIMIT 1) w ON true"
    " ORDER BY w.days NULLS LAST, cm.code";

#define LOW_COLUMNS(COL)                                                                           \
    COL(L_SITE, "s.code")                                                                          \
    COL(L_ITEM, ", i.code")                                                                        \
    COL(L_ITEM_NAME, ", i.name")                                                                   \
    COL(L_UNIT, ", i.unit")                                                                        \
    COL(L_AVAILABLE, ", lv.available")                                                             \
    COL(L_REORDER, ", lv.reorder_point")                                                           \
    COL(L_ON_ORDER, ", lv.on_order")                                                               \
    COL(L_TOTAL, ", count(*) OVER ()")
enum { LOW_COLUMNS(DB_COL_NAME) L_NCOLS };
#define LOW_COLS LOW_COLUMNS(DB_COL_SQL)

/* Items below their reorder point at sites in the unit, the emptiest first. */
static const char SQL_LOW[] =
    "SELECT " LOW_COLS " FROM stock_levels lv JOIN sites s ON s.id = lv.site_id"
    " JOIN org_units ou ON ou.id = s.org_unit_id JOIN items i ON i.id = lv.item_id"
    " WHERE ou.path <@ $1::ltree AND s.active AND lv.low"
    " ORDER BY lv.available::float8 / greatest(lv.reorder_point, 1), s.code, i.code LIMIT $2";

#define EXPIRING_COLUMNS(COL)                                                                      \
    COL(X_SITE, "s.code")                                                                          \
    COL(X_ITEM, ", i.code")                                                                        \
    COL(X_ITEM_NAME, ", i.name")                                                                   \
    COL(X_LOT, ", l.lot_code")                                                                     \
    COL(X_EXPIRES, ", l.expires_on::text")                                                         \
    COL(X_DAYS, ", (l.expires_on - current_date)")                                                 \
    COL(X_ON_HAND, ", l.on_hand")                                                                  \
    COL(X_RESERVED, ", l.reserved")                                                                \
    COL(X_TOTAL, ", count(*) OVER ()")
enum { EXPIRING_COLUMNS(DB_COL_NAME) X_NCOLS };
#define EXPIRING_COLS EXPIRING_COLUMNS(DB_COL_SQL)

/* Lots with stock that expire within the window, the soonest first. */
static const char SQL_EXPIRING[] =
    "SELECT " EXPIRING_COLS
    " FROM lots l JOIN sites s ON s.id = l.site_id JOIN org_units ou ON ou.id = s.org_unit_id"
    " JOIN items i ON i.id = l.item_id"
    " WHERE ou.path <@ $1::ltree AND l.on_hand > 0 AND l.expires_on >= current_date"
    "   AND l.expires_on < current_date + $2::int"
    " ORDER BY l.expires_on, s.code, i.code, l.lot_code LIMIT $3";

static const char *const state_colors[ST_COUNT] = {"#c0392b", "#e39b2d", "#d4c21f", "#4f9d69",
                                                   "#9aa5b1"};

static const char *state_name(const report_doc *d, int st)
{
    switch (st) {
    case ST_EMPTY:
        return RT(d, "empty");
    case ST_LOW:
        return RT(d, "below reorder point");
    case ST_EXPIRING:
        return RT(d, "expiring soon");
    case ST_FINE:
        return RT(d, "fine");
    default:
        return RT(d, "supplier market");
    }
}

static void section_map(report_doc *d, call *c, const db_res *r, int expiry_days)
{
    int n = db_rows(r);
    report_map_class classes[ST_COUNT];
    for (int k = 0; k < ST_COUNT; k++)
        classes[k] = (report_map_class){state_name(d, k), state_colors[k]};
    report_map_point *pts = arena_alloc(c->arena, (size_t)(n ? n : 1) * sizeof *pts);
    for (int i = 0; i < n; i++) {
        int st = (int)db_i64(r, i, S_STATE);
        if (st < 0 || st >= ST_COUNT)
            st = ST_FINE;
        const char *detail =
            st == ST_SUPPLIER
                ? ""
                : call_printf(c,
                              RT(d, ": %" PRId64 " items below reorder point (%" PRId64
                                    " at zero), %" PRId64 " lots expiring"),
                              db_i64(r, i, S_LOW), db_i64(r, i, S_EMPTY), db_i64(r, i, S_EXPIRING));
        pts[i] = (report_map_point){
            .lat = db_f64(r, i, S_LAT),
            .lon = db_f64(r, i, S_LON),
            .code = db_str(r, i, S_CODE),
            .tooltip = call_printf(c, "%s %s \xe2\x80\x94 %s%s", db_str(r, i, S_CODE),
                                   db_str(r, i, S_NAME), state_name(d, st), detail),
            .cls = st,
        };
    }
    report_puts(d, "<h2>");
    report_puts(d, RT(d, "Sites"));
    report_puts(d, "</h2>\n<p class=\"meta\">");
    report_printf(d,
                  RT(d, "Each site in its worst state: empty (nothing available at all), below "
                        "reorder point (an item under its reorder point), expiring soon (a lot "
                        "expiring within %d days), fine."),
                  expiry_days);
    report_puts(d, "</p>\n");
    report_map m = {.aria_label = RT(d, "Map of the sites"),
                    .n_classes = ST_COUNT,
                    .classes = classes,
                    .n = n,
                    .points = pts};
    report_svg_map(d, &m);
}

static void section_supply(report_doc *d, call *c, const db_res *r)
{
    report_printf(d, "<h2>%s</h2>\n<p class=\"meta\">%s</p>\n", RT(d, "Days of supply"),
                  RT(d, "Per community: the item that runs out first at the rate its sites "
                        "gave out in the last 30 days (issues and distributions)."));
    report_printf(d,
                  "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th></tr>\n",
                  RT(d, "community"), RT(d, "residents"), RT(d, "sites"), RT(d, "items given out"),
                  RT(d, "runs out first"), RT(d, "available"), RT(d, "days"));
    for (int i = 0; i < db_rows(r); i++) {
        report_puts(d, "<tr><td>");
        report_esc(d, db_str(r, i, C_CODE));
        report_puts(d, " ");
        report_esc(d, db_str(r, i, C_NAME));
        report_printf(d,
                      "</td><td class=\"n\">%s</td><td class=\"n\">%" PRId64
                      "</td><td class=\"n\">%" PRId64 "</td><td>",
                      report_amount(c, db_i64(r, i, C_RESIDENTS), 1, true), db_i64(r, i, C_SITES),
                      db_i64(r, i, C_ITEMS_USED));
        if (db_null(r, i, C_DAYS)) {
            report_printf(d, "%s</td><td></td><td class=\"n\">&mdash;</td></tr>\n",
                          RT(d, "nothing given out"));
            continue;
        }
        report_esc(d, db_str(r, i, C_ITEM));
        report_puts(d, " ");
        report_esc(d, db_str(r, i, C_ITEM_NAME));
        report_printf(d, "</td><td class=\"n\">%s ",
                      report_amount(c, db_i64(r, i, C_AVAILABLE), 1, true));
        report_esc(d, db_str(r, i, C_UNIT));
        double days = db_f64(r, i, C_DAYS);
        report_printf(d, "</td><td class=\"n%s\">%.1f</td></tr>\n", days < 7 ? " warn" : "", days);
    }
    report_puts(d, "</table>\n");
}

static void more_rows(report_doc *d, int shown, int64_t total)
{
    if (total > shown)
        report_printf(d, RT(d, "<p class=\"meta\">The first %d of %" PRId64 ".</p>\n"), shown,
                      total);
}

static void section_low(report_doc *d, call *c, const db_res *r)
{
    int n = db_rows(r);
    report_printf(d, "<h2>%s</h2>\n", RT(d, "Below reorder point"));
    if (n == 0) {
        report_printf(d, "<p>%s</p>\n", RT(d, "None."));
        return;
    }
    more_rows(d, n, db_i64(r, 0, L_TOTAL));
    report_printf(d, "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
                  RT(d, "site"), RT(d, "item"), RT(d, "available"), RT(d, "reorder point"),
                  RT(d, "on order"));
    for (int i = 0; i < n; i++) {
        report_puts(d, "<tr><td>");
        report_esc(d, db_str(r, i, L_SITE));
        report_puts(d, "</td><td>");
        report_esc(d, db_str(r, i, L_ITEM));
        report_puts(d, " ");
        report_esc(d, db_str(r, i, L_ITEM_NAME));
        report_printf(d, "</td><td class=\"n\">%s ",
                      report_amount(c, db_i64(r, i, L_AVAILABLE), 1, true));
        report_esc(d, db_str(r, i, L_UNIT));
        report_printf(d, "</td><td class=\"n\">%s</td><td class=\"n\">%s</td></tr>\n",
                      report_amount(c, db_i64(r, i, L_REORDER), 1, true),
                      report_amount(c, db_i64(r, i, L_ON_ORDER), 1, true));
    }
    report_puts(d, "</table>\n");
}

static void section_expiring(report_doc *d, call *c, const db_res *r, int expiry_days)
{
    int n = db_rows(r);
    report_puts(d, "<h2>");
    report_printf(d, RT(d, "Expiring within %d days"), expiry_days);
    report_puts(d, "</h2>\n");
    if (n == 0) {
        report_printf(d, "<p>%s</p>\n", RT(d, "None."));
        return;
    }
    more_rows(d, n, db_i64(r, 0, X_TOTAL));
    report_printf(d,
                  "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th></tr>\n",
                  RT(d, "site"), RT(d, "item"), RT(d, "lot"), RT(d, "expires"), RT(d, "days left"),
                  RT(d, "on hand (reserved)"));
    for (int i = 0; i < n; i++) {
        report_puts(d, "<tr><td>");
        report_esc(d, db_str(r, i, X_SITE));
        report_puts(d, "</td><td>");
        report_esc(d, db_str(r, i, X_ITEM));
        report_puts(d, " ");
        report_esc(d, db_str(r, i, X_ITEM_NAME));
        report_puts(d, "</td><td>");
        report_esc(d, db_str(r, i, X_LOT));
        report_printf(d,
                      "</td><td>%s</td><td class=\"n\">%" PRId64
                      "</td><td class=\"n\">%s (%s)</td></tr>\n",
                      db_str(r, i, X_EXPIRES), db_i64(r, i, X_DAYS),
                      report_amount(c, db_i64(r, i, X_ON_HAND), 1, true),
                      report_amount(c, db_i64(r, i, X_RESERVED), 1, true));
    }
    report_puts(d, "</table>\n");
}

/* One row of the helped table: a community (bold) or one of its grids (indented). */
static void helped_row(report_doc *d, const db_res *r, int k)
{
    static const int flag_cols[][2] = {{HELP_ELDERLY_S, HELP_ELDERLY},
                                       {HELP_DISABLED_S, HELP_DISABLED},
                                       {HELP_LOW_S, HELP_LOW},
                                       {HELP_INFANT_S, HELP_INFANT},
                                       {HELP_CHRONIC_S, HELP_CHRONIC}};
    bool cm = strcmp(db_str(r, k, HELP_LEVEL), "community") == 0;
    report_puts(d, "<tr data-code=\"");
    report_esc(d, db_str(r, k, HELP_CODE));
    report_puts(d, cm ? "\"><td><b>" : "\"><td>&nbsp;&nbsp;");
    report_esc(d, db_str(r, k, HELP_CODE));
    report_puts(d, " ");
    report_esc(d, db_str(r, k, HELP_NAME));
    report_printf(d,
                  "%s</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%" PRId64
                  "</td><td class=\"n%s\">%" PRId64 "</td>",
                  cm ? "</b>" : "", db_i64(r, k, HELP_HOUSEHOLDS), db_i64(r, k, HELP_SERVED),
                  db_i64(r, k, HELP_NOT_SERVED) > 0 ? " warn" : "", db_i64(r, k, HELP_NOT_SERVED));
    for (size_t f = 0; f < sizeof flag_cols / sizeof flag_cols[0]; f++)
        report_printf(d, "<td class=\"n\">%" PRId64 " / %" PRId64 "</td>",
                      db_i64(r, k, flag_cols[f][0]), db_i64(r, k, flag_cols[f][1]));
    report_puts(d, "</tr>\n");
}

/* Who has been helped in [since, until): per community, then its grids, the households
 * registered, served at any station and not, and per need flag served of registered; `r`
 * is household_helped_rows (NULL: the caller's role may not see the register). Each row
 * carries data-code="<org unit code>" for readers and tests. */
static void section_helped(report_doc *d, const db_res *r, const char *since, const char *until)
{
    report_printf(d, "<h2>%s</h2>\n", RT(d, "Who has been helped"));
    if (!r) {
        report_printf(d, "<p class=\"meta\">%s</p>\n",
                      RT(d, "Shown to roles that keep the household register."));
        return;
    }
    report_puts(d, "<p class=\"meta\">");
    report_printf(d,
                  RT(d, "Registered households served at any charity station from %s until "
                        "%s, and not served; per need, served of registered."),
                  since, until);
    report_puts(d, "</p>\n");
    report_printf(d,
                  "<table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th><th>%s</th>"
                  "<th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>\n",
                  RT(d, "community / grid"), RT(d, "households"), RT(d, "served"),
                  RT(d, "not served"), RT(d, "elderly alone"), RT(d, "disabled member"),
                  RT(d, "low income"), RT(d, "infant"), RT(d, "chronic illness"));
    /* the query gives a community's grids, then the community: show the community first */
    int first_grid = 0;
    for (int i = 0; i < db_rows(r); i++) {
        if (strcmp(db_str(r, i, HELP_LEVEL), "community") != 0)
            continue;
        helped_row(d, r, i);
        for (int k = first_grid; k < i; k++)
            helped_row(d, r, k);
        first_grid = i + 1;
    }
    report_puts(d, "</table>\n");
}

gs_code stock_export_dashboard(call *c, const Gridstock__V1__ExportDashboardRequest *req,
                               Gridstock__V1__ExportDashboardResponse *resp)
{
    dir_unit u;
    report_lang lang;
    db_res *sites = NULL, *supply = NULL, *low = NULL, *exp = NULL, *now = NULL, *helped = NULL;
    const char *since = NULL, *until = NULL;
    int days = req->expiry_days ? req->expiry_days : 30;

    GS_TRY(v_range(c, "expiry_days", req->expiry_days, 0, 365));
    GS_TRY(v_len(c, "title", req->title, 200));
    GS_TRY(report_lang_pick(c, "lang", req->lang, &lang));
    GS_TRY(dir_unit_find(c, req->org_unit_id, req->org_unit_code, "org_unit_id", false, &u));
    const char *days_s = call_i64(c, days), *max_s = call_i64(c, LIST_MAX);
    GS_TRY(db_exec(c, &sites, SQL_SITES, 2, u.path, days_s));
    GS_TRY(db_exec(c, &supply, SQL_SUPPLY, 1, u.path));
    GS_TRY(db_exec(c, &low, SQL_LOW, 2, u.path, max_s));
    GS_TRY(db_exec(c, &exp, SQL_EXPIRING, 3, u.path, days_s, max_s));
    GS_TRY(db_exec(c, &now, "SELECT to_char(now(), 'YYYY-MM-DD HH24:MI')", 0));
    /* this month's helped figures: personal-register data, for its keepers only */
    if (gs_role_has(c->who.role, PERM_HOUSEHOLD)) {
        GS_TRY(household_period(c, "", "", &since, &until));
        GS_TRY(household_helped_rows(c, u.path, since, until, &helped));
    }

    report_doc d = {.lang = lang}; /* RT reads only the language until report_begin */
    const char *title =
        *req->title ? req->title : call_printf(c, RT(&d, "Stock \xe2\x80\x94 %s"), u.name);
    report_begin(&d, c, DASH_HTML_MAX, &lang, title);
    report_puts(&d, "<p class=\"meta\">");
    report_esc(&d, u.code);
    report_puts(&d, " ");
    report_esc(&d, u.name);
    report_printf(&d, RT(&d, " &middot; generated %s by "), db_one_str(now, 0));
    report_esc(&d, c->who.login);
    report_puts(&d, "</p>\n");

    /* cards: the sites in each state */
    int counts[ST_COUNT] = {0};
    for (int i = 0; i < db_rows(sites); i++) {
        int64_t st = db_i64(sites, i, S_STATE);
        counts[st >= 0 && st < ST_COUNT ? st : ST_FINE]++;
    }
    report_cards_begin(&d);
    for (int k = 0; k < ST_SUPPLIER; k++)
        report_printf(&d,
                      "<div class=\"card\"><span style=\"color:%s\">&#9679;</span> %s<b>%d</b>"
                      "</div>",
                      state_colors[k], state_name(&d, k), counts[k]);
    report_printf(&d, "<div class=\"card\">%s<b>%d</b></div>", RT(&d, "supplier markets"),
                  counts[ST_SUPPLIER]);
    report_cards_end(&d);

    section_map(&d, c, sites, days);
    section_supply(&d, c, supply);
    section_low(&d, c, low);
    section_expiring(&d, c, exp, days);
    section_helped(&d, helped, since, until);
    const char *html = report_end(
        &d, RT(&d, "<p class=\"meta\">Quantities in each item's own unit; available = on hand "
                   "less reserved, expired lots left out. The value of the reserves appears "
                   "once lots carry a cost. gridstock</p>\n"));
    if (!html)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "the dashboard would exceed %d bytes: choose a smaller org unit",
                         DASH_HTML_MAX);
    resp->html = (char *)html;
    return GS_OK;
}
