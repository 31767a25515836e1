/* gs_status.c — names of the status codes, for logs, the CLI and tests. */
#include "gs_status.h"

static const char *const names[GS_CODE_COUNT] = {
#define GS_X(name, num, str) [num] = str,
    GS_STATUS_LIST(GS_X)
#undef GS_X
};

const char *gs_code_name(int code)
{
    if (code < 0 || code >= GS_CODE_COUNT)
        return "UNKNOWN";
    return names[code];
}
