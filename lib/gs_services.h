/* gs_services.h — every protobuf service gridstock serves, as protobuf-c descriptors:
 * health, then each gridstock service. The build generates the list (gs_services.c, by
 * scripts/gen_methods.py) from the .proto files together with the server's method table,
 * in the same order, so a service added to the .proto files is served, listed by
 * reflection and health, and a CLI command at once. */
#ifndef GS_SERVICES_H
#define GS_SERVICES_H

#include <protobuf-c/protobuf-c.h>

/* NULL-terminated. */
extern const ProtobufCServiceDescriptor *const gs_service_descriptors[];

#endif
