"""The viewer's directory pages on two peered nodes: the search page over the
shared directory query layer (words and each filter, paging, its CSV the
same rows as the page), and the coordinator's coverage view (which needs
have no service taking referrals in which districts). Expected results are
worked out here from the records posted."""

import copy
import csv
import io
import re
import uuid

import fedkit as fk
from fedkit import sd
from harness import Checks, PgCluster, Pki
from viewkit import get, missing_security_headers, viewer_node

t = Checks("test_viewer_directory")
A, B = sd.ORGS[0], sd.ORGS[1]


def names_on(html):
    """Service names linked from the results table, in order."""
    return [re.sub(r"&#39;", "'", n) for n in
            re.findall(r'<a href="/viewer/directory/services/[^"]+">([^<]*)</a>', html)]


def area_service(org, base, name, area, needs, taking):
    rec = copy.deepcopy(base)
    rec["id"] = rec["body"]["id"] = str(uuid.uuid4())
    b = rec["body"]
    b["name"] = name
    b["service_areas"] = [{"id": str(uuid.uuid4()), "name": area, "extent_type": "text",
                           "extent": area}]
    b["trellis"].update({"needs": needs, "taking_referrals": taking})
    b.pop("service_at_locations", None)  # its area alone names its district
    return rec


with PgCluster("viewdir") as pg:
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
        sa, sb = sd.services(A), sd.services(B)
        extra = [area_service(A, sa[1], "Area Six Refuge Line", "LS6", ["refuge", "housing"], True),
                 area_service(A, sa[1], "Area Seven Counselling", "LS7", ["counselling"], False),
                 area_service(A, sa[1], "Leeds Council Legal Help", "E08000035", ["legal"], True)]
        fk.post(a, ag_a, sa + extra)
        fk.post(b, ag_b, sb)
        t.check(fk.wait_for(lambda: len([k for k in fk.held(pg, "a") if k[0] ==
                                         "directory.service"]) == len(sa + sb + extra), 30),
                "A holds both members' services")
        every = [r["body"] for r in sa + sb + extra]

        def expect(pred):
            return sorted(x["name"] for x in every if pred(x))

        def listed(query):
            status, hdrs, body = get(a, "/viewer/directory" + query)
            if status != 200:
                return status, body[:300]
            return sorted(names_on(body)), None

        status, hdrs, body = get(a, "/viewer/directory")
        t.equal(status, 200, "GET /viewer/directory")
        t.equal(missing_security_headers(hdrs), [], "the directory page carries the headers")
        t.equal(sorted(names_on(body)), expect(lambda x: True), "every service is listed")
        for field in ('name="search"', 'name="need"', 'name="district"', 'name="for_gender"',
                      'name="age"', 'name="risk_level"', 'name="accessibility"',
                      'name="self_referral"', 'name="taking_referrals"'):
            t.check(field in body, f"the search form has {field}")
        t.check(re.search(r'<label for="f-need">', body) is not None,
                "the form's controls have labels")
        n_all = len(every)
        shown = "fewer than 8" if n_all < 8 else str(5 * round(n_all / 5))
        t.check(f"Services found: {shown}." in body,
                f"the number found ({n_all}) passes the small-number rule: {shown}")
        status, _, body1 = get(a, "/viewer/directory?search=Clearview")
        t.check("Services found: fewer than 8." in body1, "one found: 'fewer than 8'")

        cases = [
            ("?search=Clearview", lambda x: "Clearview" in x["name"]),
            ("?need=counselling", lambda x: "counselling" in x["trellis"]["needs"]),
            ("?for_gender=men", lambda x: set(x["trellis"]["for_genders"]) & {"men", "all"}),
            ("?age=12", lambda x: x.get("minimum_age", 0) <= 12 <= x.get("maximum_age", 130)),
            ("?taking_referrals=true", lambda x: x["trellis"]["taking_referrals"]),
            ("?taking_referrals=false&need=counselling",
             lambda x: not x["trellis"]["taking_referrals"] and "counselling" in x["trellis"]["needs"]),
            ("?accessibility=easy_read", lambda x: "easy_read" in x["trellis"]["accessibility"]),
            ("?district=LS6", lambda x: x["service_areas"][0]["name"] == "LS6"),
            ("?district=E08000035", lambda x: x["service_areas"][0]["name"] == "E08000035"),
            ("?risk_level=high&self_referral=true",
             lambda x: "high" in x["trellis"]["risk_levels"] and x["trellis"]["self_referral"]),
            ("?search=&need=&district=&for_gender=&age=&risk_level=&accessibility="
             "&self_referral=&taking_referrals=", lambda x: True),
        ]
        for q, pred in cases:
            got, err = listed(q)
            t.equal(got, expect(pred), f"{q}: the services that match")

        status, _, body = get(a, "/viewer/directory?need=legal&accessibility=braille")
        t.check(status == 200 and "No service matches" in body, "no match says so")

        # paging: the same filters on every page, no service twice
        status, _, p1 = get(a, "/viewer/directory?per_page=4")
        t.check("Next page" in p1 and "Previous page" not in p1, "a first page links the next")
        nxt = re.search(r'<a href="(\?[^"]*page=2)">Next page', p1)
        t.check(nxt, "the next page's link keeps the filters")
        if nxt:
            status, _, p2 = get(a, "/viewer/directory" + nxt.group(1).replace("&amp;", "&")
                                + "&per_page=4")
            t.check(status == 200 and not set(names_on(p1)) & set(names_on(p2))
                    and "Previous page" in p2, "page 2 holds other services and links back")

        # CSV: exactly the rows of the page
        for q in ("?need=advocacy", "?taking_referrals=true&for_gender=women"):
            status, _, html = get(a, "/viewer/directory" + q)
            status, hdrs, text = get(a, "/viewer/directory" + q + "&format=csv")
            rows = list(csv.reader(io.StringIO(text)))
            t.check(status == 200 and hdrs.get("content-type", "").startswith("text/csv"),
                    f"{q}: the CSV download")
            t.equal(rows[0][0], "Service", f"{q}: the CSV's header row")
            t.equal([r[0] for r in rows[1:]], names_on(html), f"{q}: the CSV has the page's rows")
        t.check('format=csv' in html, "the page links its CSV")

        for q, what in (("?need=nope", "an unknown need"), ("?age=200", "an age past 130"),
                        ("?colour=red", "an unknown parameter"), ("?format=pdf", "format=pdf"),
                        ("?taking_referrals=maybe", "a bad yes/no"),
                        ("?district=" + "L" * 40, "an overlong district")):
            status, hdrs, body = get(a, "/viewer/directory" + q)
            t.check(status == 400 and hdrs.get("content-type", "").startswith(
                "application/problem+json"), f"{what}: 400 problem+json", f"{status} {body[:100]}")

        # every listed service has its page
        status, _, body = get(a, "/viewer/directory?search=Counselling")
        for href in re.findall(r'href="(/viewer/directory/services/[^"]+)"', body):
            status, _, page = get(a, href.replace("&amp;", "&"))
            t.check(status == 200 and "How to refer" in page, f"{href}: the service's page")

        # A kept page (view_cache.h) lasts until the next store, a batch
        # pulled from a peer included: B's new version shows on A's page.
        q = "/viewer/directory?search=Zanzibarquest"
        status, _, body = get(a, q)
        t.check(status == 200 and names_on(body) == [], "a word no service has: none listed")
        v2 = copy.deepcopy(sb[0])
        v2["version"] += 1
        v2["body"]["description"] += " Zanzibarquest."
        fk.post(b, ag_b, [v2])
        t.check(fk.wait_for(lambda: names_on(get(a, q)[2]) == [v2["body"]["name"]], 30),
                "after B's new version reaches A the same page lists it, not the kept page")

        # ---- coverage ----
        status, hdrs, body = get(a, "/viewer/coverage")
        t.equal(status, 200, "GET /viewer/coverage")
        status, hdrs, text = get(a, "/viewer/coverage?format=csv")
        rows = {r[0]: r for r in list(csv.reader(io.StringIO(text)))[1:]}
        named = {"E08000035", "LS6", "LS7"} | {
            ad["postal_code"].split()[0] for x in every for sal in x.get("service_at_locations", [])
            for ad in sal["location"].get("addresses", [])}
        t.equal(sorted(rows), sorted(named),
                "coverage has a row for each district or authority the services name")
        ls6 = rows.get("LS6", ["", "", ""])
        t.check("Refuge" in ls6[2] and "Housing" in ls6[2] and "Refuge" not in ls6[1]
                and "Counselling" in ls6[1], "LS6: refuge and housing covered, counselling a gap",
                str(ls6))
        t.equal(ls6[3:], ["fewer than 8"], "LS6: its one service taking referrals, as 'fewer "
                "than 8'")
        ls7 = rows.get("LS7", ["", "", ""])
        t.check("Counselling" in ls7[1] and ls7[2] == "None",
                "LS7: its one service is not taking referrals, so every need is a gap", str(ls7))
        status, _, text = get(a, "/viewer/coverage?need=legal&format=csv")
        rows = {r[0]: r for r in list(csv.reader(io.StringIO(text)))[1:]}
        t.check(rows.get("E08000035", [""] * 3)[2] == "Legal" and rows.get("LS6", [""] * 3)[1]
                == "Legal", "need=legal: covered by the council area's service, a gap in LS6",
                str(rows))
        status, _, _ = get(a, "/viewer/coverage?need=nope")
        t.equal(status, 400, "coverage with an unknown need: 400")
        fk.stop_checked(t, a)
        fk.stop_checked(t, b)
    finally:
        fk.close_nodes(a, b)
        pki.close()

t.finish()
