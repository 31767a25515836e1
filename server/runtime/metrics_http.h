/* metrics_http.h — the admin HTTP endpoint that serves metrics_render() at GET /metrics. */
#ifndef GS_METRICS_HTTP_H
#define GS_METRICS_HTTP_H

#include <stddef.h>

/* Listens on HOST:PORT (port 0 picks one) with a thread of its own. Returns the bound
 * port, or 0 with err filled. Start after the signal mask is set so the thread inherits it. */
int metrics_http_start(const char *listen, char *err, size_t errlen);
void metrics_http_stop(void);

#endif
