/* requisitions_jobs.c — the requisitions' periodic database jobs (releasing reservations
 * that were not dispatched within reservation_ttl_s; switching off emergency activations
 * at their end time) and the settings they and the handlers use. */
#include "requisitions_jobs.h"

#include "monitor.h"
#include "requisitions.h"

enum { TTL_DEFAULT = 86400, EXPIRY_PERIOD_S = 10, EMERGENCY_MAX_DEFAULT = 168 };

static int reservation_ttl = TTL_DEFAULT;
static int emergency_max_hours = EMERGENCY_MAX_DEFAULT;

int req_emergency_max_hours(void)
{
    return emergency_max_hours;
}

int req_reservation_ttl(void)
{
    return reservation_ttl;
}

void requisition_jobs_register(const gs_config *cfg)
{
    if (cfg && cfg->reservation_ttl_s > 0)
        reservation_ttl = cfg->reservation_ttl_s;
    if (cfg && cfg->emergency_max_hours > 0)
        emergency_max_hours = cfg->emergency_max_hours;
    /* Every server runs it; SKIP LOCKED and the status re-check under the row lock in
     * requisition_expire_reservations make each expiry happen once. */
    monitor_every("reservation_expiry", EXPIRY_PERIOD_S,
                  "SELECT requisition_expire_reservations()");
    /* Same pattern in emergency_expire (032_emergency_two_person.sql): each activation
     * past its end time is switched off once, announced and audited. */
    monitor_every("emergency_expiry", EXPIRY_PERIOD_S, "SELECT emergency_expire()");
}
