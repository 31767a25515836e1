/* households.h — what the household register (households.c) offers other services: the
 * "who has been helped" figures HelpedReport returns, for the stock dashboard
 * (stock/stock_dashboard.c) to show the same numbers from the same query. */
#ifndef GS_SVC_HOUSEHOLDS_H
#define GS_SVC_HOUSEHOLDS_H

#include "call.h"
#include "db.h"

/* The period [since, until) as dates of the district's clock (the session's time zone):
 * since defaults to the 1st of this month, until to a month after since; at most 366
 * days. *s and *u are YYYY-MM-DD (call memory); INVALID_ARGUMENT naming since or until. */
gs_code household_period(call *c, const char *since, const char *until, const char **s,
                         const char **u);

/* Per grid of the org unit at `path` (every grid, with or without households) and per
 * community over them (the community row after its grids): households registered, served
 * (a distribution at any station in [since, until)) and not, and per need flag registered
 * and served. Columns HELPED_COLUMNS, HELP_LEVEL "grid" or "community". */
gs_code household_helped_rows(call *c, const char *path, const char *since, const char *until,
                              db_res **out);

#define HELPED_COLUMNS(COL)                                                                        \
    COL(HELP_LEVEL, "CASE WHEN grouping(gc) = 1 THEN 'community' ELSE 'grid' END", level, str)     \
    COL(HELP_CODE, ", CASE WHEN grouping(gc) = 1 THEN cc ELSE gc END", org_unit_code, str)         \
    COL(HELP_NAME, ", CASE WHEN grouping(gc) = 1 THEN min(cn) ELSE min(gn) END", org_unit_name,    \
        str)                                                                                       \
    COL(HELP_COMMUNITY, ", cc", community_code, str)                                               \
    COL(HELP_HOUSEHOLDS, ", count(h.id)", households, i64)                                         \
    COL(HELP_SERVED, ", count(h.id) FILTER (WHERE sv)", served, i64)                               \
    COL(HELP_NOT_SERVED, ", count(h.id) FILTER (WHERE NOT sv)", not_served, i64)                   \
    COL(HELP_ELDERLY, ", count(h.id) FILTER (WHERE h.elderly_alone)", elderly_alone, i64)          \
    COL(HELP_ELDERLY_S, ", count(h.id) FILTER (WHERE h.elderly_alone AND sv)",                     \
        elderly_alone_served, i64)                                                                 \
    COL(HELP_DISABLED, ", count(h.id) FILTER (WHERE h.disabled_member)", disabled_member, i64)     \
    COL(HELP_DISABLED_S, ", count(h.id) FILTER (WHERE h.disabled_member AND sv)",                  \
        disabled_member_served, i64)                                                               \
    COL(HELP_LOW, ", count(h.id) FILTER (WHERE h.low_income)", low_income, i64)                    \
    COL(HELP_LOW_S, ", count(h.id) FILTER (WHERE h.low_income AND sv)", low_income_served, i64)    \
    COL(HELP_INFANT, ", count(h.id) FILTER (WHERE h.infant)", infant, i64)                         \
    COL(HELP_INFANT_S, ", count(h.id) FILTER (WHERE h.infant AND sv)", infant_served, i64)         \
    COL(HELP_CHRONIC, ", count(h.id) FILTER (WHERE h.chronic_illness)", chronic_illness, i64)      \
    COL(HELP_CHRONIC_S, ", count(h.id) FILTER (WHERE h.chronic_illness AND sv)",                   \
        chronic_illness_served, i64)
enum { HELPED_COLUMNS(DB_COL_NAME) HELP_NCOLS };
#define HELPED_COLS HELPED_COLUMNS(DB_COL_SQL)

#endif
