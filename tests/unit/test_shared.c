/* test_shared.c — unit tests for the pieces every service shares: the PostgreSQL
 * array literals (server/runtime/pg_array.c), the character sets (lib/charset.c) with
 * the descriptions that the error messages quote, v_chars, the state-machine helper
 * (server/runtime/fsm.c), the bounded file reader (lib/file_read.c), the report
 * renderer's amounts and escaping (server/services/report/report_html.c), lookups by id
 * or code (server/runtime/call.c), the prepared-statement cache and the SQLSTATE table
 * (server/runtime/db_stmt_cache.c, db_sqlstate.c) and the named result columns
 * (server/api/db.h). */
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
#include "db.h"
#include "db_sqlstate.h"
#include "db_stmt_cache.h"
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

static void test_id_or_code(void **state)
{
    (void)state;
    call *c = new_call();
    gs_lookup by;
    assert_int_equal(v_id_or_code(c, "site_id", 7, "ignored", true, &by), GS_OK);
    assert_int_equal(by, GS_BY_ID);
    assert_int_equal(v_id_or_code(c, "site_id", 0, "RP-1", true, &by), GS_OK);
    assert_int_equal(by, GS_BY_CODE);
    assert_int_equal(v_id_or_code(c, "site_id", 0, "", false, &by), GS_OK);
    assert_int_equal(by, GS_BY_NONE);
    assert_int_equal(v_id_or_code(c, "site_id", 0, NULL, true, &by), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "site_id: required (id or code)");
    assert_int_equal(v_id_or_code(c, "site_id", -3, "RP-1", false, &by), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "site_id: must be positive, got -3");
    char long_code[70];
    memset(long_code, 'A', sizeof long_code - 1);
    long_code[sizeof long_code - 1] = '\0';
    assert_int_equal(v_id_or_code(c, "site_id", 0, long_code, true, &by), GS_INVALID_ARGUMENT);
    assert_string_equal(c->message, "site_id: longer than 64 bytes");
    assert_int_equal(call_not_found(c, "site", GS_BY_CODE, 0, "RP-1"), GS_NOT_FOUND);
    assert_string_equal(c->message, "site \"RP-1\" not found");
    assert_int_equal(call_not_found(c, "org unit", GS_BY_ID, 12, ""), GS_NOT_FOUND);
    assert_string_equal(c->message, "org unit 12 not found");
    arena_free(c->arena);
}

/* A statement forgotten in the middle of a probe chain leaves a tombstone: the ones
 * stored after it are still found (not prepared again), and the slot is reused. */
static void test_stmt_cache(void **state)
{
    (void)state;
    static stmt_cache sc;
    /* three keys that hash to one slot: addresses STMT_SLOTS * 8 bytes apart */
    static char block[3 * STMT_SLOTS * 8] __attribute__((aligned(8)));
    const char *k[3] = {&block[0], &block[STMT_SLOTS * 8], &block[2 * STMT_SLOTS * 8]};
    char name[24];
    bool fresh;
    stmt_cache_clear(&sc);
    stmt_entry *e[3];
    for (int i = 0; i < 3; i++) {
        e[i] = stmt_cache_lookup(&sc, k[i], name, &fresh);
        assert_non_null(e[i]);
        assert_true(fresh);
        stmt_cache_remember(&sc, e[i], k[i]);
    }
    assert_int_equal(sc.n, 3);
    assert_ptr_equal(stmt_cache_lookup(&sc, k[2], name, &fresh), e[2]);
    assert_false(fresh);
    assert_string_equal(name, "s3");
    stmt_cache_forget(e[0]); /* the first of the chain */
    assert_ptr_equal(stmt_cache_lookup(&sc, k[2], name, &fresh), e[2]);
    assert_false(fresh); /* still known behind the tombstone */
    assert_ptr_equal(stmt_cache_lookup(&sc, k[0], name, &fresh), e[0]); /* slot reused */
    assert_true(fresh);
    assert_string_equal(name, "s4");
}

static void test_sqlstate(void **state)
{
    (void)state;
    assert_int_equal(db_sqlstate_code("23505"), GS_ALREADY_EXISTS);
    assert_int_equal(db_sqlstate_code("40P01"), GS_ABORTED);
    assert_int_equal(db_sqlstate_code("57014"), GS_DEADLINE_EXCEEDED);
    assert_int_equal(db_sqlstate_code("57P01"), GS_UNAVAILABLE);
    assert_int_equal(db_sqlstate_code("08006"), GS_UNAVAILABLE);      /* class 08 */
    assert_int_equal(db_sqlstate_code("22007"), GS_INVALID_ARGUMENT); /* class 22 */
    assert_int_equal(db_sqlstate_code("GS409"), GS_FAILED_PRECONDITION);
    assert_int_equal(db_sqlstate_code("42P01"), GS_INTERNAL);
    assert_int_equal(db_sqlstate_code(NULL), GS_INTERNAL);
    /* a failover: the old primary is read-only or going away, the connection is replaced */
    assert_int_equal(db_sqlstate_code("25006"), GS_UNAVAILABLE);
    assert_true(db_sqlstate_stale("25006"));
    assert_true(db_sqlstate_stale("57P01"));
    assert_true(db_sqlstate_stale("08006"));
    assert_false(db_sqlstate_stale("40001"));
    assert_false(db_sqlstate_stale("23505"));
    assert_false(db_sqlstate_stale(NULL));
}

/* The names of a column list follow its SELECT order, and DB_COLS_MATCH accepts a second
 * list with the same names in the same places (a wrong one does not compile). */
#define T_COLUMNS(COL) COL(T_ID, "t.id") COL(T_CODE, ", t.code") COL(T_QTY, ", t.qty")
enum { T_COLUMNS(DB_COL_NAME) T_NCOLS };
#define T_OTHER_COLUMNS(COL) COL(T_ID, "o.id") COL(T_CODE, ", o.code") COL(T_QTY, ", 0")
static void test_column_lists(void **state)
{
    (void)state;
    assert_string_equal(T_COLUMNS(DB_COL_SQL), "t.id, t.code, t.qty");
    assert_int_equal(T_ID, 0);
    assert_int_equal(T_QTY, 2);
    assert_int_equal(T_NCOLS, 3);
    DB_COLS_MATCH(T_OTHER_COLUMNS, T_NCOLS);
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
        cmocka_unit_test(test_id_or_code),
        cmocka_unit_test(test_stmt_cache),
        cmocka_unit_test(test_sqlstate),
        cmocka_unit_test(test_column_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
