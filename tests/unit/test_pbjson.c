/* test_pbjson.c — unit tests of lib/pbjson: JSON <-> protobuf-c by descriptor (cmocka). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "pbjson.h"

/* ---- a proto3 test message, described by hand (what protoc-c would generate for)
 *   enum Color { COLOR_UNSPECIFIED = 0; RED = 1; GREEN = 2; }
 *   message Inner { string name = 1; int32 n = 2; }
 *   message All { int32 i32 = 1; int64 i64 = 2; uint32 u32 = 3; uint64 u64 = 4;
 *     sint32 s32 = 5; float fl = 6; double db = 7; bool b = 8; string str = 9; bytes by = 10;
 *     Color color = 11; Inner inner = 12; repeated int64 ri64 = 13; repeated string rstr = 14;
 *     repeated Inner rinner = 15; repeated Color rcolor = 16; repeated bool rb = 17;
 *     repeated double rdb = 18; string site_id = 19;
 *     oneof choice { string one_a = 20; Inner one_b = 21; } } */

typedef struct Inner {
    ProtobufCMessage base;
    char *name;
    int32_t n;
} Inner;

typedef struct All {
    ProtobufCMessage base;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    int32_t s32;
    float fl;
    double db;
    protobuf_c_boolean b;
    char *str;
    ProtobufCBinaryData by;
    int color;
    Inner *inner;
    size_t n_ri64;
    int64_t *ri64;
    size_t n_rstr;
    char **rstr;
    size_t n_rinner;
    Inner **rinner;
    size_t n_rcolor;
    int *rcolor;
    size_t n_rb;
    protobuf_c_boolean *rb;
    size_t n_rdb;
    double *rdb;
    char *site_id;
    uint32_t choice_case;
    union {
        char *one_a;
        Inner *one_b;
    };
} All;

static const ProtobufCEnumValue color_values[] = {
    {"COLOR_UNSPECIFIED", "T__COLOR__COLOR_UNSPECIFIED", 0},
    {"RED", "T__COLOR__RED", 1},
    {"GREEN", "T__COLOR__GREEN", 2},
};
static const ProtobufCEnumValueIndex color_by_name[] = {
    {"COLOR_UNSPECIFIED", 0}, {"GREEN", 2}, {"RED", 1}};
static const ProtobufCIntRange color_ranges[] = {{0, 0}, {0, 3}};
static const ProtobufCEnumDescriptor color_desc = {PROTOBUF_C__ENUM_DESCRIPTOR_MAGIC,
                                                   "t.Color",
                                                   "Color",
                                                   "T__Color",
                                                   "t",
                                                   3,
                                                   color_values,
                                                   3,
                                                   color_by_name,
                                                   1,
                                                   color_ranges,
                                                   NULL,
                                                   NULL,
                                                   NULL,
                                                   NULL};

static void inner_init(ProtobufCMessage *m);
static void all_init(ProtobufCMessage *m);

/* proto3 strings default to protobuf_c_empty_string, exactly as protoc-c writes them */
#define DEF_STRING(type)                                                                           \
    (PROTOBUF_C_TYPE_##type == PROTOBUF_C_TYPE_STRING ? &protobuf_c_empty_string : NULL)
#define F(name, id, label, type, q, st, field, desc, fl)                                           \
    {                                                                                              \
        name, id, PROTOBUF_C_LABEL_##label, PROTOBUF_C_TYPE_##type, q, offsetof(st, field), desc,  \
            DEF_STRING(type), fl, 0, NULL, NULL                                                    \
    }
#define S(name, id, type, st) F(#name, id, NONE, type, 0, st, name, NULL, 0)
#define R(name, id, type, desc)                                                                    \
    {                                                                                              \
#name, id, PROTOBUF_C_LABEL_REPEATED, PROTOBUF_C_TYPE_##type, offsetof(All, n_##name),     \
            offsetof(All, name), desc, NULL, 0, 0, NULL, NULL                                      \
    }

static const ProtobufCFieldDescriptor inner_fields[] = {
    S(name, 1, STRING, Inner),
    S(n, 2, INT32, Inner),
};
static const unsigned inner_by_name[] = {1, 0};
static const ProtobufCIntRange inner_ranges[] = {{1, 0}, {0, 2}};
static const ProtobufCMessageDescriptor inner_desc = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                      "t.Inner",
                                                      "Inner",
                                                      "T__Inner",
                                                      "t",
                                                      sizeof(Inner),
                                                      2,
                                                      inner_fields,
                                                      inner_by_name,
                                                      1,
                                                      inner_ranges,
                                                      inner_init,
                                                      NULL,
                                                      NULL,
                                                      NULL};

static const ProtobufCFieldDescriptor all_fields[] = {
    S(i32, 1, INT32, All),
    S(i64, 2, INT64, All),
    S(u32, 3, UINT32, All),
    S(u64, 4, UINT64, All),
    S(s32, 5, SINT32, All),
    S(fl, 6, FLOAT, All),
    S(db, 7, DOUBLE, All),
    S(b, 8, BOOL, All),
    S(str, 9, STRING, All),
    S(by, 10, BYTES, All),
    F("color", 11, NONE, ENUM, 0, All, color, &color_desc, 0),
    F("inner", 12, NONE, MESSAGE, 0, All, inner, &inner_desc, 0),
    R(ri64, 13, INT64, NULL),
    R(rstr, 14, STRING, NULL),
    R(rinner, 15, MESSAGE, &inner_desc),
    R(rcolor, 16, ENUM, &color_desc),
    R(rb, 17, BOOL, NULL),
    R(rdb, 18, DOUBLE, NULL),
    S(site_id, 19, STRING, All),
    F("one_a", 20, NONE, STRING, offsetof(All, choice_case), All, one_a, NULL,
      PROTOBUF_C_FIELD_FLAG_ONEOF),
    F("one_b", 21, NONE, MESSAGE, offsetof(All, choice_case), All, one_b, &inner_desc,
      PROTOBUF_C_FIELD_FLAG_ONEOF),
};
/* indices of all_fields in strcmp order of their names */
static const unsigned all_by_name[] = {7,  9,  10, 6,  5,  0, 1,  11, 19, 20, 16,
                                       15, 17, 12, 14, 13, 4, 18, 8,  2,  3};
static const ProtobufCIntRange all_ranges[] = {{1, 0}, {0, 21}};
static const ProtobufCMessageDescriptor all_desc = {PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
                                                    "t.All",
                                                    "All",
                                                    "T__All",
                                                    "t",
                                                    sizeof(All),
                                                    21,
                                                    all_fields,
                                                    all_by_name,
                                                    1,
                                                    all_ranges,
                                                    all_init,
                                                    NULL,
                                                    NULL,
                                                    NULL};

static void inner_init(ProtobufCMessage *m)
{
    Inner *in = (Inner *)m;
    memset(in, 0, sizeof *in);
    in->base.descriptor = &inner_desc;
    in->name = (char *)protobuf_c_empty_string;
}

static void all_init(ProtobufCMessage *m)
{
    All *a = (All *)m;
    memset(a, 0, sizeof *a);
    a->base.descriptor = &all_desc;
    a->str = (char *)protobuf_c_empty_string;
    a->site_id = (char *)protobuf_c_empty_string;
}

/* ---- helpers ---- */

static char err[512];

static All *parse_ok(const char *text)
{
    err[0] = '\0';
    ProtobufCMessage *m = pbjson_parse(&all_desc, text, strlen(text), NULL, err, sizeof err);
    if (!m)
        fail_msg("parse of %s failed: %s", text, err);
    return (All *)m;
}

/* Asserts that parsing fails with an error that starts with `prefix`. */
static void parse_fails(const char *text, const char *prefix)
{
    err[0] = '\0';
    ProtobufCMessage *m = pbjson_parse(&all_desc, text, strlen(text), NULL, err, sizeof err);
    if (m) {
        protobuf_c_message_free_unpacked(m, NULL);
        fail_msg("parse of %s should have failed", text);
    }
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error for %s: got \"%s\", want prefix \"%s\"", text, err, prefix);
}

static char *dump(const ProtobufCMessage *m, unsigned flags)
{
    char *s = pbjson_dumps(m, flags, err, sizeof err);
    assert_non_null(s);
    return s;
}

static void assert_json_eq(const char *got, const char *want)
{
    json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("JSON differs:\n got: %s\nwant: %s", got, want);
    json_decref(a);
    json_decref(b);
}

/* ---- tests ---- */

static const char full[] =
    "{\"i32\":-5,\"i64\":1234567890123,\"u32\":4000000000,\"u64\":77,\"s32\":-9,\"fl\":1.5,"
    "\"db\":2.25,\"b\":true,\"str\":\"\xe5\x8d\x97\xe6\xbb\xa8 Nanbin\",\"by\":\"AAEC/w==\","
    "\"color\":\"GREEN\",\"inner\":{\"name\":\"x\",\"n\":3},\"ri64\":[1,-2,3],"
    "\"rstr\":[\"a\",\"\",\"c\"],\"rinner\":[{\"name\":\"p\"},{\"n\":7}],"
    "\"rcolor\":[\"RED\",\"GREEN\"],\"rb\":[true,false],\"rdb\":[0.5,-1.0],"
    "\"site_id\":\"RP01\",\"one_a\":\"chosen\"}";

static void test_roundtrip_all_types(void **state)
{
    (void)state;
    All *a = parse_ok(full);
    assert_int_equal(a->i32, -5);
    assert_true(a->i64 == 1234567890123LL);
    assert_true(a->u32 == 4000000000u);
    assert_true(a->u64 == 77);
    assert_int_equal(a->s32, -9);
    assert_true(a->fl == 1.5f);
    assert_true(a->db == 2.25);
    assert_true(a->b);
    assert_string_equal(a->str, "\xe5\x8d\x97\xe6\xbb\xa8 Nanbin");
    assert_int_equal(a->by.len, 4);
    assert_memory_equal(a->by.data, "\x00\x01\x02\xff", 4);
    assert_int_equal(a->color, 2);
    assert_string_equal(a->inner->name, "x");
    assert_int_equal(a->inner->n, 3);
    assert_int_equal(a->n_ri64, 3);
    assert_true(a->ri64[1] == -2);
    assert_int_equal(a->n_rstr, 3);
    assert_string_equal(a->rstr[1], "");
    assert_int_equal(a->n_rinner, 2);
    assert_string_equal(a->rinner[0]->name, "p");
    assert_int_equal(a->rinner[1]->n, 7);
    assert_int_equal(a->n_rcolor, 2);
    assert_int_equal(a->rcolor[0], 1);
    assert_int_equal(a->n_rb, 2);
    assert_false(a->rb[1]);
    assert_true(a->rdb[1] == -1.0);
    assert_string_equal(a->site_id, "RP01");
    assert_int_equal(a->choice_case, 20);
    assert_string_equal(a->one_a, "chosen");

    /* wire round trip: pack, unpack with protobuf-c, back to JSON, same document */
    size_t n = protobuf_c_message_get_packed_size(&a->base);
    uint8_t *buf = malloc(n);
    assert_int_equal(protobuf_c_message_pack(&a->base, buf), n);
    ProtobufCMessage *b = protobuf_c_message_unpack(&all_desc, NULL, n, buf);
    assert_non_null(b);
    char *s1 = dump(&a->base, 0), *s2 = dump(b, 0);
    assert_json_eq(s1, full);
    assert_json_eq(s2, full);
    free(s1);
    free(s2);
    free(buf);
    protobuf_c_message_free_unpacked(b, NULL);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_names(void **state)
{
    (void)state;
    All *a = parse_ok("{\"siteId\":\"A\",\"oneB\":{\"name\":\"z\"}}");
    assert_string_equal(a->site_id, "A");
    assert_int_equal(a->choice_case, 21);
    char *s = dump(&a->base, 0);
    assert_json_eq(s, "{\"site_id\":\"A\",\"one_b\":{\"name\":\"z\"}}");
    free(s);
    s = dump(&a->base, PBJSON_JSON_NAMES);
    assert_json_eq(s, "{\"siteId\":\"A\",\"oneB\":{\"name\":\"z\"}}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);

    parse_fails("{\"site_id\":\"A\",\"siteId\":\"B\"}", "siteId: field given twice");
    parse_fails("{\"siteid\":1}", "siteid: unknown field");

    char jn[32];
    pbjson_json_name("org_unit_id", jn, sizeof jn);
    assert_string_equal(jn, "orgUnitId");
    assert_ptr_equal(pbjson_find_field(&all_desc, "siteId"), &all_fields[18]);
    assert_ptr_equal(pbjson_find_field(&all_desc, "site_id"), &all_fields[18]);
    assert_null(pbjson_find_field(&all_desc, "site-id"));
    assert_string_equal(pbjson_type_name(&all_fields[1]), "int64");
    assert_string_equal(pbjson_type_name(&all_fields[10]), "t.Color");
    assert_string_equal(pbjson_type_name(&all_fields[11]), "t.Inner");
}

static void test_unknown_fields(void **state)
{
    (void)state;
    parse_fails("{\"nope\":1}", "nope: unknown field (t.All has no field \"nope\")");
    parse_fails("{\"inner\":{\"name\":\"a\",\"zzz\":true}}", "inner.zzz: unknown field");
    parse_fails("{\"rinner\":[{},{\"n\":1,\"bad\":2}]}", "rinner[1].bad: unknown field");
}

static void test_type_mismatch(void **state)
{
    (void)state;
    parse_fails("{\"rinner\":[{\"n\":1},{\"n\":\"x\"}]}", "rinner[1].n: expected integer");
    parse_fails("{\"b\":1}", "b: expected true or false, got number");
    parse_fails("{\"str\":5}", "str: expected string, got number");
    parse_fails("{\"inner\":[]}", "inner: expected object (t.Inner), got array");
    parse_fails("{\"ri64\":5}", "ri64: expected array, got number");
    parse_fails("{\"ri64\":[1,null]}", "ri64[1]: null is not allowed");
    parse_fails("{\"i32\":true}", "i32: expected integer, got boolean");
    parse_fails("{\"i32\":3.5}", "i32: expected integer, got 3.5");
    parse_fails("{\"i32\":\" 3\"}", "i32: expected integer");
    parse_fails("{\"i32\":\"3x\"}", "i32: expected integer");
    parse_fails("{\"db\":\"abc\"}", "db: expected number");
    parse_fails("{\"db\":{}}", "db: expected number, got object");
    parse_fails("[1]", "expected a JSON object for t.All, got array");
    parse_fails("{\"i32\":", "invalid JSON");
    parse_fails("{\"i32\":1,\"i32\":2}", "invalid JSON");
    parse_fails("{\"by\":\"@@@\"}", "by: invalid base64");
    parse_fails("{\"by\":\"A\"}", "by: invalid base64");
    parse_fails("{\"str\":\"a\\u0000b\"}", "invalid JSON"); /* jansson refuses NUL */
    /* a json_t holding a NUL (json_stringn allows it) is refused by pbjson */
    json_t *j = json_pack("{s:o}", "str", json_stringn("a\0b", 3));
    assert_null(pbjson_from_json(&all_desc, j, NULL, err, sizeof err));
    assert_string_equal(err, "str: string contains a NUL character");
    json_decref(j);
}

static void test_int_extremes(void **state)
{
    (void)state;
    All *a = parse_ok("{\"i64\":9223372036854775807,\"ri64\":[-9223372036854775808,"
                      "\"9223372036854775807\",\"-9223372036854775808\"],"
                      "\"u64\":\"18446744073709551615\",\"i32\":-2147483648,"
                      "\"u32\":4294967295,\"s32\":2147483647}");
    assert_true(a->i64 == INT64_MAX);
    assert_true(a->ri64[0] == INT64_MIN);
    assert_true(a->ri64[1] == INT64_MAX);
    assert_true(a->ri64[2] == INT64_MIN);
    assert_true(a->u64 == UINT64_MAX);
    assert_true(a->i32 == INT32_MIN);
    assert_true(a->u32 == UINT32_MAX);
    assert_true(a->s32 == INT32_MAX);
    char *s = dump(&a->base, 0);
    /* int64 as numbers; uint64 beyond int64 as a string */
    assert_json_eq(s, "{\"i32\":-2147483648,\"i64\":9223372036854775807,\"u32\":4294967295,"
                      "\"u64\":\"18446744073709551615\",\"s32\":2147483647,"
                      "\"ri64\":[-9223372036854775808,9223372036854775807,"
                      "-9223372036854775808]}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);

    a = parse_ok("{\"i32\":3.0,\"i64\":\"-0\",\"u64\":1e3}");
    assert_int_equal(a->i32, 3);
    assert_true(a->i64 == 0);
    assert_true(a->u64 == 1000);
    protobuf_c_message_free_unpacked(&a->base, NULL);

    parse_fails("{\"i64\":\"9223372036854775808\"}",
                "i64: \"9223372036854775808\" is out of range");
    parse_fails("{\"i64\":\"-9223372036854775809\"}", "i64: \"-9223372036854775809\" is out");
    parse_fails("{\"i64\":1e19}", "i64: 1e+19 is out of range");
    parse_fails("{\"u64\":\"18446744073709551616\"}", "u64: \"18446744073709551616\" is out");
    parse_fails("{\"u64\":-1}", "u64: -1 is negative");
    parse_fails("{\"u64\":\"-1\"}", "u64: \"-1\" is negative");
    parse_fails("{\"i32\":2147483648}", "i32: 2147483648 is out of range for int32");
    parse_fails("{\"i32\":-2147483649}", "i32: -2147483649 is out of range for int32");
    parse_fails("{\"u32\":4294967296}", "u32: 4294967296 is out of range for uint32");
    parse_fails("{\"s32\":\"99999999999\"}", "s32: 99999999999 is out of range for sint32");
    parse_fails("{\"ri64\":[1,\"x\"]}", "ri64[1]: expected integer, got \"x\"");
}

static void test_floats(void **state)
{
    (void)state;
    All *a =
        parse_ok("{\"fl\":1.1,\"db\":\"NaN\",\"rdb\":[\"Infinity\",\"-Infinity\",\"2.5\",1e300]}");
    assert_true(a->fl == 1.1f);
    assert_true(isnan(a->db));
    assert_true(isinf(a->rdb[0]) && a->rdb[0] > 0);
    assert_true(isinf(a->rdb[1]) && a->rdb[1] < 0);
    assert_true(a->rdb[2] == 2.5);
    char *s = dump(&a->base, 0);
    /* a float prints as its shortest decimal, not as the widened double */
    assert_json_eq(s, "{\"fl\":1.1,\"db\":\"NaN\",\"rdb\":[\"Infinity\",\"-Infinity\",2.5,1e300]}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    parse_fails("{\"fl\":1e39}", "fl: 1e+39 is out of range for float");
    parse_fails("{\"db\":\"inf\"}", "db: expected number, got \"inf\"");
}

static void test_utf8(void **state)
{
    (void)state;
    /* jansson refuses invalid UTF-8 in JSON text */
    parse_fails("{\"str\":\"\xff\"}", "invalid JSON");
    /* a json_t built without checks is caught by pbjson, naming the field */
    json_t *j = json_pack("{s:[s,o]}", "rstr", "ok", json_stringn_nocheck("\xc0\x80", 2));
    ProtobufCMessage *m = pbjson_from_json(&all_desc, j, NULL, err, sizeof err);
    assert_null(m);
    assert_string_equal(err, "rstr[1]: string is not valid UTF-8");
    json_decref(j);

    /* a message holding invalid UTF-8 cannot be written as JSON */
    All a;
    all_init(&a.base);
    a.str = "bad\xed\xa0\x80";
    assert_null(pbjson_to_json(&a.base, 0, err, sizeof err));
    assert_string_equal(err, "str: string is not valid UTF-8");

    static const struct {
        const char *s;
        int ok;
    } cases[] = {
        {"", 1},
        {"plain", 1},
        {"\xe5\x8d\x97\xe6\xbb\xa8", 1}, /* 南滨 */
        {"\xf0\x9f\x98\x80", 1},         /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 1},         /* U+10FFFF */
        {"\xc0\x80", 0},                 /* overlong NUL */
        {"\xe0\x80\xaf", 0},             /* overlong '/' */
        {"\xed\xa0\x80", 0},             /* surrogate D800 */
        {"\xf4\x90\x80\x80", 0},         /* beyond U+10FFFF */
        {"\xe5\x8d", 0},                 /* truncated */
        {"\x80", 0},                     /* lone continuation */
        {"\xfe", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (pbjson_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
            fail_msg("utf8 case %zu", i);
}

static void test_enums(void **state)
{
    (void)state;
    All *a = parse_ok("{\"color\":1,\"rcolor\":[\"GREEN\",0,7]}");
    assert_int_equal(a->color, 1);
    assert_int_equal(a->rcolor[2], 7);
    char *s = dump(&a->base, 0);
    /* known numbers print by name, unknown ones (open enums) as numbers */
    assert_json_eq(s, "{\"color\":\"RED\",\"rcolor\":[\"GREEN\",\"COLOR_UNSPECIFIED\",7]}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    parse_fails("{\"color\":\"BLUE\"}", "color: \"BLUE\" is not a value of t.Color");
    parse_fails("{\"rcolor\":[\"RED\",true]}", "rcolor[1]: expected t.Color name or number");
    parse_fails("{\"color\":4294967296}", "color: 4294967296 is out of range for t.Color");
}

static void test_bytes(void **state)
{
    (void)state;
    All *a = parse_ok("{\"by\":\"-_8\"}"); /* URL-safe, unpadded: fb ff */
    assert_int_equal(a->by.len, 2);
    assert_memory_equal(a->by.data, "\xfb\xff", 2);
    char *s = dump(&a->base, 0);
    assert_json_eq(s, "{\"by\":\"+/8=\"}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);
    a = parse_ok("{\"by\":\"\"}");
    assert_int_equal(a->by.len, 0);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_oneof_and_nulls(void **state)
{
    (void)state;
    parse_fails("{\"one_a\":\"x\",\"one_b\":{}}", "one_b: only one of a oneof may be set "
                                                  "(already set: one_a)");
    All *a = parse_ok("{\"inner\":null,\"str\":null,\"rstr\":null,\"one_b\":{}}");
    assert_null(a->inner);
    assert_int_equal(a->n_rstr, 0);
    assert_int_equal(a->choice_case, 21);
    char *s = dump(&a->base, 0);
    assert_json_eq(s, "{\"one_b\":{}}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

static void test_emit_defaults(void **state)
{
    (void)state;
    All *a = parse_ok("{}");
    char *s = dump(&a->base, 0);
    assert_json_eq(s, "{}");
    free(s);
    s = dump(&a->base, PBJSON_EMIT_DEFAULTS);
    assert_json_eq(s, "{\"i32\":0,\"i64\":0,\"u32\":0,\"u64\":0,\"s32\":0,\"fl\":0.0,\"db\":0.0,"
                      "\"b\":false,\"str\":\"\",\"by\":\"\",\"color\":\"COLOR_UNSPECIFIED\","
                      "\"ri64\":[],\"rstr\":[],\"rinner\":[],\"rcolor\":[],\"rb\":[],"
                      "\"rdb\":[],\"site_id\":\"\"}");
    free(s);
    protobuf_c_message_free_unpacked(&a->base, NULL);
}

/* Failures deep inside nested and repeated messages free everything built so far
 * (valgrind checks this run). */
static void test_partial_failure_frees(void **state)
{
    (void)state;
    parse_fails("{\"str\":\"keep\",\"rstr\":[\"a\",\"b\"],\"inner\":{\"name\":\"n\"},"
                "\"rinner\":[{\"name\":\"a\"},{\"name\":\"b\",\"n\":\"bad\"}]}",
                "rinner[1].n: expected integer");
    parse_fails("{\"one_b\":{\"name\":\"q\",\"n\":[]}}", "one_b.n: expected integer, got array");
    parse_fails("{\"by\":\"AAAA\",\"rstr\":[\"x\",7]}", "rstr[1]: expected string");
}

/* proto2 messages (descriptor.proto): has_ flags, required and optional fields, enums. */
static void test_proto2(void **state)
{
    (void)state;
    static const char text[] =
        "{\"name\":\"a.proto\",\"messageType\":[{\"name\":\"M\",\"field\":[{\"name\":\"x\","
        "\"number\":1,\"label\":\"LABEL_REPEATED\",\"type\":\"TYPE_INT64\"}]}],"
        "\"options\":{\"java_package\":\"p\",\"optimize_for\":2}}";
    ProtobufCMessage *m = pbjson_parse(&google__protobuf__file_descriptor_proto__descriptor, text,
                                       strlen(text), NULL, err, sizeof err);
    assert_non_null(m);
    Google__Protobuf__FileDescriptorProto *fd = (Google__Protobuf__FileDescriptorProto *)m;
    assert_string_equal(fd->name, "a.proto");
    assert_int_equal(fd->n_message_type, 1);
    Google__Protobuf__FieldDescriptorProto *f = fd->message_type[0]->field[0];
    assert_true(f->has_number && f->number == 1);
    assert_true(f->has_type &&
                f->type == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64);
    assert_false(f->has_oneof_index);
    assert_true(fd->options->has_optimize_for);
    char *s = dump(m, 0);
    assert_json_eq(s, "{\"name\":\"a.proto\",\"message_type\":[{\"name\":\"M\",\"field\":[{"
                      "\"name\":\"x\",\"number\":1,\"label\":\"LABEL_REPEATED\","
                      "\"type\":\"TYPE_INT64\"}]}],\"options\":{\"java_package\":\"p\","
                      "\"optimize_for\":\"CODE_SIZE\"}}");
    free(s);
    protobuf_c_message_free_unpacked(m, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_type_mismatch),
        cmocka_unit_test(test_int_extremes),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_oneof_and_nulls),
        cmocka_unit_test(test_emit_defaults),
        cmocka_unit_test(test_partial_failure_frees),
        cmocka_unit_test(test_proto2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
