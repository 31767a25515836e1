/* dispatch.h — the method-table walk that serves every call (see dispatch.c). */
#ifndef GS_DISPATCH_H
#define GS_DISPATCH_H

#include "config.h"
#include "rpc.h"
#include "token.h"

void dispatch_init(const gs_config *cfg, const gs_keyring *keys);
/* Replaces the keyring used to verify tokens (SIGHUP reload). Calls in flight may still
 * use the previous one: the caller keeps it alive until the workers are stopped. */
void dispatch_set_keyring(const gs_keyring *keys);
/* Registers every method of every service with the transport; -1 out of memory. */
int dispatch_register(rpc_server *srv);
extern const rpc_handlers dispatch_handlers;

#endif
