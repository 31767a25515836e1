/* registry.c — the periodic jobs of the domain services, one line each. The services
 * themselves (services_table) are generated from the .proto files (gs_methods.c). */
#include "services.h"

#include "funds/funds.h"
#include "requisitions/requisitions_jobs.h"
#include "stock/stock_jobs.h"

void services_jobs_register(const gs_config *cfg)
{
    funds_jobs_register(cfg);
    requisition_jobs_register(cfg);
    stock_jobs_register(cfg);
}
