/* The agent's anonymisation rules (proto/tr_anon.c): dates in the formats
 * exports use, ISO weeks and ages checked against Python's datetime,
 * districts, keyed ids checked against Python's hmac, and the free-text
 * scan over planted identifiers and clean notes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "tr_anon.h"
#include "tr_error.h"
#include "tr_pii.h"

static void test_dates(void **state)
{
    static const struct {
        const char *in;
        tr_date_order_t order;
        int y, m, d; /* y == 0: refused */
    } cases[] = {
        {"03/11/2026", TR_DATE_DMY, 2026, 11, 3},
        {"3/11/2026", TR_DATE_DMY, 2026, 11, 3},
        {"03-11-2026", TR_DATE_DMY, 2026, 11, 3},
        {"03.11.2026", TR_DATE_DMY, 2026, 11, 3},
        {"03/11/2026 14:22", TR_DATE_DMY, 2026, 11, 3},
        {"03/11/2026 14:22:05", TR_DATE_DMY, 2026, 11, 3},
        {"11/03/2026", TR_DATE_MDY, 2026, 11, 3},
        {"2026-11-03", TR_DATE_DMY, 2026, 11, 3}, /* ISO whatever the order */
        {"2026-11-03T09:00:00Z", TR_DATE_YMD, 2026, 11, 3},
        {"29/02/2024", TR_DATE_DMY, 2024, 2, 29},
        {" 01/01/1950 ", TR_DATE_DMY, 1950, 1, 1},
        {"29/02/2026", TR_DATE_DMY, 0, 0, 0},
        {"31/04/2026", TR_DATE_DMY, 0, 0, 0},
        {"13/13/2026", TR_DATE_DMY, 0, 0, 0},
        {"03/11/26", TR_DATE_DMY, 0, 0, 0}, /* two-digit year */
        {"03/11-2026", TR_DATE_DMY, 0, 0, 0},
        {"03/11/2026x", TR_DATE_DMY, 0, 0, 0},
        {"03/11/1850", TR_DATE_DMY, 0, 0, 0},
        {"yesterday", TR_DATE_DMY, 0, 0, 0},
        {"", TR_DATE_DMY, 0, 0, 0},
        {"2026-11-03", TR_DATE_YMD, 2026, 11, 3},
        {"03/11/2026", TR_DATE_YMD, 0, 0, 0},
        {"123/11/2026", TR_DATE_DMY, 0, 0, 0},
        {"03/11/20266", TR_DATE_DMY, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_date_t d = {0};
        int rc = tr_date_parse(cases[i].in, cases[i].order, &d);
        if (cases[i].y == 0) {
            if (rc != TR_E_INVAL)
                fail_msg("accepted '%s'", cases[i].in);
        } else {
            if (rc != 0)
                fail_msg("refused '%s'", cases[i].in);
            assert_int_equal(d.y, cases[i].y);
            assert_int_equal(d.m, cases[i].m);
            assert_int_equal(d.d, cases[i].d);
        }
    }
    tr_date_order_t o;
    assert_int_equal(tr_date_order_parse("dd/mm/yyyy", &o), 0);
    assert_int_equal(o, TR_DATE_DMY);
    assert_int_equal(tr_date_order_parse("MM-DD-YYYY", &o), 0);
    assert_int_equal(o, TR_DATE_MDY);
    assert_int_equal(tr_date_order_parse("yyyy-mm-dd", &o), 0);
    assert_int_equal(o, TR_DATE_YMD);
    assert_int_equal(tr_date_order_parse("d/m/y", &o), TR_E_INVAL);
}

static void test_weeks_days_ages(void **state)
{
    /* Expected weeks from Python's date.isocalendar(). */
    static const struct {
        tr_date_t d;
        const char *week;
    } weeks[] = {
        {{2026, 1, 1}, "2026-W01"},   {{2027, 1, 1}, "2026-W53"},   {{2020, 12, 31}, "2020-W53"},
        {{2021, 1, 3}, "2020-W53"},   {{2026, 12, 28}, "2026-W53"}, {{2015, 12, 31}, "2015-W53"},
        {{2024, 12, 30}, "2025-W01"}, {{2026, 11, 19}, "2026-W47"},
    };
    for (size_t i = 0; i < sizeof(weeks) / sizeof(weeks[0]); i++) {
        char w[9];
        tr_date_iso_week(weeks[i].d, w);
        assert_string_equal(w, weeks[i].week);
    }
    assert_int_equal(tr_date_days((tr_date_t){1970, 1, 1}), 0);
    assert_int_equal(tr_date_days((tr_date_t){2026, 11, 19}), 20776);
    assert_int_equal(tr_date_days((tr_date_t){1969, 12, 31}), -1);

    assert_int_equal(tr_age_at((tr_date_t){1990, 6, 15}, (tr_date_t){2026, 6, 14}), 35);
    assert_int_equal(tr_age_at((tr_date_t){1990, 6, 15}, (tr_date_t){2026, 6, 15}), 36);
    assert_int_equal(tr_age_at((tr_date_t){2026, 6, 15}, (tr_date_t){2026, 6, 14}), -1);
    assert_int_equal(tr_age_at((tr_date_t){2008, 2, 29}, (tr_date_t){2026, 2, 28}), 17);

    assert_string_equal(tr_age_band(0), "under_16");
    assert_string_equal(tr_age_band(15), "under_16");
    assert_string_equal(tr_age_band(16), "16_17");
    assert_string_equal(tr_age_band(17), "16_17");
    assert_string_equal(tr_age_band(18), "18_24");
    assert_string_equal(tr_age_band(34), "25_34");
    assert_string_equal(tr_age_band(64), "55_64");
    assert_string_equal(tr_age_band(65), "65_plus");
    assert_null(tr_age_band(-1));
    assert_null(tr_age_band(131));
}

static void test_districts(void **state)
{
    static const struct {
        const char *in, *out; /* out NULL: refused */
    } cases[] = {
        {"LS6 1AA", "LS6"},
        {"ls61aa", "LS6"},
        {" sw1a 1aa ", "SW1A"},
        {"M1 1AE", "M1"},
        {"LS6", "LS6"},
        {"ls6", "LS6"},
        {"E08000035", "E08000035"},
        {"e08000035", "E08000035"},
        {"E01000001", NULL},
        {"LS6 1", NULL},
        {"Leeds", NULL},
        {"", NULL},
        {"LS6-1AA", NULL},
        {"BD7 1DP", "BD7"},
        {"EC1A 1BB", "EC1A"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16];
        int rc = tr_anon_district(cases[i].in, out, sizeof(out));
        if (!cases[i].out) {
            if (rc == 0)
                fail_msg("accepted '%s' as '%s'", cases[i].in, out);
        } else {
            if (rc != 0)
                fail_msg("refused '%s'", cases[i].in);
            assert_string_equal(out, cases[i].out);
        }
    }
}

static void test_hmac_uuid(void **state)
{
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    char a[37], b[37], c[37];
    /* Python: hmac.new(bytes(range(32)), b"pathway.referral\0CASE-0001", sha256), first 16
     * bytes with the version and variant bits set. */
    assert_int_equal(tr_anon_hmac_uuid(key, 32, "pathway.referral", "CASE-0001", a), 0);
    assert_string_equal(a, "1c59ac4f-f968-822a-ad3f-1d9150c15dda");
    assert_int_equal(tr_anon_hmac_uuid(key, 32, "pathway.referral", "CASE-0001", b), 0);
    assert_string_equal(a, b);
    assert_int_equal(tr_anon_hmac_uuid(key, 32, "pathway.event/accepted", "CASE-0001", c), 0);
    assert_string_not_equal(a, c);
    key[0] ^= 1;
    assert_int_equal(tr_anon_hmac_uuid(key, 32, "pathway.referral", "CASE-0001", c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(tr_anon_hmac_uuid(key, 8, "x", "y", c), TR_E_INVAL);
}

/* A key set once gives the one-shot's ids, call after call, whatever came
 * before (each id starts from the key again, not from the last message). */
static void test_hmac_key_reused(void **state)
{
    unsigned char key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (unsigned char)i;
    tr_anon_key_t *k = tr_anon_key_new(key, sizeof(key));
    assert_non_null(k);
    char a[37], want[37];
    assert_int_equal(tr_anon_key_uuid(k, "pathway.referral", "CASE-0001", a), 0);
    assert_string_equal(a, "1c59ac4f-f968-822a-ad3f-1d9150c15dda");
    static const char *const values[] = {"", "CASE-0001", "x", "NWA-2026-0013",
                                         "\xc3\xa9t\xc3\xa9"};
    static const char *const domains[] = {"pathway.referral", "pathway.event/accepted", ""};
    for (int round = 0; round < 2; round++)
        for (size_t d = 0; d < sizeof(domains) / sizeof(domains[0]); d++)
            for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                assert_int_equal(tr_anon_key_uuid(k, domains[d], values[v], a), 0);
                assert_int_equal(tr_anon_hmac_uuid(key, 32, domains[d], values[v], want), 0);
                assert_string_equal(a, want);
            }
    /* A long value, past the one-shot's old stack buffer. */
    char big[2000];
    memset(big, 'r', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(tr_anon_key_uuid(k, "pathway.referral", big, a), 0);
    assert_int_equal(tr_anon_hmac_uuid(key, 32, "pathway.referral", big, want), 0);
    assert_string_equal(a, want);
    assert_int_equal(tr_anon_key_uuid(k, "pathway.referral", NULL, a), TR_E_INVAL);
    tr_anon_key_free(k);
    assert_null(tr_anon_key_new(key, 8));
    tr_anon_key_free(NULL);
}

/* Planted identifiers: each must be found. */
static void test_scan_finds(void **state)
{
    const char *row[] = {"Jane Okafor", "CMS-48213", "14/03/1988", NULL};
    static const struct {
        const char *text;
        tr_anon_finding_t want;
    } cases[] = {
        {"Jane said the wait was too long", TR_ANON_ROW_VALUE},
        {"spoke to OKAFOR about the refuge", TR_ANON_ROW_VALUE},
        {"see case CMS-48213 for details", TR_ANON_ROW_VALUE},
        {"email jane.o@example.org if needed", TR_ANON_PII},
        {"call her on 07700 900123 after 5", TR_ANON_PII},
        {"call her on +44 7700 900123", TR_ANON_PII},
        {"lives at LS6 1AA now", TR_ANON_PII},
        {"NHS number 943 476 5919", TR_ANON_PII},
        {"NI number AB 12 34 56 C", TR_ANON_PII},
        {"born 14/03/1988 in Leeds", TR_ANON_PII},
        {"born 14th March 1988", TR_ANON_PII},
        {"Mrs Adeyemi was very kind", TR_ANON_TITLE_NAME},
        {"spoke with Dr. Shah today", TR_ANON_TITLE_NAME},
        {"she moved to 14 Acacia Avenue last week", TR_ANON_ADDRESS},
        {"Flat 2, 7 Hyde Park Road", TR_ANON_ADDRESS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tr_anon_finding_t f =
            tr_anon_scan_text(cases[i].text, strlen(cases[i].text), row, 3, NULL, NULL);
        if (f != cases[i].want)
            fail_msg("case %zu: found %d, want %d", i, f, cases[i].want);
    }
    size_t which = 99;
    assert_int_equal(tr_anon_scan_text("ask Okafor", 10, row, 3, NULL, &which), TR_ANON_ROW_VALUE);
    assert_int_equal(which, 0);
}

static void test_reference_shapes(void **state)
{
    const char *t1 = "see also NWA-2026-0777 from last year";
    assert_true(tr_anon_has_shape(t1, strlen(t1), "NWA-2026-0013"));
    assert_true(tr_anon_has_shape(t1, strlen(t1), "abc-1234-5678"));
    const char *t2 = "case 00481234 reopened";
    assert_true(tr_anon_has_shape(t2, strlen(t2), "00512399"));
    /* Ordinary numbers never look like a reference of digits alone under six. */
    const char *t3 = "after 100 days, 3 of 8 sessions, call 12345";
    assert_false(tr_anon_has_shape(t3, strlen(t3), "12345"));
    assert_false(tr_anon_has_shape(t3, strlen(t3), "123"));
    const char *t4 = "The group on Wednesdays helped a lot.";
    assert_false(tr_anon_has_shape(t4, strlen(t4), "NWA-2026-0013"));
    assert_false(tr_anon_has_shape(t1, strlen(t1), "CMS48213")); /* another shape */
}

/* Ordinary feedback: none of it may be quarantined. */
static void test_scan_passes_clean_text(void **state)
{
    const char *row[] = {"Jane Okafor", "CMS-48213", "Al", NULL};
    static const char *const clean[] = {
        "People said they waited too long to hear back after first contacting us.",
        "The drop-in on Tuesdays from 10:00 to 12:30 helped a lot.",
        "Week 12 of the course was the hardest; 3 of 8 sessions were cancelled.",
        "Staff were kind and explained everything in plain words.",
        "It would help to have the leaflets in Polish and Urdu.",
        "The waiting room on Market Street is too small for buggies.",
        "We need more evening sessions, after 6pm.",
        "The refuge in LS6 felt safe and the key worker called every day.",
        "Dr appointments clash with group times.",
        "Mrs and Mr are not the only titles: please ask people which they use.",
        "Costs £12.50 for the bus; 2 buses each way.",
        "I did not feel listened to at first, but it got better.",
        "Alternatively, text the helpline.",
        "She always felt believed.",
    };
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        unsigned pii = 0;
        tr_anon_finding_t f = tr_anon_scan_text(clean[i], strlen(clean[i]), row, 3, &pii, NULL);
        if (f != TR_ANON_CLEAN)
            fail_msg("quarantined clean text %zu: finding %d (pii %u)", i, f, pii);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_weeks_days_ages),
        cmocka_unit_test(test_districts),
        cmocka_unit_test(test_hmac_uuid),
        cmocka_unit_test(test_hmac_key_reused),
        cmocka_unit_test(test_scan_finds),
        cmocka_unit_test(test_scan_passes_clean_text),
        cmocka_unit_test(test_reference_shapes),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tr_anon_shutdown();
    tr_pii_shutdown();
    return rc;
}
