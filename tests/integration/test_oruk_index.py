"""The in-memory directory index against the SQL reference: two trellisd
processes on one database, node A answering from its index ([directory]
index = on, the default) and node R by dir_query_build's SQL ([directory]
index = off). Three hundred varied services (test_oruk_filters' fixtures:
that test checks each filter against a brute-force answer, through the
index now), then several hundred random filters whose every page must be
the same reply, byte for byte, from both. The documents of A's pages come
from its index (an updated body, a new service; no query while nothing is
stored). Then freshness: a service stored, replaced by a higher version,
stored by another process, shadowed, deleted, and the feed going back, each
seen by A's next listing."""

import json
import os
import random
import subprocess
import time
import urllib.parse
import uuid

from harness import Checks, Node, PgCluster, Pki, api, binary, metric

import test_oruk_filters as F

t = Checks("test_oruk_index")


def get(node, agent, path, query):
    q = urllib.parse.urlencode(query)
    return api(node, agent, "GET", f"{path}?{q}")


def metrics(node, agent):
    _, _, text = node.curl("/metrics", agent=agent)
    return text


# Searches the index evaluates in memory (dir_fts.h) or, for a phrase, by
# the database's matches: OR, negation, quotes, stop words only, stemming,
# unicode, punctuation PostgreSQL's parser drops, words matching nothing.
SEARCHES = ["lantern or orchard", "harbour OR meadow OR beacon", "lantern -meadow", "-beacon",
            "support -harbour or beacon", '"lantern"', '"support in the lantern"',
            '"the harbour and"', '"meadow" orchard', "the and of", "the", "lanterns",
            "harbours meadows", "Lanterns", "refuges", "refuge", "café lantern",
            "Ünïcödé straße", "zzzqqq", "zzzqqq or lantern", "-zzzqqq", "lantern & orchard",
            "(meadow) | !beacon", "o'brien lantern", "back\\slash", "lantern:*", "a <-> b",
            "-the", "-", '"', "or", "service 001"]


def random_filter(rng, stamps):
    """A random combination of the directory's filters."""
    q = {}
    pick = lambda p: rng.random() < p  # noqa: E731
    if pick(0.3):
        q["search"] = rng.choice(F.WORDS + [" ".join(rng.sample(F.WORDS, 2)), "support"]
                                 + SEARCHES)
    if pick(0.3):
        q["need"] = rng.choice(F.NEEDS)
    if pick(0.25):
        q["for_gender"] = rng.choice(["women", "men", "non_binary"])
    if pick(0.2):
        q["risk_level"] = rng.choice(["standard", "medium", "high"])
    if pick(0.15):
        q["accessibility"] = rng.choice(F.ACCESS)
    for flag in ("taking_referrals", "self_referral"):
        if pick(0.15):
            q[flag] = rng.choice(["true", "false"])
    if pick(0.2):
        lo = rng.randint(0, 60)
        q["minimum_age"] = lo
        if pick(0.5):
            q["maximum_age"] = rng.randint(lo, 99)
    elif pick(0.1):
        q["maximum_age"] = rng.randint(0, 30)
    if pick(0.15):
        q["taxonomy_term_id"] = rng.choice(F.TERMS)[0]
    if pick(0.1):
        q["taxonomy_id"] = F.taxonomy_id(rng.choice(F.TERMS))
    if pick(0.2):
        q["day"] = rng.choice(F.DAYS)
    if pick(0.15):
        q["start_time"] = f"{rng.randint(7, 12):02d}:{rng.choice(['00', '30'])}"
    if pick(0.15):
        q["end_time"] = f"{rng.randint(13, 21):02d}:00"
    if pick(0.15):
        q["district"] = rng.choice(["LS6", "LS7", "BD1", "M1", "E08000035", "E08000032"])
    if pick(0.05):
        q["organization_id"] = F.ORG_ID
    if pick(0.1) and stamps:
        q["modified_after"] = rng.choice(stamps)
    r = rng.random()
    if r < 0.2:
        q["postcode"] = rng.choice(list(F.LOOKUP))
        if pick(0.7):
            q["proximity"] = rng.choice([500, 1500, 5000, 8000, 30000, 120000])
    elif r < 0.4:
        q["lat"], q["lng"] = rng.choice([(53.1, -1.1), (53.8, -1.55), (53.5, -2.2), (54, -1)])
        if pick(0.7):
            q["proximity"] = rng.choice([1000, 20000, 60000, 120000, 300000])
    return q


def compare_all_pages(a, r, agent, path, query, per_page):
    """Every page from A and from R: the same status and the same reply."""
    page = 1
    while True:
        q = dict(query, per_page=per_page, page=page)
        sa, _, ra = get(a, agent, path, q)
        sr, _, rr = get(r, agent, path, q)
        label = f"{path}?{urllib.parse.urlencode(q)}"
        if sa != sr or ra != rr:
            t.check(False, f"{label}: the index's reply is the SQL path's",
                    f"index {sa} {json.dumps(ra)[:400]}\nsql {sr} {json.dumps(rr)[:400]}")
            return False
        if sa != 200 or page >= ra.get("total_pages", 0):
            return True
        page += 1


def wait_metric(node, agent, name, want, timeout=20):
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = metric(metrics(node, agent), name)
        if got is not None and want(got):
            return got
        time.sleep(0.1)
    return got


def listed(node, agent, sid, query=None):
    _, _, reply = get(node, agent, "/oruk/services", dict(query or {}, per_page=200))
    names = {x["id"]: x["name"] for x in reply.get("contents", [])}
    return names.get(sid)


def main():
    rng = random.Random(16)
    records = F.make_services(300, rng)
    with PgCluster("dirindex") as pg:
        pki = Pki()
        pki.add_org(F.ORG)
        a = Node(pki, pg, org=F.ORG, name="a")
        r = Node(pki, pg, org=F.ORG, name="r", config={"directory": {"index": "off"}})
        try:
            a.start()
            r.start()
            agent = pki.agent(F.ORG, "office")
            for i in range(0, len(records), 100):
                status, _, reply = api(a, agent, "POST", "/v1/records",
                                       {"records": records[i:i + 100]})
                t.check(status == 200 and reply.get("stored") == 100, f"services {i}.. stored",
                        str(reply)[:300])
            onspd = os.path.join(a.dir, "onspd.csv")
            F.onspd(onspd)
            p = subprocess.run([binary("trellisd"), "--config", a.config_path,
                                "--load-postcodes", onspd], capture_output=True, text=True,
                               timeout=120)
            t.check(p.returncode == 0, "postcode lookup loaded", p.stdout + p.stderr)
            run(a, r, agent, pg, records, rng)
        finally:
            a.close()
            r.close()
            pki.close()
    t.finish()


def find_item(node, agent, path, item_id):
    """The item item_id of every page of path on node (None when absent)."""
    page = 1
    while True:
        status, _, reply = get(node, agent, path, {"per_page": 200, "page": page})
        if status != 200:
            return None
        for x in reply.get("contents", []):
            if x.get("id") == item_id:
                return x
        if page >= reply.get("total_pages", 0):
            return None
        page += 1


def kept_documents(a, r, agent, records):
    """A's pages are made of the documents its index keeps (no query per
    page): an updated body (a new description, a location renamed) and a
    new service show on A's next listing, from the index, exactly as R
    lists them by the SQL path; with nothing stored, listings send no query
    at all."""
    sql0 = metric(metrics(a, agent), "trellis_dir_index_sql_answers_total")
    rec = next(x for x in records[20:] if x["body"].get("service_at_locations"))
    body = json.loads(json.dumps(rec["body"]))
    body["description"] = "Kept text, the second version."
    sal = body["service_at_locations"][0]
    sal["location"]["name"] = "Renamed place"
    upd = dict(rec, version=rec.get("version", 1) + 1, body=body)
    status, _, reply = api(a, agent, "POST", "/v1/records", {"records": [upd]})
    t.check(status == 200 and reply.get("stored") == 1, "a service's next version stored on A",
            str(reply)[:300])
    item = find_item(a, agent, "/oruk/services", body["id"])
    t.equal((item or {}).get("description"), "Kept text, the second version.",
            "an updated body: its new description on A's next listing")
    item = find_item(a, agent, "/oruk/service_at_locations", sal["id"])
    t.equal(((item or {}).get("location") or {}).get("name"), "Renamed place",
            "and its service-at-location's new location name")
    t.equal(((item or {}).get("service") or {}).get("description"),
            "Kept text, the second version.", "with its service's new summary")
    new = F.make_services(302, random.Random(7))[301]
    new["body"] = dict(new["body"], name="Aa kept new service")
    status, _, _ = api(a, agent, "POST", "/v1/records", {"records": [new]})
    t.check(status == 200, "a new service stored on A")
    t.equal((find_item(a, agent, "/oruk/services", new["id"]) or {}).get("name"),
            "Aa kept new service", "a new service: its document on A's next listing")
    for path in ("/oruk/services", "/oruk/service_at_locations"):
        t.check(compare_all_pages(a, r, agent, path, {}, 200),
                f"{path}: A's pages after the changes are R's (the SQL path's), byte for byte")
    t.equal(metric(metrics(a, agent), "trellis_dir_index_sql_answers_total"), sql0,
            "all of them answered from A's index")

    # A search is evaluated in memory over the index's lexemes; its tsquery
    # (PostgreSQL's websearch_to_tsquery) is kept, so the same words asked
    # again need no round trip, and a service stored after a search that
    # found nothing is found by the same words on the next listing.
    m0 = metrics(a, agent)
    tsq0, mem0 = (metric(m0, "trellis_dir_index_tsq_kept_total"),
                  metric(m0, "trellis_dir_index_searches_memory_total"))
    _, _, reply = get(a, agent, "/oruk/services", {"search": "zebrafinch", "per_page": 5})
    t.equal(reply.get("total_items"), 0, "a word no service has: nothing found")
    _, _, reply = get(a, agent, "/oruk/services", {"search": "zebrafinch", "per_page": 6})
    t.equal(reply.get("total_items"), 0, "asked again (another page size): nothing")
    m1 = metrics(a, agent)
    t.equal(metric(m1, "trellis_dir_index_tsq_kept_total"), tsq0 + 1,
            "the second with the tsquery kept, with no query")
    t.equal(metric(m1, "trellis_dir_index_searches_memory_total"), mem0 + 2,
            "both evaluated in memory")
    finch = F.make_services(303, random.Random(8))[302]
    finch["body"] = dict(finch["body"], name="Zebrafinch support")
    status, _, _ = api(a, agent, "POST", "/v1/records", {"records": [finch]})
    t.check(status == 200, "a service with the word stored")
    _, _, reply = get(a, agent, "/oruk/services", {"search": "zebrafinch", "per_page": 7})
    t.equal([x["id"] for x in reply.get("contents", [])], [finch["id"]],
            "the same words find it on the next listing (its lexemes in the index)")
    t.check(compare_all_pages(a, r, agent, "/oruk/services", {"search": "zebrafinch"}, 8),
            "the same as R's")
    # A phrase is the database's to match; its answer is kept while nothing
    # is stored (dir_search.h) and forgotten when something is.
    phrase = {"search": '"zebrafinch support"'}
    kept0 = metric(metrics(a, agent), "trellis_dir_index_searches_kept_total")
    _, _, reply = get(a, agent, "/oruk/services", dict(phrase, per_page=5))
    t.equal([x["id"] for x in reply.get("contents", [])], [finch["id"]], "a phrase: found")
    _, _, reply = get(a, agent, "/oruk/services", dict(phrase, per_page=6))
    t.equal(metric(metrics(a, agent), "trellis_dir_index_searches_kept_total"), kept0 + 1,
            "asked again: from the database's matches kept")
    finch2 = F.make_services(304, random.Random(9))[303]
    finch2["body"] = dict(finch2["body"], name="Aa zebrafinch support")
    status, _, _ = api(a, agent, "POST", "/v1/records", {"records": [finch2]})
    t.check(status == 200, "another service with the phrase stored")
    _, _, reply = get(a, agent, "/oruk/services", dict(phrase, per_page=7))
    t.equal([x["id"] for x in reply.get("contents", [])], [finch2["id"], finch["id"]],
            "the phrase finds both on the next listing (the kept answer was forgotten)")
    m0 = metrics(a, agent)
    for query in [phrase] + [{"search": w} for w in SEARCHES]:
        t.check(compare_all_pages(a, r, agent, "/oruk/services", query, 100),
                f"search {query['search']!r}: A's pages are R's")
    m1 = metrics(a, agent)
    t.equal(metric(m1, "trellis_dir_index_sql_answers_total"),
            metric(m0, "trellis_dir_index_sql_answers_total"),
            "every search answered from A's index, not by the SQL path")
    t.check(metric(m1, "trellis_dir_index_searches_memory_total")
            - metric(m0, "trellis_dir_index_searches_memory_total") >= len(SEARCHES) - 6,
            "all but the phrases evaluated in memory")
    t.check(metric(m1, "trellis_dir_index_centres_kept_total") > 0,
            "a postcode asked before: its centre kept, no round trip (the random filters ask "
            "the same few postcodes again and again)")

    # Nothing stored: twenty different listings (no search, postcode or
    # modified_after, which ask the database) send no query. A scrape of
    # /metrics may run queries of its own: measured, then discounted.
    get(a, agent, "/oruk/services", {"per_page": 3})  # brought up to date, if due

    def queries():
        return metric(metrics(a, agent), "trellis_db_queries_total")
    q0 = queries()
    q1 = queries()
    for k in range(20):
        path = "/oruk/services" if k % 2 else "/oruk/service_at_locations"
        status, _, _ = get(a, agent, path, {"per_page": 11 + k, "need": F.NEEDS[k % len(F.NEEDS)]})
        t.check(status == 200, f"listing {k} answered")
    q2 = queries()
    t.check(q2 - q1 - (q1 - q0) < 5,
            "with nothing stored, 20 listings from the index send no query to PostgreSQL",
            f"{q2 - q1} queries during the listings, {q1 - q0} for a scrape alone")
    t.check(q0 is not None and q1 >= q0, "trellis_db_queries_total is served")


def run(a, r, agent, pg, records, rng):
    # A loads its index at start and keeps it current; R never has one.
    get(a, agent, "/oruk/services", {})
    n = wait_metric(a, agent, "trellis_dir_index_entries", lambda v: v == 300)
    t.equal(n, 300, "A's index holds the 300 services")
    t.equal(metric(metrics(r, agent), "trellis_dir_index_entries"), 0.0,
            "R's index is off: it holds nothing")
    before = metrics(a, agent)
    sql_before = metric(before, "trellis_dir_index_sql_answers_total")
    answers_before = metric(before, "trellis_dir_index_answers_total")

    _, _, reply = get(a, agent, "/oruk/services", {"minimal": "true", "per_page": 200})
    stamps = sorted({x["last_modified"] for x in reply.get("contents", [])})

    # Several hundred random filters, every page, services and
    # service-at-locations, against the SQL path.
    same = 0
    for i in range(300):
        q = random_filter(rng, stamps)
        path = "/oruk/services" if i % 3 else "/oruk/service_at_locations"
        if path == "/oruk/services" and rng.random() < 0.1:
            q["minimal"] = "true"
        if compare_all_pages(a, r, agent, path, q, rng.choice([7, 50, 200])):
            same += 1
    t.equal(same, 300, "300 random filters: every page the same from the index and from SQL")
    after = metrics(a, agent)
    t.equal(metric(after, "trellis_dir_index_sql_answers_total"), sql_before,
            "A answered every one of them from its index (no SQL listing)")
    t.check(metric(after, "trellis_dir_index_answers_total") - answers_before >= 300,
            "A's index answers are counted")

    kept_documents(a, r, agent, records)

    # The viewer's directory is the same layer: its page from A and from R.
    # (Checked through the API's lists above; the viewer's own tests run
    # unchanged with the index on.)

    # Freshness. Stored on A: A's very next listing shows it.
    rec = dict(records[7], version=2)
    rec["body"] = dict(rec["body"], name="Zz renamed first")
    status, _, _ = api(a, agent, "POST", "/v1/records", {"records": [rec]})
    t.check(status == 200, "a higher version stored on A")
    t.equal(listed(a, agent, rec["id"], {"search": "renamed"}), "Zz renamed first",
            "A's next listing has the higher version (search and name)")
    t.check(compare_all_pages(a, r, agent, "/oruk/services", {}, 200),
            "and the order moved with the name, as in SQL")
    new = F.make_services(301, random.Random(99))[300]
    new["body"] = dict(new["body"], name="Aa new service")
    status, _, _ = api(a, agent, "POST", "/v1/records", {"records": [new]})
    t.equal(listed(a, agent, new["id"]), "Aa new service", "a new service: in A's next listing")

    # Stored by another process on the same database (R): A sees it once
    # PostgreSQL's notification arrives.
    rec2 = dict(records[8], version=2)
    rec2["body"] = dict(rec2["body"], name="Aa renamed through R")
    status, _, _ = api(r, agent, "POST", "/v1/records", {"records": [rec2]})
    t.check(status == 200, "a higher version stored through R")
    deadline, seen = time.time() + 5, None
    while time.time() < deadline and seen != "Aa renamed through R":
        seen = listed(a, agent, rec2["id"])
        time.sleep(0.05)
    t.equal(seen, "Aa renamed through R", "A lists the version another process stored")

    # A service of another origin holding a known id is shadowed: never listed.
    other = dict(records[9]["body"], name="Aa shadow of another origin")
    sid = other["id"]
    pg.psql("SELECT count(*) FROM trellis_store(ARRAY[0], ARRAY['directory.service'], "
            f"ARRAY['{sid}'::uuid], ARRAY['someone-else'], ARRAY[1::bigint], ARRAY['x'], "
            f"ARRAY[$j${json.dumps({'body': other, 'audience': '*'})}$j$::jsonb], true)")
    t.equal(pg.psql(f"SELECT shadowed FROM directory_services WHERE id = '{sid}' "
                    "AND origin = 'someone-else'")[0][0], "t", "fixture: the row is shadowed")
    time.sleep(0.5)
    _, _, reply = get(a, agent, "/oruk/services", {"per_page": 200})
    t.check(all(x["name"] != "Aa shadow of another origin" for x in reply["contents"]),
            "a shadowed service is not listed by A")
    reloads = metric(metrics(a, agent), "trellis_dir_index_reloads_total")

    # A flag flipped in place (no new seq): A loads again and follows.
    pg.psql(f"UPDATE directory_services SET shadowed = true WHERE id = '{new['id']}'")
    pg.psql("NOTIFY trellis_changes")
    deadline, seen = time.time() + 5, "x"
    while time.time() < deadline and seen is not None:
        seen = listed(a, agent, new["id"])
        time.sleep(0.05)
    t.equal(seen, None, "a service shadowed in place leaves A's listing")
    t.check(metric(metrics(a, agent), "trellis_dir_index_reloads_total") > reloads,
            "by a full reload")

    # Deleted (an operator's hand): gone from A's listing too.
    gone = records[10]["id"]
    pg.psql(f"DELETE FROM directory_services WHERE id = '{gone}'")
    pg.psql("NOTIFY trellis_changes")
    deadline, seen = time.time() + 5, "x"
    while time.time() < deadline and seen is not None:
        seen = listed(a, agent, gone)
        time.sleep(0.05)
    t.equal(seen, None, "a deleted service leaves A's listing")

    # The feed goes back (a restore starts another epoch, sql/008): reload.
    reloads = metric(metrics(a, agent), "trellis_dir_index_reloads_total")
    pg.psql("INSERT INTO trellis_feed_epochs (epoch, start_seq) VALUES (gen_random_uuid(), "
            "(SELECT max(seq) FROM directory_services))")
    pg.psql("NOTIFY trellis_changes")
    got = None
    deadline = time.time() + 5
    while time.time() < deadline:
        get(a, agent, "/oruk/services", {"per_page": 1})
        got = metric(metrics(a, agent), "trellis_dir_index_reloads_total")
        if got > reloads:
            break
        time.sleep(0.05)
    t.check(got > reloads, "a new feed epoch (a restore) makes A load everything again")
    # After all that, A and R still agree everywhere.
    for i in range(40):
        q = random_filter(rng, stamps)
        path = "/oruk/services" if i % 2 else "/oruk/service_at_locations"
        if not compare_all_pages(a, r, agent, path, q, 50):
            break
    else:
        t.check(True, "after the changes, 40 more random filters agree")


if __name__ == "__main__":
    main()
