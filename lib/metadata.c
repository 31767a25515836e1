/* metadata.c — authorization header and request id checks (see metadata.h). */
#include "metadata.h"

#include <string.h>
#include <strings.h>

#include "pb_check.h"

gs_md_auth gs_md_bearer(const char *header, const char **token)
{
    *token = NULL;
    if (!header || !*header)
        return MD_AUTH_MISSING;
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return MD_AUTH_NOT_BEARER;
    *token = header + 7;
    return MD_AUTH_OK;
}

gs_md_rid gs_md_request_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0)
        return MD_RID_MISSING;
    if (n > GS_REQUEST_ID_MAX || !utf8_valid(id, n))
        return MD_RID_INVALID;
    return MD_RID_OK;
}
