/* arena.c — block-chained bump allocator for per-call memory, with an optional cap on
 * what one call may hold and a way out (longjmp to the call's guard) when it is passed or
 * malloc fails, so a request can never abort the process. */
#include "arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    struct block *next;
    size_t size, used;
    max_align_t data[];
};

struct arena {
    struct block *head; /* newest block first; the last one is the first block */
    struct block *first;
    size_t total;
    size_t extra; /* bytes of the blocks beyond the first (what the limit counts) */
    size_t limit; /* 0: none */
    bool failed;  /* an allocation failed since the last reset */
    jmp_buf *jump;
    ProtobufCAllocator pb;
};

static struct block *block_new(size_t size)
{
    if (size > SIZE_MAX - sizeof(struct block))
        return NULL;
    struct block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

static void *pb_alloc(void *data, size_t n)
{
    return arena_try_alloc(data, n); /* protobuf-c answers NULL with a failed unpack */
}
static void pb_free(void *data, void *p)
{
    (void)data, (void)p;
}

arena *arena_new(size_t first_block)
{
    arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->first = a->head = block_new(first_block ? first_block : 8192);
    if (!a->first) {
        free(a);
        return NULL;
    }
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    return a;
}

void arena_reset(arena *a)
{
    struct block *b = a->head;
    while (b != a->first) {
        struct block *next = b->next;
        free(b);
        b = next;
    }
    a->head = a->first;
    a->first->used = 0;
    a->total = 0;
    a->extra = 0;
    a->failed = false;
}

void arena_set_limit(arena *a, size_t max_bytes)
{
    a->limit = max_bytes;
}

size_t arena_limit(const arena *a)
{
    return a->limit;
}

void arena_set_jump(arena *a, jmp_buf *jump)
{
    a->jump = jump;
}

bool arena_failed(const arena *a)
{
    return a->failed;
}

void arena_free(arena *a)
{
    if (!a)
        return;
    arena_reset(a);
    free(a->first);
    free(a);
}

void *arena_try_alloc(arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    if (n > SIZE_MAX - align) {
        a->failed = true;
        return NULL;
    }
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct block *b = a->head;
    if (b->size - b->used < n) {
        size_t size = n > a->first->size ? n : a->first->size * 2;
        if (a->limit && (size > a->limit || a->extra > a->limit - size)) {
            a->failed = true;
            return NULL;
        }
        b = block_new(size);
        if (!b) {
            a->failed = true;
            return NULL;
        }
        b->next = a->head;
        a->head = b;
        a->extra += size;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

bool arena_charge(arena *a, size_t n)
{
    if (a->limit && (n > a->limit || a->extra > a->limit - n)) {
        a->failed = true;
        return false;
    }
    a->extra += n;
    return true;
}

void *arena_alloc(arena *a, size_t n)
{
    void *p = arena_try_alloc(a, n);
    if (p)
        return p;
    if (a->jump)
        longjmp(*a->jump, 1);
    fputs("gridstock: out of memory\n", stderr);
    abort();
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *arena_vprintf(arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_used(const arena *a)
{
    return a->total;
}

ProtobufCAllocator *arena_pb_allocator(arena *a)
{
    return &a->pb;
}
