/* i18n.c — the CLI's language: gettext with the catalog bound explicitly (gs_locale_dir:
 * next to the executable in a build tree, else the installed share/locale), chosen by --lang or the
 * usual LANGUAGE, LC_ALL, LC_MESSAGES and LANG. Where the chosen locale is not generated
 * (no zh_CN.UTF-8 on the machine), C.UTF-8 plus LANGUAGE still selects the catalog, so
 * `--lang zh_CN` speaks Chinese anyway. */
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mo_catalog.h"

#ifndef GS_LOCALEDIR
#define GS_LOCALEDIR "/usr/share/locale"
#endif

/* The language the usual variables ask for ("zh_CN.UTF-8" -> "zh_CN"), or NULL. */
static const char *env_language(char *buf, size_t len)
{
    static const char *const vars[] = {"LC_ALL", "LC_MESSAGES", "LANG"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            snprintf(buf, len, "%s", v);
            buf[strcspn(buf, ".@")] = '\0';
            return strcmp(buf, "C") && strcmp(buf, "POSIX") ? buf : NULL;
        }
    }
    return NULL;
}

/* LC_CTYPE from the environment when that is a UTF-8 locale (wcwidth and the catalog's
 * UTF-8 need one); false when it is not, or names a locale that is not generated. */
static int utf8_ctype_from_env(void)
{
    const char *c = setlocale(LC_CTYPE, "");
    return c && MB_CUR_MAX > 1;
}

void i18n_init(const char *lang)
{
    char dir[PATH_MAX], envlang[64];
    if (lang && *lang) {
        /* --lang wins over every variable: LANGUAGE is what gettext reads first */
        char want[64], loc[80];
        snprintf(want, sizeof want, "%s", lang);
        want[strcspn(want, ".")] = '\0'; /* "zh_CN.UTF-8" -> "zh_CN" */
        setenv("LANGUAGE", want, 1);
        snprintf(loc, sizeof loc, "%s.UTF-8", want);
        if (!setlocale(LC_MESSAGES, loc))
            setlocale(LC_MESSAGES, "C.UTF-8");
        if (!setlocale(LC_CTYPE, loc) && !utf8_ctype_from_env())
            setlocale(LC_CTYPE, "C.UTF-8");
    } else {
        const char *want = env_language(envlang, sizeof envlang);
        const char *got = setlocale(LC_MESSAGES, "");
        if (!got && want && !getenv("LANGUAGE"))
            setenv("LANGUAGE", want, 1); /* the locale named is not generated: keep its language */
        got = setlocale(LC_MESSAGES, NULL);
        /* gettext ignores LANGUAGE in the C locale; C.UTF-8 is always there */
        if (!strcmp(got, "C") || !strcmp(got, "POSIX"))
            setlocale(LC_MESSAGES, "C.UTF-8");
        if (!utf8_ctype_from_env())
            setlocale(LC_CTYPE, "C.UTF-8");
    }
    bindtextdomain(GS_TEXTDOMAIN, gs_locale_dir(dir, sizeof dir, GS_LOCALEDIR));
    bind_textdomain_codeset(GS_TEXTDOMAIN, "UTF-8");
    textdomain(GS_TEXTDOMAIN);
}
