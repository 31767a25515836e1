/* csv_import.c — `gridstock import items|prices|counts FILE.csv`: reads a CSV file with
 * libcsv (RFC 4180: quoted fields, embedded commas, quotes and newlines, CRLF or LF),
 * checks every row against the columns of its kind, reports each bad row by its line
 * number and sends nothing if any row is bad; otherwise sends one ImportService call, which
 * applies all rows or none. A progress bar on stderr while a large file is read (when
 * stderr is a terminal, or with --progress). */
#include "csv_import.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <csv.h>

#include "gridstock/v1/imports.pb-c.h"

enum {
    ROWS_MAX = 20000,           /* the server's limit per call */
    ERRORS_SHOWN_MAX = 200,     /* bad rows listed one by one; the rest are counted */
    PROGRESS_MIN_BYTES = 262144 /* files smaller than this read too fast for a bar */
};

typedef enum imp_kind { IMP_ITEMS, IMP_PRICES, IMP_COUNTS } imp_kind;

/* The columns of each kind, by header name (case-insensitive). */
typedef struct column {
    const char *name;
    bool required;
} column;

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

static const struct {
    const char *word;
    const char *method;
    const column *cols;
} kinds[] = {
    [IMP_ITEMS] = {"items", "ImportItems", item_cols},
    [IMP_PRICES] = {"prices", "ImportPrices", price_cols},
    [IMP_COUNTS] = {"counts", "ImportCounts", count_cols},
};

static const char *const categories[] = {"water",   "food",  "medicine", "hygiene", "protection",
                                         "shelter", "tools", "power",    "other",   NULL};

/* ------------------------------------------------------------------ first-seen keys */

/* An open-addressing set of row keys (duplicate detection), value = the line first seen. */
typedef struct keyset {
    char **keys;
    long *lines;
    size_t cap, n;
} keyset;

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

static void keyset_free(keyset *k)
{
    for (size_t i = 0; i < k->cap; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->lines);
}

/* ------------------------------------------------------------------ the importer */

typedef struct importer {
    imp_kind kind;
    const column *cols;
    const char *file;
    /* header: position in the row → column index (-1: none) */
    int *map;
    size_t n_header;
    bool header_done, header_bad;
    int have[8]; /* column index → position + 1 (0: absent) */
    /* the row being read */
    char **fields;
    size_t n_fields, cap_fields;
    /* physical lines (1-based): where the parser is, and where the row began */
    long line, row_line;
    bool after_cr;
    /* results */
    ProtobufCMessage **rows;
    size_t n_rows, cap_rows;
    long bad_rows, data_rows;
    keyset seen;
} importer;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        cli_err(_("out of memory"));
        exit(EXIT_LOCAL);
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = xmalloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

/* Reports a bad row: "gridstock: line 7: counted: not a whole number: "12.5"". */
static void row_error(importer *im, long line, const char *column_name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void row_error(importer *im, long line, const char *column_name, const char *fmt, ...)
{
    va_list ap;
    im->bad_rows++;
    if (im->bad_rows > ERRORS_SHOWN_MAX)
        return;
    fprintf(stderr, _("gridstock: line %ld: "), line);
    if (column_name)
        fprintf(stderr, "%s: ", column_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- field checks: each returns NULL when fine, else what is wrong */

static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2))
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

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

/* Codes: [A-Z0-9._-]{1,64}; lot codes also a-z and '/'. */
static const char *check_code(const char *s, bool lot)
{
    size_t n = strlen(s);
    if (n == 0)
        return _("required");
    if (n > 64)
        return _("longer than 64 characters");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isupper(ch) || isdigit(ch) || ch == '.' || ch == '_' || ch == '-')
            continue;
        if (lot && (islower(ch) || ch == '/'))
            continue;
        return lot ? _("only A-Z, a-z, 0-9, '.', '_', '/' and '-' are allowed")
                   : _("only A-Z, 0-9, '.', '_' and '-' are allowed");
    }
    return NULL;
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
            row_error(im, line, im->cols[col].name, _("%s: \"%.64s\""), why_, cell(im, col));      \
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
        row_error(im, line, "code", _("%s is also on line %ld"), cell(im, C_CODE), first);
        return NULL;
    }
    Gridstock__V1__ItemRow *r = xmalloc(sizeof *r);
    gridstock__v1__item_row__init(r);
    r->line = (int32_t)line;
    r->code = xstrdup(cell(im, C_CODE));
    r->name = xstrdup(cell(im, C_NAME));
    r->category = xstrdup(cat);
    r->unit = xstrdup(cell(im, C_UNIT));
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
        row_error(im, line, "unit_price_fen",
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
        row_error(im, line, "item_code", _("%s at %s from %s is also on line %ld"),
                  cell(im, P_ITEM), cell(im, P_SUPPLIER),
                  *cell(im, P_FROM) ? cell(im, P_FROM) : _("today"), first);
        return NULL;
    }
    Gridstock__V1__PriceRow *r = xmalloc(sizeof *r);
    gridstock__v1__price_row__init(r);
    r->line = (int32_t)line;
    r->item_code = xstrdup(cell(im, P_ITEM));
    r->supplier_site_code = xstrdup(cell(im, P_SUPPLIER));
    r->unit_price_fen = fen;
    r->lead_time_days = (int32_t)lead;
    r->valid_from = xstrdup(cell(im, P_FROM));
    r->valid_to = xstrdup(cell(im, P_TO));
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
        row_error(im, line, "lot_code", _("lot %s of %s is also counted on line %ld"),
                  cell(im, K_LOT), cell(im, K_ITEM), first);
        return NULL;
    }
    Gridstock__V1__CountRow *r = xmalloc(sizeof *r);
    gridstock__v1__count_row__init(r);
    r->line = (int32_t)line;
    r->item_code = xstrdup(cell(im, K_ITEM));
    r->lot_code = xstrdup(cell(im, K_LOT));
    r->counted = counted;
    return &r->base;
}

#undef CHECK

static void header_row(importer *im)
{
    im->header_done = true;
    im->n_header = im->n_fields;
    im->map = xmalloc(im->n_fields * sizeof *im->map);
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
                    im->row_line, h, kinds[im->kind].word);
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

static void data_row(importer *im)
{
    long line = im->row_line;
    bool blank = true;
    for (size_t i = 0; i < im->n_fields && blank; i++)
        blank = im->fields[i][0] == '\0';
    if (blank) /* empty lines and rows of empty cells */
        return;
    im->data_rows++;
    if (im->header_bad)
        return;
    if (im->n_fields != im->n_header) {
        row_error(im, line, NULL, _("%zu field(s), but the header has %zu"), im->n_fields,
                  im->n_header);
        return;
    }
    for (size_t i = 0; i < im->n_fields; i++) {
        if (!utf8_ok(im->fields[i])) {
            row_error(im, line, im->cols[im->map[i]].name, _("not valid UTF-8"));
            return;
        }
    }
    if (im->data_rows > ROWS_MAX)
        return; /* counted; reported once at the end */
    ProtobufCMessage *m = im->kind == IMP_ITEMS    ? item_row(im, line)
                          : im->kind == IMP_PRICES ? price_row(im, line)
                                                   : count_row(im, line);
    if (!m)
        return;
    if (im->n_rows == im->cap_rows) {
        im->cap_rows = im->cap_rows ? 2 * im->cap_rows : 256;
        ProtobufCMessage **rows = realloc(im->rows, im->cap_rows * sizeof *rows);
        if (!rows) {
            cli_err(_("out of memory"));
            exit(EXIT_LOCAL);
        }
        im->rows = rows;
    }
    im->rows[im->n_rows++] = m;
}

/* libcsv: one field (NUL-terminated thanks to CSV_APPEND_NULL). */
static void on_field(void *s, size_t len, void *data)
{
    importer *im = data;
    const char *f = s ? s : "";
    im->after_cr = false;
    for (size_t i = 0; i < len; i++) /* newlines inside a quoted field */
        if (f[i] == '\n' || (f[i] == '\r' && (i + 1 == len || f[i + 1] != '\n')))
            im->line++;
    if (im->n_fields == im->cap_fields) {
        im->cap_fields = im->cap_fields ? 2 * im->cap_fields : 16;
        char **fields = realloc(im->fields, im->cap_fields * sizeof *fields);
        if (!fields) {
            cli_err(_("out of memory"));
            exit(EXIT_LOCAL);
        }
        im->fields = fields;
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, f, len);
    copy[len] = '\0';
    if (strlen(copy) != len) /* a NUL byte: not text (reported as not UTF-8) */
        copy[0] = '\xff';
    im->fields[im->n_fields++] = copy;
}

/* libcsv: the end of a row (c: the terminator, -1 at the end of the file). With
 * CSV_REPALL_NL every CR and LF ends a (possibly empty) row; CR LF counts as one line. */
static void on_row(int c, void *data)
{
    importer *im = data;
    if (im->n_fields > 0) {
        if (!im->header_done)
            header_row(im);
        else
            data_row(im);
    }
    for (size_t i = 0; i < im->n_fields; i++)
        free(im->fields[i]);
    bool crlf = c == '\n' && im->after_cr && im->n_fields == 0;
    im->n_fields = 0;
    if (c == '\r' || (c == '\n' && !crlf))
        im->line++;
    im->after_cr = c == '\r';
    im->row_line = im->line;
}

/* ------------------------------------------------------------------ progress */

typedef struct progress {
    bool on;
    const char *file;
    long long size, done;
    double last;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_draw(progress *p, long rows, bool final)
{
    if (!p->on)
        return;
    double t = now_s();
    if (!final && t - p->last < 0.1)
        return;
    p->last = t;
    if (p->size > 0) {
        int pct = (int)(p->done * 100 / p->size), width = 30, fill = pct * width / 100;
        fprintf(stderr, "\r");
        fprintf(stderr, _("gridstock: reading %s [%.*s%.*s] %3d%%  %ld rows"), p->file, fill,
                "##############################", width - fill, "..............................",
                pct, rows);
    } else {
        fprintf(stderr, "\r");
        fprintf(stderr, _("gridstock: reading %s  %ld rows"), p->file, rows);
    }
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* ------------------------------------------------------------------ reading */

/* Reads and checks the whole file; 0 when it could be read (rows may still be bad). */
static int read_file(importer *im, FILE *in, progress *pg)
{
    struct csv_parser p;
    char buf[65536];
    long long newlines = 0;
    int rc = 0;

    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL | CSV_APPEND_NULL) != 0) {
        cli_err(_("cannot start the CSV parser"));
        return -1;
    }
    for (;;) {
        size_t n = fread(buf, 1, sizeof buf, in);
        if (n == 0)
            break;
        size_t used = csv_parse(&p, buf, n, on_field, on_row, im);
        for (size_t i = 0; i < used; i++)
            newlines += buf[i] == '\n';
        if (used != n) {
            cli_err(_("%s: line %lld: %s (a quote inside an unquoted field, or text after a"
                      " closing quote)"),
                    im->file, newlines + 1, csv_strerror(csv_error(&p)));
            rc = -1;
            goto out;
        }
        pg->done += (long long)n;
        progress_draw(pg, im->data_rows, false);
    }
    if (ferror(in)) {
        cli_err("%s: %s", im->file, strerror(errno));
        rc = -1;
        goto out;
    }
    if (csv_fini(&p, on_field, on_row, im) != 0) {
        cli_err(_("%s: line %ld: a quoted field is not closed"), im->file, im->row_line);
        rc = -1;
        goto out;
    }
    progress_draw(pg, im->data_rows, true);
out:
    csv_free(&p);
    for (size_t i = 0; i < im->n_fields; i++)
        free(im->fields[i]);
    im->n_fields = 0;
    return rc;
}

/* ------------------------------------------------------------------ the command */

int csv_import_is_kind(const char *word)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(word, kinds[i].word) == 0)
            return 1;
    return 0;
}

void csv_import_print_help(FILE *out)
{
    fputs(_("CSV imports (all rows or none; every bad row is reported by its line number):\n"
            "  gridstock import items  [--check] [--progress|--no-progress] FILE.csv\n"
            "      columns: code, name, category, unit[, shelf_life_days][, active]\n"
            "  gridstock import prices [--check] [--progress|--no-progress] FILE.csv\n"
            "      columns: item_code, supplier_site_code, unit_price_fen | unit_price_yuan\n"
            "               [, lead_time_days][, valid_from][, valid_to]\n"
            "  gridstock import counts --stocktake-id N [--check] [...] FILE.csv\n"
            "      columns: item_code, lot_code, counted\n"
            "  FILE may be - (stdin). --check only checks the file. A progress bar is shown on a\n"
            "  terminal for large files.\n"),
          out);
}

static void usage(const char *kind)
{
    cli_err(_("usage: gridstock import %s%s [--check] [--progress|--no-progress] FILE.csv"), kind,
            strcmp(kind, "counts") == 0 ? " --stocktake-id N" : "");
}

/* The request message for the rows read (takes the rows). */
static ProtobufCMessage *make_request(importer *im, int64_t stocktake_id)
{
    switch (im->kind) {
    case IMP_ITEMS: {
        Gridstock__V1__ImportItemsRequest *r = xmalloc(sizeof *r);
        gridstock__v1__import_items_request__init(r);
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__ItemRow **)im->rows;
        return &r->base;
    }
    case IMP_PRICES: {
        Gridstock__V1__ImportPricesRequest *r = xmalloc(sizeof *r);
        gridstock__v1__import_prices_request__init(r);
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__PriceRow **)im->rows;
        return &r->base;
    }
    case IMP_COUNTS:
    default: {
        Gridstock__V1__ImportCountsRequest *r = xmalloc(sizeof *r);
        gridstock__v1__import_counts_request__init(r);
        r->stocktake_id = stocktake_id;
        r->n_rows = im->n_rows;
        r->rows = (Gridstock__V1__CountRow **)im->rows;
        return &r->base;
    }
    }
}

int csv_import_main(cli_opts *o, int argc, char **argv, int first)
{
    importer im;
    progress pg = {0};
    const char *kind_word = argv[first], *path = NULL;
    int64_t stocktake_id = 0;
    int progress_mode = -1; /* -1 auto, 0 off, 1 on */
    bool check_only = false;
    FILE *in = NULL;
    int rc = EXIT_LOCAL;

    memset(&im, 0, sizeof im);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        if (strcmp(kind_word, kinds[k].word) == 0)
            im.kind = (imp_kind)k;
    im.cols = kinds[im.kind].cols;
    im.line = im.row_line = 1;

    for (int i = first + 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            csv_import_print_help(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--progress")) {
            progress_mode = 1;
        } else if (!strcmp(a, "--no-progress")) {
            progress_mode = 0;
        } else if (!strcmp(a, "--check")) {
            check_only = true;
        } else if (!strncmp(a, "--stocktake-id", 14) && im.kind == IMP_COUNTS) {
            const char *v = a[14] == '='                    ? a + 15
                            : a[14] == '\0' && i + 1 < argc ? argv[++i]
                                                            : NULL;
            char *end;
            if (!v || (stocktake_id = strtoll(v, &end, 10)) <= 0 || *end) {
                cli_err(_("--stocktake-id: a positive whole number is required"));
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            int r = opts_parse_one(o, argc, argv, &i);
            if (r < 0)
                return EXIT_USAGE;
            if (r == 0) {
                cli_err(_("import %s: unknown option %s"), kind_word, a);
                usage(kind_word);
                return EXIT_USAGE;
            }
            i--; /* opts_parse_one advanced past the option */
        } else if (!path) {
            path = a;
        } else {
            cli_err(_("import %s: one file at a time (got %s and %s)"), kind_word, path, a);
            return EXIT_USAGE;
        }
    }
    if (!path) {
        usage(kind_word);
        return EXIT_USAGE;
    }
    if (im.kind == IMP_COUNTS && !stocktake_id && !check_only) {
        cli_err(_("import counts: --stocktake-id is required (open one with `gridstock stock"
                  " open-stocktake`)"));
        return EXIT_USAGE;
    }
    im.file = path;
    if (!strcmp(path, "-")) {
        in = stdin;
    } else if (!(in = fopen(path, "rb"))) {
        cli_err("%s: %s", path, strerror(errno));
        return EXIT_LOCAL;
    }
    struct stat st;
    pg.file = path;
    pg.size = in != stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    pg.on = progress_mode == 1 ||
            (progress_mode < 0 && isatty(STDERR_FILENO) && pg.size >= PROGRESS_MIN_BYTES);

    if (read_file(&im, in, &pg) != 0)
        goto out;
    if (!im.header_done) {
        cli_err(_("%s: empty file: a header line naming the columns is required"), path);
        goto out;
    }
    if (im.header_bad) {
        cli_err(_("%s: nothing was imported"), path);
        goto out;
    }
    if (im.data_rows > ROWS_MAX) {
        cli_err(_("%s: %ld rows; at most %d per import: split the file"), path, im.data_rows,
                ROWS_MAX);
        goto out;
    }
    if (im.bad_rows) {
        if (im.bad_rows > ERRORS_SHOWN_MAX)
            cli_err(_("... and %ld more bad row(s)"), im.bad_rows - ERRORS_SHOWN_MAX);
        cli_err(_("%s: %ld bad row(s) of %ld; nothing was imported"), path, im.bad_rows,
                im.data_rows);
        goto out;
    }
    if (im.n_rows == 0) {
        cli_err(_("%s: no rows after the header; nothing to import"), path);
        goto out;
    }
    if (check_only) {
        fprintf(stdout, _("%s: %zu row(s), all good\n"), path, im.n_rows);
        rc = EXIT_OK;
        goto out;
    }

    const ProtobufCServiceDescriptor *s = commands_find_service("ImportService");
    cli_method m;
    if (!s || commands_find_method(s, kinds[im.kind].method, &m) < 0) {
        cli_err(_("this gridstock was built without ImportService"));
        goto out;
    }
    ProtobufCMessage *req = make_request(&im, stocktake_id);
    im.rows = NULL; /* owned by req now */
    if (pg.on)
        fprintf(stderr, _("gridstock: sending %zu row(s) in one call to %s\n"), im.n_rows,
                kinds[im.kind].method);
    rc = invoke(o, &m, req);
    protobuf_c_message_free_unpacked(req, NULL);
out:
    if (in && in != stdin)
        fclose(in);
    for (size_t i = 0; im.rows && i < im.n_rows; i++)
        protobuf_c_message_free_unpacked(im.rows[i], NULL);
    free(im.rows);
    free(im.fields);
    free(im.map);
    keyset_free(&im.seen);
    return rc;
}
