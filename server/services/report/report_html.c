/* report_html.c — the HTML/SVG report renderer (report_html.h): a capped string builder in
 * the call's arena, the page frame and style sheet, amounts with thousands separators,
 * and two charts (stacked bars over time, horizontal use-of-capacity bars). */
#include "report_html.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"

void report_put(report_doc *d, const char *p, size_t n)
{
    if (d->full)
        return;
    if (d->len + n + 1 > d->cap) {
        size_t cap = d->cap ? d->cap : 16384;
        while (d->len + n + 1 > cap)
            cap *= 2;
        if (cap > d->max) {
            d->full = true;
            return;
        }
        char *nb = arena_alloc(d->c->arena, cap);
        if (d->len)
            memcpy(nb, d->buf, d->len);
        d->buf = nb;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, p, n);
    d->len += n;
    d->buf[d->len] = '\0';
}

void report_puts(report_doc *d, const char *s)
{
    report_put(d, s, strlen(s));
}

void report_printf(report_doc *d, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        report_put(d, tmp, (size_t)n);
        return;
    }
    char *big = arena_alloc(d->c->arena, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    report_put(d, big, (size_t)n);
}

void report_esc(report_doc *d, const char *t)
{
    static const char *const entity[256] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
    };
    while (*t) {
        size_t plain = strcspn(t, "&<>\"'");
        report_put(d, t, plain);
        t += plain;
        if (*t)
            report_puts(d, entity[(unsigned char)*t++]);
    }
}

/* ------------------------------------------------------------------ language */

#ifndef GS_LOCALEDIR
#define GS_LOCALEDIR "/usr/share/locale"
#endif

static pthread_once_t zh_once = PTHREAD_ONCE_INIT;
static gs_mo_catalog *zh_cat;
static char zh_error[600]; /* why zh_cat is NULL */

static void zh_load(void)
{
    char dir[4096], path[4200], err[200];
    snprintf(path, sizeof path, "%s/zh_CN/LC_MESSAGES/gridstock.mo",
             gs_locale_dir(dir, sizeof dir, GS_LOCALEDIR));
    zh_cat = gs_mo_load(path, err, sizeof err);
    if (!zh_cat)
        snprintf(zh_error, sizeof zh_error, "%.400s: %.150s", path, err);
}

gs_code report_lang_pick(call *c, const char *field, const char *lang, report_lang *out)
{
    if (!lang || !*lang || !strcmp(lang, "en") || !strncmp(lang, "en_", 3) ||
        !strncmp(lang, "en-", 3)) {
        *out = (report_lang){"en", NULL};
        return GS_OK;
    }
    if (strcmp(lang, "zh") && strncmp(lang, "zh_CN", 5) && strncmp(lang, "zh-CN", 5))
        return call_fail_field(c, field, GS_R_FIELD_INVALID,
                               "\"%.32s\" is not a language of the reports (en, zh_CN)", lang);
    pthread_once(&zh_once, zh_load);
    if (!zh_cat)
        return call_fail(c, GS_FAILED_PRECONDITION,
                         "the Chinese catalog is not installed on this server (%s)", zh_error);
    *out = (report_lang){"zh-CN", zh_cat};
    return GS_OK;
}

const char *RT(const report_doc *d, const char *msgid)
{
    return gs_mo_get(d->lang.cat, msgid);
}

/* ------------------------------------------------------------------ the page */

void report_begin(report_doc *d, call *c, size_t max, const report_lang *lang, const char *title)
{
    *d = (report_doc){.c = c, .max = max, .lang = lang ? *lang : (report_lang){"en", NULL}};
    report_printf(d, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
                  d->lang.tag);
    report_puts(d, "<title>");
    report_esc(d, title);
    report_puts(d,
                "</title>\n<style>\n"
                "body{font-family:sans-serif;margin:24px;color:#222;max-width:980px}\n"
                "h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;"
                "border-bottom:1px solid #ccc;padding-bottom:4px}\n"
                ".meta{color:#666;font-size:13px}.cards{display:flex;gap:12px;flex-wrap:wrap}"
                ".card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}"
                ".card b{display:block;font-size:18px}\n"
                "table{border-collapse:collapse;font-size:13px;margin-top:8px}"
                "th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}"
                "td.n{text-align:right}th{background:#f3f5f8}\n"
                "</style>\n</head>\n<body>\n<h1>");
    report_esc(d, title);
    report_puts(d, "</h1>\n");
}

const char *report_end(report_doc *d, const char *footer)
{
    if (footer)
        report_puts(d, footer);
    report_puts(d, "</body>\n</html>\n");
    return d->full ? NULL : d->buf;
}

void report_cards_begin(report_doc *d)
{
    report_puts(d, "<div class=\"cards\">");
}

void report_cards_end(report_doc *d)
{
    report_puts(d, "</div>\n");
}

const char *report_amount(call *c, int64_t v, int64_t scale, bool whole)
{
    if (scale < 1)
        scale = 1;
    int decimals = 0;
    for (int64_t s = scale; s >= 10; s /= 10)
        decimals++;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRIu64, u / (uint64_t)scale);
    size_t n = strlen(digits);
    char out[64];
    size_t k = 0;
    if (v < 0)
        out[k++] = '-';
    for (size_t i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    if (!whole && decimals > 0) { /* decimals <= 18: out has room for all of it */
        uint64_t f = u % (uint64_t)scale;
        out[k++] = '.';
        for (int i = decimals - 1; i >= 0; i--, f /= 10)
            out[k + (size_t)i] = (char)('0' + f % 10);
        k += (size_t)decimals;
    }
    out[k] = '\0';
    return arena_strdup(c->arena, out);
}

/* ------------------------------------------------------------------ charts */

/* A "nice" axis maximum at or above v. */
static double nice_max(double v)
{
    if (v <= 0)
        return 1;
    double p = pow(10, floor(log10(v)));
    const double steps[] = {1, 2, 2.5, 5, 10};
    for (int i = 0; i < 5; i++)
        if (steps[i] * p >= v)
            return steps[i] * p;
    return 10 * p;
}

/* <svg> of w × h pixels, named for screen readers. */
static void svg_open(report_doc *d, int w, int h, const char *label)
{
    report_printf(d,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                  w, h, w, h);
    report_esc(d, label);
    report_puts(d, "\">\n");
}

void report_svg_stacked_bars(report_doc *d, const report_stacked_bars *ch)
{
    const int W = 760, H = 310, L = 80, B = 40, T = 30, R = 150;
    call *c = d->c;
    int nb = ch->n_bars, ns = ch->n_series;
    double scale = (double)ch->scale;
    double max = 0;
    for (int b = 0; b < nb; b++) {
        int64_t tot = 0;
        for (int k = 0; k < ns; k++)
            tot += ch->values[b * ns + k];
        if ((double)tot > max)
            max = (double)tot;
    }
    max = nice_max(max / scale);
    svg_open(d, W, H, ch->aria_label);
    int pw = W - L - R, ph = H - T - B;
    for (int t = 0; t <= 4; t++) {
        int y = T + ph - ph * t / 4;
        report_printf(d,
                      "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                      L, y, L + pw, y, L - 6, y + 4,
                      report_amount(c, (int64_t)(max * scale * t / 4), ch->scale, true));
    }
    double bw = nb ? (double)pw / nb : pw;
    for (int b = 0; b < nb; b++) {
        double y = T + ph;
        for (int k = 0; k < ns; k++) {
            int64_t v = ch->values[b * ns + k];
            if (v <= 0)
                continue;
            double h = (double)v / scale / max * ph;
            y -= h;
            report_printf(d,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                          "<title>",
                          L + b * bw + bw * 0.15, y, bw * 0.7, h, ch->colors[k]);
            report_esc(d, ch->bar_labels[b]);
            report_puts(d, " ");
            report_esc(d, ch->series_names[k]);
            report_printf(d, ": %s ", report_amount(c, v, ch->scale, false));
            report_esc(d, ch->unit);
            report_puts(d, "</title></rect>\n");
        }
        if (nb <= 12 || b % 2 == 0) {
            report_printf(d, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">",
                          L + b * bw + bw / 2, T + ph + 16);
            report_esc(d, ch->bar_labels[b]);
            report_puts(d, "</text>\n");
        }
    }
    for (int k = 0; k < ns; k++) {
        report_printf(d,
                      "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"12\">",
                      L + pw + 20, T + 10 + k * 20, ch->colors[k], L + pw + 38, T + 20 + k * 20);
        report_esc(d, ch->series_names[k]);
        report_puts(d, "</text>\n");
    }
    report_printf(d, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", L - 6,
                  T - 10);
    report_esc(d, ch->unit);
    report_puts(d, "</text>\n</svg>\n");
}

void report_svg_use_bars(report_doc *d, const report_use_bars *ch)
{
    const int W = 760, L = 90, row = 16, T = 24;
    int n = ch->n;
    int H = T + n * row + 30;
    int pw = W - L - 140;
    svg_open(d, W, H, ch->aria_label);
    for (int t = 0; t <= 4; t++) {
        int x = L + pw * t / 4;
        report_printf(
            d,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>"
            "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d%%</text>\n",
            x, T - 4, x, T + n * row, x, T + n * row + 14, 25 * t);
    }
    for (int i = 0; i < n; i++) {
        int64_t cap = ch->capacity[i], used = ch->used[i], reserved = ch->reserved[i];
        double us = cap > 0 ? (double)used / (double)cap : 0;
        double up = cap > 0 ? (double)reserved / (double)cap : 0;
        if (us > 1)
            us = 1;
        if (us + up > 1)
            up = 1 - us;
        int y = T + i * row;
        double pct = cap > 0 ? 100.0 * (double)(used + reserved) / (double)cap : 0;
        report_printf(d, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", L - 6,
                      y + 11);
        report_esc(d, ch->labels[i]);
        report_printf(d,
                      "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#eef1f5\"/>"
                      "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>"
                      "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"#9fb8d6\"/>"
                      "<text x=\"%d\" y=\"%d\" font-size=\"11\">",
                      L, y + 2, pw, row - 4, L, y + 2, us * pw, row - 4,
                      pct >= ch->warn_pct ? "#c0392b" : "#3b6ea8", L + us * pw, y + 2, up * pw,
                      row - 4, L + pw + 6, y + 11);
        report_printf(d, RT(d, "%.0f%% of %s"), pct, report_amount(d->c, cap, ch->scale, false));
        report_puts(d, "</text>\n");
    }
    report_puts(d, "</svg>\n");
}
