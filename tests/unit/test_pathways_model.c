/* The pathways page's figures (server/view_pathways_model.c): tables that
 * share a figure publish it in the same state, worked out by hand on the
 * document the page's query returns; busiest first, "Other" past the limit;
 * the lower median of a histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_error.h"
#include "view_pathways_model.h"

static const tr_smallnum_rule_t nhs = {8, 5};

#define SM (-1)
#define HD (-2)

static void expect(const tr_smallnum_table_t *t, size_t rows, size_t cols, const long long *want,
                   const char *what)
{
    for (size_t i = 0; i <= rows; i++)
        for (size_t j = 0; j <= cols; j++) {
            tr_sn_cell_t c = tr_smallnum_get(t, i, j);
            long long w = want[i * (cols + 1) + j];
            tr_sn_state_t ws = w == SM ? TR_SN_SMALL : w == HD ? TR_SN_HIDDEN : TR_SN_SHOWN;
            if (c.state != ws || (ws == TR_SN_SHOWN && c.shown != w))
                fail_msg("%s (%zu, %zu): state %d shown %lld, want %lld", what, i, j, c.state,
                         c.shown, w);
        }
}

/* A sends B 45 referrals (B accepts 29, declines 9: 6 no capacity and 3 not
 * eligible, 7 wait), B sends A 10 (all accepted). A's services to B's:
 * a0->b0 30, a0->b1 3, a1->b1 12.
 *
 * Outcomes (rows B, A; accepted, declined, withdrawn, waiting): B's 7
 * waiting and the waiting total (7) are small. Protecting (B, waiting): the
 * cheapest cycle without a total runs waiting -> A (0) -> accepted (A's 10)
 * -> B (29); then (total, waiting) needs one through a total: waiting -> B
 * -> declined (B's 9) -> total (declined total 9). So accepted and declined
 * of B, accepted and waiting of A, and the declined total are not shown.
 * The reasons' total is the declined total: hidden there too (both reasons
 * are small anyway). The services' total is A's flow to B (45), shown in
 * both; their 3 is protected by a0->b0, a1->b0 (a 0: the only way without a
 * total) and a1->b1. */
static const char doc[] =
    "{\"orgs\": [{\"from\": \"alpha\", \"to\": \"beta\", \"n\": 45, \"accepted\": 29, "
    "\"declined\": 9, \"withdrawn\": 0, \"waiting\": 7}, {\"from\": \"beta\", \"to\": "
    "\"alpha\", \"n\": 10, \"accepted\": 10, \"declined\": 0, \"withdrawn\": 0, \"waiting\": 0}],"
    "\"pair\": {\"from\": \"alpha\", \"to\": \"beta\"},"
    "\"services\": [{\"from\": \"a0\", \"from_name\": \"Refuge\", \"to\": \"b0\", \"to_name\": "
    "\"Advocacy\", \"n\": 30}, {\"from\": \"a1\", \"from_name\": \"Outreach\", \"to\": \"b1\", "
    "\"to_name\": \"Counselling\", \"n\": 12}, {\"from\": \"a0\", \"from_name\": \"Refuge\", "
    "\"to\": \"b1\", \"to_name\": \"Counselling\", \"n\": 3}],"
    "\"reasons\": [{\"reason\": \"no_capacity\", \"n\": 6}, {\"reason\": \"not_eligible\", "
    "\"n\": 3}],"
    "\"days\": [{\"org\": \"alpha\", \"measure\": \"accepted\", \"days\": 1, \"n\": 10},"
    "{\"org\": \"beta\", \"measure\": \"accepted\", \"days\": 2, \"n\": 10},"
    "{\"org\": \"beta\", \"measure\": \"accepted\", \"days\": 3, \"n\": 9},"
    "{\"org\": \"beta\", \"measure\": \"accepted\", \"days\": 4, \"n\": 10},"
    "{\"org\": \"beta\", \"measure\": \"contact\", \"days\": 6, \"n\": 12}],"
    "\"waiting\": []}";

static void test_linked_tables(void **state)
{
    (void)state;
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, doc, &nhs), 0);
    /* Busiest first: from alpha (45), beta (10); to beta (45), alpha (10). */
    assert_int_equal(m.from_orgs.n, 2);
    assert_string_equal(m.from_orgs.keys[0], "alpha");
    assert_string_equal(m.to_orgs.keys[0], "beta");
    static const long long flows[] = {45, 0, 45, /**/ 0, 10, 10, /**/ 45, 10, 55};
    expect(m.flows, 2, 2, flows, "flows");
    static const long long outcomes[] = {HD,      HD, 0, SM, 45, /**/ HD, 0, 0, HD, 10,
                                         /**/ 40, HD, 0, SM, 55};
    expect(m.outcomes, 2, PW_OUTCOMES, outcomes, "outcomes");
    static const long long reasons[] = {SM, SM, /**/ SM, SM, /**/ HD, HD};
    expect(m.reasons_t, 2, 1, reasons, "reasons");
    assert_false(m.pair_hidden);
    static const long long services[] = {HD, SM, 35, /**/ HD, HD, 10, /**/ 30, 15, 45};
    expect(m.services, 2, 2, services, "services");
    assert_string_equal(m.from_svcs.labels[0], "Refuge");
    assert_string_equal(m.to_svcs.labels[1], "Counselling");

    /* beta accepts 29: 10 on day 2, 9 on day 3, 10 on day 4; the 15th is on day 3. */
    long long n;
    assert_int_equal(pw_median_days(&m, "beta", "accepted", &n), 3);
    assert_int_equal(n, 29);
    /* Everyone: 39, the 20th is on day 2. */
    assert_int_equal(pw_median_days(&m, NULL, "accepted", &n), 2);
    assert_int_equal(n, 39);
    assert_int_equal(pw_median_days(&m, "alpha", "contact", &n), -1);
    assert_int_equal(n, 0);
    pw_model_free(&m);
}

/* A pair whose flow is hidden shows no services. */
static void test_hidden_pair(void **state)
{
    (void)state;
    static const char small[] =
        "{\"orgs\": [{\"from\": \"alpha\", \"to\": \"beta\", \"n\": 5, \"accepted\": 5, "
        "\"declined\": 0, \"withdrawn\": 0, \"waiting\": 0}, {\"from\": \"alpha\", \"to\": "
        "\"gamma\", \"n\": 40, \"accepted\": 40, \"declined\": 0, \"withdrawn\": 0, "
        "\"waiting\": 0}], \"pair\": {\"from\": \"alpha\", \"to\": \"beta\"},"
        "\"services\": [{\"from\": \"a0\", \"to\": \"b0\", \"n\": 5}], \"reasons\": [],"
        "\"days\": [], \"waiting\": []}";
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, small, &nhs), 0);
    assert_true(m.pair_hidden);
    assert_null(m.reasons_t);
    pw_model_free(&m);
}

/* More organisations than a matrix holds: the busiest PW_AXIS_MAX, then one
 * "Other organisations" that adds up the rest. */
static void test_other(void **state)
{
    (void)state;
    char *text = malloc(64 * 1024);
    assert_non_null(text);
    size_t used = (size_t)snprintf(text, 64 * 1024, "{\"orgs\": [");
    for (int i = 0; i < PW_AXIS_MAX + 5; i++)
        used += (size_t)snprintf(text + used, 64 * 1024 - used,
                                 "%s{\"from\": \"org-%02d\", \"to\": \"hub\", \"n\": %d, "
                                 "\"accepted\": %d, \"declined\": 0, \"withdrawn\": 0, "
                                 "\"waiting\": 0}",
                                 i ? "," : "", i, 100 + i, 100 + i);
    snprintf(text + used, 64 * 1024 - used, "], \"pair\": null}");
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, text, &nhs), 0);
    assert_int_equal(m.from_orgs.n, PW_AXIS_MAX + 1);
    assert_true(m.from_orgs.other);
    assert_string_equal(m.from_orgs.keys[0], "org-34"); /* the busiest: 134 */
    assert_string_equal(m.from_orgs.labels[PW_AXIS_MAX], "Other organisations");
    /* The five quietest: 100 + 101 + 102 + 103 + 104 = 510. */
    tr_sn_cell_t other = tr_smallnum_get(m.flows, PW_AXIS_MAX, 0);
    assert_int_equal(other.state, TR_SN_SHOWN);
    assert_int_equal(other.shown, 510);
    pw_model_free(&m);
    free(text);
}

static void test_bad_document(void **state)
{
    (void)state;
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, "[]", &nhs), TR_E_INVAL);
    pw_model_free(&m);
    assert_int_equal(pw_model_build(&m, "{\"orgs\": 3}", &nhs), TR_E_INVAL);
    pw_model_free(&m);
    assert_int_equal(pw_model_build(&m, "not json", &nhs), TR_E_INVAL);
    pw_model_free(&m);
    /* No referral at all: no tables, no error. */
    assert_int_equal(pw_model_build(&m, "{\"orgs\": []}", &nhs), 0);
    assert_null(m.flows);
    pw_model_free(&m);
}

/* Names put in from "origin/id": a service's own organisation's name only
 * (the same id under another origin is another service), none when not
 * held; texts that are not objects refused. */
static void test_doc_put_names(void **state)
{
    (void)state;
    const char *sums = "{\"orgs\": [], \"pair\": {\"from\": \"a\", \"to\": \"b\"}, "
                       "\"services\": [{\"from\": \"s1\", \"to\": \"s2\", \"n\": 9}, "
                       "{\"from\": \"s3\", \"to\": \"s1\", \"n\": 8}], "
                       "\"waiting\": [{\"org\": \"b\", \"service\": \"s2\"}]}";
    const char *names = "{\"a/s1\": \"Refuge\", \"b/s2\": \"Advice\", \"b/s1\": \"Other\"}";
    json_t *named = json_loads(sums, 0, NULL);
    assert_int_equal(pw_doc_put_names(named, names), 0);
    json_t *svcs = json_object_get(named, "services");
    assert_string_equal(json_string_value(json_object_get(json_array_get(svcs, 0), "from_name")),
                        "Refuge");
    assert_string_equal(json_string_value(json_object_get(json_array_get(svcs, 0), "to_name")),
                        "Advice");
    assert_null(json_object_get(json_array_get(svcs, 1), "from_name")); /* a/s3: not held */
    assert_string_equal(json_string_value(json_object_get(json_array_get(svcs, 1), "to_name")),
                        "Other");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(svcs, 1), "n")), 8);
    json_t *w = json_array_get(json_object_get(named, "waiting"), 0);
    assert_string_equal(json_string_value(json_object_get(w, "name")), "Advice");
    /* The model takes the named document: its labels are the names. */
    pw_model_t m;
    assert_int_equal(pw_model_build_doc(&m, named, &nhs), 0);
    assert_ptr_equal(m.doc, named);
    pw_model_free(&m);
    json_t *arr = json_loads("[]", 0, NULL);
    assert_int_equal(pw_doc_put_names(arr, names), TR_E_INVAL);
    json_decref(arr);
    named = json_loads(sums, 0, NULL);
    assert_int_equal(pw_doc_put_names(named, "not json"), TR_E_INVAL);
    assert_int_equal(pw_doc_put_names(NULL, names), TR_E_INVAL);
    json_decref(named);
}

/* The medians of the "days" rows: rows of an unknown measure or days past
 * the limit are left out, as are other organisations'. */
static void test_median_rows(void **state)
{
    (void)state;
    static const char text[] =
        "{\"orgs\": [], \"days\": ["
        "{\"org\": \"a\", \"measure\": \"accepted\", \"days\": 1, \"n\": 3},"
        "{\"org\": \"a\", \"measure\": \"accepted\", \"days\": 5, \"n\": 4},"
        "{\"org\": \"b\", \"measure\": \"accepted\", \"days\": 0, \"n\": 6},"
        "{\"org\": \"a\", \"measure\": \"contact\", \"days\": 7, \"n\": 2},"
        "{\"org\": \"a\", \"measure\": \"other\", \"days\": 2, \"n\": 50},"
        "{\"org\": \"a\", \"measure\": \"accepted\", \"days\": 99999, \"n\": 50}]}";
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, text, &nhs), 0);
    long long n;
    /* a: 3 on day 1, 4 on day 5: the 4th of 7 is on day 5. */
    assert_int_equal(pw_median_days(&m, "a", "accepted", &n), 5);
    assert_int_equal(n, 7);
    /* All: 6 on day 0, 3 on day 1, 4 on day 5: the 7th of 13 is on day 1. */
    assert_int_equal(pw_median_days(&m, NULL, "accepted", &n), 1);
    assert_int_equal(n, 13);
    assert_int_equal(pw_median_days(&m, "a", "contact", &n), 7);
    assert_int_equal(n, 2);
    assert_int_equal(pw_median_days(&m, "b", "contact", &n), -1);
    assert_int_equal(n, 0);
    assert_int_equal(pw_median_days(&m, "a", "other", &n), -1);
    assert_int_equal(n, 0);
    pw_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linked_tables), cmocka_unit_test(test_hidden_pair),
        cmocka_unit_test(test_other),         cmocka_unit_test(test_bad_document),
        cmocka_unit_test(test_doc_put_names), cmocka_unit_test(test_median_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
