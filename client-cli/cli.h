/* cli.h — what the parts of the gridstock CLI share: global options, exit codes,
 * diagnostics, and the entry points of each module. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <libintl.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "grpc_client.h"

/* Messages people read go through gettext (domain "gridstock", po/zh_CN.po); N_() marks a
 * string translated later (tables of help texts). */
#define GS_TEXTDOMAIN "gridstock"
#define _(s) gettext(s)
#define N_(s) (s)

/* ---- i18n.c: the language (--lang, else LANGUAGE/LC_ALL/LC_MESSAGES/LANG) ---- */
void i18n_init(const char *lang);

/* Exit codes, one by one (also printed by `gridstock help` and in README.md). */
enum cli_exit {
    EXIT_OK = 0,          /* the call succeeded (or help was printed) */
    EXIT_USAGE = 1,       /* bad command line: unknown service, method, option or field value */
    EXIT_UNAVAILABLE = 2, /* cannot connect, or UNAVAILABLE after every retry */
    EXIT_STATUS = 3,      /* the server answered with a non-OK status */
    EXIT_LOCAL = 4,       /* local I/O or JSON error (--file, --data, TLS files, decoding) */
};

enum output_format { OUT_HUMAN, OUT_JSON, OUT_CSV };

typedef struct cli_opts {
    const char *addr;        /* --addr, GRIDSTOCK_ADDR, default 127.0.0.1:50051 */
    const char *token;       /* --token, GRIDSTOCK_TOKEN */
    const char *ca;          /* --ca, GRIDSTOCK_CA */
    const char *cert;        /* --cert, GRIDSTOCK_CERT */
    const char *key;         /* --key, GRIDSTOCK_KEY */
    const char *server_name; /* --server-name */
    int tls;                 /* --tls */
    enum output_format format;
    double timeout;         /* seconds; --timeout */
    int timeout_set;        /* given explicitly (streams have no deadline otherwise) */
    const char *request_id; /* --request-id */
    int verbose;            /* -v */
    int wide;               /* -o wide: every field as a column */
    const char *columns;    /* --columns a,b.c: the table's columns */
    const char *lang;       /* --lang (applied by i18n_init before anything prints) */
} cli_opts;

/* ---- diagnostics (main.c): "gridstock: ..." on stderr ---- */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_verbose(const cli_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options.c: the global option table ---- */
void opts_defaults(cli_opts *o);
/* Tries argv[*i] as a global option; returns 1 and advances *i past it (and its value),
 * 0 when argv[*i] is not a global option, -1 on a usage error (message printed). */
int opts_parse_one(cli_opts *o, int argc, char **argv, int *i);
void opts_print_help(FILE *out);
/* Calls cb for every global flag ("--addr", "-v"), with whether it takes a value. */
void opts_each_flag(void (*cb)(void *arg, const char *flag, int takes_value), void *arg);

/* ---- commands.c: services and methods by descriptor ---- */
typedef struct cli_method {
    const ProtobufCServiceDescriptor *service;
    const ProtobufCMethodDescriptor *method;
    int server_streaming;
} cli_method;

void commands_print_services(FILE *out);
/* Returns the service called `name` (kebab name, short name or full name), or NULL. */
const ProtobufCServiceDescriptor *commands_find_service(const char *name);
void commands_print_methods(FILE *out, const ProtobufCServiceDescriptor *s);
/* Fills *m for `name` in service s; 0, or -1 when there is no such method. */
int commands_find_method(const ProtobufCServiceDescriptor *s, const char *name, cli_method *m);
void commands_print_method_help(FILE *out, const cli_method *m);
/* Kebab-cased service and method names as the CLI spells them (static buffers). */
const char *commands_service_name(const ProtobufCServiceDescriptor *s);
const char *commands_method_name(const ProtobufCServiceDescriptor *s, unsigned index);
/* "--site-id" for a request field. */
void commands_flag_name(const ProtobufCFieldDescriptor *f, char *buf, size_t n);

/* ---- completion.c: `gridstock completion bash` ---- */
int completion_bash(FILE *out);

/* ---- request.c: flags, --data and --file into a request message ---- */
/* Builds the request from argv[first..argc) (method flags; global options found there are
 * applied to o). Returns the message (free with protobuf_c_message_free_unpacked) or NULL
 * with *exit_code set (a message printed); NULL with EXIT_OK when --help was printed. */
ProtobufCMessage *request_build(const cli_method *m, cli_opts *o, int argc, char **argv, int first,
                                int *exit_code);

/* ---- streaming.c: which methods stream (from the embedded descriptor set) ---- */
/* 1 for server-streaming, 0 for unary, -1 for client/bidi streaming (not supported). */
int streaming_kind(const ProtobufCServiceDescriptor *s, const ProtobufCMethodDescriptor *m);
/* The descriptor set embedded in the library, parsed once (NULL if it does not parse);
 * owned by streaming.c. */
struct Google__Protobuf__FileDescriptorSet;
const struct Google__Protobuf__FileDescriptorSet *cli_descriptor_set(void);

/* ---- secret.c: fields marked (secret) = true, never taken from the command line ---- */
/* 1 when field f of request message d is secret. */
int secret_field(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f);
/* The first line of PATH (- = standard input) without its end and surrounding blanks,
 * malloc'd; NULL with a message naming `flag` when unreadable or empty. */
char *secret_read_file(const char *flag, const char *path);
/* Asks for `label` on the terminal with echo off when standard input is one: malloc'd.
 * NULL when standard input is not a terminal (*failed 0) or nothing was entered (*failed
 * 1, message printed). */
char *secret_prompt(const char *label, int *failed);

/* ---- invoke.c: the call, with request id, metadata and retries ---- */
int invoke(const cli_opts *o, const cli_method *m, const ProtobufCMessage *req);

/* ---- output.c: tables, key: value lines, JSON, CSV ---- */
typedef struct output output;
/* stream: messages of a server stream (JSON one a line, a CSV header once). NULL with
 * *rc EXIT_USAGE (message printed) for a --columns naming no field, EXIT_LOCAL when out of
 * memory. */
output *output_new(const cli_opts *o, const ProtobufCMessageDescriptor *resp, int stream, int *rc);

/* ---- columns.c: the default table columns per row message type ---- */
typedef struct column_def {
    const char *path;   /* field path in the row message ("site.code") */
    const char *header; /* N_() English header, translated when printed */
} column_def;
/* The default columns of the row type (full message name), *n of them; NULL when the
 * type has no entry. */
const column_def *columns_default(const char *type, size_t *n);
/* Prints one response (one stream message); EXIT_OK or EXIT_LOCAL. */
int output_message(output *out, const ProtobufCMessage *m);
void output_free(output *out);

#endif
