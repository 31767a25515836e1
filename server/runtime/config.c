/* config.c — the configuration table of gridstockd and everything it drives: defaults, the
 * --config file, GRIDSTOCKD_* environment variables, command-line flags, --help and the
 * sample file. Precedence: default < file < environment < flag. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"

#ifndef GS_VERSION
#define GS_VERSION "unknown"
#endif

#define ENV_PREFIX "GRIDSTOCKD_"

typedef enum cfg_type { CFG_STRING, CFG_INT, CFG_BOOL } cfg_type;

typedef struct cfg_row {
    const char *name; /* key in the file; the flag is --name with '_' as '-' */
    cfg_type type;
    size_t offset;       /* into gs_config */
    const char *def;     /* default, as text: parsed and checked like any other value */
    long min, max;       /* CFG_INT bounds, inclusive */
    const char *choices; /* CFG_STRING: allowed values separated by '|', or NULL */
    int (*check)(const char *value, char *why, size_t whylen); /* CFG_STRING extra check */
    const char *arg;                                           /* metavariable for --help */
    const char *help;
} cfg_row;

static int check_listen(const char *value, char *why, size_t whylen);
static int check_metrics_listen(const char *value, char *why, size_t whylen);
static int check_timezone(const char *value, char *why, size_t whylen);

#define OFF(field) offsetof(gs_config, field)

/* clang-format off */
static const cfg_row rows[] = {
    {"listen", CFG_STRING, OFF(listen), "127.0.0.1:50051", 0, 0, NULL, check_listen, "HOST:PORT",
     "address to listen on (port 0 picks a free port; unix:PATH for a socket)"},
    {"workers", CFG_INT, OFF(workers), "4", 1, 256, NULL, NULL, "N",
     "worker threads, each with its own database connection"},
    {"db", CFG_STRING, OFF(db), "", 0, 0, NULL, NULL, "CONNINFO",
     "libpq connection string; empty uses the PG* environment variables"},
    {"db_read", CFG_STRING, OFF(db_read), "", 0, 0, NULL, NULL, "CONNINFO",
     "report replica: reads not marked reads_own_writes go there (primary when it is down); "
     "empty: every call uses db"},
    {"max_message_bytes", CFG_INT, OFF(max_message_bytes), "4194304", 1024, 67108864, NULL, NULL,
     "N", "largest request or response message accepted"},
    {"tls_cert", CFG_STRING, OFF(tls_cert), "", 0, 0, NULL, NULL, "FILE",
     "PEM server certificate chain; empty serves plaintext"},
    {"tls_key", CFG_STRING, OFF(tls_key), "", 0, 0, NULL, NULL, "FILE",
     "PEM private key of the server certificate"},
    {"tls_client_ca", CFG_STRING, OFF(tls_client_ca), "", 0, 0, NULL, NULL, "FILE",
     "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)"},
    {"tls_client_is_user", CFG_BOOL, OFF(tls_client_is_user), "false", 0, 0, NULL, NULL,
     "[=BOOL]",
     "with mutual TLS: a call's token must belong to the user its client certificate names "
     "(its CN or subject alternative name is the login), e.g. service accounts"},
    {"insecure", CFG_BOOL, OFF(insecure), "false", 0, 0, NULL, NULL, "[=BOOL]",
     "allow plaintext on an address other than loopback"},
    {"token_keys", CFG_STRING, OFF(token_keys), "", 0, 0, NULL, NULL, "FILE",
     "keyring of token signing keys, one \"<kid> <hex secret>\" per line; the first signs"},
    {"audit_keys", CFG_STRING, OFF(audit_keys), "", 0, 0, NULL, NULL, "FILE",
     "keyring of audit chain keys (same format; the first seals, all verify); empty: no sealing"},
    {"household_keys", CFG_STRING, OFF(household_keys), "", 0, 0, NULL, NULL, "FILE",
     "keyring whose first key hashes household heads' ID numbers (same format; older keys "
     "after it still match); empty: the household register refuses to register"},
    {"grace_ms", CFG_INT, OFF(grace_ms), "5000", 0, 600000, NULL, NULL, "MS",
     "on SIGTERM, time given to calls in flight before they are cancelled"},
    {"statement_timeout_ms", CFG_INT, OFF(statement_timeout_ms), "10000", 100, 3600000, NULL,
     NULL, "MS", "longest a call without a deadline may hold a transaction"},
    {"log_format", CFG_STRING, OFF(log_format), "kv", 0, 0, "kv|json", NULL, "kv|json",
     "log line format on stderr"},
    {"log_level", CFG_STRING, OFF(log_level), "info", 0, 0, "debug|info|warn|error", NULL,
     "LEVEL", "least severe level logged"},
    {"migrate", CFG_BOOL, OFF(migrate), "true", 0, 0, NULL, NULL, "[=BOOL]",
     "apply pending SQL migrations at start-up"},
    {"sql_dir", CFG_STRING, OFF(sql_dir), "", 0, 0, NULL, NULL, "DIR",
     "directory of NNN_*.sql migrations; empty uses the source tree's sql/migrations"},
    {"reservation_ttl_s", CFG_INT, OFF(reservation_ttl_s), "86400", 60, 2592000, NULL, NULL, "S",
     "stock reserved for an approved requisition is released after this many seconds"},
    {"disbursement_ttl_s", CFG_INT, OFF(disbursement_ttl_s), "604800", 60, 7776000, NULL, NULL,
     "S", "an approved disbursement not posted within this many seconds expires"},
    {"emergency_max_hours", CFG_INT, OFF(emergency_max_hours), "168", 1, 720, NULL, NULL, "H",
     "longest an emergency activation may run from now (its default is 72 h, or this if less)"},
    {"max_call_bytes", CFG_INT, OFF(max_call_bytes), "67108864", 65536, 1073741824, NULL, NULL,
     "N", "memory one call may use for its request, rows and response; past it the call "
     "ends RESOURCE_EXHAUSTED"},
    {"max_calls_per_user", CFG_INT, OFF(max_calls_per_user), "2", 0, 256, NULL, NULL, "N",
     "calls one user may have running on the workers at once (past it RESOURCE_EXHAUSTED); "
     "0: no cap"},
    {"max_watches", CFG_INT, OFF(max_watches), "1000", 1, 100000, NULL, NULL, "N",
     "watch streams open at once in this process"},
    {"max_watches_per_user", CFG_INT, OFF(max_watches_per_user), "16", 1, 100000, NULL, NULL,
     "N", "watch streams one user may have open at once"},
    {"stream_queue_bytes", CFG_INT, OFF(stream_queue_bytes), "1048576", 1024, 67108864, NULL,
     NULL, "N", "messages a stream may hold for a client that does not read; past it the "
     "stream ends RESOURCE_EXHAUSTED"},
    {"watch_recheck_ms", CFG_INT, OFF(watch_recheck_ms), "5000", 100, 600000, NULL, NULL, "MS",
     "how often open watches re-check their user (revoked, deactivated, role or scope "
     "changed, token expired)"},
    {"keepalive_time_ms", CFG_INT, OFF(keepalive_time_ms), "60000", 1000, 86400000, NULL, NULL,
     "MS", "ping a connection after this long without traffic"},
    {"keepalive_timeout_ms", CFG_INT, OFF(keepalive_timeout_ms), "20000", 1000, 600000, NULL,
     NULL, "MS", "close a connection whose ping is not answered within this time"},
    {"max_connection_idle_ms", CFG_INT, OFF(max_connection_idle_ms), "900000", 0, 86400000,
     NULL, NULL, "MS", "close a connection without calls for this long (0: never)"},
    {"max_connection_age_ms", CFG_INT, OFF(max_connection_age_ms), "0", 0, 604800000, NULL,
     NULL, "MS", "ask clients to reconnect after this long, e.g. to rebalance (0: never)"},
    {"max_connection_age_grace_ms", CFG_INT, OFF(max_connection_age_grace_ms), "300000", 0,
     86400000, NULL, NULL, "MS", "calls still open at max_connection_age get this long"},
    {"max_concurrent_streams", CFG_INT, OFF(max_concurrent_streams), "100", 1, 10000, NULL,
     NULL, "N", "calls (streams) one connection may have open at once"},
    {"max_reflection_calls", CFG_INT, OFF(max_reflection_calls), "32", 1, 10000, NULL, NULL,
     "N", "reflection calls open at once in this process (they share the worker that answers "
     "health); past it RESOURCE_EXHAUSTED"},
    {"max_reflection_messages", CFG_INT, OFF(max_reflection_messages), "1000", 10, 1000000, NULL,
     NULL, "N", "messages one reflection call may send (walking every service takes a few "
     "dozen); past it RESOURCE_EXHAUSTED"},
    {"request_log_days", CFG_INT, OFF(request_log_days), "30", 1, 3650, NULL, NULL, "DAYS",
     "request ids and stored responses are kept this long; a retry after that runs again"},
    {"metrics_listen", CFG_STRING, OFF(metrics_listen), "", 0, 0, NULL, check_metrics_listen,
     "HOST:PORT", "Prometheus metrics at http://HOST:PORT/metrics; empty is off. No TLS, no "
     "auth: keep it on loopback (127.0.0.1:9464) or a private admin network"},
    {"timezone", CFG_STRING, OFF(timezone), "Asia/Shanghai", 0, 0, NULL, check_timezone, "ZONE",
     "the district's clock: IANA time zone of every database session, so today, expiry, "
     "periods and months follow it (timestamps on the wire stay RFC 3339 in UTC)"},
};
/* clang-format on */

#define NROWS (sizeof rows / sizeof rows[0])

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char **str_field(gs_config *cfg, const cfg_row *r)
{
    return (char **)((char *)cfg + r->offset);
}

static int *int_field(gs_config *cfg, const cfg_row *r)
{
    return (int *)((char *)cfg + r->offset);
}

static bool *bool_field(gs_config *cfg, const cfg_row *r)
{
    return (bool *)((char *)cfg + r->offset);
}

/* "token_keys" matches "token-keys" and "token_keys" (n bytes of s). */
static bool name_matches(const char *key, const char *s, size_t n)
{
    size_t i = 0;
    for (; i < n && key[i] != '\0'; i++) {
        char c = s[i] == '-' ? '_' : s[i];
        if (c != key[i])
            return false;
    }
    return i == n && key[i] == '\0';
}

static const cfg_row *find_row(const char *s, size_t n)
{
    for (size_t i = 0; i < NROWS; i++)
        if (name_matches(rows[i].name, s, n))
            return &rows[i];
    return NULL;
}

/* "--token-keys" */
static void flag_name(const cfg_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "--%s", r->name);
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '_')
            *p = '-';
}

/* "GRIDSTOCKD_TOKEN_KEYS" */
static void env_name(const char *key, char *buf, size_t len)
{
    snprintf(buf, len, ENV_PREFIX "%s", key);
    for (char *p = buf; *p != '\0'; p++)
        *p = (char)toupper((unsigned char)*p);
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

static int check_listen(const char *value, char *why, size_t whylen)
{
    if (strncmp(value, "unix:", 5) == 0 || strncmp(value, "unix-abstract:", 14) == 0) {
        if (strchr(value, ':')[1] == '\0')
            goto bad;
        return 0;
    }
    const char *colon = strrchr(value, ':');
    if (colon == NULL || colon == value || colon[1] == '\0')
        goto bad;
    if (value[0] == '[' && colon[-1] != ']')
        goto bad;
    long port = 0;
    for (const char *p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            goto bad;
        port = port * 10 + (*p - '0');
    }
    if (port > 65535)
        goto bad;
    return 0;
bad:
    snprintf(why, whylen, "expected HOST:PORT (port 0-65535) or unix:PATH, got \"%.64s\"", value);
    return -1;
}

/* Empty (off) or HOST:PORT; unix sockets are not offered for the admin endpoint. */
static int check_metrics_listen(const char *value, char *why, size_t whylen)
{
    if (*value == '\0')
        return 0;
    if (strncmp(value, "unix", 4) == 0) {
        snprintf(why, whylen, "expected HOST:PORT, got \"%.64s\"", value);
        return -1;
    }
    return check_listen(value, why, whylen);
}

/* An IANA zone name ("Asia/Shanghai", "UTC", "Etc/GMT-8"): letters, digits and _+- in
 * '/'-separated parts. The database checks that it knows the zone at connect. */
static int check_timezone(const char *value, char *why, size_t whylen)
{
    static const gs_charset zone = {GS_CS_UPPER | GS_CS_LOWER | GS_CS_DIGIT, "_+-/"};
    size_t n = strlen(value);
    bool ok = n > 0 && n < 64 && value[0] != '/' && value[n - 1] != '/' && !strstr(value, "//") &&
              gs_charset_find_bad(&zone, value) < 0;
    if (!ok) {
        snprintf(why, whylen, "expected an IANA time zone such as Asia/Shanghai, got \"%.64s\"",
                 value);
        return -1;
    }
    return 0;
}

static bool in_choices(const char *choices, const char *value)
{
    size_t n = strlen(value);
    const char *p = choices;
    while (*p != '\0') {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, value, n) == 0)
            return true;
        p += len + (bar != NULL ? 1 : 0);
    }
    return false;
}

/* Parses `value` for row r into cfg; `where` names the source for messages ("--workers",
 * "GRIDSTOCKD_WORKERS", "config file F line 3: workers"). Values of free-form strings are
 * never echoed (a conninfo may hold a password). */
static int set_value(gs_config *cfg, const cfg_row *r, const char *value, const char *where,
                     char *err, size_t errlen)
{
    switch (r->type) {
    case CFG_INT: {
        const char *p = value;
        if (*p == '-' || *p == '+')
            p++;
        if (*p < '0' || *p > '9') {
            set_err(err, errlen, "%s: expected an integer, got \"%.64s\"", where, value);
            return -1;
        }
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (*end != '\0') {
            set_err(err, errlen, "%s: expected an integer, got \"%.64s\"", where, value);
            return -1;
        }
        if (errno == ERANGE || v < r->min || v > r->max) {
            set_err(err, errlen, "%s: must be between %ld and %ld, got %.64s", where, r->min,
                    r->max, value);
            return -1;
        }
        *int_field(cfg, r) = (int)v;
        return 0;
    }
    case CFG_BOOL:
        if (parse_bool(value, bool_field(cfg, r)) != 0) {
            set_err(err, errlen,
                    "%s: expected true or false (or yes/no, on/off, 1/0), got \"%.64s\"", where,
                    value);
            return -1;
        }
        return 0;
    case CFG_STRING: {
        if (r->choices != NULL && !in_choices(r->choices, value)) {
            set_err(err, errlen, "%s: must be one of %s, got \"%.64s\"", where, r->choices, value);
            return -1;
        }
        char why[160];
        if (r->check != NULL && r->check(value, why, sizeof why) != 0) {
            set_err(err, errlen, "%s: %s", where, why);
            return -1;
        }
        char *copy = strdup(value);
        if (copy == NULL) {
            set_err(err, errlen, "%s: out of memory", where);
            return -1;
        }
        char **field = str_field(cfg, r);
        free(*field);
        *field = copy;
        return 0;
    }
    }
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        e--;
    *e = '\0';
    return s;
}

/* Reads "key = value" lines: '#' starts a comment (outside quotes), values may be quoted
 * with "..." or '...'; unknown and repeated keys are errors. */
static int load_file(gs_config *cfg, const char *path, char *err, size_t errlen)
{
    int seen[NROWS] = {0};
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = -1;
    char where[512];

    FILE *f = fopen(path, "r");
    if (f == NULL) {
        set_err(err, errlen, "config file %s: %s", path, strerror(errno));
        return -1;
    }
    while (getline(&line, &cap, f) != -1) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            set_err(err, errlen, "config file %s line %d: expected \"key = value\"", path, lineno);
            goto out;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        const cfg_row *r = find_row(key, strlen(key));
        if (r == NULL) {
            set_err(err, errlen, "config file %s line %d: unknown key \"%.64s\"", path, lineno,
                    key);
            goto out;
        }
        size_t idx = (size_t)(r - rows);
        if (seen[idx] != 0) {
            set_err(err, errlen, "config file %s line %d: %s set again (first on line %d)", path,
                    lineno, r->name, seen[idx]);
            goto out;
        }
        seen[idx] = lineno;
        if (*value == '"' || *value == '\'') {
            char *close = strchr(value + 1, *value);
            if (close == NULL) {
                set_err(err, errlen, "config file %s line %d: %s: unterminated quote", path, lineno,
                        r->name);
                goto out;
            }
            char *rest = trim(close + 1);
            if (*rest != '\0' && *rest != '#') {
                set_err(err, errlen, "config file %s line %d: %s: text after the closing quote",
                        path, lineno, r->name);
                goto out;
            }
            *close = '\0';
            value++;
        } else {
            for (char *p = value; *p != '\0'; p++) {
                if (*p == '#' && (p == value || p[-1] == ' ' || p[-1] == '\t')) {
                    *p = '\0';
                    value = trim(value);
                    break;
                }
            }
        }
        snprintf(where, sizeof where, "config file %s line %d: %s", path, lineno, r->name);
        if (set_value(cfg, r, value, where, err, errlen) != 0)
            goto out;
    }
    if (ferror(f)) {
        set_err(err, errlen, "config file %s: read error", path);
        goto out;
    }
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

static int load_env(gs_config *cfg, char *err, size_t errlen)
{
    char name[128];
    for (size_t i = 0; i < NROWS; i++) {
        env_name(rows[i].name, name, sizeof name);
        const char *v = getenv(name);
        if (v != NULL && set_value(cfg, &rows[i], v, name, err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int set_defaults(gs_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->config_file = strdup("");
    if (cfg->config_file == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < NROWS; i++) {
        char where[64];
        snprintf(where, sizeof where, "default of %s", rows[i].name);
        if (set_value(cfg, &rows[i], rows[i].def, where, err, errlen) != 0)
            return -1;
    }
    return 0;
}

typedef struct pending {
    const cfg_row *row;
    const char *value;
    const char *flag; /* argv word, for messages */
} pending;

int gs_config_load_ex(gs_config *cfg, int argc, char **argv, int *argi,
                      const char *const *extra_flags, const char **extra_values, char *err,
                      size_t errlen)
{
    pending *todo = NULL;
    size_t ntodo = 0;
    const char *config_path = NULL;
    int rc = -1;
    int i = *argi;

    if (set_defaults(cfg, err, errlen) != 0)
        return -1;
    for (size_t e = 0; extra_flags != NULL && extra_flags[e] != NULL; e++)
        extra_values[e] = NULL;
    todo = calloc((size_t)(argc > 0 ? argc : 1), sizeof *todo);
    if (todo == NULL) {
        set_err(err, errlen, "out of memory");
        return -1;
    }

    /* pass 1: flags are recognised and kept, so the file and environment go first */
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            gs_config_help(stdout);
            rc = 1;
            goto out;
        }
        if (strcmp(a, "--version") == 0) {
            printf("gridstockd %s\n", GS_VERSION);
            rc = 1;
            goto out;
        }
        if (a[0] != '-' || a[1] == '\0')
            break; /* a subcommand or positional argument */
        if (a[1] != '-') {
            set_err(err, errlen, "unknown option \"%.64s\" (see --help)", a);
            goto out;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t namelen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const char *value = eq != NULL ? eq + 1 : NULL;

        const cfg_row *r = find_row(name, namelen);
        bool is_config = name_matches("config", name, namelen);
        size_t extra = SIZE_MAX; /* index into extra_flags, which are matched exactly */
        for (size_t e = 0; r == NULL && !is_config && extra_flags != NULL && extra_flags[e]; e++)
            if (strlen(extra_flags[e]) == namelen && strncmp(extra_flags[e], name, namelen) == 0)
                extra = e;
        if (r == NULL && !is_config && extra == SIZE_MAX) {
            set_err(err, errlen, "unknown option \"--%.*s\" (see --help)", (int)namelen, name);
            goto out;
        }
        if (value == NULL && r != NULL && r->type == CFG_BOOL) {
            /* --insecure alone means true; "--migrate false" takes the next word */
            bool ignored;
            if (i + 1 < argc && parse_bool(argv[i + 1], &ignored) == 0)
                value = argv[++i];
            else
                value = "true";
        } else if (value == NULL) {
            if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
                set_err(err, errlen, "--%.*s: missing value", (int)namelen, name);
                goto out;
            }
            value = argv[++i];
        }
        if (is_config)
            config_path = value;
        else if (extra != SIZE_MAX)
            extra_values[extra] = value;
        else
            todo[ntodo++] = (pending){r, value, a};
    }

    if (config_path == NULL)
        config_path = getenv(ENV_PREFIX "CONFIG");
    if (config_path != NULL && config_path[0] != '\0') {
        char *copy = strdup(config_path);
        if (copy == NULL) {
            set_err(err, errlen, "out of memory");
            goto out;
        }
        free(cfg->config_file);
        cfg->config_file = copy;
        if (load_file(cfg, config_path, err, errlen) != 0)
            goto out;
    }
    if (load_env(cfg, err, errlen) != 0)
        goto out;
    for (size_t t = 0; t < ntodo; t++) {
        char where[80];
        flag_name(todo[t].row, where, sizeof where);
        if (set_value(cfg, todo[t].row, todo[t].value, where, err, errlen) != 0)
            goto out;
    }
    rc = 0;
out:
    *argi = i;
    free(todo);
    return rc;
}

int gs_config_load(gs_config *cfg, int argc, char **argv, int *argi, char *err, size_t errlen)
{
    return gs_config_load_ex(cfg, argc, argv, argi, NULL, NULL, err, errlen);
}

static void print_default(FILE *out, const cfg_row *r)
{
    if (r->type == CFG_STRING && r->def[0] == '\0')
        fputs("\"\"", out);
    else
        fputs(r->def, out);
}

void gs_config_help(FILE *out)
{
    fputs(
        "usage: gridstockd [COMMAND] [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  serve                            run the server (the default)\n"
        "  migrate                          apply pending SQL migrations and exit\n"
        "  token keygen [--kid K]           print a new keyring line \"<kid> <hex secret>\"\n"
        "  token issue --login L [--ttl S]  print a signed bearer token for user L\n"
        "  check                            validate the configuration and exit\n"
        "  audit seal                       seal the unsealed audit rows now (needs audit_keys)\n"
        "  audit checkpoint                 verify the audit chain and print its head\n"
        "  audit verify [--checkpoint FILE] verify the audit chain, from a kept head if given\n"
        "  config sample                    print a sample configuration file\n"
        "  --version                        print the version and exit\n"
        "  --help, -h                       print this help and exit\n"
        "\n"
        "options (precedence: default < config file < environment < flag):\n"
        "  --config FILE  (env GRIDSTOCKD_CONFIG)\n"
        "      read \"key = value\" lines from FILE; keys are the option names with '_' for '-'\n",
        out);
    for (size_t i = 0; i < NROWS; i++) {
        const cfg_row *r = &rows[i];
        char flag[64], env[96];
        flag_name(r, flag, sizeof flag);
        env_name(r->name, env, sizeof env);
        fprintf(out, "  %s%s%s  (env %s, default ", flag, r->type == CFG_BOOL ? "" : " ", r->arg,
                env);
        print_default(out, r);
        if (r->type == CFG_INT)
            fprintf(out, ", %ld..%ld", r->min, r->max);
        else if (r->choices != NULL)
            fprintf(out, ", one of %s", r->choices);
        fprintf(out, ")\n      %s\n", r->help);
    }
}

void gs_config_sample(FILE *out)
{
    fputs("# gridstockd configuration (output of `gridstockd config sample`).\n"
          "# Lines are \"key = value\"; '#' starts a comment; values may be quoted.\n"
          "# Every key is also a flag (--key-name) and an environment variable\n"
          "# (GRIDSTOCKD_KEY_NAME). Precedence: default < this file < environment < flag.\n"
          "# Pass the file with --config FILE or GRIDSTOCKD_CONFIG=FILE.\n",
          out);
    for (size_t i = 0; i < NROWS; i++) {
        const cfg_row *r = &rows[i];
        fprintf(out, "\n# %s", r->help);
        if (r->type == CFG_INT)
            fprintf(out, " (%ld..%ld)", r->min, r->max);
        else if (r->choices != NULL)
            fprintf(out, " (%s)", r->choices);
        fprintf(out, "\n# %s = ", r->name);
        print_default(out, r);
        fputc('\n', out);
    }
}

void gs_config_free(gs_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->config_file);
    cfg->config_file = NULL;
    for (size_t i = 0; i < NROWS; i++) {
        if (rows[i].type == CFG_STRING) {
            char **field = str_field(cfg, &rows[i]);
            free(*field);
            *field = NULL;
        }
    }
}
