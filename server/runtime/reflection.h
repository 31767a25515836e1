/* reflection.h — gRPC server reflection (grpc.reflection.v1 and v1alpha), answered from
 * the FileDescriptorSet that the build embeds (gen/descriptor_set.c), so grpcurl and
 * grpc-js can call gridstock with no copy of our .proto files. */
#ifndef GS_REFLECTION_H
#define GS_REFLECTION_H

#include <stddef.h>
#include <stdint.h>

#include "method.h"

extern service_def reflection_v1_service;
extern service_def reflection_v1alpha_service;

/* Builds the process-wide index from the embedded descriptor set. Call once before the
 * server starts; returns 0, or -1 with the reason in reflection_error(). */
int reflection_init(void);
/* Frees the index (after the server stopped). */
void reflection_free(void);
/* Why reflection_init failed; "" when it did not. */
const char *reflection_error(void);

/* The descriptor index: pure logic over a serialized FileDescriptorSet, read-only once
 * built (safe to share between workers). File bytes point into the set, which must
 * outlive the index. */
typedef struct refl_index refl_index;

refl_index *refl_index_build(const uint8_t *set, size_t len, char *err, size_t errlen);
void refl_index_free(refl_index *ix);
size_t refl_index_file_count(const refl_index *ix);
/* The file's name and exact serialized FileDescriptorProto bytes. */
const char *refl_index_file_name(const refl_index *ix, int file);
const uint8_t *refl_index_file_bytes(const refl_index *ix, int file, size_t *len);
/* Lookups return a file number, or -1 when unknown. A symbol is fully qualified
 * (package.Message, package.Service.Method, nested types, fields, enums and their
 * values); one leading '.' is accepted. */
int refl_index_find_file(const refl_index *ix, const char *filename);
int refl_index_find_symbol(const refl_index *ix, const char *symbol);
int refl_index_find_extension(const refl_index *ix, const char *type, int32_t number);
/* Writes `file` and then its transitive dependencies, each once, to out (room for
 * refl_index_file_count entries); returns how many. */
size_t refl_index_closure(const refl_index *ix, int file, int *out);
/* Extension numbers declared for message `type` (room for `max`); returns how many
 * there are in all, or -1 when `type` is not a known message. */
int refl_index_extension_numbers(const refl_index *ix, const char *type, int32_t *out, size_t max);
/* True when `type` names a message in the set. */
int refl_index_is_message(const refl_index *ix, const char *type);

#endif
