/* csv_import.h — `gridstock import items|prices|counts FILE.csv`: CSV files read with
 * libcsv, every row checked locally (each bad row reported by line number, nothing sent
 * if any is bad), then one ImportService call that applies all rows or none. */
#ifndef GS_CSV_IMPORT_H
#define GS_CSV_IMPORT_H

#include <stdio.h>

#include "cli.h"

/* Is `word` an import kind ("items", "prices", "counts")? */
int csv_import_is_kind(const char *word);

/* Runs `import <kind> [options] FILE` from argv[first] (the kind); returns the exit code.
 * Global options (--json, --csv, -v, ...) are accepted among the import's options. */
int csv_import_main(cli_opts *o, int argc, char **argv, int first);

/* The usage lines for `gridstock help`. */
void csv_import_print_help(FILE *out);

#endif
