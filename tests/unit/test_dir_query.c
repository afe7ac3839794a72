/* dir_query: every parameter of the directory's filter, its bounds and bad
 * values, repeated parameters (the first wins), unknown ones (refused), and
 * the SQL builder keeping every value out of the SQL text. */
#include "dir_query.h"
#include "tr_error.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *q, dir_filter_t *f, char *err)
{
    return dir_filter_parse(q, NULL, f, err, 160);
}

static void test_defaults(void **state)
{
    (void)state;
    dir_filter_t f;
    char err[160];
    assert_int_equal(parse(NULL, &f, err), 0);
    assert_int_equal(f.page, 1);
    assert_int_equal(f.per_page, DIR_PER_PAGE_DEFAULT);
    assert_false(f.per_page_clamped);
    assert_int_equal(f.minimum_age, -1);
    assert_int_equal(f.maximum_age, -1);
    assert_int_equal(f.taking_referrals, -1);
    assert_int_equal(f.self_referral, -1);
    assert_false(f.has_point);
    assert_int_equal(f.proximity, 0);
    assert_string_equal(f.search, "");
    /* Empty values are absent: finders send "search=&page=1". */
    assert_int_equal(parse("search=&taxonomy_id=&day=&minimum_age=&page=", &f, err), 0);
    assert_int_equal(f.page, 1);
    assert_int_equal(f.minimum_age, -1);
}

/* Good values and what they become. */
static void test_values(void **state)
{
    (void)state;
    dir_filter_t f;
    char err[160];
    assert_int_equal(
        parse("page=3&per_page=20&search=refuge+leeds&taxonomy_id=A1000000-0000-4000-8000-"
              "000000000001&taxonomy_term_id=a1000000-0000-4000-8000-000000000002&organization_"
              "id=a1000000-0000-4000-8000-000000000003&need=refuge&for_gender=women&risk_level="
              "high&accessibility=bsl&district=ls7&minimum_age=16&maximum_age=17&taking_"
              "referrals=TRUE&self_referral=false&modified_after=2025-11-20T09:30:00Z&day="
              "Tuesday&start_time=09:00&end_time=17:30:00&minimal=true&format=json",
              &f, err),
        0);
    assert_int_equal(f.page, 3);
    assert_int_equal(f.per_page, 20);
    assert_string_equal(f.search, "refuge leeds");
    assert_string_equal(f.taxonomy_id, "a1000000-0000-4000-8000-000000000001");
    assert_string_equal(f.taxonomy_term_id, "a1000000-0000-4000-8000-000000000002");
    assert_string_equal(f.organization_id, "a1000000-0000-4000-8000-000000000003");
    assert_string_equal(f.need, "refuge");
    assert_string_equal(f.for_gender, "women");
    assert_string_equal(f.risk_level, "high");
    assert_string_equal(f.accessibility, "bsl");
    assert_string_equal(f.district, "LS7");
    assert_int_equal(f.minimum_age, 16);
    assert_int_equal(f.maximum_age, 17);
    assert_int_equal(f.taking_referrals, 1);
    assert_int_equal(f.self_referral, 0);
    assert_string_equal(f.modified_after, "2025-11-20T09:30:00Z");
    assert_string_equal(f.day, "TU");
    assert_string_equal(f.start_time, "09:00:00");
    assert_string_equal(f.end_time, "17:30:00");
    assert_true(f.minimal);

    assert_int_equal(parse("district=E08000035&day=sa&modified_after=2025-11-20", &f, err), 0);
    assert_string_equal(f.district, "E08000035");
    assert_string_equal(f.day, "SA");
    assert_string_equal(f.modified_after, "2025-11-20T00:00:00Z");
    /* A date-time without an offset is UTC. */
    assert_int_equal(parse("modified_after=2025-11-20T09:30:00", &f, err), 0);
    assert_string_equal(f.modified_after, "2025-11-20T09:30:00Z");
    assert_int_equal(parse("modified_after=2025-11-20T09:30:00.5%2B01:00", &f, err), 0);
    assert_string_equal(f.modified_after, "2025-11-20T09:30:00.5+01:00");

    assert_int_equal(parse("lat=53.8008&lng=-1.5491&proximity=5000", &f, err), 0);
    assert_true(f.has_point);
    assert_true(f.lat > 53.8 && f.lat < 53.801);
    assert_true(f.lng < -1.549 && f.lng > -1.5492);
    assert_int_equal(f.proximity, 5000);
    assert_int_equal(parse("postcode=ls6+1aa&proximity=1000", &f, err), 0);
    assert_string_equal(f.postcode, "LS61AA");
    assert_int_equal(parse("postcode=SW1A1AA", &f, err), 0);
    assert_string_equal(f.postcode, "SW1A1AA");
}

/* per_page above the maximum is clamped, and says so. */
static void test_clamp(void **state)
{
    (void)state;
    dir_filter_t f;
    char err[160];
    assert_int_equal(parse("per_page=500", &f, err), 0);
    assert_int_equal(f.per_page, DIR_PER_PAGE_MAX);
    assert_true(f.per_page_clamped);
    assert_int_equal(parse("per_page=200", &f, err), 0);
    assert_int_equal(f.per_page, 200);
    assert_false(f.per_page_clamped);
    assert_int_equal(parse("per_page=99999999999", &f, err), 0);
    assert_int_equal(f.per_page, DIR_PER_PAGE_MAX);
}

/* Repeated parameters: the first value wins, for every parameter. */
static void test_repeated(void **state)
{
    (void)state;
    dir_filter_t f;
    char err[160];
    assert_int_equal(parse("per_page=5&per_page=9&need=refuge&need=legal&page=2&page=x", &f, err),
                     0);
    assert_int_equal(f.per_page, 5);
    assert_string_equal(f.need, "refuge");
    assert_int_equal(f.page, 2);
    /* ... and a bad first value is an error even if a later one is good. */
    assert_int_equal(parse("page=x&page=2", &f, err), TR_E_INVAL);
    assert_non_null(strstr(err, "page"));
}

/* Each bad value: refused, with the parameter named. */
static void test_bad(void **state)
{
    (void)state;
    static const struct {
        const char *query, *names;
    } cases[] = {
        {"page=0", "page"},
        {"page=1000001", "page"},
        {"page=-1", "page"},
        {"page=1x", "page"},
        {"per_page=0", "per_page"},
        {"per_page=-5", "per_page"},
        {"per_page=ten", "per_page"},
        {"taxonomy_id=health", "taxonomy_id"},
        {"taxonomy_term_id=1234", "taxonomy_term_id"},
        {"organization_id=northside", "organization_id"},
        {"need=cake", "need"},
        {"for_gender=other", "for_gender"},
        {"risk_level=extreme", "risk_level"},
        {"accessibility=lift", "accessibility"},
        {"district=Leeds", "district"},
        {"district=E00000001", "district"},
        {"minimum_age=-1", "minimum_age"},
        {"minimum_age=131", "minimum_age"},
        {"maximum_age=old", "maximum_age"},
        {"minimum_age=20&maximum_age=10", "maximum_age"},
        {"taking_referrals=yes", "taking_referrals"},
        {"self_referral=1", "self_referral"},
        {"minimal=please", "minimal"},
        {"modified_after=yesterday", "modified_after"},
        {"modified_after=2025-13-01", "modified_after"},
        {"day=funday", "day"},
        {"start_time=9am", "start_time"},
        {"end_time=25:00", "end_time"},
        {"lat=91&lng=0", "lat"},
        {"lat=53&lng=181", "lng"},
        {"lat=nan&lng=1", "lat"},
        {"lat=53", "lat"},
        {"lng=-1", "lng"},
        {"postcode=LS6", "postcode"},
        {"postcode=not+a+postcode", "postcode"},
        {"postcode=LS61AA&lat=53&lng=-1", "postcode"},
        {"proximity=1000", "proximity"},
        {"lat=53&lng=-1&proximity=0", "proximity"},
        {"lat=53&lng=-1&proximity=1000001", "proximity"},
        {"format=ndjson", "format"},
        {"search=%ZZ", "search"},
        {"search=a%00b", "search"},
        {"colour=purple", "colour"},
        {"full=true", "full"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dir_filter_t f;
        char err[160] = "";
        int rc = parse(cases[i].query, &f, err);
        if (rc != TR_E_INVAL || !strstr(err, cases[i].names))
            fail_msg("%s: rc %d, err \"%s\"", cases[i].query, rc, err);
    }
    /* search over its limit */
    char q[300] = "search=";
    memset(q + 7, 'a', DIR_SEARCH_MAX + 1);
    q[7 + DIR_SEARCH_MAX + 1] = '\0';
    dir_filter_t f;
    char err[160];
    assert_int_equal(parse(q, &f, err), TR_E_INVAL);
    q[7 + DIR_SEARCH_MAX] = '\0';
    assert_int_equal(parse(q, &f, err), 0);
}

/* The caller's own parameters are left to it. */
static void test_extra(void **state)
{
    (void)state;
    static const char *const extra[] = {"view", NULL};
    dir_filter_t f;
    char err[160];
    assert_int_equal(dir_filter_parse("view=cards&need=legal", extra, &f, err, sizeof(err)), 0);
    assert_string_equal(f.need, "legal");
    assert_int_equal(dir_filter_parse("view=cards&sort=x", extra, &f, err, sizeof(err)),
                     TR_E_INVAL);
    assert_non_null(strstr(err, "sort"));
}

/* The builder: every value is a parameter, never in the SQL text. */
static void test_build(void **state)
{
    (void)state;
    dir_filter_t f;
    char err[160];
    const char *hostile = "x'); DROP TABLE directory_services; --";
    char q[400];
    snprintf(q, sizeof(q),
             "search=%s&need=refuge&minimum_age=16&day=MO&start_time=09:00&lat=53.8&lng=-1.5&"
             "proximity=2000&page=2&per_page=10",
             "x%27%29%3B+DROP+TABLE+directory_services%3B+--");
    assert_int_equal(parse(q, &f, err), 0);
    assert_string_equal(f.search, hostile);
    dir_view_t view = {.org = "northside-womens-aid", .public_view = true};
    for (int what = DIR_LIST_SERVICES; what <= DIR_LIST_SALS; what++) {
        dir_sql_t sql;
        assert_int_equal(dir_query_build(&f, (dir_list_t)what, &view, &sql), 0);
        assert_non_null(sql.sql);
        assert_null(strstr(sql.sql, "DROP"));
        assert_null(strstr(sql.sql, "northside"));
        assert_null(strstr(sql.sql, "refuge"));
        assert_non_null(strstr(sql.sql, "trellis_near_box"));
        assert_non_null(strstr(sql.sql, "directory_schedules"));
        bool found = false, offset = false;
        for (int i = 0; i < sql.nparams; i++) {
            found |= sql.params[i] && strcmp(sql.params[i], hostile) == 0;
            offset |= sql.params[i] && strcmp(sql.params[i], "10") == 0;
        }
        assert_true(found);
        assert_true(offset); /* page 2 of 10: offset 10 */
        char last[8];
        snprintf(last, sizeof(last), "$%d", sql.nparams);
        assert_non_null(strstr(sql.sql, last));
        dir_sql_free(&sql);
    }
    /* No filters: only visibility and paging. */
    assert_int_equal(parse("", &f, err), 0);
    dir_view_t all = {.org = NULL, .public_view = false};
    dir_sql_t sql;
    assert_int_equal(dir_query_build(&f, DIR_LIST_SERVICES, &all, &sql), 0);
    assert_int_equal(sql.nparams, 2);
    assert_null(strstr(sql.sql, "postcodes"));
    dir_sql_free(&sql);
    /* A postcode asks whether the lookup is loaded. */
    assert_int_equal(parse("postcode=LS6+1AA", &f, err), 0);
    assert_int_equal(dir_query_build(&f, DIR_LIST_SERVICES, &all, &sql), 0);
    assert_non_null(strstr(sql.sql, "not_loaded"));
    dir_sql_free(&sql);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_values),
        cmocka_unit_test(test_clamp),    cmocka_unit_test(test_repeated),
        cmocka_unit_test(test_bad),      cmocka_unit_test(test_extra),
        cmocka_unit_test(test_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
