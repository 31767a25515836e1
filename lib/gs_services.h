/* gs_services.h — every protobuf service gridstock serves, as protobuf-c descriptors.
 * The server checks its method table against this list at start-up and the CLI builds
 * its commands from it, so a service added to the .proto files and here is reachable
 * everywhere. */
#ifndef GS_SERVICES_H
#define GS_SERVICES_H

#include <protobuf-c/protobuf-c.h>

/* NULL-terminated. */
extern const ProtobufCServiceDescriptor *const gs_service_descriptors[];

#endif
