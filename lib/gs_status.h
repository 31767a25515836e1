/* gs_status.h — the one status type of gridstock. Values equal the gRPC status codes, so
 * the transport maps them with no table; names and default messages come from one X-macro. */
#ifndef GS_STATUS_H
#define GS_STATUS_H

#define GS_STATUS_LIST(X)                                                                          \
    X(GS_OK, 0, "OK")                                                                              \
    X(GS_CANCELLED, 1, "CANCELLED")                                                                \
    X(GS_UNKNOWN, 2, "UNKNOWN")                                                                    \
    X(GS_INVALID_ARGUMENT, 3, "INVALID_ARGUMENT")                                                  \
    X(GS_DEADLINE_EXCEEDED, 4, "DEADLINE_EXCEEDED")                                                \
    X(GS_NOT_FOUND, 5, "NOT_FOUND")                                                                \
    X(GS_ALREADY_EXISTS, 6, "ALREADY_EXISTS")                                                      \
    X(GS_PERMISSION_DENIED, 7, "PERMISSION_DENIED")                                                \
    X(GS_RESOURCE_EXHAUSTED, 8, "RESOURCE_EXHAUSTED")                                              \
    X(GS_FAILED_PRECONDITION, 9, "FAILED_PRECONDITION")                                            \
    X(GS_ABORTED, 10, "ABORTED")                                                                   \
    X(GS_OUT_OF_RANGE, 11, "OUT_OF_RANGE")                                                         \
    X(GS_UNIMPLEMENTED, 12, "UNIMPLEMENTED")                                                       \
    X(GS_INTERNAL, 13, "INTERNAL")                                                                 \
    X(GS_UNAVAILABLE, 14, "UNAVAILABLE")                                                           \
    X(GS_DATA_LOSS, 15, "DATA_LOSS")                                                               \
    X(GS_UNAUTHENTICATED, 16, "UNAUTHENTICATED")

typedef enum gs_code {
#define GS_X(name, num, str) name = num,
    GS_STATUS_LIST(GS_X)
#undef GS_X
} gs_code;

#define GS_CODE_COUNT 17

/* "NOT_FOUND" for GS_NOT_FOUND; "UNKNOWN" for anything out of range. */
const char *gs_code_name(int code);

#endif
