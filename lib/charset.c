/* charset.c — "only these characters" checks and their descriptions (charset.h). */
#include "charset.h"

#include <stdio.h>
#include <string.h>

const gs_charset GS_CS_CODE = {GS_CS_UPPER | GS_CS_DIGIT, "._-"};
const gs_charset GS_CS_LOGIN = {GS_CS_LOWER | GS_CS_DIGIT, "._-"};
const gs_charset GS_CS_IDENT = {GS_CS_UPPER | GS_CS_LOWER | GS_CS_DIGIT, "._-"};
const gs_charset GS_CS_LOT = {GS_CS_UPPER | GS_CS_LOWER | GS_CS_DIGIT, "._/-"};
const gs_charset GS_CS_REF_TYPE = {GS_CS_LOWER, "_"};

static bool allowed(const gs_charset *cs, unsigned char ch)
{
    if ((cs->classes & GS_CS_UPPER) && ch >= 'A' && ch <= 'Z')
        return true;
    if ((cs->classes & GS_CS_LOWER) && ch >= 'a' && ch <= 'z')
        return true;
    if ((cs->classes & GS_CS_DIGIT) && ch >= '0' && ch <= '9')
        return true;
    return ch != '\0' && cs->punct && strchr(cs->punct, ch) != NULL;
}

long gs_charset_find_bad(const gs_charset *cs, const char *s)
{
    for (long i = 0; s[i]; i++)
        if (!allowed(cs, (unsigned char)s[i]))
            return i;
    return -1;
}

const char *gs_charset_describe(const gs_charset *cs, char *buf, size_t n)
{
    const char *parts[3 + 16];
    char quoted[16][4];
    size_t k = 0;
    if (cs->classes & GS_CS_UPPER)
        parts[k++] = "A-Z";
    if (cs->classes & GS_CS_LOWER)
        parts[k++] = "a-z";
    if (cs->classes & GS_CS_DIGIT)
        parts[k++] = "0-9";
    for (size_t i = 0; cs->punct && cs->punct[i] && i < 16; i++) {
        snprintf(quoted[i], sizeof quoted[i], "'%c'", cs->punct[i]);
        parts[k++] = quoted[i];
    }
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < k && len < n; i++) {
        const char *sep = i == 0 ? "" : i + 1 == k ? " and " : ", ";
        int w = snprintf(buf + len, n - len, "%s%s", sep, parts[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return buf;
}
