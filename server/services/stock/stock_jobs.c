/* stock_jobs.c — registers stock's periodic job (stock_jobs.h) with the monitor. */
#include "stock_jobs.h"

#include "monitor.h"

enum { NEAR_EXPIRY_SCAN_PERIOD_S = 600 };

void stock_jobs_register(const gs_config *cfg)
{
    (void)cfg;
    /* Every server runs it, first at start-up; stock_expiry_alerted (INSERT ... ON CONFLICT
     * DO NOTHING) lets exactly one of them announce each lot. */
    monitor_every("near_expiry_scan", NEAR_EXPIRY_SCAN_PERIOD_S,
                  "SELECT stock_scan_near_expiry(30)");
}
