/* main.c — gridstockd: subcommands (serve, migrate, token, check, config), signals, and
 * the start-up and shutdown order of the server. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_chain.h"
#include "config.h"
#include "db.h"
#include "dispatch.h"
#include "health.h"
#include "idempotency.h"
#include "listen.h"
#include "log.h"
#include "method.h"
#include "metrics.h"
#include "metrics_http.h"
#include "migrate.h"
#include "monitor.h"
#include "personal_id.h"
#include "reflection.h"
#include "rpc.h"
#include "services.h"
#include "tls_files.h"
#include "token.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static int die(const char *what, const char *msg)
{
    fprintf(stderr, "gridstockd: %s%s%s\n", what, *msg ? ": " : "", msg);
    return EXIT_FAIL;
}

static const char *sql_dir(const gs_config *cfg)
{
    return cfg->sql_dir && *cfg->sql_dir ? cfg->sql_dir : migrate_default_dir();
}

/* Plaintext is for loopback, unless --insecure says otherwise. Decided on the parsed
 * address: "localhost", an IPv4 address in 127.0.0.0/8, ::1 (or ::ffff:127.x), or a unix
 * socket; a host name that merely starts with "127." is not loopback. */
static bool loopback(const char *listen)
{
    if (strncmp(listen, "unix:", 5) == 0 || strncmp(listen, "unix-abstract:", 14) == 0)
        return true;
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return false;
    size_t n = (size_t)(colon - listen);
    if (listen[0] == '[') {
        if (n < 2 || listen[n - 1] != ']')
            return false;
        listen++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, listen, n);
    host[n] = '\0';
    if (strcasecmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return false;
}

static int cmd_migrate(const gs_config *cfg)
{
    char err[512];
    int n = migrate_run(cfg->db, sql_dir(cfg), err, sizeof err);
    if (n < 0)
        return die("migrate", err);
    log_event(LOG_INFO, "migrated", "applied", log_i64(n), "dir", sql_dir(cfg), NULL);
    return EXIT_OK;
}

static int cmd_keygen(const char *kid)
{
    char line[256];
    if (gs_keyring_generate_line(kid && *kid ? kid : "k1", line, sizeof line))
        return die("token keygen", "cannot generate a key (bad key id?)");
    fputs(line, stdout);
    return EXIT_OK;
}

static int cmd_issue(const gs_config *cfg, const char *login, const char *ttl_s)
{
    char err[512], row[256];
    if (!login || !*login)
        return die("token issue", "--login is required");
    long ttl = ttl_s ? strtol(ttl_s, NULL, 10) : 8 * 3600;
    if (ttl <= 0 || ttl > 366L * 86400)
        return die("token issue", "--ttl: seconds between 1 and 31622400");
    gs_keyring *keys = gs_keyring_load(cfg->token_keys, err, sizeof err);
    if (!keys)
        return die("token_keys", err);
    db *d = db_open(cfg->db);
    int rc = db_value(d,
                      "SELECT id || ' ' || role || ' ' || scope_id FROM users"
                      " WHERE login = $1 AND active",
                      login, row, sizeof row, err, sizeof err);
    db_close(d);
    if (rc != 0) {
        gs_keyring_free(keys);
        return die("token issue", rc > 0 ? "no active user with that login" : err);
    }
    gs_token_claims cl;
    memset(&cl, 0, sizeof cl);
    long long uid, scope;
    char role[33];
    if (sscanf(row, "%lld %32s %lld", &uid, role, &scope) != 3) {
        gs_keyring_free(keys);
        return die("token issue", "unexpected users row");
    }
    snprintf(cl.sub, sizeof cl.sub, "%s", login);
    snprintf(cl.role, sizeof cl.role, "%s", role);
    cl.uid = uid;
    cl.scope = scope;
    cl.iat = (int64_t)time(NULL);
    cl.exp = cl.iat + ttl;
    char *tok = NULL;
    rc = gs_token_sign(keys, &cl, &tok);
    gs_keyring_free(keys);
    if (rc)
        return die("token issue", "signing failed");
    printf("%s\n", tok);
    free(tok);
    return EXIT_OK;
}

/* ---- gridstockd check: one plain line per finding, "ok", "note" or "PROBLEM" ---- */

struct check_state {
    int problems;
};

static void finding(struct check_state *st, const char *tag, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void finding(struct check_state *st, const char *tag, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-8s%s: ", tag, what);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (strcmp(tag, "PROBLEM") == 0)
        st->problems++;
}

static void tls_finding(void *arg, bool ok, const char *key, const char *msg)
{
    finding(arg, ok ? "ok" : "PROBLEM", key, "%s", msg);
}

static bool set(const char *s)
{
    return s && *s;
}

/* The household keyring (personal_id.h): it parses and is not world-readable; which key
 * hashes and which older keys still match, how long ago the file changed; and, when the
 * database answers, how many households are hashed under each key since when. Households
 * under a key the keyring lacks are a problem: a second registration of their heads would
 * not be caught (docs/operations.md, "Rotating the household key"). */
static void household_keys_check(struct check_state *st, const gs_config *cfg, bool db_up)
{
    char err[512], kids[600] = "", usage[4096] = "", param[700];
    if (!set(cfg->household_keys)) {
        finding(st, "note", "household_keys",
                "not set: this server refuses to register households (docs/operations.md, "
                "\"Rotating the household key\")");
        return;
    }
    gs_keyring *k = gs_keyring_load(cfg->household_keys, err, sizeof err);
    if (!k) {
        finding(st, "PROBLEM", "household_keys", "%s", err);
        return;
    }
    if (secret_file_mode_check(cfg->household_keys, err, sizeof err)) {
        finding(st, "PROBLEM", "household_keys", "%s", err);
        gs_keyring_free(k);
        return;
    }
    size_t n = gs_keyring_count(k), o = 0;
    for (size_t i = 0; i < n && o < sizeof kids - 40; i++)
        o +=
            (size_t)snprintf(kids + o, sizeof kids - o, "%s%s", i ? "," : "", gs_keyring_kid(k, i));
    gs_keyring_free(k);
    struct stat sb;
    char age[64] = "";
    if (stat(cfg->household_keys, &sb) == 0)
        snprintf(age, sizeof age, ", file last changed %ld day(s) ago",
                 (long)((time(NULL) - sb.st_mtime) / 86400));
    finding(st, "ok", "household_keys", "%s: hashes with key \"%.*s\"%s%s%s%s", cfg->household_keys,
            (int)strcspn(kids, ","), kids, n > 1 ? " (older keys still matched: " : "",
            n > 1 ? kids + strcspn(kids, ",") + 1 : "", n > 1 ? ")" : "", age);
    if (!db_up)
        return;
    /* "<time zone>|<kid>,<kid>,...": one parameter is all db_value takes */
    snprintf(param, sizeof param, "%s|%s", cfg->timezone ? cfg->timezone : "UTC", kids);
    db *d = db_open(cfg->db);
    int rc =
        db_value(d,
                 "SELECT coalesce(string_agg(format('%s %s %s', id_kid, n, since), ';'"
                 " ORDER BY id_kid = split_part(split_part($1, '|', 2), ',', 1) DESC, n DESC), '')"
                 " FROM (SELECT id_kid, count(*) n, to_char(min(registered_at)"
                 " AT TIME ZONE split_part($1, '|', 1), 'YYYY-MM-DD') since"
                 " FROM households GROUP BY id_kid) x",
                 param, usage, sizeof usage, err, sizeof err);
    db_close(d);
    if (rc != 0)
        return; /* no register (an old schema): the schema finding says so */
    char known[4096] = "";
    size_t ko = 0;
    for (char *save = NULL, *row = strtok_r(usage, ";", &save); row;
         row = strtok_r(NULL, ";", &save)) {
        char kid[64], since[16];
        long long count;
        if (sscanf(row, "%63s %lld %15s", kid, &count, since) != 3)
            continue;
        char padded[sizeof kids + 2];
        snprintf(padded, sizeof padded, ",%s,", kids);
        char needle[70];
        snprintf(needle, sizeof needle, ",%s,", kid);
        if (strstr(padded, needle)) {
            if (ko < sizeof known - 100)
                ko += (size_t)snprintf(known + ko, sizeof known - ko,
                                       "%s%lld under \"%s\" (since %s)", ko ? ", " : "", count, kid,
                                       since);
        } else if (strcmp(kid, "demo") == 0) {
            /* sql/demo/075_households.sql: placeholder hashes under no real key */
            finding(st, "note", "household_keys",
                    "%lld demo household(s) with placeholder hashes (key \"demo\")", count);
        } else {
            finding(st, "PROBLEM", "household_keys",
                    "%lld household(s) are hashed under key \"%s\", which %s lacks: a second "
                    "registration of their heads is not caught; put the key back (after the "
                    "first)",
                    count, kid, cfg->household_keys);
        }
    }
    finding(st, "ok", "household_keys", "the register: %s",
            *known ? known : "no household hashed under these keys yet");
}

/* Verifies what a start needs and says what is wrong in plain words: configuration, token
 * keys, TLS files, the database and its schema version, the method table. */
static int cmd_check(const gs_config *cfg)
{
    struct check_state st = {0};
    char err[512], where[256];
    log_configure(cfg->log_format, "error"); /* findings go to stdout, not as log lines */

    finding(&st, "ok", "configuration", "%s",
            set(cfg->config_file) ? cfg->config_file
                                  : "defaults, environment and flags (no --config)");
    if (!set(cfg->token_keys)) {
        finding(&st, "PROBLEM", "token_keys",
                "not set: give --token-keys FILE (make one with "
                "`gridstockd token keygen`)");
    } else {
        gs_keyring *keys = gs_keyring_load(cfg->token_keys, err, sizeof err);
        if (!keys)
            finding(&st, "PROBLEM", "token_keys", "%s", err);
        else if (secret_file_mode_check(cfg->token_keys, err, sizeof err))
            finding(&st, "PROBLEM", "token_keys", "%s", err);
        else
            finding(&st, "ok", "token_keys",
                    "%s: keys of 256 bits or more, not readable by "
                    "every user",
                    cfg->token_keys);
        gs_keyring_free(keys);
    }

    if (!set(cfg->audit_keys)) {
        finding(&st, "note", "audit_keys",
                "not set: this server will not seal the audit log (docs/operations.md, "
                "\"The audit trail\")");
    } else {
        gs_keyring *akeys = gs_keyring_load(cfg->audit_keys, err, sizeof err);
        if (!akeys)
            finding(&st, "PROBLEM", "audit_keys", "%s", err);
        else if (secret_file_mode_check(cfg->audit_keys, err, sizeof err))
            finding(&st, "PROBLEM", "audit_keys", "%s", err);
        else
            finding(&st, "ok", "audit_keys", "%s: seals with key \"%s\"", cfg->audit_keys,
                    gs_keyring_first_kid(akeys));
        gs_keyring_free(akeys);
    }
    if (set(cfg->tls_cert) != set(cfg->tls_key))
        finding(&st, "PROBLEM", "tls", "tls_cert and tls_key must be given together");
    tls_files_check(cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, tls_finding, &st);
    if (set(cfg->tls_client_ca) && !set(cfg->tls_cert))
        finding(&st, "PROBLEM", "tls_client_ca", "mutual TLS needs tls_cert and tls_key as well");
    if (!set(cfg->tls_cert) && !loopback(cfg->listen) && !cfg->insecure)
        finding(&st, "PROBLEM", "listen",
                "%s is not loopback and there is no TLS: set tls_cert and tls_key (or insecure)",
                cfg->listen);
    else
        finding(&st, "ok", "listen", "%s, %s", cfg->listen,
                set(cfg->tls_cert) ? (set(cfg->tls_client_ca) ? "mutual TLS" : "TLS")
                                   : "plaintext");
    if (set(cfg->metrics_listen) && !loopback(cfg->metrics_listen))
        finding(&st, "note", "metrics_listen",
                "%s is not loopback: the metrics endpoint has no TLS and no authentication",
                cfg->metrics_listen);

    db_describe(cfg->db, where, sizeof where);
    db *d = db_open(cfg->db);
    int rc = db_simple(d, "SELECT 1", err, sizeof err);
    db_close(d);
    if (rc != 0) {
        finding(&st, "PROBLEM", "database", "cannot connect to %s: %s", where, err);
    } else {
        int want = migrate_latest_file(sql_dir(cfg));
        int have = migrate_db_version(cfg->db, err, sizeof err);
        if (have < 0)
            finding(&st, "PROBLEM", "schema",
                    "%s has no gridstock schema (%s): run `gridstockd migrate` as the schema owner",
                    where, err);
        else if (have < want)
            finding(&st, "PROBLEM", "schema",
                    "version %d in %s, this build's migrations (%s) go to %d: run `gridstockd "
                    "migrate` as the schema owner",
                    have, where, sql_dir(cfg), want);
        else if (have > want)
            finding(&st, "note", "schema",
                    "version %d in %s is newer than this build's migrations (%d): fine during a "
                    "rolling upgrade, otherwise install the matching gridstock",
                    have, where, want);
        else
            finding(&st, "ok", "database", "%s reachable, schema version %d", where, have);
    }
    household_keys_check(&st, cfg, rc == 0);
    if (set(cfg->db_read)) {
        double lag;
        db_describe(cfg->db_read, where, sizeof where);
        if (monitor_measure_lag(cfg->db_read, &lag, err, sizeof err) != 0)
            finding(&st, "PROBLEM", "db_read",
                    "cannot read the replica's lag at %s: %s (reads go to db until it answers)",
                    where, err);
        else
            finding(&st, lag > 60 ? "note" : "ok", "db_read", "%s reachable, replay lag %.1f s%s",
                    where, lag, lag > 60 ? ": reports from it are that far behind" : "");
    }
    if (methods_resolve(services_table, err, sizeof err))
        finding(&st, "PROBLEM", "methods", "%s", err);
    if (st.problems)
        printf("gridstockd check: %d problem%s found\n", st.problems, st.problems == 1 ? "" : "s");
    else
        printf("gridstockd check: all good\n");
    return st.problems ? EXIT_FAIL : EXIT_OK;
}

static int cmd_serve(const gs_config *cfg)
{
    char err[512];
    if (!(cfg->tls_cert && *cfg->tls_cert) && !loopback(cfg->listen) && !cfg->insecure)
        return die("listen",
                   "plaintext on a non-loopback address needs --insecure (or give --tls-cert "
                   "and --tls-key)");
    if ((cfg->tls_cert && *cfg->tls_cert) != (cfg->tls_key && *cfg->tls_key))
        return die("tls", "--tls-cert and --tls-key go together");
    gs_keyring *keys = gs_keyring_load(cfg->token_keys, err, sizeof err);
    if (!keys)
        return die("token_keys", err);
    if (audit_chain_init(cfg, err, sizeof err)) {
        gs_keyring_free(keys);
        return die("audit_keys", err);
    }
    if (personal_id_init(cfg, err, sizeof err)) {
        gs_keyring_free(keys);
        audit_chain_free();
        personal_id_free();
        return die("household_keys", err);
    }
    if (methods_resolve(services_table, err, sizeof err)) {
        gs_keyring_free(keys);
        audit_chain_free();
        personal_id_free();
        return die("method table", err);
    }
    if (reflection_init()) {
        gs_keyring_free(keys);
        audit_chain_free();
        personal_id_free();
        return die("reflection", reflection_error());
    }
    if (metrics_init()) {
        reflection_free();
        gs_keyring_free(keys);
        audit_chain_free();
        personal_id_free();
        return die("metrics", "out of memory");
    }
    if (cfg->migrate && cmd_migrate(cfg) != EXIT_OK) {
        metrics_free();
        reflection_free();
        gs_keyring_free(keys);
        audit_chain_free();
        personal_id_free();
        return EXIT_FAIL;
    }

    /* Signals are taken by sigwait here; every thread (gRPC's included) inherits the mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP); /* reloads the token keyring */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rpc_global_init();
    dispatch_init(cfg, keys);
    rpc_config rc = {
        .listen = cfg->listen,
        .workers = cfg->workers,
        .max_message_bytes = cfg->max_message_bytes,
        .tls_cert_file = cfg->tls_cert && *cfg->tls_cert ? cfg->tls_cert : NULL,
        .tls_key_file = cfg->tls_key && *cfg->tls_key ? cfg->tls_key : NULL,
        .tls_client_ca_file = cfg->tls_client_ca && *cfg->tls_client_ca ? cfg->tls_client_ca : NULL,
        .grace_ms = cfg->grace_ms,
        .stream_queue_bytes = cfg->stream_queue_bytes,
        .keepalive_time_ms = cfg->keepalive_time_ms,
        .keepalive_timeout_ms = cfg->keepalive_timeout_ms,
        .max_connection_idle_ms = cfg->max_connection_idle_ms,
        .max_connection_age_ms = cfg->max_connection_age_ms,
        .max_connection_age_grace_ms = cfg->max_connection_age_grace_ms,
        .max_concurrent_streams = cfg->max_concurrent_streams,
        .max_bidi_calls = cfg->max_reflection_calls,
        .max_bidi_messages = cfg->max_reflection_messages,
    };
    rpc_server *srv = rpc_server_new(&rc, &dispatch_handlers);
    if (!srv || dispatch_register(srv)) {
        rpc_server_free(srv);
        rpc_global_shutdown();
        metrics_free();
        reflection_free();
        gs_keyring_free(keys);
        return die("start", "out of memory");
    }
    /* The jobs' settings (TTLs) are written here, before any worker thread exists: the
     * workers only read them. */
    services_jobs_register(cfg);
    idem_jobs_register(cfg);
    int port = rpc_start(srv, err, sizeof err);
    int status = EXIT_OK;
    /* Keyrings replaced by SIGHUP stay alive until the workers have stopped. */
    gs_keyring *retired[16];
    int n_retired = 0;
    if (port != 0 && cfg->metrics_listen && *cfg->metrics_listen) {
        int mport = metrics_http_start(cfg->metrics_listen, err, sizeof err);
        if (mport == 0) {
            status = die("metrics", err);
            port = 0; /* nothing was served: no "stopped" line */
            health_shutdown();
        } else {
            log_event(LOG_INFO, "metrics_listening", "addr", cfg->metrics_listen, "port",
                      log_i64(mport), NULL);
        }
    } else if (port == 0) {
        status = die("start", err);
    }
    if (port != 0) {
        /* A thread that cannot start is a server that cannot do its job: say which and
         * stop (rpc_stop below undoes the rest) rather than serve without it. */
        const char *failed = NULL;
        monitor_read_replica(cfg->db_read);
        if (monitor_start(cfg->db))
            failed = "cannot start the monitor thread";
        else if (audit_sealer_start(cfg->db, 2))
            failed = "cannot start the audit sealer thread";
        else if (listen_start(cfg))
            failed = "cannot start the listener thread (watches)";
        if (failed) {
            status = die("start", failed);
            port = 0; /* nothing was served: no "stopped" line */
            health_set_serving(false);
            health_shutdown();
        }
    }
    if (port != 0) {
        char ports[16];
        snprintf(ports, sizeof ports, "%d", port);
        log_event(LOG_INFO, "listening", "addr", cfg->listen, "port", ports, "workers",
                  log_i64(cfg->workers), "tls",
                  rc.tls_cert_file ? (rc.tls_client_ca_file ? "mutual" : "on") : "off", "version",
                  GS_VERSION, NULL);
        int sig = 0;
        while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
            gs_keyring *fresh = gs_keyring_load(cfg->token_keys, err, sizeof err);
            if (!fresh) {
                log_event(LOG_ERROR, "keyring_reload_failed", "file", cfg->token_keys, "error", err,
                          NULL);
            } else if (n_retired == (int)(sizeof retired / sizeof retired[0])) {
                gs_keyring_free(fresh);
                log_event(LOG_ERROR, "keyring_reload_failed", "error",
                          "too many reloads since start: restart the server", NULL);
            } else {
                retired[n_retired++] = keys;
                keys = fresh;
                dispatch_set_keyring(keys);
                log_event(LOG_INFO, "keyring_reloaded", "file", cfg->token_keys, NULL);
            }
        }
        log_event(LOG_INFO, "stopping", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", "grace_ms",
                  log_i64(cfg->grace_ms), NULL);
        health_set_serving(false);
        health_shutdown();
        listen_stop();
    }
    rpc_stop(srv);
    metrics_http_stop();
    monitor_stop();
    audit_sealer_stop();
    rpc_server_free(srv);
    rpc_global_shutdown();
    reflection_free();
    gs_keyring_free(keys);
    audit_chain_free();
    personal_id_free();
    for (int i = 0; i < n_retired; i++)
        gs_keyring_free(retired[i]);
    if (port)
        log_event(LOG_INFO, "stopped", "calls", log_u64(metrics_calls(-1)), "retries",
                  log_u64(metrics_retries()), NULL);
    metrics_free();
    return status;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve", *sub = NULL;
    int argi = 1;
    if (argi < argc && argv[argi][0] != '-') {
        cmd = argv[argi++];
        if ((strcmp(cmd, "token") == 0 || strcmp(cmd, "config") == 0 ||
             strcmp(cmd, "audit") == 0) &&
            argi < argc)
            sub = argv[argi++];
    }
    static const char *const extra[] = {"login", "ttl", "kid", "checkpoint", NULL};
    const char *extra_values[5] = {NULL, NULL, NULL, NULL, NULL};
    gs_config cfg;
    char err[512];
    int rc = gs_config_load_ex(&cfg, argc, argv, &argi, extra, extra_values, err, sizeof err);
    if (rc != 0 || argi < argc) {
        if (rc == 0)
            snprintf(err, sizeof err, "unexpected argument \"%s\" (see --help)", argv[argi]);
        if (rc < 0 || rc == 0)
            fprintf(stderr, "gridstockd: %s\n", err);
        gs_config_free(&cfg);
        return rc == 1 ? EXIT_OK : EXIT_USAGE;
    }
    if (log_configure(cfg.log_format, cfg.log_level)) {
        gs_config_free(&cfg);
        return die("log", "unknown log format or level");
    }
    db_set_timezone(cfg.timezone);
    db_set_reservation_ttl(cfg.reservation_ttl_s);
    int status;
    if (strcmp(cmd, "serve") == 0)
        status = cmd_serve(&cfg);
    else if (strcmp(cmd, "migrate") == 0)
        status = cmd_migrate(&cfg);
    else if (strcmp(cmd, "check") == 0)
        status = cmd_check(&cfg);
    else if (strcmp(cmd, "token") == 0 && sub && strcmp(sub, "keygen") == 0)
        status = cmd_keygen(extra_values[2]);
    else if (strcmp(cmd, "token") == 0 && sub && strcmp(sub, "issue") == 0)
        status = cmd_issue(&cfg, extra_values[0], extra_values[1]);
    else if (strcmp(cmd, "audit") == 0)
        status = audit_command(&cfg, sub, extra_values[3]);
    else if (strcmp(cmd, "config") == 0 && sub && strcmp(sub, "sample") == 0) {
        gs_config_sample(stdout);
        status = EXIT_OK;
    } else {
        fprintf(stderr, "gridstockd: unknown command \"%s%s%s\" (see --help)\n", cmd,
                sub ? " " : "", sub ? sub : "");
        status = EXIT_USAGE;
    }
    gs_config_free(&cfg);
    return status;
}
