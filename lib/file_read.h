/* file_read.h — the one way gridstock reads a whole file into memory: certificates, keys,
 * keyrings, migrations. Bounded (a file larger than `max` is refused, so a wrong path to
 * a huge file cannot exhaust memory) and NUL-terminated for text parsers. */
#ifndef GS_FILE_READ_H
#define GS_FILE_READ_H

#include <stddef.h>

/* Reads the file at `path` into a new buffer with a NUL after its last byte; *len (may be
 * NULL) gets its length. Returns NULL on failure with a reason in err (no path: callers
 * say which file): strerror's text, "larger than N bytes", "read error" or "out of
 * memory". The caller frees the buffer; a buffer that held secrets should be wiped first,
 * and no copy of the contents is left behind in freed memory. */
char *gs_file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* A PEM file (certificate, key or CA bundle): at most GS_PEM_MAX bytes; on failure err
 * says "cannot read <path>: <reason>". Free it as gs_file_read's buffer (wipe a key). */
#define GS_PEM_MAX (1 << 20)
char *gs_pem_read(const char *path, char *err, size_t errlen);

/* Wipes a NUL-terminated buffer from gs_file_read (a private key) and frees it; NULL is
 * fine. */
void gs_secret_free(char *buf);

#endif
