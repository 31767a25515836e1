/* output.c — responses for people (a table when the response has exactly one repeated
 * message field, else `key: value` lines, nested fields joined with dots) and for scripts
 * (--json: one JSON object, streams one a line; --csv: the table as RFC 4180 CSV). Tables
 * show the row type's default columns (columns.c), every field with -o wide, or the
 * fields --columns names; widths are terminal columns (wcwidth), and on a terminal the
 * default table is fitted to its width by cutting long text with an ellipsis. CSV and
 * JSON are never cut. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "pbjson.h"

#define MAX_COLUMNS 256
#define MAX_PATH_DEPTH 4
#define MIN_CUT_WIDTH 8 /* a cut column keeps at least this many terminal columns */

/* A table column: a scalar field reached through singular messages ("site.code"). */
typedef struct column {
    const ProtobufCFieldDescriptor *path[MAX_PATH_DEPTH];
    int depth;
    char header[256];
} column;

struct output {
    enum output_format fmt;
    int stream;
    const ProtobufCMessageDescriptor *d;
    const ProtobufCFieldDescriptor *table; /* the one repeated message field, or NULL */
    column *cols;                          /* the table's columns (tables only) */
    size_t nc;
    int fit;        /* cut long text to the terminal's width */
    int term_width; /* terminal columns when fit */
    char **only;    /* --columns for key: value output (NULL = every key) */
    size_t n_only;
    size_t printed; /* messages printed so far */
    int csv_header_done;
};

typedef struct kv {
    char **keys, **vals;
    size_t n, cap;
} kv;

/* ---- columns ---- */

static int is_scalar(const ProtobufCFieldDescriptor *f)
{
    return f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* Resolves "a.b.c" (.proto names) through singular messages to a scalar or repeated
 * scalar field; 0 or -1. */
static int resolve_path(const ProtobufCMessageDescriptor *d, const char *path, column *c)
{
    char seg[128];
    c->depth = 0;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ".");
        const ProtobufCFieldDescriptor *f;
        if (n == 0 || n >= sizeof seg || c->depth == MAX_PATH_DEPTH || !d)
            return -1;
        memcpy(seg, p, n);
        seg[n] = '\0';
        if (!(f = protobuf_c_message_descriptor_get_field_by_name(d, seg)))
            return -1;
        c->path[c->depth++] = f;
        p += n;
        if (!*p)
            return is_scalar(f) ? 0 : -1;
        p++;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || f->label == PROTOBUF_C_LABEL_REPEATED)
            return -1;
        d = f->descriptor;
    }
    return -1;
}

static int is_id_or_time(const char *name)
{
    size_t n = strlen(name);
    return !strcmp(name, "id") || (n > 3 && !strcmp(name + n - 3, "_id")) ||
           (n > 3 && !strcmp(name + n - 3, "_at"));
}

/* Every scalar field, and the scalar fields of singular messages one level down (-o wide,
 * CSV). With `glance`, ids and timestamps are left out (the fallback default). */
static size_t all_columns(const ProtobufCMessageDescriptor *ed, column *cols, size_t max,
                          int glance)
{
    size_t n = 0;
    for (unsigned i = 0; i < ed->n_fields && n < max; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if (is_scalar(f)) {
            if (glance && is_id_or_time(f->name))
                continue;
            cols[n].depth = 1;
            cols[n].path[0] = f;
            snprintf(cols[n++].header, sizeof cols[0].header, "%s", f->name);
        } else if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            for (unsigned k = 0; k < sd->n_fields && n < max; k++) {
                const ProtobufCFieldDescriptor *g = &sd->fields[k];
                if (!is_scalar(g) || (glance && strcmp(g->name, "code") && strcmp(g->name, "name")))
                    continue;
                cols[n].depth = 2;
                cols[n].path[0] = f;
                cols[n].path[1] = g;
                snprintf(cols[n++].header, sizeof cols[0].header, "%s.%s", f->name, g->name);
            }
        }
    }
    return n;
}

/* The columns named by --columns ("a,b.c"); -1 (message printed) on an unknown path. */
static long picked_columns(const ProtobufCMessageDescriptor *ed, const char *list, column *cols,
                           size_t max)
{
    size_t n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char path[256];
        snprintf(path, sizeof path, "%.*s", (int)len, p);
        if (len && n < max) {
            if (resolve_path(ed, path, &cols[n]) < 0) {
                column *all = calloc(MAX_COLUMNS, sizeof *all);
                size_t na = all ? all_columns(ed, all, MAX_COLUMNS, 0) : 0;
                cli_err(_("--columns: %s has no field \"%s\"; its columns are:"), ed->name, path);
                for (size_t k = 0; k < na; k++)
                    fprintf(stderr, "%s%s", k ? "," : "  ", all[k].header);
                fputc('\n', stderr);
                free(all);
                return -1;
            }
            snprintf(cols[n++].header, sizeof cols[0].header, "%s", path);
        }
        p += len + (p[len] == ',');
    }
    if (n == 0) {
        cli_err(_("--columns: no column named"));
        return -1;
    }
    return (long)n;
}

static int terminal_width(void)
{
    const char *env = getenv("COLUMNS");
    struct winsize ws;
    if (env && atoi(env) > 0)
        return atoi(env);
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

output *output_new(const cli_opts *o, const ProtobufCMessageDescriptor *d, int stream, int *rc)
{
    output *out = calloc(1, sizeof *out);
    *rc = EXIT_LOCAL;
    if (!out)
        return NULL;
    out->fmt = o->format;
    out->stream = stream;
    out->d = d;
    int n = 0;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
            d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE) {
            out->table = &d->fields[i];
            n++;
        }
    if (n != 1)
        out->table = NULL;
    if (out->fmt == OUT_JSON)
        return out;
    if (!out->table) {
        if (o->columns) { /* key: value output keeps the named fields */
            column c;
            for (const char *p = o->columns; *p;) {
                size_t len = strcspn(p, ",");
                char path[256];
                snprintf(path, sizeof path, "%.*s", (int)len, p);
                if (len && resolve_path(d, path, &c) < 0 &&
                    !protobuf_c_message_descriptor_get_field_by_name(d, path)) {
                    cli_err(_("--columns: %s has no field \"%s\""), d->name, path);
                    *rc = EXIT_USAGE;
                    output_free(out);
                    return NULL;
                }
                if (len) {
                    char **t = realloc(out->only, (out->n_only + 1) * sizeof *t);
                    if (!t || !(t[out->n_only] = strdup(path))) {
                        if (t)
                            out->only = t;
                        output_free(out);
                        return NULL;
                    }
                    out->only = t;
                    out->n_only++;
                }
                p += len + (p[len] == ',');
            }
        }
        return out;
    }
    const ProtobufCMessageDescriptor *ed = out->table->descriptor;
    if (!(out->cols = calloc(MAX_COLUMNS, sizeof *out->cols))) {
        output_free(out);
        return NULL;
    }
    if (o->columns) {
        long k = picked_columns(ed, o->columns, out->cols, MAX_COLUMNS);
        if (k < 0) {
            *rc = EXIT_USAGE;
            output_free(out);
            return NULL;
        }
        out->nc = (size_t)k;
    } else if (o->wide || out->fmt == OUT_CSV) {
        out->nc = all_columns(ed, out->cols, MAX_COLUMNS, 0);
    } else {
        size_t nd = 0;
        const column_def *def = columns_default(ed->name, &nd);
        for (size_t i = 0; i < nd; i++)
            if (resolve_path(ed, def[i].path, &out->cols[out->nc]) == 0)
                snprintf(out->cols[out->nc++].header, sizeof out->cols[0].header, "%s",
                         _(def[i].header));
        if (out->nc == 0)
            out->nc = all_columns(ed, out->cols, MAX_COLUMNS, 1);
        if (out->nc == 0)
            out->nc = all_columns(ed, out->cols, MAX_COLUMNS, 0);
        out->fit = out->fmt == OUT_HUMAN && isatty(STDOUT_FILENO);
        if (out->fit)
            out->term_width = terminal_width();
    }
    *rc = EXIT_OK;
    return out;
}

void output_free(output *out)
{
    if (!out)
        return;
    for (size_t i = 0; i < out->n_only; i++)
        free(out->only[i]);
    free(out->only);
    free(out->cols);
    free(out);
}

/* ---- values as text ---- */

static char *fmt_value(const json_t *j)
{
    char buf[64];
    switch (json_typeof(j)) {
    case JSON_STRING:
        return strdup(json_string_value(j));
    case JSON_INTEGER:
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        return strdup(buf);
    case JSON_REAL: {
        double v = json_real_value(j);
        snprintf(buf, sizeof buf, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof buf, "%.17g", v);
        return strdup(buf);
    }
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    case JSON_NULL:
        return strdup("");
    case JSON_ARRAY: {
        size_t cap = 64, len = 0, i;
        char *s = malloc(cap);
        json_t *e;
        if (!s)
            return NULL;
        s[0] = '\0';
        json_array_foreach(j, i, e)
        {
            char *v = fmt_value(e);
            size_t vl = v ? strlen(v) : 0;
            if (len + vl + 2 >= cap) {
                cap = (len + vl + 2) * 2;
                char *t = realloc(s, cap);
                if (!t) {
                    free(v);
                    break;
                }
                s = t;
            }
            len += (size_t)sprintf(s + len, "%s%s", i ? "," : "", v ? v : "");
            free(v);
        }
        return s;
    }
    case JSON_OBJECT:
        return json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    return strdup("");
}

/* Control characters would break the table's lines: shown as spaces. */
static void flatten_controls(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = ' ';
}

/* Terminal columns of the character at s (its byte length in *len); wcwidth in the
 * UTF-8 character type i18n.c set; a byte that is not UTF-8 counts as one column. */
static int char_width(const char *s, size_t *len)
{
    mbstate_t st;
    wchar_t wc;
    memset(&st, 0, sizeof st);
    size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
    if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
        *len = 1;
        return 1;
    }
    *len = n;
    int w = wcwidth(wc);
    return w < 0 ? 1 : w;
}

/* Terminal columns taken by UTF-8 text (CJK characters take two). */
static size_t display_width(const char *s)
{
    size_t w = 0, len;
    while (*s) {
        w += (size_t)char_width(s, &len);
        s += len;
    }
    return w;
}

/* Cuts s in place to at most `width` terminal columns, ending in "…" when cut. */
static void cut(char **s, size_t width)
{
    if (!*s || display_width(*s) <= width || width < 1)
        return;
    size_t w = 0, len, at = 0;
    const char *p = *s;
    while (p[at]) {
        int cw = char_width(p + at, &len);
        if (w + (size_t)cw > width - 1)
            break;
        w += (size_t)cw;
        at += len;
    }
    char *t = malloc(at + 4);
    if (!t)
        return;
    memcpy(t, p, at);
    memcpy(t + at, "\xe2\x80\xa6", 4); /* U+2026, one column */
    free(*s);
    *s = t;
}

/* ---- key: value pairs ---- */

static void kv_add(kv *k, const char *key, char *val)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **nk = realloc(k->keys, cap * sizeof *nk);
        if (nk)
            k->keys = nk;
        char **nv = realloc(k->vals, cap * sizeof *nv);
        if (nv)
            k->vals = nv;
        if (!nk || !nv) {
            free(val);
            return;
        }
        k->cap = cap;
    }
    k->keys[k->n] = strdup(key);
    k->vals[k->n++] = val;
}

static void kv_free(kv *k)
{
    for (size_t i = 0; i < k->n; i++) {
        free(k->keys[i]);
        free(k->vals[i]);
    }
    free(k->keys);
    free(k->vals);
}

/* Flattens obj into pairs: nested objects as a.b, arrays of objects as a[0].b, arrays of
 * scalars joined with commas. `skip` is a top-level key left out (the table). */
static void flatten(kv *k, const json_t *obj, const char *prefix, const char *skip)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        char name[512];
        if (skip && !*prefix && strcmp(key, skip) == 0)
            continue;
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            if (json_object_size(v) == 0)
                kv_add(k, name, strdup("{}"));
            flatten(k, v, name, NULL);
        } else if (json_is_array(v) && json_array_size(v) && json_is_object(json_array_get(v, 0))) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
            {
                char item[540];
                snprintf(item, sizeof item, "%s[%zu]", name, i);
                flatten(k, e, item, NULL);
            }
        } else {
            kv_add(k, name, fmt_value(v));
        }
    }
}

/* ---- tables ---- */

static int is_numeric(const ProtobufCFieldDescriptor *f)
{
    return f->label != PROTOBUF_C_LABEL_REPEATED && f->type != PROTOBUF_C_TYPE_BOOL &&
           f->type != PROTOBUF_C_TYPE_ENUM && f->type != PROTOBUF_C_TYPE_STRING &&
           f->type != PROTOBUF_C_TYPE_BYTES && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static void csv_field(const char *s)
{
    if (strpbrk(s, ",\"\r\n") || (*s && (s[0] == ' ' || s[strlen(s) - 1] == ' '))) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
}

static void csv_row(char **cells, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            putchar(',');
        csv_field(cells[i] ? cells[i] : "");
    }
    fputs("\r\n", stdout);
}

static const json_t *cell_value(const json_t *row, const column *c)
{
    const json_t *v = row;
    for (int i = 0; i < c->depth && v; i++)
        v = json_object_get(v, c->path[i]->name);
    return v;
}

/* Narrows the widest text columns until the table fits the terminal. */
static void fit_widths(const output *out, size_t *width)
{
    size_t total = 0, nc = out->nc;
    for (size_t c = 0; c < nc; c++)
        total += width[c] + (c ? 2 : 0);
    while (total > (size_t)out->term_width) {
        size_t widest = nc;
        for (size_t c = 0; c < nc; c++)
            if (!is_numeric(out->cols[c].path[out->cols[c].depth - 1]) &&
                width[c] > MIN_CUT_WIDTH && (widest == nc || width[c] > width[widest]))
                widest = c;
        if (widest == nc)
            return; /* nothing left to cut: the terminal wraps */
        size_t excess = total - (size_t)out->term_width;
        size_t to =
            excess + MIN_CUT_WIDTH >= width[widest] ? MIN_CUT_WIDTH : width[widest] - excess;
        total -= width[widest] - to;
        width[widest] = to;
    }
}

static void print_table(output *out, const json_t *rows)
{
    size_t nr = json_array_size(rows), nc = out->nc;
    char **cells = calloc((nr + 1) * (nc ? nc : 1), sizeof *cells);
    size_t *width = calloc(nc ? nc : 1, sizeof *width);
    if (!cells || !width)
        goto out;
    for (size_t c = 0; c < nc; c++)
        cells[c] = strdup(out->cols[c].header);
    for (size_t r = 0; r < nr; r++) {
        const json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < nc; c++) {
            const json_t *v = cell_value(row, &out->cols[c]);
            cells[(r + 1) * nc + c] = v ? fmt_value(v) : strdup("");
        }
    }
    if (out->fmt == OUT_CSV) {
        for (size_t r = out->csv_header_done ? 1 : 0; r <= nr; r++)
            csv_row(cells + r * nc, nc);
        out->csv_header_done = 1;
        goto out;
    }
    for (size_t i = 0; i < (nr + 1) * nc; i++) {
        flatten_controls(cells[i]);
        size_t w = cells[i] ? display_width(cells[i]) : 0;
        if (w > width[i % nc])
            width[i % nc] = w;
    }
    if (out->fit) {
        fit_widths(out, width);
        for (size_t i = 0; i < (nr + 1) * nc; i++)
            cut(&cells[i], width[i % nc]);
    }
    for (size_t r = 0; r <= nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *s = cells[r * nc + c] ? cells[r * nc + c] : "";
            size_t sw = display_width(s);
            size_t pad = width[c] > sw ? width[c] - sw : 0;
            const column *col = &out->cols[c];
            int right = r > 0 && is_numeric(col->path[col->depth - 1]);
            if (right)
                printf("%*s", (int)pad, "");
            fputs(s, stdout);
            if (!right && c + 1 < nc)
                printf("%*s", (int)pad, "");
            if (c + 1 < nc)
                fputs("  ", stdout);
        }
        putchar('\n');
    }
out:
    if (cells)
        for (size_t i = 0; i < (nr + 1) * nc; i++)
            free(cells[i]);
    free(cells);
    free(width);
}

/* --columns on key: value output: the key is one named or inside one. */
static int kept(const output *out, const char *key)
{
    if (!out->n_only)
        return 1;
    for (size_t i = 0; i < out->n_only; i++) {
        size_t n = strlen(out->only[i]);
        if (!strncmp(key, out->only[i], n) && (key[n] == '\0' || key[n] == '.' || key[n] == '['))
            return 1;
    }
    return 0;
}

static void print_kv(const output *out, const kv *k)
{
    for (size_t i = 0; i < k->n; i++)
        if (kept(out, k->keys[i]))
            printf("%s: %s\n", k->keys[i], k->vals[i] ? k->vals[i] : "");
}

int output_message(output *out, const ProtobufCMessage *m)
{
    char err[512];
    json_t *j = pbjson_to_json(m, PBJSON_EMIT_DEFAULTS, err, sizeof err);
    kv k = {0};
    if (!j) {
        cli_err(_("cannot print the response: %s"), err);
        return EXIT_LOCAL;
    }
    if (out->fmt == OUT_JSON) {
        size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(pbjson_real_precision(j)) |
                       (out->stream ? JSON_COMPACT : JSON_INDENT(2));
        char *s = json_dumps(j, flags);
        if (s)
            puts(s);
        free(s);
    } else if (out->table) {
        if (out->fmt == OUT_HUMAN && out->printed)
            putchar('\n');
        print_table(out, json_object_get(j, out->table->name));
        if (out->fmt == OUT_HUMAN) {
            flatten(&k, j, "", out->table->name);
            print_kv(out, &k);
        }
    } else {
        flatten(&k, j, "", NULL);
        if (out->fmt == OUT_CSV) {
            char **keys = calloc(k.n ? k.n : 1, sizeof *keys),
                 **vals = calloc(k.n ? k.n : 1, sizeof *vals);
            size_t n = 0;
            if (keys && vals) {
                for (size_t i = 0; i < k.n; i++)
                    if (kept(out, k.keys[i])) {
                        keys[n] = k.keys[i];
                        vals[n++] = k.vals[i];
                    }
                if (!out->csv_header_done)
                    csv_row(keys, n);
                out->csv_header_done = 1;
                csv_row(vals, n);
            }
            free(keys);
            free(vals);
        } else {
            if (out->printed)
                putchar('\n');
            print_kv(out, &k);
        }
    }
    out->printed++;
    kv_free(&k);
    json_decref(j);
    if (ferror(stdout)) {
        cli_err(_("cannot write the output"));
        return EXIT_LOCAL;
    }
    return EXIT_OK;
}
