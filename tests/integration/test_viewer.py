"""The viewer listener on a real node: plain HTTP on loopback, the security
headers on every reply, the versioned stylesheet, who may see it (the user
name believed only from a trusted proxy, shown and logged; a proxy that names
nobody refused), the refusal to start on a non-loopback address without a
proxy, the API and the viewer kept apart, and the feedback log with its
filters, CSV and easy-read view, with hostile text in every field."""

import csv
import io
import json
import re
import uuid

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api, free_port
from viewkit import get, missing_security_headers, viewer_node

t = Checks("test_viewer")
A = sd.ORGS[0]
PLANT = "<script>alert('x')</script> \"quoted\" {{7*7}}"


def entry(themes, level, summary, easy):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), A,
                       {"week": "2026-W45", "source_role": "service_user", "themes": themes,
                        "summary": summary, "easy_read": easy, "level": level})


def answer(entry_id, status, week="2026-W46", what_changed=None, why_not=None):
    body = {"entry": entry_id, "week": week, "status": status}
    if what_changed:
        body["what_changed"] = what_changed
    if why_not:
        body["why_not"] = why_not
    return sd.envelope("feedback.response", str(uuid.uuid4()), A, body)


with PgCluster("viewer") as pg:
    pki = Pki()
    node = refused = None
    try:
        node = viewer_node(pki, pg, A, "a", viewer={"trusted_proxies": "127.0.0.2"},
                           config={"node": {"log_requests": "off"}})
        node.start()
        agent = pki.agent(A, "office")

        # ---- the frame and its headers ----
        status, hdrs, body = get(node, "/")
        t.equal((status, hdrs.get("location")), (303, "/viewer/"), "/ on the viewer: to /viewer/")
        status, hdrs, body = get(node, "/viewer/", headers={"X-Forwarded-User": "mallory"})
        t.equal(status, 200, "GET /viewer/ over plain HTTP on loopback")
        t.check(hdrs.get("content-type", "").startswith("text/html; charset=utf-8"),
                "the page is text/html in UTF-8", hdrs.get("content-type"))
        t.equal(missing_security_headers(hdrs), [], "a page carries CSP, nosniff, "
                "Referrer-Policy and frame denial")
        t.check("mallory" not in body and "Signed in as" not in body,
                "a user header from an address that is no trusted proxy is ignored")
        t.check('<a class="skip" href="#main">' in body and '<main id="main"' in body,
                "the frame has a skip link to main")
        for page in ("/viewer/directory", "/viewer/coverage", "/viewer/feedback",
                     "/viewer/feedback/easy-read"):
            t.check(f'href="{page}"' in body, f"the navigation links {page}")

        css = re.findall(r'<link rel="stylesheet" href="(/viewer/static/[^"]+)"', body)
        t.check(css, "the page names its stylesheet on the node")
        status, hdrs, text = get(node, css[-1])
        t.equal(status, 200, "the stylesheet is served")
        t.check(hdrs.get("content-type", "").startswith("text/css")
                and "max-age=31536000" in hdrs.get("cache-control", ""),
                "the stylesheet is text/css with a year's caching", str(hdrs))
        t.check(":focus" in text, "the stylesheet keeps focus visible")
        status, hdrs, _ = get(node, "/viewer/static/trellis.00000000.css")
        t.equal(status, 404, "a stylesheet of another version is not found")
        t.equal(missing_security_headers(hdrs), [], "an error reply carries the headers too")

        # ---- the proxy and the signed-in user ----
        status, _, body = get(node, "/viewer/", source="127.0.0.2",
                              headers={"X-Forwarded-User": "alice <b>"})
        t.equal(status, 200, "a request through the trusted proxy")
        t.check("Signed in as <strong>alice &lt;b&gt;</strong>" in body,
                "the proxy's user is shown on the page, escaped")
        status, hdrs, body = get(node, "/viewer/", source="127.0.0.2")
        t.equal(status, 403, "the trusted proxy naming no user: 403")
        t.check(hdrs.get("content-type", "").startswith("application/problem+json")
                and "X-Forwarded-User" in json.loads(body).get("detail", ""),
                "the refusal is problem+json naming the header", body[:200])
        status, _, _ = get(node, "/viewer/", source="127.0.0.2",
                           headers={"X-Forwarded-User": "x" * 300})
        t.equal(status, 400, "a user name past 256 bytes: 400")
        views = [e for e in node.log_events() if e.get("event") == "view"]
        t.check(any(e.get("user") == "alice <b>" and e.get("path") == "/viewer/" for e in views),
                "each view is logged with the signed-in user", str(views[-3:])[:400])
        t.check(all(e.get("user") != "mallory" for e in views),
                "a user header not from the proxy is not logged as the user")

        # ---- the API and the viewer apart ----
        for path in ("/v1/changes", "/metrics", "/v1/feedback", "/oruk/services"):
            status, _, _ = get(node, path)
            t.equal(status, 404, f"{path} is not served on the viewer listener")
        status, _, _ = api(node, agent, "GET", "/viewer/feedback")
        t.equal(status, 404, "the viewer's pages are not served on the API listener")
        status, hdrs, _ = get(node, "/viewer/feedback", method="POST")
        t.equal(status, 405, "the viewer is read-only: POST is 405")
        status, _, body = get(node, "/viewer/feedback", method="HEAD")
        t.equal((status, body), (200, ""), "HEAD answers without a body")
        status, _, _ = get(node, "/healthz")
        t.equal(status, 200, "/healthz on the viewer listener (for the proxy's checks)")

        # ---- bad input ----
        for q, what in (("?colour=red", "an unknown parameter"), ("?format=pdf", "format=pdf"),
                        ("?theme=nope", "an unknown theme"), ("?status=%ZZ", "a bad escape"),
                        ("?level=" + "a" * 100, "an overlong level")):
            status, hdrs, body = get(node, "/viewer/feedback" + q)
            t.check(status == 400 and hdrs.get("content-type", "").startswith(
                "application/problem+json"), f"{what}: 400 problem+json", f"{status} {body[:120]}")

        # ---- the feedback log ----
        e1 = entry(["safety"], "co_design", "Summary one " + PLANT, "Easy one " + PLANT)
        e2 = entry(["access"], "consultation", "Summary two about access",
                   "You told us the door was hard to open.")
        e3 = entry(["safety", "digital"], "co_production", "Summary three", "Easy three")
        records = [e1, e2, e3,
                   answer(e1["id"], "heard", "2026-W45"),
                   answer(e1["id"], "changed", what_changed="=1+2 changed " + PLANT),
                   answer(e2["id"], "cannot_change", why_not="No money <img src=x onerror=1>"),
                   ]
        fk.post(node, agent, records)

        status, hdrs, body = get(node, "/viewer/feedback")
        t.equal(status, 200, "GET /viewer/feedback")
        t.equal(missing_security_headers(hdrs), [], "the feedback page carries the headers")
        t.check("<script>" not in body and "{{" not in body and "<img" not in body,
                "no planted markup or template reaches the page unescaped")
        t.check("Summary one &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;quoted&quot; "
                "&#123;&#123;7*7}}" in body, "a planted summary shows as text")
        t.check("No money &lt;img src=x onerror=1&gt;" in body,
                "what could not change, and why, is shown")
        t.check("=1+2 changed &lt;script&gt;" in body, "what changed is shown, escaped")
        t.check("Summary two about access" in body and "Summary three" in body,
                "every entry is listed without filters")
        t.check('href="/viewer/feedback/easy-read?' in body.replace("&amp;", "&"),
                "the feedback page links its easy-read view")

        status, _, body = get(node, "/viewer/feedback?theme=safety")
        t.check("Summary one" in body and "Summary three" in body
                and "Summary two" not in body, "theme=safety shows only the safety entries")
        status, _, body = get(node, "/viewer/feedback?status=cannot_change")
        t.check("Summary two" in body and "Summary one" not in body,
                "status=cannot_change shows the entry that could not change")
        status, _, body = get(node, "/viewer/feedback?level=co_production")
        t.check("Summary three" in body and "Summary one" not in body,
                "level=co_production filters by involvement")
        status, _, body = get(node, "/viewer/feedback?status=open")
        t.check("Summary three" in body and "Summary two" not in body,
                "status=open shows the unanswered entry")

        status, hdrs, csv_text = get(node, "/viewer/feedback?theme=safety&format=csv")
        t.equal(status, 200, "the feedback table as CSV")
        t.check(hdrs.get("content-type", "").startswith("text/csv")
                and "attachment" in hdrs.get("content-disposition", ""),
                "CSV is text/csv, as a download", str(hdrs))
        rows = list(csv.reader(io.StringIO(csv_text)))
        t.equal(rows[0][0:3], ["Week", "Organisation", "Who said it"], "the CSV has a header row")
        t.equal(len(rows), 3, "the CSV has exactly the rows the page shows (2 safety entries)")
        t.check(any("'=1+2 changed" in cell for row in rows for cell in row),
                "a cell starting with = is made inert in the CSV", csv_text[:500])
        t.check(any(("Summary one " + PLANT) in cell for row in rows for cell in row),
                "the CSV holds the text as written (quotes doubled, then read back)")
        t.check("<html" not in csv_text, "the CSV is the table only")

        # counts by status, through the small-number rule
        status, hdrs, text = get(node, "/viewer/feedback?table=status&format=csv")
        t.equal(list(csv.reader(io.StringIO(text))),
                [["Status", "Entries"], ["Not answered yet", "fewer than 8"], ["Heard", "0"],
                 ["Agreed", "0"], ["In progress", "0"], ["Changed", "fewer than 8"],
                 ["Cannot change", "fewer than 8"], ["All entries", "fewer than 8"]],
                "entries by status: 1 to 7 published as 'fewer than 8', the total too")
        fk.post(node, agent, [entry(["digital"], "consultation", f"Digital {i}", "Easy digital")
                              for i in range(11)])
        status, _, text = get(node, "/viewer/feedback?theme=digital&table=status&format=csv")
        rows = dict(r for r in csv.reader(io.StringIO(text)) if len(r) == 2)
        t.check(rows.get("Not answered yet") == "10" and rows.get("All entries") == "10",
                "12 open entries are published as 10 (to the nearest 5)", str(rows))
        status, _, body = get(node, "/viewer/feedback?theme=digital")
        t.check("Entries by status" in body and "table=status" in body.replace("&amp;", "&"),
                "the feedback page shows the counts with their own CSV link")

        status, hdrs, body = get(node, "/viewer/feedback/easy-read")
        t.equal(status, 200, "GET /viewer/feedback/easy-read")
        t.check('<body class="easy-read">' in body, "the easy-read view has larger text")
        t.check("You told us the door was hard to open." in body
                and "We could not change this." in body,
                "easy read: the easy-read summary, and plain words about the answer")
        t.check("Easy one &lt;script&gt;" in body and "<script>" not in body,
                "easy read escapes the planted text")
        t.check('href="/viewer/feedback?' in body.replace("&amp;", "&"),
                "the easy-read view links back to the full table")
        status, _, body = get(node, "/viewer/feedback/easy-read?theme=access")
        t.check("door was hard" in body and "Easy three" not in body,
                "easy read takes the same filters")

        # ---- a service's own page ----
        services = sd.services(A)
        fk.post(node, agent, services)
        refuge = next(r for r in services if r["body"]["trellis"]["location_confidential"])
        office = next(r for r in services if r["body"].get("service_at_locations"))
        status, hdrs, body = get(node, f"/viewer/directory/services/{refuge['id']}?origin={A}")
        t.equal(status, 200, "a confidential service's page")
        t.check(refuge["body"]["name"].replace("'", "&#39;") in body
                and "How to refer" in body and "Whom to contact" in body
                and refuge["body"]["phones"][0]["number"] in body,
                "it says how to refer and whom to contact")
        t.check("Leeds and Bradford" in body and "location of this service is confidential"
                in body and "Places:" not in body, "a confidential service shows its area only")
        status, _, body = get(node, f"/viewer/directory/services/{office['id']}")
        t.check(status == 200 and "Market Street" in body,
                "a service that is not confidential shows its address (origin optional)")
        status, _, _ = get(node, f"/viewer/directory/services/{uuid.uuid4()}")
        t.equal(status, 404, "an unknown service: 404")
        status, _, _ = get(node, "/viewer/directory/services/not-a-uuid")
        t.equal(status, 404, "a malformed service id: 404")
        status, _, _ = get(node, f"/viewer/directory/services/{office['id']}?origin=nobody")
        t.equal(status, 404, "another origin's copy that does not exist: 404")

        # ---- refusing to start ----
        refused = Node(pki, pg, org=A, name="refused",
                       config={"viewer": {"listen": f"0.0.0.0:{free_port()}"}})
        refused.start(wait=None)
        code = refused.wait_exit(20)
        t.equal(code, 1, "a non-loopback [viewer] listen without a trusted proxy: exit 1")
        log = refused.read_log()
        t.check("trusted_proxies" in log and "loopback" in log,
                "the refusal names trusted_proxies and loopback", log[-400:])
        refused.close()
        refused = None

        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node, refused)
        pki.close()

t.finish()
