/* arena.h — a per-call bump allocator: everything a call allocates is released at once
 * when the call ends (h2o's req->pool). Also usable as a protobuf-c allocator. */
#ifndef GS_ARENA_H
#define GS_ARENA_H

#include <stdarg.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena arena;

arena *arena_new(size_t first_block);
void arena_free(arena *a);
/* Releases everything but the first block, for reuse by the next call. */
void arena_reset(arena *a);
/* Zeroed memory, aligned for any type; aborts on out of memory. */
void *arena_alloc(arena *a, size_t n);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena *a, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* A ProtobufCAllocator whose frees are no-ops; valid while the arena lives. */
ProtobufCAllocator *arena_pb_allocator(arena *a);

#endif
