"""The directory's filters on a real node, each checked against a brute-force
answer computed here: a few hundred services with taxonomy terms, locations
with postcodes and coordinates, schedules, confidential services and
missing optional fields. Every page of several per_page values (every id
once, none missing), every response validated against the profile's
schemas, the postcode lookup loaded with trellisd --load-postcodes (from
the ONS Postcode Directory, then from an OS Code-Point Open folder whose
grid references PROJ converts here), and filters the node cannot honour
refused with a problem+json."""

import datetime
import json
import math
import os
import random
import subprocess
import sys
import urllib.parse
import uuid
import warnings

try:
    import jsonschema  # Debian's python3-jsonschema
    import pyproj  # Debian's python3-pyproj
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, binary, free_port

t = Checks("test_oruk_filters")
SHARED = os.path.join(SOURCE_DIR, "..", "shared", "oruk")
NS = uuid.UUID("368c7d6a-652e-46cb-90f7-c60195cc2b70")
ORG = "northside-womens-aid"
ORG_ID = str(uuid.uuid5(NS, ORG))


def validator(name, sub=None):
    schema = json.load(open(os.path.join(SHARED, name)))
    if sub:
        for k in sub:
            schema = schema[k]
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


V_LIST = validator("schema-service_list.json")
V_SERVICE = validator("schema-service.json")
V_SAL = validator("schema-service.json", ["properties", "service_at_locations", "items"])
V_ORG = validator("schema-organization.json")
V_TERM = validator("schema-service.json", ["properties", "attributes", "items", "properties",
                                           "taxonomy_term"])


def errors(v, obj):
    return [f"{'/'.join(map(str, e.path))}: {e.message}"[:200] for e in v.iter_errors(obj)]


# The postcode lookup: an ONS Postcode Directory extract (invented points).
LOOKUP = {  # postcode: (lat, lng, lad)
    "LS6 1AA": (53.8200, -1.5800, "E08000035"), "LS6 2AB": (53.8260, -1.5720, "E08000035"),
    "LS7 3DE": (53.8300, -1.5300, "E08000035"), "LS1 4FG": (53.7970, -1.5480, "E08000035"),
    "LS2 9JT": (53.8070, -1.5540, "E08000035"), "BD1 1AA": (53.7940, -1.7520, "E08000032"),
    "BD3 8HJ": (53.8000, -1.7300, "E08000032"), "HX1 1AB": (53.7210, -1.8620, "E08000033"),
    "M1 1AE": (53.4790, -2.2360, "E08000003"), "S1 2HE": (53.3810, -1.4700, "E08000019"),
    "YO1 7HH": (53.9590, -1.0810, "E06000014"),
}
GSS = {"E08000035", "E08000032", "E08000033", "E08000003", "E08000019", "E06000014"}


def onspd(path):
    with open(path, "w") as f:
        f.write("pcd,pcd2,pcds,dointr,doterm,oslaud,lat,long\n")
        for pc, (lat, lng, lad) in LOOKUP.items():
            f.write(f"{pc.replace(' ', ''):7},{pc},{pc},199801,,{lad},{lat:.6f},{lng:.6f}\n")
        f.write("LS99ZZ,LS9 9ZZ,LS9 9ZZ,199801,200012,E08000035,53.8,-1.5\n")  # terminated
        f.write("ZE29ZZ,ZE2 9ZZ,ZE2 9ZZ,199801,,S12000027,99.999999,0.000000\n")  # no point


def key(pc):
    return pc.replace(" ", "").upper()


def distance(a, b):  # (lng, lat) points, metres, as trellis_distance_m
    la1, la2 = math.radians(a[1]), math.radians(b[1])
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * \
        math.sin(math.radians(b[0] - a[0]) / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1, math.sqrt(h)))


def centre(code, lookup=LOOKUP):
    pts = [(lng, lat) for pc, (lat, lng, lad) in lookup.items()
           if lad == code or key(pc)[:-3] == code]
    return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)) if pts else None


# ---- the services ----

WORDS = ["lantern", "orchard", "harbour", "meadow", "beacon"]
NEEDS = ["refuge", "housing", "legal", "advocacy", "counselling", "children", "helpline"]
GENDERS = [["women"], ["men"], ["all"], ["women", "non_binary"]]
ACCESS = ["bsl", "easy_read", "step_free", "wheelchair", "interpreters"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
TAXONOMY_LGA = "0e000000-0000-4000-8000-00000000007a"
TERMS = [  # (id, name, taxonomy, taxonomy_id or None: named only)
    ("0e000000-0000-4000-8000-000000000001", "Refuge", "Trellis needs", None),
    ("0e000000-0000-4000-8000-000000000002", "Advice", "Trellis needs", None),
    ("0e000000-0000-4000-8000-000000000003", "Counselling", "Trellis needs", None),
    ("0e000000-0000-4000-8000-000000000004", "Domestic abuse", "LGA services", TAXONOMY_LGA),
    ("0e000000-0000-4000-8000-000000000005", "Sexual violence", "LGA services", TAXONOMY_LGA),
]


def taxonomy_id(term):
    return term[3] or str(uuid.uuid5(NS, "taxonomy:" + term[2]))


def make_services(n, rng):
    out = []
    for i in range(n):
        def sid(k, i=i):
            return f"0f{i:06x}-0000-4000-8000-{k:012x}"
        conf = i % 6 == 0
        body = {"id": sid(0), "name": f"Service {i:03d} {rng.choice(WORDS).title()}",
                "status": "active",
                "organization": {"id": ORG_ID, "name": "Northside Women's Aid",
                                 "description": "A Leeds charity."},
                "trellis": {"location_confidential": conf,
                            "for_genders": rng.choice(GENDERS),
                            "needs": sorted(rng.sample(NEEDS, rng.randint(1, 3)))}}
        if rng.random() < 0.8:
            body["description"] = "Support in the " + " and the ".join(rng.sample(WORDS, 2)) + "."
        if rng.random() < 0.7:
            lo = rng.randint(0, 40)
            body["minimum_age"], body["maximum_age"] = lo, rng.randint(lo, 99)
        tr = body["trellis"]
        if rng.random() < 0.6:
            tr["risk_levels"] = sorted(rng.sample(["standard", "medium", "high"], rng.randint(1, 3)))
        if rng.random() < 0.5:
            tr["accessibility"] = sorted(rng.sample(ACCESS, rng.randint(1, 2)))
        for flag in ("self_referral", "taking_referrals"):
            if rng.random() < 0.7:
                tr[flag] = rng.random() < 0.5
        terms = rng.sample(TERMS, rng.randint(0, 2))
        if terms:
            body["attributes"] = [{"id": sid(0x100 + k), "link_id": sid(0), "link_type": "service",
                                   "taxonomy_term_id": term[0], "taxonomy_term": dict(
                                       {"id": term[0], "name": term[1],
                                        "description": term[1] + ".", "taxonomy": term[2]},
                                       **({"taxonomy_id": term[3]} if term[3] else {}))}
                                  for k, term in enumerate(terms)]
        scheds = []
        for k in range(rng.randint(0, 2)):
            s = {"id": sid(0x200 + k), "freq": "WEEKLY"}
            if rng.random() < 0.9:
                s["byday"] = ",".join(sorted(rng.sample(DAYS, rng.randint(1, 3)), key=DAYS.index))
            s["opens_at"] = f"{rng.randint(7, 12):02d}:{rng.choice(['00', '30'])}"
            s["closes_at"] = f"{rng.randint(13, 21):02d}:00"
            scheds.append(s)
        if scheds:
            body["schedules"] = scheds
        areas = []
        if conf or rng.random() < 0.3:
            code = rng.choice(["LS6", "LS7", "BD1", "M1", "Leeds"])
            areas.append({"id": sid(0x300), "name": code})
            if rng.random() < 0.5:
                areas.append({"id": sid(0x301), "name": "Council area",
                              "uri": "https://statistics.data.gov.uk/id/statistical-geography/" +
                                     rng.choice(sorted(GSS))})
        if areas:
            body["service_areas"] = areas
        sals = []
        for k in range(rng.randint(0, 2)):
            loc = {"id": sid(0x410 + k), "location_type": "physical", "name": f"Place {k}"}
            if not conf:
                if rng.random() < 0.7:
                    pc = rng.choice(list(LOOKUP) + ["WF1 2AB"])  # one not in the lookup
                    loc["addresses"] = [{"id": sid(0x420 + k), "address_1": "1 Test Street",
                                         "city": "Leeds", "state_province": "West Yorkshire",
                                         "postal_code": pc, "country": "GB",
                                         "address_type": "physical"}]
                if rng.random() < 0.5:
                    loc["latitude"], loc["longitude"] = rng.choice([(53, -2), (54, -1), (53, -1)])
            sals.append({"id": sid(0x400 + k), "location": loc})
        if sals:
            body["service_at_locations"] = sals
        out.append({"kind": "directory.service", "id": body["id"], "origin": ORG, "version": 1,
                    "body": body})
    return out


def places(body, lookup=True):
    """[(sal_id or None, (lng, lat))] as the node places them (without the
    lookup loaded: by coordinates only). lookup: True for LOOKUP, or
    another {postcode: (lat, lng, lad)}."""
    table = LOOKUP if lookup is True else lookup or {}
    out = []
    for sal in body.get("service_at_locations", []):
        loc = sal["location"]
        pt = None
        addrs = loc.get("addresses")
        if lookup and addrs and addrs[0]["postal_code"] in table:
            lat, lng, _ = table[addrs[0]["postal_code"]]
            pt = (lng, lat)
        elif "latitude" in loc and "longitude" in loc:
            pt = (loc["longitude"], loc["latitude"])
        out.append((sal["id"], pt))
    codes = set()
    for a in body.get("service_areas", []):
        n = a.get("name", "").replace(" ", "").upper()
        if n in GSS or (n[:1].isalpha() and any(c.isdigit() for c in n) and len(n) <= 4):
            codes.add(n)
        u = a.get("uri", "")
        if u[-9:] in GSS:
            codes.add(u[-9:])
    for c in codes:
        out.append((None, centre(c, table) if lookup else None))
    return out


def service_distance(body, origin, lookup=True):
    ds = [distance(p, origin) for _, p in places(body, lookup) if p]
    return min(ds) if ds else None


def sal_distance(body, sal_id, origin, lookup=True):
    own = [p for s, p in places(body, lookup) if s == sal_id and p]
    if own:
        return distance(own[0], origin)
    ds = [distance(p, origin) for s, p in places(body, lookup) if s is None and p]
    return min(ds) if ds else None


def hms(t):
    return (t + ":00")[:8] if t else None


def schedule_match(body, day, start, end):
    """One schedule meets all three (a time missing from it meets none)."""
    for s in body.get("schedules", []):
        days = [d[-2:] for d in s["byday"].split(",")] if "byday" in s else [None]
        if day and day not in days:
            continue
        if start and not (s.get("opens_at") and hms(s["opens_at"]) >= hms(start)):
            continue
        if end and not (s.get("closes_at") and hms(s["closes_at"]) <= hms(end)):
            continue
        return True
    return False


def words(body):
    return (body["name"] + " " + body.get("description", "")).lower()


# ---- the run ----

def fetch_all(node, agent, path, query, per_page, getter=api):
    """Every page of a list; checks the page fields and returns the items."""
    items, page = [], 1
    while True:
        q = dict(query, per_page=per_page, page=page)
        status, hdrs, reply = getter(node, agent, "GET", f"{path}?{urllib.parse.urlencode(q)}")
        if not t.check(status == 200, f"{path}?{urllib.parse.urlencode(q)}: 200",
                       str(reply)[:300]):
            return None
        size = min(per_page, 200)
        total = reply["total_items"]
        pages = (total + size - 1) // size
        ok = (reply["per_page"] == size and reply["total_pages"] == pages and
              reply["page_number"] == page and reply["size"] == len(reply["contents"]) and
              reply["first_page"] == (page == 1) and reply["last_page"] == (page >= pages) and
              reply["empty"] == (len(reply["contents"]) == 0) and
              len(reply["contents"]) == (size if page < pages else total - size * (pages - 1)
                                         if pages else 0))
        if not ok:
            t.check(False, f"{path} page fields ({query}, per_page {per_page}, page {page})",
                    json.dumps({k: v for k, v in reply.items() if k != "contents"}))
            return None
        items += reply["contents"]
        if page >= pages:
            return items
        page += 1


def main():
    rng = random.Random(12)
    records = make_services(300, rng)
    bodies = {r["id"]: r["body"] for r in records}
    with PgCluster("orukf") as pg:
        pki = Pki()
        pki.add_org(ORG)
        public_port = free_port()
        node = Node(pki, pg, org=ORG, name="node",
                    config={"public": {"listen": f"127.0.0.1:{public_port}"}})
        node.public_port = public_port
        try:
            node.start()
            agent = pki.agent(ORG, "office")
            for i in range(0, len(records), 100):
                status, _, reply = api(node, agent, "POST", "/v1/records",
                                       {"records": records[i:i + 100]})
                t.check(status == 200 and reply.get("stored") == len(records[i:i + 100]),
                        f"services {i}.. stored", str(reply)[:300])
            run(node, agent, pg, bodies, records)
        finally:
            node.close()
            pki.close()
    t.finish()


def check_list(node, agent, query, want_ids, what="services", per_pages=(500,), order=None):
    path = "/oruk/" + what
    for pp in per_pages:
        items = fetch_all(node, agent, path, query, pp)
        if items is None:
            return None
        ids = [x["id"] for x in items]
        label = f"{path}?{urllib.parse.urlencode(query)} per_page {pp}"
        t.check(len(ids) == len(set(ids)), f"{label}: every id once")
        if not t.equal(sorted(set(ids)), sorted(want_ids), f"{label}: the brute-force answer"):
            return None
        if what == "services" and not query.get("minimal"):
            errs = [e for x in items for e in errors(V_LIST, x)]
            t.check(not errs, f"{label}: items validate (service_list)", str(errs[:3]))
        if what == "service_at_locations":
            errs = [e for x in items for e in errors(V_SAL, x) + errors(V_LIST, x["service"])]
            t.check(not errs, f"{label}: items validate (service_at_location)", str(errs[:3]))
        if order:
            d = [order(x) for x in items]
            t.check(all(a <= b + 1 for a, b in zip(d, d[1:])), f"{label}: nearest first")
    return items


def run(node, agent, pg, bodies, records):
    svc = bodies.values()

    # Unfiltered, every page at several per_page values (500 is served as 200).
    check_list(node, agent, {}, list(bodies), per_pages=(7, 50, 200, 500))
    status, _, reply = api(node, agent, "GET", "/oruk/services?per_page=500")
    t.check(status == 200 and reply["per_page"] == 200 and reply["size"] == 200 and
            reply["total_pages"] == 2, "per_page=500 is clamped to 200 and the page says so")

    # Each filter against its brute-force answer.
    def ids(pred):
        return [b["id"] for b in svc if pred(b)]
    tr = lambda b: b["trellis"]  # noqa: E731
    cases = [
        ({"search": "lantern"}, ids(lambda b: "lantern" in words(b))),
        ({"need": "legal"}, ids(lambda b: "legal" in tr(b)["needs"])),
        ({"for_gender": "men"}, ids(lambda b: set(tr(b)["for_genders"]) & {"men", "all"})),
        ({"risk_level": "high"}, ids(lambda b: "high" in tr(b).get("risk_levels", []))),
        ({"accessibility": "bsl"}, ids(lambda b: "bsl" in tr(b).get("accessibility", []))),
        ({"taking_referrals": "true"}, ids(lambda b: tr(b).get("taking_referrals") is True)),
        ({"self_referral": "false"}, ids(lambda b: tr(b).get("self_referral") is False)),
        ({"minimum_age": 16, "maximum_age": 17},
         ids(lambda b: b.get("maximum_age", 130) >= 16 and b.get("minimum_age", 0) <= 17)),
        ({"maximum_age": 10}, ids(lambda b: b.get("minimum_age", 0) <= 10)),
        ({"organization_id": ORG_ID}, list(bodies)),
        ({"organization_id": str(uuid.uuid5(NS, "someone-else"))}, []),
        ({"taxonomy_term_id": TERMS[0][0]},
         ids(lambda b: any(a["taxonomy_term"]["id"] == TERMS[0][0]
                           for a in b.get("attributes", [])))),
        ({"taxonomy_id": TAXONOMY_LGA},
         ids(lambda b: any(taxonomy_id(x) == TAXONOMY_LGA for x in TERMS
                           if any(a["taxonomy_term"]["id"] == x[0]
                                  for a in b.get("attributes", []))))),
        ({"taxonomy_id": taxonomy_id(TERMS[0])},
         ids(lambda b: any(a["taxonomy_term"]["taxonomy"] == "Trellis needs"
                           for a in b.get("attributes", [])))),
        ({"day": "TU"}, ids(lambda b: schedule_match(b, "TU", None, None))),
        ({"day": "saturday", "start_time": "09:00", "end_time": "17:00"},
         ids(lambda b: schedule_match(b, "SA", "09:00", "17:00"))),
        ({"start_time": "10:00"}, ids(lambda b: schedule_match(b, None, "10:00", None))),
        ({"end_time": "15:00"}, ids(lambda b: schedule_match(b, None, None, "15:00"))),
        ({"district": "LS7"},
         ids(lambda b: any(a.get("name") == "LS7" for a in b.get("service_areas", [])) or
             any(ad["postal_code"].startswith("LS7 ") for s in b.get("service_at_locations", [])
                 for ad in s["location"].get("addresses", [])))),
        ({"need": "housing", "for_gender": "women", "search": "orchard"},
         ids(lambda b: "housing" in tr(b)["needs"] and
             set(tr(b)["for_genders"]) & {"women", "all"} and "orchard" in words(b))),
    ]
    for query, want in cases:
        t.check(len(want) > 0 or "organization_id" in query, f"fixture: {query} matches some")
        check_list(node, agent, query, want)
    check_list(node, agent, {"need": "children"}, ids(lambda b: "children" in tr(b)["needs"]),
               per_pages=(3, 11))

    # Service-at-locations: one row each, with its location and service.
    all_sals = [s["id"] for b in svc for s in b.get("service_at_locations", [])]
    check_list(node, agent, {}, all_sals, "service_at_locations", per_pages=(13, 500))
    check_list(node, agent, {"search": "meadow"},
               [s["id"] for b in svc if "meadow" in words(b)
                for s in b.get("service_at_locations", [])], "service_at_locations")
    check_list(node, agent, {"taxonomy_term_id": TERMS[3][0]},
               [s["id"] for b in svc
                if any(a["taxonomy_term"]["id"] == TERMS[3][0] for a in b.get("attributes", []))
                for s in b.get("service_at_locations", [])], "service_at_locations")

    # Near me by coordinates: ordered by distance, limited by proximity.
    origin = (-1.1000, 53.1000)  # near the whole-degree point (53, -1) of some locations
    for radius in (20000, 120000):
        dist = {b["id"]: service_distance(b, origin, lookup=False) for b in svc}
        want = [i for i, d in dist.items() if d is not None and d <= radius]
        t.check(len(want) > 0, f"fixture: something within {radius} m by coordinates")
        check_list(node, agent, {"lat": origin[1], "lng": origin[0], "proximity": radius}, want,
                   per_pages=(9, 500), order=lambda x: dist[x["id"]])
    # Before the lookup is loaded, a postcode filter says so.
    status, hdrs, reply = api(node, agent, "GET", "/oruk/services?postcode=LS6+1AA&proximity=2000")
    t.check(status == 400 and "not loaded" in str(reply) and
            hdrs.get("content-type", "").startswith("application/problem+json"),
            "postcode before the lookup is loaded: 400 that says so", str(reply)[:300])

    # The operator loads the lookup with one command.
    csv_path = os.path.join(node.dir, "onspd.csv")
    onspd(csv_path)
    p = subprocess.run([binary("trellisd"), "--config", node.config_path, "--load-postcodes",
                        csv_path], capture_output=True, text=True, timeout=120)
    t.check(p.returncode == 0 and f"loaded {len(LOOKUP)} postcodes" in p.stdout,
            "trellisd --load-postcodes loads the ONSPD extract", p.stdout + p.stderr)
    t.equal(pg.psql("SELECT count(*) FROM postcodes")[0][0], str(len(LOOKUP)),
            "terminated and unplaced postcodes are skipped")
    bad = os.path.join(node.dir, "bad.csv")
    with open(bad, "w") as f:
        f.write("a,b,c\n1,2,3\n")
    p = subprocess.run([binary("trellisd"), "--config", node.config_path, "--load-postcodes",
                        bad], capture_output=True, text=True, timeout=60)
    t.check(p.returncode != 0 and "pcd" in p.stderr and
            pg.psql("SELECT count(*) FROM postcodes")[0][0] == str(len(LOOKUP)),
            "a file that is not the ONSPD is refused and the lookup kept", p.stderr)

    lat, lng, _ = LOOKUP["LS6 1AA"]
    origin = (lng, lat)
    dist = {b["id"]: service_distance(b, origin) for b in svc}
    for radius in (1500, 8000):
        want = [i for i, d in dist.items() if d is not None and d <= radius]
        t.check(len(want) > 0, f"fixture: something within {radius} m of LS6 1AA")
        check_list(node, agent, {"postcode": "ls61aa", "proximity": radius}, want,
                   per_pages=(4, 500), order=lambda x: dist[x["id"]])
        sal_d = {s["id"]: sal_distance(b, s["id"], origin) for b in svc
                 for s in b.get("service_at_locations", [])}
        check_list(node, agent, {"postcode": "LS6 1AA", "proximity": radius},
                   [s for s, d in sal_d.items() if d is not None and d <= radius],
                   "service_at_locations", order=lambda x: sal_d[x["id"]])
    status, _, unknown = api(node, agent, "GET", "/oruk/services?postcode=ZE2+9ZZ&proximity=100")
    t.check(status == 400 and "unknown-postcode" in unknown.get("type", ""),
            "an unknown postcode: 400", str(unknown))

    # The public listener: confidential services by their area, never a point.
    def public(node_, agent_, method, path):
        import ssl
        import http.client
        ctx = ssl.create_default_context(cafile=node.pki.ca)
        c = http.client.HTTPSConnection("127.0.0.1", node_.public_port, context=ctx, timeout=30)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, dict(r.getheaders()), json.loads(r.read() or b"null")
        finally:
            c.close()
    conf = {b["id"] for b in svc if b["trellis"]["location_confidential"]}
    items = fetch_all(node, None, "/oruk/service_at_locations",
                      {"postcode": "LS6 1AA", "proximity": 8000}, 500, getter=public)
    conf_items = [x for x in items or [] if x["service_id"] in conf]
    t.check(len(conf_items) > 0, "public: confidential services take part by their area")
    for x in conf_items:
        loc = x["location"]
        t.check(set(loc) <= {"id", "location_type", "name"} and not errors(V_SAL, x),
                "public: a confidential location is its area only", json.dumps(loc))

    # modified_after: on or after the time this node received each version.
    items = fetch_all(node, agent, "/oruk/services", {"minimal": "true"}, 200)
    got = {x["id"]: x["last_modified"] for x in items or []}
    t.equal(sorted(got), sorted(bodies), "minimal lists every service")
    stamp = sorted(got.values())[len(got) // 2]
    check_list(node, agent, {"modified_after": stamp},
               [i for i, s in got.items() if s >= stamp])
    edited = dict(records[5], version=2)
    edited["body"] = dict(edited["body"], name=edited["body"]["name"] + " (edited)")
    later = max(got.values())
    status, _, reply = api(node, agent, "POST", "/v1/records", {"records": [edited]})
    t.check(status == 200, "an edit that keeps last_modified is stored")
    check_list(node, agent, {"modified_after": later}, [edited["id"]] +
               [i for i, s in got.items() if s >= later and i != edited["id"]])

    # Taxonomies: UUIDs, those named only by their name derived from it.
    status, _, reply = api(node, agent, "GET", "/oruk/taxonomies")
    tax = {x["id"]: x["name"] for x in reply.get("contents", [])}
    t.equal(tax, {taxonomy_id(TERMS[0]): "Trellis needs", TAXONOMY_LGA: "LGA services"},
            "/oruk/taxonomies: UUID ids, derived from the name when a term gives none")
    status, _, one = api(node, agent, "GET", f"/oruk/taxonomies/{taxonomy_id(TERMS[0])}")
    t.check(status == 200 and one.get("name") == "Trellis needs", "/oruk/taxonomies/{derived id}")
    items = fetch_all(node, agent, "/oruk/taxonomy_terms", {"taxonomy_id": taxonomy_id(TERMS[0])}, 2)
    t.equal(sorted(x["id"] for x in items or []), sorted(x[0] for x in TERMS[:3]),
            "/oruk/taxonomy_terms?taxonomy_id= lists that taxonomy's terms")
    t.check(all(x.get("taxonomy_id") == taxonomy_id(TERMS[0]) and not errors(V_TERM, x)
                for x in items or []), "terms carry their taxonomy's id and validate")

    # Organizations: one per publishing member.
    status, _, reply = api(node, agent, "GET", "/oruk/organizations")
    orgs = reply.get("contents", [])
    t.check(status == 200 and [o["id"] for o in orgs] == [ORG_ID] and
            not errors(V_ORG, orgs[0]), "/oruk/organizations: the member, valid", str(reply)[:300])
    status, _, org = api(node, agent, "GET", f"/oruk/organizations/{ORG_ID}")
    t.check(status == 200 and org["id"] == ORG_ID and len(org.get("services", [])) == len(bodies)
            and not errors(V_ORG, org), "/oruk/organizations/{id} with its services")

    # Filters the node cannot honour are refused, never ignored.
    for path in ("/oruk/services?full=true", "/oruk/services?format=ndjson",
                 "/oruk/taxonomy_terms?search=x", "/oruk/taxonomies?taxonomy_id=" + TAXONOMY_LGA,
                 "/oruk/service_at_locations?minimal=true", "/oruk/organizations?colour=red",
                 "/oruk/services?proximity=100", "/oruk/services?day=someday"):
        status, hdrs, reply = api(node, agent, "GET", path)
        t.check(status == 400 and hdrs.get("content-type", "").startswith(
            "application/problem+json") and reply.get("detail"), f"{path}: 400 problem+json",
            str(reply)[:200])

    # Last, as it replaces the ONSPD lookup the checks above use.
    codepoint(node, agent, pg, svc, unknown)


# ---- OS Code-Point Open ----

# A Code-Point Open extract as its Data/CSV folder holds one: a file per
# postcode area, no header, ten columns (Postcode,
# Positional_quality_indicator, Eastings, Northings, Country_code,
# NHS_regional_HA_code, NHS_HA_code, Admin_county_code,
# Admin_district_code, Admin_ward_code), the postcode padded to seven.
# Invented grid references near the ONSPD points above, not at them.
CPO = {  # file: [(postcode, quality, eastings, northings, lad)]
    "ls.csv": [("LS6 1AA", 10, 428507, 436318, "E08000035"),
               ("LS6 2AB", 10, 429163, 436845, "E08000035"),
               ("LS7 3DE", 20, 431254, 437402, "E08000035"),
               ("LS1 4FG", 10, 429921, 433611, "E08000035"),
               ("LS2 9JT", 50, 429388, 434630, "E08000035"),
               ("LS9 9ZZ", 90, 0, 0, "E08000035")],  # no coordinates: skipped
    "m.csv": [("M1  1AE", 10, 384312, 398010, "E08000003"),
              ("M1  2AB", 30, 384630, 397600, "E08000003")],
}


def write_codepoint(folder, files, extra=None):
    os.makedirs(folder)
    for k, (name, rows) in enumerate(sorted(files.items())):
        with open(os.path.join(folder, name), "w", newline="") as f:
            for pc, q, e, n, lad in rows:  # one file with CRLF line ends, one with LF
                f.write(f'"{pc}",{q},{e},{n},"E92000001","E19000001","E18000003","",'
                        f'"{lad}","E05011405"' + ("\r\n" if k else "\n"))
    for name, text in (extra or {}).items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def load_postcodes(node, path):
    return subprocess.run([binary("trellisd"), "--config", node.config_path, "--load-postcodes",
                           path], capture_output=True, text=True, timeout=120)


def lookup_rows(pg):
    return pg.psql("SELECT postcode, geo[1], geo[0], district, coalesce(lad, '') FROM postcodes "
                   "ORDER BY postcode")


def codepoint(node, agent, pg, svc, unknown):
    """The lookup from an OS Code-Point Open folder with the same one command:
    each point where PROJ puts the grid reference, the quality-90 postcode
    left out, searches by distance from the right point, and a bad file
    refusing the whole load with the lookup kept."""
    # PROJ's own choice of transformation from the British National Grid
    # to WGS84: the OS's Helmert ("OSGB36 to WGS 84 (6)") where PROJ has
    # not the OSTN15 grid (Debian's proj-data has not; it warns so).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        to_wgs84 = pyproj.Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    lookup = {}  # as LOOKUP: {postcode: (lat, lng, lad)}
    for rows in CPO.values():
        for pc, q, e, n, lad in rows:
            if q != 90:
                lng, lat = to_wgs84.transform(e, n)
                lookup[" ".join(pc.split())] = (lat, lng, lad)

    # One area file alone, then the folder.
    folder = os.path.join(node.dir, "codepo_gb", "Data", "CSV")
    write_codepoint(folder, CPO)
    p = load_postcodes(node, os.path.join(folder, "ls.csv"))
    t.check(p.returncode == 0 and "loaded 5 postcodes (of 6 rows)" in p.stdout and
            "(OS Code-Point Open, 1 file)" in p.stdout,
            "--load-postcodes reads one Code-Point Open file and says so", p.stdout + p.stderr)
    t.equal([r[0] for r in lookup_rows(pg)], ["LS14FG", "LS29JT", "LS61AA", "LS62AB", "LS73DE"],
            "that file's postcodes, the quality-90 one left out")
    p = load_postcodes(node, folder)
    t.check(p.returncode == 0 and
            f"loaded {len(lookup)} postcodes (of {sum(map(len, CPO.values()))} rows)" in p.stdout
            and "(OS Code-Point Open, 2 files)" in p.stdout,
            "--load-postcodes reads a Code-Point Open folder and says so", p.stdout + p.stderr)
    got = {r[0]: (float(r[1]), float(r[2]), r[3], r[4]) for r in lookup_rows(pg)}
    t.equal(sorted(got), sorted(key(pc) for pc in lookup),
            "every postcode of both files, padding and spaces gone, quality 90 left out")
    off = [distance((got[key(pc)][1], got[key(pc)][0]), (lng, lat))
           for pc, (lat, lng, _) in lookup.items() if key(pc) in got]
    # The same method: millimetres apart. Were PROJ to use OSTN15, the
    # Helmert's few metres from it.
    t.check(off and max(off) < 5, "each postcode where PROJ puts its grid reference",
            f"{max(off or [0]):.3f} m at worst")
    t.check(all(got[key(pc)][2:] == (key(pc)[:-3], lad) for pc, (_, _, lad) in lookup.items()
                if key(pc) in got), "each with its district and local authority")

    # Near me by postcode: from the Code-Point Open point, not the ONSPD one.
    lat, lng, _ = lookup["LS6 1AA"]
    origin = (lng, lat)
    dist = {b["id"]: service_distance(b, origin, lookup) for b in svc}
    old = {b["id"]: service_distance(b, (LOOKUP["LS6 1AA"][1], LOOKUP["LS6 1AA"][0]))
           for b in svc}
    differs = False
    for radius in (1500, 5000, 100000):
        want = [i for i, d in dist.items() if d is not None and d <= radius]
        edge = [d for d in dist.values() if d is not None and abs(d - radius) < 50]
        t.check(len(want) > 0 and not edge,
                f"fixture: something within {radius} m of LS6 1AA, nothing at the edge")
        differs |= set(want) != {i for i, d in old.items() if d is not None and d <= radius}
        check_list(node, agent, {"postcode": "LS6 1AA", "proximity": radius}, want,
                   per_pages=(6, 500), order=lambda x: dist[x["id"]])
    t.check(differs, "fixture: the Code-Point Open answers are not the ONSPD lookup's")
    sal_d = {s["id"]: sal_distance(b, s["id"], origin, lookup) for b in svc
             for s in b.get("service_at_locations", [])}
    check_list(node, agent, {"postcode": "ls61aa", "proximity": 5000},
               [s for s, d in sal_d.items() if d is not None and d <= 5000],
               "service_at_locations", order=lambda x: sal_d[x["id"]])
    status, _, reply = api(node, agent, "GET", "/oruk/services?postcode=LS9+9ZZ&proximity=100")
    t.check(status == 400 and reply == unknown,
            "the quality-90 postcode: the 400 of a postcode not in the lookup", str(reply))

    # A bad file refuses the whole load, naming its file and line; the
    # lookup stays as it was.
    before = lookup_rows(pg)
    good = "".join(f'"{pc}",10,{e},{n},"E92000001","","","","{lad}",""\n'
                   for pc, _, e, n, lad in CPO["ls.csv"][:3])
    bad = {
        "nine fields": ("zz.csv", good + '"ZE1 0AA",10,445000,1141000,"S92000003","","","",""\n',
                        "zz.csv line 4: 9 fields"),
        "eastings not a number": ("ab.csv", good.replace("429163", "4291G3"),
                                  "ab.csv line 2: the eastings and northings"),
        "an ONSPD file among them": ("onspd.csv", "pcd,pcds,lat,long\n",
                                     "onspd.csv line 1: not a Code-Point Open row"),
    }
    for what, (name, text, says) in bad.items():
        folder = os.path.join(node.dir, "bad-" + name[:-4])
        write_codepoint(folder, CPO, {name: text})
        p = load_postcodes(node, folder)
        t.check(p.returncode != 0 and says in p.stderr, f"a Code-Point Open folder with {what}: "
                "refused, naming the file and line", p.stdout + p.stderr)
        t.check(lookup_rows(pg) == before, f"{what}: the lookup kept")
    p = load_postcodes(node, os.path.join(node.dir, "bad-ab", "ab.csv"))
    t.check(p.returncode != 0 and "ab.csv line 2" in p.stderr and lookup_rows(pg) == before,
            "the bad file alone: refused, the lookup kept", p.stderr)
    check_list(node, agent, {"postcode": "LS6 1AA", "proximity": 5000},
               [i for i, d in dist.items() if d is not None and d <= 5000])


if __name__ == "__main__":
    main()
