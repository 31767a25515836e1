/* csv_tables.c — the kinds of `gridstock import` (items, prices, counts): their columns,
 * the header mapped onto them, each field checked as the server would (codes, whole
 * numbers, yuan, dates, flags), duplicate rows found by their key, and the row and
 * request messages built. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "csv_import_int.h"
#include "gridstock/v1/imports.pb-c.h"

enum { C_CODE, C_NAME, C_CATEGORY, C_UNIT, C_SHELF, C_ACTIVE };
static const column item_cols[] = {{"code", true},
                                   {"name", true},
                                   {"category", true},
                                   {"unit", true},
                                   {"shelf_life_days", false},
                                   {"active", false},
                                   {NULL, false}};
enum { P_ITEM, P_SUPPLIER, P_PRICE_FEN, P_PRICE_YUAN, P_LEAD, P_FROM, P_TO };
static const column price_cols[] = {{"item_code", true},       {"supplier_site_code", true},
                                    {"unit_price_fen", false}, {"unit_price_yuan", false},
                                    {"lead_time_days", false}, {"valid_from", false},
                                    {"valid_to", false},       {NULL, false}};
enum { K_ITEM, K_LOT, K_COUNTED };
static const column count_cols[] = {
    {"item_code", true}, {"lot_code", true}, {"counted", true}, {NULL, false}};

const imp_kind_def imp_kinds[] = {
    [IMP_ITEMS] = {"items", "ImportItems", item_cols},
    [IMP_PRICES] = {"prices", "ImportPrices", price_cols},
    [IMP_COUNTS] = {"counts", "ImportCounts", count_cols},
};
const size_t imp_n_kinds = sizeof imp_kinds / sizeof imp_kinds[0];

static const char *const categories[] = {"water",   "food",  "medicine", "hygiene", "protection",
                                         "shelter", "tools", "power",    "other",   NULL};

/* ------------------------------------------------------------------ first-seen keys */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Adds key (copied) seen on `line`; returns 0, or the line it was first seen on. */
static long keyset_add(keyset *k, const char *key, long line)
{
    if (2 * (k->n + 1) > k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        char **keys = calloc(cap, sizeof *keys);
        long *lines = calloc(cap, sizeof *lines);
        if (!keys || !lines)
            abort();
        for (size_t i = 0; i < k->cap; i++) {
            if (!k->keys[i])
                continue;
            size_t j = hash_str(k->keys[i]) & (cap - 1);
            while (keys[j])
                j = (j + 1) & (cap - 1);
            keys[j] = k->keys[i];
            lines[j] = k->lines[i];
        }
        free(k->keys);
        free(k->lines);
        k->keys = keys;
        k->lines = lines;
        k->cap = cap;
    }
    size_t j = hash_str(key) & (k->cap - 1);
    for (; k->keys[j]; j = (j + 1) & (k->cap - 1))
        if (strcmp(k->keys[j], key) == 0)
            return k->lines[j];
    if (!(k->keys[j] = strdup(key)))
        abort();
    k->lines[j] = line;
    k->n++;
    return 0;
}

void imp_keyset_free(keyset *k)
{
    for (size_t i = 0; i < k->cap; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->lines);
}

/* ------------------------------------------------------------------ checks and rows */

/* ---- field checks: each returns NULL when fine, else what is wrong */

static const char *check_whole(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    static char msg[96];
    char *end;
    if (!*s)
        return _("required");
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || !(isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+'))
        return _("not a whole number");
    if (v < lo || v > hi) {
        snprintf(msg, sizeof msg, _("must be between %lld and %lld"), (long long)lo, (long long)hi);
        return msg;
    }
    *out = v;
    return NULL;
}

/* "12.5" yuan → 1250 fen (at most two decimals). */
static const char *check_yuan(const char *s, int64_t *fen)
{
    const char *dot = strchr(s, '.');
    char whole[24], frac[3] = "00";
    size_t wl = dot ? (size_t)(dot - s) : strlen(s);
    if (!*s || wl == 0 || wl >= sizeof whole)
        return *s ? _("not an amount in yuan (e.g. 12.50)") : _("required");
    memcpy(whole, s, wl);
    whole[wl] = '\0';
    for (size_t i = 0; i < wl; i++)
        if (!isdigit((unsigned char)whole[i]))
            return _("not an amount in yuan (e.g. 12.50)");
    if (dot) {
        size_t fl = strlen(dot + 1);
        if (fl == 0 || fl > 2)
            return _("at most two decimals (fen)");
        for (size_t i = 0; i < fl; i++) {
            if (!isdigit((unsigned char)dot[1 + i]))
                return _("not an amount in yuan (e.g. 12.50)");
            frac[i] = dot[1 + i];
        }
    }
    if (wl > 9)
        return _("too large");
    *fen = strtoll(whole, NULL, 10) * 100 + strtoll(frac, NULL, 10);
    if (*fen <= 0)
        return _("must be positive");
    if (*fen > 1000000000)
        return _("too large");
    return NULL;
}

static const char *check_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    char tail;
    if (!*s)
        return NULL;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' ||
        sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
        return _("not a date (YYYY-MM-DD)");
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 2000 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return _("date out of range");
    return NULL;
}

/* Codes: [A-Z0-9._-]{1,64}; lot codes also a-z and '/' (the server's sets, charset.h; the
 * messages are spelled out for translation). */
static const char *check_code(const char *s, bool lot)
{
    size_t n = strlen(s);
    if (n == 0)
        return _("required");
    if (n > 64)
        return _("longer than 64 characters");
    if (gs_charset_find_bad(lot ? &GS_CS_LOT : &GS_CS_CODE, s) < 0)
        return NULL;
    return lot ? _("only A-Z, a-z, 0-9, '.', '_', '/' and '-' are allowed")
               : _("only A-Z, 0-9, '.', '_' and '-' are allowed");
}

static const char *check_text(const char *s, size_t max, bool required)
{
    static char msg[64];
    if (required && !*s)
        return _("required");
    if (strlen(s) > max) {
        snprintf(msg, sizeof msg, _("longer than %zu bytes"), max);
        return msg;
    }
    return NULL;
}

static const char *check_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "y", "1", "t", NULL};
    static const char *const no[] = {"false", "no", "n", "0", "f", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(s, yes[i]) == 0)
            return (*out = true), NULL;
    for (int i = 0; no[i]; i++)
        if (strcasecmp(s, no[i]) == 0)
            return (*out = false), NULL;
    if (!*s)
        return (*out = true), NULL;
    return _("not true or false");
}

/* ---- rows */

/* The value of column `col` in the current row ("" when the column is absent). */
static const char *cell(const importer *im, int col)
{
    int pos = im->have[col] - 1;
    if (pos < 0 || (size_t)pos >= im->n_fields)
        return "";
    return im->fields[pos];
}

#define CHECK(col, expr)                                                                           \
    do {                                                                                           \
        const char *why_ = (expr);                                                                 \
        if (why_) {                                                                                \
            imp_row_error(im, line, im->cols[col].name, _("%s: \"%.64s\""), why_, cell(im, col));  \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

static ProtobufCMessage *item_row(importer *im, long line)
{
    int64_t shelf = 0;
    bool active = true;
    CHECK(C_CODE, check_code(cell(im, C_CODE), false));
    CHECK(C_NAME, check_text(cell(im, C_NAME), 200, true));
    const char *cat = cell(im, C_CATEGORY);
    bool known = false;
    for (int i = 0; categories[i] && !known; i++)
        known = strcmp(cat, categories[i]) == 0;
    CHECK(C_CATEGORY, known ? NULL
                            : _("not one of water, food, medicine, hygiene, protection, shelter,"
                                " tools, power, other"));
    CHECK(C_UNIT, check_text(cell(im, C_UNIT), 32, true));
    if (*cell(im, C_SHELF))
        CHECK(C_SHELF, check_whole(cell(im, C_SHELF), 0, 36500, &shelf));
    CHECK(C_ACTIVE, check_bool(cell(im, C_ACTIVE), &active));
    long first = keyset_add(&im->seen, cell(im, C_CODE), line);
    if (first) {
        imp_row_error(im, line, "code", _("%s is also on line %ld"), cell(im, C_CODE), first);
        return NULL;
    }
    Gridstock__V1__ItemRow *r = imp_xmalloc(sizeof *r);
    gridstock__v1__item_row__init(r);
    r->line = (int32_t)line;
    r->code = imp_xstrdup(cell(im, C_CODE));
    r->name = imp_xstrdup(cell(im, C_NAME));
    r->category = imp_xstrdup(cat);
    r->unit = imp_xstrdup(cell(im, C_UNIT));
    r->shelf_life_days = (int32_t)shelf;
    r->inactive = !active;
    return &r->base;
}

static ProtobufCMessage *price_row(importer *im, long line)
{
    int64_t fen = 0, lead = 0;
    CHECK(P_ITEM, check_code(cell(im, P_ITEM), false));
    CHECK(P_SUPPLIER, check_code(cell(im, P_SUPPLIER), false));
    bool by_fen = *cell(im, P_PRICE_FEN) || !im->have[P_PRICE_YUAN];
    if (*cell(im, P_PRICE_FEN) && *cell(im, P_PRICE_YUAN)) {
        imp_row_error(im, line, "unit_price_fen",
                      _("give unit_price_fen or unit_price_yuan, not both"));
        return NULL;
    }
    if (by_fen)
        CHECK(P_PRICE_FEN, check_whole(cell(im, P_PRICE_FEN), 1, 1000000000, &fen));
    else
        CHECK(P_PRICE_YUAN, check_yuan(cell(im, P_PRICE_YUAN), &fen));
    if (*cell(im, P_LEAD))
        CHECK(P_LEAD, check_whole(cell(im, P_LEAD), 0, 365, &lead));
    CHECK(P_FROM, check_date(cell(im, P_FROM)));
    CHECK(P_TO, check_date(cell(im, P_TO)));
    if (*cell(im, P_FROM) && *cell(im, P_TO) && strcmp(cell(im, P_TO), cell(im, P_FROM)) < 0)
        CHECK(P_TO, _("before valid_from"));
    char key[200];
    snprintf(key, sizeof key, "%s\x1f%s\x1f%s", cell(im, P_ITEM), cell(im, P_SUPPLIER),
             cell(im, P_FROM));
    long first = keyset_add(&im->seen, key, line);
    if (first) {
        imp_row_error(im, line, "item_code", _("%s at %s from %s is also on line %ld"),
                      cell(im, P_ITEM), cell(im, P_SUPPLIER),
                      *cell(im, P_FROM) ? cell(im, P_FROM) : _("today"), first);
        return NULL;
    }
    Gridstock__V1__PriceRow *r = imp_xmalloc(sizeof *r);
    gridstock__v1__price_row__init(r);
    r->line = (int32_t)line;
    r->item_code = imp_xstrdup(cell(im, P_ITEM));
    r->supplier_site_code = imp_xstrdup(cell(im, P_SUPPLIER));
    r->unit_price_fen = fen;
    r->lead_time_days = (int32_t)lead;
    r->valid_from = imp_xstrdup(cell(im, P_FROM));
    r->valid_to = imp_xstrdup(cell(im, P_TO));
    return &r->base;
}

static ProtobufCMessage *count_row(importer *im, long line)
{
    int64_t counted = 0;
    CHECK(K_ITEM, check_code(cell(im, K_ITEM), false));
    CHECK(K_LOT, check_code(cell(im, K_LOT), true));
    CHECK(K_COUNTED, check_whole(cell(im, K_COUNTED), 0, INT64_C(1) << 40, &counted));
    char key[140];
    snprintf(key, sizeof key, "%s\x1f%s", cell(im, K_ITEM), cell(im, K_LOT));
    long first = keyset_add(&im->seen, key, line);
    if (first) {
        imp_row_error(im, line, "lot_code", _("lot %s of %s is also counted on line %ld"),
                      cell(im, K_LOT), cell(im, K_ITEM), first);
        return NULL;
    }
    Gridstock__V1__CountRow *r = imp_xmalloc(sizeof *r);
    gridstock__v1__count_row__init(r);
    r->line = (int32_t)line;
    r->item_code = imp_xstrdup(cell(im, K_ITEM));
    r->lot_code = imp_xstrdup(cell(im, K_LOT));
    r->counted = counted;
    return &r->base;
}

#undef CHECK

ProtobufCMessage *imp_row(importer *im, long line)
{
    return im->kind == IMP_ITEMS    ? item_row(im, line)
           : im->kind == IMP_PRICES ? price_row(im, line)
                                    : count_row(im, line);
}

void imp_header(importer *im)
{
    im->header_done = true;
    im->n_header = im->n_fields;
    im->map = imp_xmalloc(im->n_fields * sizeof *im->map);
    for (size_t i = 0; i < im->n_fields; i++) {
        char *h = im->fields[i];
        if (i == 0 && strncmp(h, "\xEF\xBB\xBF", 3) == 0) /* a UTF-8 byte order mark */
            memmove(h, h + 3, strlen(h + 3) + 1);
        for (char *p = h; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        im->map[i] = -1;
        for (int k = 0; im->cols[k].name; k++)
            if (strcmp(h, im->cols[k].name) == 0)
                im->map[i] = k;
        if (im->map[i] < 0) {
            fprintf(stderr,
                    _("gridstock: line %ld: unknown column \"%.64s\"; the columns of %s are:"),
                    im->row_line, h, imp_kinds[im->kind].word);
            for (int k = 0; im->cols[k].name; k++)
                fprintf(stderr, " %s%s", im->cols[k].name,
                        im->cols[k].required ? "" : " (optional)");
            fputc('\n', stderr);
            im->header_bad = true;
        } else if (im->have[im->map[i]]) {
            cli_err(_("line %ld: column \"%s\" appears twice"), im->row_line, h);
            im->header_bad = true;
        } else {
            im->have[im->map[i]] = (int)i + 1;
        }
    }
    for (int k = 0; im->cols[k].name; k++)
        if (im->cols[k].required && !im->have[k]) {
            cli_err(_("line %ld: the header has no column \"%s\""), im->row_line, im->cols[k].name);
            im->header_bad = true;
        }
    if (im->kind == IMP_PRICES && !im->have[P_PRICE_FEN] && !im->have[P_PRICE_YUAN]) {
        cli_err(_("line %ld: the header needs a column unit_price_fen or unit_price_yuan"),
                im->row_line);
        im->header_bad = true;
    }
}

/* ------------------------------------------------------------------ the request */

ProtobufCMessage *imp_request(importer *im, int64_t stocktake_id)
{
    switch (im->kind) {
    case IMP_ITEMS: {
        Gridstock__V1__ImportItemsRequest *r = imp_xmalloc(sizeof *r);
        gridstock__v1__import_items_request__init(r);
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__ItemRow **)im->rows;
        return &r->base;
    }
    case IMP_PRICES: {
        Gridstock__V1__ImportPricesRequest *r = imp_xmalloc(sizeof *r);
        gridstock__v1__import_prices_request__init(r);
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__PriceRow **)im->rows;
        return &r->base;
    }
    case IMP_COUNTS:
    default: {
        Gridstock__V1__ImportCountsRequest *r = imp_xmalloc(sizeof *r);
        gridstock__v1__import_counts_request__init(r);
        r->stocktake_id = stocktake_id;
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__CountRow **)im->rows;
        return &r->base;
    }
    }
}
