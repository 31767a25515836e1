/* stock_jobs.h — stock's periodic database job: the near-expiry scan, which announces on
 * gs_stock_alerts each lot that came within 30 days of its expiry since the last scan
 * (stock_scan_near_expiry in 013_import_expiry_scan.sql; once per lot, however many
 * server processes run it). */
#ifndef GS_STOCK_JOBS_H
#define GS_STOCK_JOBS_H

#include "config.h"

/* Registers the scan with monitor_every. Call from main before monitor_start. */
void stock_jobs_register(const gs_config *cfg);

#endif
