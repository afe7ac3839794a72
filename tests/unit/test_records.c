/* Record validation for the pathway and feedback kinds, whole envelopes
 * through tr_record_validate: one row per case, each naming the exact
 * errors (path and code) it must produce, and never an echo of the value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tr_error.h"
#include "tr_fold.h"
#include "tr_pii.h"
#include "tr_record.h"

#define ID "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f"
#define SVC_A "11111111-1111-4111-8111-111111111111"
#define SVC_B "22222222-2222-4222-8222-222222222222"

enum { REFERRAL, EVENT, ENTRY, RESPONSE };

/* Good envelopes, one per kind, written with ' for " to stay readable. */
static const char *const bases[] = {
    [REFERRAL] = "{'kind':'pathway.referral','id':'" ID "','origin':'northside-refuge',"
                 "'version':1,'body':{'from_service':'" SVC_A "','to_service':'" SVC_B "',"
                 "'to_org':'eastgate-rape-crisis','week':'2026-W47','needs':['refuge','children'],'"
                 "risk':'high',"
                 "'age_band':'25_34','district':'LS6','route':'professional'}}",
    [EVENT] = "{'kind':'pathway.event','id':'" ID "','origin':'eastgate-rape-crisis',"
              "'version':1,'signer':'node-1','sig':'c2ln',"
              "'body':{'referral':'" SVC_A "','status':'declined','reason':'no_capacity',"
              "'days':2}}",
    [ENTRY] = "{'kind':'feedback.entry','id':'" ID "','origin':'northside-refuge','version':1,"
              "'body':{'week':'2026-W47','source_role':'peer_designer',"
              "'themes':['waiting_times','communication'],"
              "'summary':'People waited three weeks for a first call back and did not know "
              "whether the referral had arrived.',"
              "'easy_read':'You waited too long for us to call you.','level':'co_production'}}",
    [RESPONSE] = "{'kind':'feedback.response','id':'" ID "','origin':'northside-refuge',"
                 "'version':1,'body':{'entry':'" SVC_B "','week':'2026-W50',"
                 "'status':'changed','what_changed':'We now call back within two working days "
                 "and text when a referral arrives.'}}",
};

typedef struct {
    const char *key;   /* "version", "body.needs" */
    const char *value; /* JSON with ' for "; "@long:N" N plain bytes, "@utf8:N" N times é;
                          NULL removes the member */
} edit_t;

typedef struct {
    const char *name;
    int base;
    edit_t edits[5];
    const char *errors[8]; /* "path code"; none: the record is valid */
} row_t;

static char *unquote(const char *s)
{
    char *t = strdup(s);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    return t;
}

static json_t *load_q(const char *text)
{
    char *t = unquote(text);
    json_error_t err;
    json_t *v = json_loads(t, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (!v)
        fail_msg("bad test JSON (%s): %s", err.text, t);
    free(t);
    return v;
}

static json_t *edit_value(const char *value)
{
    size_t n;
    if (sscanf(value, "@long:%zu", &n) == 1) {
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            s[i] = "We changed it "[i % 14];
        json_t *v = json_stringn(s, n);
        free(s);
        return v;
    }
    if (sscanf(value, "@utf8:%zu", &n) == 1) {
        char *s = malloc(2 * n + 1);
        for (size_t i = 0; i < n; i++)
            memcpy(s + 2 * i, "\xc3\xa9", 2);
        json_t *v = json_stringn(s, 2 * n);
        free(s);
        return v;
    }
    return load_q(value);
}

/* Apply "a.b.c" = value to doc (the parents must exist). */
static void apply_edit(json_t *doc, const edit_t *ed)
{
    char key[64];
    snprintf(key, sizeof(key), "%s", ed->key);
    json_t *obj = doc;
    char *name = key, *dot;
    while ((dot = strchr(name, '.'))) {
        *dot = '\0';
        obj = json_object_get(obj, name);
        assert_non_null(obj);
        name = dot + 1;
    }
    if (ed->value)
        json_object_set_new(obj, name, edit_value(ed->value));
    else
        json_object_del(obj, name);
}

/* Strings the messages must not contain: every string an edit put in. */
static void assert_no_echo(const tr_verrors_t *errs, const json_t *v, const char *row)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) assert_no_echo(errs, item, row);
        return;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item) assert_no_echo(errs, item, row);
        return;
    }
    if (!json_is_string(v) || json_string_length(v) < 4)
        return;
    for (size_t i = 0; i < errs->n; i++)
        if (strstr(errs->items[i].message, json_string_value(v)))
            fail_msg("%s: message \"%s\" echoes the value", row, errs->items[i].message);
}

/* Did any error land on the member at key ("body.needs"), or on an unnamed one? */
static bool errored(const tr_verrors_t *errs, const char *key)
{
    char path[80];
    snprintf(path, sizeof(path), "$.%s", key);
    size_t n = strlen(path);
    for (size_t i = 0; i < errs->n; i++) {
        const char *p = errs->items[i].path;
        if ((strncmp(p, path, n) == 0 && (p[n] == '\0' || p[n] == '[')) || strstr(p, ".?"))
            return true;
    }
    return false;
}

static void dump_errors(const char *row, const tr_verrors_t *errs)
{
    for (size_t i = 0; i < errs->n; i++)
        print_message("  %s: %s %s (%s)\n", row, errs->items[i].path, errs->items[i].code,
                      errs->items[i].message);
}

static void run_rows(const row_t *rows, size_t n)
{
    for (size_t r = 0; r < n; r++) {
        const row_t *row = &rows[r];
        json_t *doc = load_q(bases[row->base]);
        for (size_t k = 0; k < 5 && row->edits[k].key; k++)
            apply_edit(doc, &row->edits[k]);

        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        int rc = tr_record_validate(doc, &rec, &errs);

        size_t want = 0;
        while (want < 8 && row->errors[want])
            want++;
        if (want == 0 && rc != 0) {
            dump_errors(row->name, &errs);
            fail_msg("%s: refused, want valid", row->name);
        }
        if (want && rc != TR_E_INVAL)
            fail_msg("%s: accepted, want %zu errors", row->name, want);
        for (size_t i = 0; i < want; i++) {
            bool found = false;
            for (size_t j = 0; j < errs.n && !found; j++) {
                char got[192];
                snprintf(got, sizeof(got), "%s %s", errs.items[j].path, errs.items[j].code);
                found = strcmp(got, row->errors[i]) == 0;
            }
            if (!found) {
                dump_errors(row->name, &errs);
                fail_msg("%s: no error \"%s\"", row->name, row->errors[i]);
            }
        }
        if (errs.n != want) {
            dump_errors(row->name, &errs);
            fail_msg("%s: %zu errors, want %zu", row->name, errs.n, want);
        }
        for (size_t i = 0; i < errs.n; i++) {
            assert_true(strlen(errs.items[i].message) > 0);
            assert_true(strncmp(errs.items[i].path, "$", 1) == 0);
        }
        /* The value of every edited member that drew an error must not come back. */
        for (size_t k = 0; k < 5 && row->edits[k].key; k++) {
            const edit_t *ed = &row->edits[k];
            if (!ed->value || ed->value[0] == '@' || !errored(&errs, ed->key))
                continue;
            json_t *v = load_q(ed->value);
            assert_no_echo(&errs, v, row->name);
            json_decref(v);
        }
        if (rc == 0) {
            /* A valid record is handed back filled in and holding the document. */
            assert_int_equal(rec.kind, (tr_kind_t)(row->base + 1)); /* after directory.service */
            assert_string_equal(rec.id, json_string_value(json_object_get(doc, "id")));
            assert_string_equal(rec.origin, json_string_value(json_object_get(doc, "origin")));
            assert_ptr_equal(rec.doc, doc);
            assert_ptr_equal(rec.body, json_object_get(doc, "body"));
            tr_record_clear(&rec);
        } else {
            assert_null(rec.doc);
        }
        tr_verrors_free(&errs);
        json_decref(doc);
    }
}

#define ROWS(t) run_rows(t, sizeof(t) / sizeof(t[0]))

/* --- the envelope ------------------------------------------------------ */

static const row_t envelope_rows[] = {
    {"signer and sig may be present", EVENT, {{NULL}}, {NULL}},
    {"a high version", REFERRAL, {{"version", "9007199254740991"}}, {NULL}},
    {"uppercase uuid", REFERRAL, {{"id", "'6F1C2D3E-4A5B-4C6D-8E7F-0A1B2C3D4E5F'"}}, {"$.id uuid"}},
    {"not a uuid", REFERRAL, {{"id", "'referral-0001'"}}, {"$.id uuid"}},
    {"uuid without dashes",
     REFERRAL,
     {{"id", "'6f1c2d3e4a5b4c6d8e7f0a1b2c3d4e5f'"}},
     {"$.id uuid"}},
    {"id missing", REFERRAL, {{"id", NULL}}, {"$.id required"}},
    {"id a number", REFERRAL, {{"id", "12"}}, {"$.id type"}},
    {"version 0", REFERRAL, {{"version", "0"}}, {"$.version range"}},
    {"version negative", REFERRAL, {{"version", "-3"}}, {"$.version range"}},
    {"version past 2^53-1", REFERRAL, {{"version", "9007199254740992"}}, {"$.version range"}},
    {"version a real", REFERRAL, {{"version", "1.0"}}, {"$.version type"}},
    {"version in exponent form", REFERRAL, {{"version", "1e0"}}, {"$.version type"}},
    {"version a string", REFERRAL, {{"version", "'1'"}}, {"$.version type"}},
    {"version missing", REFERRAL, {{"version", NULL}}, {"$.version required"}},
    {"unknown kind", REFERRAL, {{"kind", "'pathway.thing'"}}, {"$.kind enum"}},
    {"kind missing", REFERRAL, {{"kind", NULL}}, {"$.kind required"}},
    {"origin with capitals and spaces",
     REFERRAL,
     {{"origin", "'Northside Refuge'"}},
     {"$.origin organisation"}},
    {"origin too long",
     REFERRAL,
     {{"origin", "'a123456789a123456789a123456789a123456789a123456789a123456789abcd'"}},
     {"$.origin too_long"}},
    {"origin empty", REFERRAL, {{"origin", "''"}}, {"$.origin required"}},
    {"unknown envelope field", REFERRAL, {{"hops", "3"}}, {"$.hops unknown_field"}},
    {"body missing", REFERRAL, {{"body", NULL}}, {"$.body required"}},
    {"body an array", REFERRAL, {{"body", "[]"}}, {"$.body type"}},
    {"sig a number", EVENT, {{"sig", "7"}}, {"$.sig type"}},
    /* The origin's sharing decision and the signing time (set by its node). */
    {"audience: the consortium", EVENT, {{"audience", "'consortium'"}}, {NULL}},
    {"audience: two organisations in order",
     EVENT,
     {{"audience", "['a-org','northside-refuge']"}, {"signed_at", "1764806400"}},
     {NULL}},
    {"audience: nobody else", EVENT, {{"audience", "[]"}}, {NULL}},
    {"audience: another word", EVENT, {{"audience", "'everyone'"}}, {"$.audience enum"}},
    {"audience: a number", EVENT, {{"audience", "3"}}, {"$.audience type"}},
    {"audience: out of order",
     EVENT,
     {{"audience", "['northside-refuge','a-org']"}},
     {"$.audience[1] order"}},
    {"audience: twice the same",
     EVENT,
     {{"audience", "['a-org','a-org']"}},
     {"$.audience[1] order"}},
    {"audience: not an organisation id",
     EVENT,
     {{"audience", "['A Org']"}},
     {"$.audience[0] organisation"}},
    {"audience: naming the origin",
     EVENT,
     {{"audience", "['eastgate-rape-crisis']"}},
     {"$.audience[0] origin"}},
    {"signed_at a string", EVENT, {{"signed_at", "'2026-12-04'"}}, {"$.signed_at type"}},
    {"signed_at negative", EVENT, {{"signed_at", "-1"}}, {"$.signed_at range"}},
    /* The body is checked even when the envelope is wrong: every error at once. */
    {"bad envelope and bad body",
     REFERRAL,
     {{"id", "'x'"}, {"version", "0"}, {"body.risk", "'extreme'"}},
     {"$.id uuid", "$.version range", "$.body.risk enum"}},
};

static void test_envelope(void **state)
{
    ROWS(envelope_rows);
}

static void test_not_an_object(void **state)
{
    static const char *docs[] = {"[]", "'pathway.referral'", "null", "1"};
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *doc = load_q(docs[i]);
        tr_record_t rec;
        tr_verrors_t errs;
        tr_verrors_init(&errs);
        assert_int_equal(tr_record_validate(doc, &rec, &errs), TR_E_INVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.items[0].path, "$");
        assert_string_equal(errs.items[0].code, "type");
        tr_verrors_free(&errs);
        json_decref(doc);
    }
}

/* --- pathway.referral -------------------------------------------------- */

static const row_t referral_rows[] = {
    {"good", REFERRAL, {{NULL}}, {NULL}},
    {"district SW1A", REFERRAL, {{"body.district", "'SW1A'"}}, {NULL}},
    {"district M1", REFERRAL, {{"body.district", "'M1'"}}, {NULL}},
    {"district E08000035 (Leeds)", REFERRAL, {{"body.district", "'E08000035'"}}, {NULL}},
    {"district W06000015 (Cardiff)", REFERRAL, {{"body.district", "'W06000015'"}}, {NULL}},
    {"district S12000036 (Edinburgh)", REFERRAL, {{"body.district", "'S12000036'"}}, {NULL}},
    {"district N09000003 (Belfast)", REFERRAL, {{"body.district", "'N09000003'"}}, {NULL}},
    {"district E09000033 (Westminster)", REFERRAL, {{"body.district", "'E09000033'"}}, {NULL}},
    {"every need",
     REFERRAL,
     {{"body.needs", "['refuge','housing','legal','advocacy','counselling','children','finance',"
                     "'immigration','health','substance_use','sexual_violence','peer_support',"
                     "'helpline','mental_health','disability','employment']"}},
     {NULL}},
    {"every route, risk and age band at the edges",
     REFERRAL,
     {{"body.route", "'marac'"}, {"body.risk", "'unknown'"}, {"body.age_band", "'65_plus'"}},
     {NULL}},
    {"age band 16_17", REFERRAL, {{"body.age_band", "'16_17'"}}, {NULL}},

    {"unknown field", REFERRAL, {{"body.name", "'Jane Doe'"}}, {"$.body.name unknown_field"}},
    {"unknown field with an odd name",
     REFERRAL,
     {{"body.date of birth", "'1987-03-14'"}},
     {"$.body.? unknown_field"}},
    {"from_service missing",
     REFERRAL,
     {{"body.from_service", NULL}},
     {"$.body.from_service required"}},
    {"to_service missing", REFERRAL, {{"body.to_service", NULL}}, {"$.body.to_service required"}},
    {"to_org missing", REFERRAL, {{"body.to_org", NULL}}, {"$.body.to_org required"}},
    {"to_org not an organisation id",
     REFERRAL,
     {{"body.to_org", "'Eastgate Rape Crisis'"}},
     {"$.body.to_org organisation"}},
    {"week missing", REFERRAL, {{"body.week", NULL}}, {"$.body.week required"}},
    {"needs missing", REFERRAL, {{"body.needs", NULL}}, {"$.body.needs required"}},
    {"risk missing", REFERRAL, {{"body.risk", NULL}}, {"$.body.risk required"}},
    {"age_band missing", REFERRAL, {{"body.age_band", NULL}}, {"$.body.age_band required"}},
    {"district missing", REFERRAL, {{"body.district", NULL}}, {"$.body.district required"}},
    {"route missing", REFERRAL, {{"body.route", NULL}}, {"$.body.route required"}},
    {"same service both ends",
     REFERRAL,
     {{"body.to_service", "'" SVC_A "'"}},
     {"$.body.to_service same_service"}},
    {"service id not a uuid",
     REFERRAL,
     {{"body.from_service", "'northside-refuge-ida'"}},
     {"$.body.from_service uuid"}},
    {"week without W", REFERRAL, {{"body.week", "'2026-47'"}}, {"$.body.week iso_week"}},
    {"week 54", REFERRAL, {{"body.week", "'2026-W54'"}}, {"$.body.week iso_week"}},
    {"week a date", REFERRAL, {{"body.week", "'2026-11-16'"}}, {"$.body.week iso_week"}},
    {"week a number", REFERRAL, {{"body.week", "202647"}}, {"$.body.week type"}},
    {"needs a string", REFERRAL, {{"body.needs", "'refuge'"}}, {"$.body.needs type"}},
    {"needs empty", REFERRAL, {{"body.needs", "[]"}}, {"$.body.needs items"}},
    {"needs unknown code",
     REFERRAL,
     {{"body.needs", "['refuge','bogus','legal','haircut']"}},
     {"$.body.needs[1] enum", "$.body.needs[3] enum"}},
    {"needs repeated",
     REFERRAL,
     {{"body.needs", "['refuge','legal','refuge']"}},
     {"$.body.needs[2] duplicate"}},
    {"needs a number inside",
     REFERRAL,
     {{"body.needs", "['refuge',1.5]"}},
     {"$.body.needs[1] enum"}},
    {"risk not in list", REFERRAL, {{"body.risk", "'very_high'"}}, {"$.body.risk enum"}},
    {"risk upper case", REFERRAL, {{"body.risk", "'HIGH'"}}, {"$.body.risk enum"}},
    {"risk a real", REFERRAL, {{"body.risk", "2.0"}}, {"$.body.risk type"}},
    {"age as a number", REFERRAL, {{"body.age_band", "30"}}, {"$.body.age_band type"}},
    {"age band not in list", REFERRAL, {{"body.age_band", "'30_39'"}}, {"$.body.age_band enum"}},
    {"route not in list", REFERRAL, {{"body.route", "'friend'"}}, {"$.body.route enum"}},
    {"route null", REFERRAL, {{"body.route", "null"}}, {"$.body.route type"}},
    {"full postcode",
     REFERRAL,
     {{"body.district", "'LS6 1AA'"}},
     {"$.body.district personal_data"}},
    {"full postcode, lower case, no space",
     REFERRAL,
     {{"body.district", "'sw1a1aa'"}},
     {"$.body.district personal_data"}},
    {"district in lower case", REFERRAL, {{"body.district", "'ls6'"}}, {"$.body.district format"}},
    {"postcode sector is finer than a district",
     REFERRAL,
     {{"body.district", "'LS6 1'"}},
     {"$.body.district district"}},
    {"a town name", REFERRAL, {{"body.district", "'Leeds'"}}, {"$.body.district district"}},
    {"output-area GSS code",
     REFERRAL,
     {{"body.district", "'E00000001'"}},
     {"$.body.district district"}},
    {"GSS code of the wrong country",
     REFERRAL,
     {{"body.district", "'W08000035'"}},
     {"$.body.district district"}},
    {"district too long",
     REFERRAL,
     {{"body.district", "'LS6 1AA LEEDS WEST'"}},
     {"$.body.district too_long"}},
    {"district a number", REFERRAL, {{"body.district", "6"}}, {"$.body.district type"}},
    {"many errors at once",
     REFERRAL,
     {{"body.risk", "'extreme'"},
      {"body.route", "7"},
      {"body.week", "'last week'"},
      {"body.case_ref", "'CR-2231'"},
      {"body.needs", "['refuge','refuge','x']"}},
     {"$.body.risk enum", "$.body.route type", "$.body.week iso_week",
      "$.body.case_ref unknown_field", "$.body.needs[1] duplicate", "$.body.needs[2] enum"}},
};

static void test_referral(void **state)
{
    ROWS(referral_rows);
}

/* --- pathway.event ----------------------------------------------------- */

static const row_t event_rows[] = {
    {"declined with a reason", EVENT, {{NULL}}, {NULL}},
    {"received, no reason", EVENT, {{"body.status", "'received'"}, {"body.reason", NULL}}, {NULL}},
    {"accepted, reason null",
     EVENT,
     {{"body.status", "'accepted'"}, {"body.reason", "null"}},
     {NULL}},
    {"sent at day 0",
     EVENT,
     {{"body.status", "'sent'"}, {"body.reason", NULL}, {"body.days", "0"}},
     {NULL}},
    {"contacted at the last day",
     EVENT,
     {{"body.status", "'contacted'"}, {"body.reason", NULL}, {"body.days", "3650"}},
     {NULL}},
    {"closed with an outcome",
     EVENT,
     {{"body.status", "'closed'"}, {"body.reason", "'safety_achieved'"}},
     {NULL}},
    {"withdrawn as a duplicate",
     EVENT,
     {{"body.status", "'withdrawn'"}, {"body.reason", "'duplicate'"}},
     {NULL}},
    {"declined: no recourse to public funds", EVENT, {{"body.reason", "'no_recourse'"}}, {NULL}},

    {"unknown field", EVENT, {{"body.note", "'called her twice'"}}, {"$.body.note unknown_field"}},
    {"referral missing", EVENT, {{"body.referral", NULL}}, {"$.body.referral required"}},
    {"referral not a uuid", EVENT, {{"body.referral", "'REF-2231'"}}, {"$.body.referral uuid"}},
    {"status missing", EVENT, {{"body.status", NULL}}, {"$.body.status required"}},
    {"status not in list",
     EVENT,
     {{"body.status", "'rejected'"}, {"body.reason", NULL}},
     {"$.body.status enum"}},
    {"days missing", EVENT, {{"body.days", NULL}}, {"$.body.days required"}},
    {"days negative", EVENT, {{"body.days", "-1"}}, {"$.body.days range"}},
    {"days past ten years", EVENT, {{"body.days", "3651"}}, {"$.body.days range"}},
    {"days a real", EVENT, {{"body.days", "2.0"}}, {"$.body.days type"}},
    {"days a string", EVENT, {{"body.days", "'2'"}}, {"$.body.days type"}},
    {"declined without a reason", EVENT, {{"body.reason", NULL}}, {"$.body.reason required"}},
    {"declined, reason null", EVENT, {{"body.reason", "null"}}, {"$.body.reason type"}},
    {"declined with a closing reason",
     EVENT,
     {{"body.reason", "'moved_on'"}},
     {"$.body.reason enum"}},
    {"closed with a declining reason",
     EVENT,
     {{"body.status", "'closed'"}, {"body.reason", "'no_capacity'"}},
     {"$.body.reason enum"}},
    {"withdrawn without a reason",
     EVENT,
     {{"body.status", "'withdrawn'"}, {"body.reason", NULL}},
     {"$.body.reason required"}},
    {"accepted with a reason",
     EVENT,
     {{"body.status", "'accepted'"}, {"body.reason", "'no_capacity'"}},
     {"$.body.reason not_applicable"}},
    {"received with an empty reason",
     EVENT,
     {{"body.status", "'received'"}, {"body.reason", "''"}},
     {"$.body.reason not_applicable"}},
    {"contacted with a numeric reason",
     EVENT,
     {{"body.status", "'contacted'"}, {"body.reason", "3"}},
     {"$.body.reason type"}},
    {"unknown status and a known reason",
     EVENT,
     {{"body.status", "'paused'"}, {"body.reason", "'no_capacity'"}},
     {"$.body.status enum"}},
    {"unknown status and unknown reason",
     EVENT,
     {{"body.status", "'paused'"}, {"body.reason", "'holiday'"}},
     {"$.body.status enum", "$.body.reason enum"}},
    {"reason as free text",
     EVENT,
     {{"body.reason", "'She moved in with her sister in Leeds'"}},
     {"$.body.reason enum"}},
    {"many errors at once",
     EVENT,
     {{"body.referral", "7"},
      {"body.days", "-5"},
      {"body.reason", "'other'"},
      {"body.status", "'accepted'"},
      {"body.extra", "true"}},
     {"$.body.referral type", "$.body.days range", "$.body.reason not_applicable",
      "$.body.extra unknown_field"}},
};

static void test_event(void **state)
{
    ROWS(event_rows);
}

/* --- feedback.entry ---------------------------------------------------- */

static const row_t entry_rows[] = {
    {"good", ENTRY, {{NULL}}, {NULL}},
    {"staff consultation with every theme",
     ENTRY,
     {{"body.source_role", "'staff'"},
      {"body.level", "'consultation'"},
      {"body.themes", "['access','waiting_times','communication','safety','staff_attitude',"
                      "'accessibility','information','environment','children','language',"
                      "'digital','confidentiality','involvement','other']"}},
     {NULL}},
    {"multiline Welsh text with numbers that are not personal data",
     ENTRY,
     {{"body.summary", "'Diolch \\u2014 the group met in week 12 at 10:30.\\nTea cost \\u00a32; "
                       "15 people came, 3 with children aged 4 to 9.'"},
      {"body.easy_read", "'Thank you.\\tWe met 6 times.'"},
      {"body.level", "'co_design'"}},
     {NULL}},
    {"summary at its limit", ENTRY, {{"body.summary", "@long:1000"}}, {NULL}},
    {"easy_read at its limit in two-byte characters",
     ENTRY,
     {{"body.easy_read", "@utf8:300"}},
     {NULL}},

    {"unknown field", ENTRY, {{"body.name", "'Amira'"}}, {"$.body.name unknown_field"}},
    {"week missing", ENTRY, {{"body.week", NULL}}, {"$.body.week required"}},
    {"source_role missing", ENTRY, {{"body.source_role", NULL}}, {"$.body.source_role required"}},
    {"themes missing", ENTRY, {{"body.themes", NULL}}, {"$.body.themes required"}},
    {"summary missing", ENTRY, {{"body.summary", NULL}}, {"$.body.summary required"}},
    {"easy_read missing", ENTRY, {{"body.easy_read", NULL}}, {"$.body.easy_read required"}},
    {"level missing", ENTRY, {{"body.level", NULL}}, {"$.body.level required"}},
    {"summary empty", ENTRY, {{"body.summary", "''"}}, {"$.body.summary required"}},
    {"summary too long", ENTRY, {{"body.summary", "@long:1001"}}, {"$.body.summary too_long"}},
    {"easy_read too long", ENTRY, {{"body.easy_read", "@long:601"}}, {"$.body.easy_read too_long"}},
    {"easy_read too long in bytes, not characters",
     ENTRY,
     {{"body.easy_read", "@utf8:301"}},
     {"$.body.easy_read too_long"}},
    {"summary with a control character",
     ENTRY,
     {{"body.summary", "'line one\\u0007line two'"}},
     {"$.body.summary control_character"}},
    {"summary a number", ENTRY, {{"body.summary", "12"}}, {"$.body.summary type"}},
    {"source_role not in list",
     ENTRY,
     {{"body.source_role", "'survivor'"}},
     {"$.body.source_role enum"}},
    {"level not in list", ENTRY, {{"body.level", "'co-production'"}}, {"$.body.level enum"}},
    {"themes empty", ENTRY, {{"body.themes", "[]"}}, {"$.body.themes items"}},
    {"themes unknown and repeated",
     ENTRY,
     {{"body.themes", "['safety','parking','safety']"}},
     {"$.body.themes[1] enum", "$.body.themes[2] duplicate"}},
    {"week a real", ENTRY, {{"body.week", "2026.47"}}, {"$.body.week type"}},
    {"many errors at once",
     ENTRY,
     {{"body.level", "'full'"},
      {"body.summary", "''"},
      {"body.easy_read", "@long:700"},
      {"body.themes", "'safety'"},
      {"body.week", NULL}},
     {"$.body.level enum", "$.body.summary required", "$.body.easy_read too_long",
      "$.body.themes type", "$.body.week required"}},
};

static void test_entry(void **state)
{
    ROWS(entry_rows);
}

/* --- feedback.response ------------------------------------------------- */

static const row_t response_rows[] = {
    {"changed, with what changed", RESPONSE, {{NULL}}, {NULL}},
    {"changed in part: what changed and why not the rest",
     RESPONSE,
     {{"body.why_not", "'Evening calls need funding we do not have this year.'"}},
     {NULL}},
    {"cannot change, with why not",
     RESPONSE,
     {{"body.status", "'cannot_change'"},
      {"body.what_changed", NULL},
      {"body.why_not", "'The refuge address must stay secret, so visits cannot happen there.'"}},
     {NULL}},
    {"heard, nothing else",
     RESPONSE,
     {{"body.status", "'heard'"}, {"body.what_changed", NULL}},
     {NULL}},
    {"heard, answers null",
     RESPONSE,
     {{"body.status", "'heard'"}, {"body.what_changed", "null"}, {"body.why_not", "null"}},
     {NULL}},
    {"agreed, with what will change",
     RESPONSE,
     {{"body.status", "'agreed'"}, {"body.what_changed", "'A text message on arrival.'"}},
     {NULL}},
    {"in progress without detail",
     RESPONSE,
     {{"body.status", "'in_progress'"}, {"body.what_changed", NULL}},
     {NULL}},

    {"unknown field",
     RESPONSE,
     {{"body.by", "'Sam, service manager'"}},
     {"$.body.by unknown_field"}},
    {"entry missing", RESPONSE, {{"body.entry", NULL}}, {"$.body.entry required"}},
    {"entry not a uuid", RESPONSE, {{"body.entry", "'feedback-12'"}}, {"$.body.entry uuid"}},
    {"week missing", RESPONSE, {{"body.week", NULL}}, {"$.body.week required"}},
    {"status missing", RESPONSE, {{"body.status", NULL}}, {"$.body.status required"}},
    {"status not in list", RESPONSE, {{"body.status", "'done'"}}, {"$.body.status enum"}},
    {"changed without what changed",
     RESPONSE,
     {{"body.what_changed", NULL}},
     {"$.body.what_changed required"}},
    {"changed, what changed null",
     RESPONSE,
     {{"body.what_changed", "null"}},
     {"$.body.what_changed required"}},
    {"changed, what changed empty",
     RESPONSE,
     {{"body.what_changed", "''"}},
     {"$.body.what_changed required"}},
    {"cannot change without why not",
     RESPONSE,
     {{"body.status", "'cannot_change'"}, {"body.what_changed", NULL}},
     {"$.body.why_not required"}},
    {"cannot change, why not empty",
     RESPONSE,
     {{"body.status", "'cannot_change'"}, {"body.what_changed", NULL}, {"body.why_not", "''"}},
     {"$.body.why_not required"}},
    {"cannot change yet says what changed",
     RESPONSE,
     {{"body.status", "'cannot_change'"}, {"body.why_not", "'No funding this year.'"}},
     {"$.body.what_changed not_applicable"}},
    {"heard with why not",
     RESPONSE,
     {{"body.status", "'heard'"}, {"body.what_changed", NULL}, {"body.why_not", "'Because.'"}},
     {"$.body.why_not not_applicable"}},
    {"heard with what changed",
     RESPONSE,
     {{"body.status", "'heard'"}},
     {"$.body.what_changed not_applicable"}},
    {"in progress with why not",
     RESPONSE,
     {{"body.status", "'in_progress'"}, {"body.why_not", "'Part of it.'"}},
     {"$.body.why_not not_applicable"}},
    {"what changed too long",
     RESPONSE,
     {{"body.what_changed", "@long:1001"}},
     {"$.body.what_changed too_long"}},
    {"why not a number",
     RESPONSE,
     {{"body.status", "'cannot_change'"}, {"body.what_changed", NULL}, {"body.why_not", "5"}},
     {"$.body.why_not type"}},
    {"unknown status: the answers are still checked",
     RESPONSE,
     {{"body.status", "'maybe'"}, {"body.why_not", "42"}, {"body.what_changed", "@long:2000"}},
     {"$.body.status enum", "$.body.why_not type", "$.body.what_changed too_long"}},
};

static void test_response(void **state)
{
    ROWS(response_rows);
}

/* --- personal data in free text ---------------------------------------- */

static const row_t pii_rows[] = {
    {"email in summary",
     ENTRY,
     {{"body.summary", "'She asked us to write to jane.doe@example.com about it.'"}},
     {"$.body.summary personal_data"}},
    {"mobile number in easy_read",
     ENTRY,
     {{"body.easy_read", "'Call me on 07700 900123 please.'"}},
     {"$.body.easy_read personal_data"}},
    {"+44 number in summary",
     ENTRY,
     {{"body.summary", "'Her number is +44 113 496 0000.'"}},
     {"$.body.summary personal_data"}},
    {"NHS number in summary",
     ENTRY,
     {{"body.summary", "'NHS number 943 476 5919 was on the form.'"}},
     {"$.body.summary personal_data"}},
    {"NI number in easy_read",
     ENTRY,
     {{"body.easy_read", "'My NI number is AB 12 34 56 C.'"}},
     {"$.body.easy_read personal_data"}},
    {"date of birth in summary",
     ENTRY,
     {{"body.summary", "'Born 14/03/1987, she came with two children.'"}},
     {"$.body.summary personal_data"}},
    {"full postcode in summary",
     ENTRY,
     {{"body.summary", "'She lives at LS6 1AA near the park.'"}},
     {"$.body.summary personal_data"}},
    {"email in what_changed",
     RESPONSE,
     {{"body.what_changed", "'Write to manager@northside.example.org for the new leaflet.'"}},
     {"$.body.what_changed personal_data"}},
    {"phone number in why_not",
     RESPONSE,
     {{"body.status", "'cannot_change'"},
      {"body.what_changed", NULL},
      {"body.why_not", "'Ask Sam on 0113 496 0000 why.'"}},
     {"$.body.why_not personal_data"}},
    {"postcode in why_not beside a changed answer",
     RESPONSE,
     {{"body.why_not", "'The office at M1 1AE is too small.'"}},
     {"$.body.why_not personal_data"}},
    {"two fields with personal data",
     ENTRY,
     {{"body.summary", "'jane.doe@example.com'"}, {"body.easy_read", "'07700 900123'"}},
     {"$.body.summary personal_data", "$.body.easy_read personal_data"}},
    {"personal data and a bad status together",
     RESPONSE,
     {{"body.status", "'maybe'"}, {"body.what_changed", "'Email jane.doe@example.com'"}},
     {"$.body.status enum", "$.body.what_changed personal_data"}},
};

static void test_personal_data(void **state)
{
    ROWS(pii_rows);
}

/* The message of a personal_data error says what kind of data, not the data. */
static void test_personal_data_message(void **state)
{
    json_t *doc = load_q(bases[ENTRY]);
    json_object_set_new(json_object_get(doc, "body"), "summary",
                        json_string("Contact jane.doe@example.com"));
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    assert_int_equal(tr_record_validate(doc, &rec, &errs), TR_E_INVAL);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].code, "personal_data");
    assert_non_null(strstr(errs.items[0].message, tr_pii_name(TR_PII_EMAIL)));
    assert_null(strstr(errs.items[0].message, "jane"));
    assert_null(strstr(errs.items[0].message, "example.com"));
    tr_verrors_free(&errs);
    json_decref(doc);

    /* A full postcode as district is named as such. */
    doc = load_q(bases[REFERRAL]);
    json_object_set_new(json_object_get(doc, "body"), "district", json_string("LS6 1AA"));
    tr_verrors_init(&errs);
    assert_int_equal(tr_record_validate(doc, &rec, &errs), TR_E_INVAL);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.items[0].path, "$.body.district");
    assert_non_null(strstr(errs.items[0].message, "full postcode"));
    assert_non_null(strstr(errs.items[0].message, "district"));
    assert_null(strstr(errs.items[0].message, "LS6"));
    tr_verrors_free(&errs);
    json_decref(doc);
}

/* --- the error list and the code lists --------------------------------- */

static void test_error_json(void **state)
{
    json_t *doc = load_q(bases[REFERRAL]);
    json_object_set_new(json_object_get(doc, "body"), "risk", json_string("x"));
    json_object_set_new(doc, "version", json_real(1.5));
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    assert_int_equal(tr_record_validate(doc, &rec, &errs), TR_E_INVAL);
    json_t *arr = tr_verrors_json(&errs);
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), 2);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        assert_int_equal(json_object_size(item), 3);
        assert_true(json_is_string(json_object_get(item, "path")));
        assert_true(json_is_string(json_object_get(item, "code")));
        assert_true(json_is_string(json_object_get(item, "message")));
    }
    json_t *want = load_q("[{'path':'$.version','code':'type'},{'path':'$.body.risk',"
                          "'code':'enum'}]");
    json_array_foreach(want, i, item)
    {
        bool found = false;
        size_t j;
        json_t *got;
        json_array_foreach(arr, j, got)
        {
            found |= json_equal(json_object_get(got, "path"), json_object_get(item, "path")) &&
                     json_equal(json_object_get(got, "code"), json_object_get(item, "code"));
        }
        assert_true(found);
    }
    json_decref(want);
    json_decref(arr);
    tr_verrors_free(&errs);
    json_decref(doc);
}

/* A hostile record cannot make the error list grow without bound. */
static void test_error_cap(void **state)
{
    json_t *doc = load_q(bases[REFERRAL]);
    json_t *body = json_object_get(doc, "body");
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "junk%d", i);
        json_object_set_new(body, key, json_true());
    }
    tr_record_t rec;
    tr_verrors_t errs;
    tr_verrors_init(&errs);
    assert_int_equal(tr_record_validate(doc, &rec, &errs), TR_E_INVAL);
    assert_int_equal(errs.n, 64);
    tr_verrors_free(&errs);
    json_decref(doc);
}

static void assert_list_sane(const char *const *list, size_t want_n)
{
    assert_non_null(list);
    size_t n = 0;
    for (; list[n]; n++) {
        assert_true(strlen(list[n]) > 0 &&
                    strspn(list[n], "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(list[n]));
        for (size_t j = 0; j < n; j++)
            assert_string_not_equal(list[n], list[j]);
    }
    assert_int_equal(n, want_n);
}

static void test_code_lists(void **state)
{
    assert_list_sane(tr_pathway_codes("needs"), 16);
    assert_list_sane(tr_pathway_codes("risk"), 4);
    assert_list_sane(tr_pathway_codes("age_band"), 9);
    assert_list_sane(tr_pathway_codes("route"), 6);
    assert_list_sane(tr_pathway_codes("status"), 7);
    assert_list_sane(tr_pathway_codes("reason.declined"), 9);
    assert_list_sane(tr_pathway_codes("reason.closed"), 6);
    assert_list_sane(tr_pathway_codes("reason.withdrawn"), 4);
    assert_null(tr_pathway_codes("reason.accepted"));
    assert_null(tr_pathway_codes("themes"));
    assert_list_sane(tr_feedback_codes("source_role"), 4);
    assert_list_sane(tr_feedback_codes("themes"), 14);
    assert_list_sane(tr_feedback_codes("level"), 3);
    assert_list_sane(tr_feedback_codes("status"), 5);
    assert_null(tr_feedback_codes("needs"));
    assert_list_sane(tr_directory_codes("for_genders"), 4);
    assert_list_sane(tr_directory_codes("risk_levels"), 3);
    assert_list_sane(tr_directory_codes("accessibility"), 14);
    assert_ptr_equal(tr_directory_codes("needs"), tr_pathway_codes("needs"));
    assert_string_equal(tr_directory_codes("status")[3], "temporarily closed");
    assert_null(tr_directory_codes("route"));

    /* The event statuses the validator accepts are the fold's, in its order. */
    const char *const *st = tr_pathway_codes("status");
    for (int i = 0; i < TR_REF_STATUS_COUNT_; i++)
        assert_string_equal(st[i], tr_ref_status_name((tr_ref_status_t)i));
}

static int setup(void **state)
{
    return tr_pii_init() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    tr_pii_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope),      cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_referral),      cmocka_unit_test(test_event),
        cmocka_unit_test(test_entry),         cmocka_unit_test(test_response),
        cmocka_unit_test(test_personal_data), cmocka_unit_test(test_personal_data_message),
        cmocka_unit_test(test_error_json),    cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_code_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
