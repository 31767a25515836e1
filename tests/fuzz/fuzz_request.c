/* fuzz_request.c — libFuzzer target for the server's request decode path: the first two
 * input bytes pick a method of any gridstock service (gs_service_descriptors, the list the
 * server's method table is checked against), the rest is the request body; it is unpacked
 * with protobuf-c into an arena as dispatch.c does and walked by pb_check with the
 * server's limits. Handlers need a database, so the target stops there. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "gs_services.h"
#include "pb_check.h"
#include "pbjson.h"

static const ProtobufCMethodDescriptor *methods[1024];
static size_t n_methods;
static arena *pool;

static void init(void)
{
    for (size_t s = 0; gs_service_descriptors[s]; s++) {
        const ProtobufCServiceDescriptor *sd = gs_service_descriptors[s];
        for (unsigned m = 0; m < sd->n_methods && n_methods < 1024; m++)
            methods[n_methods++] = &sd->methods[m];
    }
    pool = arena_new(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pb_limits limits = {.max_string = 4096, .max_repeated = 10000, .max_depth = 16};
    if (!n_methods)
        init();
    if (size < 2)
        return 0;
    const ProtobufCMethodDescriptor *md = methods[((size_t)data[0] << 8 | data[1]) % n_methods];
    ProtobufCMessage *m =
        protobuf_c_message_unpack(md->input, arena_pb_allocator(pool), size - 2, data + 2);
    if (m) {
        char err[300];
        if (pb_check(m, &limits, err, sizeof err) == 0) {
            /* what the server would log or the CLI print: must not fail on a checked message */
            char *js = pbjson_dumps(m, 0, err, sizeof err);
            if (!js) {
                fprintf(stderr, "pbjson_dumps failed on a checked %s: %s\n", md->input->name, err);
                abort();
            }
            free(js);
            /* and a checked message re-encodes to the size it claims. (Decoding the
             * re-encoded bytes is not asserted: protobuf-c 1.4 keeps an unknown field
             * numbered 0 when its tag is an overlong varint (81 00) but refuses the
             * canonical one-byte tag it writes back; see docs/testing.md.) */
            size_t len = protobuf_c_message_get_packed_size(m);
            uint8_t *buf = malloc(len ? len : 1);
            if (protobuf_c_message_pack(m, buf) != len)
                abort();
            free(buf);
        }
    }
    arena_reset(pool);
    return 0;
}
