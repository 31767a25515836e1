/* gs_status.c — names of the status codes, for logs, the CLI and tests. */
#include "gs_status.h"

#include <strings.h>

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

int gs_code_from_name(const char *name)
{
    for (int i = 0; i < GS_CODE_COUNT; i++)
        if (strcasecmp(names[i], name) == 0)
            return i;
    return -1;
}
