/* pb_check.c — descriptor-driven request checks (see pb_check.h). */
#include "pb_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            if (c == 0)
                return false;
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static int check_string(const char *s, const char *path, const pb_limits *lim, char *err,
                        size_t errlen)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n > lim->max_string) {
        snprintf(err, errlen, "%s: longer than %zu bytes", path, lim->max_string);
        return -1;
    }
    if (!utf8_valid(s, n)) {
        snprintf(err, errlen, "%s: not valid UTF-8", path);
        return -1;
    }
    return 0;
}

static int check(const ProtobufCMessage *m, const pb_limits *lim, const char *prefix, int depth,
                 char *err, size_t errlen)
{
    if (depth > lim->max_depth) {
        snprintf(err, errlen, "%s: nested too deeply", *prefix ? prefix : "request");
        return -1;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", f->name);
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE &&
            f->label != PROTOBUF_C_LABEL_REPEATED)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            if (n > lim->max_repeated) {
                snprintf(err, errlen, "%s: more than %zu elements", path, lim->max_repeated);
                return -1;
            }
            if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
                continue;
            void *const *arr = *(void *const *const *)base;
            for (size_t k = 0; k < n; k++) {
                char ipath[288];
                snprintf(ipath, sizeof ipath, "%s[%zu]", path, k);
                int rc = f->type == PROTOBUF_C_TYPE_STRING
                             ? check_string(arr[k], ipath, lim, err, errlen)
                             : check(arr[k], lim, ipath, depth + 1, err, errlen);
                if (rc)
                    return rc;
            }
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)((const char *)m + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (check_string(*(const char *const *)base, path, lim, err, errlen))
                return -1;
        } else {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)base;
            if (sub && check(sub, lim, path, depth + 1, err, errlen))
                return -1;
        }
    }
    return 0;
}

int pb_check(const ProtobufCMessage *m, const pb_limits *lim, char *err, size_t errlen)
{
    return check(m, lim, "", 0, err, errlen);
}

/* ------------------------------------------------------------------ wire level */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

static int wire(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                const char *prefix, int depth, const pb_limits *lim, char *err, size_t errlen)
{
    unsigned seen[64] = {0}; /* occurrences per field, for "lines[3]" in the path */
    if (depth > lim->max_depth)
        return 0; /* pb_check reports the depth after the unpack */
    while (p < end) {
        uint64_t tag, n;
        if (!varint(&p, end, &tag))
            return 0;
        switch (tag & 7) {
        case 0:
            if (!varint(&p, end, &n))
                return 0;
            continue;
        case 1:
            if (end - p < 8)
                return 0;
            p += 8;
            continue;
        case 5:
            if (end - p < 4)
                return 0;
            p += 4;
            continue;
        case 2:
            break;
        default:
            return 0; /* groups and invalid wire types: the unpack refuses them */
        }
        if (!varint(&p, end, &n) || n > (uint64_t)(end - p))
            return 0;
        const uint8_t *body = p;
        p += n;
        const ProtobufCFieldDescriptor *f =
            tag >> 3 <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
                : NULL;
        if (!f || (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE))
            continue;
        size_t fi = (size_t)(f - d->fields);
        unsigned k = fi < 64 ? seen[fi]++ : 0;
        char path[288];
        if (f->label == PROTOBUF_C_LABEL_REPEATED)
            snprintf(path, sizeof path, "%s%s%s[%u]", prefix, *prefix ? "." : "", f->name, k);
        else
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", f->name);
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            if (memchr(body, 0, n)) {
                snprintf(err, errlen, "%s: contains a NUL byte", path);
                return -1;
            }
        } else if (wire(f->descriptor, body, body + n, path, depth + 1, lim, err, errlen)) {
            return -1;
        }
    }
    return 0;
}

int pb_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  const pb_limits *lim, char *err, size_t errlen)
{
    return wire(d, data, data + len, "", 0, lim, err, errlen);
}
