/* output.c — responses for people (a table when the response has exactly one repeated
 * message field, else `key: value` lines, nested fields joined with dots) and for scripts
 * (--json: one JSON object, streams one a line; --csv: the table as RFC 4180 CSV). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pbjson.h"

struct output {
    enum output_format fmt;
    int stream;
    const ProtobufCMessageDescriptor *d;
    const ProtobufCFieldDescriptor *table; /* the one repeated message field, or NULL */
    size_t printed;                        /* messages printed so far */
    int csv_header_done;
};

typedef struct kv {
    char **keys, **vals;
    size_t n, cap;
} kv;

output *output_new(const cli_opts *o, const ProtobufCMessageDescriptor *d, int stream)
{
    output *out = calloc(1, sizeof *out);
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
    return out;
}

void output_free(output *out)
{
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

/* Terminal columns taken by UTF-8 text: East Asian wide characters count 2. */
static size_t display_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int n;
        if (*p < 0x80)
            cp = *p, n = 1;
        else if ((*p & 0xE0) == 0xC0)
            cp = *p & 0x1F, n = 2;
        else if ((*p & 0xF0) == 0xE0)
            cp = *p & 0x0F, n = 3;
        else
            cp = *p & 0x07, n = 4;
        for (int i = 1; i < n && p[i]; i++)
            cp = (cp << 6) | (p[i] & 0x3F);
        for (int i = 0; i < n && *p; i++)
            p++;
        if ((cp >= 0x300 && cp <= 0x36F) || (cp >= 0x200B && cp <= 0x200F))
            continue;
        if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
            (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
            (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
            (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
            (cp >= 0x20000 && cp <= 0x3FFFD))
            w += 2;
        else
            w += 1;
    }
    return w;
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

/* A table column: a scalar field of the row message, or a scalar field of a singular
 * message inside it ("site.code"). */
typedef struct column {
    const ProtobufCFieldDescriptor *outer, *f; /* outer is NULL for a direct field */
    char header[160];
} column;

static int is_scalar(const ProtobufCFieldDescriptor *f)
{
    return f->type != PROTOBUF_C_TYPE_MESSAGE;
}

static size_t table_columns(const ProtobufCMessageDescriptor *ed, column *cols, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < ed->n_fields && n < max; i++) {
        const ProtobufCFieldDescriptor *f = &ed->fields[i];
        if (is_scalar(f)) {
            cols[n].outer = NULL;
            cols[n].f = f;
            snprintf(cols[n++].header, sizeof cols[0].header, "%s", f->name);
        } else if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            const ProtobufCMessageDescriptor *sd = f->descriptor;
            for (unsigned k = 0; k < sd->n_fields && n < max; k++) {
                if (!is_scalar(&sd->fields[k]))
                    continue;
                cols[n].outer = f;
                cols[n].f = &sd->fields[k];
                snprintf(cols[n++].header, sizeof cols[0].header, "%s.%s", f->name,
                         sd->fields[k].name);
            }
        }
    }
    return n;
}

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

static void print_table(output *out, const json_t *rows)
{
    const ProtobufCMessageDescriptor *ed = out->table->descriptor;
    size_t nr = json_array_size(rows), nc;
    column *cols = calloc(256, sizeof *cols);
    char **cells = NULL;
    size_t *width = NULL;
    if (!cols)
        return;
    nc = table_columns(ed, cols, 256);
    cells = calloc((nr + 1) * (nc ? nc : 1), sizeof *cells);
    width = calloc(nc ? nc : 1, sizeof *width);
    if (!cells || !width)
        goto out;
    for (size_t c = 0; c < nc; c++)
        cells[c] = strdup(cols[c].header);
    for (size_t r = 0; r < nr; r++) {
        const json_t *row = json_array_get(rows, r);
        for (size_t c = 0; c < nc; c++) {
            const json_t *v = row;
            if (cols[c].outer)
                v = json_object_get(v, cols[c].outer->name);
            v = json_object_get(v, cols[c].f->name);
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
    for (size_t r = 0; r <= nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *s = cells[r * nc + c] ? cells[r * nc + c] : "";
            size_t pad = width[c] - display_width(s);
            int right = r > 0 && is_numeric(cols[c].f);
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
    free(cols);
}

int output_message(output *out, const ProtobufCMessage *m)
{
    char err[512];
    json_t *j = pbjson_to_json(m, PBJSON_EMIT_DEFAULTS, err, sizeof err);
    kv k = {0};
    if (!j) {
        cli_err("cannot print the response: %s", err);
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
            for (size_t i = 0; i < k.n; i++)
                printf("%s: %s\n", k.keys[i], k.vals[i] ? k.vals[i] : "");
        }
    } else {
        flatten(&k, j, "", NULL);
        if (out->fmt == OUT_CSV) {
            if (!out->csv_header_done)
                csv_row(k.keys, k.n);
            out->csv_header_done = 1;
            csv_row(k.vals, k.n);
        } else {
            if (out->printed)
                putchar('\n');
            for (size_t i = 0; i < k.n; i++)
                printf("%s: %s\n", k.keys[i], k.vals[i] ? k.vals[i] : "");
        }
    }
    out->printed++;
    kv_free(&k);
    json_decref(j);
    if (ferror(stdout)) {
        cli_err("cannot write the output");
        return EXIT_LOCAL;
    }
    return EXIT_OK;
}
