/* fuzz_pbjson.c — libFuzzer target for JSON → protobuf-c (lib/pbjson.c, what the CLI's
 * --data goes through): the first two bytes pick a request message of any method, the
 * rest is JSON text. A message that parses must print back to JSON that parses to the
 * same packed bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gs_services.h"
#include "pbjson.h"

static const ProtobufCMessageDescriptor *types[2048];
static size_t n_types;

static void init(void)
{
    for (size_t s = 0; gs_service_descriptors[s]; s++) {
        const ProtobufCServiceDescriptor *sd = gs_service_descriptors[s];
        for (unsigned m = 0; m < sd->n_methods && n_types < 2047; m++) {
            types[n_types++] = sd->methods[m].input;
            types[n_types++] = sd->methods[m].output;
        }
    }
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    protobuf_c_message_pack(m, b);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!n_types)
        init();
    if (size < 2)
        return 0;
    const ProtobufCMessageDescriptor *d = types[((size_t)data[0] << 8 | data[1]) % n_types];
    char err[300];
    ProtobufCMessage *m = pbjson_parse(d, (const char *)data + 2, size - 2, NULL, err, sizeof err);
    if (!m)
        return 0;
    char *js = pbjson_dumps(m, 0, err, sizeof err);
    if (!js)
        abort(); /* parsed strings are valid UTF-8, so printing cannot fail */
    ProtobufCMessage *m2 = pbjson_parse(d, js, strlen(js), NULL, err, sizeof err);
    if (!m2)
        abort();
    size_t l1, l2;
    uint8_t *b1 = pack(m, &l1), *b2 = pack(m2, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        abort();
    free(b1);
    free(b2);
    free(js);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
    return 0;
}
