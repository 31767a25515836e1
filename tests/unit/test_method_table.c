/* test_method_table.c — unit tests for methods_resolve (server/runtime/dispatch.c): the
 * generated method table of every gridstock service resolves, every row names a
 * permission, and a row without one stops start-up unless it is public and needs no
 * database; rows and descriptors that disagree are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gridstock/v1/compounds.pb-c.h"
#include "gs_services.h"
#include "method.h"
#include "services.h"

static gs_code nop(call *c)
{
    (void)c;
    return GS_OK;
}

/* CompoundService has two methods: GetCompound, ListCompounds. */
static method_def rows[2];
static service_def compound = {&gridstock__v1__compound_service__descriptor, rows, 2};
static service_def *const domain[] = {&compound, NULL};

static void set_rows(gs_perm perm0, unsigned flags0)
{
    rows[0] = (method_def){.name = "GetCompound", .handler = nop, .perm = perm0, .flags = flags0};
    rows[1] = (method_def){.name = "ListCompounds", .handler = nop, .perm = PERM_DIRECTORY_READ};
}

static int resolve(char *err, size_t len)
{
    err[0] = '\0';
    return methods_resolve(domain, err, len);
}

static void generated_table_resolves(void **state)
{
    (void)state;
    char err[300] = "";
    assert_int_equal(methods_resolve(services_table, err, sizeof err), 0);
    size_t n_services = 0, n_rows = 0;
    for (service_def *const *sp = services_table; *sp; sp++, n_services++)
        for (size_t i = 0; i < (*sp)->n_methods; i++, n_rows++) {
            const method_def *m = &(*sp)->methods[i];
            assert_true(m->perm != PERM_NONE && m->perm < PERM_COUNT);
            assert_false(m->flags & (MF_PUBLIC | MF_NO_DB));
            assert_non_null(m->desc);
        }
    /* the server's services are the CLI's (gs_service_descriptors: health first) */
    for (size_t i = 0; i < n_services; i++)
        assert_ptr_equal(services_table[i]->desc, gs_service_descriptors[i + 1]);
    assert_null(gs_service_descriptors[n_services + 1]);
    assert_true(n_rows >= 127);
}

static void row_with_permission_resolves(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_DIRECTORY_READ, 0);
    assert_int_equal(resolve(err, sizeof err), 0);
    assert_string_equal(rows[0].path, "/gridstock.v1.CompoundService/GetCompound");
}

static void row_without_permission_refused(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_NONE, 0);
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "gridstock.v1.CompoundService.GetCompound has no permission"));
    /* public alone is not enough: it would still open a transaction without a caller */
    set_rows(PERM_NONE, MF_PUBLIC);
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "has no permission"));
    /* nor is needing no database */
    set_rows(PERM_NONE, MF_NO_DB);
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "has no permission"));
}

static void public_without_db_resolves(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_NONE, MF_PUBLIC | MF_NO_DB);
    assert_int_equal(resolve(err, sizeof err), 0);
}

static void public_with_permission_refused(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_STOCK_READ, MF_PUBLIC | MF_NO_DB);
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "is public but names a permission"));
}

static void unknown_permission_refused(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_COUNT, 0);
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "names an unknown permission"));
}

static void rows_must_match_descriptor(void **state)
{
    (void)state;
    char err[300];
    set_rows(PERM_DIRECTORY_READ, 0);
    rows[1].name = "ListCompoundz";
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "has no method ListCompoundz"));
    set_rows(PERM_DIRECTORY_READ, 0);
    compound.n_methods = 1;
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "ListCompounds has no row"));
    compound.n_methods = 2;
    set_rows(PERM_DIRECTORY_READ, 0);
    rows[0].handler = NULL;
    assert_int_equal(resolve(err, sizeof err), -1);
    assert_non_null(strstr(err, "has no handler for its kind"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(generated_table_resolves),
        cmocka_unit_test(row_with_permission_resolves),
        cmocka_unit_test(row_without_permission_refused),
        cmocka_unit_test(public_without_db_resolves),
        cmocka_unit_test(public_with_permission_refused),
        cmocka_unit_test(unknown_permission_refused),
        cmocka_unit_test(rows_must_match_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
