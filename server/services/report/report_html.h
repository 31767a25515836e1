/* report_html.h — a self-contained HTML report with inline SVG charts, built in the call's
 * arena under a size cap. Knows nothing of any domain: a handler (the fund report today,
 * a stock report tomorrow) queries its rows, then writes headings, cards, tables and
 * charts with these calls. Text from the database or the caller goes through report_esc
 * (or the cell/label helpers, which escape); report_printf writes markup as given. */
#ifndef GS_REPORT_HTML_H
#define GS_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "mo_catalog.h"

/* The language of a report: its BCP 47 tag for <html lang> and the catalog its words
 * come from (NULL: English, the msgids themselves). */
typedef struct report_lang {
    const char *tag;
    const gs_mo_catalog *cat;
} report_lang;

/* The language a request asks for: "" or "en" English, "zh_CN" (or "zh", "zh-CN",
 * "zh_CN.UTF-8") Chinese from po/zh_CN.po's compiled catalog, loaded once per process.
 * INVALID_ARGUMENT naming `field` for any other; FAILED_PRECONDITION when the Chinese
 * catalog is not installed. */
gs_code report_lang_pick(call *c, const char *field, const char *lang, report_lang *out);

typedef struct report_doc {
    call *c;
    char *buf;
    size_t len, cap, max;
    bool full; /* the document would exceed max: further writes are dropped */
    report_lang lang;
} report_doc;

/* A report's words in its language: RT(d, "Spent"). xgettext takes them into
 * po/zh_CN.po (scripts/update-po); a translated format keeps its msgid's conversions. */
const char *RT(const report_doc *d, const char *msgid) __attribute__((format_arg(2)));
/* Marks a word for the catalog where it is not translated yet (a table of names). */
#define RN_(s) (s)

/* Starts a document of at most `max` bytes: doctype, head with the shared style sheet
 * and `title`, the body and an <h1> with the title. */
void report_begin(report_doc *d, call *c, size_t max, const report_lang *lang, const char *title);
/* Ends the body and the document after a closing note (markup, may be NULL). Returns the
 * document (arena memory), or NULL when it exceeded max. */
const char *report_end(report_doc *d, const char *footer);

void report_put(report_doc *d, const char *p, size_t n);
void report_puts(report_doc *d, const char *s);
void report_printf(report_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text with &, <, >, " and ' escaped. */
void report_esc(report_doc *d, const char *text);

/* Summary cards: report_cards_begin, then one report_printf of "<div class=\"card\">label
 * <b>value</b>caption</div>" per card, then report_cards_end. */
void report_cards_begin(report_doc *d);
void report_cards_end(report_doc *d);

/* An amount in minor units shown in major ones with thousands separators: scale 100
 * gives 1234567 → "12,345.67" (fen → yuan), scale 1 gives "1,234,567". With `whole`, the
 * fraction is left out ("12,345"). Arena memory. */
const char *report_amount(call *c, int64_t v, int64_t scale, bool whole);

/* Stacked vertical bars: one bar per label (e.g. months), one stacked segment per series
 * (e.g. categories), values[bar * n_series + series] in minor units of `scale`. */
typedef struct report_stacked_bars {
    const char *aria_label; /* also the chart's accessible name */
    const char *unit;       /* shown above the axis and in each segment's tooltip */
    int64_t scale;
    int n_bars;
    const char *const *bar_labels; /* escaped */
    int n_series;
    const char *const *series_names; /* escaped */
    const char *const *colors;       /* n_series of them */
    const int64_t *values;
} report_stacked_bars;
void report_svg_stacked_bars(report_doc *d, const report_stacked_bars *chart);

/* Horizontal use bars: per row a label, what is used (dark), what is reserved (light) and
 * the capacity both are measured against, with "NN% of <capacity>" after the bar; the
 * used part turns red at warn_pct percent or more of the capacity. */
typedef struct report_use_bars {
    const char *aria_label;
    int64_t scale; /* for the capacity shown after each bar */
    double warn_pct;
    int n;
    const char *const *labels; /* escaped */
    const int64_t *capacity, *used, *reserved;
} report_use_bars;
void report_svg_use_bars(report_doc *d, const report_use_bars *chart);

/* A map of points drawn from their coordinates (report_map.c): an equirectangular
 * projection of the points' own bounding box (no tiles, nothing fetched), each point a
 * circle with its label beside it and a tooltip, coloured by its class; a legend lists the
 * classes. Each circle carries data-code="<code>" so a reader (or a test) can find it. */
typedef struct report_map_class {
    const char *name;  /* legend text, escaped */
    const char *color; /* CSS colour */
} report_map_class;
typedef struct report_map_point {
    double lat, lon;
    const char *code;    /* label and data-code, escaped */
    const char *tooltip; /* escaped */
    int cls;             /* index into classes */
} report_map_point;
typedef struct report_map {
    const char *aria_label;
    int n_classes;
    const report_map_class *classes;
    int n;
    const report_map_point *points;
} report_map;
void report_svg_map(report_doc *d, const report_map *map);

#endif
