/* streaming.c — which methods stream, read from the descriptor set embedded in the library
 * (protoc's server_streaming / client_streaming flags; protobuf-c's service descriptors do
 * not carry them). Should the set not know a method, the naming rule `Watch*` = server
 * streaming applies. The parsed set is shared with secret.c (field options). */
#include <string.h>

#include "cli.h"
#include "google/protobuf/descriptor.pb-c.h"

extern const unsigned char gs_descriptor_set[];
extern const size_t gs_descriptor_set_len;

static Google__Protobuf__FileDescriptorSet *set_cache;
static int set_loaded;

const Google__Protobuf__FileDescriptorSet *cli_descriptor_set(void)
{
    if (!set_loaded) {
        set_loaded = 1;
        set_cache = google__protobuf__file_descriptor_set__unpack(NULL, gs_descriptor_set_len,
                                                                  gs_descriptor_set);
    }
    return set_cache;
}

int streaming_kind(const ProtobufCServiceDescriptor *s, const ProtobufCMethodDescriptor *m)
{
    const Google__Protobuf__FileDescriptorSet *set = cli_descriptor_set();
    for (size_t f = 0; set && f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *fd = set->file[f];
        const char *pkg = fd->package ? fd->package : "";
        size_t plen = strlen(pkg);
        /* s->name is "<package>.<Service>" */
        if (strncmp(s->name, pkg, plen) != 0 || (plen && s->name[plen] != '.'))
            continue;
        const char *short_name = s->name + plen + (plen ? 1 : 0);
        for (size_t k = 0; k < fd->n_service; k++) {
            const Google__Protobuf__ServiceDescriptorProto *sd = fd->service[k];
            if (!sd->name || strcmp(sd->name, short_name) != 0)
                continue;
            for (size_t i = 0; i < sd->n_method; i++) {
                const Google__Protobuf__MethodDescriptorProto *md = sd->method[i];
                if (!md->name || strcmp(md->name, m->name) != 0)
                    continue;
                if (md->has_client_streaming && md->client_streaming)
                    return -1;
                return md->has_server_streaming && md->server_streaming;
            }
        }
    }
    return strncmp(m->name, "Watch", 5) == 0;
}
