/* main.c — gridstock, the command-line client: global options, then
 * `<service> <method> [flags]` resolved from the protobuf-c descriptors; help; completion;
 * exit codes; the language (--lang) before anything is printed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "csv_import.h"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("gridstock: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_verbose(const cli_opts *o, const char *fmt, ...)
{
    va_list ap;
    if (!o->verbose)
        return;
    fputs("gridstock: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void print_help(FILE *out)
{
    fputs(_("usage: gridstock [global options] <service> <method> [--field value ...]\n"
            "                 [--data JSON | --file PATH]\n"
            "       gridstock help | gridstock <service> | gridstock <service> <method> --help\n"
            "       gridstock completion bash\n"
            "\n"
            "Calls the gridstock gRPC API. Every service and method of the server is a command,\n"
            "built from the protobuf descriptors: scalar request fields are flags\n"
            "(`--site-id 12`, `--active`, `--active=false`, `--kind RESERVE_POINT`), nested and\n"
            "repeated fields come from --data/--file JSON (proto3 JSON mapping) or dotted and\n"
            "repeated flags (`--location.lat 30.5`, `--item A --item B`); flags override JSON.\n"
            "\n"),
          out);
    opts_print_help(out);
    fputs("\n", out);
    commands_print_services(out);
    fputs("\n", out);
    csv_import_print_help(out);
    fputs(_("\n"
            "Output: a table when the response holds exactly one repeated message field (other\n"
            "fields follow as `key: value`), otherwise `key: value` lines (nested fields joined\n"
            "with dots). Tables show a few chosen columns per message type (codes and names);\n"
            "-o wide shows every field, --columns picks them; on a terminal, long text is cut\n"
            "with an ellipsis to fit its width. --json prints the response as JSON with .proto\n"
            "field names and every field (defaults included; 64-bit integers as numbers);\n"
            "streams print one JSON object a line. --csv and --json are never cut. Server-\n"
            "streaming methods print messages as they arrive until the stream ends or Ctrl-C.\n"
            "\n"
            "Every call sends x-request-id (random, or --request-id); UNAVAILABLE is retried 3\n"
            "times (after 200, 400 and 800 ms) with the same request id.\n"
            "\n"
            "`gridstock completion bash` prints a bash completion script for services, methods\n"
            "and flags: `source <(gridstock completion bash)`.\n"
            "\n"
            "Exit codes:\n"
            "  0  success\n"
            "  1  usage error (unknown service, method, option or flag; bad flag value)\n"
            "  2  cannot connect, or UNAVAILABLE after every retry\n"
            "  3  the server answered another non-OK status, printed as\n"
            "     `gridstock: <STATUS_NAME>: <details>` on stderr\n"
            "  4  local I/O or JSON error (--file, --data, TLS files, undecodable response),\n"
            "     or a CSV file with bad rows (`gridstock import`; nothing is sent)\n"),
          out);
}

/* --lang from anywhere on the command line (it must apply before any help or message). */
static const char *find_lang(int argc, char **argv)
{
    const char *lang = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lang") && i + 1 < argc)
            lang = argv[++i];
        else if (!strncmp(argv[i], "--lang=", 7))
            lang = argv[i] + 7;
        else if (!strcmp(argv[i], "--data") || !strcmp(argv[i], "--file"))
            i++; /* a value, not an option */
    }
    return lang;
}

int main(int argc, char **argv)
{
    cli_opts o;
    cli_method m;
    int i = 1, rc, help_mode = 0;
    const ProtobufCServiceDescriptor *s;

    opts_defaults(&o);
    i18n_init(find_lang(argc, argv));
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help(stdout);
            return EXIT_OK;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("gridstock %s\n", GS_VERSION);
            return EXIT_OK;
        }
        int r = opts_parse_one(&o, argc, argv, &i);
        if (r < 0)
            return EXIT_USAGE;
        if (r == 0) {
            cli_err(_("unknown option %s (see `gridstock help`)"), argv[i]);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[i], "completion")) {
        if (i + 1 < argc && !strcmp(argv[i + 1], "bash") && i + 2 == argc)
            return completion_bash(stdout);
        cli_err(_("usage: gridstock completion bash"));
        return EXIT_USAGE;
    }
    if (!strcmp(argv[i], "help")) {
        /* `help [<service> [<method>]]`, global options (--lang) allowed among them */
        char *words[2] = {NULL, NULL};
        int nw = 0;
        for (int k = i + 1; k < argc;) {
            if (argv[k][0] == '-') {
                int r = opts_parse_one(&o, argc, argv, &k);
                if (r <= 0) {
                    if (r == 0)
                        cli_err(_("unknown option %s (see `gridstock help`)"), argv[k]);
                    return EXIT_USAGE;
                }
            } else if (nw < 2) {
                words[nw++] = argv[k++];
            } else {
                k++;
            }
        }
        if (nw == 0) {
            print_help(stdout);
            return EXIT_OK;
        }
        if (nw == 2) {
            if (!(s = commands_find_service(words[0])) ||
                commands_find_method(s, words[1], &m) < 0) {
                cli_err(_("no method \"%s %s\" (see `gridstock help`)"), words[0], words[1]);
                return EXIT_USAGE;
            }
            commands_print_method_help(stdout, &m);
            return EXIT_OK;
        }
        argv[i + 1] = words[0]; /* `help <service>`: its methods, below */
        i++;
        help_mode = 1;
    }
    if (!strcmp(argv[i], "import") && i + 1 < argc && csv_import_is_kind(argv[i + 1]))
        return csv_import_main(&o, argc, argv, i + 1); /* CSV files, csv_import.c */
    if (!(s = commands_find_service(argv[i]))) {
        cli_err(_("unknown service \"%s\" (see `gridstock help`)"), argv[i]);
        return EXIT_USAGE;
    }
    if (i + 1 >= argc || !strcmp(argv[i + 1], "--help") || !strcmp(argv[i + 1], "-h") ||
        help_mode) {
        commands_print_methods(stdout, s);
        return EXIT_OK;
    }
    if (commands_find_method(s, argv[i + 1], &m) < 0) {
        cli_err(_("unknown method \"%s\" of %s (see `gridstock %s`)"), argv[i + 1], s->name,
                argv[i]);
        return EXIT_USAGE;
    }
    ProtobufCMessage *req = request_build(&m, &o, argc, argv, i + 2, &rc);
    if (!req)
        return rc;
    rc = invoke(&o, &m, req);
    protobuf_c_message_free_unpacked(req, NULL);
    return rc;
}
