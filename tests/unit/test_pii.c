/* Personal-data detectors (proto/tr_pii.c): hand-written sentences and generated cases per kind,
 * positive and negative, checked under the kind's own mask and under TR_PII_ALL (which must name
 * the right kind); plus the names, the whole-string postcode helpers, masks, threads and speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tr_pii.h"

typedef struct {
    const char *text;
    tr_pii_kind_t want; /* what TR_PII_ALL names: the row's kind, TR_PII_NONE or another */
} row_t;

#define N_ROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Case counts per detector (index = bit number) and failures of the running test. */
static unsigned counts[6], clean_count;
static unsigned failures;

static int kind_index(tr_pii_kind_t k)
{
    int i = 0;
    while ((1u << i) != (unsigned)k)
        i++;
    return i;
}

/* want is what TR_PII_ALL must name: the kind itself for a positive; for a negative TR_PII_NONE,
 * or the other kind the text is (a date among the phone negatives), which a row states. A positive
 * must also be found under the kind's own mask, a negative not. Failures are listed, then
 * asserted. */
static void check(tr_pii_kind_t kind, const char *text, tr_pii_kind_t want)
{
    counts[kind_index(kind)]++;
    tr_pii_kind_t own = tr_pii_scan(text, strlen(text), kind);
    tr_pii_kind_t all = tr_pii_scan(text, strlen(text), TR_PII_ALL);
    if (want == kind && (own != kind || all != kind)) {
        print_error("missed %s: \"%s\" (own mask: %s, all: %s)\n", tr_pii_code(kind), text,
                    tr_pii_code(own), tr_pii_code(all));
        failures++;
    } else if (want != kind && (own != TR_PII_NONE || all != want)) {
        print_error("false %s: \"%s\" (own mask: %s, all: %s, want %s)\n", tr_pii_code(kind), text,
                    tr_pii_code(own), tr_pii_code(all), tr_pii_code(want));
        failures++;
    }
}

static void check_rows(tr_pii_kind_t kind, const row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        check(kind, rows[i].text, rows[i].want);
}

static void checkf(tr_pii_kind_t kind, tr_pii_kind_t want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void checkf(tr_pii_kind_t kind, tr_pii_kind_t want, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    check(kind, buf, want);
}

/* A finding placed in a template at its "%s" (templates are data, not format strings). */
static void check_in(tr_pii_kind_t kind, tr_pii_kind_t want, const char *tmpl, const char *inner)
{
    char buf[256];
    const char *at = strstr(tmpl, "%s");
    assert_non_null(at);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - tmpl), tmpl, inner, at + 2);
    check(kind, buf, want);
}

/* Deterministic generator: the same cases every run. */
static unsigned long rng = 20240611;
static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ul + 1442695040888963407ul;
    return (unsigned)((rng >> 33) % n);
}

/* Dates are built from fixed years, never from the clock, so every run tests the same cases: a
 * date of birth falls in 1900-2019 (always past), a future date in 2150-2209. */
#define DOB_FIRST_YEAR 1900
#define DOB_YEARS 120
#define FUTURE_FIRST_YEAR 2150

/* Templates that put a finding inside ordinary text. */
static const char *const wraps[] = {
    "%s",
    "Contact: %s",
    "call her on %s please",
    "(%s)",
    "details: %s.",
    "%s, then the GP",
    "Her details are %s and she is happy for us to share them.",
    "ref %s",
};

/* ---- ordinary text: must pass every detector ---- */

static const char *const clean[] = {
    "week 12 of the course",
    "£45.50 per session",
    "open 9:30-17:00",
    "12,000 calls a year",
    "2026-W47",
    "call us on the helpline",
    "room 101",
    "16-17 year olds",
    "aged 25-34",
    "3 in 4 women",
    "Section 21 notice",
    "covid-19",
    "M1 district",
    "Referrals from LS6, LS7 and LS8 only",
    "We cover SW1A and the surrounding districts",
    "Service area: M1, M2, M3 and M4",
    "The group meets every Tuesday at 10:30 in the community centre.",
    "Sessions cost £12 each, or £100 for ten.",
    "Over 1 in 5 callers were referred on within 24 hours.",
    "We answered 4,512 calls in 2023 and 5,104 in 2024.",
    "Opening hours 09:00-17:30, Monday to Friday.",
    "Referral accepted in week 2026-W03; first contact in 2026-W05.",
    "Survivors asked for evening groups, so we added one on Thursdays 18:00-20:00.",
    "The waiting list fell from 14 weeks to 6 weeks.",
    "Ages 16+ only; 18-25 young women's group on Wednesdays.",
    "Funding runs until March 2027.",
    "In March 2024 we changed the intake form.",
    "We agreed to translate the leaflet into 12 languages.",
    "The IDVA service takes high-risk (MARAC) referrals only.",
    "Call 999 in an emergency.",
    "Text 88858 for the silent solution (55).",
    "Score of 3/4 on the wellbeing scale.",
    "v1.2.3 of the app fixed the exit button.",
    "See version 2.10.1 release notes.",
    "Half of respondents (50%) wanted more peer support.",
    "Price per unit: £1,234.56 excluding VAT.",
    "Visit www.womensaid.org.uk for more information.",
    "Website: https://www.refuge.org.uk/get-help-now/",
    "Find us at refuge.org.uk",
    "Find us at refuge dot org dot uk",
    "Follow us @womensaid on social media.",
    "Follow us @ womensaid.org",
    "meet at the centre dot com",
    "We meet at the hub, 2nd floor.",
    "Access via the W1 2nd floor lift",
    "Take the A1 1st exit",
    "Step-free access at entrance B2.",
    "The 0800 1111 line is for children.",
    "Reference: 2024/25 annual report.",
    "Q3 2025 figures",
    "Referral took 3-5 working days.",
    "Between 10 and 12 people attend each week.",
    "12 March, 25 people came to the launch.",
    "The session ran from 10:30 to 12:00 on 12 March.",
    "Room 3.14 on level 2.",
    "Chapter 1.2.30 of the handbook",
    "Section 10.12.14 covers safeguarding.",
    "Items 1-2-3 in order of priority",
    "We had 16-17-year-olds and 18-24s.",
    "Risk levels: standard, medium, high.",
    "Route: self-referral, police, GP, health visitor.",
    "Need codes DA01, DA02 and SV03.",
    "Batch 00123 processed.",
    "Invoice INV-2024-0042 paid.",
    "ISBN 978-0-12-345678-9",
    "Train at 17.45 from platform 4.",
    "Score 10-7 at half time.",
    "3 May 2030 is the next planning day.",
    "Conference on 12/03/2099.",
    "2099-01-01 is far off.",
    "Week 47, 2026",
    "Phase 1.5.2 of the project",
    "She attended 12 of 15 sessions.",
    "Temperature 21.5 degrees.",
    "Capacity: 0 to 12 beds.",
    "07:30 breakfast club",
    "£0.50 per page printed",
    "The refuge has 8 rooms and 2 flats.",
    "Caseworkers make about 300 referrals a month.",
    "Peer designers co-produced the new exit page.",
    "What changed: the helpline now opens at 8am.",
    "Why not: the building lease does not allow it.",
    "Easy read: you said, we did.",
    "Our postcode district is LS6 and we cover LS1 to LS29.",
    "EC1A and WC2 teams",
    "The M1 and M62 motorways",
    "Bus routes 1, 2 and 3",
    "Ratio 1:4 staff to clients",
    "1/3 of referrals came from the police.",
    "1 in 3 women",
    "40-50% of callers",
    "A score of 0.75",
    "Grade 7 and above",
    "Ofsted rating 2",
    "Level 3 safeguarding training",
    "In 2019 we opened; in 2020 we moved.",
    "Born in the 1980s.",
    "Years 1900-2000",
    "The 1920s house",
    "HM Courts & Tribunals",
    "Refer via the online form.",
    "the number is on our website",
    "Year 12 and Year 13 students",
    "Tier 2 service",
    "£1,000,000 grant over 3 years",
    "Up 12.5% on last year",
    "Queue time 00:04:30",
    "0-5 year olds",
    "Page 12 of 30",
    "Stage 3 of 5",
    "PO Box with no number",
    "Unit 4, Mill Lane",
    "Flat 2 and Flat 3",
    "An ordinary sentence with nothing in it at all.",
};

/* ---- EMAIL ---- */

static const row_t email_rows[] = {
    {"email jane.doe@example.com please", TR_PII_EMAIL},
    {"JANE.DOE+work@Example.CO.UK", TR_PII_EMAIL},
    {"first-last@sub.domain.org.uk", TR_PII_EMAIL},
    {"o'brien@example.ie", TR_PII_EMAIL},
    {"<jane@example.com>", TR_PII_EMAIL},
    {"mailto:jane@example.com", TR_PII_EMAIL},
    {"Her email: j_smith_85@hotmail.co.uk.", TR_PII_EMAIL},
    {"zoë@exämple.de", TR_PII_EMAIL},
    {"contact name (at) domain dot com", TR_PII_EMAIL},
    {"name[at]domain[dot]org", TR_PII_EMAIL},
    {"name (at) domain (dot) co (dot) uk", TR_PII_EMAIL},
    {"name{at}domain.com", TR_PII_EMAIL},
    {"jane at gmail dot com", TR_PII_EMAIL},
    {"jane dot smith at gmail dot com", TR_PII_EMAIL},
    {"jane.smith at gmail.com", TR_PII_EMAIL},
    {"jsmith85 at btinternet.com", TR_PII_EMAIL},
    {"jane at gmail.com", TR_PII_EMAIL},
    {"JANE AT HOTMAIL DOT CO DOT UK", TR_PII_EMAIL},
    {"jane @ example.com", TR_PII_EMAIL},
    {"jane@ example.com", TR_PII_EMAIL},
    {"jane@example dot com", TR_PII_EMAIL},
    {"write to jane.doe@nhs.net about it", TR_PII_EMAIL},
    {"a.b.c.d@e.f.g.com", TR_PII_EMAIL},
    {"x@y.io", TR_PII_EMAIL},
    {"ls61aa@gmail.com", TR_PII_EMAIL}, /* starts like a postcode: the longer email wins */
    {"07700900123@sms.example.com", TR_PII_EMAIL},
    {"meet at the centre dot com", TR_PII_NONE},
    {"find us at refuge.org.uk", TR_PII_NONE},
    {"Find us at refuge dot org dot uk", TR_PII_NONE},
    {"follow us @ womensaid.org", TR_PII_NONE},
    {"Jane at reception dot desk", TR_PII_NONE},
    {"Visit www.womensaid.org.uk", TR_PII_NONE},
    {"https://example.org/help", TR_PII_NONE},
    {"Follow @womensaid", TR_PII_NONE},
    {"user@localhost", TR_PII_NONE},
    {"jane@example", TR_PII_NONE},
    {"jane@example.c", TR_PII_NONE},
    {"@example.com", TR_PII_NONE},
    {"jane@", TR_PII_NONE},
    {"email us", TR_PII_NONE},
    {"meet at 10.30", TR_PII_NONE},
    {"Available at boots.com", TR_PII_NONE},
    {"look at the dot com boom", TR_PII_NONE},
    {"jane at home", TR_PII_NONE},
    {"a @ b", TR_PII_NONE},
    {"We are at St Mary's dot the map", TR_PII_NONE},
    {"Staff at ward 4.2", TR_PII_NONE},
    {"see us at work.", TR_PII_NONE},
    {"E-mail: see website", TR_PII_NONE},
    {"@@", TR_PII_NONE},
    {"jane@@example.com", TR_PII_NONE},
};

static void test_email(void **state)
{
    failures = 0;
    check_rows(TR_PII_EMAIL, email_rows, N_ROWS(email_rows));
    static const char *const locals[] = {"jane",          "j.smith",   "JSMITH", "jane.doe+refuge",
                                         "a_b",           "mary-jane", "k9",     "first.m.last",
                                         "Anna.Kowalska", "x"};
    static const char *const domains[] = {"example.com",  "example.org.uk",    "gmail.com",
                                          "nhs.net",      "sub.example.co.uk", "Example.ORG",
                                          "mail-host.io", "police.uk"};
    for (size_t l = 0; l < N_ROWS(locals); l++)
        for (size_t d = 0; d < N_ROWS(domains); d++) {
            char addr[96];
            snprintf(addr, sizeof(addr), "%s@%s", locals[l], domains[d]);
            checkf(TR_PII_EMAIL, TR_PII_EMAIL, "Email: %s, or phone the office.", addr);
            if ((l + d) % 2 == 0)
                checkf(TR_PII_EMAIL, TR_PII_EMAIL, "%s (at) %s", locals[l], domains[d]);
            else
                checkf(TR_PII_EMAIL, TR_PII_EMAIL, "%s[at]%s", locals[l], domains[d]);
        }
    /* Spelled-out forms from words ("jane at gmail dot com"). */
    static const char *const names[] = {"jane", "sam", "priya", "olu", "MARIA", "kate.b"};
    static const char *const hosts[] = {"gmail", "yahoo", "outlook", "btinternet", "example"};
    static const char *const tlds[] = {"com", "co dot uk", "org", "net"};
    for (size_t n = 0; n < N_ROWS(names); n++)
        for (size_t h = 0; h < N_ROWS(hosts); h++)
            checkf(TR_PII_EMAIL, TR_PII_EMAIL, "her email is %s at %s dot %s", names[n], hosts[h],
                   tlds[rnd(N_ROWS(tlds))]);
    /* Negatives: words before "at" that are English, websites, broken addresses. */
    static const char *const stop[] = {"us", "me", "them", "online", "here", "visit", "find"};
    for (size_t s = 0; s < N_ROWS(stop); s++) {
        checkf(TR_PII_EMAIL, TR_PII_NONE, "Find %s at womensaid dot org dot uk", stop[s]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "Reach %s at refuge.org.uk", stop[s]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "Talk to %s @ example.org", stop[s]);
    }
    for (size_t d = 0; d < N_ROWS(domains); d++) {
        checkf(TR_PII_EMAIL, TR_PII_NONE, "See www.%s for details", domains[d]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "https://%s/contact", domains[d]);
        if (strncmp(domains[d], "gmail", 5) != 0) /* "x at gmail.com" is an address */
            checkf(TR_PII_EMAIL, TR_PII_NONE, "Find the group at %s", domains[d]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "@%s", domains[d]);
    }
    for (size_t l = 0; l < N_ROWS(locals); l++) {
        checkf(TR_PII_EMAIL, TR_PII_NONE, "%s@", locals[l]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "%s@localhost", locals[l]);
        checkf(TR_PII_EMAIL, TR_PII_NONE, "%s at the hub", locals[l]);
    }
    assert_int_equal(failures, 0);
}

/* ---- PHONE ---- */

static const row_t phone_rows[] = {
    {"call 07700 900123 today", TR_PII_PHONE},
    {"(0113) 496 0000", TR_PII_PHONE},
    {"0113-496-0000", TR_PII_PHONE},
    {"01134960000", TR_PII_PHONE},
    {"+44 7700 900123", TR_PII_PHONE},
    {"+44 (0)7700 900123", TR_PII_PHONE},
    {"+44 (0) 20 7946 0000", TR_PII_PHONE},
    {"+447700900123", TR_PII_PHONE},
    {"0044 7700 900123", TR_PII_PHONE},
    {"00447700900123", TR_PII_PHONE},
    {"+44 07700 900123", TR_PII_PHONE},
    {"0800 123 4567", TR_PII_PHONE},
    {"0808 802 0300", TR_PII_PHONE},
    {"0845 123 4567", TR_PII_PHONE},
    {"0300 123 4567", TR_PII_PHONE},
    {"020 7946 0000", TR_PII_PHONE},
    {"(020) 7946 0000", TR_PII_PHONE},
    {"028 9649 6000", TR_PII_PHONE},
    {"01632 960123", TR_PII_PHONE},
    {"016977 4567", TR_PII_PHONE},
    {"07700-900-123", TR_PII_PHONE},
    {"0113.496.0000", TR_PII_PHONE},
    {"tel:07700900123", TR_PII_PHONE},
    {"mob 07700 900 123, home 0113 496 0000", TR_PII_PHONE},
    {"0113 496 0000 12 times", TR_PII_PHONE},
    {"ring 0 07700 900123", TR_PII_PHONE},
    {"£1,234.56", TR_PII_NONE},
    {"open 9:30-17:00", TR_PII_NONE},
    {"12,000 calls a year", TR_PII_NONE},
    {"2026-W47", TR_PII_NONE},
    {"01-02-2024 10", TR_PII_DOB}, /* dates, not phone numbers */
    {"01/02/2024", TR_PII_DOB},
    {"0800 1111", TR_PII_NONE},
    {"call 999", TR_PII_NONE},
    {"0113 496", TR_PII_NONE},
    {"07700 900", TR_PII_NONE},
    {"04123 456789", TR_PII_NONE},
    {"06123 456789", TR_PII_NONE},
    {"00000000000", TR_PII_NONE},
    {"011349600001", TR_PII_NONE},
    {"ISBN 978-0-12-345678-9", TR_PII_NONE},
    {"+33 1 23 45 67 89", TR_PII_NONE},
    {"+1 202 555 0100", TR_PII_NONE},
    {"1.07700900123", TR_PII_NONE},
    {"ref A07700900123", TR_PII_NONE},
    {"0.5 of a post", TR_PII_NONE},
    {"Batch 00123 processed", TR_PII_NONE},
};

static void format_phone(char *out, size_t cap, const char *area, const char *rest, int style)
{
    /* area like "0113" and rest like "496 0123" */
    char compact[32];
    snprintf(compact, sizeof(compact), "%s%s", area, rest);
    char *w = compact;
    for (char *r = compact; *r; r++)
        if (*r != ' ')
            *w++ = *r;
    *w = '\0';
    switch (style) {
    case 0:
        snprintf(out, cap, "%s %s", area, rest);
        break;
    case 1:
        snprintf(out, cap, "%s", compact);
        break;
    case 2:
        snprintf(out, cap, "%s-%s", area, rest);
        for (char *p = out; *p; p++)
            if (*p == ' ')
                *p = '-';
        break;
    case 3:
        snprintf(out, cap, "(%s) %s", area, rest);
        break;
    case 4:
        snprintf(out, cap, "+44 %s %s", area + 1, rest);
        break;
    case 5:
        snprintf(out, cap, "+44 (0)%s %s", area + 1, rest);
        break;
    default:
        snprintf(out, cap, "0044 %s", compact + 1);
        break;
    }
}

static void test_phone(void **state)
{
    failures = 0;
    check_rows(TR_PII_PHONE, phone_rows, N_ROWS(phone_rows));
    /* Ofcom's drama ranges and ordinary formats, each typed seven ways. */
    static const struct {
        const char *area, *before; /* rest = before + three random digits */
    } stems[] = {
        {"07700", "900"},  {"07700", "900 "}, {"0113", "496 0"}, {"0114", "496 0"},
        {"0115", "496 0"}, {"0116", "496 0"}, {"0117", "496 0"}, {"0118", "496 0"},
        {"0121", "496 0"}, {"0131", "496 0"}, {"0141", "496 0"}, {"0151", "496 0"},
        {"0161", "496 0"}, {"0191", "498 0"}, {"020", "7946 0"}, {"028", "9649 6"},
        {"029", "2018 0"}, {"01632", "960"},  {"0808", "157 0"}, {"0300", "999 0"},
        {"0800", "123 4"}, {"03069", "990"},  {"07911", "123"},  {"07", "700 900"},
    };
    for (size_t s = 0; s < N_ROWS(stems); s++)
        for (int style = 0; style < 7; style++) {
            char rest[32], num[48];
            snprintf(rest, sizeof(rest), "%s%03u", stems[s].before, rnd(1000));
            if (strlen(stems[s].area) < 3 && (style == 0 || style == 2 || style == 3))
                continue; /* "07 700..." is not how numbers are grouped nationally */
            format_phone(num, sizeof(num), stems[s].area, rest, style);
            check_in(TR_PII_PHONE, TR_PII_PHONE, wraps[rnd(N_ROWS(wraps))], num);
        }
    /* Negatives: the numbers of ordinary text. */
    for (int i = 0; i < 20; i++) {
        checkf(TR_PII_PHONE, TR_PII_NONE, "£%u,%03u.%02u", 1 + rnd(99), rnd(1000), rnd(100));
        checkf(TR_PII_PHONE, TR_PII_NONE, "open %u:%02u-%u:%02u", 7 + rnd(4), rnd(60), 15 + rnd(6),
               rnd(60));
        checkf(TR_PII_PHONE, TR_PII_NONE, "%u,%03u people", 1 + rnd(99), rnd(1000));
        checkf(TR_PII_PHONE, TR_PII_NONE, "in %u we opened", 1990 + rnd(40));
        checkf(TR_PII_PHONE, TR_PII_NONE, "%u-W%02u", 2020 + rnd(10), 1 + rnd(52));
        /* Dates are not phone numbers: past ones are dates of birth. */
        checkf(TR_PII_PHONE, TR_PII_DOB, "on %02u/%02u/%u", 1 + rnd(28), 1 + rnd(12),
               1990 + rnd(30));
        checkf(TR_PII_PHONE, TR_PII_DOB, "0%u-0%u-%u 1%u", 1 + rnd(9), 1 + rnd(9), 2000 + rnd(20),
               rnd(10));
        checkf(TR_PII_PHONE, TR_PII_NONE, "ref 0%u", 1000 + rnd(9000)); /* too short */
        checkf(TR_PII_PHONE, TR_PII_NONE, "0113 %03u", rnd(1000));
        checkf(TR_PII_PHONE, TR_PII_NONE, "04%03u %06u", rnd(1000),
               rnd(1000000)); /* unallocated 04 */
        checkf(TR_PII_PHONE, TR_PII_NONE, "01%09u%u", rnd(1000000000), rnd(10)); /* 12 digits */
    }
    assert_int_equal(failures, 0);
}

/* ---- POSTCODE ---- */

static const char *const areas1 = "BEGLMNSW";
static const char *const areas2[] = {
    "AB", "AL", "BA", "BB", "BD", "BH", "BL", "BN", "BR", "BS", "BT", "CA", "CB", "CF", "CH",
    "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT", "DY",
    "EC", "EH", "EN", "EX", "FK", "FY", "GL", "GU", "HA", "HD", "HG", "HP", "HR", "HS", "HU",
    "HX", "IG", "IP", "IV", "KA", "KT", "KW", "KY", "LA", "LD", "LE", "LL", "LN", "LS", "LU",
    "ME", "MK", "ML", "NE", "NG", "NN", "NP", "NR", "NW", "OL", "OX", "PA", "PE", "PH", "PL",
    "PO", "PR", "RG", "RH", "RM", "SA", "SE", "SG", "SK", "SL", "SM", "SN", "SO", "SP", "SR",
    "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR", "TS", "TW", "UB", "WA", "WC",
    "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE"};
static const char inward_letters[] = "ABDEFGHJLNPQRSTUWXYZ";

static void random_inward(char *out)
{
    out[0] = (char)('0' + rnd(10));
    out[1] = inward_letters[rnd(sizeof(inward_letters) - 1)];
    out[2] = inward_letters[rnd(sizeof(inward_letters) - 1)];
    out[3] = '\0';
}

static void lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s += 32;
}

/* One postcode per format and area: outward, then full typed as "OUT IN", "OUTIN", lowercase. */
static void postcode_case(const char *outward)
{
    char in[4], full[16], text[16];
    random_inward(in);
    snprintf(full, sizeof(full), "%s %s", outward, in);
    checkf(TR_PII_POSTCODE, TR_PII_POSTCODE, "Lives at %s, near the park", full);
    assert_true(tr_pii_is_full_postcode(full));
    assert_false(tr_pii_is_postcode_district(full));
    assert_true(tr_pii_is_postcode_district(outward));
    assert_false(tr_pii_is_full_postcode(outward));
    snprintf(text, sizeof(text), "%s%s", outward, in);
    /* Lowercase, unless the inward reads as an ordinal ("ka15th"), the documented miss. */
    static const char *const ord[10] = {"TH", "ST", "ND", "RD", "TH", "TH", "TH", "TH", "TH", "TH"};
    if (strcmp(in + 1, ord[in[0] - '0']) != 0)
        lower(text);
    checkf(TR_PII_POSTCODE, TR_PII_POSTCODE, "pc %s", text);
    assert_true(tr_pii_is_full_postcode(text));
    checkf(TR_PII_POSTCODE, TR_PII_NONE, "Our district is %s.", outward);
}

static const row_t postcode_rows[] = {
    {"LS6 1AA", TR_PII_POSTCODE},
    {"ls61aa", TR_PII_POSTCODE},
    {"SW1A 1AA", TR_PII_POSTCODE},
    {"sw1a1aa", TR_PII_POSTCODE},
    {"GIR 0AA", TR_PII_POSTCODE},
    {"gir0aa", TR_PII_POSTCODE},
    {"EC1A 1BB", TR_PII_POSTCODE},
    {"W1A 0AX", TR_PII_POSTCODE},
    {"M1 1AE", TR_PII_POSTCODE},
    {"B33 8TH", TR_PII_POSTCODE},
    {"CR2 6XH", TR_PII_POSTCODE},
    {"DN55 1PT", TR_PII_POSTCODE},
    {"She moved to BS1  4DJ last year", TR_PII_POSTCODE},
    {"Address: 1 High St, Leeds LS6 2ND", TR_PII_POSTCODE},
    {"(LS6 1AA)", TR_PII_POSTCODE},
    {"postcode:ls6 1aa.", TR_PII_POSTCODE},
    {"BT7 1NN Belfast", TR_PII_POSTCODE},
    {"ZE1 0AA", TR_PII_POSTCODE},
    {"M1 district", TR_PII_NONE},
    {"LS6", TR_PII_NONE},
    {"SW1A", TR_PII_NONE},
    {"W1 2nd floor", TR_PII_NONE},
    {"B2 3rd door", TR_PII_NONE},
    {"Take the A1 1ST exit", TR_PII_NONE},
    {"XY1 2AB", TR_PII_NONE},
    {"QA1 1AA", TR_PII_NONE},
    {"LS6 1CA", TR_PII_NONE}, /* C is never an inward letter */
    {"LS6 1AI", TR_PII_NONE},
    {"LS6 1KO", TR_PII_NONE},
    {"LS6 1MV", TR_PII_NONE},
    {"LS6 AAA", TR_PII_NONE},
    {"LS6 11A", TR_PII_NONE},
    {"LS61AAB", TR_PII_NONE},
    {"XLS6 1AA", TR_PII_NONE},
    {"LS6 1AA9", TR_PII_NONE},
    {"LS666 1AA", TR_PII_NONE},
    {"Section 21 notice", TR_PII_NONE},
    {"covid-19", TR_PII_NONE},
    {"Need codes DA01 and SV03", TR_PII_NONE},
    {"E1 and E2", TR_PII_NONE},
    {"SW1X", TR_PII_NONE},
};

static void test_postcode(void **state)
{
    failures = 0;
    check_rows(TR_PII_POSTCODE, postcode_rows, N_ROWS(postcode_rows));
    char out[8];
    /* A9, A99, A9A for each one-letter area; AA9, AA99, AA9A for each two-letter one. */
    for (const char *a = areas1; *a; a++) {
        snprintf(out, sizeof(out), "%c%u", *a, 1 + rnd(9));
        postcode_case(out);
        snprintf(out, sizeof(out), "%c%u", *a, 10 + rnd(90));
        postcode_case(out);
        snprintf(out, sizeof(out), "%c%u%c", *a, 1 + rnd(9), "ABCDEFGHJKPSTUW"[rnd(15)]);
        postcode_case(out);
    }
    for (size_t i = 0; i < N_ROWS(areas2); i++) {
        snprintf(out, sizeof(out), "%s%u", areas2[i], 1 + rnd(9));
        postcode_case(out);
        if (i % 2 == 0) {
            snprintf(out, sizeof(out), "%s%u", areas2[i], 10 + rnd(90));
            postcode_case(out);
        } else {
            snprintf(out, sizeof(out), "%s%u%c", areas2[i], 1 + rnd(9), "ABEHMNPRVWXY"[rnd(12)]);
            postcode_case(out);
        }
    }
    /* Inward codes with a letter Royal Mail never uses there. */
    for (const char *bad = "CIKMOV"; *bad; bad++) {
        checkf(TR_PII_POSTCODE, TR_PII_NONE, "LS6 1%cA", *bad);
        checkf(TR_PII_POSTCODE, TR_PII_NONE, "SW1A 2A%c", *bad);
    }
    assert_int_equal(failures, 0);
}

static void test_postcode_helpers(void **state)
{
    assert_true(tr_pii_is_full_postcode("SW1A 1AA"));
    assert_true(tr_pii_is_full_postcode("sw1a1aa"));
    assert_true(tr_pii_is_full_postcode("  LS6 1AA \n"));
    assert_true(tr_pii_is_full_postcode("GIR 0AA"));
    assert_true(tr_pii_is_full_postcode("m1 2nd")); /* a field holding only this is a postcode */
    assert_false(tr_pii_is_full_postcode("SW1A"));
    assert_false(tr_pii_is_full_postcode("LS6 1AA Leeds"));
    assert_false(tr_pii_is_full_postcode("at LS6 1AA"));
    assert_false(tr_pii_is_full_postcode(""));
    assert_false(tr_pii_is_full_postcode(NULL));
    assert_true(tr_pii_is_postcode_district("SW1A"));
    assert_true(tr_pii_is_postcode_district("M1"));
    assert_true(tr_pii_is_postcode_district("LS6"));
    assert_true(tr_pii_is_postcode_district("ls6"));
    assert_true(tr_pii_is_postcode_district(" EC1A "));
    assert_false(tr_pii_is_postcode_district("SW1A 1AA"));
    assert_false(tr_pii_is_postcode_district("LS"));
    assert_false(tr_pii_is_postcode_district("Leeds"));
    assert_false(tr_pii_is_postcode_district("LS6 and LS7"));
    assert_false(tr_pii_is_postcode_district("QQ1"));
    assert_false(tr_pii_is_postcode_district(""));
    assert_false(tr_pii_is_postcode_district(NULL));

    /* The lookup's key: the loader and the directory's filter share it. */
    char key[16] = "x";
    assert_true(tr_pii_postcode_key("sw1a 1aa", key, sizeof(key)));
    assert_string_equal(key, "SW1A1AA");
    assert_true(tr_pii_postcode_key("B1  1BB", key, sizeof(key))); /* Code-Point Open's padding */
    assert_string_equal(key, "B11BB");
    assert_false(tr_pii_postcode_key("LS6-1AA", key, sizeof(key)));
    assert_string_equal(key, "");
    assert_false(tr_pii_postcode_key("LS6", key, sizeof(key)));
    assert_string_equal(key, "");
    char small[6];
    assert_false(tr_pii_postcode_key("SW1A 1AA", small, sizeof(small))); /* no room: refused */
    assert_string_equal(small, "");
}

/* ---- NHS ---- */

static int nhs_check_digit(const int *d)
{
    int sum = 0;
    for (int i = 0; i < 9; i++)
        sum += d[i] * (10 - i);
    int c = 11 - sum % 11;
    return c == 11 ? 0 : c; /* 10 means the stem has no valid number */
}

static const row_t nhs_rows[] = {
    {"943 476 5919", TR_PII_NHS},
    {"943-476-5919", TR_PII_NHS},
    {"9434765919", TR_PII_NHS},
    {"NHS no. 943 476 5919.", TR_PII_NHS},
    {"NHS:9434765919", TR_PII_NHS},
    {"(943 476 5919)", TR_PII_NHS},
    {"401 023 2137", TR_PII_NHS},
    {"943 476-5919", TR_PII_NHS},
    {"943 476 5918", TR_PII_NONE},
    {"943 476 5910", TR_PII_NONE},
    {"123 456 7890", TR_PII_NONE},
    {"000 000 0000", TR_PII_NONE}, /* passes mod 11, but a placeholder */
    {"1111111111", TR_PII_NONE},
    {"94347659191", TR_PII_NONE},
    {"19434765919", TR_PII_NONE},
    {"943 476 591", TR_PII_NONE},
    {"9434 765 919", TR_PII_NONE},
    {"12,000 calls", TR_PII_NONE},
    {"2026-W47", TR_PII_NONE},
    {"1.943 476 5919", TR_PII_NONE},
};

static void test_nhs(void **state)
{
    failures = 0;
    check_rows(TR_PII_NHS, nhs_rows, N_ROWS(nhs_rows));
    int valid = 0, made_up = 0;
    while (valid < 80 || made_up < 40) {
        int d[10];
        for (int i = 0; i < 9; i++)
            d[i] = (int)rnd(10);
        int c = nhs_check_digit(d);
        if (c == 10) { /* no valid number: every final digit must fail */
            d[9] = (int)rnd(10);
            checkf(TR_PII_NHS, TR_PII_NONE, "NHS %d%d%d %d%d%d %d%d%d%d", d[0], d[1], d[2], d[3],
                   d[4], d[5], d[6], d[7], d[8], d[9]);
            made_up++;
            continue;
        }
        d[9] = c;
        int same = 1;
        for (int i = 0; i < 9; i++)
            same = same && d[i] == d[9];
        if (same)
            continue;
        checkf(TR_PII_NHS, TR_PII_NHS, "NHS number %d%d%d %d%d%d %d%d%d%d on file", d[0], d[1],
               d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]);
        checkf(TR_PII_NHS, TR_PII_NHS, "%d%d%d-%d%d%d-%d%d%d%d", d[0], d[1], d[2], d[3], d[4], d[5],
               d[6], d[7], d[8], d[9]);
        checkf(TR_PII_NHS, TR_PII_NHS, "nhs=%d%d%d%d%d%d%d%d%d%d", d[0], d[1], d[2], d[3], d[4],
               d[5], d[6], d[7], d[8], d[9]);
        /* The same stem with a wrong check digit: a made-up NHS-like number (with a leading 0 it
         * has a phone number's shape, which the phone detector's own cases cover). */
        d[9] = (c + 1 + (int)rnd(9)) % 10;
        if (d[0] != 0)
            checkf(TR_PII_NHS, TR_PII_NONE, "number %d%d%d %d%d%d %d%d%d%d", d[0], d[1], d[2], d[3],
                   d[4], d[5], d[6], d[7], d[8], d[9]);
        valid++;
    }
    assert_int_equal(failures, 0);
}

/* ---- NINO ---- */

static const row_t nino_rows[] = {
    {"AB123456C", TR_PII_NINO},
    {"AB 12 34 56 C", TR_PII_NINO},
    {"ab 12 34 56 c", TR_PII_NINO},
    {"NI: JG103759A.", TR_PII_NINO},
    {"her NI number is ce 12 34 56 d", TR_PII_NINO},
    {"OA123456B", TR_PII_NINO},
    {"ZY 123456 A", TR_PII_NINO},
    {"(PR123456D)", TR_PII_NINO},
    {"QQ 12 34 56 C", TR_PII_NONE}, /* HMRC's specimen: Q is never allocated */
    {"QQ123456C", TR_PII_NONE},
    {"BG123456A", TR_PII_NONE},
    {"GB123456A", TR_PII_NONE},
    {"KN123456A", TR_PII_NONE},
    {"NK123456A", TR_PII_NONE},
    {"NT123456A", TR_PII_NONE},
    {"TN123456A", TR_PII_NONE},
    {"ZZ123456A", TR_PII_NONE},
    {"AO123456A", TR_PII_NONE},
    {"AB123456E", TR_PII_NONE},
    {"AB 12 34 56", TR_PII_NONE},
    {"AB12345C", TR_PII_NONE},
    {"AB1234567C", TR_PII_NONE},
    {"XAB123456C", TR_PII_NONE},
    {"AB123456CD", TR_PII_NONE},
    {"Section 21 notice", TR_PII_NONE},
    {"Invoice INV-2024-0042", TR_PII_NONE},
};

static void test_nino(void **state)
{
    failures = 0;
    check_rows(TR_PII_NINO, nino_rows, N_ROWS(nino_rows));
    static const char first[] = "ABCEGHJKLMNOPRSTWXYZ", second[] = "ABCEGHJKLMNPRSTWXYZ";
    static const char *const unallocated[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    int made = 0;
    while (made < 150) {
        char a = first[rnd(sizeof(first) - 1)], b = second[rnd(sizeof(second) - 1)];
        char pre[3] = {a, b, 0};
        int bad = 0;
        for (size_t i = 0; i < N_ROWS(unallocated); i++)
            bad |= strcmp(pre, unallocated[i]) == 0;
        if (bad)
            continue;
        char nino[24];
        unsigned p1 = rnd(100), p2 = rnd(100), p3 = rnd(100);
        char suffix = "ABCD"[rnd(4)];
        switch (made % 4) { /* the spacings people use */
        case 0:
            snprintf(nino, sizeof(nino), "%c%c%02u%02u%02u%c", a, b, p1, p2, p3, suffix);
            break;
        case 1:
            snprintf(nino, sizeof(nino), "%c%c %02u %02u %02u %c", a, b, p1, p2, p3, suffix);
            break;
        case 2:
            snprintf(nino, sizeof(nino), "%c%c %02u%02u%02u %c", a, b, p1, p2, p3, suffix);
            break;
        default:
            snprintf(nino, sizeof(nino), "%c%c%02u %02u %02u%c", a, b, p1, p2, p3, suffix);
            break;
        }
        if (made % 3 == 0)
            lower(nino);
        check_in(TR_PII_NINO, TR_PII_NINO, wraps[rnd(N_ROWS(wraps))], nino);
        made++;
    }
    /* Every forbidden letter in each position, O second, the unallocated pairs, bad suffixes. */
    for (const char *f = "DFIQUV"; *f; f++) {
        checkf(TR_PII_NINO, TR_PII_NONE, "%cA123456A", *f);
        checkf(TR_PII_NINO, TR_PII_NONE, "A%c 12 34 56 B", *f);
        checkf(TR_PII_NINO, TR_PII_NONE, "%c%c123456C", *f, *f);
    }
    for (const char *f = "ABCEGHJKLMNPRSTWXYZ"; *f; f++)
        checkf(TR_PII_NINO, TR_PII_NONE, "%cO123456A", *f);
    for (size_t i = 0; i < N_ROWS(unallocated); i++)
        for (const char *s = "ABCD"; *s; s++)
            checkf(TR_PII_NINO, TR_PII_NONE, "%s 12 34 56 %c", unallocated[i], *s);
    for (const char *s = "EFGHJKMNPRSTWXYZ"; *s; s++)
        checkf(TR_PII_NINO, TR_PII_NONE, "JG103759%c", *s);
    assert_int_equal(failures, 0);
}

/* ---- DOB ---- */

static const row_t dob_rows[] = {
    {"12/03/1985", TR_PII_DOB},
    {"12-03-85", TR_PII_DOB},
    {"12.3.1985", TR_PII_DOB},
    {"1985-03-12", TR_PII_DOB},
    {"12 March 1985", TR_PII_DOB},
    {"12th March 1985", TR_PII_DOB},
    {"March 12, 1985", TR_PII_DOB},
    {"12 Mar 85", TR_PII_DOB},
    {"12th of March 1985", TR_PII_DOB},
    {"born 3/4/90", TR_PII_DOB},
    {"DOB: 1/1/2000", TR_PII_DOB},
    {"d.o.b. 29/02/2000", TR_PII_DOB},
    {"29/02/00", TR_PII_DOB},
    {"12-Mar-1985", TR_PII_DOB},
    {"12 Sept 1985", TR_PII_DOB},
    {"Mar. 12th, 1985", TR_PII_DOB},
    {"March 12 '85", TR_PII_DOB},
    {"12 March '85", TR_PII_DOB},
    {"Tuesday 12 March 1985", TR_PII_DOB},
    {"03/25/1985", TR_PII_DOB}, /* only a US-order date: still a date */
    {"1985/03/12", TR_PII_DOB},
    {"1985-03-12T10:00:00Z", TR_PII_DOB},
    {"born on 1st January 1901", TR_PII_DOB},
    {"31 december 1999", TR_PII_DOB},
    {"12 MARCH 1985", TR_PII_DOB},
    {"3 May 25 people", TR_PII_DOB}, /* decided: a two-digit year counts, this reads as a date */
    {"31/02/1985", TR_PII_NONE},
    {"30/02/1985", TR_PII_NONE},
    {"29/02/1985", TR_PII_NONE},
    {"29/02/01", TR_PII_NONE},
    {"31/04/1985", TR_PII_NONE},
    {"32/01/1985", TR_PII_NONE},
    {"00/01/1985", TR_PII_NONE},
    {"12/13/85", TR_PII_NONE},
    {"12/03/1850", TR_PII_NONE},
    {"12/03/2099", TR_PII_NONE},
    {"2099-01-01", TR_PII_NONE},
    {"12 March 2099", TR_PII_NONE},
    {"March 2024", TR_PII_NONE},
    {"2026-W47", TR_PII_NONE},
    {"week 12", TR_PII_NONE},
    {"open 9:30-17:00", TR_PII_NONE},
    {"£45.50 per session", TR_PII_NONE},
    {"3/4 people", TR_PII_NONE},
    {"v1.2.3", TR_PII_NONE},
    {"v1.2.30", TR_PII_NONE},
    {"version 1.2.30", TR_PII_NONE},
    {"1/2", TR_PII_NONE},
    {"1.2.3.4", TR_PII_NONE},
    {"192.168.10.12", TR_PII_NONE},
    {"10.12.14.5", TR_PII_NONE},
    {"12 March 10:30", TR_PII_NONE},
    {"12 March, 25 people", TR_PII_NONE},
    {"May 5, 10 people", TR_PII_NONE},
    {"16-17 year olds", TR_PII_NONE},
    {"aged 25-34", TR_PII_NONE},
    {"2024/25", TR_PII_NONE},
    {"2019-2024", TR_PII_NONE},
    {"12 Marchington 1985", TR_PII_NONE},
    {"12 03 1985", TR_PII_NONE},
    {"12/03-1985", TR_PII_NONE},
    {"1985-13-01", TR_PII_NONE},
    {"1985-02-30", TR_PII_NONE},
    {"0113-496-0000", TR_PII_PHONE},
};

static const char *const month_names[12][3] = {
    {"January", "Jan", "jan"}, {"February", "Feb", "FEB"},  {"March", "Mar", "mar."},
    {"April", "Apr", "APRIL"}, {"May", "May", "may"},       {"June", "Jun", "june"},
    {"July", "Jul", "JUL"},    {"August", "Aug", "aug"},    {"September", "Sept", "Sep"},
    {"October", "Oct", "oct"}, {"November", "Nov", "NOV."}, {"December", "Dec", "dec"},
};

static int days_in(int m, int y)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

static const char *ordinal(int d)
{
    if (d >= 11 && d <= 13)
        return "th";
    return d % 10 == 1 ? "st" : d % 10 == 2 ? "nd" : d % 10 == 3 ? "rd" : "th";
}

/* One date typed one of thirteen ways. */
static void format_date(char *out, size_t cap, int style, int d, int m, int y)
{
    const char *full = month_names[m - 1][0], *other = month_names[m - 1][1 + rnd(2)];
    switch (style) {
    case 0:
        snprintf(out, cap, "%02d/%02d/%04d", d, m, y);
        break;
    case 1:
        snprintf(out, cap, "%d/%d/%02d", d, m, y % 100);
        break;
    case 2:
        snprintf(out, cap, "%02d-%02d-%04d", d, m, y);
        break;
    case 3:
        snprintf(out, cap, "%d.%d.%04d", d, m, y);
        break;
    case 4:
        snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
        break;
    case 5:
        snprintf(out, cap, "%d %s %d", d, full, y);
        break;
    case 6:
        snprintf(out, cap, "%d%s %s %d", d, ordinal(d), full, y);
        break;
    case 7:
        snprintf(out, cap, "%d%s of %s %d", d, ordinal(d), full, y);
        break;
    case 8:
        snprintf(out, cap, "%s %d, %d", full, d, y);
        break;
    case 9:
        snprintf(out, cap, "%s %d%s %d", other, d, ordinal(d), y);
        break;
    case 10:
        snprintf(out, cap, "%d-%s-%d", d, other, y);
        break;
    case 11:
        snprintf(out, cap, "%d %s %02d", d, other, y % 100);
        break;
    default:
        snprintf(out, cap, "%02d.%02d.%02d", d, m, y % 100);
        break;
    }
}

static void test_dob(void **state)
{
    failures = 0;
    check_rows(TR_PII_DOB, dob_rows, N_ROWS(dob_rows));
    static const char *const dob_wraps[] = {
        "%s", "DOB: %s", "born %s in Leeds", "She was born on %s.", "(d.o.b. %s)", "%s, aged 38"};
    char date[64];
    for (int i = 0; i < 180; i++) {
        int y = DOB_FIRST_YEAR + (int)rnd(DOB_YEARS), m = 1 + (int)rnd(12);
        int d = 1 + (int)rnd((unsigned)days_in(m, y));
        format_date(date, sizeof(date), i % 13, d, m, y);
        check_in(TR_PII_DOB, TR_PII_DOB, dob_wraps[rnd(N_ROWS(dob_wraps))], date);
    }
    /* Impossible days (beyond the month's end, so no US reading saves them), four-digit years. */
    for (int i = 0; i < 40; i++) {
        int y = DOB_FIRST_YEAR + (int)rnd(DOB_YEARS), m = 1 + (int)rnd(12);
        int d = days_in(m, y) + 1 + (int)rnd((unsigned)(32 - days_in(m, y)));
        format_date(date, sizeof(date), (int[]){0, 2, 3, 4, 5, 6, 8, 10}[i % 8], d, m, y);
        checkf(TR_PII_DOB, TR_PII_NONE, "on %s", date);
    }
    /* Future dates and years before 1900 (four-digit years: two digits always fit a century). */
    for (int i = 0; i < 40; i++) {
        int y = i % 2 ? FUTURE_FIRST_YEAR + (int)rnd(60) : 1700 + (int)rnd(199);
        int m = 1 + (int)rnd(12);
        int d = 1 + (int)rnd((unsigned)days_in(m, y));
        format_date(date, sizeof(date), (int[]){0, 2, 4, 5, 6, 7, 8, 9}[i % 8], d, m, y);
        checkf(TR_PII_DOB, TR_PII_NONE, "planned for %s", date);
    }
    /* Month and year alone, ISO weeks, times, fractions, versions. */
    for (int i = 0; i < 12; i++) {
        checkf(TR_PII_DOB, TR_PII_NONE, "since %s %d", month_names[i][rnd(3)], 1950 + (int)rnd(70));
        checkf(TR_PII_DOB, TR_PII_NONE, "%d-W%02d", 2000 + (int)rnd(40), 1 + (int)rnd(52));
        checkf(TR_PII_DOB, TR_PII_NONE, "%d:%02d-%d:%02d", (int)rnd(12), (int)rnd(60),
               12 + (int)rnd(12), (int)rnd(60));
        checkf(TR_PII_DOB, TR_PII_NONE, "%d/%d of them", 1 + (int)rnd(9), 2 + (int)rnd(9));
        checkf(TR_PII_DOB, TR_PII_NONE, "version %d.%d.%d", (int)rnd(12), 1 + (int)rnd(12),
               10 + (int)rnd(90));
        checkf(TR_PII_DOB, TR_PII_NONE, "%d %s at %d:%02d", 1 + (int)rnd(28), month_names[i][0],
               10 + (int)rnd(10), (int)rnd(60));
    }
    assert_int_equal(failures, 0);
}

/* ---- everything together ---- */

static void test_clean_text(void **state)
{
    failures = 0;
    for (size_t i = 0; i < N_ROWS(clean); i++) {
        clean_count++;
        tr_pii_kind_t k = tr_pii_scan(clean[i], strlen(clean[i]), TR_PII_ALL);
        if (k != TR_PII_NONE) {
            print_error("ordinary text flagged as %s: \"%s\"\n", tr_pii_code(k), clean[i]);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_mask(void **state)
{
    const char *t = "Email jane@example.com, ring 07700 900123, LS6 1AA, NHS 943 476 5919, "
                    "NI AB123456C, born 12/03/1985.";
    size_t n = strlen(t);
    assert_int_equal(tr_pii_scan(t, n, TR_PII_ALL), TR_PII_EMAIL); /* the first in the text */
    const tr_pii_kind_t kinds[] = {TR_PII_EMAIL, TR_PII_PHONE, TR_PII_POSTCODE,
                                   TR_PII_NHS,   TR_PII_NINO,  TR_PII_DOB};
    for (size_t i = 0; i < N_ROWS(kinds); i++) {
        assert_int_equal(tr_pii_scan(t, n, kinds[i]), kinds[i]);
        /* Everything but this kind finds the earliest other one: the e-mail address, or without
         * it the phone number that follows it. */
        tr_pii_kind_t next = kinds[i] == TR_PII_EMAIL ? TR_PII_PHONE : TR_PII_EMAIL;
        assert_int_equal(tr_pii_scan(t, n, TR_PII_ALL & ~kinds[i]), next);
    }
    assert_int_equal(tr_pii_scan(t, n, TR_PII_NONE), TR_PII_NONE);
    assert_int_equal(tr_pii_scan(t, n, TR_PII_PHONE | TR_PII_DOB), TR_PII_PHONE);
    assert_int_equal(tr_pii_scan(t, n, TR_PII_DOB | TR_PII_NINO), TR_PII_NINO);
    const char *only_email = "jane@example.com";
    assert_int_equal(tr_pii_scan(only_email, strlen(only_email), TR_PII_ALL & ~TR_PII_EMAIL),
                     TR_PII_NONE);
    /* len bounds the scan: the text need not be NUL-terminated. */
    assert_int_equal(tr_pii_scan(only_email, 4, TR_PII_ALL), TR_PII_NONE);
    assert_int_equal(tr_pii_scan(NULL, 0, TR_PII_ALL), TR_PII_NONE);
    assert_int_equal(tr_pii_scan("", 0, TR_PII_ALL), TR_PII_NONE);
    /* Invalid UTF-8 around and inside a finding: no crash, the finding still seen. */
    const char bad[] = "\xff\xfe\xc3 jane@example.com \xe2\x82 LS6 1AA \xc0\xaf";
    assert_int_equal(tr_pii_scan(bad, sizeof(bad) - 1, TR_PII_EMAIL), TR_PII_EMAIL);
    assert_int_equal(tr_pii_scan(bad, sizeof(bad) - 1, TR_PII_POSTCODE), TR_PII_POSTCODE);
    const char nul[] = "a\0b 07700 900123";
    assert_int_equal(tr_pii_scan(nul, sizeof(nul) - 1, TR_PII_ALL), TR_PII_PHONE);
}

/* Findings at the edges of what the scanner's windows reach (see find_one in tr_pii.c): the
 * widest date, the longest local part, and findings after hundreds of digit clusters. */
static void test_long_texts(void **state)
{
    const char *sp = "\u3000\u3000\u3000"; /* three 3-byte spaces */
    char buf[4096];
    snprintf(buf, sizeof(buf), "born 12th%sof%sSeptember.%sof%s'85 in Leeds", sp, sp, sp, sp);
    assert_int_equal(tr_pii_scan(buf, strlen(buf), TR_PII_ALL), TR_PII_DOB);
    /* Nine words of 64 four-byte letters joined by spaced "( dot )": about 2600 bytes. */
    size_t n = 0;
    for (int w = 0; w < 9; w++) {
        for (int i = 0; i < 64; i++)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\U0001D4B6");
        if (w < 8)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s(  dot  )%s", sp, sp);
    }
    snprintf(buf + n, sizeof(buf) - n, "%s(at)%sgmail.com", sp, sp);
    assert_true(strlen(buf) > 2500);
    assert_int_equal(tr_pii_scan(buf, strlen(buf), TR_PII_ALL), TR_PII_EMAIL);

    static const char *const tails[] = {"born 12/03/1985",  "LS6 1AA",      "AB123456C",
                                        "jane@example.com", "07700 900123", "943 476 5919"};
    static const tr_pii_kind_t kinds[] = {TR_PII_DOB,   TR_PII_POSTCODE, TR_PII_NINO,
                                          TR_PII_EMAIL, TR_PII_PHONE,    TR_PII_NHS};
    size_t cap = 200000;
    char *big = malloc(cap);
    assert_non_null(big);
    for (size_t t = 0; t < N_ROWS(tails); t++) {
        size_t len = 0;
        while (len + 400 < cap) /* a digit cluster every ~180 bytes: hundreds of windows */
            len += (size_t)snprintf(big + len, cap - len,
                                    "Group %zu met in week 12 and we looked at the leaflet "
                                    "together, then agreed what to change before the next "
                                    "meeting of the peer designers at the centre. ",
                                    len % 97);
        assert_int_equal(tr_pii_scan(big, len, TR_PII_ALL), TR_PII_NONE);
        len += (size_t)snprintf(big + len, cap - len, "%s", tails[t]);
        assert_int_equal(tr_pii_scan(big, len, TR_PII_ALL), kinds[t]);
    }
    free(big);
}

static void test_names(void **state)
{
    static const struct {
        tr_pii_kind_t kind;
        const char *name, *code;
    } rows[] = {
        {TR_PII_NONE, "no personal data", "none"},
        {TR_PII_EMAIL, "email address", "email"},
        {TR_PII_PHONE, "UK phone number", "phone"},
        {TR_PII_POSTCODE, "full UK postcode", "postcode"},
        {TR_PII_NHS, "NHS number", "nhs_number"},
        {TR_PII_NINO, "National Insurance number", "ni_number"},
        {TR_PII_DOB, "date of birth", "date_of_birth"},
        {(tr_pii_kind_t)(TR_PII_EMAIL | TR_PII_NHS), "personal data", "personal_data"},
    };
    for (size_t i = 0; i < N_ROWS(rows); i++) {
        assert_string_equal(tr_pii_name(rows[i].kind), rows[i].name);
        assert_string_equal(tr_pii_code(rows[i].kind), rows[i].code);
    }
}

/* Runs before anything calls tr_pii_init: the scan, and the whole-string
 * checks, initialise themselves (the first check in a process once said no
 * to every postcode). */
static void test_lazy_init(void **state)
{
    assert_true(tr_pii_is_full_postcode("LS6 1AA"));
    assert_true(tr_pii_is_postcode_district("LS6"));
    const char *t = "943 476 5919";
    assert_int_equal(tr_pii_scan(t, strlen(t), TR_PII_ALL), TR_PII_NHS);
    assert_int_equal(tr_pii_init(), 0);
    assert_int_equal(tr_pii_init(), 0); /* idempotent */
}

/* Shut down, the scanner compiles its patterns again on next use (a process may run two nodes). */
static void test_shutdown_reinit(void **state)
{
    const char *t = "LS6 1AA";
    tr_pii_shutdown();
    tr_pii_shutdown(); /* twice is harmless */
    assert_int_equal(tr_pii_scan(t, strlen(t), TR_PII_ALL), TR_PII_POSTCODE);
    tr_pii_shutdown();
    assert_int_equal(tr_pii_init(), 0);
    assert_true(tr_pii_is_full_postcode(t));
}

static void *scan_thread(void *arg)
{
    long bad = 0;
    for (int round = 0; round < 200; round++)
        for (size_t i = 0; i < N_ROWS(email_rows); i++) {
            const row_t *r = &email_rows[i];
            if (tr_pii_scan(r->text, strlen(r->text), TR_PII_EMAIL) != r->want)
                bad++;
        }
    return (void *)bad;
}

static void test_threads(void **state)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, scan_thread, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_int_equal((long)bad, 0);
    }
}

/* Ordinary English of the kind records carry: a directory entry and feedback answers. */
static const char prose[] =
    "We offer confidential support to women and non-binary people aged 16 and over who have "
    "experienced domestic abuse, including emotional, financial and physical abuse and coercive "
    "control. Our caseworkers help with safety planning, housing options, benefits and going to "
    "court, and we run a peer support group every Tuesday evening from 6pm to 8pm. You can refer "
    "yourself, or a professional can refer you with your consent. We aim to make first contact "
    "within two working days, and sooner when the risk is high. The building has step-free "
    "access, a hearing loop and a quiet room; interpreters are available on request in more than "
    "40 languages. You said the waiting list was too long and that evening sessions would help "
    "people in work, so we agreed to recruit two more volunteers and opened a second group on "
    "Thursdays. We could not change the location, because the lease runs until 2027, but we now "
    "pay travel costs for anyone who needs them. Peer designers rewrote the easy-read leaflet, "
    "and staff training on trauma-informed practice is now part of every induction. ";

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Throughput on ordinary English text, as one large text and as field-sized scans, best of three
 * (CPU time, so a busy machine matters less). Only printed: sanitizer builds are several times
 * slower than release ones. */
static void test_speed(void **state)
{
    size_t n = sizeof(prose) - 1, reps = (4u << 20) / n, len = reps * n;
    char *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < reps; i++)
        memcpy(buf + i * n, prose, n);
    double best_whole = 0, best_fields = 0;
    size_t flagged = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = cpu_seconds();
        flagged += tr_pii_scan(buf, len, TR_PII_ALL) != TR_PII_NONE;
        double t1 = cpu_seconds();
        for (size_t i = 0; i < reps; i++)
            flagged += tr_pii_scan(buf + i * n, n, TR_PII_ALL) != TR_PII_NONE;
        double t2 = cpu_seconds();
        if ((double)len / 1e6 / (t1 - t0) > best_whole)
            best_whole = (double)len / 1e6 / (t1 - t0);
        if ((double)len / 1e6 / (t2 - t1) > best_fields)
            best_fields = (double)len / 1e6 / (t2 - t1);
    }
    free(buf);
    assert_int_equal(flagged, 0);
    printf("tr_pii_scan(ALL), %.1f MB of ordinary text: %.0f MB/s as one text, %.0f MB/s as "
           "%zu-byte fields\n",
           (double)len / 1e6, best_whole, best_fields, n);
}

static void test_case_counts(void **state)
{
    static const char *const names[6] = {"email", "phone", "postcode", "nhs", "nino", "dob"};
    for (int i = 0; i < 6; i++) {
        printf("%-8s %u cases\n", names[i], counts[i]);
        assert_true(counts[i] >= 200);
    }
    printf("ordinary text: %u sentences\n", clean_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_init),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_postcode),
        cmocka_unit_test(test_postcode_helpers),
        cmocka_unit_test(test_nhs),
        cmocka_unit_test(test_nino),
        cmocka_unit_test(test_dob),
        cmocka_unit_test(test_clean_text),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_long_texts),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_speed),
        cmocka_unit_test(test_shutdown_reinit),
        cmocka_unit_test(test_case_counts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tr_pii_shutdown();
    return rc;
}
