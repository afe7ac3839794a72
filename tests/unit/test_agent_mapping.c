/* Mapping files and anonymisation at source: the example mappings load,
 * every kind of mistake in a mapping is named, rows become the expected
 * records (ids by HMAC, weeks, bands, districts, codes, derived events),
 * nothing identifying survives into a record, planted identifiers in free
 * text quarantine the row and clean text does not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anonymise.h"
#include "csv_reader.h"
#include "mapping.h"
#include "tr_anon.h"
#include "tr_org.h"
#include "tr_pii.h"

#ifndef SOURCE_DIR
#define SOURCE_DIR "."
#endif
#define EXAMPLES SOURCE_DIR "/deploy/examples/"

static const uint8_t secret[AGENT_SECRET_LEN] = {1,  2,  3,  4,  5,  6,  7,  8, 9,
                                                 10, 11, 12, 13, 14, 15, 16, 17};
static const char *ORIGIN = "northside-womens-aid";

static char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/test_agent_mapping.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_examples_load(void **state)
{
    char err[512] = "";
    mapping_t *m = mapping_load(EXAMPLES "referrals.map", err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    assert_int_equal(m->kind, TR_KIND_PATHWAY_REFERRAL);
    assert_int_equal(m->n_fields, 9);
    assert_int_equal(m->n_events, 4);
    assert_int_equal(m->n_identifiers, 3);
    mapping_free(m);
    m = mapping_load(EXAMPLES "feedback.map", err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    assert_int_equal(m->kind, TR_KIND_FEEDBACK_ENTRY);
    mapping_free(m);
    m = mapping_load(EXAMPLES "directory.map", err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    assert_int_equal(m->kind, TR_KIND_DIRECTORY_SERVICE);
    mapping_free(m);
}

#define REF_HEAD                                                                                   \
    "[mapping]\nkind = pathway.referral\ncase_reference = Ref\ndate = Date\n"                      \
    "[field from_service]\nrule = const\nvalue = 31aa1dea-fc94-4452-baab-29197d7b0bb1\n"           \
    "[field to_service]\nrule = const\nvalue = 2c162da6-e3f2-4bf5-a465-63dd9e0667a9\n"             \
    "[field to_org]\nrule = const\nvalue = riverside-sv-centre\n"                                  \
    "[field week]\ncolumn = Date\nrule = week\n"                                                   \
    "[field risk]\nrule = const\nvalue = high\n"                                                   \
    "[field age_band]\ncolumn = Age\nrule = age\n"                                                 \
    "[field district]\ncolumn = Postcode\nrule = district\n"                                       \
    "[field route]\nrule = const\nvalue = self\n"

static void test_mapping_errors(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[field week]\ncolumn = D\n", "kind must come before"},
        {"[mapping]\nkind = pathway.event\n",
         "kind must be pathway.referral, feedback.entry or directory.service"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n[field name]\ncolumn = N\n"
         "rule = copy\n[field organization.id]\nrule = const\nvalue = x\n",
         "a directory.service has no member of that name"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n[field name]\ncolumn = N\n"
         "rule = copy\n",
         "[field status] is missing"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n"
         "[field trellis.location_confidential]\ncolumn = C\nrule = yesno\ndefault = maybe\n",
         "'maybe' is not yes or no"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n"
         "[field minimum_age]\nrule = const\nvalue = sixteen\n",
         "'sixteen' is not a whole number"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n"
         "[field trellis.needs]\ncolumn = N\nrule = copy\n",
         "rule 'copy' does not fit"},
        {"[mapping]\nkind = directory.service\ncase_reference = R\n"
         "[field languages.code]\ncolumn = L\nrule = codes\ncodes = l\n[codes l]\nEnglish = en\n",
         "'English' is not an ISO 639 language code"},
        {"[mapping]\nkind = pathway.referral\n", "case_reference is missing"},
        {REF_HEAD, "[field needs] is missing"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\n", "[field needs]: codes is missing"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = nope\n",
         "no section [codes nope]"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = n\n[codes n]\nrefug = Refuge\n",
         "'refug' is not one of the member's codes"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = week\n", "rule 'week' does not fit"},
        {REF_HEAD "[field colour]\ncolumn = C\n", "a pathway.referral has no member"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = n\n[codes n]\nrefuge = R\n"
                  "[event lost]\ncolumn = L\n",
         "[event lost]: not a referral status"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = n\n[codes n]\nrefuge = R\n"
                  "[event declined]\ncolumn = L\n",
         "needs reason and reason_codes, or reason_default"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = n\n[codes n]\nrefuge = R\n"
                  "[event accepted]\ncolumn = L\nreason_default = other\n",
         "this status takes no reason"},
        {REF_HEAD "[field needs]\ncolumn = N\nrule = codes\ncodes = n\n[codes n]\nrefuge = R\n"
                  "[colours]\nx = y\n",
         "unknown section [colours]"},
        {"[mapping]\nkind = pathway.referral\ndate_format = yy/mm/dd\n", "date_format must be"},
        {"[mapping]\nkind = feedback.entry\ncase_reference = R\n"
         "[field source_role]\nrule = const\nvalue = visitor\n",
         "'visitor' is not one of the member's codes"},
        {"[mapping]\nkind = pathway.referral\ncase_reference = R\n[field from_service]\n"
         "rule = const\nvalue = Refuge Team\n",
         "not a lower-case service UUID"},
        {"[mapping\n", "line 1 is not an INI line"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_tmp(cases[i].text);
        char err[512] = "";
        mapping_t *m = mapping_load(path, err, sizeof(err));
        unlink(path);
        if (m || !strstr(err, cases[i].want))
            fail_msg("case %zu: got '%s'", i, m ? "(loaded)" : err);
    }
    char err[512];
    assert_null(mapping_load("/nonexistent.map", err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read the mapping"));
}

typedef struct {
    anon_t *a;
    json_t *all; /* every record of ANON_OK rows */
    int ok, quarantined, errors;
    char last_why[400];
    long quarantine_lines[16];
    char bind_err[400];
} run_t;

static int on_header(void *ctx, const char *const *names, size_t n, long line)
{
    run_t *r = ctx;
    return anon_bind_header(r->a, names, n, line, r->bind_err, sizeof(r->bind_err)) ? 9 : 0;
}

static int on_row(void *ctx, const src_row_t *row)
{
    run_t *r = ctx;
    anon_out_t out;
    anon_result_t res = anon_row(r->a, row, &out);
    if (res == ANON_OK) {
        r->ok++;
        json_array_extend(r->all, out.records);
    } else if (res == ANON_QUARANTINE) {
        if (r->quarantined < 16)
            r->quarantine_lines[r->quarantined] = row->line;
        r->quarantined++;
    } else {
        r->errors++;
    }
    snprintf(r->last_why, sizeof(r->last_why), "%s: %s", out.column, out.why);
    json_decref(out.records);
    return 0;
}

static int run_file(const char *map, const char *csv, const uint8_t *key, run_t *r)
{
    char err[512] = "";
    mapping_t *m = mapping_load(map, err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    memset(r, 0, sizeof(*r));
    r->a = anon_new(m, key, ORIGIN);
    r->all = json_array();
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    src_sink_t sink = {on_header, on_row, r};
    int rc = csv_read(f, csv, &sink, err, sizeof(err));
    fclose(f);
    anon_free(r->a);
    mapping_free(m);
    return rc;
}

static json_t *find(json_t *all, const char *kind, const char *status)
{
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        if (strcmp(json_string_value(json_object_get(d, "kind")), kind) != 0)
            continue;
        const char *s = json_string_value(json_object_get(json_object_get(d, "body"), "status"));
        if (!status || (s && strcmp(s, status) == 0))
            return d;
    }
    return NULL;
}

static void test_referral_export(void **state)
{
    run_t r;
    assert_int_equal(run_file(EXAMPLES "referrals.map", EXAMPLES "referrals.csv", secret, &r), 0);
    assert_int_equal(r.ok, 4);
    assert_int_equal(r.errors, 0);
    /* 4 referrals; events: 1 accepted+contacted, 2 declined, 3 accepted+contacted+closed. */
    assert_int_equal(json_array_size(r.all), 4 + 2 + 1 + 3);
    json_t *first = json_array_get(r.all, 0);
    char want_id[37];
    assert_int_equal(
        tr_anon_hmac_uuid(secret, AGENT_SECRET_LEN, "pathway.referral", "NWA-2026-0001", want_id),
        0);
    assert_string_equal(json_string_value(json_object_get(first, "id")), want_id);
    assert_string_equal(json_string_value(json_object_get(first, "origin")), ORIGIN);
    json_t *b = json_object_get(first, "body");
    assert_string_equal(json_string_value(json_object_get(b, "week")), "2026-W45");
    assert_string_equal(json_string_value(json_object_get(b, "district")), "LS6");
    assert_string_equal(json_string_value(json_object_get(b, "age_band")), "35_44");
    assert_string_equal(json_string_value(json_object_get(b, "risk")), "high");
    assert_string_equal(json_string_value(json_object_get(b, "route")), "self");
    assert_string_equal(json_string_value(json_object_get(b, "from_service")),
                        "31aa1dea-fc94-4452-baab-29197d7b0bb1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "needs"), 1)),
                        "counselling");
    json_t *declined = find(r.all, "pathway.event", "declined");
    assert_non_null(declined);
    json_t *db = json_object_get(declined, "body");
    assert_int_equal(json_integer_value(json_object_get(db, "days")), 3);
    assert_string_equal(json_string_value(json_object_get(db, "reason")), "outside_area");
    json_t *closed = find(r.all, "pathway.event", "closed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(closed, "body"), "days")),
                     20);
    /* Row 3 has no date of birth: the default band. Row 4: born 1975, 50. */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(r.all, 5), "body"), "age_band")),
                        "unknown");

    /* Nothing that identifies anyone is in any record. */
    char *dump = json_dumps(r.all, JSON_COMPACT);
    static const char *const never[] = {"Jane",     "Example", "07700",     "LS6 1AA", "LS61AA",
                                        "NWA-2026", "1988",    "14/03",     "Street",  "female",
                                        "Priya",    "BD7 1DP", "thank you", "0113"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        if (strstr(dump, never[i]))
            fail_msg("'%s' reached a record", never[i]);
    free(dump);

    /* The same export again: the same ids. Another secret: others. */
    run_t again, other;
    uint8_t key2[AGENT_SECRET_LEN] = {9};
    run_file(EXAMPLES "referrals.map", EXAMPLES "referrals.csv", secret, &again);
    run_file(EXAMPLES "referrals.map", EXAMPLES "referrals.csv", key2, &other);
    assert_true(json_equal(r.all, again.all));
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(other.all, 0), "id")),
                            want_id);
    json_decref(r.all);
    json_decref(again.all);
    json_decref(other.all);
}

static void test_feedback_export(void **state)
{
    run_t r;
    assert_int_equal(run_file(EXAMPLES "feedback.map", EXAMPLES "feedback.csv", secret, &r), 0);
    assert_int_equal(r.ok, 3);
    assert_int_equal(r.quarantined, 1); /* FB-103: a phone number in the summary */
    assert_int_equal(r.quarantine_lines[0], 4);
    char *dump = json_dumps(r.all, JSON_COMPACT);
    assert_null(strstr(dump, "Maria"));
    assert_null(strstr(dump, "07700"));
    assert_null(strstr(dump, "FB-10"));
    free(dump);
    json_decref(r.all);
}

/* A feedback export with identifiers planted in free text in odd places and
 * formats, and clean rows between them. */
static void test_planted_corpus(void **state)
{
    static const char *const planted[] = {
        "Leila said the refuge was the first place she felt safe",
        "leila asked for a female worker",
        "Spoke to LEILA HASSAN on the phone",
        "Mrs Hassan was grateful for the support",
        "Her son Idris needs a school place",
        "Her DOB is 03/04/1990 and she is worried",
        "born 3rd April 1990",
        "born on 1990-04-03",
        "lives at 27 Rosemary Gardens with her sister",
        "moved to LS7 3QB last month",
        "new postcode ls73qb",
        "ring 0113 496 0123 or 07700900321",
        "call +44 7700 900321 after 6",
        "email leila.h@example.com please",
        "NHS no 943 476 5919 on file",
        "NI number AB123456C given",
        "case NWA-2026-0777 reopened",
        "see ref nwa-2026-0777",
        "linked to NWA-2025-1234 (her sister)",
    };
    static const char *const clean[] = {
        "The group on Wednesdays helped a lot.",
        "We would like longer opening hours on Saturdays.",
        "The new waiting room is much calmer.",
        "Please have leaflets in Arabic and Urdu.",
        "It took 3 weeks to get a first appointment.",
        "The helpline answered within 2 minutes.",
        "Staff explained what would happen next.",
        "Women said they want a crèche during sessions.",
    };
    FILE *f = tmpfile();
    fprintf(f, "Ref,Date,Client,Child,Summary,Easy\r\n");
    size_t n_planted = sizeof(planted) / sizeof(planted[0]);
    size_t n_clean = sizeof(clean) / sizeof(clean[0]);
    for (size_t i = 0; i < n_planted; i++)
        fprintf(f, "NWA-2026-0777,01/11/2026,Leila Hassan,Idris,\"%s\",Short and clear.\r\n",
                planted[i]);
    for (size_t i = 0; i < n_clean; i++)
        fprintf(f, "NWA-2026-%04zu,01/11/2026,Leila Hassan,Idris,\"%s\",\"%s\"\r\n", i + 800,
                clean[i], clean[i]);
    rewind(f);
    char *map = write_tmp("[mapping]\nkind = feedback.entry\ncase_reference = Ref\n"
                          "identifiers = Client, Child\n"
                          "[field week]\ncolumn = Date\nrule = week\n"
                          "[field source_role]\nrule = const\nvalue = service_user\n"
                          "[field themes]\nrule = codes\ncolumn = Date\ncodes = t\n"
                          "[codes t]\nother = *\n"
                          "[field summary]\ncolumn = Summary\nrule = text\n"
                          "[field easy_read]\ncolumn = Easy\nrule = text\n"
                          "[field level]\nrule = const\nvalue = consultation\n");
    char err[512] = "";
    mapping_t *m = mapping_load(map, err, sizeof(err));
    unlink(map);
    if (!m)
        fail_msg("%s", err);
    run_t r = {0};
    r.a = anon_new(m, secret, ORIGIN);
    r.all = json_array();
    src_sink_t sink = {on_header, on_row, &r};
    assert_int_equal(csv_read(f, "corpus.csv", &sink, err, sizeof(err)), 0);
    fclose(f);
    if (r.quarantined != (int)n_planted)
        fail_msg("%d of %zu planted rows quarantined", r.quarantined, n_planted);
    assert_int_equal(r.ok, (int)n_clean);
    assert_int_equal(r.errors, 0);
    anon_free(r.a);
    mapping_free(m);
    json_decref(r.all);
}

static void test_row_errors(void **state)
{
    char *map = write_tmp(REF_HEAD "[field needs]\ncolumn = Needs\nrule = codes\ncodes = n\n"
                                   "[codes n]\nrefuge = Refuge\nhousing = Housing\n"
                                   "[event accepted]\ncolumn = Accepted\n");
    char err[512] = "";
    mapping_t *m = mapping_load(map, err, sizeof(err));
    unlink(map);
    if (!m)
        fail_msg("%s", err);
    static const struct {
        const char *row, *want;
    } cases[] = {
        {"R1,01/11/2026,34,LS6,Refuge,", NULL},
        {"R2,01/11/2026,34,LS6,Refuge;Gardening,", "Needs: a value that [codes n] does not list"},
        {",01/11/2026,34,LS6,Refuge,", "Ref: the case reference is empty"},
        {"R3,2026/11/01x,34,LS6,Refuge,", "Date: not a date"},
        {"R4,01/11/2026,old,LS6,Refuge,", "Age: not an age"},
        {"R5,01/11/2026,34,Leeds,Refuge,", "Postcode: not a UK postcode"},
        {"R6,01/11/2026,34,LS6,,", "Needs: the value is empty"},
        {"R7,05/11/2026,34,LS6,Refuge,01/11/2026", "Accepted: the date is before the referral"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "Ref,Date,Age,Postcode,Needs,Accepted\n%s\n", cases[i].row);
        FILE *f = fmemopen(text, strlen(text), "r");
        run_t r = {0};
        r.a = anon_new(m, secret, ORIGIN);
        r.all = json_array();
        src_sink_t sink = {on_header, on_row, &r};
        assert_int_equal(csv_read(f, "x.csv", &sink, err, sizeof(err)), 0);
        fclose(f);
        if (!cases[i].want ? r.ok != 1 : (r.errors != 1 || !strstr(r.last_why, cases[i].want)))
            fail_msg("case %zu: ok %d errors %d why '%s'", i, r.ok, r.errors, r.last_why);
        anon_free(r.a);
        json_decref(r.all);
    }
    /* A mapped column missing from the header: the file stops at line 1. */
    FILE *f = fmemopen("Ref,Date,Age,Needs\nR1,01/11/2026,34,Refuge\n", 43, "r");
    run_t r = {0};
    r.a = anon_new(m, secret, ORIGIN);
    r.all = json_array();
    src_sink_t sink = {on_header, on_row, &r};
    assert_int_equal(csv_read(f, "x.csv", &sink, err, sizeof(err)), 9);
    fclose(f);
    assert_non_null(strstr(r.bind_err, "line 1: the header has no column 'Postcode'"));
    anon_free(r.a);
    json_decref(r.all);
    mapping_free(m);
}

static json_t *service(json_t *all, const char *name)
{
    size_t i;
    json_t *d;
    json_array_foreach(all, i, d)
    {
        json_t *b = json_object_get(d, "body");
        if (strcmp(json_string_value(json_object_get(b, "name")), name) == 0)
            return b;
    }
    fail_msg("no service '%s'", name);
    return NULL;
}

/* The example services spreadsheet: ORUK bodies under the origin's own
 * organisation, the refuge with its area only, the unmapped staff contact
 * nowhere, the same ids every time. */
static void test_directory_export(void **state)
{
    run_t r;
    assert_int_equal(run_file(EXAMPLES "directory.map", EXAMPLES "services.csv", secret, &r), 0);
    if (r.ok != 4 || r.errors != 0)
        fail_msg("ok %d errors %d: %s", r.ok, r.errors, r.last_why);
    char org[37], help_id[37];
    assert_int_equal(tr_org_uuid(ORIGIN, org, sizeof(org)), 0);
    assert_int_equal(
        tr_anon_hmac_uuid(secret, AGENT_SECRET_LEN, "directory.service", "HELP", help_id), 0);
    json_t *refuge = service(r.all, "Northside Refuge");
    assert_string_equal(json_string_value(json_object_get(refuge, "id")),
                        "31aa1dea-fc94-4452-baab-29197d7b0bb1");
    json_t *o = json_object_get(refuge, "organization");
    assert_string_equal(json_string_value(json_object_get(o, "id")), org);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "Northside Women's Aid");
    json_t *t = json_object_get(refuge, "trellis");
    assert_true(json_is_true(json_object_get(t, "location_confidential")));
    assert_true(json_is_true(json_object_get(t, "taking_referrals")));
    assert_int_equal(json_array_size(json_object_get(t, "needs")), 2);
    assert_null(json_object_get(refuge, "service_at_locations"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(refuge, "service_areas"), 0), "name")),
                        "Leeds and Bradford");
    assert_int_equal(json_integer_value(json_object_get(refuge, "minimum_age")), 16);
    assert_null(json_object_get(refuge, "maximum_age"));
    assert_int_equal(json_array_size(json_object_get(refuge, "languages")), 3);

    json_t *idva = service(r.all, "IDVA Service");
    json_t *loc = json_object_get(json_array_get(json_object_get(idva, "service_at_locations"), 0),
                                  "location");
    json_t *addr = json_array_get(json_object_get(loc, "addresses"), 0);
    assert_string_equal(json_string_value(json_object_get(addr, "postal_code")), "LS1 6DT");
    assert_string_equal(json_string_value(json_object_get(addr, "country")), "GB");
    assert_string_equal(json_string_value(json_object_get(loc, "name")), "Northside Centre");
    assert_true(json_is_false(json_object_get(json_object_get(idva, "trellis"), "self_referral")));
    json_t *help = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(
        r.all, i, d) if (!strcmp(json_string_value(json_object_get(d, "id")), help_id)) help = d;
    assert_non_null(help);
    assert_null(
        json_object_get(json_object_get(json_object_get(help, "body"), "trellis"), "risk_levels"));

    char *dump = json_dumps(r.all, JSON_COMPACT);
    assert_null(strstr(dump, "Jo Bloggs"));
    assert_null(strstr(dump, "07700"));
    free(dump);
    run_t again;
    run_file(EXAMPLES "directory.map", EXAMPLES "services.csv", secret, &again);
    assert_true(json_equal(r.all, again.all));
    json_decref(again.all);
    json_decref(r.all);
}

/* A confidential service's row that gives a street address or a full
 * postcode is refused with the column, and so is a bad yes or number. */
static void test_directory_row_errors(void **state)
{
    char err[512] = "";
    mapping_t *m = mapping_load(EXAMPLES "directory.map", err, sizeof(err));
    if (!m)
        fail_msg("%s", err);
    /* Area Served, Address Line 1, Postcode, Confidential Location. */
    static const struct {
        const char *area, *street, *postcode, *confidential, *want;
    } cases[] = {
        {"Leeds", "", "", "Yes", NULL},
        {"Leeds", "1 Hidden Lane", "", "Yes", "Address Line 1: the service is marked confidential"},
        {"Leeds", "", "LS6 2AB", "Yes", "Postcode: the service is marked confidential"},
        {"Leeds", "", "", "Perhaps", "Confidential Location: neither yes nor no"},
        {"", "", "", "No", NULL},
        {"", "", "", "Yes", "$.body.service_areas: a confidential service must give"},
    };
    FILE *hf = fopen(EXAMPLES "services.csv", "r");
    char header[1024];
    assert_non_null(hf);
    assert_non_null(fgets(header, sizeof(header), hf));
    fclose(hf);
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char text[2048];
        snprintf(text, sizeof(text), "%sX,,A refuge,Open,,,,,,,%s,,,%s,,,,%s,,%s,,,,,,,\n", header,
                 cases[k].area, cases[k].street, cases[k].postcode, cases[k].confidential);
        FILE *f = fmemopen(text, strlen(text), "r");
        run_t r = {0};
        r.a = anon_new(m, secret, ORIGIN);
        r.all = json_array();
        src_sink_t sink = {on_header, on_row, &r};
        assert_int_equal(csv_read(f, "s.csv", &sink, err, sizeof(err)), 0);
        fclose(f);
        if (!cases[k].want ? r.ok != 1 : (r.errors != 1 || !strstr(r.last_why, cases[k].want)))
            fail_msg("case %zu: ok %d errors %d why '%s'", k, r.ok, r.errors, r.last_why);
        char *dump = json_dumps(r.all, JSON_COMPACT);
        assert_null(strstr(dump, "Hidden"));
        free(dump);
        anon_free(r.a);
        json_decref(r.all);
    }
    mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples_load),    cmocka_unit_test(test_mapping_errors),
        cmocka_unit_test(test_referral_export),  cmocka_unit_test(test_feedback_export),
        cmocka_unit_test(test_planted_corpus),   cmocka_unit_test(test_row_errors),
        cmocka_unit_test(test_directory_export), cmocka_unit_test(test_directory_row_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tr_anon_shutdown();
    tr_pii_shutdown();
    return rc;
}
