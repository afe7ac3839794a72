/* From a services spreadsheet's row to a directory.service body
 * (anonymise_directory.h). The shapes are docs/directory.md's; the node's
 * validator checks the result (anonymise.c runs it before spooling). */
#include "anonymise_directory.h"

#include "tr_anon.h"
#include "tr_org.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The address lines that locate a building: a confidential service's row
 * may give none of them. */
static const char *const street_members[] = {"addresses.address_1", "addresses.address_2",
                                             "addresses.postal_code", NULL};

/* The members of one nested object, in the order they are copied. */
static const char *const address_members[] = {"address_1",      "address_2",   "city",
                                              "state_province", "postal_code", NULL};

typedef struct {
    const mapping_t *m;
    const uint8_t *secret;
    const char *ref;
    json_t *flat;
    anon_out_t *out;
} dir_t;

/* A stable id for a nested object: HMAC of the service reference under the
 * local secret, in a domain of its own per object. */
static json_t *nested_id(dir_t *d, const char *what)
{
    char domain[96], id[37];
    snprintf(domain, sizeof(domain), "directory.service/%s", what);
    if (tr_anon_hmac_uuid(d->secret, AGENT_SECRET_LEN, domain, d->ref, id) != 0)
        abort();
    return json_string(id);
}

static json_t *get(dir_t *d, const char *member)
{
    return json_object_get(d->flat, member);
}

/* Copy flat[prefix + name] into obj[name] for each name present. True if any was. */
static bool copy_members(dir_t *d, json_t *obj, const char *prefix, const char *const *names)
{
    bool any = false;
    for (size_t i = 0; names[i]; i++) {
        char key[96];
        snprintf(key, sizeof(key), "%s%s", prefix, names[i]);
        json_t *v = get(d, key);
        if (v) {
            json_object_set(obj, names[i], v);
            any = true;
        }
    }
    return any;
}

/* The column a member is read from, for messages. */
static const char *column_of(const mapping_t *m, const char *member)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (strcmp(m->fields[i].member, member) == 0)
            return m->fields[i].column ? m->fields[i].column : member;
    return member;
}

static json_t *organization(dir_t *d, const char *origin)
{
    static const char *const names[] = {"name", "description", "email", "website", NULL};
    char oid[37];
    if (tr_org_uuid(origin, oid, sizeof(oid)) != 0)
        abort(); /* origin comes from this agent's own certificate */
    json_t *org = json_pack("{s:s}", "id", oid);
    copy_members(d, org, "organization.", names);
    return org;
}

/* One object in an array of one, when any of its members is given. */
static void one_of(dir_t *d, json_t *body, const char *array, const char *const *names)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s.", array);
    json_t *obj = json_object();
    if (!copy_members(d, obj, prefix, names)) {
        json_decref(obj);
        return;
    }
    json_object_set_new(obj, "id", nested_id(d, array));
    json_object_set_new(body, array, json_pack("[o]", obj));
}

static void phones(dir_t *d, json_t *body)
{
    json_t *number = get(d, "phones.number");
    if (!number)
        return;
    json_object_set_new(body, "phones",
                        json_pack("[{s:o, s:O, s:s}]", "id", nested_id(d, "phones"), "number",
                                  number, "type", "voice"));
}

static void languages(dir_t *d, json_t *body)
{
    json_t *codes = get(d, "languages.code");
    if (!json_array_size(codes))
        return;
    json_t *arr = json_array();
    size_t i;
    json_t *code;
    json_array_foreach(codes, i, code)
    {
        char what[64];
        snprintf(what, sizeof(what), "languages/%s", json_string_value(code));
        json_array_append_new(arr, json_pack("{s:o, s:O}", "id", nested_id(d, what), "code", code));
    }
    json_object_set_new(body, "languages", arr);
}

/* Where a public service is: a location with its address. A confidential
 * service has none (its area is in service_areas), and a street line or
 * postcode given for it is an error, so that the charity hears of it. */
static int location(dir_t *d, json_t *body, bool confidential)
{
    if (confidential) {
        for (size_t i = 0; street_members[i]; i++) {
            if (!get(d, street_members[i]))
                continue;
            snprintf(d->out->column, sizeof(d->out->column), "%s",
                     column_of(d->m, street_members[i]));
            snprintf(d->out->why, sizeof(d->out->why),
                     "the service is marked confidential: its street address never leaves "
                     "this machine (leave the address empty and give the area it serves)");
            return -1;
        }
        return 0;
    }
    static const char *const loc_names[] = {"name", "description", NULL};
    json_t *loc = json_object();
    bool have_loc = copy_members(d, loc, "location.", loc_names);
    json_t *addr = json_object();
    if (copy_members(d, addr, "addresses.", address_members)) {
        json_t *country = get(d, "addresses.country");
        json_object_set_new(addr, "id", nested_id(d, "address"));
        json_object_set_new(addr, "country", country ? json_incref(country) : json_string("GB"));
        json_object_set_new(addr, "address_type", json_string("physical"));
        json_object_set_new(loc, "addresses", json_pack("[O]", addr));
        have_loc = true;
    }
    json_decref(addr);
    if (!have_loc) {
        json_decref(loc);
        return 0;
    }
    json_object_set_new(loc, "id", nested_id(d, "location"));
    json_object_set_new(loc, "location_type", json_string("physical"));
    json_object_set_new(
        body, "service_at_locations",
        json_pack("[{s:o, s:o}]", "id", nested_id(d, "service_at_location"), "location", loc));
    return 0;
}

int anon_directory_body(const mapping_t *m, const uint8_t secret[AGENT_SECRET_LEN],
                        const char *origin, const char *ref, const char *id, json_t *flat,
                        json_t **body, anon_out_t *out)
{
    dir_t d = {m, secret, ref, flat, out};
    json_t *b = json_pack("{s:s}", "id", id);
    /* The service's own members are the undotted ones. */
    const char *key;
    json_t *v;
    json_object_foreach(flat, key, v)
    {
        if (!strchr(key, '.') && strcmp(key, "id") != 0)
            json_object_set(b, key, v);
    }
    json_object_set_new(b, "organization", organization(&d, origin));
    phones(&d, b);
    static const char *const area_names[] = {"name", "uri", NULL};
    one_of(&d, b, "service_areas", area_names);
    static const char *const schedule_names[] = {"description", NULL};
    one_of(&d, b, "schedules", schedule_names);
    languages(&d, b);
    static const char *const trellis_names[] = {"location_confidential",
                                                "self_referral",
                                                "taking_referrals",
                                                "for_genders",
                                                "risk_levels",
                                                "accessibility",
                                                "needs",
                                                NULL};
    json_t *tr = json_object();
    copy_members(&d, tr, "trellis.", trellis_names);
    bool confidential = json_is_true(json_object_get(tr, "location_confidential"));
    json_object_set_new(b, "trellis", tr);
    if (location(&d, b, confidential) != 0) {
        json_decref(b);
        return -1;
    }
    *body = b;
    return 0;
}
