/* Unit tests for server/batch_scan.c: records counted wherever a parser would find them, strings
 * and escapes skipped, both limits stopping the scan, and the cost estimate close enough to
 * jansson's allocations to pass real batches and refuse bombs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch_scan.h"

#define NO_LIMIT ((size_t)-1)

static void test_counts(void **state)
{
    static const struct {
        const char *in;
        size_t records;
    } cases[] = {
        {"{\"records\":[]}", 0},
        {"{\"records\":[{}]}", 1},
        {"{\"records\":[{},{},{}]}", 3},
        {" { \"records\" : [ { } ,\n\t{ \"a\" : 1 } ] } ", 2},
        {"{\"records\":[1,-2.5e3,\"x\",null,true,false]}", 6},
        {"{\"records\":[[1,2],[3],[]]}", 3},
        {"{\"records\":[{\"a\":[{},{},{}],\"b\":{\"c\":[1,2]}}]}", 1},
        /* brackets, commas and quotes inside strings are not structure */
        {"{\"records\":[{\"a\":\"],[,{\\\"}\"},\"\\\\\",\"\\\"]\"]}", 3},
        /* an escaped key is still the records array to a parser: counted */
        {"{\"rec\\u006frds\":[{},{}]}", 2},
        /* every array member of the top object counts */
        {"{\"a\":[{}],\"b\":[{},{}],\"c\":{\"d\":[{},{},{}]},\"e\":1}", 3},
        /* not a batch: the parser will say so; nothing counted, nothing refused */
        {"[{},{},{}]", 0},
        {"", 0},
        {"{\"records\":[{},", 1},
        {"]]]]{\"records\":[{}]}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = 99;
        batch_scan_result_t rc =
            batch_scan(cases[i].in, strlen(cases[i].in), NO_LIMIT, NO_LIMIT, &n);
        if (rc != BATCH_SCAN_OK || n != cases[i].records)
            print_error("case %zu: rc %d, %zu records\n", i, rc, n);
        assert_int_equal(rc, BATCH_SCAN_OK);
        assert_int_equal(n, cases[i].records);
    }
}

static char *empty_objects(size_t n, size_t *len)
{
    char *s = malloc(16 + 3 * n);
    assert_non_null(s);
    size_t l = (size_t)sprintf(s, "{\"records\":[");
    for (size_t i = 0; i < n; i++)
        l += (size_t)sprintf(s + l, i ? ",{}" : "{}");
    l += (size_t)sprintf(s + l, "]}");
    *len = l;
    return s;
}

static void test_record_limit(void **state)
{
    size_t len, n;
    char *s = empty_objects(1000, &len);
    assert_int_equal(batch_scan(s, len, 1000, NO_LIMIT, &n), BATCH_SCAN_OK);
    assert_int_equal(n, 1000);
    assert_int_equal(batch_scan(s, len, 999, NO_LIMIT, &n), BATCH_SCAN_TOO_MANY);
    assert_int_equal(n, 1000); /* it stopped at the first record past the limit */
    assert_int_equal(batch_scan(s, len, 0, NO_LIMIT, &n), BATCH_SCAN_TOO_MANY);
    assert_int_equal(n, 1);
    assert_int_equal(batch_scan(s, len, 1000, NO_LIMIT, NULL), BATCH_SCAN_OK);
    free(s);
}

/* 100,000 empty objects are 300 kB of body and some 23 MB of jansson tree. */
static void test_cost_limit(void **state)
{
    size_t len, n;
    char *s = empty_objects(100000, &len);
    assert_int_equal(batch_scan(s, len, NO_LIMIT, 16 * len, &n), BATCH_SCAN_TOO_COSTLY);
    assert_true(n < 100000); /* stopped part way */
    assert_int_equal(batch_scan(s, len, NO_LIMIT, 30 * 1000 * 1000, &n), BATCH_SCAN_OK);
    assert_int_equal(n, 100000);
    free(s);
    /* A string costs its bytes (about 650 for the rest of this body). */
    char *str = malloc(1100);
    assert_non_null(str);
    sprintf(str, "{\"records\":[\"%01000d\"]}", 0);
    assert_int_equal(batch_scan(str, strlen(str), NO_LIMIT, 2000, &n), BATCH_SCAN_OK);
    assert_int_equal(batch_scan(str, strlen(str), NO_LIMIT, 1500, &n), BATCH_SCAN_TOO_COSTLY);
    free(str);
}

/* A realistic record (a pathway referral as an agent sends it) costs well under 16 times its
 * bytes, the budget api_records.c gives a batch. */
static void test_real_batch_within_budget(void **state)
{
    static const char rec[] =
        "{\"kind\":\"pathway.referral\",\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\","
        "\"origin\":\"northside-womens-aid\",\"version\":1,\"body\":{\"from_service\":"
        "\"7c9e6679-7425-40de-944b-e07fc1f90ae7\",\"to_service\":\"16fd2706-8baf-433b-82eb-"
        "8c7fada847da\",\"week\":\"2026-W14\",\"needs\":[\"refuge\",\"legal\"],\"risk\":"
        "\"high\",\"age_band\":\"25_34\",\"district\":\"LS6\",\"route\":\"self\"},"
        "\"share\":[\"riverside-sv-centre\"]}";
    size_t cap = 1000 * sizeof rec + 32, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    len += (size_t)sprintf(s, "{\"records\":[");
    for (int i = 0; i < 1000; i++)
        len += (size_t)sprintf(s + len, "%s%s", i ? "," : "", rec);
    len += (size_t)sprintf(s + len, "]}");
    size_t n;
    assert_int_equal(batch_scan(s, len, 1000, 16 * len, &n), BATCH_SCAN_OK);
    assert_int_equal(n, 1000);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_record_limit),
        cmocka_unit_test(test_cost_limit),
        cmocka_unit_test(test_real_batch_within_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
