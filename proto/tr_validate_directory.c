/* Validator for directory.service: an Open Referral UK service (HSDS 3.0 UK
 * profile, ../shared/oruk/schema-service.json) plus the "trellis" object.
 * Each object's fields are one static table; a refuge's address never passes. */
#include "tr_check.h"
#include "tr_org.h"
#include "tr_format.h"
#include "tr_pii.h"
#include "tr_record.h"

#include <stdio.h>
#include <string.h>

#define BODY "$.body"

/* Limits (docs/directory.md). A directory entry is read by people: a name is a
 * line, a description a few paragraphs. A drawn boundary is bigger, but a
 * detailed one belongs behind service_areas[].uri, not in every record. */
#define LINE_LEN 255
#define TEXT_LEN 4000
#define NOTE_LEN 1000
#define EXTENT_LEN 16000
#define URL_LEN 1000
#define EMAIL_LEN 254 /* RFC 5321's limit on a forward path */
#define PHONE_LEN 32
#define MAX_ITEMS 50
#define MAX_FIELDS 32

/* Free text in a directory entry may hold the service's own public contacts
 * (an email address or helpline number in a description is normal), but never
 * these: they only ever identify a person. Dates are not scanned here: a
 * service's text is full of them ("closed 25 December 2025") and a date alone
 * in a public service description identifies no one. */
#define DIR_PII (TR_PII_NHS | TR_PII_NINO)

typedef enum {
    T_UUID,
    T_LINE, /* one line of text, scanned for DIR_PII */
    T_TEXT, /* paragraphs, scanned for DIR_PII */
    T_RAW,  /* paragraphs not scanned: geometry, whose digit runs are not identifiers */
    T_URL,  /* the formats below are checked by the table `formats` */
    T_EMAIL,
    T_PHONE,
    T_DATE,
    T_DATETIME,
    T_TIME,
    T_BYDAY,
    T_BYMONTHDAY,
    T_LANG,
    T_COUNTRY,
    T_INT,
    T_BOOL,
    T_ENUM,
    T_CODES,  /* array of distinct codes */
    T_OBJECT, /* nested object with its own table */
    T_ARRAY,  /* array of such objects */
    T_CUSTOM, /* checked by the object's hook */
} ftype_t;

enum {
    REQ = 1 << 0,
    F_ID = 1 << 1,        /* an entity id: unique within the service */
    REF_SERVICE = 1 << 2, /* must be the service's (the record's) id */
    REF_PARENT = 1 << 3,  /* must be the id of the object this one hangs from */
};

typedef struct {
    tr_verrors_t *e;
    const char *service_id; /* the envelope's id */
    bool confidential;
    json_t *ids; /* entity ids seen so far, as a set */
} ctx_t;

typedef struct shape shape_t;

typedef struct {
    const char *name;
    ftype_t type;
    unsigned flags;
    size_t max; /* bytes for strings, items for arrays; 0: the type's default */
    const char *const *codes;
    const shape_t *shape;
    json_int_t lo, hi;
} field_t;

/* parent_id: the id of the enclosing object (NULL if it had none valid). */
typedef void (*hook_t)(ctx_t *c, json_t *obj, const char *path, const char *parent_id);

struct shape {
    const field_t *fields; /* ends with a NULL name */
    hook_t hook;           /* cross-field rules, after the fields */
};

/* Table rows, one line each. */
// clang-format off
#define F(n, t, fl, mx) {.name = n, .type = t, .flags = fl, .max = mx}
#define FE(n, fl, list) {.name = n, .type = T_ENUM, .flags = fl, .codes = list}
#define FC(n, fl, list) {.name = n, .type = T_CODES, .flags = fl, .codes = list}
#define FI(n, fl, l, h) {.name = n, .type = T_INT, .flags = fl, .lo = l, .hi = h}
#define FO(n, fl, s) {.name = n, .type = T_OBJECT, .flags = fl, .shape = s}
#define FA(n, fl, s) {.name = n, .type = T_ARRAY, .flags = fl, .max = MAX_ITEMS, .shape = s}
#define ID F("id", T_UUID, REQ | F_ID, 0)
#define END {.name = NULL}
// clang-format on

/* Per string type: the default byte limit, the format test, what to say. A
 * format's limit is a little above its own length, so that "United Kingdom"
 * for a country code hears what a country code is rather than "too long". */
static const struct {
    size_t max;
    bool (*ok)(const char *);
    const char *message;
} formats[] = {
    [T_UUID] = {TR_UUID_LEN, NULL, NULL},
    [T_LINE] = {LINE_LEN, NULL, NULL},
    [T_TEXT] = {TEXT_LEN, NULL, NULL},
    [T_RAW] = {EXTENT_LEN, NULL, NULL},
    [T_URL] = {URL_LEN, tr_is_url, "must be an absolute http or https URL"},
    [T_EMAIL] = {EMAIL_LEN, tr_is_email, "must be an email address like help@example.org.uk"},
    [T_PHONE] = {PHONE_LEN, tr_is_phone, "must be a phone number (digits, spaces, a leading +)"},
    [T_DATE] = {32, tr_is_date, "must be a date like 2025-11-20"},
    [T_DATETIME] = {40, tr_is_datetime, "must be an RFC 3339 date-time like 2025-11-20T09:30:00Z"},
    [T_TIME] = {18, tr_is_time, "must be a time of day like 09:30 or 09:30:00"},
    [T_BYDAY] = {64, tr_is_byday, "must be RFC 5545 weekdays like MO,TU or 1MO"},
    [T_BYMONTHDAY] = {128, tr_is_bymonthday, "must be days of the month like 1,15,-1"},
    [T_LANG] = {16, tr_is_language_code, "must be an ISO 639 language code like en or cy"},
    [T_COUNTRY] = {16, tr_is_country_code, "must be an ISO 3166 country code like GB"},
};

/* ---- code lists ------------------------------------------------------- */

static const char *const status_codes[] = {"active", "inactive", "defunct", "temporarily closed",
                                           NULL};
static const char *const location_types[] = {"physical", "postal", "virtual", NULL};
static const char *const freq_codes[] = {"WEEKLY", "MONTHLY", NULL};
/* HSDS 3.0's suggested phone types; textphone matters to Deaf callers. */
static const char *const phone_types[] = {"voice", "text",  "textphone", "fax",
                                          "cell",  "video", "pager",     NULL};
static const char *const extent_types[] = {"geojson", "topojson", "kml", "text", NULL};

/* trellis.for_genders: "all" stands alone (hook). Who a single-sex service
 * serves is the service's own eligibility policy, stated in its text. */
static const char *const gender_codes[] = {"women", "men", "non_binary", "all", NULL};

/* trellis.risk_levels: the DASH risk levels a service takes referrals at. */
static const char *const risk_codes[] = {"standard", "medium", "high", NULL};

/* trellis.accessibility: what a caseworker checks before referring someone. */
static const char *const access_codes[] = {"easy_read",
                                           "bsl",
                                           "interpreters",
                                           "text_relay",
                                           "hearing_loop",
                                           "large_print",
                                           "braille",
                                           "step_free",
                                           "wheelchair",
                                           "accessible_toilet",
                                           "learning_disability_support",
                                           "neurodiversity_support",
                                           "quiet_space",
                                           "assistance_dogs",
                                           NULL};

const char *const *tr_directory_codes(const char *field)
{
    static const struct {
        const char *name;
        const char *const *codes;
    } lists[] = {{"status", status_codes},
                 {"for_genders", gender_codes},
                 {"risk_levels", risk_codes},
                 {"accessibility", access_codes}};
    if (field && strcmp(field, "needs") == 0)
        return tr_pathway_codes("needs");
    for (size_t i = 0; field && i < sizeof(lists) / sizeof(lists[0]); i++)
        if (strcmp(field, lists[i].name) == 0)
            return lists[i].codes;
    return NULL;
}

/* ---- the generic walk ------------------------------------------------- */

static void check_shape(ctx_t *c, json_t *obj, const char *path, const shape_t *s,
                        const char *parent_id);

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

/* The object's own id if it is a valid UUID: children refer to it. */
static const char *own_id(json_t *obj)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    return id && tr_is_uuid(id) ? id : NULL;
}

static void check_uuid(ctx_t *c, json_t *obj, const char *path, const field_t *f, const char *p,
                       const char *parent_id)
{
    const char *v = tr_check_uuid(obj, f->name, path, f->flags & REQ, c->e);
    if (!v)
        return;
    if ((f->flags & F_ID) && json_object_get(c->ids, v))
        tr_verrors_add(c->e, p, "duplicate", "repeats the id of another object in this service");
    else if (f->flags & F_ID)
        json_object_set_new(c->ids, v, json_true());
    if ((f->flags & REF_SERVICE) && strcmp(v, c->service_id) != 0)
        tr_verrors_add(c->e, p, "id_mismatch", "must be this service's id (the record's id)");
    if ((f->flags & REF_PARENT) && parent_id && strcmp(v, parent_id) != 0)
        tr_verrors_add(c->e, p, "id_mismatch", "must be the id of the enclosing object");
}

static void check_array(ctx_t *c, json_t *obj, const field_t *f, const char *p, const char *id)
{
    json_t *arr = json_object_get(obj, f->name);
    if (!arr) {
        if (f->flags & REQ)
            tr_verrors_add(c->e, p, "required", "is required");
        return;
    }
    if (!json_is_array(arr)) {
        tr_verrors_add(c->e, p, "type", "must be an array");
        return;
    }
    if (json_array_size(arr) > f->max) {
        tr_verrors_add(c->e, p, "items", "must have at most %zu items", f->max);
        return;
    }
    char ip[128];
    for (size_t i = 0; i < json_array_size(arr); i++) {
        tr_path_index(ip, sizeof(ip), p, i);
        check_shape(c, json_array_get(arr, i), ip, f->shape, id);
    }
}

/* One line of text: tr_check_text's scan without its newlines. */
static void check_line(ctx_t *c, json_t *obj, const char *path, const char *key, size_t max,
                       bool req, const char *p)
{
    const char *s = tr_check_string(obj, key, path, max, req, c->e);
    tr_pii_kind_t found = s ? tr_pii_scan(s, strlen(s), DIR_PII) : TR_PII_NONE;
    if (found != TR_PII_NONE)
        tr_verrors_add(c->e, p, "personal_data",
                       "contains what looks like %s: personal data may not enter a shared record",
                       tr_pii_name(found));
}

static void check_field(ctx_t *c, json_t *obj, const char *path, const field_t *f,
                        const char *parent_id)
{
    bool req = f->flags & REQ;
    size_t max = f->max ? f->max : f->type <= T_COUNTRY ? formats[f->type].max : 0;
    char p[128];
    tr_path_member(p, sizeof(p), path, f->name);
    const char *s;
    switch (f->type) {
    case T_UUID:
        check_uuid(c, obj, path, f, p, parent_id);
        break;
    case T_LINE:
        check_line(c, obj, path, f->name, max, req, p);
        break;
    case T_TEXT:
        tr_check_text(obj, f->name, path, max, req, DIR_PII, c->e);
        break;
    case T_RAW:
        tr_check_text(obj, f->name, path, max, req, 0, c->e);
        break;
    case T_INT:
        tr_check_int(obj, f->name, path, f->lo, f->hi, req, NULL, c->e);
        break;
    case T_BOOL:
        tr_check_bool(obj, f->name, path, req, NULL, c->e);
        break;
    case T_ENUM:
        tr_check_enum(obj, f->name, path, f->codes, req, c->e);
        break;
    case T_CODES:
        tr_check_enum_array(obj, f->name, path, f->codes, 1, count(f->codes), req, c->e);
        break;
    case T_OBJECT:
        if (json_object_get(obj, f->name))
            check_shape(c, json_object_get(obj, f->name), p, f->shape, own_id(obj));
        else if (req)
            tr_verrors_add(c->e, p, "required", "is required");
        break;
    case T_ARRAY:
        check_array(c, obj, f, p, own_id(obj));
        break;
    case T_CUSTOM:
        break;
    default: /* the string formats */
        s = tr_check_string(obj, f->name, path, max, req, c->e);
        if (s && !formats[f->type].ok(s))
            tr_verrors_add(c->e, p, "format", "%s", formats[f->type].message);
        break;
    }
}

static void check_shape(ctx_t *c, json_t *obj, const char *path, const shape_t *s,
                        const char *parent_id)
{
    const char *names[MAX_FIELDS + 1];
    size_t n = 0;
    for (const field_t *f = s->fields; f->name && n < MAX_FIELDS; f++)
        names[n++] = f->name;
    names[n] = NULL;
    /* Required members are reported by the member checks, once each. */
    if (!tr_check_object(obj, path, names, NULL, c->e))
        return;
    for (const field_t *f = s->fields; f->name; f++)
        check_field(c, obj, path, f, parent_id);
    if (s->hook)
        s->hook(c, obj, path, parent_id);
}

static void add_at(ctx_t *c, const char *path, const char *key, const char *code,
                   const char *message)
{
    char p[128];
    tr_path_member(p, sizeof(p), path, key);
    tr_verrors_add(c->e, p, code, "%s", message);
}

#define AREA_ONLY "a confidential service gives its area only: "

/* ---- shapes, innermost first ------------------------------------------ */

static const field_t taxonomy_term_fields[] = {
    /* Not F_ID: the same term is rightly attached to several objects. */
    F("id", T_UUID, REQ, 0),
    F("name", T_LINE, REQ, 0),
    F("description", T_TEXT, REQ, NOTE_LEN),
    F("parent_id", T_UUID, 0, 0),
    F("taxonomy", T_LINE, 0, 0),
    F("taxonomy_id", T_UUID, 0, 0),
    F("term_uri", T_URL, 0, 0),
    F("term", T_LINE, 0, 0),
    END};
static const shape_t taxonomy_term_shape = {taxonomy_term_fields, NULL};

static void attribute_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    const char *ref = json_string_value(json_object_get(obj, "taxonomy_term_id"));
    const char *term = own_id(json_object_get(obj, "taxonomy_term"));
    if (ref && term && tr_is_uuid(ref) && strcmp(ref, term) != 0)
        add_at(c, path, "taxonomy_term_id", "id_mismatch", "must be the id of taxonomy_term");
}

/* An attribute carries its term: a record is read alone, with no term table. */
static const field_t attribute_fields[] = {ID,
                                           F("link_id", T_UUID, REF_PARENT, 0),
                                           F("taxonomy_term_id", T_UUID, 0, 0),
                                           F("link_type", T_LINE, 0, 0),
                                           FO("taxonomy_term", REQ, &taxonomy_term_shape),
                                           END};
static const shape_t attribute_shape = {attribute_fields, attribute_hook};

static void address_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    if (c->confidential) {
        /* Each street line is named, so the author sees exactly what to remove. */
        static const char *const lines[] = {"address_1", "address_2", NULL};
        for (int i = 0; lines[i]; i++)
            if (json_object_get(obj, lines[i]))
                add_at(c, path, lines[i], "confidential_location",
                       AREA_ONLY "a street address may not enter Trellis");
        return;
    }
    const char *country = json_string_value(json_object_get(obj, "country"));
    const char *pc = json_string_value(json_object_get(obj, "postal_code"));
    if (country && pc && strcmp(country, "GB") == 0 && !tr_pii_is_full_postcode(pc))
        add_at(c, path, "postal_code", "format", "must be a full UK postcode like LS6 2AB");
}

/* address_2 is HSDS 3.0's, left out of the UK profile's compiled schema; a
 * UK address often needs it, and the schema allows further members. */
static const field_t address_fields[] = {ID,
                                         F("location_id", T_UUID, REF_PARENT, 0),
                                         F("attention", T_LINE, 0, 0),
                                         F("address_1", T_LINE, REQ, 0),
                                         F("address_2", T_LINE, 0, 0),
                                         F("city", T_LINE, REQ, 0),
                                         F("region", T_LINE, 0, 0),
                                         F("state_province", T_LINE, REQ, 0),
                                         F("postal_code", T_LINE, REQ, 16),
                                         F("country", T_COUNTRY, REQ, 0),
                                         FE("address_type", REQ, location_types),
                                         FA("attributes", 0, &attribute_shape),
                                         END};
static const shape_t address_shape = {address_fields, address_hook};

static const field_t accessibility_fields[] = {ID,
                                               F("location_id", T_UUID, REF_PARENT, 0),
                                               F("description", T_TEXT, 0, NOTE_LEN),
                                               F("details", T_TEXT, 0, NOTE_LEN),
                                               F("url", T_URL, 0, 0),
                                               FA("attributes", 0, &attribute_shape),
                                               F("accessibility", T_TEXT, 0, NOTE_LEN),
                                               END};
static const shape_t accessibility_shape = {accessibility_fields, NULL};

/* Coordinates pinpoint a building, and a UPRN (external_identifier) names
 * one: neither may describe a confidential service's location. */
static void location_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    static const char *const exact[] = {"latitude", "longitude", "external_identifier", NULL};
    if (!c->confidential)
        return;
    for (int i = 0; exact[i]; i++)
        if (json_object_get(obj, exact[i]))
            add_at(c, path, exact[i], "confidential_location",
                   AREA_ONLY "no coordinates or property reference");
}

/* latitude and longitude are HSDS numbers, but a signed record holds no
 * fractions (tr_canon.h): whole degrees only, so in practice the address
 * locates a public service and these are left out. */
static const field_t location_fields[] = {ID,
                                          FE("location_type", REQ, location_types),
                                          F("name", T_LINE, 0, 0),
                                          F("description", T_TEXT, 0, 0),
                                          FI("latitude", 0, -90, 90),
                                          FI("longitude", 0, -180, 180),
                                          F("external_identifier", T_LINE, 0, 64),
                                          F("external_identifier_type", T_LINE, 0, 64),
                                          FA("addresses", 0, &address_shape),
                                          FA("accessibility", 0, &accessibility_shape),
                                          FA("attributes", 0, &attribute_shape),
                                          END};
static const shape_t location_shape = {location_fields, location_hook};

static void sal_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    const char *ref = json_string_value(json_object_get(obj, "location_id"));
    const char *loc = own_id(json_object_get(obj, "location"));
    if (ref && loc && tr_is_uuid(ref) && strcmp(ref, loc) != 0)
        add_at(c, path, "location_id", "id_mismatch", "must be the id of location");
}

/* The location is required here: a record is read alone, with no location table. */
static const field_t sal_fields[] = {ID, F("service_id", T_UUID, REF_SERVICE, 0),
                                     F("location_id", T_UUID, 0, 0),
                                     FO("location", REQ, &location_shape), END};
static const shape_t sal_shape = {sal_fields, sal_hook};

/* A drawn shape can be drawn around one house; a confidential service names
 * its area (name, service_area) or links a published boundary (uri). */
static void service_area_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    const char *type = json_string_value(json_object_get(obj, "extent_type"));
    if (c->confidential && json_object_get(obj, "extent") && !(type && strcmp(type, "text") == 0))
        add_at(c, path, "extent", "confidential_location",
               AREA_ONLY "name the area or link its boundary (uri), not a drawn shape");
}

static const field_t service_area_fields[] = {ID,
                                              F("service_id", T_UUID, REF_SERVICE, 0),
                                              F("name", T_LINE, 0, 0),
                                              F("extent", T_RAW, 0, 0),
                                              FE("extent_type", 0, extent_types),
                                              F("uri", T_URL, 0, 0),
                                              F("service_area", T_TEXT, 0, NOTE_LEN),
                                              END};
static const shape_t service_area_shape = {service_area_fields, service_area_hook};

static void valid_dates_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    const char *from = json_string_value(json_object_get(obj, "valid_from"));
    const char *to = json_string_value(json_object_get(obj, "valid_to"));
    /* Both already checked as YYYY-MM-DD, so byte order is date order. */
    if (from && to && tr_is_date(from) && tr_is_date(to) && strcmp(from, to) > 0)
        add_at(c, path, "valid_to", "range", "must not be before valid_from");
}

static const field_t schedule_fields[] = {ID,
                                          F("service_id", T_UUID, REF_SERVICE, 0),
                                          F("service_at_location_id", T_UUID, 0, 0),
                                          F("valid_from", T_DATE, 0, 0),
                                          F("valid_to", T_DATE, 0, 0),
                                          F("dtstart", T_DATE, 0, 0),
                                          FE("freq", 0, freq_codes),
                                          FI("interval", 0, 1, 366),
                                          F("byday", T_BYDAY, 0, 0),
                                          F("bymonthday", T_BYMONTHDAY, 0, 0),
                                          F("description", T_TEXT, 0, NOTE_LEN),
                                          F("opens_at", T_TIME, 0, 0),
                                          F("closes_at", T_TIME, 0, 0),
                                          F("schedule_link", T_URL, 0, 0),
                                          F("attending_type", T_TEXT, 0, NOTE_LEN),
                                          F("notes", T_TEXT, 0, NOTE_LEN),
                                          END};
static const shape_t schedule_shape = {schedule_fields, valid_dates_hook};

/* HSDS 3.0's phone, which the UK profile's compiled schema leaves out: a
 * helpline is its number. A public service number, so not scanned as PII. */
static const field_t phone_fields[] = {ID,
                                       F("number", T_PHONE, REQ, 0),
                                       FI("extension", 0, 0, 99999999),
                                       FE("type", 0, phone_types),
                                       F("description", T_TEXT, 0, NOTE_LEN),
                                       END};
static const shape_t phone_shape = {phone_fields, NULL};

/* name and code are HSDS 3.0's, left out of the UK profile's compiled schema. */
static const field_t language_fields[] = {ID,
                                          F("service_id", T_UUID, REF_SERVICE, 0),
                                          F("phone_id", T_UUID, 0, 0),
                                          F("name", T_LINE, 0, 0),
                                          F("code", T_LANG, 0, 0),
                                          END};
static const shape_t language_shape = {language_fields, NULL};

static const field_t identifier_fields[] = {ID,
                                            F("organization_id", T_UUID, REF_PARENT, 0),
                                            F("identifier_scheme", T_LINE, 0, 64),
                                            F("identifier_type", T_LINE, REQ, 0),
                                            F("identifier", T_LINE, REQ, 64),
                                            FA("attributes", 0, &attribute_shape),
                                            END};
static const shape_t identifier_shape = {identifier_fields, NULL};

/* The charity as directory users see it. Its id is an ORUK UUID (keep the one
 * a council's directory already uses); origin is the Trellis member that
 * signs the record. docs/directory.md says how the two relate. */
static const field_t organization_fields[] = {F("id", T_UUID, REQ | F_ID, 0),
                                              F("name", T_LINE, REQ, 0),
                                              F("description", T_TEXT, REQ, 0),
                                              F("email", T_EMAIL, 0, 0),
                                              F("website", T_URL, 0, 0),
                                              F("logo", T_URL, 0, 0),
                                              F("uri", T_URL, 0, 0),
                                              F("parent_organization_id", T_UUID, 0, 0),
                                              FA("organization_identifiers", 0, &identifier_shape),
                                              FA("attributes", 0, &attribute_shape),
                                              END};
static const shape_t organization_shape = {organization_fields, NULL};

static const field_t funding_fields[] = {ID, F("service_id", T_UUID, REF_SERVICE, 0),
                                         F("source", T_TEXT, 0, NOTE_LEN), END};
static const shape_t funding_shape = {funding_fields, NULL};

/* amount is whole pounds: a signed record holds no fractions. */
static const field_t cost_option_fields[] = {ID,
                                             F("service_id", T_UUID, REF_SERVICE, 0),
                                             F("valid_from", T_DATE, 0, 0),
                                             F("valid_to", T_DATE, 0, 0),
                                             F("option", T_LINE, 0, 0),
                                             FI("amount", 0, 0, 1000000),
                                             F("amount_description", T_LINE, 0, 0),
                                             END};
static const shape_t cost_option_shape = {cost_option_fields, valid_dates_hook};

/* A contact is a public service contact (a duty line, a role's mailbox):
 * email and phones are published on purpose and checked only for form.
 * department, email and phones are HSDS 3.0's. */
static const field_t contact_fields[] = {ID,
                                         F("service_id", T_UUID, REF_SERVICE, 0),
                                         F("name", T_LINE, 0, 0),
                                         F("title", T_LINE, 0, 0),
                                         F("department", T_LINE, 0, 0),
                                         F("email", T_EMAIL, 0, 0),
                                         FA("phones", 0, &phone_shape),
                                         FA("attributes", 0, &attribute_shape),
                                         END};
static const shape_t contact_shape = {contact_fields, NULL};

/* needs share the pathway's code list, so that a referral's needs and the
 * services that meet them are spelled alike. */
static void trellis_hook(ctx_t *c, json_t *obj, const char *path, const char *parent_id)
{
    const char *const *needs = tr_pathway_codes("needs");
    tr_check_enum_array(obj, "needs", path, needs, 1, count(needs), false, c->e);
    json_t *g = json_object_get(obj, "for_genders");
    for (size_t i = 0; json_is_array(g) && json_array_size(g) > 1 && i < json_array_size(g); i++) {
        const char *v = json_string_value(json_array_get(g, i));
        if (v && strcmp(v, "all") == 0) {
            add_at(c, path, "for_genders", "all_alone", "\"all\" must be the only value");
            break;
        }
    }
}

static const field_t trellis_fields[] = {
    FC("for_genders", 0, gender_codes),         FC("risk_levels", 0, risk_codes),
    F("self_referral", T_BOOL, 0, 0),           F("taking_referrals", T_BOOL, 0, 0),
    FC("accessibility", 0, access_codes),       F("needs", T_CUSTOM, 0, 0),
    F("location_confidential", T_BOOL, REQ, 0), END};
static const shape_t trellis_shape = {trellis_fields, trellis_hook};

/* ---- the service ------------------------------------------------------ */

static bool plain_key(const char *k)
{
    size_t n = strlen(k);
    return n <= 40 &&
           strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* A confidential service: every string anywhere in the body is searched for
 * a full postcode (a description's "near LS6 2AB" locates a refuge as well as
 * an address does). Ids are skipped: they are checked as UUIDs and a hex run
 * must not be mistaken for one. */
static void scan_postcodes(ctx_t *c, json_t *v, const char *path, int depth)
{
    char p[128];
    if (depth > 16)
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!tr_is_uuid(s) && tr_pii_scan(s, json_string_length(v), TR_PII_POSTCODE))
            tr_verrors_add(c->e, path, "confidential_location",
                           AREA_ONLY "no full postcode (a district such as LS6 is fine)");
    } else if (json_is_object(v)) {
        const char *key;
        json_t *m;
        json_object_foreach(v, key, m)
        {
            tr_path_member(p, sizeof(p), path, plain_key(key) ? key : "?");
            scan_postcodes(c, m, p, depth + 1);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            tr_path_index(p, sizeof(p), path, i);
            scan_postcodes(c, json_array_get(v, i), p, depth + 1);
        }
    }
}

static void service_hook(ctx_t *c, json_t *body, const char *path, const char *parent_id)
{
    json_int_t lo, hi;
    json_t *min = json_object_get(body, "minimum_age"), *max = json_object_get(body, "maximum_age");
    if (json_is_integer(min) && json_is_integer(max)) {
        lo = json_integer_value(min);
        hi = json_integer_value(max);
        if (lo > hi)
            add_at(c, path, "maximum_age", "range", "must not be below minimum_age");
    }

    const char *org = own_id(json_object_get(body, "organization"));
    const char *org_ref = json_string_value(json_object_get(body, "organization_id"));
    if (org && org_ref && tr_is_uuid(org_ref) && strcmp(org, org_ref) != 0)
        add_at(c, path, "organization_id", "id_mismatch", "must be the id of organization");

    /* A schedule may refer to one of this service's own locations only. */
    json_t *sals = json_object_get(body, "service_at_locations");
    json_t *scheds = json_object_get(body, "schedules");
    char p[128];
    for (size_t i = 0; json_is_array(scheds) && i < json_array_size(scheds); i++) {
        const char *ref =
            json_string_value(json_object_get(json_array_get(scheds, i), "service_at_location_id"));
        if (!ref || !tr_is_uuid(ref))
            continue;
        bool found = false;
        for (size_t j = 0; json_is_array(sals) && j < json_array_size(sals); j++) {
            const char *id = own_id(json_array_get(sals, j));
            found = found || (id && strcmp(id, ref) == 0);
        }
        if (!found) {
            snprintf(p, sizeof(p), "%s.schedules[%zu].service_at_location_id", path, i);
            tr_verrors_add(c->e, p, "reference",
                           "must be the id of one of this service's service_at_locations");
        }
    }

    if (c->confidential) {
        json_t *areas = json_object_get(body, "service_areas");
        if (!json_is_array(areas) || json_array_size(areas) == 0)
            add_at(c, path, "service_areas", "required",
                   "a confidential service must give the area it serves");
        scan_postcodes(c, body, path, 0);
    }
}

/* The schema's service properties, plus phones (HSDS 3.0) and trellis. */
static const field_t service_fields[] = {F("id", T_UUID, REQ | F_ID | REF_SERVICE, 0),
                                         F("organization_id", T_UUID, 0, 0),
                                         F("name", T_LINE, REQ, 0),
                                         F("description", T_TEXT, 0, 0),
                                         F("url", T_URL, 0, 0),
                                         F("email", T_EMAIL, 0, 0),
                                         FE("status", REQ, status_codes),
                                         F("fees", T_TEXT, 0, NOTE_LEN),
                                         F("accreditations", T_TEXT, 0, NOTE_LEN),
                                         FI("minimum_age", 0, 0, 130),
                                         FI("maximum_age", 0, 0, 130),
                                         F("assured_date", T_DATE, 0, 0),
                                         F("assurer_email", T_EMAIL, 0, 0),
                                         F("alert", T_TEXT, 0, NOTE_LEN),
                                         F("last_modified", T_DATETIME, 0, 0),
                                         FA("schedules", 0, &schedule_shape),
                                         FA("service_areas", 0, &service_area_shape),
                                         FA("service_at_locations", 0, &sal_shape),
                                         FA("languages", 0, &language_shape),
                                         FO("organization", REQ, &organization_shape),
                                         FA("funding", 0, &funding_shape),
                                         FA("cost_options", 0, &cost_option_shape),
                                         FA("contacts", 0, &contact_shape),
                                         FA("phones", 0, &phone_shape),
                                         FA("attributes", 0, &attribute_shape),
                                         FO("trellis", REQ, &trellis_shape),
                                         END};
static const shape_t service_shape = {service_fields, service_hook};

void tr_validate_directory_service(json_t *body, const char *id, const char *origin,
                                   tr_verrors_t *errs)
{
    json_t *tr = json_object_get(body, "trellis");
    ctx_t c = {
        .e = errs,
        .service_id = id,
        .confidential = json_is_true(json_object_get(tr, "location_confidential")),
        .ids = json_object(),
    };
    check_shape(&c, body, BODY, &service_shape, NULL);
    json_decref(c.ids);

    /* A member publishes only under its own organisation: organization.id is
     * derived from origin (tr_org_uuid), so no member can put its phone
     * number under another charity's name and id. */
    char want[TR_UUID_LEN + 1];
    const char *org = own_id(json_object_get(body, "organization"));
    if (org && tr_is_uuid(org) && tr_org_uuid(origin, want, sizeof(want)) == 0 &&
        strcmp(org, want) != 0)
        tr_verrors_add(errs, BODY ".organization.id", "not_origin",
                       "must be the origin's organization id (docs/directory.md)");
}
