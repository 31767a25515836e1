/* requisitions_jobs.c — the requisitions' periodic database job (releasing reservations
 * that were not dispatched within reservation_ttl_s) and the reservation time it uses. */
#include "requisitions_jobs.h"

#include "monitor.h"
#include "requisitions.h"

enum { TTL_DEFAULT = 86400, EXPIRY_PERIOD_S = 10 };

static int reservation_ttl = TTL_DEFAULT;

int req_reservation_ttl(void)
{
    return reservation_ttl;
}

void requisition_jobs_register(const gs_config *cfg)
{
    if (cfg && cfg->reservation_ttl_s > 0)
        reservation_ttl = cfg->reservation_ttl_s;
    /* Every server runs it; SKIP LOCKED and the status re-check under the row lock in
     * requisition_expire_reservations make each expiry happen once. */
    monitor_every("reservation_expiry", EXPIRY_PERIOD_S,
                  "SELECT requisition_expire_reservations()");
}
