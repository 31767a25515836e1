/* services.c — the method table: every service_def the server offers. One line each;
 * the rows live beside their handlers in svc_*.c. */
#include "method.h"

#include "health.h"
#include "reflection.h"

/* extern service_def declarations, one per svc_*.c */
extern service_def org_unit_service, compound_service, user_service, site_service, catalog_service;
extern service_def fund_service, disbursement_service; /* svc_funds.c, svc_disbursements.c */
extern service_def stock_service;                      /* svc_stock.c */
extern service_def requisition_service;                /* svc_requisitions*.c */
extern service_def programme_service,
    fund_report_service;                /* svc_programmes.c, svc_fund_reports.c */
extern service_def procurement_service; /* svc_procurement*.c */
extern service_def charity_service;     /* svc_charity.c */
extern service_def import_service;      /* svc_import.c */

service_def *const gs_services[] = {
    &health_service,       &reflection_v1_service, &reflection_v1alpha_service,
    &org_unit_service,     &compound_service,      &user_service,
    &site_service,         &catalog_service,       &fund_service,
    &disbursement_service, &programme_service,     &fund_report_service,
    &stock_service,        &requisition_service,   &procurement_service,
    &charity_service,      &import_service,        NULL,
};
