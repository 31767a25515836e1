/* reflection.c — gRPC server reflection: an index from symbol and file name to the exact
 * FileDescriptorProto bytes of the embedded descriptor set, and the ServerReflectionInfo
 * handler that v1 and v1alpha share (their messages are wire- and layout-identical). */
#include "reflection.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "gs_services.h"

/* gen/descriptor_set.c: protoc --include_imports over every proto in proto/. */
extern const unsigned char gs_descriptor_set[];
extern const size_t gs_descriptor_set_len;

/* ---- the index ---- */

enum sym_kind { SYM_MESSAGE, SYM_OTHER };

typedef struct refl_symbol {
    char *name; /* fully qualified, no leading '.' */
    int file;
    int kind;
} refl_symbol;

typedef struct refl_ext {
    char *extendee; /* fully qualified, no leading '.' */
    int32_t number;
    int file;
} refl_ext;

typedef struct refl_file {
    char *name;
    const uint8_t *data; /* into the set; not owned */
    size_t len;
    char **dep_names;
    size_t n_deps;
    int *deps;
} refl_file;

struct refl_index {
    refl_file *files;
    size_t n_files;
    refl_symbol *syms; /* sorted by name once built */
    size_t n_syms, cap_syms;
    refl_ext *exts;
    size_t n_exts, cap_exts;
    bool oom;
};

static const char *skip_dot(const char *s)
{
    return (s && *s == '.') ? s + 1 : s;
}

/* "scope.name", or "name" when scope is empty; malloc'd, NULL on out of memory. */
static char *join(const char *scope, const char *name)
{
    char *s = NULL;
    if (!name)
        name = "";
    if (!scope || !*scope)
        return strdup(name);
    if (asprintf(&s, "%s.%s", scope, name) < 0)
        return NULL;
    return s;
}

/* Takes ownership of name. */
static void add_symbol(refl_index *ix, char *name, int file, int kind)
{
    if (!name) {
        ix->oom = true;
        return;
    }
    if (ix->n_syms == ix->cap_syms) {
        size_t cap = ix->cap_syms ? ix->cap_syms * 2 : 256;
        refl_symbol *n = realloc(ix->syms, cap * sizeof *n);
        if (!n) {
            free(name);
            ix->oom = true;
            return;
        }
        ix->syms = n;
        ix->cap_syms = cap;
    }
    ix->syms[ix->n_syms++] = (refl_symbol){name, file, kind};
}

static void add_extension(refl_index *ix, const Google__Protobuf__FieldDescriptorProto *f, int file)
{
    if (!f->extendee || !f->has_number)
        return;
    if (ix->n_exts == ix->cap_exts) {
        size_t cap = ix->cap_exts ? ix->cap_exts * 2 : 16;
        refl_ext *n = realloc(ix->exts, cap * sizeof *n);
        if (!n) {
            ix->oom = true;
            return;
        }
        ix->exts = n;
        ix->cap_exts = cap;
    }
    char *extendee = strdup(skip_dot(f->extendee));
    if (!extendee) {
        ix->oom = true;
        return;
    }
    ix->exts[ix->n_exts++] = (refl_ext){extendee, f->number, file};
}

/* Enum values are scoped beside their enum, as in protobuf's own name resolution. */
static void index_enum(refl_index *ix, const char *scope,
                       const Google__Protobuf__EnumDescriptorProto *e, int file)
{
    add_symbol(ix, join(scope, e->name), file, SYM_OTHER);
    for (size_t i = 0; i < e->n_value; i++)
        add_symbol(ix, join(scope, e->value[i]->name), file, SYM_OTHER);
}

static void index_message(refl_index *ix, const char *scope,
                          const Google__Protobuf__DescriptorProto *m, int file)
{
    char *name = join(scope, m->name);
    if (!name) {
        ix->oom = true;
        return;
    }
    for (size_t i = 0; i < m->n_field; i++)
        add_symbol(ix, join(name, m->field[i]->name), file, SYM_OTHER);
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        add_symbol(ix, join(name, m->oneof_decl[i]->name), file, SYM_OTHER);
    for (size_t i = 0; i < m->n_extension; i++) {
        add_symbol(ix, join(name, m->extension[i]->name), file, SYM_OTHER);
        add_extension(ix, m->extension[i], file);
    }
    for (size_t i = 0; i < m->n_nested_type; i++)
        index_message(ix, name, m->nested_type[i], file);
    for (size_t i = 0; i < m->n_enum_type; i++)
        index_enum(ix, name, m->enum_type[i], file);
    add_symbol(ix, name, file, SYM_MESSAGE);
}

static int index_file(refl_index *ix, int file, char *err, size_t errlen)
{
    refl_file *f = &ix->files[file];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
    if (!fd || !fd->name) {
        snprintf(err, errlen, "descriptor set: file %d is not a valid FileDescriptorProto", file);
        if (fd)
            google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        return -1;
    }
    const char *pkg = fd->package ? fd->package : "";
    f->name = strdup(fd->name);
    f->dep_names = calloc(fd->n_dependency + 1, sizeof *f->dep_names);
    f->deps = calloc(fd->n_dependency + 1, sizeof *f->deps);
    if (!f->name || !f->dep_names || !f->deps)
        ix->oom = true;
    for (size_t i = 0; f->dep_names && i < fd->n_dependency; i++) {
        if (!(f->dep_names[f->n_deps] = strdup(fd->dependency[i])))
            ix->oom = true;
        else
            f->n_deps++;
    }
    for (size_t i = 0; i < fd->n_message_type; i++)
        index_message(ix, pkg, fd->message_type[i], file);
    for (size_t i = 0; i < fd->n_enum_type; i++)
        index_enum(ix, pkg, fd->enum_type[i], file);
    for (size_t i = 0; i < fd->n_extension; i++) {
        add_symbol(ix, join(pkg, fd->extension[i]->name), file, SYM_OTHER);
        add_extension(ix, fd->extension[i], file);
    }
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *s = fd->service[i];
        char *sname = join(pkg, s->name);
        for (size_t j = 0; sname && j < s->n_method; j++)
            add_symbol(ix, join(sname, s->method[j]->name), file, SYM_OTHER);
        add_symbol(ix, sname, file, SYM_OTHER);
    }
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    return 0;
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Slices each `repeated FileDescriptorProto file = 1` out of the set, bytes untouched. */
static int split_set(refl_index *ix, const uint8_t *set, size_t len, char *err, size_t errlen)
{
    const uint8_t *p = set, *end = set + len;
    size_t cap = 0;
    while (p < end) {
        uint64_t key, n;
        if (read_varint(&p, end, &key) < 0)
            goto bad;
        switch (key & 7) {
        case 0:
            if (read_varint(&p, end, &n) < 0)
                goto bad;
            break;
        case 1:
        case 5:
            n = (key & 7) == 1 ? 8 : 4;
            if ((uint64_t)(end - p) < n)
                goto bad;
            p += n;
            break;
        case 2:
            if (read_varint(&p, end, &n) < 0 || (uint64_t)(end - p) < n)
                goto bad;
            if (key >> 3 == 1) {
                if (ix->n_files == cap) {
                    cap = cap ? cap * 2 : 32;
                    refl_file *nf = realloc(ix->files, cap * sizeof *nf);
                    if (!nf) {
                        snprintf(err, errlen, "out of memory");
                        return -1;
                    }
                    ix->files = nf;
                }
                ix->files[ix->n_files++] = (refl_file){.data = p, .len = (size_t)n};
            }
            p += n;
            break;
        default:
            goto bad;
        }
    }
    return 0;
bad:
    snprintf(err, errlen, "descriptor set: malformed at byte %zu", (size_t)(p - set));
    return -1;
}

static int cmp_symbol(const void *a, const void *b)
{
    return strcmp(((const refl_symbol *)a)->name, ((const refl_symbol *)b)->name);
}

refl_index *refl_index_build(const uint8_t *set, size_t len, char *err, size_t errlen)
{
    refl_index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (split_set(ix, set, len, err, errlen) < 0)
        goto fail;
    if (ix->n_files == 0) {
        snprintf(err, errlen, "descriptor set: no files");
        goto fail;
    }
    for (size_t i = 0; i < ix->n_files; i++)
        if (index_file(ix, (int)i, err, errlen) < 0)
            goto fail;
    if (ix->oom) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ix->n_files; i++) {
        refl_file *f = &ix->files[i];
        for (size_t j = 0; j < f->n_deps; j++) {
            f->deps[j] = refl_index_find_file(ix, f->dep_names[j]);
            if (f->deps[j] < 0) {
                snprintf(err, errlen, "descriptor set: %s imports %s, which is missing", f->name,
                         f->dep_names[j]);
                goto fail;
            }
        }
    }
    qsort(ix->syms, ix->n_syms, sizeof *ix->syms, cmp_symbol);
    return ix;
fail:
    refl_index_free(ix);
    return NULL;
}

void refl_index_free(refl_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->n_files; i++) {
        refl_file *f = &ix->files[i];
        for (size_t j = 0; j < f->n_deps; j++)
            free(f->dep_names[j]);
        free(f->dep_names);
        free(f->deps);
        free(f->name);
    }
    for (size_t i = 0; i < ix->n_syms; i++)
        free(ix->syms[i].name);
    for (size_t i = 0; i < ix->n_exts; i++)
        free(ix->exts[i].extendee);
    free(ix->files);
    free(ix->syms);
    free(ix->exts);
    free(ix);
}

size_t refl_index_file_count(const refl_index *ix)
{
    return ix->n_files;
}

const char *refl_index_file_name(const refl_index *ix, int file)
{
    return ix->files[file].name;
}

const uint8_t *refl_index_file_bytes(const refl_index *ix, int file, size_t *len)
{
    *len = ix->files[file].len;
    return ix->files[file].data;
}

int refl_index_find_file(const refl_index *ix, const char *filename)
{
    if (!filename)
        return -1;
    for (size_t i = 0; i < ix->n_files; i++)
        if (ix->files[i].name && strcmp(ix->files[i].name, filename) == 0)
            return (int)i;
    return -1;
}

static const refl_symbol *find_symbol(const refl_index *ix, const char *symbol)
{
    if (!symbol || !*symbol)
        return NULL;
    refl_symbol key = {.name = (char *)skip_dot(symbol)};
    return bsearch(&key, ix->syms, ix->n_syms, sizeof *ix->syms, cmp_symbol);
}

int refl_index_find_symbol(const refl_index *ix, const char *symbol)
{
    const refl_symbol *s = find_symbol(ix, symbol);
    return s ? s->file : -1;
}

int refl_index_is_message(const refl_index *ix, const char *type)
{
    const refl_symbol *s = find_symbol(ix, type);
    return s && s->kind == SYM_MESSAGE;
}

int refl_index_find_extension(const refl_index *ix, const char *type, int32_t number)
{
    if (!type)
        return -1;
    type = skip_dot(type);
    for (size_t i = 0; i < ix->n_exts; i++)
        if (ix->exts[i].number == number && strcmp(ix->exts[i].extendee, type) == 0)
            return ix->exts[i].file;
    return -1;
}

int refl_index_extension_numbers(const refl_index *ix, const char *type, int32_t *out, size_t max)
{
    if (!refl_index_is_message(ix, type))
        return -1;
    type = skip_dot(type);
    int n = 0;
    for (size_t i = 0; i < ix->n_exts; i++)
        if (strcmp(ix->exts[i].extendee, type) == 0) {
            if ((size_t)n < max)
                out[n] = ix->exts[i].number;
            n++;
        }
    return n;
}

size_t refl_index_closure(const refl_index *ix, int file, int *out)
{
    size_t n = 0;
    out[n++] = file;
    /* out doubles as the breadth-first queue; a file set is a few dozen files. */
    for (size_t i = 0; i < n; i++) {
        const refl_file *f = &ix->files[out[i]];
        for (size_t j = 0; j < f->n_deps; j++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = out[k] == f->deps[j];
            if (!seen)
                out[n++] = f->deps[j];
        }
    }
    return n;
}

/* ---- the process-wide index and the service list ---- */

static refl_index *g_index;
static const char **g_services; /* full names, each once */
static size_t g_n_services;
static char g_error[256];

const char *reflection_error(void)
{
    return g_error;
}

static void add_service(const char *name)
{
    for (size_t i = 0; i < g_n_services; i++)
        if (strcmp(g_services[i], name) == 0)
            return;
    g_services[g_n_services++] = name;
}

int reflection_init(void)
{
    g_error[0] = '\0';
    if (g_index)
        return 0;
    g_index = refl_index_build(gs_descriptor_set, gs_descriptor_set_len, g_error, sizeof g_error);
    if (!g_index)
        return -1;
    size_t n = 0;
    while (gs_service_descriptors[n])
        n++;
    g_services = calloc(n + 3, sizeof *g_services);
    if (!g_services) {
        snprintf(g_error, sizeof g_error, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        add_service(gs_service_descriptors[i]->name);
    add_service(grpc__health__v1__health__descriptor.name);
    add_service(grpc__reflection__v1__server_reflection__descriptor.name);
    add_service(grpc__reflection__v1alpha__server_reflection__descriptor.name);
    /* A served service missing from the set means the build embedded the wrong set. */
    for (size_t i = 0; i < g_n_services; i++)
        if (refl_index_find_symbol(g_index, g_services[i]) < 0) {
            snprintf(g_error, sizeof g_error, "service %s is not in the descriptor set",
                     g_services[i]);
            goto fail;
        }
    return 0;
fail:
    reflection_free();
    return -1;
}

void reflection_free(void)
{
    refl_index_free(g_index);
    g_index = NULL;
    free(g_services);
    g_services = NULL;
    g_n_services = 0;
}

/* ---- the handler ---- */

/* Both versions are handled through the v1 structs: the generated layouts must agree. */
#define V1(T) Grpc__Reflection__V1__##T
#define V1A(T) Grpc__Reflection__V1alpha__##T
#define SAME_SIZE(T) _Static_assert(sizeof(V1(T)) == sizeof(V1A(T)), "reflection " #T)
#define SAME_FIELD(T, f)                                                                           \
    _Static_assert(offsetof(V1(T), f) == offsetof(V1A(T), f), "reflection " #T "." #f)
SAME_SIZE(ServerReflectionRequest);
SAME_FIELD(ServerReflectionRequest, host);
SAME_FIELD(ServerReflectionRequest, message_request_case);
SAME_FIELD(ServerReflectionRequest, file_by_filename);
SAME_SIZE(ExtensionRequest);
SAME_FIELD(ExtensionRequest, containing_type);
SAME_FIELD(ExtensionRequest, extension_number);
SAME_SIZE(ServerReflectionResponse);
SAME_FIELD(ServerReflectionResponse, valid_host);
SAME_FIELD(ServerReflectionResponse, original_request);
SAME_FIELD(ServerReflectionResponse, message_response_case);
SAME_FIELD(ServerReflectionResponse, file_descriptor_response);
SAME_SIZE(FileDescriptorResponse);
SAME_FIELD(FileDescriptorResponse, n_file_descriptor_proto);
SAME_FIELD(FileDescriptorResponse, file_descriptor_proto);
SAME_SIZE(ExtensionNumberResponse);
SAME_FIELD(ExtensionNumberResponse, base_type_name);
SAME_FIELD(ExtensionNumberResponse, n_extension_number);
SAME_FIELD(ExtensionNumberResponse, extension_number);
SAME_SIZE(ListServiceResponse);
SAME_FIELD(ListServiceResponse, n_service);
SAME_FIELD(ListServiceResponse, service);
SAME_SIZE(ServiceResponse);
SAME_FIELD(ServiceResponse, name);
SAME_SIZE(ErrorResponse);
SAME_FIELD(ErrorResponse, error_code);
SAME_FIELD(ErrorResponse, error_message);
_Static_assert(
    (int)GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES ==
            (int)
                GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES &&
        (int)GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE ==
            (int)
                GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE,
    "reflection oneof cases");

/* The message types of one version: nested messages must carry their own descriptor. */
typedef struct refl_version {
    const ProtobufCMessageDescriptor *request, *file_descriptors, *extension_numbers,
        *list_services, *service, *error;
} refl_version;

static const refl_version version_v1 = {
    &grpc__reflection__v1__server_reflection_request__descriptor,
    &grpc__reflection__v1__file_descriptor_response__descriptor,
    &grpc__reflection__v1__extension_number_response__descriptor,
    &grpc__reflection__v1__list_service_response__descriptor,
    &grpc__reflection__v1__service_response__descriptor,
    &grpc__reflection__v1__error_response__descriptor,
};

static const refl_version version_v1alpha = {
    &grpc__reflection__v1alpha__server_reflection_request__descriptor,
    &grpc__reflection__v1alpha__file_descriptor_response__descriptor,
    &grpc__reflection__v1alpha__extension_number_response__descriptor,
    &grpc__reflection__v1alpha__list_service_response__descriptor,
    &grpc__reflection__v1alpha__service_response__descriptor,
    &grpc__reflection__v1alpha__error_response__descriptor,
};

__attribute__((format(printf, 4, 5))) static void reply_error(call *c, const refl_version *v,
                                                              gs_code code, const char *fmt, ...)
{
    V1(ServerReflectionResponse) *resp = (V1(ServerReflectionResponse) *)c->resp;
    V1(ErrorResponse) *e = call_msg(c, v->error);
    va_list ap;
    va_start(ap, fmt);
    e->error_message = arena_vprintf(c->arena, fmt, ap);
    va_end(ap);
    e->error_code = (int32_t)code;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    resp->error_response = e;
}

/* Answers with `file` and its transitive dependencies, as the set's own bytes. */
static void reply_files(call *c, const refl_version *v, int file)
{
    V1(ServerReflectionResponse) *resp = (V1(ServerReflectionResponse) *)c->resp;
    V1(FileDescriptorResponse) *fr = call_msg(c, v->file_descriptors);
    int *order = arena_alloc(c->arena, refl_index_file_count(g_index) * sizeof *order);
    size_t n = refl_index_closure(g_index, file, order);
    fr->file_descriptor_proto = arena_alloc(c->arena, n * sizeof *fr->file_descriptor_proto);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const uint8_t *data = refl_index_file_bytes(g_index, order[i], &len);
        /* read-only: packed, never freed (the response lives in the call's arena) */
        fr->file_descriptor_proto[i] = (ProtobufCBinaryData){len, (uint8_t *)data};
    }
    fr->n_file_descriptor_proto = n;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    resp->file_descriptor_response = fr;
}

static void reply_services(call *c, const refl_version *v)
{
    V1(ServerReflectionResponse) *resp = (V1(ServerReflectionResponse) *)c->resp;
    V1(ListServiceResponse) *ls = call_msg(c, v->list_services);
    ls->service = (V1(ServiceResponse) **)call_ptrs(c, g_n_services);
    for (size_t i = 0; i < g_n_services; i++) {
        V1(ServiceResponse) *s = call_msg(c, v->service);
        s->name = (char *)g_services[i];
        ls->service[i] = s;
    }
    ls->n_service = g_n_services;
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    resp->list_services_response = ls;
}

static void reply_extension_numbers(call *c, const refl_version *v, const char *type)
{
    V1(ServerReflectionResponse) *resp = (V1(ServerReflectionResponse) *)c->resp;
    int n = refl_index_extension_numbers(g_index, type, NULL, 0);
    if (n < 0) {
        reply_error(c, v, GS_NOT_FOUND, "type not found: %s", type);
        return;
    }
    V1(ExtensionNumberResponse) *en = call_msg(c, v->extension_numbers);
    en->base_type_name = arena_strdup(c->arena, type[0] == '.' ? type + 1 : type);
    en->extension_number = arena_alloc(c->arena, ((size_t)n + 1) * sizeof(int32_t));
    en->n_extension_number =
        (size_t)refl_index_extension_numbers(g_index, type, en->extension_number, (size_t)n);
    resp->message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    resp->all_extension_numbers_response = en;
}

/* One request of a ServerReflectionInfo stream. Lookup failures are answered in
 * error_response; the RPC itself always succeeds. */
static gs_code reflection_info(call *c, const refl_version *v)
{
    const V1(ServerReflectionRequest) *req = (const V1(ServerReflectionRequest) *)c->req;
    V1(ServerReflectionResponse) *resp = (V1(ServerReflectionResponse) *)c->resp;
    V1(ServerReflectionRequest) *orig = call_msg(c, v->request);
    *orig = *req; /* shallow: the request outlives the response within the call */
    resp->original_request = orig;
    resp->valid_host = req->host ? req->host : (char *)"";
    if (!g_index) {
        reply_error(c, v, GS_UNAVAILABLE, "reflection is not initialised");
        return GS_OK;
    }
    int file;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        reply_services(c, v);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        file = refl_index_find_file(g_index, req->file_by_filename);
        if (file < 0)
            reply_error(c, v, GS_NOT_FOUND, "file not found: %s", req->file_by_filename);
        else
            reply_files(c, v, file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        file = refl_index_find_symbol(g_index, req->file_containing_symbol);
        if (file < 0)
            reply_error(c, v, GS_NOT_FOUND, "symbol not found: %s", req->file_containing_symbol);
        else
            reply_files(c, v, file);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION: {
        const V1(ExtensionRequest) *er = req->file_containing_extension;
        file =
            er ? refl_index_find_extension(g_index, er->containing_type, er->extension_number) : -1;
        if (file < 0)
            reply_error(c, v, GS_NOT_FOUND, "extension not found: %s(%d)",
                        er ? er->containing_type : "", er ? (int)er->extension_number : 0);
        else
            reply_files(c, v, file);
        break;
    }
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        reply_extension_numbers(c, v, req->all_extension_numbers_of_type);
        break;
    default:
        reply_error(c, v, GS_UNIMPLEMENTED, "no request type set");
        break;
    }
    return GS_OK;
}

static gs_code reflection_info_v1(call *c)
{
    return reflection_info(c, &version_v1);
}

static gs_code reflection_info_v1alpha(call *c)
{
    return reflection_info(c, &version_v1alpha);
}

static method_def reflection_v1_methods[] = {
    {.name = "ServerReflectionInfo",
     .handler = reflection_info_v1,
     .perm = PERM_NONE,
     .flags = MF_PUBLIC | MF_NO_DB,
     .kind = RPC_BIDI},
};
static method_def reflection_v1alpha_methods[] = {
    {.name = "ServerReflectionInfo",
     .handler = reflection_info_v1alpha,
     .perm = PERM_NONE,
     .flags = MF_PUBLIC | MF_NO_DB,
     .kind = RPC_BIDI},
};
SERVICE_DEF(reflection_v1_service, grpc__reflection__v1__server_reflection__descriptor,
            reflection_v1_methods);
SERVICE_DEF(reflection_v1alpha_service, grpc__reflection__v1alpha__server_reflection__descriptor,
            reflection_v1alpha_methods);
