/* gs_services.c — the list of served services (see gs_services.h). One line per service. */
#include "gs_services.h"

/* one #include per .proto that defines a service */
#include "grpc/health/v1/health.pb-c.h"
#include "gridstock/v1/catalog.pb-c.h"
#include "gridstock/v1/charity.pb-c.h"
#include "gridstock/v1/compounds.pb-c.h"
#include "gridstock/v1/funds.pb-c.h"
#include "gridstock/v1/imports.pb-c.h"
#include "gridstock/v1/org_units.pb-c.h"
#include "gridstock/v1/programmes.pb-c.h"
#include "gridstock/v1/reports.pb-c.h"
#include "gridstock/v1/procurement.pb-c.h"
#include "gridstock/v1/requisitions.pb-c.h"
#include "gridstock/v1/sites.pb-c.h"
#include "gridstock/v1/stock.pb-c.h"
#include "gridstock/v1/users.pb-c.h"

const ProtobufCServiceDescriptor *const gs_service_descriptors[] = {
    &grpc__health__v1__health__descriptor, /* `gridstock health check` */
    &gridstock__v1__org_unit_service__descriptor,
    &gridstock__v1__compound_service__descriptor,
    &gridstock__v1__user_service__descriptor,
    &gridstock__v1__site_service__descriptor,
    &gridstock__v1__catalog_service__descriptor,
    &gridstock__v1__fund_service__descriptor,
    &gridstock__v1__fund_movement_service__descriptor,
    &gridstock__v1__disbursement_service__descriptor,
    &gridstock__v1__programme_service__descriptor,
    &gridstock__v1__fund_report_service__descriptor,
    &gridstock__v1__stock_service__descriptor,
    &gridstock__v1__requisition_service__descriptor,
    &gridstock__v1__procurement_service__descriptor,
    &gridstock__v1__charity_service__descriptor,
    &gridstock__v1__import_service__descriptor,
    /* one line per service, e.g. &gridstock__v1__site_service__descriptor, */
    NULL,
};
