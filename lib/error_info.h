/* error_info.h — reads the google.rpc.Status a gridstock server sends with a failed call
 * (grpc-status-details-bin): the ErrorInfo's reason and metadata and the BadRequest's
 * field violations, for the CLI to show in the user's language. */
#ifndef GS_ERROR_INFO_H
#define GS_ERROR_INFO_H

#include <stddef.h>
#include <stdint.h>

#define GS_ERROR_INFO_MAX 8

typedef struct gs_error_info {
    char reason[64]; /* "STOCK_INSUFFICIENT", "" when none */
    char domain[64]; /* "gridstock" */
    int n_meta;
    char meta[GS_ERROR_INFO_MAX][2][128]; /* key, value */
    int n_fields;
    char fields[GS_ERROR_INFO_MAX][2][256]; /* field, description */
} gs_error_info;

/* Fills *out from a packed google.rpc.Status; 0 on success, -1 when buf is not one
 * (*out is then empty). Longer texts are cut. */
int gs_error_info_parse(const uint8_t *buf, size_t len, gs_error_info *out);

#endif
