/* call.c — helpers handlers use on a call: errors, arena allocation, validation,
 * pagination. */
#include "call.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records code and message and clears what an earlier failure of this call left. */
static gs_code record(call *c, gs_code code, gs_reason why, const char *field, const char *fmt,
                      va_list ap)
{
    size_t at = 0;
    if (field)
        at = (size_t)snprintf(c->message, sizeof c->message, "%s: ", field);
    if (at < sizeof c->message)
        vsnprintf(c->message + at, sizeof c->message - at, fmt, ap);
    c->code = code;
    c->reason = why;
    c->field = field;
    c->n_meta = 0;
    return code;
}

gs_code call_fail(call *c, gs_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, code, GS_R_NONE, NULL, fmt, ap);
    va_end(ap);
    return code;
}

gs_code call_fail_why(call *c, gs_code code, gs_reason why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, code, why, NULL, fmt, ap);
    va_end(ap);
    return code;
}

gs_code call_fail_field(call *c, const char *field, gs_reason why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(c, GS_INVALID_ARGUMENT, why, field, fmt, ap);
    va_end(ap);
    return GS_INVALID_ARGUMENT;
}

void call_fail_meta(call *c, const char *key, const char *value)
{
    if (c->n_meta >= GS_ERROR_META_MAX || !key || !value)
        return;
    char *k = arena_strdup(c->arena, key), *v = arena_strdup(c->arena, value);
    if (!k || !v)
        return;
    c->meta[c->n_meta].key = k;
    c->meta[c->n_meta].value = v;
    c->n_meta++;
}

char *call_printf(call *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = arena_vprintf(c->arena, fmt, ap);
    va_end(ap);
    return s;
}

const char *call_i64(call *c, int64_t v)
{
    return call_printf(c, "%" PRId64, v);
}

void *call_msg(call *c, const ProtobufCMessageDescriptor *d)
{
    void *m = arena_alloc(c->arena, d->sizeof_message);
    d->message_init(m);
    return m;
}

void **call_ptrs(call *c, size_t n)
{
    return arena_alloc(c->arena, n * sizeof(void *));
}

gs_code v_required(call *c, const char *field, const char *s)
{
    if (!s || !*s)
        return call_fail_field(c, field, GS_R_FIELD_REQUIRED, "required");
    return GS_OK;
}

gs_code v_len(call *c, const char *field, const char *s, size_t max)
{
    if (s && strlen(s) > max)
        return call_fail_field(c, field, GS_R_FIELD_TOO_LONG, "longer than %zu bytes", max);
    return GS_OK;
}

gs_code v_positive(call *c, const char *field, int64_t v)
{
    if (v <= 0)
        return call_fail_field(c, field, GS_R_FIELD_OUT_OF_RANGE, "must be positive, got %" PRId64,
                               v);
    return GS_OK;
}

gs_code v_id_or_code(call *c, const char *field, int64_t id, const char *code, bool required,
                     gs_lookup *by)
{
    *by = GS_BY_NONE;
    if (id < 0)
        return v_positive(c, field, id);
    if (id > 0) {
        *by = GS_BY_ID;
        return GS_OK;
    }
    if (!code || !*code)
        return required ? call_fail_field(c, field, GS_R_FIELD_REQUIRED, "required (id or code)")
                        : GS_OK;
    *by = GS_BY_CODE;
    return v_len(c, field, code, 64);
}

gs_code call_not_found(call *c, const char *what, gs_lookup by, int64_t id, const char *code)
{
    if (by == GS_BY_CODE)
        return call_fail(c, GS_NOT_FOUND, "%s \"%.64s\" not found", what, code);
    return call_fail(c, GS_NOT_FOUND, "%s %" PRId64 " not found", what, id);
}

gs_code v_nonneg(call *c, const char *field, int64_t v)
{
    if (v < 0)
        return call_fail_field(c, field, GS_R_FIELD_OUT_OF_RANGE,
                               "must not be negative, got %" PRId64, v);
    return GS_OK;
}

gs_code v_range(call *c, const char *field, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return call_fail_field(c, field, GS_R_FIELD_OUT_OF_RANGE,
                               "must be between %" PRId64 " and %" PRId64 ", got %" PRId64, lo, hi,
                               v);
    return GS_OK;
}

gs_code v_qty(call *c, const char *field, int64_t v)
{
    return v_range(c, field, v, 1, GS_QTY_MAX);
}

gs_code v_amount(call *c, const char *field, int64_t v)
{
    return v_range(c, field, v, 1, GS_AMOUNT_MAX);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Checks "YYYY-MM-DD" (exactly 10 characters) with a year in [lo, hi]. */
static gs_code date_in(call *c, const char *field, const char *s, int lo, int hi)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
        s[7] != '-')
        return call_fail_field(c, field, GS_R_FIELD_BAD_FORMAT,
                               "not a date (YYYY-MM-DD): \"%.20s\"", s);
    if (y < lo || y > hi || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
        return call_fail_field(c, field, GS_R_FIELD_OUT_OF_RANGE, "date out of range: %s", s);
    return GS_OK;
}

gs_code v_date(call *c, const char *field, const char *s)
{
    return s && *s ? date_in(c, field, s, 2000, 2200) : GS_OK;
}

static bool digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

gs_code v_timestamp(call *c, const char *field, const char *s)
{
    if (!s || !*s)
        return GS_OK;
    size_t n = strlen(s);
    if (n < 10 || n > 35)
        goto bad;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    GS_TRY(date_in(c, field, date, 1900, 9999)); /* a filter bound may lie far out */
    if (n == 10)
        return GS_OK;
    const char *t = s + 10;
    if ((*t != 'T' && *t != 't' && *t != ' ') || !digits(t + 1, 2) || t[3] != ':' ||
        !digits(t + 4, 2) || t[6] != ':' || !digits(t + 7, 2))
        goto bad;
    if (atoi(t + 1) > 23 || atoi(t + 4) > 59 || atoi(t + 7) > 60)
        goto bad;
    t += 9;
    if (*t == '.') {
        int k = 0;
        while (isdigit((unsigned char)t[1 + k]))
            k++;
        if (k == 0 || k > 9)
            goto bad;
        t += 1 + k;
    }
    if ((*t == 'Z' || *t == 'z') && t[1] == '\0')
        return GS_OK;
    if ((*t == '+' || *t == '-') && digits(t + 1, 2) && t[3] == ':' && digits(t + 4, 2) &&
        t[6] == '\0' && atoi(t + 1) <= 14 && atoi(t + 4) <= 59)
        return GS_OK;
bad:
    return call_fail_field(c, field, GS_R_FIELD_BAD_FORMAT,
                           "not an RFC 3339 timestamp (e.g. 2026-11-28T03:20:00Z): \"%.40s\"", s);
}

gs_code v_chars(call *c, const char *field, const char *s, size_t max, const gs_charset *cs)
{
    if (!s || !*s)
        return GS_OK;
    if (strlen(s) > max)
        return call_fail_field(c, field, GS_R_FIELD_TOO_LONG, "longer than %zu characters", max);
    if (gs_charset_find_bad(cs, s) >= 0) {
        char allowed[128];
        return call_fail_field(c, field, GS_R_FIELD_BAD_CHARACTERS,
                               "only %s are allowed: \"%.64s\"",
                               gs_charset_describe(cs, allowed, sizeof allowed), s);
    }
    return GS_OK;
}

gs_code v_code(call *c, const char *field, const char *s)
{
    GS_TRY(v_required(c, field, s));
    return v_chars(c, field, s, 64, &GS_CS_CODE);
}

gs_code page_args(call *c, int32_t page_size, const char *page_token, int64_t *limit,
                  int64_t *after_id)
{
    if (page_size < 0 || page_size > 1000)
        return call_fail_field(c, "page_size", GS_R_FIELD_OUT_OF_RANGE,
                               "must be between 0 and 1000, got %d", (int)page_size);
    *limit = (page_size ? page_size : 100) + 1;
    *after_id = 0;
    if (page_token && *page_token) {
        char *end;
        long long v = strtoll(page_token, &end, 10);
        if (*end || v < 0)
            return call_fail_field(c, "page_token", GS_R_FIELD_INVALID,
                                   "not a token from a previous page");
        *after_id = v;
    }
    return GS_OK;
}
