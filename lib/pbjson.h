/* pbjson.h — JSON <-> protobuf-c messages, driven by ProtobufCMessageDescriptor (jansson).
 *
 * The proto3 JSON mapping, with these choices (shared by the CLI and anything else that
 * speaks JSON for us):
 *  - Input accepts a field's .proto name (`site_id`) or its lowerCamelCase JSON name
 *    (`siteId`); giving both for one field is an error. Output uses the .proto names
 *    (`site_id`), always, unless PBJSON_JSON_NAMES is passed.
 *  - 64-bit integers are written as JSON numbers (jansson's long long), except uint64
 *    values above 2^63-1, which are written as decimal strings. Input accepts numbers,
 *    integral reals (`3.0`) and decimal strings (`"9223372036854775807"`) for every
 *    integer type, with range checks per type.
 *  - float/double: numbers, numeric strings, and "NaN", "Infinity", "-Infinity" (also
 *    used on output for non-finite values).
 *  - Enums: by value name (output) or by name or number (input).
 *  - bytes: standard base64 with padding on output; standard or URL-safe, padded or
 *    not, on input.
 *  - Messages are objects, repeated fields arrays, null means "not set".
 *  - Strings must be valid UTF-8 without NUL characters.
 *  - Oneofs: at most one member may be given; only the set member is written.
 *  - Map fields are treated as repeated entry messages ({"key":..,"value":..}).
 * Errors name the field path: `items[2].qty: expected integer, got string`,
 * `location.foo: unknown field`. */
#ifndef GS_PBJSON_H
#define GS_PBJSON_H

#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

enum pbjson_flags {
    PBJSON_EMIT_DEFAULTS = 1 << 0, /* also write scalars at their default and empty arrays */
    PBJSON_JSON_NAMES = 1 << 1,    /* write lowerCamelCase names instead of .proto names */
};

/* Builds a new message of type d from a JSON object. The message and everything in it
 * come from alloc (NULL = malloc); free it with protobuf_c_message_free_unpacked(m, alloc).
 * Returns NULL with "path: problem" in err. */
ProtobufCMessage *pbjson_from_json(const ProtobufCMessageDescriptor *d, const json_t *j,
                                   ProtobufCAllocator *alloc, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Same from JSON text (len bytes; duplicate keys and invalid UTF-8 are rejected). */
ProtobufCMessage *pbjson_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                               ProtobufCAllocator *alloc, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Returns a new JSON object (caller json_decref's it), or NULL with err set (a string that
 * is not valid UTF-8). */
json_t *pbjson_to_json(const ProtobufCMessage *m, unsigned flags, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* JSON text of m on one line (malloc'd, caller frees), or NULL with err set. */
char *pbjson_dumps(const ProtobufCMessage *m, unsigned flags, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The smallest JSON_REAL_PRECISION (15..17) at which json_dumps writes every real in j so
 * that it reads back exactly: 15 keeps 31.203129 from printing as 31.203129000000001. */
int pbjson_real_precision(const json_t *j);

/* The field called `name` (.proto name or lowerCamelCase), or NULL. */
const ProtobufCFieldDescriptor *pbjson_find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *name);

/* lowerCamelCase JSON name of a .proto field name, written into buf (truncated). */
void pbjson_json_name(const char *proto_name, char *buf, size_t buflen);

/* A short type name for help texts: "int64", "string", "bytes", or the full name of the
 * enum or message type. */
const char *pbjson_type_name(const ProtobufCFieldDescriptor *f);

/* 1 when [s, s+n) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int pbjson_utf8_valid(const char *s, size_t n);

#endif
