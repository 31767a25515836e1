/* registry.c — the domain services the server offers and their periodic jobs, one line
 * each; each service's rows live beside its handlers in services/<domain>/. */
#include "services.h"

#include "funds/funds.h"
#include "requisitions/requisitions_jobs.h"
#include "stock/stock_jobs.h"

extern service_def org_unit_service, compound_service, user_service, site_service,
    catalog_service; /* directory/ */
extern service_def stock_service, procurement_service, charity_service, import_service; /* stock/ */
extern service_def requisition_service; /* requisitions/ */
extern service_def fund_service, fund_movement_service, disbursement_service, programme_service,
    fund_report_service; /* funds/ */

service_def *const services_table[] = {
    &org_unit_service,    &compound_service, &user_service,          &site_service,
    &catalog_service,     &fund_service,     &disbursement_service,  &programme_service,
    &fund_report_service, &stock_service,    &requisition_service,   &procurement_service,
    &charity_service,     &import_service,   &fund_movement_service, NULL,
};

void services_jobs_register(const gs_config *cfg)
{
    funds_jobs_register(cfg);
    requisition_jobs_register(cfg);
    stock_jobs_register(cfg);
}
