/* metrics.c — atomic counters behind metrics.h. */
#include "metrics.h"

#include <stdatomic.h>

static _Atomic uint64_t by_code[GS_CODE_COUNT];
static _Atomic uint64_t total_us;
static _Atomic uint64_t retries;

void metrics_call(const char *path, gs_code code, int64_t micros)
{
    (void)path;
    if ((unsigned)code < GS_CODE_COUNT)
        atomic_fetch_add_explicit(&by_code[code], 1, memory_order_relaxed);
    if (micros > 0)
        atomic_fetch_add_explicit(&total_us, (uint64_t)micros, memory_order_relaxed);
}

void metrics_retry(void) { atomic_fetch_add_explicit(&retries, 1, memory_order_relaxed); }

uint64_t metrics_calls(int code)
{
    if (code >= 0)
        return code < GS_CODE_COUNT ? atomic_load(&by_code[code]) : 0;
    uint64_t n = 0;
    for (int i = 0; i < GS_CODE_COUNT; i++)
        n += atomic_load(&by_code[i]);
    return n;
}

uint64_t metrics_retries(void) { return atomic_load(&retries); }
