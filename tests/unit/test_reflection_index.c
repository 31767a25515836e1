/* test_reflection_index.c — unit tests for server/reflection.c: the symbol/file index over
 * the embedded descriptor set and synthetic ones, and the ServerReflectionInfo handler
 * (v1 and v1alpha) driven through its method table row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arena.h"
#include "call.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "gs_services.h"
#include "reflection.h"

extern const unsigned char gs_descriptor_set[];
extern const size_t gs_descriptor_set_len;

#define HEALTH_FILE "grpc/health/v1/health.proto"

static refl_index *embedded(void)
{
    char err[256] = "";
    refl_index *ix = refl_index_build(gs_descriptor_set, gs_descriptor_set_len, err, sizeof err);
    if (!ix)
        fail_msg("index: %s", err);
    return ix;
}

/* Packs a FileDescriptorSet holding the given files. Caller frees *len bytes. */
static uint8_t *pack_set(Google__Protobuf__FileDescriptorProto **files, size_t n, size_t *len)
{
    Google__Protobuf__FileDescriptorSet set = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_SET__INIT;
    set.n_file = n;
    set.file = files;
    *len = google__protobuf__file_descriptor_set__get_packed_size(&set);
    uint8_t *buf = malloc(*len ? *len : 1);
    assert_non_null(buf);
    google__protobuf__file_descriptor_set__pack(&set, buf);
    return buf;
}

static void test_symbols(void **state)
{
    (void)state;
    refl_index *ix = embedded();
    int health = refl_index_find_file(ix, HEALTH_FILE);
    assert_true(health >= 0);
    assert_string_equal(refl_index_file_name(ix, health), HEALTH_FILE);
    static const char *const in_health[] = {
        "grpc.health.v1.Health",
        ".grpc.health.v1.Health",
        "grpc.health.v1.Health.Check",
        "grpc.health.v1.Health.Watch",
        "grpc.health.v1.HealthCheckRequest",
        "grpc.health.v1.HealthCheckRequest.service",
        "grpc.health.v1.HealthCheckResponse.ServingStatus",
        "grpc.health.v1.HealthCheckResponse.SERVING", /* enum values sit beside the enum */
    };
    for (size_t i = 0; i < sizeof in_health / sizeof *in_health; i++)
        assert_int_equal(refl_index_find_symbol(ix, in_health[i]), health);
    static const char *const unknown[] = {
        "",
        ".",
        "grpc",
        "grpc.health.v1",
        "grpc.health.v1.Health.Nope",
        "Health",
        "grpc.health.v1.Healt",
        "grpc.health.v1.Health.",
        "..grpc.health.v1.Health",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        assert_int_equal(refl_index_find_symbol(ix, unknown[i]), -1);
    assert_int_equal(refl_index_find_symbol(ix, NULL), -1);
    assert_int_equal(refl_index_find_file(ix, "nope.proto"), -1);
    assert_int_equal(refl_index_find_file(ix, NULL), -1);

    assert_true(refl_index_is_message(ix, ".grpc.health.v1.HealthCheckRequest"));
    assert_false(refl_index_is_message(ix, "grpc.health.v1.Health"));
    assert_false(refl_index_is_message(ix, "grpc.health.v1.HealthCheckResponse.ServingStatus"));

    int v1 = refl_index_find_symbol(ix, "grpc.reflection.v1.ServerReflection");
    int v1a = refl_index_find_symbol(ix, "grpc.reflection.v1alpha.ServerReflection");
    assert_true(v1 >= 0 && v1a >= 0 && v1 != v1a);
    assert_int_equal(refl_index_find_symbol(ix, "grpc.reflection.v1.ErrorResponse.error_code"), v1);
    /* every served service is in the embedded set */
    for (size_t i = 0; gs_service_descriptors[i]; i++)
        assert_true(refl_index_find_symbol(ix, gs_service_descriptors[i]->name) >= 0);
    refl_index_free(ix);
}

/* Each file's bytes are the exact FileDescriptorProto: they unpack to that file. */
static void test_file_bytes(void **state)
{
    (void)state;
    refl_index *ix = embedded();
    assert_true(refl_index_file_count(ix) >= 3);
    for (size_t i = 0; i < refl_index_file_count(ix); i++) {
        size_t len;
        const uint8_t *b = refl_index_file_bytes(ix, (int)i, &len);
        assert_true(b >= gs_descriptor_set && b + len <= gs_descriptor_set + gs_descriptor_set_len);
        Google__Protobuf__FileDescriptorProto *fd =
            google__protobuf__file_descriptor_proto__unpack(NULL, len, b);
        assert_non_null(fd);
        assert_string_equal(fd->name, refl_index_file_name(ix, (int)i));
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    }
    refl_index_free(ix);
}

/* The closure starts with the file itself and holds every import, transitively, once. */
static void test_closure(void **state)
{
    (void)state;
    refl_index *ix = embedded();
    size_t nf = refl_index_file_count(ix);
    int *out = calloc(nf, sizeof *out);
    assert_non_null(out);
    for (size_t f = 0; f < nf; f++) {
        size_t n = refl_index_closure(ix, (int)f, out);
        assert_true(n >= 1 && n <= nf);
        assert_int_equal(out[0], (int)f);
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++)
                assert_int_not_equal(out[i], out[j]);
            size_t len;
            const uint8_t *b = refl_index_file_bytes(ix, out[i], &len);
            Google__Protobuf__FileDescriptorProto *fd =
                google__protobuf__file_descriptor_proto__unpack(NULL, len, b);
            assert_non_null(fd);
            for (size_t d = 0; d < fd->n_dependency; d++) {
                int dep = refl_index_find_file(ix, fd->dependency[d]);
                bool found = false;
                for (size_t k = 0; k < n; k++)
                    found = found || out[k] == dep;
                assert_true(found);
            }
            google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        }
    }
    free(out);
    refl_index_free(ix);
}

/* A synthetic set: b.proto imports a.proto and extends a message of it. */
static void test_synthetic_extensions(void **state)
{
    (void)state;
    Google__Protobuf__DescriptorProto msg = GOOGLE__PROTOBUF__DESCRIPTOR_PROTO__INIT;
    msg.name = "Base";
    Google__Protobuf__FileDescriptorProto a = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    Google__Protobuf__DescriptorProto *msgs[] = {&msg};
    a.name = "t/a.proto";
    a.package = "t";
    a.n_message_type = 1;
    a.message_type = msgs;

    Google__Protobuf__FieldDescriptorProto ext1 = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__INIT;
    ext1.name = "flag";
    ext1.has_number = 1;
    ext1.number = 100;
    ext1.extendee = ".t.Base";
    Google__Protobuf__FieldDescriptorProto ext2 = ext1;
    ext2.name = "note";
    ext2.number = 101;
    Google__Protobuf__FieldDescriptorProto *exts[] = {&ext1, &ext2};
    char *deps[] = {"t/a.proto"};
    Google__Protobuf__FileDescriptorProto b = GOOGLE__PROTOBUF__FILE_DESCRIPTOR_PROTO__INIT;
    b.name = "u/b.proto";
    b.package = "u";
    b.n_dependency = 1;
    b.dependency = deps;
    b.n_extension = 2;
    b.extension = exts;

    Google__Protobuf__FileDescriptorProto *files[] = {&a, &b};
    size_t len;
    uint8_t *set = pack_set(files, 2, &len);
    char err[256] = "";
    refl_index *ix = refl_index_build(set, len, err, sizeof err);
    assert_non_null(ix);
    assert_int_equal(refl_index_file_count(ix), 2);
    assert_int_equal(refl_index_find_symbol(ix, "t.Base"), 0);
    assert_int_equal(refl_index_find_symbol(ix, "u.flag"), 1);
    assert_int_equal(refl_index_find_extension(ix, "t.Base", 100), 1);
    assert_int_equal(refl_index_find_extension(ix, ".t.Base", 101), 1);
    assert_int_equal(refl_index_find_extension(ix, "t.Base", 102), -1);
    assert_int_equal(refl_index_find_extension(ix, "u.flag", 100), -1);
    int32_t nums[4] = {0};
    assert_int_equal(refl_index_extension_numbers(ix, "t.Base", nums, 4), 2);
    assert_true((nums[0] == 100 && nums[1] == 101) || (nums[0] == 101 && nums[1] == 100));
    assert_int_equal(refl_index_extension_numbers(ix, "t.Base", nums, 1), 2); /* total */
    assert_int_equal(refl_index_extension_numbers(ix, "t.Nope", nums, 4), -1);
    int out[2];
    assert_int_equal(refl_index_closure(ix, 1, out), 2);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 0);
    assert_int_equal(refl_index_closure(ix, 0, out), 1);
    refl_index_free(ix);

    /* b alone: its import is missing */
    Google__Protobuf__FileDescriptorProto *only_b[] = {&b};
    free(set);
    set = pack_set(only_b, 1, &len);
    assert_null(refl_index_build(set, len, err, sizeof err));
    assert_non_null(strstr(err, "t/a.proto"));
    free(set);
}

static void test_malformed(void **state)
{
    (void)state;
    char err[256];
    static const uint8_t truncated_len[] = {0x0a, 0x05, 0x0a, 0x01};
    static const uint8_t bad_varint[] = {0x0a, 0xff, 0xff, 0xff};
    static const uint8_t group_wire[] = {0x0b};
    static const uint8_t not_a_file[] = {0x0a, 0x02, 0xff, 0xff};
    static const uint8_t nameless[] = {0x0a, 0x00};
    struct {
        const uint8_t *b;
        size_t n;
    } cases[] = {
        {truncated_len, sizeof truncated_len},
        {bad_varint, sizeof bad_varint},
        {group_wire, sizeof group_wire},
        {not_a_file, sizeof not_a_file},
        {nameless, sizeof nameless},
        {gs_descriptor_set, 0},
        {gs_descriptor_set, gs_descriptor_set_len - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = '\0';
        refl_index *ix = refl_index_build(cases[i].b, cases[i].n, err, sizeof err);
        if (ix)
            fail_msg("case %zu: accepted", i);
        assert_true(err[0] != '\0');
    }
}

/* ---- the handler ---- */

typedef struct fixture {
    arena *a;
    call c;
} fixture;

static int setup_handler(void **state)
{
    if (reflection_init() != 0)
        fail_msg("reflection_init: %s", reflection_error());
    fixture *f = calloc(1, sizeof *f);
    f->a = arena_new(4096);
    *state = f;
    return 0;
}

static int teardown_handler(void **state)
{
    fixture *f = *state;
    arena_free(f->a);
    free(f);
    reflection_free();
    return 0;
}

/* Runs one request through the service's row; returns the response re-read from its
 * packed bytes (the caller frees it), so the wire form is what gets checked. */
static Grpc__Reflection__V1__ServerReflectionResponse *
ask(fixture *f, const service_def *svc, const ProtobufCMessageDescriptor *reqd,
    const ProtobufCMessageDescriptor *respd, Grpc__Reflection__V1__ServerReflectionRequest *req)
{
    arena_reset(f->a);
    memset(&f->c, 0, sizeof f->c);
    f->c.arena = f->a;
    req->base.descriptor = reqd;
    f->c.req = &req->base;
    f->c.resp = call_msg(&f->c, respd);
    assert_int_equal(svc->methods[0].handler(&f->c), GS_OK);
    assert_ptr_equal(f->c.resp->descriptor, respd);
    size_t len = protobuf_c_message_get_packed_size(f->c.resp);
    uint8_t *buf = malloc(len + 1);
    protobuf_c_message_pack(f->c.resp, buf);
    /* v1 and v1alpha are wire-identical: read both back as v1 */
    Grpc__Reflection__V1__ServerReflectionResponse *r =
        grpc__reflection__v1__server_reflection_response__unpack(NULL, len, buf);
    free(buf);
    assert_non_null(r);
    assert_non_null(r->original_request);
    assert_int_equal(r->original_request->message_request_case, req->message_request_case);
    return r;
}

static void check_versions(fixture *f, void (*check)(fixture *, const service_def *,
                                                     const ProtobufCMessageDescriptor *,
                                                     const ProtobufCMessageDescriptor *))
{
    check(f, &reflection_v1_service, &grpc__reflection__v1__server_reflection_request__descriptor,
          &grpc__reflection__v1__server_reflection_response__descriptor);
    check(f, &reflection_v1alpha_service,
          &grpc__reflection__v1alpha__server_reflection_request__descriptor,
          &grpc__reflection__v1alpha__server_reflection_response__descriptor);
}

static void list_services(fixture *f, const service_def *svc,
                          const ProtobufCMessageDescriptor *reqd,
                          const ProtobufCMessageDescriptor *respd)
{
    Grpc__Reflection__V1__ServerReflectionRequest req =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "localhost";
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = "*";
    Grpc__Reflection__V1__ServerReflectionResponse *r = ask(f, svc, reqd, respd, &req);
    assert_string_equal(r->valid_host, "localhost");
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    const char *want[] = {"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                          "grpc.reflection.v1alpha.ServerReflection"};
    for (size_t w = 0; w < 3; w++) {
        int seen = 0;
        for (size_t i = 0; i < r->list_services_response->n_service; i++)
            seen += strcmp(r->list_services_response->service[i]->name, want[w]) == 0;
        assert_int_equal(seen, 1);
    }
    for (size_t d = 0; gs_service_descriptors[d]; d++) {
        int seen = 0;
        for (size_t i = 0; i < r->list_services_response->n_service; i++)
            seen += strcmp(r->list_services_response->service[i]->name,
                           gs_service_descriptors[d]->name) == 0;
        assert_int_equal(seen, 1);
    }
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

static void test_list_services(void **state)
{
    check_versions(*state, list_services);
}

static void symbol_and_file(fixture *f, const service_def *svc,
                            const ProtobufCMessageDescriptor *reqd,
                            const ProtobufCMessageDescriptor *respd)
{
    Grpc__Reflection__V1__ServerReflectionRequest req =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = ".grpc.health.v1.Health.Watch";
    Grpc__Reflection__V1__ServerReflectionResponse *r = ask(f, svc, reqd, respd, &req);
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, 1);
    ProtobufCBinaryData *b = &r->file_descriptor_response->file_descriptor_proto[0];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, b->len, b->data);
    assert_non_null(fd);
    assert_string_equal(fd->name, HEALTH_FILE);
    assert_string_equal(fd->package, "grpc.health.v1");
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = "grpc/reflection/v1alpha/reflection.proto";
    r = ask(f, svc, reqd, respd, &req);
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    assert_int_equal(r->file_descriptor_response->n_file_descriptor_proto, 1);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

static void test_symbol_and_file(void **state)
{
    check_versions(*state, symbol_and_file);
}

static void expect_error(fixture *f, const service_def *svc, const ProtobufCMessageDescriptor *reqd,
                         const ProtobufCMessageDescriptor *respd,
                         Grpc__Reflection__V1__ServerReflectionRequest *req, int code)
{
    Grpc__Reflection__V1__ServerReflectionResponse *r = ask(f, svc, reqd, respd, req);
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    assert_int_equal(r->error_response->error_code, code);
    assert_true(strlen(r->error_response->error_message) > 0);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

static void errors(fixture *f, const service_def *svc, const ProtobufCMessageDescriptor *reqd,
                   const ProtobufCMessageDescriptor *respd)
{
    Grpc__Reflection__V1__ServerReflectionRequest req =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "no.such.Symbol";
    expect_error(f, svc, reqd, respd, &req, GS_NOT_FOUND);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = "no/such.proto";
    expect_error(f, svc, reqd, respd, &req, GS_NOT_FOUND);

    Grpc__Reflection__V1__ExtensionRequest er = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    er.containing_type = "grpc.health.v1.HealthCheckRequest";
    er.extension_number = 1000;
    if (reqd == &grpc__reflection__v1alpha__server_reflection_request__descriptor)
        er.base.descriptor = &grpc__reflection__v1alpha__extension_request__descriptor;
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    req.file_containing_extension = &er;
    expect_error(f, svc, reqd, respd, &req, GS_NOT_FOUND);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = "no.such.Type";
    expect_error(f, svc, reqd, respd, &req, GS_NOT_FOUND);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST__NOT_SET;
    expect_error(f, svc, reqd, respd, &req, GS_UNIMPLEMENTED);

    /* a known message with no extensions: an empty list, not an error */
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = ".grpc.health.v1.HealthCheckRequest";
    Grpc__Reflection__V1__ServerReflectionResponse *r = ask(f, svc, reqd, respd, &req);
    assert_int_equal(
        r->message_response_case,
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    assert_string_equal(r->all_extension_numbers_response->base_type_name,
                        "grpc.health.v1.HealthCheckRequest");
    assert_int_equal(r->all_extension_numbers_response->n_extension_number, 0);
    grpc__reflection__v1__server_reflection_response__free_unpacked(r, NULL);
}

static void test_errors(void **state)
{
    check_versions(*state, errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_symbols),
        cmocka_unit_test(test_file_bytes),
        cmocka_unit_test(test_closure),
        cmocka_unit_test(test_synthetic_extensions),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test_setup_teardown(test_list_services, setup_handler, teardown_handler),
        cmocka_unit_test_setup_teardown(test_symbol_and_file, setup_handler, teardown_handler),
        cmocka_unit_test_setup_teardown(test_errors, setup_handler, teardown_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
