#!/usr/bin/env python3
"""directory.service records rendered through the product's own code
(tests/unit/oruk_render_main.c: tr_record_validate, then tr_oruk_service)
must validate against the Open Referral UK service schema
(../shared/oruk/schema-service.json), with formats (uuid, email, uri,
date-time) enforced; a confidential service's public view names no place.

Runs with Debian's python3-jsonschema: if the python3 on PATH (a pyenv one,
say) cannot import jsonschema, the script runs itself again with
/usr/bin/python3."""

import os
import sys

try:
    import jsonschema
except ImportError:
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("test_oruk_schema: needs python3-jsonschema (apt-get install python3-jsonschema)")

import copy
import datetime
import json
import re
import subprocess
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD_DIR, SOURCE_DIR, Checks  # noqa: E402

ORUK_DIR = os.path.join(SOURCE_DIR, "..", "shared", "oruk")
RENDER = os.path.join(BUILD_DIR, "tests", "oruk_render")

# A full UK postcode, as tr_pii's detector means it (outward + inward code).
FULL_POSTCODE = re.compile(r"\b[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2}\b", re.I)


def ids(prefix):
    """Readable UUIDs for one fixture: ids('a1')(5) -> a1000000-...-000000000005."""
    return lambda n: f"{prefix}000000-0000-4000-8000-{n:012x}"


# A member's ORUK organization id is derived from its Trellis name
# (docs/directory.md): computed here with Python's uuid, not the node's code.
TRELLIS_ORG_NAMESPACE = uuid.UUID("368c7d6a-652e-46cb-90f7-c60195cc2b70")


def org_uuid(origin):
    return str(uuid.uuid5(TRELLIS_ORG_NAMESPACE, origin))


def envelope(body, origin, version=1):
    return {"kind": "directory.service", "id": body["id"], "origin": origin,
            "version": version, "body": body}


NWA = {"id": org_uuid("northside-womens-aid"), "name": "Northside Women’s Aid",
       "description": "A Leeds charity supporting women and children affected by domestic "
                      "abuse.",
       "email": "info@northsidewa.org.uk", "website": "https://www.northsidewa.org.uk"}


def refuge():
    i = ids("a1")
    return envelope({
        "id": i(1), "name": "Northside Refuge", "status": "active",
        "description": "Self-contained refuge flats for women and their children escaping "
                       "domestic abuse. Call 0113 246 0401 to ask about a space.",
        "email": "refuge@northsidewa.org.uk", "minimum_age": 16, "maximum_age": 99,
        "last_modified": "2025-11-20T09:30:00Z", "organization": NWA,
        "service_areas": [{"id": i(0x10), "name": "Leeds",
                           "uri": "https://statistics.data.gov.uk/id/statistical-geography/"
                                  "E08000035"}],
        "service_at_locations": [{"id": i(0x20), "location": {
            "id": i(0x21), "location_type": "physical", "name": "Northside refuge",
            "description": "Eight flats, a garden and a playroom in the LS7 district."}}],
        "schedules": [{"id": i(0x30), "service_at_location_id": i(0x20), "freq": "WEEKLY",
                       "byday": "MO,TU,WE,TH,FR,SA,SU", "opens_at": "00:00",
                       "closes_at": "23:59"}],
        "phones": [{"id": i(0x40), "number": "0113 246 0401", "type": "voice"}],
        "trellis": {"for_genders": ["women"], "risk_levels": ["standard", "medium", "high"],
                    "self_referral": True, "taking_referrals": True,
                    "accessibility": ["interpreters", "wheelchair"],
                    "needs": ["refuge", "children"], "location_confidential": True},
    }, "northside-womens-aid", 3)


def helpline():
    i = ids("b2")
    return envelope({
        "id": i(1), "organization_id": NWA["id"], "name": "Northside Helpline",
        "status": "temporarily closed",
        "description": "Advice for anyone affected by domestic abuse. Email "
                       "helpline@northsidewa.org.uk or text 07700 900123.",
        "alert": "Closed for staff training this week; in an emergency call 999.",
        "organization": NWA,
        "service_areas": [{"id": i(0x10), "name": "West Yorkshire", "extent_type": "text",
                           "extent": "West Yorkshire"}],
        "phones": [{"id": i(0x20), "number": "0808 802 0000", "type": "voice"},
                   {"id": i(0x21), "number": "+44 7700 900123", "type": "text"}],
        "languages": [{"id": i(0x30), "name": "British Sign Language", "code": "bfi"}],
        "schedules": [{"id": i(0x40), "freq": "MONTHLY", "byday": "1SA", "opens_at": "10:00",
                       "closes_at": "14:00"}],
        "trellis": {"for_genders": ["all"], "self_referral": True, "taking_referrals": False,
                    "needs": ["helpline"], "location_confidential": False},
    }, "northside-womens-aid")


def young_people():
    i = ids("c3")
    org = {"id": org_uuid("next-steps-leeds"), "name": "Next Steps Leeds",
           "description": "Sexual violence support in Leeds."}
    return envelope({
        "id": i(1), "name": "Next Steps Young People’s Service", "status": "active",
        "description": "Counselling and peer support for young people aged 11 to 25.",
        "url": "https://nextsteps.example.org.uk/young-people", "minimum_age": 11,
        "maximum_age": 25, "organization": org,
        "service_areas": [{"id": i(0x10), "name": "Leeds"}],
        "service_at_locations": [{"id": i(0x20), "service_id": i(1), "location_id": i(0x21),
                                  "location": {
            "id": i(0x21), "location_type": "physical", "name": "Youth Hub", "latitude": 53,
            "longitude": -1,
            "addresses": [{"id": i(0x22), "location_id": i(0x21), "address_1": "12 Park Row",
                           "address_2": "Second floor", "city": "Leeds",
                           "state_province": "West Yorkshire", "postal_code": "LS1 5HD",
                           "country": "GB", "address_type": "physical"}]}}],
        "contacts": [{"id": i(0x30), "name": "Duty worker", "department": "Young people",
                      "email": "young@nextsteps.example.org.uk",
                      "phones": [{"id": i(0x31), "number": "0113 496 0000",
                                  "extension": 204}]}],
        "schedules": [{"id": i(0x40), "service_at_location_id": i(0x20), "freq": "WEEKLY",
                       "byday": "TU,TH", "opens_at": "15:30", "closes_at": "19:00"}],
        "trellis": {"for_genders": ["all"], "risk_levels": ["standard"],
                    "self_referral": True, "taking_referrals": True,
                    "accessibility": ["step_free", "hearing_loop"],
                    "needs": ["counselling", "sexual_violence"], "location_confidential": False},
    }, "next-steps-leeds", 7)


def everything():
    """Every member the schema defines, each in the form Trellis stores."""
    i = ids("d4")

    def attr(n, link):
        return {"id": i(n), "link_id": link, "taxonomy_term_id": i(n + 1),
                "link_type": "service", "taxonomy_term": {
                    "id": i(n + 1), "name": "Counselling", "description": "Talking therapy.",
                    "parent_id": i(0xfff), "taxonomy": "Trellis needs", "taxonomy_id": i(0xffe),
                    "term_uri": "https://example.org.uk/terms/counselling",
                    "term": "counselling"}}
    org_id = org_uuid("example-counselling")
    return envelope({
        "id": i(1), "organization_id": org_id, "name": "Community Counselling",
        "description": "Counselling provided by trained professionals.",
        "url": "https://example.org.uk/counselling", "email": "counselling@example.org.uk",
        "status": "active", "fees": "Free.", "accreditations": "BACP accredited.",
        "minimum_age": 12, "maximum_age": 100, "assured_date": "2025-01-01",
        "assurer_email": "quality@example.org.uk", "alert": "Online sessions only in August.",
        "last_modified": "2025-03-15T10:30:45.123+01:00",
        "schedules": [{"id": i(0x10), "service_id": i(1), "service_at_location_id": i(0x30),
                       "valid_from": "2025-01-01", "valid_to": "2025-12-31",
                       "dtstart": "2025-01-06", "freq": "WEEKLY", "interval": 1,
                       "byday": "TH,FR", "bymonthday": "2,3,4",
                       "description": "10am to 6pm.", "opens_at": "10:00:00",
                       "closes_at": "18:00:00", "schedule_link": "https://example.org.uk/hours",
                       "attending_type": "In person or by video.", "notes": "Closed at lunch."}],
        "service_areas": [{"id": i(0x20), "service_id": i(1), "name": "Leeds",
                           "extent": "{\"type\": \"Polygon\", \"coordinates\": []}",
                           "extent_type": "geojson", "uri": "https://example.org.uk/area",
                           "service_area": "Residents of Leeds."}],
        "service_at_locations": [{"id": i(0x30), "service_id": i(1), "location_id": i(0x31),
                                  "location": {
            "id": i(0x31), "location_type": "physical", "name": "Civic Centre",
            "description": "On Main Street.", "latitude": 54, "longitude": -2,
            "external_identifier": "10092008082", "external_identifier_type": "UPRN",
            "addresses": [{"id": i(0x32), "location_id": i(0x31), "attention": "Reception",
                           "address_1": "1-30 Main Street", "city": "Leeds",
                           "region": "Yorkshire and the Humber",
                           "state_province": "West Yorkshire", "postal_code": "LS2 8BH",
                           "country": "GB", "address_type": "postal",
                           "attributes": [attr(0x100, i(0x32))]}],
            "accessibility": [{"id": i(0x33), "location_id": i(0x31),
                               "description": "Induction loops.", "details": "T-coil.",
                               "url": "https://example.org.uk/access",
                               "attributes": [attr(0x110, i(0x33))],
                               "accessibility": "Wheelchair access on all levels."}],
            "attributes": [attr(0x120, i(0x31))]}}],
        "languages": [{"id": i(0x40), "service_id": i(1), "phone_id": i(0x70),
                       "name": "Welsh", "code": "cy"}],
        "organization": {
            "id": org_id, "name": "Example Organisation",
            "description": "A non-profit organisation.", "email": "info@example.org.uk",
            "website": "https://example.org.uk", "logo": "https://example.org.uk/logo.png",
            "uri": "https://example.org.uk/org",
            "parent_organization_id": "0d000000-0000-4000-8000-000000000002",
            "organization_identifiers": [{"id": i(0x50), "organization_id": org_id,
                                          "identifier_scheme": "GB-COH",
                                          "identifier_type": "Company number",
                                          "identifier": "1234567",
                                          "attributes": [attr(0x130, i(0x50))]}],
            "attributes": [attr(0x140, org_id)]},
        "funding": [{"id": i(0x60), "service_id": i(1), "source": "Leeds City Council."}],
        "cost_options": [{"id": i(0x61), "service_id": i(1), "valid_from": "2025-01-01",
                          "valid_to": "2025-12-31", "option": "Under 18s", "amount": 35,
                          "amount_description": "per 1 hour session"}],
        "contacts": [{"id": i(0x62), "service_id": i(1), "name": "Reception",
                      "title": "Reception Manager", "attributes": [attr(0x150, i(0x62))]}],
        "phones": [{"id": i(0x70), "number": "0113 496 0001", "type": "voice",
                    "description": "Welsh speakers on this line."}],
        "attributes": [attr(0x160, i(1))],
        "trellis": {"location_confidential": False},
    }, "example-counselling")


# Members Trellis serves that the compiled UK schema does not name: HSDS 3.0
# members the profile left out, and the local "trellis" object. The schema
# sets no additionalProperties, so they validate; this list keeps them
# deliberate (docs/directory.md).
DOCUMENTED_EXTRAS = {
    "trellis", "phones", "contacts[].email", "contacts[].phones", "contacts[].department",
    "languages[].name", "languages[].code",
    "service_at_locations[].location.addresses[].address_2",
}


def format_checker():
    """The FormatChecker with every format the schema uses. python3-jsonschema
    checks "uri" only with rfc3987 and "date-time" only with
    rfc3339-validator installed; a small fallback stands in for a missing one,
    so that no format is silently skipped."""
    checker = jsonschema.FormatChecker()

    def uri(s):
        if not isinstance(s, str):
            return True
        parts = urllib.parse.urlsplit(s)
        return bool(parts.scheme) and s.isascii() and not re.search(r"[\s<>\"{}|\\^`]", s)

    def date_time(s):
        if not isinstance(s, str):
            return True
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s,
                            re.I):
            return False
        datetime.datetime.fromisoformat(re.sub(r"\.\d+", "", s).upper().replace("Z", "+00:00"))
        return True

    def uuid_(s):
        return not isinstance(s, str) or (len(s) == 36 and str(uuid.UUID(s)) == s.lower())

    def email(s):
        return not isinstance(s, str) or "@" in s

    for name, func, raises in (("uri", uri, ()), ("date-time", date_time, ValueError),
                               ("uuid", uuid_, ValueError), ("email", email, ())):
        if name not in checker.checkers:
            checker.checks(name, raises)(func)
            print(f"note: format {name!r} checked by this script's fallback", flush=True)
    return checker


def load_schema(name):
    with open(os.path.join(ORUK_DIR, name), encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return schema, cls


def errors_of(validator, instance):
    return ["/".join(map(str, e.absolute_path)) + ": " + e.message
            for e in validator.iter_errors(instance)]


def render(record, *flags):
    p = subprocess.run([RENDER, *flags], input=json.dumps(record), capture_output=True,
                       text=True, timeout=60)
    out = json.loads(p.stdout) if p.stdout.strip() else None
    return p.returncode, out, p.stderr


def extras(instance, schema, path=""):
    """Member paths in instance that schema's properties do not name."""
    found = set()
    if isinstance(instance, dict) and "properties" in schema:
        for k, v in instance.items():
            sub = f"{path}.{k}" if path else k
            if k not in schema["properties"]:
                found.add(sub)
            else:
                found |= extras(v, schema["properties"][k], sub)
    elif isinstance(instance, list) and "items" in schema:
        for v in instance:
            found |= extras(v, schema["items"], path + "[]")
    return found


def schema_paths(schema, path=""):
    """Every member path the schema defines (arrays as [])."""
    found = set()
    for k, sub in schema.get("properties", {}).items():
        p = f"{path}.{k}" if path else k
        found.add(p)
        found |= schema_paths(sub, p)
    if "items" in schema:
        found |= schema_paths(schema["items"], path + "[]")
    return found


def instance_paths(v, path=""):
    found = set()
    if isinstance(v, dict):
        for k, m in v.items():
            p = f"{path}.{k}" if path else k
            found.add(p)
            found |= instance_paths(m, p)
    elif isinstance(v, list):
        for m in v:
            found |= instance_paths(m, path + "[]")
    return found


def strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for k, m in v.items():
            yield k
            yield from strings(m)
    elif isinstance(v, list):
        for m in v:
            yield from strings(m)


def main():
    c = Checks("test_oruk_schema")
    if not c.check(os.access(RENDER, os.X_OK), "oruk_render is built", RENDER):
        c.finish()
    service, cls = load_schema("schema-service.json")
    service_list, list_cls = load_schema("schema-service_list.json")
    checker = format_checker()
    v_service = cls(service, format_checker=checker)
    v_list = list_cls(service_list, format_checker=checker)

    # The validator set-up itself: the profile's own example passes, and
    # each format the schema uses is really enforced.
    with open(os.path.join(ORUK_DIR, "example-service_full.json"), encoding="utf-8") as f:
        example = json.load(f)
    c.equal(errors_of(v_service, example), [], "example-service_full.json validates")
    with open(os.path.join(ORUK_DIR, "example-service_list.json"), encoding="utf-8") as f:
        for item in json.load(f)["contents"]:
            c.equal(errors_of(v_list, item), [], "example-service_list.json item validates")
    for where, value, fmt in ((["id"], "not-a-uuid", "uuid"),
                              (["organization", "id"], "12345", "uuid"),
                              (["email"], "not an email", "email"),
                              (["url"], "not a uri", "uri"),
                              (["last_modified"], "15/03/2023", "date-time")):
        bad = copy.deepcopy(example)
        obj = bad
        for k in where[:-1]:
            obj = obj[k]
        obj[where[-1]] = value
        errs = list(v_service.iter_errors(bad))
        c.check(any(e.validator == "format" and e.validator_value == fmt for e in errs),
                f"format {fmt} is enforced ({'.'.join(where)})")
    missing = copy.deepcopy(example)
    del missing["status"]
    c.check(any(e.validator == "required" for e in v_service.iter_errors(missing)),
            "a missing required member is caught")

    # Trellis accepts every member the schema defines (in the form it stores).
    c.equal(sorted(schema_paths(service) - instance_paths(everything()["body"])), [],
            "the every-member fixture uses every member of schema-service.json")

    fixtures = {"refuge": refuge(), "helpline": helpline(), "young people": young_people(),
                "every schema member": everything()}
    # The demo federation's services (deploy/sample_data.py) are served too:
    # if they cannot be imported, that is a failure, not a smaller test.
    sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
    try:
        import sample_data
        samples = [r for org in sample_data.ORGS for r in sample_data.services(org)]
    except ImportError as e:
        samples = []
        print(f"deploy/sample_data.py cannot be imported: {e}")
    c.check(len(samples) > 0, "the demo's sample services are among the fixtures")
    for record in samples:
        fixtures[f"sample {record['body']['name']}"] = record
    for name, record in fixtures.items():
        for flags, label in (((), "full"), (("--public",), "public")):
            rc, out, err = render(record, *flags)
            if not c.equal(rc, 0, f"{name}: {label} view renders"):
                print(err, json.dumps(out, indent=1)[:2000])
                continue
            c.equal(errors_of(v_service, out), [], f"{name}: {label} view validates")
            c.check(extras(out, service) <= DOCUMENTED_EXTRAS,
                    f"{name}: {label} view adds only documented members",
                    str(extras(out, service) - DOCUMENTED_EXTRAS))
            c.equal(out.get("organization_id"), record["body"]["organization"]["id"],
                    f"{name}: {label} view has organization_id")
        rc, out, err = render(record, "--summary", "--public")
        c.equal(rc, 0, f"{name}: summary renders")
        if rc == 0:
            c.equal(errors_of(v_list, out), [], f"{name}: summary validates (service_list)")
            c.check(not {"schedules", "service_at_locations", "contacts"} & set(out),
                    f"{name}: summary holds no lists")

    # The confidential refuge: locations in the full view only, and nothing
    # in the public one that places it.
    rc, full, _ = render(fixtures["refuge"])
    rc2, pub, _ = render(fixtures["refuge"], "--public")
    if rc == 0 and rc2 == 0:
        c.check("service_at_locations" in full, "refuge: full view keeps its (address-less) "
                "location")
        c.check("service_at_locations" not in pub, "refuge: public view has no locations")
        c.check(pub.get("service_areas") == fixtures["refuge"]["body"]["service_areas"],
                "refuge: public view keeps its area")
        c.check(all("service_at_location_id" not in s for s in pub.get("schedules", [])),
                "refuge: public schedules point at no location")
        text = list(strings(pub))
        c.check(not any(k in text for k in ("addresses", "latitude", "longitude",
                                            "external_identifier")),
                "refuge: public view names no address or coordinates")
        c.check(not any(FULL_POSTCODE.search(s) for s in text),
                "refuge: public view holds no full postcode")
        c.equal(pub["trellis"], fixtures["refuge"]["body"]["trellis"],
                "refuge: trellis extension served unchanged")
    rc, pub, _ = render(fixtures["young people"], "--public")
    if rc == 0:
        addr = pub["service_at_locations"][0]["location"]["addresses"][0]
        c.equal(addr["postal_code"], "LS1 5HD", "public service: public view keeps its address")

    # What the node refuses, oruk_render refuses: a refuge with a street
    # address, and errors that name the field but never repeat the value.
    bad = refuge()
    bad["body"]["service_at_locations"][0]["location"]["addresses"] = [{
        "id": "a1000000-0000-4000-8000-0000000000a1", "address_1": "3 Acacia Avenue",
        "city": "Leeds", "state_province": "West Yorkshire", "postal_code": "LS7 3AB",
        "country": "GB", "address_type": "physical"}]
    bad["body"]["description"] += " We are near the park at LS7 3AB."
    rc, out, _ = render(bad)
    c.equal(rc, 1, "refuge with a street address is refused")
    paths = {(e["path"], e["code"]) for e in (out or {}).get("errors", [])}
    loc = "$.body.service_at_locations[0].location.addresses[0]"
    for want in ((loc + ".address_1", "confidential_location"),
                 (loc + ".postal_code", "confidential_location"),
                 ("$.body.description", "confidential_location")):
        c.check(want in paths, f"refusal names {want[0]}", str(paths))
    c.check("Acacia" not in json.dumps(out) and "LS7 3AB" not in json.dumps(out),
            "refusal does not repeat the address")

    bad = helpline()
    bad["body"]["trellis"]["colour"] = "purple"
    bad["body"]["organization"]["id"] = "not-a-uuid"
    rc, out, _ = render(bad)
    paths = {(e["path"], e["code"]) for e in (out or {}).get("errors", [])}
    c.equal(rc, 1, "helpline with mistakes is refused")
    c.equal(paths, {("$.body.trellis.colour", "unknown_field"),
                    ("$.body.organization.id", "uuid")}, "each mistake reported with its path")
    c.finish()


if __name__ == "__main__":
    main()
