/* method_table.c — the one method table: the runtime's standard services (health,
 * reflection) followed by the domain's, each row resolved against its service
 * descriptor at start-up (methods_resolve, method.h); dispatch.c registers and serves
 * what it holds. */
#include "method.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "reflection.h"

/* The standard services first, then the domain's; NULL-terminated. */
static service_def *all_services[64] = {&health_service, &reflection_v1_service,
                                        &reflection_v1alpha_service};
enum { N_STANDARD = 3 };

service_def *const *methods_services(void)
{
    return all_services;
}

int methods_resolve(service_def *const *domain, char *err, size_t errlen)
{
    size_t n = N_STANDARD;
    for (service_def *const *sp = domain; *sp; sp++) {
        if (n + 1 >= sizeof all_services / sizeof all_services[0]) {
            snprintf(err, errlen, "method table: more than %zu services",
                     sizeof all_services / sizeof all_services[0] - 1);
            return -1;
        }
        all_services[n++] = *sp;
    }
    all_services[n] = NULL;
    for (service_def *const *sp = all_services; *sp; sp++) {
        service_def *s = *sp;
        for (size_t i = 0; i < s->n_methods; i++) {
            method_def *m = &s->methods[i];
            const ProtobufCMethodDescriptor *md = NULL;
            for (unsigned k = 0; k < s->desc->n_methods; k++)
                if (strcmp(s->desc->methods[k].name, m->name) == 0)
                    md = &s->desc->methods[k];
            if (!md) {
                snprintf(err, errlen, "method table: %s has no method %s", s->desc->name, m->name);
                return -1;
            }
            if ((m->kind == RPC_SERVER_STREAM) != (m->stream != NULL) ||
                (m->kind != RPC_SERVER_STREAM && !m->handler)) {
                snprintf(err, errlen, "method table: %s.%s has no handler for its kind",
                         s->desc->name, m->name);
                return -1;
            }
            /* A row without a permission would run with no token and no caller: only a
             * public method that needs no database (health, reflection) may have none. */
            bool public_ = (m->flags & MF_PUBLIC) != 0;
            const char *bad = NULL;
            if (m->perm == PERM_NONE && !(public_ && (m->flags & MF_NO_DB)))
                bad = "has no permission (only a public method without database may)";
            else if (m->perm != PERM_NONE && public_)
                bad = "is public but names a permission";
            else if ((unsigned)m->perm >= PERM_COUNT)
                bad = "names an unknown permission";
            if (bad) {
                snprintf(err, errlen, "method table: %s.%s %s", s->desc->name, m->name, bad);
                return -1;
            }
            m->desc = md;
            m->service = s->desc;
            snprintf(m->path, sizeof m->path, "/%s/%s", s->desc->name, m->name);
        }
        for (unsigned k = 0; k < s->desc->n_methods; k++) {
            bool found = false;
            for (size_t i = 0; i < s->n_methods; i++)
                found |= strcmp(s->methods[i].name, s->desc->methods[k].name) == 0;
            if (!found) {
                snprintf(err, errlen, "method table: %s.%s has no row", s->desc->name,
                         s->desc->methods[k].name);
                return -1;
            }
        }
    }
    return 0;
}
