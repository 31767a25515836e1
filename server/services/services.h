/* services.h — what start-up needs from the domain services: their method tables (handed
 * to methods_resolve after the runtime's standard services) and their periodic jobs. */
#ifndef GS_DOMAIN_SERVICES_H
#define GS_DOMAIN_SERVICES_H

#include "config.h"
#include "method.h"

/* Every domain service, NULL-terminated: generated from the .proto files (gs_methods.c,
 * scripts/gen_methods.py), in the order of gs_service_descriptors. */
extern service_def *const services_table[];

/* Registers each domain's periodic jobs with the monitor (before it starts). */
void services_jobs_register(const gs_config *cfg);

#endif
