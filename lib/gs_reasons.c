/* gs_reasons.c — names and English sentences of the error reasons (gs_reasons.h). */
#include "gs_reasons.h"

#include <stddef.h>
#include <string.h>

static const struct {
    const char *name, *text;
} reasons[GS_R_COUNT] = {
#define GS_R_X(n, t) [GS_R_##n] = {#n, t},
    GS_REASON_LIST(GS_R_X)
#undef GS_R_X
};

const char *gs_reason_name(gs_reason r)
{
    if (r <= GS_R_NONE || r >= GS_R_COUNT)
        return NULL;
    return reasons[r].name;
}

gs_reason gs_reason_from_name(const char *name)
{
    if (!name)
        return GS_R_NONE;
    for (int r = GS_R_NONE + 1; r < GS_R_COUNT; r++)
        if (strcmp(reasons[r].name, name) == 0)
            return (gs_reason)r;
    return GS_R_NONE;
}

const char *gs_reason_text(const char *name)
{
    gs_reason r = gs_reason_from_name(name);
    return r == GS_R_NONE ? NULL : reasons[r].text;
}
