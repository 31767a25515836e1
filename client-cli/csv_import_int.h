/* csv_import_int.h — what the files of `gridstock import` share, and nothing else sees:
 * the importer that csv_parse.c fills from the file (libcsv, lines, progress),
 * csv_tables.c's columns and rows of each kind (checks, duplicates, messages), and
 * csv_import.c's command (options, the verdict, the one call that sends them). */
#ifndef GS_CSV_IMPORT_INT_H
#define GS_CSV_IMPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

#include "cli.h"

enum {
    ROWS_MAX = 20000,      /* the server's limit per call */
    ERRORS_SHOWN_MAX = 200 /* bad rows listed one by one; the rest are counted */
};

typedef enum imp_kind { IMP_ITEMS, IMP_PRICES, IMP_COUNTS } imp_kind;

/* The columns of each kind, by header name (case-insensitive). */
typedef struct column {
    const char *name;
    bool required;
} column;

/* One kind: its word on the command line, its ImportService method, its columns
 * (csv_tables.c). */
typedef struct imp_kind_def {
    const char *word;
    const char *method;
    const column *cols;
} imp_kind_def;
extern const imp_kind_def imp_kinds[];
extern const size_t imp_n_kinds;

/* An open-addressing set of row keys (duplicate detection), value = the line first seen. */
typedef struct keyset {
    char **keys;
    long *lines;
    size_t cap, n;
} keyset;

typedef struct importer {
    imp_kind kind;
    const column *cols;
    const char *file;
    /* header: position in the row → column index (-1: none) */
    int *map;
    size_t n_header;
    bool header_done, header_bad;
    int have[8]; /* column index → position + 1 (0: absent) */
    /* the row being read */
    char **fields;
    size_t n_fields, cap_fields;
    /* physical lines (1-based): where the parser is, and where the row began */
    long line, row_line;
    bool after_cr;
    /* results */
    ProtobufCMessage **rows;
    size_t n_rows, cap_rows;
    long bad_rows, data_rows;
    keyset seen;
} importer;

/* A progress bar on stderr while the file is read. */
typedef struct progress {
    bool on;
    const char *file;
    long long size, done;
    double last;
} progress;

/* ---- csv_parse.c */

/* malloc and strdup that end the program (EXIT_LOCAL) when memory runs out. */
void *imp_xmalloc(size_t n);
char *imp_xstrdup(const char *s);
/* Reports a bad row: "gridstock: line 7: counted: not a whole number: "12.5"". */
void imp_row_error(importer *im, long line, const char *column_name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Reads and checks the whole file; 0 when it could be read (rows may still be bad). */
int imp_read_file(importer *im, FILE *in, progress *pg);

/* ---- csv_tables.c */

/* The header row in im->fields: maps each name to a column of the kind, reports unknown,
 * repeated and missing columns (im->header_bad). */
void imp_header(importer *im);
/* The data row in im->fields (as many fields as the header) checked against its kind's
 * columns: its message (malloc'd), or NULL after reporting what is wrong. */
ProtobufCMessage *imp_row(importer *im, long line);
/* The request message for the rows read (takes the rows). */
ProtobufCMessage *imp_request(importer *im, int64_t stocktake_id);
void imp_keyset_free(keyset *k);

#endif
