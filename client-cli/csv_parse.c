/* csv_parse.c — reading an import's CSV file with libcsv (RFC 4180: quoted fields,
 * embedded commas, quotes and newlines, CRLF or LF): fields and rows with the physical
 * line each began on, blank rows skipped, each data row's field count and UTF-8 checked
 * before csv_tables.c maps it; the progress bar; bad rows reported by line. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <csv.h>

#include "csv_import_int.h"

void *imp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        cli_err(_("out of memory"));
        exit(EXIT_LOCAL);
    }
    return p;
}

char *imp_xstrdup(const char *s)
{
    char *p = imp_xmalloc(strlen(s) + 1);
    strcpy(p, s);
    return p;
}

void imp_row_error(importer *im, long line, const char *column_name, const char *fmt, ...)
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

/* ------------------------------------------------------------------ rows */

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
        imp_row_error(im, line, NULL, _("%zu field(s), but the header has %zu"), im->n_fields,
                      im->n_header);
        return;
    }
    for (size_t i = 0; i < im->n_fields; i++) {
        if (!utf8_ok(im->fields[i])) {
            imp_row_error(im, line, im->cols[im->map[i]].name, _("not valid UTF-8"));
            return;
        }
    }
    if (im->data_rows > ROWS_MAX)
        return; /* counted; reported once at the end */
    ProtobufCMessage *m = imp_row(im, line);
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
    char *copy = imp_xmalloc(len + 1);
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
            imp_header(im);
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

int imp_read_file(importer *im, FILE *in, progress *pg)
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
