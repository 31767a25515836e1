/* services.c — the method table: every service_def the server offers. One line each;
 * the rows live beside their handlers in svc_*.c. */
#include "method.h"

#include "health.h"
#include "reflection.h"

/* extern service_def declarations, one per svc_*.c */
extern service_def org_unit_service, compound_service, user_service, site_service, catalog_service;

service_def *const gs_services[] = {
    &health_service,   &reflection_v1_service, &reflection_v1alpha_service,
    &org_unit_service, &compound_service,      &user_service,
    &site_service,     &catalog_service,       NULL,
};
