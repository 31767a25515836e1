/* pbjson_write.c — protobuf-c messages -> JSON by descriptor (mapping rules in pbjson.h). */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "pbjson_int.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = b64chars[(v >> 18) & 63];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* ---- message -> JSON ---- */

static json_t *message_to_json(ctx *c, const ProtobufCMessage *m, unsigned flags);

static json_t *double_json(double v)
{
    if (isnan(v))
        return json_string("NaN");
    if (isinf(v))
        return json_string(v < 0 ? "-Infinity" : "Infinity");
    return json_real(v);
}

/* The double nearest to the shortest decimal that reads back as f: 1.1f -> 1.1, not
 * 1.100000023841858. */
static double float_widen(float f)
{
    char buf[32];
    if (!isfinite(f))
        return f;
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return f;
}

static json_t *value_to_json(ctx *c, const ProtobufCFieldDescriptor *f, const void *p,
                             unsigned flags)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        char buf[24];
        snprintf(buf, sizeof buf, "%" PRIu64, v);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return double_json(float_widen(*(const float *)p));
    case PROTOBUF_C_TYPE_DOUBLE:
        return double_json(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_t *j = json_string(s ? s : "");
        if (!j)
            pbj_fail(c, "string is not valid UTF-8");
        return j;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        char *enc = b64_encode(bd->data, bd->len);
        json_t *j = enc ? json_string(enc) : NULL;
        free(enc);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (!sub)
            return json_null();
        return message_to_json(c, sub, flags);
    }
    }
    pbj_fail(c, "unsupported field type");
    return NULL;
}

/* 1 when the singular field f of m should be written. */
static int field_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                         unsigned flags)
{
    const char *p = (const char *)m + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return MEMBER(uint32_t, m, f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *)p != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
        if (f->type == PROTOBUF_C_TYPE_STRING)
            return *(char *const *)p != NULL;
        return MEMBER(protobuf_c_boolean, m, f->quantifier_offset) ||
               (flags & PBJSON_EMIT_DEFAULTS);
    }
    if (f->label == PROTOBUF_C_LABEL_REQUIRED || (flags & PBJSON_EMIT_DEFAULTS))
        return 1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s && *s;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len > 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)p != 0;
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = *(const double *)p;
        return v != 0 || signbit(v);
    }
    case PROTOBUF_C_TYPE_FLOAT: {
        float v = *(const float *)p;
        return v != 0 || signbit(v);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)p != 0;
    default:
        return *(const uint32_t *)p != 0;
    }
}

static json_t *message_to_json(ctx *c, const ProtobufCMessage *m, unsigned flags)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v = NULL;
        char jn[256];
        const char *name = f->name;
        if (flags & PBJSON_JSON_NAMES) {
            pbjson_json_name(f->name, jn, sizeof jn);
            name = jn;
        }
        size_t old = pbj_push_name(c, f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = MEMBER(size_t, m, f->quantifier_offset), es = pbj_elem_size(f);
            const char *arr = MEMBER(const char *, m, f->offset);
            if (n == 0 && !(flags & PBJSON_EMIT_DEFAULTS)) {
                pbj_pop(c, old);
                continue;
            }
            v = json_array();
            for (size_t k = 0; v && k < n; k++) {
                size_t o2 = pbj_push_index(c, k);
                json_t *e = value_to_json(c, f, arr + k * es, flags);
                if (!e || json_array_append_new(v, e) < 0) {
                    json_decref(v);
                    v = NULL;
                    break;
                }
                pbj_pop(c, o2);
            }
        } else {
            if (!field_present(f, m, flags)) {
                pbj_pop(c, old);
                continue;
            }
            v = value_to_json(c, f, (const char *)m + f->offset, flags);
        }
        if (!v || json_object_set_new(obj, name, v) < 0) {
            json_decref(obj);
            return NULL;
        }
        pbj_pop(c, old);
    }
    return obj;
}

json_t *pbjson_to_json(const ProtobufCMessage *m, unsigned flags, char *err, size_t errlen)
{
    ctx c = {.alloc = &pbj_sys_allocator, .err = err, .errlen = errlen};
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    return message_to_json(&c, m, flags);
}

int pbjson_real_precision(const json_t *j)
{
    int best = 15;
    const char *key;
    size_t i;
    json_t *v;
    switch (json_typeof(j)) {
    case JSON_REAL: {
        double d = json_real_value(j);
        char buf[40];
        for (; best < 17; best++) {
            snprintf(buf, sizeof buf, "%.*g", best, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return best;
    }
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, key, v)
        {
            int p = pbjson_real_precision(v);
            best = p > best ? p : best;
        }
        return best;
    case JSON_ARRAY:
        json_array_foreach(j, i, v)
        {
            int p = pbjson_real_precision(v);
            best = p > best ? p : best;
        }
        return best;
    default:
        return best;
    }
}

char *pbjson_dumps(const ProtobufCMessage *m, unsigned flags, char *err, size_t errlen)
{
    json_t *j = pbjson_to_json(m, flags, err, errlen);
    if (!j)
        return NULL;
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER |
                                JSON_REAL_PRECISION(pbjson_real_precision(j)));
    json_decref(j);
    if (!s && err && errlen)
        snprintf(err, errlen, "out of memory");
    return s;
}
