/* arena.h — a per-call bump allocator: everything a call allocates is released at once
 * when the call ends (h2o's req->pool). Also usable as a protobuf-c allocator. */
#ifndef GS_ARENA_H
#define GS_ARENA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

typedef struct arena arena;

/* NULL when memory is short. */
arena *arena_new(size_t first_block);
void arena_free(arena *a);
/* Releases everything but the first block, for reuse by the next call; clears the
 * failed flag. */
void arena_reset(arena *a);
/* Caps the bytes the arena may hold beyond its first block (0: no cap). */
void arena_set_limit(arena *a, size_t max_bytes);
size_t arena_limit(const arena *a);
/* Where arena_alloc goes when the cap is passed or malloc fails: longjmp(*jump, 1). The
 * code between setjmp and the jump must hold nothing but arena memory (no malloc'd
 * buffers, no locks, no half-read libpq pipeline). NULL: arena_alloc aborts instead. */
void arena_set_jump(arena *a, jmp_buf *jump);
/* Zeroed memory, aligned for any type. Past the cap or out of memory: jumps (see
 * arena_set_jump), or aborts when no jump is set. */
void *arena_alloc(arena *a, size_t n);
/* The same, but NULL past the cap or out of memory (never jumps). */
void *arena_try_alloc(arena *a, size_t n);
/* Counts n bytes held elsewhere for the call (e.g. database results) against the cap
 * until the next reset; false (and failed) when that would pass it. Never jumps. */
bool arena_charge(arena *a, size_t n);
/* An allocation failed (past the cap or out of memory) since the last reset. */
bool arena_failed(const arena *a);
char *arena_strdup(arena *a, const char *s);
char *arena_strndup(arena *a, const char *s, size_t n);
char *arena_printf(arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena *a, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Bytes currently held (for metrics and caps). */
size_t arena_used(const arena *a);
/* A ProtobufCAllocator whose frees are no-ops and whose allocations never jump (a
 * failed one makes the unpack return NULL; see arena_failed); valid while the arena
 * lives. */
ProtobufCAllocator *arena_pb_allocator(arena *a);

#endif
