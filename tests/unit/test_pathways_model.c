/* The pathways page's figures (server/view_pathways_model.c): tables that
 * share a figure publish it in the same state, worked out by hand on the
 * sums the page's query returns; busiest first, "Other" past the limit;
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
static const char doc[] = "pathways\n"
                          "o\talpha\tbeta\t45\t29\t9\t0\t7\n"
                          "o\tbeta\talpha\t10\t10\t0\t0\t0\n"
                          "p\talpha\tbeta\n"
                          "s\ta0\tb0\t30\n"
                          "s\ta1\tb1\t12\n"
                          "s\ta0\tb1\t3\n"
                          "r\tno_capacity\t6\n"
                          "r\tnot_eligible\t3\n"
                          "d\talpha\taccepted\t1\t10\n"
                          "d\tbeta\taccepted\t2\t10\n"
                          "d\tbeta\taccepted\t3\t9\n"
                          "d\tbeta\taccepted\t4\t10\n"
                          "d\tbeta\tcontact\t6\t12\n";
static const char names[] = "{\"alpha/a0\": \"Refuge\", \"alpha/a1\": \"Outreach\", "
                            "\"beta/b0\": \"Advocacy\", \"beta/b1\": \"Counselling\"}";

static void test_linked_tables(void **state)
{
    (void)state;
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, doc, names, &nhs), 0);
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
    static const char small[] = "pathways\n"
                                "o\talpha\tbeta\t5\t5\t0\t0\t0\n"
                                "o\talpha\tgamma\t40\t40\t0\t0\t0\n"
                                "p\talpha\tbeta\n"
                                "s\ta0\tb0\t5\n";
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, small, NULL, &nhs), 0);
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
    size_t used = (size_t)snprintf(text, 64 * 1024, "pathways\n");
    for (int i = 0; i < PW_AXIS_MAX + 5; i++)
        used += (size_t)snprintf(text + used, 64 * 1024 - used,
                                 "o\torg-%02d\thub\t%d\t%d\t0\t0\t0\n", i, 100 + i, 100 + i);
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, text, NULL, &nhs), 0);
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
    static const char *const bad[] = {
        "",                                         /* no header */
        "{\"orgs\": []}",                           /* JSON */
        "pathways",                                 /* a line without its newline */
        "pathways\nx\t1\n",                         /* an unknown kind */
        "pathways\no\ta\tb\t1\t1\t0\t0\n",          /* a field missing */
        "pathways\no\ta\tb\t1\t1\t0\t0\t0\t9\n",    /* one too many */
        "pathways\no\ta\tb\tten\t1\t0\t0\t0\n",     /* a count that is not a number */
        "pathways\nr\tno_capacity\t\n",             /* an empty count */
        "pathways\nd\ta\taccepted\t2x\t1\n",        /* days not a number */
        "pathways\nw\ta\ts\t2026-W01\t\n",          /* weeks missing */
        "pathways\no\ta\tb\t1\t1\t0\t0\t0\nbroken", /* a last line without its newline */
    };
    pw_model_t m;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pw_model_build(&m, bad[i], NULL, &nhs) != TR_E_INVAL)
            fail_msg("accepted: \"%s\"", bad[i]);
        pw_model_free(&m);
    }
    assert_int_equal(pw_model_build(&m, NULL, NULL, &nhs), TR_E_INVAL);
    pw_model_free(&m);
    assert_int_equal(pw_model_build(&m, "pathways\n", "not json", &nhs), TR_E_INVAL);
    pw_model_free(&m);
    assert_int_equal(pw_model_build(&m, "pathways\n", "[]", &nhs), TR_E_INVAL);
    pw_model_free(&m);
    /* No referral at all: no tables, no error. */
    assert_int_equal(pw_model_build(&m, "pathways\n", "{}", &nhs), 0);
    assert_null(m.flows);
    pw_model_free(&m);
    /* A negative sum counts as 0, a count past the rule's limit as the limit. */
    assert_int_equal(pw_model_build(&m, "pathways\no\ta\tb\t-3\t0\t0\t0\t0\n", NULL, &nhs), 0);
    assert_int_equal(m.orgs[0].n, 0);
    pw_model_free(&m);
}

/* Names from "origin/id": a service's own organisation's name only (the
 * same id under another origin is another service), its id when not held,
 * and looked up only for the services shown. */
static void test_names(void **state)
{
    (void)state;
    static const char sums[] = "pathways\n"
                               "o\ta\tb\t17\t17\t0\t0\t0\n"
                               "p\ta\tb\n"
                               "s\ts1\ts2\t9\n"
                               "s\ts3\ts1\t8\n"
                               "w\tb\ts2\t2026-W03\t40\n"
                               "w\tb\ts9\t2026-W04\t39\n";
    static const char names_ab[] = "{\"a/s1\": \"Refuge\", \"b/s2\": \"Advice\", "
                                   "\"b/s1\": \"Other\", \"a/s2\": \"Wrong\"}";
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, sums, names_ab, &nhs), 0);
    /* From a: s1 (9) then s3 (8, not held: its id). To b: s2 (9), s1 (8). */
    assert_string_equal(m.from_svcs.labels[0], "Refuge");
    assert_string_equal(m.from_svcs.labels[1], "s3");
    assert_string_equal(m.to_svcs.labels[0], "Advice");
    assert_string_equal(m.to_svcs.labels[1], "Other");
    assert_int_equal(m.n_waiting, 2);
    assert_string_equal(m.waiting[0].name, "Advice");
    assert_string_equal(m.waiting[0].week, "2026-W03");
    assert_int_equal(m.waiting[0].weeks, 40);
    assert_null(m.waiting[1].name);
    assert_string_equal(m.waiting[1].service, "s9");
    pw_model_free(&m);
}

/* The medians of the "d" rows: rows of an unknown measure or days past
 * the limit are left out, as are other organisations'. */
static void test_median_rows(void **state)
{
    (void)state;
    static const char text[] = "pathways\n"
                               "d\ta\taccepted\t1\t3\n"
                               "d\ta\taccepted\t5\t4\n"
                               "d\tb\taccepted\t0\t6\n"
                               "d\ta\tcontact\t7\t2\n"
                               "d\ta\tother\t2\t50\n"
                               "d\ta\taccepted\t99999\t50\n"
                               "d\ta\taccepted\t-1\t50\n";
    pw_model_t m;
    assert_int_equal(pw_model_build(&m, text, NULL, &nhs), 0);
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
        cmocka_unit_test(test_names),         cmocka_unit_test(test_median_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
