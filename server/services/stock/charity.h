/* charity.h — what the CharityService files share (charity.c: donations and
 * distributions; charity_quotas.c: quotas, quota rules, walk-ins; charity_rescues.c:
 * near-expiry lots turned into help). Private to server/services/stock. */
#ifndef GS_SVC_CHARITY_H
#define GS_SVC_CHARITY_H

#include <stdint.h>

#include "call.h"
#include "stock.h"

/* The periods a quota or quota rule counts over (NULL-terminated). */
extern const char *const charity_quota_periods[];

/* The caller's user id as a query parameter (call memory). */
const char *charity_actor(call *c);

/* A charity station within the caller's scope, active. */
gs_code charity_station_find(call *c, int64_t id, const char *code, stock_site *out);

/* The id of the district the caller belongs to: the root of their scope's path (call
 * memory). */
const char *charity_district_id(call *c);

#endif
