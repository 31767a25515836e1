/* mo_catalog.c — reads a gettext .mo file (mo_catalog.h): a header, then a table of
 * original strings and one of translations, each entry a (length, offset) pair; msgfmt
 * writes the originals sorted, so a lookup is a binary search. Both byte orders are read. */
#include "mo_catalog.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_read.h"

#define MO_MAGIC 0x950412deu
#define MO_MAX (16u << 20)

struct gs_mo_catalog {
    char *data;
    size_t len;
    uint32_t n;
    const char **orig, **trans; /* n each, NUL-terminated strings inside data */
};

static uint32_t word(const char *p, int swap)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return swap ? __builtin_bswap32(v) : v;
}

/* The string of table entry i (length, offset at table + 8 i), or NULL when it lies
 * outside the file or is not NUL-terminated. */
static const char *entry(const gs_mo_catalog *c, uint32_t table, uint32_t i, int swap)
{
    uint64_t at = (uint64_t)table + 8u * (uint64_t)i;
    if (at + 8 > c->len)
        return NULL;
    uint32_t n = word(c->data + at, swap), off = word(c->data + at + 4, swap);
    if ((uint64_t)off + n >= c->len || c->data[off + n] != '\0')
        return NULL;
    return c->data + off;
}

gs_mo_catalog *gs_mo_load(const char *path, char *err, size_t errlen)
{
    gs_mo_catalog *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->data = gs_file_read(path, MO_MAX, &c->len, err, errlen);
    if (!c->data)
        goto fail;
    int swap = 0;
    if (c->len < 28 || (word(c->data, 0) != MO_MAGIC && !(swap = word(c->data, 1) == MO_MAGIC))) {
        snprintf(err, errlen, "not a .mo file");
        goto fail;
    }
    c->n = word(c->data + 8, swap);
    uint32_t to = word(c->data + 12, swap), tt = word(c->data + 16, swap);
    if (c->n > c->len / 8) {
        snprintf(err, errlen, "corrupt .mo file");
        goto fail;
    }
    c->orig = calloc(c->n ? c->n : 1, sizeof *c->orig);
    c->trans = calloc(c->n ? c->n : 1, sizeof *c->trans);
    if (!c->orig || !c->trans) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (uint32_t i = 0; i < c->n; i++) {
        c->orig[i] = entry(c, to, i, swap);
        c->trans[i] = entry(c, tt, i, swap);
        if (!c->orig[i] || !c->trans[i] || (i && strcmp(c->orig[i - 1], c->orig[i]) >= 0)) {
            snprintf(err, errlen, "corrupt .mo file (entry %u)", i);
            goto fail;
        }
    }
    return c;
fail:
    gs_mo_free(c);
    return NULL;
}

const char *gs_mo_get(const gs_mo_catalog *c, const char *msgid)
{
    if (!c || !msgid)
        return msgid;
    uint32_t lo = 0, hi = c->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(msgid, c->orig[mid]);
        if (cmp == 0)
            return *c->trans[mid] ? c->trans[mid] : msgid;
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return msgid;
}

void gs_mo_free(gs_mo_catalog *c)
{
    if (!c)
        return;
    free(c->orig);
    free(c->trans);
    free(c->data);
    free(c);
}

static int dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *gs_locale_dir(char *buf, size_t len, const char *installed)
{
    const char *env = getenv("GRIDSTOCK_LOCALEDIR");
    if (env && *env)
        return env;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            if ((size_t)snprintf(buf, len, "%s/locale", exe) < len && dir_exists(buf))
                return buf;
        }
    }
    return installed;
}
