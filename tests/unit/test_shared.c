/* test_shared.c — unit tests for the pieces every service shares: the PostgreSQL
 * array literals (server/runtime/pg_array.c) and the character sets (lib/charset.c) with
 * the descriptions that the error messages quote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "charset.h"
#include "pg_array.h"

static call *new_call(void)
{
    static call c;
    memset(&c, 0, sizeof c);
    c.arena = arena_new(256);
    return &c;
}

static void test_array_i64(void **state)
{
    (void)state;
    call *c = new_call();
    const int64_t v[] = {1, -2, INT64_MAX, INT64_MIN};
    assert_string_equal(pg_array_i64(c, v, 0), "{}");
    assert_string_equal(pg_array_i64(c, v, 1), "{1}");
    assert_string_equal(pg_array_i64(c, v, 4), "{1,-2,9223372036854775807,-9223372036854775808}");
    arena_free(c->arena);
}

static void test_array_text(void **state)
{
    (void)state;
    call *c = new_call();
    const char *v[] = {"A-1", "", NULL, "say \"hi\"", "back\\slash", "a,b{c}"};
    assert_string_equal(pg_array_text(c, v, 0), "{}");
    assert_string_equal(pg_array_text(c, v, 6),
                        "{\"A-1\",\"\",\"\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"a,b{c}\"}");
    arena_free(c->arena);
}

static void test_array_bool_num(void **state)
{
    (void)state;
    call *c = new_call();
    const bool b[] = {true, false, true};
    const double d[] = {0, 12.5, 100, 33.333};
    assert_string_equal(pg_array_bool(c, b, 3), "{t,f,t}");
    assert_string_equal(pg_array_bool(c, b, 0), "{}");
    assert_string_equal(pg_array_num2(c, d, 4), "{0.00,12.50,100.00,33.33}");
    arena_free(c->arena);
}

static void test_charset_check(void **state)
{
    (void)state;
    assert_int_equal(gs_charset_find_bad(&GS_CS_CODE, "SITE-01.A_B"), -1);
    assert_int_equal(gs_charset_find_bad(&GS_CS_CODE, "site"), 0);
    assert_int_equal(gs_charset_find_bad(&GS_CS_CODE, "AB/C"), 2);
    assert_int_equal(gs_charset_find_bad(&GS_CS_LOT, "lot/2026-01.a"), -1);
    assert_int_equal(gs_charset_find_bad(&GS_CS_LOT, "LOT 1"), 3);
    assert_int_equal(gs_charset_find_bad(&GS_CS_LOGIN, "logi.st01"), -1);
    assert_int_equal(gs_charset_find_bad(&GS_CS_LOGIN, "Logi"), 0);
    assert_int_equal(gs_charset_find_bad(&GS_CS_IDENT, "HH-9.b_c"), -1);
    assert_int_equal(gs_charset_find_bad(&GS_CS_IDENT, "HH/9"), 2);
    assert_int_equal(gs_charset_find_bad(&GS_CS_REF_TYPE, "purchase_order"), -1);
    assert_int_equal(gs_charset_find_bad(&GS_CS_REF_TYPE, "po-1"), 2);
    /* non-ASCII bytes are never in a set */
    assert_int_equal(gs_charset_find_bad(&GS_CS_IDENT, "A\xc3\xa9"), 1);
}

static void test_charset_describe(void **state)
{
    (void)state;
    char buf[128];
    assert_string_equal(gs_charset_describe(&GS_CS_CODE, buf, sizeof buf),
                        "A-Z, 0-9, '.', '_' and '-'");
    assert_string_equal(gs_charset_describe(&GS_CS_LOGIN, buf, sizeof buf),
                        "a-z, 0-9, '.', '_' and '-'");
    assert_string_equal(gs_charset_describe(&GS_CS_IDENT, buf, sizeof buf),
                        "A-Z, a-z, 0-9, '.', '_' and '-'");
    assert_string_equal(gs_charset_describe(&GS_CS_LOT, buf, sizeof buf),
                        "A-Z, a-z, 0-9, '.', '_', '/' and '-'");
    assert_string_equal(gs_charset_describe(&GS_CS_REF_TYPE, buf, sizeof buf), "a-z and '_'");
    char small[8];
    assert_string_equal(gs_charset_describe(&GS_CS_CODE, small, sizeof small), "A-Z, 0-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_i64),        cmocka_unit_test(test_array_text),
        cmocka_unit_test(test_array_bool_num),   cmocka_unit_test(test_charset_check),
        cmocka_unit_test(test_charset_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
