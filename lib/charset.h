/* charset.h — one check for "only these characters": a set is character classes plus
 * punctuation, and it can describe itself for an error message ("A-Z, 0-9, '.', '_' and
 * '-'"). The server's v_chars (call.h) and the CLI's CSV checks both use it. */
#ifndef GS_CHARSET_H
#define GS_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

enum { GS_CS_UPPER = 1, GS_CS_LOWER = 2, GS_CS_DIGIT = 4 };

typedef struct gs_charset {
    unsigned classes;  /* GS_CS_* (ASCII only) */
    const char *punct; /* further characters allowed, in the order the description names them */
} gs_charset;

/* The sets in use. */
extern const gs_charset GS_CS_CODE;     /* A-Z 0-9 . _ -   codes (sites, items, grids, ...) */
extern const gs_charset GS_CS_LOGIN;    /* a-z 0-9 . _ -   user logins */
extern const gs_charset GS_CS_IDENT;    /* A-Z a-z 0-9 . _ -   household identifiers */
extern const gs_charset GS_CS_LOT;      /* A-Z a-z 0-9 . _ / -   lot codes */
extern const gs_charset GS_CS_REF_TYPE; /* a-z _   movement reference types */

/* The index of the first character of s outside the set, or -1 when all are in it. */
long gs_charset_find_bad(const gs_charset *cs, const char *s);
/* "A-Z, 0-9, '.', '_' and '-'" into buf (always terminated); returns buf. */
const char *gs_charset_describe(const gs_charset *cs, char *buf, size_t n);

#endif
