"""No personal data and no confidential location on any viewer page or CSV.
Records with planted identifiers (names, NHS numbers, e-mail addresses,
phone numbers, a case reference) and a confidential service with a street
address are pushed through the API (the node refuses them: that is checked
too); records with hostile text in every text field (markup, quotes, a
template) are stored. Then every page and CSV reachable from /viewer/ is
crawled, filters and downloads included: none of the planted identifiers or
the confidential address appears, no markup from a record reaches a page
unescaped, and a confidential service shows its area and nothing more."""

import copy
import re
import uuid
from urllib.parse import urlsplit

import fedkit as fk
from fedkit import sd
from harness import Checks, PgCluster, Pki, api
from viewkit import get, links, viewer_node

t = Checks("test_viewer_crawl")
A, B = sd.ORGS[0], sd.ORGS[1]
HOSTILE = "<script>alert(\"x\")</script> 'single' \"double\" {{7*7}} <img src=x onerror=alert(1)>"
# What must never appear: identifiers planted in refused records, and the
# street address of a confidential service (also refused).
SECRETS = ["Jane Trellisdoe", "943 476 5919", "9434765919", "jane.trellisdoe@example.com",
           "07700 900123", "CASE-55512", "17 Hidden Mews", "LS6 9ZZ"]
MAX_URLS = 400


def hostile_service(org, base):
    rec = copy.deepcopy(base)
    rec["id"] = rec["body"]["id"] = str(uuid.uuid4())
    body = rec["body"]
    body["name"] = "Hostile " + HOSTILE
    body["description"] = "Described " + HOSTILE
    body["organization"]["description"] = "Org " + HOSTILE
    body["service_areas"][0]["name"] = "Area " + HOSTILE
    body["service_areas"][0]["extent"] = "Extent " + HOSTILE
    for sal in body.get("service_at_locations", []):
        sal["location"]["name"] = "Place " + HOSTILE
        sal["location"]["addresses"][0]["address_1"] = "1 Hostile Street " + HOSTILE[:40]
    return rec


def confidential(org, base, with_address):
    rec = copy.deepcopy(base)
    rec["id"] = rec["body"]["id"] = str(uuid.uuid4())
    body = rec["body"]
    body["name"] = "Quiet House " + ("addressed" if with_address else "area only")
    body["trellis"]["location_confidential"] = True
    body["trellis"]["taking_referrals"] = True
    body["service_areas"][0]["name"] = "Leeds (area)"
    body["service_areas"][0]["extent"] = "Leeds (area)"
    body.pop("service_at_locations", None)
    if with_address:
        body["service_at_locations"] = [{
            "id": str(uuid.uuid4()),
            "location": {"id": str(uuid.uuid4()), "location_type": "physical",
                         "name": "The house", "addresses": [{
                             "id": str(uuid.uuid4()), "address_1": "17 Hidden Mews",
                             "city": "Leeds", "state_province": "West Yorkshire",
                             "postal_code": "LS6 9ZZ", "country": "GB",
                             "address_type": "physical"}]}}]
    return rec


def refused(node, agent, records):
    status, _, reply = api(node, agent, "POST", "/v1/records", {"records": records})
    return status == 200 and [r.get("result") for r in reply.get("results", [])] == \
        ["refused"] * len(records), str(reply)[:400]


with PgCluster("crawl") as pg:
    pki = Pki()
    a = b = None
    try:
        for db in ("a", "b"):
            pg.create_db(db)
        a = viewer_node(pki, pg, A, "a", db="a")
        b = viewer_node(pki, pg, B, "b", db="b")
        a.add_peer(b, share="all")
        b.add_peer(a, share="all")
        a.start()
        b.start()
        ag_a, ag_b = pki.agent(A, "office"), pki.agent(B, "office")

        # ---- what the nodes must refuse ----
        base_a = sd.services(A)[1]  # a service with an office address
        ok, why = refused(a, ag_a, [confidential(A, base_a, True)])
        t.check(ok, "a confidential service with a street address is refused", why)
        entry = fk.entry(A, "Jane Trellisdoe, NHS 943 476 5919, rang from 07700 900123")
        entry2 = fk.entry(A, "Write to jane.trellisdoe@example.com about CASE-55512")
        ok, why = refused(a, ag_a, [entry, entry2])
        t.check(ok, "feedback with a name, NHS number, phone, e-mail and case reference is "
                "refused", why)
        ref = sd.referrals(A, 1)[0][0]
        ref["body"]["client_name"] = "Jane Trellisdoe"
        ok, why = refused(a, ag_a, [ref])
        t.check(ok, "a referral carrying a client's name is refused", why)

        # ---- what they store: hostile text everywhere, a confidential service ----
        fk.post(a, ag_a, sd.services(A) + [hostile_service(A, base_a),
                                           confidential(A, base_a, False)])
        fk.post(b, ag_b, sd.services(B) + [hostile_service(B, sd.services(B)[0])])
        refs, mine, _ = sd.referrals(A, 30)
        fk.post(a, ag_a, refs + mine + sd.feedback(A))
        e = sd.envelope("feedback.entry", str(uuid.uuid4()), A,
                        {"week": "2026-W44", "source_role": "staff", "themes": ["safety"],
                         "summary": "Summary " + HOSTILE, "easy_read": "Easy " + HOSTILE,
                         "level": "co_production"})
        fk.post(a, ag_a, [e, sd.envelope("feedback.response", str(uuid.uuid4()), A,
                                          {"entry": e["id"], "week": "2026-W45",
                                           "status": "cannot_change",
                                           "why_not": "Because " + HOSTILE})])
        t.check(fk.wait_for(lambda: any(o == B for (k, _), (_s, _h, o) in
                                        fk.held(pg, "a").items()
                                        if k == "directory.service"), 30),
                "B's services have reached A")

        # ---- the crawl ----
        seen, todo, pages, csvs = set(), ["/viewer/"], 0, 0
        leaks, unescaped, failures = [], [], []
        escaped_seen = False
        while todo and len(seen) < MAX_URLS:
            path = todo.pop(0)
            if path in seen:
                continue
            seen.add(path)
            status, hdrs, body = get(a, path)
            if status != 200:
                failures.append(f"{path}: {status}")
                continue
            ctype = hdrs.get("content-type", "")
            for s in SECRETS:
                if s.lower() in body.lower():
                    leaks.append(f"{path}: {s}")
            if ctype.startswith("text/csv"):
                csvs += 1
                continue
            if not ctype.startswith("text/html"):
                continue
            pages += 1
            for bad in ("<script", "<img", "{{"):
                if bad in body:
                    unescaped.append(f"{path}: {bad}")
            # an event handler inside any tag (escaped text may say "onerror=")
            if re.search(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", body):
                unescaped.append(f"{path}: an on...= attribute")
            if "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body:
                escaped_seen = True
            for h in links(body):
                h = h.split("#")[0]  # a browser never sends the fragment
                if not h:
                    continue
                if h.startswith("?"):
                    h = urlsplit(path).path + h
                if h.startswith("/viewer") and h not in seen:
                    todo.append(h)
            # every filter a form offers, one value at a time
            for form in re.findall(r'<form [^>]*action="([^"]*)"[^>]*>(.*?)</form>', body, re.S):
                action, inner = form
                action = action.split("#")[0]
                for name, opts in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>',
                                             inner, re.S):
                    for v in re.findall(r'<option value="([^"]+)"', opts):
                        u = f"{action}?{name}={v}"
                        if u not in seen:
                            todo.append(u)
                            todo.append(u + "&format=csv")
        t.check(pages >= 10 and csvs >= 3, f"the crawl read {pages} pages and {csvs} CSV files")
        t.check(any(p.startswith("/viewer/pathways") for p in seen),
                "the pathways page and its tables were among them")
        t.equal(failures, [], "every page and CSV linked answers 200")
        t.equal(leaks, [], "no planted identifier or confidential address on any page or CSV")
        t.equal(unescaped, [], "no markup or template from a record unescaped on any page")
        t.check(escaped_seen, "the hostile text is shown, escaped, somewhere")

        # ---- the confidential service: its area, nothing more ----
        status, _, body = get(a, "/viewer/directory?search=Quiet+House")
        m = re.search(r'href="(/viewer/directory/services/[^"]+)"[^>]*>Quiet House area only',
                      body)
        t.check(m, "the confidential service is found in the directory", body[-600:])
        if m:
            status, _, page = get(a, m.group(1).replace("&amp;", "&"))
            t.check(status == 200 and "Leeds (area)" in page, "its page shows its area")
            t.check("Market Street" not in page and "LS1 6DT" not in page
                    and "Address" not in page,
                    "and no address of any kind")
        fk.stop_checked(t, a)
        fk.stop_checked(t, b)
    finally:
        fk.close_nodes(a, b)
        pki.close()

t.finish()
