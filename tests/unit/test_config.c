/* test_config.c — unit tests for server/config.c: defaults, precedence (default < file <
 * environment < flag), value checks naming key and source, --help, and the committed
 * etc/gridstockd.conf.sample (found via $GS_SOURCE_DIR, else relative to this file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

extern char **environ;

/* Every key of gs_config; the table in config.c must document exactly these. */
static const char *const keys[] = {
    "listen",
    "workers",
    "db",
    "db_read",
    "max_message_bytes",
    "tls_cert",
    "tls_key",
    "tls_client_ca",
    "tls_client_is_user",
    "insecure",
    "token_keys",
    "audit_keys",
    "household_keys",
    "grace_ms",
    "statement_timeout_ms",
    "log_format",
    "log_level",
    "migrate",
    "sql_dir",
    "reservation_ttl_s",
    "disbursement_ttl_s",
    "emergency_max_hours",
    "max_call_bytes",
    "max_calls_per_user",
    "max_watches",
    "max_watches_per_user",
    "stream_queue_bytes",
    "watch_recheck_ms",
    "keepalive_time_ms",
    "keepalive_timeout_ms",
    "max_connection_idle_ms",
    "max_connection_age_ms",
    "max_connection_age_grace_ms",
    "max_concurrent_streams",
    "max_reflection_calls",
    "max_reflection_messages",
    "request_log_days",
    "metrics_listen",
    "timezone",
    NULL,
};

static char tmpfile_path[64];

/* Removes every GRIDSTOCKD_* variable so the tests see only what they set. */
static void clear_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "GRIDSTOCKD_", 11) == 0) {
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)n, *e);
                break;
            }
        }
        if (name[0] == '\0')
            return;
        unsetenv(name);
    }
}

static int setup(void **state)
{
    (void)state;
    clear_env();
    tmpfile_path[0] = '\0';
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    if (tmpfile_path[0] != '\0')
        unlink(tmpfile_path);
    return 0;
}

static const char *write_file(const char *text)
{
    snprintf(tmpfile_path, sizeof tmpfile_path, "/tmp/test_config_XXXXXX");
    int fd = mkstemp(tmpfile_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return tmpfile_path;
}

/* Loads from a NULL-terminated list of arguments (after the program name). */
static int load_args(gs_config *cfg, char *err, size_t errlen, int *argi_out, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "gridstockd";
    va_list ap;
    va_start(ap, argi_out);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    int argi = 1;
    err[0] = '\0';
    int rc = gs_config_load(cfg, argc, argv, &argi, err, errlen);
    if (argi_out != NULL)
        *argi_out = argi;
    return rc;
}

#define LOAD(cfg, err, ...) load_args(cfg, err, sizeof err, NULL, __VA_ARGS__, (char *)NULL)

static void expect_error(const char *needle, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "gridstockd";
    va_list ap;
    va_start(ap, needle);
    for (char *a; (a = va_arg(ap, char *)) != NULL;)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    gs_config cfg;
    char err[512] = "";
    int argi = 1;
    int rc = gs_config_load(&cfg, argc, argv, &argi, err, sizeof err);
    print_message("error: %s\n", err);
    gs_config_free(&cfg);
    assert_int_equal(rc, -1);
    if (strstr(err, needle) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", needle, err);
}

#define EXPECT_ERROR(needle, ...) expect_error(needle, __VA_ARGS__, (char *)NULL)

static void assert_defaults(const gs_config *c)
{
    assert_string_equal(c->config_file, "");
    assert_string_equal(c->listen, "127.0.0.1:50051");
    assert_int_equal(c->workers, 4);
    assert_string_equal(c->db, "");
    assert_int_equal(c->max_message_bytes, 4194304);
    assert_string_equal(c->tls_cert, "");
    assert_string_equal(c->tls_key, "");
    assert_string_equal(c->tls_client_ca, "");
    assert_false(c->insecure);
    assert_string_equal(c->token_keys, "");
    assert_int_equal(c->grace_ms, 5000);
    assert_int_equal(c->statement_timeout_ms, 10000);
    assert_string_equal(c->log_format, "kv");
    assert_string_equal(c->log_level, "info");
    assert_true(c->migrate);
    assert_string_equal(c->sql_dir, "");
    assert_int_equal(c->reservation_ttl_s, 86400);
    assert_int_equal(c->disbursement_ttl_s, 604800);
    assert_string_equal(c->timezone, "Asia/Shanghai");
}

static void test_defaults(void **state)
{
    (void)state;
    gs_config c;
    char err[256];
    int argi = 0;
    assert_int_equal(load_args(&c, err, sizeof err, &argi, (char *)NULL), 0);
    assert_int_equal(argi, 1);
    assert_defaults(&c);
    gs_config_free(&c);
    gs_config_free(&c); /* idempotent */
}

static void test_flag_forms(void **state)
{
    (void)state;
    gs_config c;
    char err[256];
    assert_int_equal(LOAD(&c, err, "--workers", "8", "--token-keys=/etc/keys", "--db",
                          "host=/tmp dbname=x", "--log-format=json", "--log-level", "warn",
                          "--listen", "0.0.0.0:0", "--max-message-bytes=1024",
                          "--statement_timeout_ms", "100", "--sql-dir", "/s", "--tls-cert", "c.pem",
                          "--tls-key", "k.pem", "--tls-client-ca", "ca.pem", "--grace-ms", "0",
                          "--reservation-ttl-s", "60", "--disbursement-ttl-s", "7776000"),
                     0);
    assert_int_equal(c.workers, 8);
    assert_string_equal(c.token_keys, "/etc/keys");
    assert_string_equal(c.db, "host=/tmp dbname=x");
    assert_string_equal(c.log_format, "json");
    assert_string_equal(c.log_level, "warn");
    assert_string_equal(c.listen, "0.0.0.0:0");
    assert_int_equal(c.max_message_bytes, 1024);
    assert_int_equal(c.statement_timeout_ms, 100);
    assert_string_equal(c.sql_dir, "/s");
    assert_string_equal(c.tls_cert, "c.pem");
    assert_string_equal(c.tls_key, "k.pem");
    assert_string_equal(c.tls_client_ca, "ca.pem");
    assert_int_equal(c.grace_ms, 0);
    assert_int_equal(c.reservation_ttl_s, 60);
    assert_int_equal(c.disbursement_ttl_s, 7776000);
    gs_config_free(&c);

    /* the last of repeated flags wins; --db= sets the empty string */
    assert_int_equal(LOAD(&c, err, "--workers", "2", "--workers=3", "--db=x", "--db="), 0);
    assert_int_equal(c.workers, 3);
    assert_string_equal(c.db, "");
    gs_config_free(&c);

    /* listen forms */
    static const char *const good[] = {"[::1]:50051", "[::]:0", "localhost:1", "unix:/tmp/gs.sock",
                                       NULL};
    for (int i = 0; good[i] != NULL; i++) {
        assert_int_equal(LOAD(&c, err, "--listen", good[i]), 0);
        assert_string_equal(c.listen, good[i]);
        gs_config_free(&c);
    }
}

static void test_bools(void **state)
{
    (void)state;
    gs_config c;
    char err[256];
    int argi = 0;

    assert_int_equal(LOAD(&c, err, "--insecure"), 0);
    assert_true(c.insecure);
    gs_config_free(&c);
    static const char *const yes[] = {"true", "1", "yes", "on", "TRUE", NULL};
    static const char *const no[] = {"false", "0", "no", "off", "No", NULL};
    for (int i = 0; yes[i] != NULL; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--insecure=%s", yes[i]);
        assert_int_equal(LOAD(&c, err, flag), 0);
        assert_true(c.insecure);
        gs_config_free(&c);
        assert_int_equal(LOAD(&c, err, "--migrate", no[i]), 0);
        assert_false(c.migrate);
        gs_config_free(&c);
    }
    /* a bool flag does not swallow a following subcommand */
    assert_int_equal(load_args(&c, err, sizeof err, &argi, "--insecure", "serve", (char *)NULL), 0);
    assert_true(c.insecure);
    assert_int_equal(argi, 2);
    gs_config_free(&c);

    setenv("GRIDSTOCKD_INSECURE", "yes", 1);
    setenv("GRIDSTOCKD_MIGRATE", "off", 1);
    assert_int_equal(LOAD(&c, err, "--workers", "4"), 0);
    assert_true(c.insecure);
    assert_false(c.migrate);
    gs_config_free(&c);
    /* flag beats environment */
    assert_int_equal(LOAD(&c, err, "--insecure=false", "--migrate"), 0);
    assert_false(c.insecure);
    assert_true(c.migrate);
    gs_config_free(&c);
    clear_env();

    EXPECT_ERROR("--insecure: expected true or false", "--insecure=maybe");
    EXPECT_ERROR("--migrate: expected true or false", "--migrate=");
    setenv("GRIDSTOCKD_MIGRATE", "sometimes", 1);
    EXPECT_ERROR("GRIDSTOCKD_MIGRATE: expected true or false", "--workers", "4");
}

static void test_precedence(void **state)
{
    (void)state;
    gs_config c;
    char err[512];
    const char *path = write_file("# test file\n"
                                  "workers = 8\n"
                                  "db = \"dbname=file\"\n"
                                  "log_level = debug   # trailing comment\n"
                                  "  grace_ms=250\n"
                                  "sql_dir = '/with space/#not a comment'\n"
                                  "listen = 0.0.0.0:7000\n"
                                  "tls_cert = cert#kept.pem\n"
                                  "token-keys = /k\n");
    /* file alone */
    assert_int_equal(LOAD(&c, err, "--config", path), 0);
    assert_string_equal(c.config_file, path);
    assert_int_equal(c.workers, 8);
    assert_string_equal(c.db, "dbname=file");
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.grace_ms, 250);
    assert_string_equal(c.sql_dir, "/with space/#not a comment");
    assert_string_equal(c.listen, "0.0.0.0:7000");
    assert_string_equal(c.tls_cert, "cert#kept.pem");
    assert_string_equal(c.token_keys, "/k");
    assert_int_equal(c.max_message_bytes, 4194304);
    gs_config_free(&c);

    /* environment over file, flag over environment */
    setenv("GRIDSTOCKD_WORKERS", "9", 1);
    setenv("GRIDSTOCKD_DB", "dbname=env", 1);
    setenv("GRIDSTOCKD_TOKEN_KEYS", "/env-keys", 1);
    assert_int_equal(LOAD(&c, err, "--workers", "10", "--config", path), 0);
    assert_int_equal(c.workers, 10);         /* flag */
    assert_string_equal(c.db, "dbname=env"); /* env over file */
    assert_string_equal(c.token_keys, "/env-keys");
    assert_string_equal(c.log_level, "debug");      /* file over default */
    assert_int_equal(c.max_message_bytes, 4194304); /* default */
    gs_config_free(&c);

    /* the file named by GRIDSTOCKD_CONFIG */
    clear_env();
    setenv("GRIDSTOCKD_CONFIG", path, 1);
    assert_int_equal(LOAD(&c, err, "--grace-ms", "1"), 0);
    assert_int_equal(c.workers, 8);
    assert_int_equal(c.grace_ms, 1);
    assert_string_equal(c.config_file, path);
    gs_config_free(&c);
    /* --config beats GRIDSTOCKD_CONFIG */
    setenv("GRIDSTOCKD_CONFIG", "/nonexistent/gridstockd.conf", 1);
    assert_int_equal(LOAD(&c, err, "--config", path), 0);
    assert_int_equal(c.workers, 8);
    gs_config_free(&c);
    /* an empty --config means no file, even when GRIDSTOCKD_CONFIG names one */
    assert_int_equal(LOAD(&c, err, "--config="), 0);
    assert_int_equal(c.workers, 4);
    assert_string_equal(c.config_file, "");
    gs_config_free(&c);
    EXPECT_ERROR("config file /nonexistent/gridstockd.conf: No such file", "--workers", "2");
}

static void expect_file_error(const char *text, const char *needle)
{
    const char *path = write_file(text);
    char want[512];
    snprintf(want, sizeof want, "config file %s %s", path, needle);
    EXPECT_ERROR(want, "--config", path);
    unlink(path);
    tmpfile_path[0] = '\0';
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("workers = 4\n\nfoo = 1\n", "line 3: unknown key \"foo\"");
    expect_file_error("workers 4\n", "line 1: expected \"key = value\"");
    expect_file_error("workers = 0\n", "line 1: workers: must be between 1 and 256, got 0");
    expect_file_error("workers = 4\n#\nworkers = 5\n",
                      "line 3: workers set again (first on line 1)");
    expect_file_error("db = \"abc\n", "line 1: db: unterminated quote");
    expect_file_error("db = \"abc\" x\n", "line 1: db: text after the closing quote");
    expect_file_error("log_format = xml\n", "line 1: log_format: must be one of kv|json");
    expect_file_error("config = /etc/other\n", "line 1: unknown key \"config\"");
}

static void test_bounds_and_values(void **state)
{
    (void)state;
    EXPECT_ERROR("--workers: must be between 1 and 256, got 0", "--workers", "0");
    EXPECT_ERROR("--workers: must be between 1 and 256, got 257", "--workers=257");
    EXPECT_ERROR("--workers: must be between 1 and 256, got -1", "--workers=-1");
    EXPECT_ERROR("--workers: must be between 1 and 256, got 99999999999999999999",
                 "--workers=99999999999999999999");
    EXPECT_ERROR("--workers: expected an integer, got \"abc\"", "--workers", "abc");
    EXPECT_ERROR("--workers: expected an integer, got \"4x\"", "--workers", "4x");
    EXPECT_ERROR("--workers: expected an integer, got \" 4\"", "--workers", " 4");
    EXPECT_ERROR("--workers: expected an integer, got \"\"", "--workers=");
    EXPECT_ERROR("--max-message-bytes: must be between 1024 and 67108864, got 1023",
                 "--max-message-bytes", "1023");
    EXPECT_ERROR("--grace-ms: must be between 0 and 600000", "--grace-ms", "600001");
    EXPECT_ERROR("--statement-timeout-ms: must be between 100 and 3600000",
                 "--statement-timeout-ms", "99");
    EXPECT_ERROR("--reservation-ttl-s: must be between 60 and 2592000", "--reservation-ttl-s",
                 "59");
    EXPECT_ERROR("--disbursement-ttl-s: must be between 60 and 7776000", "--disbursement-ttl-s",
                 "7776001");
    EXPECT_ERROR("--log-format: must be one of kv|json, got \"xml\"", "--log-format", "xml");
    EXPECT_ERROR("--log-level: must be one of debug|info|warn|error, got \"trace\"", "--log-level",
                 "trace");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", "localhost");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", "localhost:65536");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", ":50051");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", "host:");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", "host:12a");
    EXPECT_ERROR("--listen: expected HOST:PORT", "--listen", "unix:");
    EXPECT_ERROR("--timezone: expected an IANA time zone", "--timezone", "../etc/passwd");
    EXPECT_ERROR("--timezone: expected an IANA time zone", "--timezone", "/Asia/Shanghai");
    EXPECT_ERROR("--timezone: expected an IANA time zone", "--timezone", "Asia Shanghai");
    EXPECT_ERROR("--timezone: expected an IANA time zone", "--timezone=");

    setenv("GRIDSTOCKD_WORKERS", "0", 1);
    EXPECT_ERROR("GRIDSTOCKD_WORKERS: must be between 1 and 256, got 0", "--db", "x");
    /* a valid flag does not excuse a bad environment variable */
    EXPECT_ERROR("GRIDSTOCKD_WORKERS: must be between 1 and 256, got 0", "--workers", "3");
    clear_env();
    setenv("GRIDSTOCKD_LOG_LEVEL", "loud", 1);
    EXPECT_ERROR("GRIDSTOCKD_LOG_LEVEL: must be one of", "--workers", "3");
}

static void test_unknown_and_missing(void **state)
{
    (void)state;
    EXPECT_ERROR("unknown option \"--foo\"", "--foo", "1");
    EXPECT_ERROR("unknown option \"--foo\"", "--foo=1");
    EXPECT_ERROR("unknown option \"-x\"", "-x");
    EXPECT_ERROR("unknown option \"--login\"", "--login", "admin");
    EXPECT_ERROR("--db: missing value", "--db");
    EXPECT_ERROR("--db: missing value", "--db", "--workers", "3");
    EXPECT_ERROR("--config: missing value", "--config");
}

static void test_stops_at_positional(void **state)
{
    (void)state;
    gs_config c;
    char err[256];
    int argi = 0;
    assert_int_equal(
        load_args(&c, err, sizeof err, &argi, "--workers", "3", "migrate", "--bogus", (char *)NULL),
        0);
    assert_int_equal(argi, 3);
    assert_int_equal(c.workers, 3);
    gs_config_free(&c);
    /* "--" ends the options and is skipped */
    assert_int_equal(
        load_args(&c, err, sizeof err, &argi, "--workers", "5", "--", "--db", (char *)NULL), 0);
    assert_int_equal(argi, 4);
    assert_int_equal(c.workers, 5);
    assert_string_equal(c.db, "");
    gs_config_free(&c);
    /* a lone "-" is an argument */
    assert_int_equal(load_args(&c, err, sizeof err, &argi, "-", (char *)NULL), 0);
    assert_int_equal(argi, 1);
    gs_config_free(&c);
}

static void test_extra_flags(void **state)
{
    (void)state;
    /* gridstockd token issue --login x --ttl=60 --db d: main consumes "token issue" */
    char *argv[] = {"gridstockd", "token", "issue", "--login", "x", "--ttl=60", "--db", "d", NULL};
    int argc = 8;
    static const char *const extra[] = {"login", "ttl", "kid", NULL};
    const char *vals[3] = {"stale", "stale", "stale"};
    gs_config c;
    char err[256] = "";
    int argi = 3;
    assert_int_equal(gs_config_load_ex(&c, argc, argv, &argi, extra, vals, err, sizeof err), 0);
    assert_int_equal(argi, argc);
    assert_string_equal(vals[0], "x");
    assert_string_equal(vals[1], "60");
    assert_null(vals[2]);
    assert_string_equal(c.db, "d");
    gs_config_free(&c);

    /* extra flags need a value; other unknown flags are still errors */
    char *argv2[] = {"gridstockd", "--ttl", NULL};
    argi = 1;
    assert_int_equal(gs_config_load_ex(&c, 2, argv2, &argi, extra, vals, err, sizeof err), -1);
    assert_non_null(strstr(err, "--ttl: missing value"));
    gs_config_free(&c);
    char *argv3[] = {"gridstockd", "--login", "x", "--bogus", "1", NULL};
    argi = 1;
    assert_int_equal(gs_config_load_ex(&c, 5, argv3, &argi, extra, vals, err, sizeof err), -1);
    assert_non_null(strstr(err, "unknown option \"--bogus\""));
    gs_config_free(&c);
}

static char *capture(void (*fn)(FILE *))
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f);
    fclose(f);
    return buf;
}

static void test_help(void **state)
{
    (void)state;
    char *help = capture(gs_config_help);
    for (int i = 0; keys[i] != NULL; i++) {
        char flag[64], env[96];
        snprintf(flag, sizeof flag, "--%s", keys[i]);
        for (char *p = flag; *p; p++)
            if (*p == '_')
                *p = '-';
        snprintf(env, sizeof env, "GRIDSTOCKD_%s", keys[i]);
        for (char *p = env; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        if (strstr(help, flag) == NULL || strstr(help, env) == NULL)
            fail_msg("--help lacks %s / %s", flag, env);
    }
    static const char *const words[] = {"serve",
                                        "migrate",
                                        "token keygen",
                                        "token issue",
                                        "--login",
                                        "--ttl",
                                        "check",
                                        "config sample",
                                        "--version",
                                        "--config",
                                        "GRIDSTOCKD_CONFIG",
                                        "default 127.0.0.1:50051",
                                        "1..256",
                                        NULL};
    for (int i = 0; words[i] != NULL; i++)
        if (strstr(help, words[i]) == NULL)
            fail_msg("--help lacks \"%s\"", words[i]);
    free(help);

    /* --help and -h through the loader print to stdout and return 1 */
    fflush(stdout);
    int saved = dup(1);
    FILE *devnull = fopen("/dev/null", "w");
    dup2(fileno(devnull), 1);
    gs_config c;
    char err[64];
    int rc1 = LOAD(&c, err, "--workers", "3", "--help");
    gs_config_free(&c);
    int rc2 = LOAD(&c, err, "-h");
    gs_config_free(&c);
    int rc3 = LOAD(&c, err, "--version");
    gs_config_free(&c);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(devnull);
    assert_int_equal(rc1, 1);
    assert_int_equal(rc2, 1);
    assert_int_equal(rc3, 1);
}

static void test_sample(void **state)
{
    (void)state;
    char *sample = capture(gs_config_sample);
    /* every key, commented out with its default, and nothing else */
    int nkeys = 0;
    for (int i = 0; keys[i] != NULL; i++, nkeys++) {
        char line[96];
        snprintf(line, sizeof line, "\n# %s = ", keys[i]);
        if (strstr(sample, line) == NULL)
            fail_msg("sample lacks \"%s\"", line + 1);
    }
    int nassign = 0;
    for (const char *p = sample; (p = strstr(p, "\n# ")) != NULL; p++) {
        size_t w = strspn(p + 3, "abcdefghijklmnopqrstuvwxyz_");
        if (w > 0 && strncmp(p + 3 + w, " = ", 3) == 0)
            nassign++;
    }
    assert_int_equal(nassign, nkeys);

    /* uncommented, the sample is a valid file that yields the defaults */
    size_t n = strlen(sample);
    char *uncommented = malloc(n + 1);
    char *o = uncommented;
    for (const char *line = sample; *line != '\0';) {
        const char *eol = strchr(line, '\n');
        size_t len = eol != NULL ? (size_t)(eol - line + 1) : strlen(line);
        for (int i = 0; keys[i] != NULL; i++) {
            size_t kl = strlen(keys[i]);
            if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, keys[i], kl) == 0 &&
                strncmp(line + 2 + kl, " = ", 3) == 0) {
                line += 2; /* uncomment "# key = default" */
                len -= 2;
                break;
            }
        }
        memcpy(o, line, len);
        o += len;
        line += len;
    }
    *o = '\0';
    const char *path = write_file(uncommented);
    free(uncommented);
    gs_config c;
    char err[512];
    if (LOAD(&c, err, "--config", path) != 0)
        fail_msg("uncommented sample: %s", err);
    c.config_file[0] = '\0';
    assert_defaults(&c);
    gs_config_free(&c);

    /* the committed etc/gridstockd.conf.sample is current */
    char file[1024];
    const char *src = getenv("GS_SOURCE_DIR");
    if (src != NULL && src[0] != '\0') {
        snprintf(file, sizeof file, "%s/etc/gridstockd.conf.sample", src);
    } else {
        const char *me = __FILE__;
        const char *tail = strstr(me, "tests/unit/test_config.c");
        assert_non_null(tail);
        snprintf(file, sizeof file, "%.*setc/gridstockd.conf.sample", (int)(tail - me), me);
    }
    FILE *f = fopen(file, "r");
    if (f == NULL)
        fail_msg("cannot open %s (set GS_SOURCE_DIR)", file);
    char *committed = calloc(1, n + 2);
    size_t got = fread(committed, 1, n + 1, f);
    fclose(f);
    if (got != n || memcmp(committed, sample, n) != 0)
        fail_msg("%s is out of date: regenerate it with `gridstockd config sample > %s`", file,
                 file);
    free(committed);
    free(sample);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bools, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounds_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stops_at_positional, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
