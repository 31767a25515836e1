/* mo_catalog.h — a gettext message catalog (.mo, as msgfmt writes it) read into memory and
 * looked up without the C library's locale machinery, so one process can answer each call
 * in the language it asks for (the server's HTML reports). Immutable once loaded: safe to
 * share between threads. The CLI uses libintl itself; both read po/zh_CN.po's catalog. */
#ifndef GS_MO_CATALOG_H
#define GS_MO_CATALOG_H

#include <stddef.h>

typedef struct gs_mo_catalog gs_mo_catalog;

/* Loads a .mo file; NULL with a reason in err when it cannot be read or is not one. */
gs_mo_catalog *gs_mo_load(const char *path, char *err, size_t errlen);
/* The translation of msgid, or msgid itself when the catalog (may be NULL) lacks it. */
const char *gs_mo_get(const gs_mo_catalog *cat, const char *msgid) __attribute__((format_arg(2)));
void gs_mo_free(gs_mo_catalog *cat);

/* Where gridstock's catalogs are: $GRIDSTOCK_LOCALEDIR, else <directory of this
 * executable>/locale when it exists (a build tree), else `installed` (share/locale).
 * Returns buf or installed. */
const char *gs_locale_dir(char *buf, size_t len, const char *installed);

#endif
