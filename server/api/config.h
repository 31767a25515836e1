/* config.h — server configuration: one declarative table (config.c) drives defaults,
 * the optional file, GRIDSTOCKD_* environment variables, command-line flags and --help.
 * Precedence: default < file < environment < flag. */
#ifndef GS_CONFIG_H
#define GS_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

typedef struct gs_config {
    char *config_file;     /* --config / GRIDSTOCKD_CONFIG */
    char *listen;          /* "127.0.0.1:50051" */
    int workers;           /* 4 */
    char *db;              /* libpq conninfo; "" = PG* environment */
    char *db_read;         /* report replica conninfo; "" = none (reads use db) */
    int max_message_bytes; /* 4194304 */
    char *tls_cert;        /* PEM files; empty = plaintext */
    char *tls_key;
    char *tls_client_ca;      /* non-empty: mutual TLS */
    bool tls_client_is_user;  /* mutual TLS: the certificate's identity must be the token's login */
    bool insecure;            /* allow plaintext on a non-loopback address */
    char *token_keys;         /* keyring file (token.h) */
    char *audit_keys;         /* audit chain keyring file (audit_chain.h) */
    char *household_keys;     /* household identity keyring file (personal_id.h) */
    int grace_ms;             /* 5000 */
    int statement_timeout_ms; /* 10000: cap on any one transaction without a deadline */
    char *log_format;         /* "kv" | "json" */
    char *log_level;          /* "debug" | "info" | "warn" | "error" */
    bool migrate;             /* apply migrations on start (true) */
    char *sql_dir;            /* migrations directory; default: the build's source sql/ */
    int reservation_ttl_s;    /* requisition reservations expire after this (86400) */
    int disbursement_ttl_s;   /* approved-but-unposted disbursements expire (604800) */
    int emergency_max_hours;  /* an emergency activation ends at most this far ahead (168) */
    int max_call_bytes;       /* arena cap per call (67108864) */
    int max_calls_per_user;   /* concurrent calls per user on the workers (2); 0 = no cap */
    int max_watches;          /* watch streams in this process (1000) */
    int max_watches_per_user; /* (16) */
    int stream_queue_bytes;   /* unsent bytes a stream may hold (1048576) */
    int watch_recheck_ms;     /* watches re-check their user this often (5000) */
    int keepalive_time_ms;    /* gRPC channel args (see config.c) */
    int keepalive_timeout_ms;
    int max_connection_idle_ms;
    int max_connection_age_ms;
    int max_connection_age_grace_ms;
    int max_concurrent_streams;
    int max_reflection_calls;    /* reflection calls open at once (32) */
    int max_reflection_messages; /* messages in one reflection call (1000) */
    int request_log_days;        /* request_log retention (30) */
    char *metrics_listen;        /* admin HTTP endpoint for Prometheus; "" = off */
    char *timezone;              /* the district's clock for dates in SQL ("Asia/Shanghai") */
} gs_config;

/* Fills cfg from defaults, file, environment and argv[*argi..]; stops at the first
 * non-option argument (leaves *argi there). Unknown flags, bad values and out-of-bounds
 * numbers are errors: returns -1 with a message naming the key. --help prints help and
 * returns 1. */
int gs_config_load(gs_config *cfg, int argc, char **argv, int *argi, char *err, size_t errlen);
/* gs_config_load, and also accepts the caller's own options: extra_flags is a NULL-terminated
 * list of names such as {"login", "ttl", NULL}; each takes a value ("--login x" or
 * "--login=x") stored in extra_values[i] (a pointer into argv; NULL when absent). cfg needs
 * no initialisation and is left freeable even on error: call gs_config_free either way.
 * "--" ends the options; --version prints the version and returns 1 like --help. */
int gs_config_load_ex(gs_config *cfg, int argc, char **argv, int *argi,
                      const char *const *extra_flags, const char **extra_values, char *err,
                      size_t errlen);
void gs_config_help(FILE *out);
/* Writes a sample configuration file listing every key, its default and meaning. */
void gs_config_sample(FILE *out);
void gs_config_free(gs_config *cfg);

#endif
