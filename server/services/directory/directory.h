/* directory.h — what the directory services (org units, compounds, users,
 * sites, catalog) share, and the other domains use too: org-unit lookup within the
 * caller's scope, the district-wide scope check, update masks, enumerations checked
 * against their lists, and the SQL snippets for timestamps. */
#ifndef GS_SVC_DIRECTORY_COMMON_H
#define GS_SVC_DIRECTORY_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"

/* RFC 3339 UTC text of a timestamptz column, as a SQL expression ("" stays NULL). */
#define DIR_TS(col) "to_char((" col ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* An org unit found in the caller's scope; strings live until the call ends. */
typedef struct dir_unit {
    int64_t id;
    const char *code;
    const char *name;
    const char *kind;
    const char *path; /* ltree text */
} dir_unit;

/* Finds the org unit named by `id` (or by `code` when id is 0) inside the caller's scope.
 * Neither given: the caller's scope unit when !required, else INVALID_ARGUMENT naming
 * `field`. Outside the scope or unknown: NOT_FOUND "org unit 12 not found". */
gs_code dir_unit_find(call *c, int64_t id, const char *code, const char *field, bool required,
                      dir_unit *out);

/* PERMISSION_DENIED "<what>: it needs a district-wide scope" unless the caller's scope
 * is the district (the root org unit): for checks over the whole database. */
gs_code dir_require_district(call *c, const char *what);

/* Update masks. dir_mask_check fails with INVALID_ARGUMENT on a name not in `allowed`
 * (NULL-terminated). dir_mask_has: is `name` to be changed? Named in the mask, or, with an
 * empty mask, `set` (the request's field is not empty/zero/false). */
gs_code dir_mask_check(call *c, size_t n, char *const *mask, const char *const *allowed);
bool dir_mask_has(size_t n, char *const *mask, const char *name, bool set);

/* Appends `field` to the comma-separated list *list (NULL: empty), for audit summaries. */
void dir_note(call *c, const char **list, const char *field);

/* Fails with INVALID_ARGUMENT naming `field` unless `s` is one of `allowed`
 * (NULL-terminated); an empty `s` passes when !required. */
gs_code dir_enum(call *c, const char *field, const char *s, const char *const *allowed,
                 bool required);

/* Fails with INVALID_ARGUMENT naming `field` unless lo <= v <= hi (and v is a number). */
gs_code dir_double_range(call *c, const char *field, double v, double lo, double hi);

/* SQL text of a double, exact enough to read back the same value. */
const char *dir_f64(call *c, double v);

/* The allowed values of the enumerated text columns (001_core.sql CHECKs). */
extern const char *const dir_org_unit_kinds[];
extern const char *const dir_site_kinds[];
extern const char *const dir_item_categories[];

#endif
