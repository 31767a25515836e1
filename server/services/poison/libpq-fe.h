/* libpq-fe.h — not for services: they use the call API (server/api/: call.h, db.h, method.h).
 * This file shadows the real header on the services' include path (CMakeLists.txt). */
#error "services use the call API in server/api/, never gRPC or libpq directly"
