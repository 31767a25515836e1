/* pg_array.c — PostgreSQL array literals for SQL parameters (pg_array.h), in the call's
 * arena. Pure text building: no libpq. */
#include "pg_array.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"

/* Builds "{" e0 "," e1 ... "}" where each element is printed by `put` into at most
 * `each` bytes (plus the separator). */
#define ARRAY_LITERAL(c, n, each, fmt, value)                                                      \
    do {                                                                                           \
        size_t cap_ = 3 + (n) * ((each) + 1), len_ = 0;                                            \
        char *out_ = arena_alloc((c)->arena, cap_);                                                \
        out_[len_++] = '{';                                                                        \
        for (size_t i = 0; i < (n); i++)                                                           \
            len_ += (size_t)snprintf(out_ + len_, cap_ - len_, "%s" fmt, i ? "," : "", value);     \
        out_[len_++] = '}';                                                                        \
        out_[len_] = '\0';                                                                         \
        return out_;                                                                               \
    } while (0)

const char *pg_array_i64(call *c, const int64_t *v, size_t n)
{
    ARRAY_LITERAL(c, n, 20, "%" PRId64, v[i]);
}

const char *pg_array_num2(call *c, const double *v, size_t n)
{
    /* callers pass bounded values (scores 0..100); 24 bytes hold any %.2f up to 1e20 */
    ARRAY_LITERAL(c, n, 24, "%.2f", v[i]);
}

const char *pg_array_bool(call *c, const bool *v, size_t n)
{
    ARRAY_LITERAL(c, n, 1, "%c", v[i] ? 't' : 'f');
}

const char *pg_array_text(call *c, const char *const *v, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 3 + 2 * strlen(v[i] ? v[i] : "");
    char *out = arena_alloc(c->arena, cap), *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *s = v[i] ? v[i] : ""; *s; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}
