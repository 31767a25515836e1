/* fund_reports.h — what the fund report files share: the review flags' arguments and
 * collection (fund_report_flags.c), which ReviewFlags answers with and the HTML report
 * (fund_reports.c) prints, and the subtree a report covers. */
#ifndef GS_FUND_REPORTS_H
#define GS_FUND_REPORTS_H

#include <stdint.h>

#include "call.h"
#include "directory/directory.h"

#include "gridstock/v1/reports.pb-c.h"

/* The subtree a report covers: org_unit_id / org_unit_code, else the caller's scope. */
gs_code report_unit(call *c, int64_t id, const char *code, dir_unit *u);

/* What a review looks at (ReviewFlagsRequest with its defaults); strings owned by the call. */
typedef struct flag_args {
    const char *path, *from, *to;
    int64_t threshold;
    int32_t window_days, many_grids, late_days;
    double margin, full_ratio;
} flag_args;

/* Defaults and checks of req for subtree u; from/to default to the 90 days up to today. */
gs_code flag_args_make(call *c, const Gridstock__V1__ReviewFlagsRequest *req, const dir_unit *u,
                       flag_args *a);

/* Fills *out / *n with every flag for a (memory owned by the call). */
gs_code flags_collect(call *c, const flag_args *a, Gridstock__V1__ReviewFlag ***out, size_t *n);

#endif
