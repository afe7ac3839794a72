/* Reading the Trellis-Protocol header (proto/tr_protocol.c): what a peer
 * announces, and whether this node syncs with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tr_protocol.h"

static void test_parse(void **state)
{
    static const struct {
        const char *value;
        int want;
    } rows[] = {
        {NULL, 1}, /* no header: the version before the header existed */
        {"1", 1},   {"2", 2},        {"3", 3},    {"002", 2},  {"999999", 999999},
        {"", -1},   {"1000000", -1}, {"-1", -1},  {"+2", -1},  {" 2", -1},
        {"2 ", -1}, {"2.0", -1},     {"two", -1}, {"0x2", -1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(tr_protocol_parse(rows[i].value), rows[i].want);
}

static void test_supported(void **state)
{
    assert_int_equal(TR_PROTOCOL_MIN, 1);
    assert_int_equal(TR_PROTOCOL_VERSION, 2);
    assert_false(tr_protocol_supported(-1));
    assert_false(tr_protocol_supported(0));
    assert_true(tr_protocol_supported(1));
    assert_true(tr_protocol_supported(2));
    assert_false(tr_protocol_supported(3));
    assert_true(tr_protocol_supported(tr_protocol_parse(NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_supported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
