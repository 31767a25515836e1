/* csv_import.c — the command `gridstock import items|prices|counts FILE.csv`: its options,
 * then the file read (csv_parse.c) and every row checked against the columns of its kind
 * (csv_tables.c); each bad row is reported by its line number and nothing is sent if any
 * row is bad; otherwise one ImportService call, which applies all rows or none. A
 * progress bar on stderr while a large file is read (when stderr is a terminal, or with
 * --progress). */
#include "csv_import.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_import_int.h"

enum { PROGRESS_MIN_BYTES = 262144 }; /* files smaller than this read too fast for a bar */

int csv_import_is_kind(const char *word)
{
    for (size_t i = 0; i < imp_n_kinds; i++)
        if (strcmp(word, imp_kinds[i].word) == 0)
            return 1;
    return 0;
}

void csv_import_print_help(FILE *out)
{
    fputs(_("CSV imports (all rows or none; every bad row is reported by its line number):\n"
            "  gridstock import items  [--check] [--progress|--no-progress] FILE.csv\n"
            "      columns: code, name, category, unit[, shelf_life_days][, active]\n"
            "  gridstock import prices [--check] [--progress|--no-progress] FILE.csv\n"
            "      columns: item_code, supplier_site_code, unit_price_fen | unit_price_yuan\n"
            "               [, lead_time_days][, valid_from][, valid_to]\n"
            "  gridstock import counts --stocktake-id N [--check] [...] FILE.csv\n"
            "      columns: item_code, lot_code, counted\n"
            "  FILE may be - (stdin). --check only checks the file. A progress bar is shown on a\n"
            "  terminal for large files.\n"),
          out);
}

static void usage(const char *kind)
{
    cli_err(_("usage: gridstock import %s%s [--check] [--progress|--no-progress] FILE.csv"), kind,
            strcmp(kind, "counts") == 0 ? " --stocktake-id N" : "");
}

int csv_import_main(cli_opts *o, int argc, char **argv, int first)
{
    importer im;
    progress pg = {0};
    const char *kind_word = argv[first], *path = NULL;
    int64_t stocktake_id = 0;
    int progress_mode = -1; /* -1 auto, 0 off, 1 on */
    bool check_only = false;
    FILE *in = NULL;
    int rc = EXIT_LOCAL;

    memset(&im, 0, sizeof im);
    for (size_t k = 0; k < imp_n_kinds; k++)
        if (strcmp(kind_word, imp_kinds[k].word) == 0)
            im.kind = (imp_kind)k;
    im.cols = imp_kinds[im.kind].cols;
    im.line = im.row_line = 1;

    for (int i = first + 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            csv_import_print_help(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--progress")) {
            progress_mode = 1;
        } else if (!strcmp(a, "--no-progress")) {
            progress_mode = 0;
        } else if (!strcmp(a, "--check")) {
            check_only = true;
        } else if (!strncmp(a, "--stocktake-id", 14) && im.kind == IMP_COUNTS) {
            const char *v = a[14] == '='                    ? a + 15
                            : a[14] == '\0' && i + 1 < argc ? argv[++i]
                                                            : NULL;
            char *end;
            if (!v || (stocktake_id = strtoll(v, &end, 10)) <= 0 || *end) {
                cli_err(_("--stocktake-id: a positive whole number is required"));
                return EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1] != '\0') {
            int r = opts_parse_one(o, argc, argv, &i);
            if (r < 0)
                return EXIT_USAGE;
            if (r == 0) {
                cli_err(_("import %s: unknown option %s"), kind_word, a);
                usage(kind_word);
                return EXIT_USAGE;
            }
            i--; /* opts_parse_one advanced past the option */
        } else if (!path) {
            path = a;
        } else {
            cli_err(_("import %s: one file at a time (got %s and %s)"), kind_word, path, a);
            return EXIT_USAGE;
        }
    }
    if (!path) {
        usage(kind_word);
        return EXIT_USAGE;
    }
    if (im.kind == IMP_COUNTS && !stocktake_id && !check_only) {
        cli_err(_("import counts: --stocktake-id is required (open one with `gridstock stock"
                  " open-stocktake`)"));
        return EXIT_USAGE;
    }
    im.file = path;
    if (!strcmp(path, "-")) {
        in = stdin;
    } else if (!(in = fopen(path, "rb"))) {
        cli_err("%s: %s", path, strerror(errno));
        return EXIT_LOCAL;
    }
    struct stat st;
    pg.file = path;
    pg.size = in != stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    pg.on = progress_mode == 1 ||
            (progress_mode < 0 && isatty(STDERR_FILENO) && pg.size >= PROGRESS_MIN_BYTES);

    if (imp_read_file(&im, in, &pg) != 0)
        goto out;
    if (!im.header_done) {
        cli_err(_("%s: empty file: a header line naming the columns is required"), path);
        goto out;
    }
    if (im.header_bad) {
        cli_err(_("%s: nothing was imported"), path);
        goto out;
    }
    if (im.data_rows > ROWS_MAX) {
        cli_err(_("%s: %ld rows; at most %d per import: split the file"), path, im.data_rows,
                ROWS_MAX);
        goto out;
    }
    if (im.bad_rows) {
        if (im.bad_rows > ERRORS_SHOWN_MAX)
            cli_err(_("... and %ld more bad row(s)"), im.bad_rows - ERRORS_SHOWN_MAX);
        cli_err(_("%s: %ld bad row(s) of %ld; nothing was imported"), path, im.bad_rows,
                im.data_rows);
        goto out;
    }
    if (im.n_rows == 0) {
        cli_err(_("%s: no rows after the header; nothing to import"), path);
        goto out;
    }
    if (check_only) {
        fprintf(stdout, _("%s: %zu row(s), all good\n"), path, im.n_rows);
        rc = EXIT_OK;
        goto out;
    }

    const ProtobufCServiceDescriptor *s = commands_find_service("ImportService");
    cli_method m;
    if (!s || commands_find_method(s, imp_kinds[im.kind].method, &m) < 0) {
        cli_err(_("this gridstock was built without ImportService"));
        goto out;
    }
    ProtobufCMessage *req = imp_request(&im, stocktake_id);
    im.rows = NULL; /* owned by req now */
    if (pg.on)
        fprintf(stderr, _("gridstock: sending %zu row(s) in one call to %s\n"), im.n_rows,
                imp_kinds[im.kind].method);
    rc = invoke(o, &m, req);
    protobuf_c_message_free_unpacked(req, NULL);
out:
    if (in && in != stdin)
        fclose(in);
    for (size_t i = 0; im.rows && i < im.n_rows; i++)
        protobuf_c_message_free_unpacked(im.rows[i], NULL);
    free(im.rows);
    free(im.fields);
    free(im.map);
    imp_keyset_free(&im.seen);
    return rc;
}
