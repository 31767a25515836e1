/* error_reasons.c — matches a database refusal to its reason (error_reasons.h). A format
 * is literal text with placeholders ("%s" as stock_fail writes them, "%" as RAISE does);
 * a message matches when the literal pieces appear in order and cover it, each placeholder
 * taking the shortest text that lets the rest match (the arguments are codes and numbers).
 * The captured arguments go to ErrorInfo.metadata under the row's arg_keys. */
#include "error_reasons.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define MAX_ARGS 8

struct row {
    char *fmt; /* literal pieces separated by '\x01' where a placeholder was */
    gs_reason reason;
    char *keys[MAX_ARGS]; /* metadata key per placeholder; "" skips */
    int n_keys;
    char *constraint; /* or NULL */
};

static pthread_mutex_t load_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct table *) loaded;

struct table {
    int n;
    struct row rows[];
};

static const char SQL_ALL[] =
    "SELECT coalesce(string_agg(reason || E'\\t' || array_to_string(arg_keys, ',') || E'\\t'"
    " || replace(replace(fmt, E'\\t', ' '), E'\\n', ' '), E'\\n' ORDER BY length(fmt) DESC, fmt),"
    " '') FROM error_reasons"; /* the longest formats first: the most specific wins */

/* "a %s b % c" → "a \x01 b \x01 c" (in place; "%%" stays a literal '%'). */
static void mark_placeholders(char *f)
{
    char *w = f;
    for (char *r = f; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
        } else if (r[1] == '%') {
            *w++ = '%';
            r++;
        } else {
            *w++ = '\x01';
            if (r[1] == 's')
                r++;
        }
    }
    *w = '\0';
}

static struct table *parse(char *text)
{
    int n = 0;
    for (char *p = text; *p; p++)
        n += *p == '\n';
    n += *text != '\0';
    struct table *t = calloc(1, sizeof *t + (size_t)n * sizeof(struct row));
    if (!t)
        return NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *keys = strchr(line, '\t'), *fmt = keys ? strchr(keys + 1, '\t') : NULL;
        if (!fmt)
            continue;
        *keys++ = '\0';
        *fmt++ = '\0';
        gs_reason why = gs_reason_from_name(line);
        if (why == GS_R_NONE)
            continue; /* a reason this build does not know: the code's name is sent */
        struct row *r = &t->rows[t->n];
        r->reason = why;
        if (!strncmp(fmt, "constraint:", 11)) {
            r->constraint = strdup(fmt + 11);
        } else {
            r->fmt = strdup(fmt);
            if (r->fmt)
                mark_placeholders(r->fmt);
        }
        char *ksave = NULL;
        for (char *k = strtok_r(keys, ",", &ksave); k && r->n_keys < MAX_ARGS;
             k = strtok_r(NULL, ",", &ksave))
            r->keys[r->n_keys++] = strdup(k);
        if (r->fmt || r->constraint)
            t->n++;
    }
    return t;
}

void error_reasons_load(struct db *d)
{
    if (atomic_load(&loaded))
        return;
    pthread_mutex_lock(&load_mu);
    if (!atomic_load(&loaded)) {
        size_t cap = 1 << 16;
        char *out = malloc(cap), err[200];
        if (out && db_value(d, SQL_ALL, NULL, out, cap, err, sizeof err) == 0) {
            struct table *t = parse(out);
            if (t)
                atomic_store(&loaded, t);
        }
        free(out);
    }
    pthread_mutex_unlock(&load_mu);
}

struct matching {
    const char *at[MAX_ARGS];
    size_t len[MAX_ARGS];
    int budget; /* steps left: a message that almost matches cannot cost much */
};

/* Does msg match the pieces of f from here? Placeholder k captures into m. */
static bool match(const char *msg, const char *f, struct matching *m, int k)
{
    if (--m->budget < 0)
        return false;
    size_t lit = strcspn(f, "\x01");
    if (strncmp(msg, f, lit) != 0)
        return false;
    msg += lit;
    f += lit;
    if (!*f)
        return *msg == '\0';
    f++; /* a placeholder, then the next literal piece: try each place it occurs */
    size_t next = strcspn(f, "\x01");
    for (const char *p = msg;; p++) {
        if (next) {
            char piece[256];
            snprintf(piece, sizeof piece, "%.*s", (int)next, f);
            p = strstr(p, piece);
        } else if (!*f) {
            p = msg + strlen(msg); /* the last placeholder takes the rest */
        }
        if (!p)
            return false;
        if (k < MAX_ARGS) {
            m->at[k] = msg;
            m->len[k] = (size_t)(p - msg);
        }
        if (match(p, f, m, k + 1))
            return true;
        if (!*p)
            return false;
    }
}

bool error_reasons_apply(call *c, const char *message, const char *constraint)
{
    const struct table *t = atomic_load(&loaded);
    if (!t)
        return false;
    for (int i = 0; i < t->n; i++) {
        const struct row *r = &t->rows[i];
        struct matching m = {.budget = 2000};
        if (r->constraint ? !(constraint && !strcmp(constraint, r->constraint))
                          : !match(message, r->fmt, &m, 0))
            continue;
        c->reason = r->reason;
        for (int k = 0; r->fmt && k < r->n_keys; k++) {
            if (!*r->keys[k] || !m.at[k])
                continue;
            char v[128];
            snprintf(v, sizeof v, "%.*s", (int)(m.len[k] < sizeof v ? m.len[k] : sizeof v - 1),
                     m.at[k]);
            call_fail_meta(c, r->keys[k], v);
        }
        return true;
    }
    return false;
}
