/* pbjson_int.h — internals shared by pbjson.c (JSON -> message) and pbjson_write.c
 * (message -> JSON): the error-path context and field storage helpers. Not for callers. */
#ifndef GS_PBJSON_INT_H
#define GS_PBJSON_INT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/* The struct member at byte offset `off` of a message. */
#define MEMBER(type, msg, off) (*(type *)((char *)(msg) + (off)))

/* A conversion in progress: allocator, error buffer and the field path so far
 * ("rinner[1].n"), which prefixes every error. */
typedef struct ctx {
    ProtobufCAllocator *alloc;
    char *err;
    size_t errlen;
    char path[512];
    size_t plen;
} ctx;

/* malloc/free as a ProtobufCAllocator. */
extern ProtobufCAllocator pbj_sys_allocator;

/* Writes "path: message" into c->err; returns -1. */
/* Records the error at the current path; fmt is translated (xgettext keyword pbj_fail:2). */
int pbj_fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append ".name" / "[i]" to the path; return the old length for pbj_pop. */
size_t pbj_push_name(ctx *c, const char *name);
size_t pbj_push_index(ctx *c, size_t i);
void pbj_pop(ctx *c, size_t old);
/* Bytes of one element of a repeated field of f's type. */
size_t pbj_elem_size(const ProtobufCFieldDescriptor *f);

#endif
