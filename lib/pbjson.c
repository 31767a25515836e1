/* pbjson.c — JSON -> protobuf-c messages by descriptor, plus the names, UTF-8 and path
 * helpers shared with pbjson_write.c (mapping rules in pbjson.h). */
#include "pbjson.h"
#include "pbjson_int.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <libintl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *sys_alloc(void *data, size_t n)
{
    (void)data;
    return malloc(n);
}

static void sys_free(void *data, void *p)
{
    (void)data;
    free(p);
}

ProtobufCAllocator pbj_sys_allocator = {sys_alloc, sys_free, NULL};

static void *cx_alloc(ctx *c, size_t n)
{
    void *p = c->alloc->alloc(c->alloc->allocator_data, n ? n : 1);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

int pbj_fail(ctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    /* in the CLI's language (po/zh_CN.po); the server never sets a locale: English */
    vsnprintf(msg, sizeof msg, dgettext("gridstock", fmt), ap);
    va_end(ap);
    if (c->err && c->errlen) {
        if (c->plen)
            snprintf(c->err, c->errlen, "%s: %s", c->path, msg);
        else
            snprintf(c->err, c->errlen, "%s", msg);
    }
    return -1;
}

/* Appends ".name" (or "name" at the top) or "[i]" to the path; returns the old length. */
size_t pbj_push_name(ctx *c, const char *name)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "%s%s", c->plen ? "." : "", name);
    if (n > 0)
        c->plen = c->plen + (size_t)n < sizeof c->path ? c->plen + (size_t)n : sizeof c->path - 1;
    return old;
}

size_t pbj_push_index(ctx *c, size_t i)
{
    size_t old = c->plen;
    int n = snprintf(c->path + c->plen, sizeof c->path - c->plen, "[%zu]", i);
    if (n > 0)
        c->plen = c->plen + (size_t)n < sizeof c->path ? c->plen + (size_t)n : sizeof c->path - 1;
    return old;
}

void pbj_pop(ctx *c, size_t old)
{
    c->plen = old;
    c->path[old] = '\0';
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

/* ---- names ---- */

void pbjson_json_name(const char *proto_name, char *buf, size_t buflen)
{
    size_t o = 0;
    int up = 0;
    if (!buflen)
        return;
    for (const char *p = proto_name; *p && o + 1 < buflen; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        buf[o++] = (up && *p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
        up = 0;
    }
    buf[o] = '\0';
}

const ProtobufCFieldDescriptor *pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (f)
        return f;
    for (unsigned i = 0; i < d->n_fields; i++) {
        char jn[256];
        pbjson_json_name(d->fields[i].name, jn, sizeof jn);
        if (strcmp(jn, name) == 0)
            return &d->fields[i];
    }
    return NULL;
}

const char *pbjson_type_name(const ProtobufCFieldDescriptor *f)
{
    static const char *const names[] = {
        [PROTOBUF_C_TYPE_INT32] = "int32",       [PROTOBUF_C_TYPE_SINT32] = "sint32",
        [PROTOBUF_C_TYPE_SFIXED32] = "sfixed32", [PROTOBUF_C_TYPE_INT64] = "int64",
        [PROTOBUF_C_TYPE_SINT64] = "sint64",     [PROTOBUF_C_TYPE_SFIXED64] = "sfixed64",
        [PROTOBUF_C_TYPE_UINT32] = "uint32",     [PROTOBUF_C_TYPE_FIXED32] = "fixed32",
        [PROTOBUF_C_TYPE_UINT64] = "uint64",     [PROTOBUF_C_TYPE_FIXED64] = "fixed64",
        [PROTOBUF_C_TYPE_FLOAT] = "float",       [PROTOBUF_C_TYPE_DOUBLE] = "double",
        [PROTOBUF_C_TYPE_BOOL] = "bool",         [PROTOBUF_C_TYPE_STRING] = "string",
        [PROTOBUF_C_TYPE_BYTES] = "bytes",
    };
    if (f->type == PROTOBUF_C_TYPE_ENUM)
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->name;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->name;
    if ((size_t)f->type < sizeof names / sizeof names[0] && names[f->type])
        return names[f->type];
    return "?";
}

/* ---- UTF-8 and base64 ---- */

int pbjson_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        unsigned need, cp, min;
        if (c < 0x80)
            continue;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) < need)
            return 0;
        for (unsigned i = 0; i < need; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        p += need;
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
    }
    return 1;
}

static int b64_value(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes standard or URL-safe base64, padding optional, into out (n*3/4+3 bytes). */
static int b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return -1;
    uint32_t acc = 0;
    size_t bits = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *outlen = o;
    return 0;
}

/* ---- JSON -> message ---- */

static int parse_message(ctx *c, const ProtobufCMessageDescriptor *d, const json_t *j,
                         ProtobufCMessage **out);

static int get_int(ctx *c, const json_t *j, int is_unsigned, int64_t *sv, uint64_t *uv)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (is_unsigned && v < 0)
            return pbj_fail(c, "%lld is negative, expected an unsigned integer", (long long)v);
        *sv = (int64_t)v;
        *uv = (uint64_t)v;
        return 0;
    }
    if (json_is_real(j)) {
        double v = json_real_value(j);
        if (!isfinite(v))
            return pbj_fail(c, "expected integer, got %g", v);
        if (is_unsigned ? (v <= -1.0 || v >= 18446744073709551616.0)
                        : (v < -9223372036854775808.0 || v >= 9223372036854775808.0))
            return pbj_fail(c, "%g is out of range", v);
        /* in range, so the casts are defined; integral when they convert back exactly */
        *sv = is_unsigned ? 0 : (int64_t)v;
        *uv = is_unsigned ? (uint64_t)v : 0;
        if ((is_unsigned ? (double)*uv : (double)*sv) != v)
            return pbj_fail(c, "expected integer, got %g", v);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end = NULL;
        if (!*s || !(*s == '-' || (*s >= '0' && *s <= '9')))
            return pbj_fail(c, "expected integer, got \"%.40s\"", s);
        errno = 0;
        if (is_unsigned) {
            if (*s == '-')
                return pbj_fail(c, "\"%.40s\" is negative, expected an unsigned integer", s);
            *uv = strtoull(s, &end, 10);
        } else {
            *sv = strtoll(s, &end, 10);
        }
        if (*end)
            return pbj_fail(c, "expected integer, got \"%.40s\"", s);
        if (errno == ERANGE)
            return pbj_fail(c, "\"%.40s\" is out of range", s);
        return 0;
    }
    return pbj_fail(c, "expected integer, got %s", json_kind(j));
}

static int get_double(ctx *c, const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end = NULL;
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0) {
            *out = s[0] == '-' ? -INFINITY : INFINITY;
            return 0;
        }
        errno = 0;
        *out = strtod(s, &end);
        if (!*s || *end || s[0] == ' ' || !isfinite(*out))
            return pbj_fail(c, "expected number, got \"%.40s\"", s);
        return 0;
    }
    return pbj_fail(c, "expected number, got %s", json_kind(j));
}

/* Parses one value of field f into the storage at p (a struct member or array slot). */
static int parse_value(ctx *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *p)
{
    int64_t sv = 0;
    uint64_t uv = 0;
    double dv = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (get_int(c, j, 0, &sv, &uv) < 0)
            return -1;
        if (sv < INT32_MIN || sv > INT32_MAX)
            return pbj_fail(c, "%" PRId64 " is out of range for %s", sv, pbjson_type_name(f));
        *(int32_t *)p = (int32_t)sv;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (get_int(c, j, 1, &sv, &uv) < 0)
            return -1;
        if (uv > UINT32_MAX)
            return pbj_fail(c, "%" PRIu64 " is out of range for %s", uv, pbjson_type_name(f));
        *(uint32_t *)p = (uint32_t)uv;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (get_int(c, j, 0, &sv, &uv) < 0)
            return -1;
        *(int64_t *)p = sv;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (get_int(c, j, 1, &sv, &uv) < 0)
            return -1;
        *(uint64_t *)p = uv;
        return 0;
    case PROTOBUF_C_TYPE_FLOAT:
        if (get_double(c, j, &dv) < 0)
            return -1;
        if (isfinite(dv) && fabs(dv) > FLT_MAX)
            return pbj_fail(c, "%g is out of range for float", dv);
        *(float *)p = (float)dv;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (get_double(c, j, &dv) < 0)
            return -1;
        *(double *)p = dv;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return pbj_fail(c, "expected true or false, got %s", json_kind(j));
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        if (json_is_string(j)) {
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
            if (!ev)
                return pbj_fail(c, "\"%.60s\" is not a value of %s", json_string_value(j),
                                ed->name);
            *(int *)p = ev->value;
            return 0;
        }
        if (json_is_integer(j)) {
            json_int_t v = json_integer_value(j);
            if (v < INT32_MIN || v > INT32_MAX)
                return pbj_fail(c, "%lld is out of range for %s", (long long)v, ed->name);
            *(int *)p = (int)v;
            return 0;
        }
        return pbj_fail(c, "expected %s name or number, got %s", ed->name, json_kind(j));
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(j))
            return pbj_fail(c, "expected string, got %s", json_kind(j));
        const char *s = json_string_value(j);
        size_t n = json_string_length(j);
        if (!pbjson_utf8_valid(s, n))
            return pbj_fail(c, "string is not valid UTF-8");
        if (memchr(s, '\0', n))
            return pbj_fail(c, "string contains a NUL character");
        char *copy = cx_alloc(c, n + 1);
        if (!copy)
            return pbj_fail(c, "out of memory");
        memcpy(copy, s, n);
        *(char **)p = copy;
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        if (!json_is_string(j))
            return pbj_fail(c, "expected base64 string, got %s", json_kind(j));
        size_t n = json_string_length(j), len = 0;
        uint8_t *buf = cx_alloc(c, n / 4 * 3 + 3);
        if (!buf)
            return pbj_fail(c, "out of memory");
        if (b64_decode(json_string_value(j), n, buf, &len) < 0) {
            c->alloc->free(c->alloc->allocator_data, buf);
            return pbj_fail(c, "invalid base64");
        }
        ProtobufCBinaryData *bd = p;
        bd->data = buf;
        bd->len = len;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (!json_is_object(j))
            return pbj_fail(c, "expected object (%s), got %s",
                            ((const ProtobufCMessageDescriptor *)f->descriptor)->name,
                            json_kind(j));
        return parse_message(c, f->descriptor, j, (ProtobufCMessage **)p);
    }
    return pbj_fail(c, "unsupported field type");
}

size_t pbj_elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static const ProtobufCFieldDescriptor *oneof_member(const ProtobufCMessageDescriptor *d,
                                                    const ProtobufCFieldDescriptor *f, uint32_t id)
{
    for (unsigned i = 0; i < d->n_fields; i++)
        if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            d->fields[i].quantifier_offset == f->quantifier_offset && d->fields[i].id == id)
            return &d->fields[i];
    return NULL;
}

static int parse_field(ctx *c, const ProtobufCMessageDescriptor *d,
                       const ProtobufCFieldDescriptor *f, const json_t *v, ProtobufCMessage *m)
{
    if (json_is_null(v))
        return 0; /* null: leave at the default */
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        if (!json_is_array(v))
            return pbj_fail(c, "expected array, got %s", json_kind(v));
        size_t n = json_array_size(v), es = pbj_elem_size(f);
        if (n == 0)
            return 0;
        char *arr = cx_alloc(c, n * es);
        if (!arr)
            return pbj_fail(c, "out of memory");
        MEMBER(void *, m, f->offset) = arr;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            size_t old = pbj_push_index(c, i);
            if (json_is_null(e))
                return pbj_fail(c, "null is not allowed in an array");
            /* count the (zeroed) slot first so a failure inside it is freed with m */
            MEMBER(size_t, m, f->quantifier_offset) = i + 1;
            if (parse_value(c, f, e, arr + i * es) < 0)
                return -1;
            pbj_pop(c, old);
        }
        return 0;
    }
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *cs = &MEMBER(uint32_t, m, f->quantifier_offset);
        if (*cs != 0 && *cs != f->id) {
            const ProtobufCFieldDescriptor *o = oneof_member(d, f, *cs);
            return pbj_fail(c, "only one of a oneof may be set (already set: %s)",
                            o ? o->name : "?");
        }
        *cs = f->id; /* first, so a half-built member is freed with m */
        return parse_value(c, f, v, (char *)m + f->offset);
    }
    if (parse_value(c, f, v, (char *)m + f->offset) < 0)
        return -1;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
    return 0;
}

static int parse_message(ctx *c, const ProtobufCMessageDescriptor *d, const json_t *j,
                         ProtobufCMessage **out)
{
    ProtobufCMessage *m = c->alloc->alloc(c->alloc->allocator_data, d->sizeof_message);
    const char **seen = NULL;
    const char *key;
    json_t *v;
    int rc = -1;
    if (!m)
        return pbj_fail(c, "out of memory");
    d->message_init(m);
    *out = m; /* owned by the parent from here on, so a failure frees it with the parent */
    seen = calloc(d->n_fields ? d->n_fields : 1, sizeof *seen);
    if (!seen)
        return pbj_fail(c, "out of memory");
    json_object_foreach((json_t *)j, key, v)
    {
        const ProtobufCFieldDescriptor *f = pbjson_find_field(d, key);
        size_t old = pbj_push_name(c, key);
        if (!f) {
            pbj_fail(c, "unknown field (%s has no field \"%s\")", d->name, key);
            goto out;
        }
        size_t idx = (size_t)(f - d->fields);
        if (seen[idx]) {
            pbj_fail(c, "field given twice (as \"%s\" and \"%s\")", seen[idx], key);
            goto out;
        }
        seen[idx] = key;
        if (parse_field(c, d, f, v, m) < 0)
            goto out;
        pbj_pop(c, old);
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

ProtobufCMessage *pbjson_from_json(const ProtobufCMessageDescriptor *d, const json_t *j,
                                   ProtobufCAllocator *alloc, char *err, size_t errlen)
{
    ctx c = {.alloc = alloc ? alloc : &pbj_sys_allocator, .err = err, .errlen = errlen};
    ProtobufCMessage *m = NULL;
    if (!j || !json_is_object(j)) {
        pbj_fail(&c, "expected a JSON object for %s, got %s", d->name,
                 j ? json_kind(j) : "nothing");
        return NULL;
    }
    if (parse_message(&c, d, j, &m) < 0) {
        protobuf_c_message_free_unpacked(m, c.alloc);
        return NULL;
    }
    return m;
}

ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                               ProtobufCAllocator *alloc, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (err && errlen)
            snprintf(err, errlen, "invalid JSON at line %d column %d: %s", je.line, je.column,
                     je.text);
        return NULL;
    }
    ProtobufCMessage *m = pbjson_from_json(d, j, alloc, err, errlen);
    json_decref(j);
    return m;
}
