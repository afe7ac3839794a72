/* Open Referral UK views of a stored directory.service body, for the /oruk/
 * read API: the full service object and the list-page summary, each with a
 * public form in which a confidential service shows its area only. */
#include "tr_oruk.h"

#include <stdio.h>
#include <string.h>

/* The schema (../shared/oruk/schema-service.json) sets no
 * additionalProperties, so members it does not name are allowed; the
 * profile asks only that local ones follow a convention and do not clash
 * with HSDS names. Trellis keeps all of its own under the one member
 * "trellis", which no HSDS version uses, and serves it unchanged. */
#define LOCAL_MEMBER "trellis"

/* A list page's service: the scalar members of service_list.json. */
static const char *const summary_fields[] = {"id",
                                             "organization_id",
                                             "name",
                                             "description",
                                             "url",
                                             "email",
                                             "status",
                                             "fees",
                                             "accreditations",
                                             "minimum_age",
                                             "maximum_age",
                                             "assured_date",
                                             "assurer_email",
                                             "alert",
                                             "last_modified",
                                             LOCAL_MEMBER,
                                             NULL};

/* ... and its organization's scalar members. */
static const char *const summary_org_fields[] = {
    "id", "name", "description", "email", "website", "logo", "uri", "parent_organization_id", NULL};

static bool confidential(const json_t *body)
{
    json_t *tr = json_object_get(body, LOCAL_MEMBER);
    return json_is_true(json_object_get(tr, "location_confidential"));
}

/* organization_id is an ORUK core member a stored body may leave out (the
 * organization object carries the id); clients filter on it, so it is set. */
static void set_organization_id(json_t *out)
{
    json_t *org_id = json_object_get(json_object_get(out, "organization"), "id");
    if (json_is_string(org_id) && !json_object_get(out, "organization_id"))
        json_object_set(out, "organization_id", org_id);
}

/* Area only: no locations (so no addresses, coordinates or property
 * references), and no schedule pointing at a location that is not shown. */
static void strip_locations(json_t *out)
{
    json_object_del(out, "service_at_locations");
    json_t *scheds = json_object_get(out, "schedules");
    for (size_t i = 0; json_is_array(scheds) && i < json_array_size(scheds); i++)
        json_object_del(json_array_get(scheds, i), "service_at_location_id");
}

json_t *tr_oruk_service(const json_t *body, bool public_view)
{
    if (!json_is_object(body))
        return NULL;
    json_t *out = json_deep_copy(body);
    if (!out)
        return NULL;
    set_organization_id(out);
    /* The stored body of a confidential service holds no address (the
     * validator refuses one); the public view drops its locations too. */
    if (public_view && confidential(body))
        strip_locations(out);
    return out;
}

static json_t *pick(const json_t *from, const char *const *fields)
{
    json_t *out = json_object();
    for (int i = 0; fields[i]; i++) {
        json_t *v = json_object_get(from, fields[i]);
        if (v)
            json_object_set_new(out, fields[i], json_deep_copy(v));
    }
    return out;
}

json_t *tr_oruk_service_summary(const json_t *body, bool public_view)
{
    /* A summary names no location, so the public and full forms are alike;
     * public_view is taken so that callers need not know that. */
    (void)public_view;
    if (!json_is_object(body))
        return NULL;
    json_t *out = pick(body, summary_fields);
    json_t *org = json_object_get(body, "organization");
    if (json_is_object(org))
        json_object_set_new(out, "organization", pick(org, summary_org_fields));
    set_organization_id(out);
    return out;
}

/* The area a confidential service gives, as a location's name. */
static json_t *area_name(const json_t *body)
{
    char name[256] = "";
    size_t n = 0;
    json_t *areas = json_object_get(body, "service_areas");
    for (size_t i = 0; json_is_array(areas) && i < json_array_size(areas); i++) {
        const char *a = json_string_value(json_object_get(json_array_get(areas, i), "name"));
        if (!a || n + strlen(a) + 3 >= sizeof(name))
            continue;
        n += (size_t)snprintf(name + n, sizeof(name) - n, "%s%s", n ? ", " : "", a);
    }
    return json_string(n ? name : "The area served");
}

json_t *tr_oruk_sal(const json_t *sal, const json_t *body, bool public_view)
{
    json_t *loc = json_object_get(sal, "location");
    if (!json_is_object(sal) || !json_is_object(body) || !json_is_object(loc))
        return NULL;
    json_t *loc_id = json_object_get(loc, "id");
    json_t *out = json_pack("{s:O, s:O, s:O}", "id", json_object_get(sal, "id"), "service_id",
                            json_object_get(body, "id"), "location_id", loc_id);
    if (!out)
        return NULL;
    if (public_view && confidential(body)) {
        json_t *type = json_object_get(loc, "location_type");
        json_object_set_new(out, "location",
                            json_pack("{s:O, s:O, s:o}", "id", loc_id, "location_type", type,
                                      "name", area_name(body)));
    } else {
        json_object_set_new(out, "location", json_deep_copy(loc));
    }
    return out;
}

static const char *const org_fields[] = {"id",
                                         "name",
                                         "description",
                                         "email",
                                         "website",
                                         "logo",
                                         "uri",
                                         "parent_organization_id",
                                         "organization_identifiers",
                                         "attributes",
                                         NULL};

json_t *tr_oruk_organization(const json_t *org, const char *origin, const char *member_id)
{
    if (!json_is_object(org) || !origin || !member_id)
        return NULL;
    json_t *out = pick(org, org_fields);
    json_t *ids = json_object_get(out, "organization_identifiers");
    if (!json_is_array(ids)) {
        ids = json_array();
        json_object_set_new(out, "organization_identifiers", ids);
    }
    json_array_append_new(ids, json_pack("{s:s, s:O, s:s, s:s, s:s}", "id", member_id,
                                         "organization_id", json_object_get(org, "id"),
                                         "identifier_scheme", "trellis", "identifier_type",
                                         "Trellis consortium member", "identifier", origin));
    return out;
}
