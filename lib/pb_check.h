/* pb_check.h — generic checks on any decoded protobuf-c message, by descriptor: every
 * string is valid UTF-8 and within a length cap, every repeated field within a count
 * cap, nesting within a depth cap. The server runs it on every request before a handler
 * sees it, so no handler has to remember. */
#ifndef GS_PB_CHECK_H
#define GS_PB_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct pb_limits {
    size_t max_string;   /* bytes per string field */
    size_t max_repeated; /* elements per repeated field */
    int max_depth;       /* message nesting */
} pb_limits;

/* 0 when the message passes; otherwise -1 and err names the field path and problem,
 * e.g. "lines[3].lot_code: not valid UTF-8". */
int pb_check(const ProtobufCMessage *m, const pb_limits *lim, char *err, size_t errlen);

/* The check protobuf-c's C strings cannot see, made on the encoded message before it is
 * unpacked: a string field must not contain a NUL byte (it would be cut there silently;
 * UTF-8 is checked by pb_check afterwards). 0 when the bytes pass (or are malformed, which the
 * unpack then reports); -1 with the field path in err. */
int pb_check_wire(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
                  const pb_limits *lim, char *err, size_t errlen);

bool utf8_valid(const char *s, size_t n);

#endif
