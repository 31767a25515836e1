/* file_read.c — whole-file reads, bounded (file_read.h). */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "file_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *gs_file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n == cap) { /* grow to at most max + 1 (one byte over tells "too large") */
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap > max + 1)
                ncap = max + 1;
            char *nb = malloc(ncap + 1);
            if (!nb) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            if (buf) { /* the old buffer is wiped, not just freed */
                memcpy(nb, buf, n);
                explicit_bzero(buf, n);
                free(buf);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - n, r = fread(buf + n, 1, want, f);
        n += r;
        if (n > max) {
            snprintf(err, errlen, "larger than %zu bytes", max);
            goto fail;
        }
        if (r < want) { /* end of file or an error */
            if (ferror(f)) {
                snprintf(err, errlen, "read error");
                goto fail;
            }
            break;
        }
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    if (buf) {
        explicit_bzero(buf, n);
        free(buf);
    }
    fclose(f);
    return NULL;
}

char *gs_pem_read(const char *path, char *err, size_t errlen)
{
    char why[128];
    char *buf = gs_file_read(path, GS_PEM_MAX, NULL, why, sizeof why);
    if (!buf)
        snprintf(err, errlen, "cannot read %s: %s", path, why);
    return buf;
}

void gs_secret_free(char *buf)
{
    if (!buf)
        return;
    explicit_bzero(buf, strlen(buf));
    free(buf);
}
