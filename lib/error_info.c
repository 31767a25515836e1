/* error_info.c — unpacks the google.rpc.Status of a failed call (error_info.h). */
#include "error_info.h"

#include <stdio.h>
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define TYPE_PREFIX "type.googleapis.com/"

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* The Any's message if it holds a message of type d, else NULL (free with d's free). */
static ProtobufCMessage *unpack_any(const Google__Protobuf__Any *any,
                                    const ProtobufCMessageDescriptor *d)
{
    const char *url = any->type_url ? any->type_url : "";
    const char *slash = strrchr(url, '/');
    if (strcmp(slash ? slash + 1 : url, d->name) != 0)
        return NULL;
    return protobuf_c_message_unpack(d, NULL, any->value.len, any->value.data);
}

static void take_info(const Google__Rpc__ErrorInfo *info, gs_error_info *out)
{
    copy(out->reason, sizeof out->reason, info->reason);
    copy(out->domain, sizeof out->domain, info->domain);
    for (size_t i = 0; i < info->n_metadata && out->n_meta < GS_ERROR_INFO_MAX; i++) {
        copy(out->meta[out->n_meta][0], sizeof out->meta[0][0], info->metadata[i]->key);
        copy(out->meta[out->n_meta][1], sizeof out->meta[0][1], info->metadata[i]->value);
        out->n_meta++;
    }
}

static void take_bad(const Google__Rpc__BadRequest *bad, gs_error_info *out)
{
    for (size_t i = 0; i < bad->n_field_violations && out->n_fields < GS_ERROR_INFO_MAX; i++) {
        const Google__Rpc__BadRequest__FieldViolation *v = bad->field_violations[i];
        copy(out->fields[out->n_fields][0], sizeof out->fields[0][0], v->field);
        copy(out->fields[out->n_fields][1], sizeof out->fields[0][1], v->description);
        out->n_fields++;
    }
}

int gs_error_info_parse(const uint8_t *buf, size_t len, gs_error_info *out)
{
    memset(out, 0, sizeof *out);
    if (!buf)
        return -1;
    Google__Rpc__Status *st = google__rpc__status__unpack(NULL, len, buf);
    if (!st)
        return -1;
    for (size_t i = 0; i < st->n_details; i++) {
        ProtobufCMessage *m;
        if ((m = unpack_any(st->details[i], &google__rpc__error_info__descriptor))) {
            take_info((const Google__Rpc__ErrorInfo *)m, out);
            protobuf_c_message_free_unpacked(m, NULL);
        } else if ((m = unpack_any(st->details[i], &google__rpc__bad_request__descriptor))) {
            take_bad((const Google__Rpc__BadRequest *)m, out);
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    google__rpc__status__free_unpacked(st, NULL);
    return 0;
}
