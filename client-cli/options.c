/* options.c — the CLI's global options: one table drives parsing, environment defaults,
 * the help text and the flags bash completion offers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum opt_id {
    O_ADDR,
    O_TOKEN,
    O_CA,
    O_CERT,
    O_KEY,
    O_TLS,
    O_SERVER_NAME,
    O_JSON,
    O_CSV,
    O_TIMEOUT,
    O_REQUEST_ID,
    O_VERBOSE,
    O_OUTPUT,
    O_COLUMNS,
    O_LANG,
};

typedef struct opt_def {
    enum opt_id id;
    const char *name; /* long name without "--" */
    char short_name;  /* 0 = none */
    const char *arg;  /* metavariable, NULL = no value */
    const char *env;  /* environment variable giving the default */
    const char *help;
} opt_def;

static const opt_def opts[] = {
    {O_ADDR, "addr", 0, "HOST:PORT", "GRIDSTOCK_ADDR",
     N_("server address (default 127.0.0.1:50051)")},
    {O_TOKEN, "token", 0, "TOKEN", "GRIDSTOCK_TOKEN", N_("bearer token sent as `authorization`")},
    {O_CA, "ca", 0, "FILE", "GRIDSTOCK_CA", N_("PEM CA certificates; turns TLS on")},
    {O_CERT, "cert", 0, "FILE", "GRIDSTOCK_CERT", N_("client certificate (PEM) for mutual TLS")},
    {O_KEY, "key", 0, "FILE", "GRIDSTOCK_KEY", N_("client private key (PEM) for mutual TLS")},
    {O_TLS, "tls", 0, NULL, NULL, N_("use TLS with the system CA certificates")},
    {O_SERVER_NAME, "server-name", 0, "NAME", NULL, N_("TLS server name to verify")},
    {O_OUTPUT, "output", 'o', "FORMAT", NULL,
     N_("table (default: chosen columns), wide (every field), json or csv")},
    {O_COLUMNS, "columns", 0, "LIST", NULL,
     N_("table columns to show, comma-separated field paths (site.code,qty)")},
    {O_JSON, "json", 0, NULL, NULL, N_("print the response as JSON (streams: one object a line)")},
    {O_CSV, "csv", 0, NULL, NULL, N_("print the result table as CSV (RFC 4180)")},
    {O_TIMEOUT, "timeout", 0, "SECONDS", NULL,
     N_("deadline per attempt (default 30; streams: none unless given)")},
    {O_REQUEST_ID, "request-id", 0, "ID", NULL, N_("x-request-id to send (default: random)")},
    {O_LANG, "lang", 0, "LANG", NULL,
     N_("language of messages and tables: zh_CN or en (default: LANGUAGE, LC_ALL, "
        "LC_MESSAGES, LANG)")},
    {O_VERBOSE, "verbose", 'v', NULL, NULL, N_("print the request, retries and status on stderr")},
};

#define N_OPTS (sizeof opts / sizeof opts[0])

static void set_value(cli_opts *o, enum opt_id id, const char *v)
{
    switch (id) {
    case O_ADDR:
        o->addr = v;
        break;
    case O_TOKEN:
        o->token = v;
        break;
    case O_CA:
        o->ca = v;
        break;
    case O_CERT:
        o->cert = v;
        break;
    case O_KEY:
        o->key = v;
        break;
    case O_SERVER_NAME:
        o->server_name = v;
        break;
    case O_REQUEST_ID:
        o->request_id = v;
        break;
    case O_COLUMNS:
        o->columns = v;
        break;
    case O_LANG:
        o->lang = v;
        break;
    default:
        break;
    }
}

void opts_defaults(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->addr = "127.0.0.1:50051";
    o->timeout = 30;
    o->format = OUT_HUMAN;
    for (size_t i = 0; i < N_OPTS; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && *v)
            set_value(o, opts[i].id, v);
    }
}

int opts_parse_one(cli_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const opt_def *d = NULL;
    const char *value = NULL;
    size_t nlen;

    if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {
        for (size_t k = 0; k < N_OPTS; k++)
            if (opts[k].short_name == a[1])
                d = &opts[k];
    } else if (a[0] == '-' && a[1] == '-') {
        const char *eq = strchr(a + 2, '=');
        nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        for (size_t k = 0; k < N_OPTS; k++)
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a + 2, nlen) == 0)
                d = &opts[k];
        if (eq)
            value = eq + 1;
    }
    if (!d)
        return 0;
    if (d->arg && !value) {
        if (*i + 1 >= argc) {
            cli_err(_("option --%s needs a value (%s)"), d->name, d->arg);
            return -1;
        }
        value = argv[++*i];
    } else if (!d->arg && value) {
        cli_err(_("option --%s takes no value"), d->name);
        return -1;
    }
    (*i)++;
    switch (d->id) {
    case O_TLS:
        o->tls = 1;
        break;
    case O_JSON:
        o->format = OUT_JSON;
        break;
    case O_CSV:
        o->format = OUT_CSV;
        break;
    case O_OUTPUT:
        if (!strcmp(value, "table"))
            o->format = OUT_HUMAN, o->wide = 0;
        else if (!strcmp(value, "wide"))
            o->format = OUT_HUMAN, o->wide = 1;
        else if (!strcmp(value, "json"))
            o->format = OUT_JSON;
        else if (!strcmp(value, "csv"))
            o->format = OUT_CSV;
        else {
            cli_err(_("-o: \"%s\" is not one of table, wide, json, csv"), value);
            return -1;
        }
        break;
    case O_VERBOSE:
        o->verbose++;
        break;
    case O_TIMEOUT: {
        char *end = NULL;
        double t = strtod(value, &end);
        if (!*value || *end || !(t > 0) || t > 31536000) {
            cli_err(_("--timeout: \"%s\" is not a number of seconds"), value);
            return -1;
        }
        o->timeout = t;
        o->timeout_set = 1;
        break;
    }
    default:
        if (!*value) {
            cli_err(_("option --%s needs a non-empty value"), d->name);
            return -1;
        }
        set_value(o, d->id, value);
    }
    return 1;
}

void opts_print_help(FILE *out)
{
    fputs(_("Global options (before the service; -o, --columns, --json, --csv, --timeout and -v\n"
            "also after the method):\n"),
          out);
    for (size_t i = 0; i < N_OPTS; i++) {
        char left[64];
        const opt_def *d = &opts[i];
        if (d->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", d->short_name, d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        else
            snprintf(left, sizeof left, "--%s%s%s", d->name, d->arg ? " " : "",
                     d->arg ? d->arg : "");
        fprintf(out, "  %-24s %s", left, _(d->help));
        if (d->env)
            fprintf(out, _(" [env %s]"), d->env);
        fputc('\n', out);
    }
}

void opts_each_flag(void (*cb)(void *arg, const char *flag, int takes_value), void *arg)
{
    char buf[64];
    for (size_t i = 0; i < N_OPTS; i++) {
        snprintf(buf, sizeof buf, "--%s", opts[i].name);
        cb(arg, buf, opts[i].arg != NULL);
        if (opts[i].short_name) {
            snprintf(buf, sizeof buf, "-%c", opts[i].short_name);
            cb(arg, buf, opts[i].arg != NULL);
        }
    }
}
