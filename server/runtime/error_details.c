/* error_details.c — packs the google.rpc.Status of a failed call: code, message, one
 * google.rpc.ErrorInfo (reason, domain "gridstock", metadata) and, when a request field was
 * wrong, a google.rpc.BadRequest naming it. The transport sends the bytes as the
 * grpc-status-details-bin trailer (rpc.c). */
#include "error_details.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"

#define DOMAIN "gridstock"
#define TYPE_PREFIX "type.googleapis.com/"

struct error_in {
    gs_code code;
    const char *message;
    gs_reason reason;
    const char *field;       /* NULL: no BadRequest */
    const char *description; /* the field's problem */
    const char *const (*meta)[2];
    int n_meta;
};

/* Packs m into a malloc'd Any; false when out of memory. */
static bool any_of(Google__Protobuf__Any *any, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    char *url = malloc(sizeof TYPE_PREFIX + strlen(m->descriptor->name));
    if (!buf || !url) {
        free(buf);
        free(url);
        return false;
    }
    strcpy(url, TYPE_PREFIX);
    strcat(url, m->descriptor->name);
    protobuf_c_message_pack(m, buf);
    any->type_url = url;
    any->value.data = buf;
    any->value.len = n;
    return true;
}

static void any_free(Google__Protobuf__Any *any)
{
    free(any->type_url);
    free(any->value.data);
}

static uint8_t *pack(const struct error_in *e, size_t *len)
{
    Google__Rpc__ErrorInfo info = GOOGLE__RPC__ERROR_INFO__INIT;
    const char *name = gs_reason_name(e->reason);
    info.reason = (char *)(name ? name : gs_code_name(e->code));
    info.domain = (char *)DOMAIN;
    Google__Rpc__ErrorInfo__MetadataEntry entries[GS_ERROR_META_MAX];
    Google__Rpc__ErrorInfo__MetadataEntry *entry_ptrs[GS_ERROR_META_MAX];
    for (int i = 0; i < e->n_meta && i < GS_ERROR_META_MAX; i++) {
        google__rpc__error_info__metadata_entry__init(&entries[i]);
        entries[i].key = (char *)e->meta[i][0];
        entries[i].value = (char *)e->meta[i][1];
        entry_ptrs[i] = &entries[i];
        info.n_metadata++;
    }
    info.metadata = entry_ptrs;

    Google__Rpc__BadRequest__FieldViolation fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT;
    Google__Rpc__BadRequest__FieldViolation *fvs[1] = {&fv};
    Google__Rpc__BadRequest bad = GOOGLE__RPC__BAD_REQUEST__INIT;
    fv.field = (char *)(e->field ? e->field : "");
    fv.description = (char *)(e->description ? e->description : "");
    bad.n_field_violations = 1;
    bad.field_violations = fvs;

    Google__Protobuf__Any anys[2];
    Google__Protobuf__Any *any_ptrs[2] = {&anys[0], &anys[1]};
    google__protobuf__any__init(&anys[0]);
    google__protobuf__any__init(&anys[1]);
    Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
    st.code = (int32_t)e->code;
    st.message = (char *)(e->message ? e->message : "");
    st.details = any_ptrs;
    uint8_t *out = NULL;
    size_t made = 0; /* Anys packed, freed at the end */
    if (any_of(&anys[0], &info.base))
        made = 1;
    if (made == 1 && e->field && any_of(&anys[1], &bad.base))
        made = 2;
    if (made == (e->field ? 2u : 1u)) {
        st.n_details = made;
        *len = protobuf_c_message_get_packed_size(&st.base);
        out = malloc(*len ? *len : 1);
        if (out)
            protobuf_c_message_pack(&st.base, out);
    }
    for (size_t i = 0; i < made; i++)
        any_free(&anys[i]);
    return out;
}

/* Length of the field path a message starts with ("lines[2].qty: ..."), or 0. */
static size_t field_prefix(const char *m)
{
    size_t i = 0;
    if (!isalpha((unsigned char)m[0]) && m[0] != '_')
        return 0;
    while (isalnum((unsigned char)m[i]) || strchr("_.[]", m[i]))
        i++;
    return m[i] == ':' && m[i + 1] == ' ' ? i : 0;
}

uint8_t *error_details_of_call(const call *c, size_t *len)
{
    if (c->code == GS_OK)
        return NULL;
    const char *meta[GS_ERROR_META_MAX][2];
    for (int i = 0; i < c->n_meta; i++) {
        meta[i][0] = c->meta[i].key;
        meta[i][1] = c->meta[i].value;
    }
    struct error_in e = {
        c->code, c->message, c->reason, c->field, NULL, (const char *const(*)[2])meta, c->n_meta};
    char field[128];
    if (!e.field && e.code == GS_INVALID_ARGUMENT) {
        size_t n = field_prefix(c->message);
        if (n > 0 && n < sizeof field) {
            memcpy(field, c->message, n);
            field[n] = '\0';
            e.field = field;
            if (e.reason == GS_R_NONE)
                e.reason = GS_R_FIELD_INVALID;
        }
    }
    if (e.field) { /* the message is "field: problem" */
        size_t n = strlen(e.field);
        e.description = strncmp(c->message, e.field, n) == 0 && c->message[n] == ':'
                            ? c->message + n + 1 + (c->message[n + 1] == ' ')
                            : c->message;
    }
    return pack(&e, len);
}

uint8_t *error_details_default(gs_code code, const char *message, size_t *len)
{
    if (code == GS_OK)
        return NULL;
    struct error_in e = {code, message, GS_R_NONE, NULL, NULL, NULL, 0};
    return pack(&e, len);
}
