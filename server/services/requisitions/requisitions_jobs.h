/* requisitions_jobs.h — the requisitions' periodic database jobs: releasing reservations
 * that were not dispatched within the configured time (reservation_ttl_s), and switching
 * off emergency activations at their end time. */
#ifndef GS_REQUISITION_JOBS_H
#define GS_REQUISITION_JOBS_H

#include "config.h"

/* Takes the reservation time and emergency_max_hours from cfg and registers the expiry
 * jobs with monitor_every.
 * Call from main before monitor_start. */
void requisition_jobs_register(const gs_config *cfg);

#endif
