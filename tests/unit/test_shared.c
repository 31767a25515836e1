/* test_shared.c — unit tests for the pieces every service shares: the PostgreSQL
 * array literals (server/runtime/pg_array.c), the character sets (lib/charset.c) with
 * the descriptions that the error messages quote, v_chars, the state-machine helper
 * (server/runtime/fsm.c), the bounded file reader (lib/file_read.c) and the report
 * renderer's amounts and escaping (server/services/report/report_html.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "charset.h"
#include "file_read.h"
#include "fsm.h"
#include "pg_array.h"
#include "report/report_html.h"

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

static void test_v_chars(void **state)
{
    (void)state;
    call *c = new_call();
    assert_int_equal(v_chars(c, "lot_code", "", 64, &GS_CS_LOT), GS_OK);
    assert_int_equal(v_chars(c, "lot_code", "L-1/a", 64, &GS_CS_LOT), GS_OK);
    assert_int_equal(v_chars(c, "lot_code", "L 1", 64, &GS_CS_LOT), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message,
                        "lot_code: only A-Z, a-z, 0-9, '.', '_', '/' and '-' are allowed: \"L 1\"");
    assert_int_equal(
        v_chars(c, "ref_type", "abcdefghijklmnopqrstuvwxyzabcdefg", 32, &GS_CS_REF_TYPE),
        GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "ref_type: longer than 32 characters");
    assert_int_equal(v_code(c, "code", ""), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "code: required");
    assert_int_equal(v_code(c, "code", "ab"), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "code: only A-Z, 0-9, '.', '_' and '-' are allowed: \"ab\"");
    arena_free(c->arena);
}

enum { S_A, S_B, S_C, S_COUNT };

static void test_fsm(void **state)
{
    (void)state;
    static const char *const names[S_COUNT] = {"a", "b", "c"};
    static const fsm_move moves[] = {{S_A, S_B}, {S_B, S_C}, {S_B, S_A}};
    const fsm m = {"widget", names, S_COUNT, moves, 3};
    call *c = new_call();
    assert_true(fsm_can(&m, S_A, S_B));
    assert_false(fsm_can(&m, S_A, S_C));
    assert_false(fsm_can(&m, -1, S_A));
    assert_int_equal(fsm_state(&m, "c"), S_C);
    assert_int_equal(fsm_state(&m, "d"), -1);
    assert_int_equal(fsm_state(&m, NULL), -1);
    assert_string_equal(fsm_name(&m, S_B), "b");
    assert_string_equal(fsm_name(&m, 7), "unknown");
    assert_int_equal(fsm_check(c, &m, S_B, S_C, "W-1", "x"), GS_OK);
    assert_int_equal(fsm_check(c, &m, S_C, S_A, "W-1", "it cannot become a"),
                     GS_FAILED_PRECONDITION);
    assert_string_equal(c->message, "widget W-1 is c: it cannot become a");
    arena_free(c->arena);
}

static char *temp_file(const char *body, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/gs_test_shared_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, body, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_file_read(void **state)
{
    (void)state;
    char err[128] = "";
    size_t len = 99;
    char *p = temp_file("", 0);
    char *b = gs_file_read(p, 10, &len, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(len, 0);
    assert_string_equal(b, "");
    free(b);
    unlink(p);

    p = temp_file("0123456789", 10); /* exactly max */
    b = gs_file_read(p, 10, &len, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(len, 10);
    assert_string_equal(b, "0123456789");
    free(b);
    assert_null(gs_file_read(p, 9, &len, err, sizeof err)); /* one byte over */
    assert_string_equal(err, "larger than 9 bytes");
    unlink(p);

    /* larger than the first buffer: grows, keeps every byte */
    size_t big = 100000;
    char *body = malloc(big);
    for (size_t i = 0; i < big; i++)
        body[i] = (char)('a' + i % 26);
    p = temp_file(body, big);
    b = gs_file_read(p, 1 << 20, &len, err, sizeof err);
    assert_non_null(b);
    assert_int_equal(len, big);
    assert_memory_equal(b, body, big);
    assert_int_equal(b[big], '\0');
    free(b);
    assert_null(gs_file_read(p, big - 1, NULL, err, sizeof err));
    unlink(p);
    free(body);

    assert_null(gs_file_read("/nonexistent/gs-file", 10, NULL, err, sizeof err));
    assert_string_equal(err, "No such file or directory");
}

static void test_report_pieces(void **state)
{
    (void)state;
    call *c = new_call();
    assert_string_equal(report_amount(c, 1234567, 100, false), "12,345.67");
    assert_string_equal(report_amount(c, 1234567, 100, true), "12,345");
    assert_string_equal(report_amount(c, -5, 100, false), "-0.05");
    assert_string_equal(report_amount(c, 0, 100, false), "0.00");
    assert_string_equal(report_amount(c, 1234567, 1, false), "1,234,567");
    assert_string_equal(report_amount(c, 100000, 1000, false), "100.000");
    assert_string_equal(report_amount(c, INT64_MIN, 100, false), "-92,233,720,368,547,758.08");

    report_doc d;
    report_begin(&d, c, 1 << 20, NULL, "A & <B>");
    report_esc(&d, "x'\"y\"&z");
    const char *html = report_end(&d, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "<title>A &amp; &lt;B&gt;</title>"));
    assert_non_null(strstr(html, "<h1>A &amp; &lt;B&gt;</h1>\nx&#39;&quot;y&quot;&amp;z</body>"));

    /* over the cap: the document is refused, not cut */
    report_begin(&d, c, 16384, NULL, "t");
    for (int i = 0; i < 2000; i++)
        report_puts(&d, "0123456789");
    assert_true(d.full);
    assert_null(report_end(&d, NULL));
    arena_free(c->arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_i64),
        cmocka_unit_test(test_array_text),
        cmocka_unit_test(test_array_bool_num),
        cmocka_unit_test(test_charset_check),
        cmocka_unit_test(test_charset_describe),
        cmocka_unit_test(test_v_chars),
        cmocka_unit_test(test_fsm),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_report_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
