/* directory.service validation and its Open Referral UK views: three real
 * shapes of service that pass, then one row per way to get it wrong, each
 * with the errors (path and code) it must produce and nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_format.h"
#include "tr_oruk.h"
#include "tr_pii.h"
#include "tr_record.h"

/* Fixtures are written with ' for " so that they read as JSON; text uses
 * a typographic apostrophe (’). */

/* A women's refuge: confidential location, so an area and no address. */
static const char *const refuge =
    "{'kind': 'directory.service', 'id': 'a1000000-0000-4000-8000-000000000001',"
    " 'origin': 'northside-womens-aid', 'version': 3, 'body': {"
    "  'id': 'a1000000-0000-4000-8000-000000000001',"
    "  'name': 'Northside Refuge', 'status': 'active',"
    "  'description': 'Safe, self-contained refuge accommodation for women and their children"
    " escaping domestic abuse. Call our 24-hour line on 0113 246 0401 or email"
    " refuge@northsidewa.org.uk to ask about a space.\\nWe support women from across the LS7"
    " district and further afield.',"
    "  'url': 'https://www.northsidewa.org.uk/refuge', 'email': 'refuge@northsidewa.org.uk',"
    "  'minimum_age': 16, 'maximum_age': 99, 'last_modified': '2025-11-20T09:30:00Z',"
    "  'organization': {'id': 'c91927dd-804f-5dd5-bbe7-c822b93dd686',"
    "    'name': 'Northside Women’s Aid',"
    "    'description': 'A Leeds charity supporting women and children affected by domestic"
    " abuse since 1979.',"
    "    'email': 'info@northsidewa.org.uk', 'website': 'https://www.northsidewa.org.uk',"
    "    'organization_identifiers': [{'id': '0a000000-0000-4000-8000-000000000002',"
    "      'identifier_scheme': 'GB-CHC', 'identifier_type': 'Registered charity number',"
    "      'identifier': '1012345'}]},"
    "  'service_areas': [{'id': 'a1000000-0000-4000-8000-000000000010', 'name': 'Leeds',"
    "    'service_area': 'Women living in Leeds or needing to move away from another area.',"
    "    'uri': 'https://statistics.data.gov.uk/id/statistical-geography/E08000035'}],"
    "  'service_at_locations': [{'id': 'a1000000-0000-4000-8000-000000000020',"
    "    'location': {'id': 'a1000000-0000-4000-8000-000000000021', 'location_type': 'physical',"
    "      'name': 'Northside refuge (address withheld)',"
    "      'description': 'Eight self-contained flats with a shared garden and playroom.',"
    "      'accessibility': [{'id': 'a1000000-0000-4000-8000-000000000022',"
    "        'description': 'Two ground-floor flats with level access and a wet room.'}]}}],"
    "  'contacts': [{'id': 'a1000000-0000-4000-8000-000000000030', 'title': 'Refuge duty worker',"
    "    'email': 'refuge@northsidewa.org.uk',"
    "    'phones': [{'id': 'a1000000-0000-4000-8000-000000000031', 'number': '0113 246 0401',"
    "      'type': 'voice'}]}],"
    "  'phones': [{'id': 'a1000000-0000-4000-8000-000000000040', 'number': '0113 246 0401',"
    "    'type': 'voice', 'description': 'Answered 24 hours a day.'}],"
    "  'schedules': [{'id': 'a1000000-0000-4000-8000-000000000050',"
    "    'service_at_location_id': 'a1000000-0000-4000-8000-000000000020',"
    "    'freq': 'WEEKLY', 'byday': 'MO,TU,WE,TH,FR,SA,SU', 'opens_at': '00:00',"
    "    'closes_at': '23:59', 'description': 'Staff are on site every day of the year.'}],"
    "  'languages': [{'id': 'a1000000-0000-4000-8000-000000000060', 'name': 'English',"
    "    'code': 'en'}, {'id': 'a1000000-0000-4000-8000-000000000061', 'name': 'Urdu',"
    "    'code': 'ur'}],"
    "  'attributes': [{'id': 'a1000000-0000-4000-8000-000000000070',"
    "    'link_id': 'a1000000-0000-4000-8000-000000000001', 'link_type': 'service',"
    "    'taxonomy_term': {'id': 'f0000000-0000-4000-8000-000000000001', 'name': 'Refuge',"
    "      'description': 'Safe emergency accommodation for people escaping domestic abuse.',"
    "      'taxonomy': 'Trellis needs', 'term': 'refuge'}}],"
    "  'trellis': {'for_genders': ['women'], 'risk_levels': ['standard', 'medium', 'high'],"
    "    'self_referral': true, 'taking_referrals': true,"
    "    'accessibility': ['interpreters', 'step_free', 'wheelchair'],"
    "    'needs': ['refuge', 'children', 'advocacy'], 'location_confidential': true}}}";

/* A helpline: no location at all, a phone number and opening hours. */
static const char *const helpline =
    "{'kind': 'directory.service', 'id': 'b2000000-0000-4000-8000-000000000001',"
    " 'origin': 'northside-womens-aid', 'version': 1, 'body': {"
    "  'id': 'b2000000-0000-4000-8000-000000000001',"
    "  'organization_id': 'c91927dd-804f-5dd5-bbe7-c822b93dd686',"
    "  'name': 'Northside Domestic Abuse Helpline', 'status': 'active',"
    "  'description': 'Free, confidential advice for anyone affected by domestic abuse, and"
    " for friends, family and professionals. Text 07700 900123 if you cannot talk, or email"
    " helpline@northsidewa.org.uk.',"
    "  'fees': 'Free. Calls from mobiles and landlines are free.',"
    "  'minimum_age': 13, 'maximum_age': 130,"
    "  'organization': {'id': 'c91927dd-804f-5dd5-bbe7-c822b93dd686',"
    "    'name': 'Northside Women’s Aid', 'description': 'A Leeds domestic abuse charity.'},"
    "  'service_areas': [{'id': 'b2000000-0000-4000-8000-000000000010',"
    "    'name': 'West Yorkshire', 'extent_type': 'text', 'extent': 'West Yorkshire'}],"
    "  'phones': [{'id': 'b2000000-0000-4000-8000-000000000020', 'number': '0808 802 0000',"
    "    'type': 'voice'}, {'id': 'b2000000-0000-4000-8000-000000000021',"
    "    'number': '+44 7700 900123', 'type': 'text', 'description': 'Text us'}],"
    "  'schedules': [{'id': 'b2000000-0000-4000-8000-000000000030', 'freq': 'WEEKLY',"
    "    'byday': 'MO,TU,WE,TH,FR', 'opens_at': '09:00:00', 'closes_at': '21:00:00',"
    "    'valid_from': '2025-04-01', 'valid_to': '2026-03-31'},"
    "   {'id': 'b2000000-0000-4000-8000-000000000031', 'freq': 'MONTHLY', 'byday': '1SA',"
    "    'opens_at': '10:00', 'closes_at': '14:00'}],"
    "  'languages': [{'id': 'b2000000-0000-4000-8000-000000000040', 'name': 'British Sign"
    " Language', 'code': 'bfi'}],"
    "  'funding': [{'id': 'b2000000-0000-4000-8000-000000000050',"
    "    'source': 'West Yorkshire Combined Authority'}],"
    "  'trellis': {'for_genders': ['all'], 'self_referral': true, 'taking_referrals': true,"
    "    'accessibility': ['bsl', 'text_relay', 'interpreters'],"
    "    'needs': ['helpline', 'advocacy'], 'location_confidential': false}}}";

/* A young people's service with a public drop-in address. */
static const char *const young =
    "{'kind': 'directory.service', 'id': 'c3000000-0000-4000-8000-000000000001',"
    " 'origin': 'next-steps-leeds', 'version': 7, 'body': {"
    "  'id': 'c3000000-0000-4000-8000-000000000001',"
    "  'name': 'Next Steps Young People’s Service', 'status': 'active',"
    "  'description': 'Counselling and peer support for young people aged 11 to 25 who have"
    " experienced sexual violence. Drop in or ask a teacher, youth worker or GP to refer you.',"
    "  'url': 'https://nextsteps.example.org.uk/young-people',"
    "  'minimum_age': 11, 'maximum_age': 25, 'assured_date': '2025-06-30',"
    "  'organization': {'id': '4fde0a92-af15-508e-84e8-c084d85e9ef3',"
    "    'name': 'Next Steps Leeds', 'description': 'Sexual violence support in Leeds.'},"
    "  'service_areas': [{'id': 'c3000000-0000-4000-8000-000000000010', 'name': 'Leeds'}],"
    "  'service_at_locations': [{'id': 'c3000000-0000-4000-8000-000000000020',"
    "    'service_id': 'c3000000-0000-4000-8000-000000000001',"
    "    'location_id': 'c3000000-0000-4000-8000-000000000021',"
    "    'location': {'id': 'c3000000-0000-4000-8000-000000000021', 'location_type': 'physical',"
    "      'name': 'Next Steps Youth Hub', 'latitude': 53, 'longitude': -1,"
    "      'addresses': [{'id': 'c3000000-0000-4000-8000-000000000022',"
    "        'location_id': 'c3000000-0000-4000-8000-000000000021',"
    "        'address_1': '12 Park Row', 'address_2': 'Second floor', 'city': 'Leeds',"
    "        'state_province': 'West Yorkshire', 'postal_code': 'LS1 5HD', 'country': 'GB',"
    "        'address_type': 'physical'}],"
    "      'accessibility': [{'id': 'c3000000-0000-4000-8000-000000000023',"
    "        'description': 'Lift to all floors, hearing loop at reception.'}]}}],"
    "  'contacts': [{'id': 'c3000000-0000-4000-8000-000000000030', 'name': 'Duty worker',"
    "    'department': 'Young people’s team', 'email': 'young@nextsteps.example.org.uk',"
    "    'phones': [{'id': 'c3000000-0000-4000-8000-000000000031', 'number': '0113 496 0000',"
    "      'extension': 204}]}],"
    "  'schedules': [{'id': 'c3000000-0000-4000-8000-000000000040',"
    "    'service_at_location_id': 'c3000000-0000-4000-8000-000000000020', 'freq': 'WEEKLY',"
    "    'byday': 'TU,TH', 'opens_at': '15:30', 'closes_at': '19:00',"
    "    'attending_type': 'In person, or by video if you prefer.'}],"
    "  'cost_options': [{'id': 'c3000000-0000-4000-8000-000000000050', 'option': 'All sessions',"
    "    'amount': 0, 'amount_description': 'Free'}],"
    "  'trellis': {'for_genders': ['all'], 'risk_levels': ['standard', 'medium'],"
    "    'self_referral': true, 'taking_referrals': false,"
    "    'accessibility': ['step_free', 'hearing_loop', 'easy_read'],"
    "    'needs': ['counselling', 'sexual_violence', 'peer_support'],"
    "    'location_confidential': false}}}";

static json_t *load(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t err;
    json_t *doc = json_loads(s, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!doc)
        fail_msg("fixture: line %d col %d: %s", err.line, err.column, err.text);
    free(s);
    return doc;
}

/* Set (or with value NULL delete) the member at a dotted path such as
 * "body.service_at_locations.0.location.name"; an index one past the end
 * appends. value is taken. */
static void edit(json_t *doc, const char *path, json_t *value)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *cur = doc;
    char *save = NULL, *tok = strtok_r(buf, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        bool index = json_is_array(cur);
        size_t i = index ? strtoul(tok, NULL, 10) : 0;
        if (!next) {
            if (index && !value)
                json_array_remove(cur, i);
            else if (index && i == json_array_size(cur))
                json_array_append_new(cur, value);
            else if (index)
                json_array_set_new(cur, i, value);
            else if (!value)
                json_object_del(cur, tok);
            else
                json_object_set_new(cur, tok, value);
            return;
        }
        cur = index ? json_array_get(cur, i) : json_object_get(cur, tok);
        if (!cur)
            fail_msg("edit: no %s in %s", tok, path);
        tok = next;
    }
}

static int setup(void **state)
{
    return tr_pii_init();
}

static int teardown(void **state)
{
    tr_pii_shutdown();
    return 0;
}

static void expect_valid(const char *fixture)
{
    json_t *doc = load(fixture);
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    int rc = tr_record_validate(doc, &rec, &errs);
    for (size_t i = 0; i < errs.n; i++)
        print_message("unexpected: %s %s %s\n", errs.items[i].path, errs.items[i].code,
                      errs.items[i].message);
    assert_int_equal(rc, 0);
    assert_int_equal(rec.kind, TR_KIND_DIRECTORY_SERVICE);
    tr_record_clear(&rec);
    tr_verrors_free(&errs);
    json_decref(doc);
}

static void test_good_services(void **state)
{
    expect_valid(refuge);
    expect_valid(helpline);
    expect_valid(young);
}

/* ---- one row per mistake ------------------------------------------------ */

typedef struct {
    const char *path;  /* dotted, from the envelope */
    const char *value; /* JSON with ' for ", or NULL to delete */
} edit_t;

typedef struct {
    const char *path; /* JSON path as reported */
    const char *code;
} want_t;

typedef struct {
    const char *what;
    const char *const *fixture;
    edit_t edits[4];
    want_t want[5];
} row_t;

#define ADDR "body.service_at_locations.0.location.addresses"
#define LOC "$.body.service_at_locations[0].location"
/* A street address with a full postcode, as a refuge must never send. */
#define STREET                                                                                     \
    "[{'id': 'a1000000-0000-4000-8000-0000000000a1', 'address_1': '3 Acacia Avenue',"              \
    " 'city': 'Leeds', 'state_province': 'West Yorkshire', 'postal_code': 'LS7 3AB',"              \
    " 'country': 'GB', 'address_type': 'physical'}]"
#define LONG_TEXT "'" LONG_1K LONG_1K LONG_1K LONG_1K "'" /* 4096 bytes, past the 4000 limit */
#define LONG_1K LONG_256 LONG_256 LONG_256 LONG_256
#define LONG_256 LONG_64 LONG_64 LONG_64 LONG_64
#define LONG_64 "We listen, we believe you and we will help you to plan your next "

static const row_t rows[] = {
    {"unknown field deep inside",
     &young,
     {{ADDR ".0.flat_number", "'3'"}},
     {{LOC ".addresses[0].flat_number", "unknown_field"}}},
    {"unknown top-level field",
     &helpline,
     {{"body.referral_form", "'https://example.org'"}},
     {{"$.body.referral_form", "unknown_field"}}},
    {"unknown trellis field",
     &helpline,
     {{"body.trellis.priority", "1"}},
     {{"$.body.trellis.priority", "unknown_field"}}},
    {"wrong type", &refuge, {{"body.minimum_age", "'16'"}}, {{"$.body.minimum_age", "type"}}},
    {"a real number is no age",
     &refuge,
     {{"body.minimum_age", "16.5"}},
     {{"$.body.minimum_age", "type"}}},
    {"age out of range", &refuge, {{"body.maximum_age", "131"}}, {{"$.body.maximum_age", "range"}}},
    {"null for an optional member (leave it out)",
     &helpline,
     {{"body.url", "null"}},
     {{"$.body.url", "type"}}},
    {"trellis not an object", &helpline, {{"body.trellis", "[]"}}, {{"$.body.trellis", "type"}}},
    {"body id is not the record's",
     &helpline,
     {{"body.id", "'b2000000-0000-4000-8000-0000000000ff'"}},
     {{"$.body.id", "id_mismatch"}}},
    {"body id is not a UUID", &helpline, {{"body.id", "'helpline-1'"}}, {{"$.body.id", "uuid"}}},
    {"minimum_age above maximum_age",
     &young,
     {{"body.minimum_age", "30"}, {"body.maximum_age", "20"}},
     {{"$.body.maximum_age", "range"}}},
    {"bad email in contacts",
     &refuge,
     {{"body.contacts.0.email", "'refuge at northsidewa.org.uk'"}},
     {{"$.body.contacts[0].email", "format"}}},
    {"bad phone number",
     &helpline,
     {{"body.phones.1.number", "'call us'"}},
     {{"$.body.phones[1].number", "format"}}},
    {"confidential service with a street address",
     &refuge,
     {{"body.service_at_locations.0.location.addresses", STREET}},
     {{LOC ".addresses[0].address_1", "confidential_location"},
      {LOC ".addresses[0].postal_code", "confidential_location"}}},
    {"confidential service with a full postcode in its description",
     &refuge,
     {{"body.description", "'Our refuge is near the park (LS7 3AB).'"}},
     {{"$.body.description", "confidential_location"}}},
    {"confidential service with a full postcode in a schedule note",
     &refuge,
     {{"body.schedules.0.notes", "'Post arrives at the office, LS7 3AB.'"}},
     {{"$.body.schedules[0].notes", "confidential_location"}}},
    {"confidential service with coordinates and a UPRN",
     &refuge,
     {{"body.service_at_locations.0.location.latitude", "53"},
      {"body.service_at_locations.0.location.longitude", "-1"},
      {"body.service_at_locations.0.location.external_identifier", "'72123456'"}},
     {{LOC ".latitude", "confidential_location"},
      {LOC ".longitude", "confidential_location"},
      {LOC ".external_identifier", "confidential_location"}}},
    {"confidential service with a drawn area",
     &refuge,
     {{"body.service_areas.0.extent", "'{}'"}, {"body.service_areas.0.extent_type", "'geojson'"}},
     {{"$.body.service_areas[0].extent", "confidential_location"}}},
    {"confidential service with no area",
     &refuge,
     {{"body.service_areas", NULL}},
     {{"$.body.service_areas", "required"}}},
    {"the same street address is fine when the location is public",
     &helpline,
     {{"body.service_at_locations", "[{'id': 'b2000000-0000-4000-8000-0000000000a0', 'location':"
                                    " {'id': 'b2000000-0000-4000-8000-0000000000a2',"
                                    " 'location_type': 'physical', 'addresses': " STREET "}}]"}},
     {{NULL, NULL}}},
    {"NHS number in a description",
     &helpline,
     {{"body.description", "'Ring us and quote 943 476 5919.'"}},
     {{"$.body.description", "personal_data"}}},
    {"NI number in a contact name",
     &young,
     {{"body.contacts.0.name", "'AB 12 34 56 C'"}},
     {{"$.body.contacts[0].name", "personal_data"}}},
    {"description too long",
     &helpline,
     {{"body.description", LONG_TEXT}},
     {{"$.body.description", "too_long"}}},
    {"status not an HSDS status",
     &helpline,
     {{"body.status", "'open'"}},
     {{"$.body.status", "enum"}}},
    {"organization without its description",
     &young,
     {{"body.organization.description", NULL}},
     {{"$.body.organization.description", "required"}}},
    {"organization under another member's id (impersonation)",
     &helpline,
     {{"body.organization.id", "'4fde0a92-af15-508e-84e8-c084d85e9ef3'"},
      {"body.organization_id", "'4fde0a92-af15-508e-84e8-c084d85e9ef3'"}},
     {{"$.body.organization.id", "not_origin"}}},
    {"organization under an id that is no member's",
     &young,
     {{"body.organization.id", "'0c000000-0000-4000-8000-000000000001'"}},
     {{"$.body.organization.id", "not_origin"}}},
    {"organization_id not the organization's",
     &helpline,
     {{"body.organization_id", "'0a000000-0000-4000-8000-0000000000ff'"}},
     {{"$.body.organization_id", "id_mismatch"}}},
    {"location_confidential missing",
     &helpline,
     {{"body.trellis.location_confidential", NULL}},
     {{"$.body.trellis.location_confidential", "required"}}},
    {"trellis missing", &helpline, {{"body.trellis", NULL}}, {{"$.body.trellis", "required"}}},
    {"\"all\" with another gender",
     &helpline,
     {{"body.trellis.for_genders.1", "'women'"}},
     {{"$.body.trellis.for_genders", "all_alone"}}},
    {"unknown need and risk level",
     &refuge,
     {{"body.trellis.needs.1", "'shelter'"}, {"body.trellis.risk_levels.0", "'very_high'"}},
     {{"$.body.trellis.needs[1]", "enum"}, {"$.body.trellis.risk_levels[0]", "enum"}}},
    {"unknown accessibility code",
     &young,
     {{"body.trellis.accessibility.3", "'ramps'"}},
     {{"$.body.trellis.accessibility[3]", "enum"}}},
    {"last_modified not RFC 3339",
     &refuge,
     {{"body.last_modified", "'20/11/2025 09:30'"}},
     {{"$.body.last_modified", "format"}}},
    {"schedule refers to another service's location",
     &young,
     {{"body.schedules.0.service_at_location_id", "'c3000000-0000-4000-8000-0000000000ff'"}},
     {{"$.body.schedules[0].service_at_location_id", "reference"}}},
    {"schedule with bad weekdays and times",
     &helpline,
     {{"body.schedules.0.byday", "'Monday'"}, {"body.schedules.0.opens_at", "'9am'"}},
     {{"$.body.schedules[0].byday", "format"}, {"$.body.schedules[0].opens_at", "format"}}},
    {"valid_to before valid_from",
     &helpline,
     {{"body.schedules.0.valid_to", "'2025-03-31'"}},
     {{"$.body.schedules[0].valid_to", "range"}}},
    {"a public UK address needs a full postcode",
     &young,
     {{ADDR ".0.postal_code", "'LS1'"}},
     {{LOC ".addresses[0].postal_code", "format"}}},
    {"address without its schema-required members",
     &young,
     {{ADDR ".0.state_province", NULL}, {ADDR ".0.address_type", NULL}},
     {{LOC ".addresses[0].state_province", "required"},
      {LOC ".addresses[0].address_type", "required"}}},
    {"address hangs from another location",
     &young,
     {{ADDR ".0.location_id", "'c3000000-0000-4000-8000-0000000000ff'"}},
     {{LOC ".addresses[0].location_id", "id_mismatch"}}},
    {"two objects with one id",
     &helpline,
     {{"body.phones.1.id", "'b2000000-0000-4000-8000-000000000020'"}},
     {{"$.body.phones[1].id", "duplicate"}}},
    {"taxonomy term without its schema-required members",
     &refuge,
     {{"body.attributes.0.taxonomy_term.description", NULL}},
     {{"$.body.attributes[0].taxonomy_term.description", "required"}}},
    {"url that is not http(s)",
     &young,
     {{"body.url", "'javascript:alert(1)'"}},
     {{"$.body.url", "format"}}},
    {"language code not ISO 639",
     &refuge,
     {{"body.languages.0.code", "'English'"}},
     {{"$.body.languages[0].code", "format"}}},
    {"several errors at once",
     &young,
     {{"body.status", "'closed'"},
      {"body.contacts.0.phones.0.number", "'ring reception'"},
      {ADDR ".0.country", "'United Kingdom'"},
      {"body.trellis.self_referral", "'yes'"}},
     {{"$.body.status", "enum"},
      {"$.body.contacts[0].phones[0].number", "format"},
      {LOC ".addresses[0].country", "format"},
      {"$.body.trellis.self_referral", "type"}}},
};

static void test_rows(void **state)
{
    int failed = 0;
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const row_t *row = &rows[r];
        json_t *doc = load(*row->fixture);
        for (int i = 0; i < 4 && row->edits[i].path; i++)
            edit(doc, row->edits[i].path, row->edits[i].value ? load(row->edits[i].value) : NULL);
        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        int rc = tr_record_validate(doc, &rec, &errs);
        size_t nwant = 0;
        bool ok = true;
        for (; nwant < 5 && row->want[nwant].path; nwant++) {
            bool found = false;
            for (size_t i = 0; i < errs.n; i++)
                found = found || (strcmp(errs.items[i].path, row->want[nwant].path) == 0 &&
                                  strcmp(errs.items[i].code, row->want[nwant].code) == 0);
            if (!found) {
                print_message("  missing %s %s\n", row->want[nwant].path, row->want[nwant].code);
                ok = false;
            }
        }
        ok = ok && errs.n == nwant && (rc == 0) == (nwant == 0);
        /* No message repeats a refused value. */
        for (int i = 0; i < 4 && row->edits[i].path; i++) {
            json_t *v = row->edits[i].value ? load(row->edits[i].value) : NULL;
            const char *s = json_string_value(v);
            for (size_t k = 0; s && strlen(s) >= 3 && k < errs.n; k++)
                if (strstr(errs.items[k].message, s) || strstr(errs.items[k].path, s)) {
                    print_message("  %s echoes a refused value\n", errs.items[k].path);
                    ok = false;
                }
            json_decref(v);
        }
        if (!ok || getenv("TEST_VERBOSE")) {
            print_message("%s %s: %zu errors:\n", ok ? "ok" : "FAIL", row->what, errs.n);
            for (size_t i = 0; i < errs.n; i++)
                print_message("  got %s %s %s\n", errs.items[i].path, errs.items[i].code,
                              errs.items[i].message);
            failed += !ok;
        }
        tr_record_clear(&rec);
        tr_verrors_free(&errs);
        json_decref(doc);
    }
    assert_int_equal(failed, 0);
}

/* A hostile record cannot make the error list grow without bound. */
static void test_error_cap(void **state)
{
    json_t *doc = load(helpline);
    json_t *phones = json_array();
    for (int i = 0; i < 50; i++)
        json_array_append_new(phones, json_pack("{s:s, s:s}", "id", "x", "number", "y"));
    edit(doc, "body.phones", phones);
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    assert_int_not_equal(tr_record_validate(doc, &rec, &errs), 0);
    assert_int_equal(errs.n, 64); /* 100 mistakes, the default cap */
    tr_verrors_free(&errs);
    json_decref(doc);
}

/* Too many items is refused before any item is looked at. */
static void test_too_many_items(void **state)
{
    json_t *doc = load(helpline);
    json_t *langs = json_array();
    char id[40];
    for (int i = 0; i < 51; i++) {
        snprintf(id, sizeof(id), "b2000000-0000-4000-8000-0000000010%02d", i);
        json_array_append_new(langs, json_pack("{s:s}", "id", id));
    }
    edit(doc, "body.languages", langs);
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    assert_int_not_equal(tr_record_validate(doc, &rec, &errs), 0);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].path, "$.body.languages");
    assert_string_equal(errs.items[0].code, "items");
    tr_verrors_free(&errs);
    json_decref(doc);
}

/* ---- formats ------------------------------------------------------------- */

static void test_formats(void **state)
{
    static const struct {
        bool (*ok)(const char *);
        const char *s;
        bool want;
    } cases[] = {
        {tr_is_date, "2024-02-29", true},
        {tr_is_date, "2025-02-29", false},
        {tr_is_date, "2025-13-01", false},
        {tr_is_date, "2025-1-01", false},
        {tr_is_time, "09:30", true},
        {tr_is_time, "23:59:59", true},
        {tr_is_time, "24:00", false},
        {tr_is_time, "9:30", false},
        {tr_is_datetime, "2025-11-20T09:30:00Z", true},
        {tr_is_datetime, "2025-11-20T09:30:00.123+01:00", true},
        {tr_is_datetime, "2025-11-20T09:30Z", false},
        {tr_is_datetime, "2025-11-20 09:30:00Z", false},
        {tr_is_datetime, "2025-11-20T09:30:00", false},
        {tr_is_url, "https://www.example.org.uk/a?b=c#d", true},
        {tr_is_url, "http://example.org", true},
        {tr_is_url, "https://example.org/a b", false},
        {tr_is_url, "ftp://example.org", false},
        {tr_is_url, "https://", false},
        {tr_is_url, "https://example.org/%zz", false},
        {tr_is_url, "https://example.org/%2", false},
        {tr_is_url, "https://example.org:8443/a%20b", true},
        {tr_is_url, "https://helpline.org.uk@elsewhere.example/", false},
        {tr_is_url, "https://example.org:/", false},
        {tr_is_url, "https://exa mple.org", false},
        {tr_is_email, "help@example.org.uk", true},
        {tr_is_email, "first.last+dv@example.org", true},
        {tr_is_email, "help@localhost", false},
        {tr_is_email, "help@@example.org", false},
        {tr_is_email, "help@example.org.", false},
        {tr_is_email, ".help@example.org", false},
        {tr_is_email, "Help <help@example.org>", false},
        {tr_is_phone, "0808 2000 247", true},
        {tr_is_phone, "+44 (0)113 246 0401", true},
        {tr_is_phone, "999", true},
        {tr_is_phone, "116 123", true},
        {tr_is_phone, "12", false},
        {tr_is_phone, "0113+2460401", false},
        {tr_is_phone, "0113 246 0401 ext 2", false},
        {tr_is_byday, "MO,TU,WE", true},
        {tr_is_byday, "1MO,-1FR", true},
        {tr_is_byday, "6MO", false},
        {tr_is_byday, "MO,", false},
        {tr_is_byday, "-MO", false},
        {tr_is_bymonthday, "1,15,-1", true},
        {tr_is_bymonthday, "0", false},
        {tr_is_bymonthday, "32", false},
        {tr_is_language_code, "cy", true},
        {tr_is_language_code, "EN", false},
        {tr_is_country_code, "GB", true},
        {tr_is_country_code, "UK ", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].ok(cases[i].s) != cases[i].want)
            fail_msg("format case %zu (%s): want %d", i, cases[i].s, cases[i].want);
    }
}

/* ---- ORUK views ---------------------------------------------------------- */

static json_t *body_of(json_t *doc)
{
    return json_object_get(doc, "body");
}

static void test_oruk_public_refuge(void **state)
{
    json_t *doc = load(refuge);
    json_t *pub = tr_oruk_service(body_of(doc), true);
    json_t *full = tr_oruk_service(body_of(doc), false);
    /* Area only in public; the full view is the stored body plus organization_id. */
    assert_null(json_object_get(pub, "service_at_locations"));
    assert_non_null(json_object_get(pub, "service_areas"));
    assert_null(json_object_get(json_array_get(json_object_get(pub, "schedules"), 0),
                                "service_at_location_id"));
    assert_non_null(json_object_get(full, "service_at_locations"));
    assert_string_equal(json_string_value(json_object_get(pub, "organization_id")),
                        "c91927dd-804f-5dd5-bbe7-c822b93dd686");
    assert_true(
        json_is_true(json_object_get(json_object_get(pub, "trellis"), "location_confidential")));
    /* The stored body is not changed by rendering. */
    assert_non_null(json_object_get(body_of(doc), "service_at_locations"));
    assert_null(json_object_get(body_of(doc), "organization_id"));
    json_decref(pub);
    json_decref(full);
    json_decref(doc);
}

static void test_oruk_public_address_kept(void **state)
{
    json_t *doc = load(young);
    json_t *pub = tr_oruk_service(body_of(doc), true);
    json_t *sal = json_array_get(json_object_get(pub, "service_at_locations"), 0);
    json_t *addr =
        json_array_get(json_object_get(json_object_get(sal, "location"), "addresses"), 0);
    assert_string_equal(json_string_value(json_object_get(addr, "postal_code")), "LS1 5HD");
    json_decref(pub);
    json_decref(doc);
}

static void test_oruk_summary(void **state)
{
    json_t *doc = load(young);
    json_t *sum = tr_oruk_service_summary(body_of(doc), true);
    assert_string_equal(json_string_value(json_object_get(sum, "name")),
                        "Next Steps Young People’s Service");
    assert_int_equal(json_integer_value(json_object_get(sum, "minimum_age")), 11);
    assert_null(json_object_get(sum, "service_at_locations"));
    assert_null(json_object_get(sum, "schedules"));
    assert_null(json_object_get(sum, "contacts"));
    assert_non_null(json_object_get(sum, "trellis"));
    json_t *org = json_object_get(sum, "organization");
    assert_string_equal(json_string_value(json_object_get(org, "name")), "Next Steps Leeds");
    assert_string_equal(json_string_value(json_object_get(sum, "organization_id")),
                        "4fde0a92-af15-508e-84e8-c084d85e9ef3");
    assert_null(tr_oruk_service_summary(NULL, false));
    assert_null(tr_oruk_service(json_object_get(doc, "version"), false));
    json_decref(sum);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_services),
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_too_many_items),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_oruk_public_refuge),
        cmocka_unit_test(test_oruk_public_address_kept),
        cmocka_unit_test(test_oruk_summary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
