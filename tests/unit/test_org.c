/* Organisation UUIDs: the expected values come from Python's uuid.uuid5 with
 * the same namespace, an implementation independent of ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "tr_error.h"
#include "tr_org.h"

static void test_known_values(void **state)
{
    static const struct {
        const char *origin, *uuid;
    } cases[] = {
        {"northside-womens-aid", "c91927dd-804f-5dd5-bbe7-c822b93dd686"},
        {"a", "fdd0c0ab-c93b-5455-815c-e3e29ce938f3"},
        {"riverside-sv-centre", "fc508779-1883-57ad-916f-d107737fa321"},
        {"000000000000000000000000000000000000000000000000000000000000000",
         "d9840eb5-9821-5fa6-9fb1-19b4689855a1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[37];
        assert_int_equal(tr_org_uuid(cases[i].origin, out, sizeof(out)), 0);
        assert_string_equal(out, cases[i].uuid);
    }
}

static void test_refuses_what_is_not_an_organisation(void **state)
{
    char out[37];
    assert_int_equal(tr_org_uuid("Northside", out, sizeof(out)), TR_E_INVAL);
    assert_int_equal(tr_org_uuid("", out, sizeof(out)), TR_E_INVAL);
    assert_int_equal(tr_org_uuid(NULL, out, sizeof(out)), TR_E_INVAL);
    assert_int_equal(tr_org_uuid("-a", out, sizeof(out)), TR_E_INVAL);
    assert_int_equal(tr_org_uuid("a", out, 36), TR_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_refuses_what_is_not_an_organisation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
