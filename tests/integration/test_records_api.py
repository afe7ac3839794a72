"""The records API on real nodes, one per organisation, peered: each kind
good, bad and with personal data; a node takes records only from its own
organisation's agents; ownership, ids owned per origin and version rules;
referrals only from the origin's services, events only from the parties;
the origin's sharing decision signed into its records and honoured; the
change feed and its long-poll; the referral and feedback views; a 10,000
record mixed batch; a restart keeps everything."""

import copy
import json
import os
import sys
import threading
import time
import uuid

from harness import Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_records_api")
NW, RS, EG = sd.ORGS


def post(node, agent, records):
    return api(node, agent, "POST", "/v1/records", {"records": records})


def results(reply):
    return [r["result"] for r in reply["results"]]


def verify_signature(doc, cert):
    """Check a record's signature with the openssl CLI: ECDSA-SHA256 over the
    canonical JSON of the record without "sig", by the signer's certificate."""
    import base64
    import hashlib
    import subprocess
    import tempfile
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    if doc.get("signer") != hashlib.sha256(der).hexdigest():
        return False
    body = {k: v for k, v in doc.items() if k != "sig"}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with tempfile.TemporaryDirectory() as d:
        open(f"{d}/data", "wb").write(canon.encode())
        open(f"{d}/sig", "wb").write(base64.b64decode(doc["sig"]))
        pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                             capture_output=True, check=True).stdout
        open(f"{d}/pub", "wb").write(pub)
        r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", f"{d}/pub", "-signature",
                            f"{d}/sig", f"{d}/data"], capture_output=True, text=True)
        return r.returncode == 0 and "Verified OK" in r.stdout


def codes(result):
    return {e["code"] for e in result.get("errors", [])}


def count(pg, db, sql):
    return int(pg.psql(sql, db=db)[0][0])


def wait_count(pg, db, sql, want, timeout=30):
    """Wait until a node's database answers want (synced from its peers)."""
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        got = count(pg, db, sql)
        if got >= want:
            return got
        time.sleep(0.2)
    return got


with PgCluster("records") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    try:
        for db in ("rs", "eg"):
            pg.create_db(db)
        # Northside keeps its feedback to itself ([sharing] none); the rest
        # is shared with its peers (the default for pathway records).
        node = Node(pki, pg, org=NW, name="node",
                    config={"limits": {"max_batch_records": 10000, "max_body_bytes": "32M"},
                            "node": {"metrics_scrapers": f"{RS}/monitor"},
                            "sharing": {"feedback.entry": "none",
                                        "feedback.response": "none"}})
        rs_node = Node(pki, pg, org=RS, name="rs-node", db="rs")
        eg_node = Node(pki, pg, org=EG, name="eg-node", db="eg")
        mesh = (node, rs_node, eg_node)
        for n in mesh:
            for other in mesh:
                if other is not n:
                    n.add_peer(other)
        for n in mesh:
            n.start()
        nw = pki.agent(NW, "office")
        rs = pki.agent(RS, "office")
        eg = pki.agent(EG, "office")

        # --- directory services: every org's, written by its own agent on its own node ---
        for org, agent, n in ((NW, nw, node), (RS, rs, rs_node), (EG, eg, eg_node)):
            status, _, reply = post(n, agent, sd.services(org))
            t.check(status == 200 and set(results(reply)) == {"stored"},
                    f"{org}: its directory services are stored", str(reply)[:300])
        n_services = sum(len(sd.services(o)) for o in sd.ORGS)
        t.equal(wait_count(pg, "trellis", "SELECT count(*) FROM directory_services", n_services),
                n_services, "the directory reaches every node")

        # A node takes records only from its own organisation's agents: the
        # records of another member would be signed here and squat their ids.
        status, _, reply = post(node, rs, sd.services(RS)[:1])
        t.check(status == 403 and reply.get("type", "").endswith("/not-your-node"),
                "another organisation's agent cannot write to this node: 403", str(reply)[:300])
        status, _, reply = post(node, node.certs, sd.services(NW)[:1])
        t.equal(status, 403, "nor can a node certificate, even of this organisation")

        # /metrics names peers, lags and errors: this organisation's, and a
        # configured scrape identity's, not every consortium certificate's.
        t.equal(node.curl("/metrics", agent=nw)[0], 200, "/metrics: this organisation reads it")
        t.equal(node.curl("/metrics", agent=rs)[0], 403, "/metrics: another organisation may not")
        t.equal(node.curl("/metrics", agent=pki.agent(RS, "monitor"))[0], 200,
                "/metrics: an identity in [node] metrics_scrapers may")

        # A directory service is published only under its origin's organisation.
        posing = sd.services(NW)[2]
        posing["id"] = posing["body"]["id"] = str(uuid.uuid4())
        posing["body"]["organization"]["id"] = sd.org_id(RS)
        posing["body"]["organization"]["name"] = "Riverside Sexual Violence Centre"
        status, _, reply = post(node, nw, [posing])
        t.check(results(reply) == ["refused"] and "not_origin" in codes(reply["results"][0]),
                "a service under another member's organisation is refused", str(reply)[:300])

        # Ownership: an agent cannot write another organisation's record.
        forged = sd.services(RS)[0]
        forged["version"] = 2
        forged["body"]["trellis"]["taking_referrals"] = False
        status, _, reply = post(node, nw, [forged])
        t.check(status == 200 and results(reply) == ["refused"] and
                "not_your_origin" in codes(reply["results"][0]),
                "an agent may only write its own organisation's records", str(reply)[:300])

        # Version rules on a mutable record.
        svc = sd.services(NW)[1]
        status, _, reply = post(node, nw, [svc])
        t.equal(results(reply), ["unchanged"], "the same version again: unchanged")
        newer = copy.deepcopy(svc)
        newer["version"] = 2
        newer["body"]["trellis"]["taking_referrals"] = False
        t.equal(results(post(node, nw, [newer])[2]), ["stored"], "a newer version: stored")
        t.equal(results(post(node, nw, [svc])[2]), ["unchanged"], "an older version: unchanged")
        clash = copy.deepcopy(newer)
        clash["body"]["name"] = "Something else"
        status, _, reply = post(node, nw, [clash])
        t.check(results(reply) == ["refused"] and "conflict" in codes(reply["results"][0]),
                "a different body at the same version: refused")
        status, _, got = api(node, nw, "GET", f"/v1/records/directory.service/{svc['id']}")
        t.check(status == 200 and got["version"] == 2 and
                got["body"]["trellis"]["taking_referrals"] is False,
                "GET returns the newest version")

        # Confidential service with a street address: refused, nothing echoed.
        bad = sd.services(NW)[0]
        bad["id"] = bad["body"]["id"] = str(uuid.uuid4())
        bad["body"]["service_at_locations"] = [{
            "id": str(uuid.uuid4()),
            "location": {"id": str(uuid.uuid4()), "location_type": "physical", "name": "Refuge",
                         "addresses": [{"id": str(uuid.uuid4()), "address_1": "7 Secret Lane",
                                        "city": "Leeds", "state_province": "West Yorkshire",
                                        "postal_code": "LS7 3QQ", "country": "GB",
                                        "address_type": "physical"}]}}]
        status, _, reply = post(node, nw, [bad])
        text = json.dumps(reply)
        t.check(results(reply) == ["refused"] and "Secret Lane" not in text and
                "LS7 3QQ" not in text, "a confidential service's address is refused, unechoed",
                text[:400])

        # --- referrals and events ---
        refs, sent_events, theirs = sd.referrals(NW, 40)
        status, _, reply = post(node, nw, refs + sent_events)
        t.check(status == 200 and set(results(reply)) == {"stored"},
                "referrals and their sent events are stored", str(reply)[:300])
        again = post(node, nw, refs + sent_events)[2]
        t.equal(set(results(again)), {"unchanged"}, "the same batch again changes nothing")
        stored = post(node, nw, [])[2]
        t.equal(stored["results"], [], "an empty batch: nothing to say")

        # A referral leaves from a service of its origin, to a service of to_org.
        from_theirs = copy.deepcopy(refs[0])
        from_theirs["id"] = str(uuid.uuid4())
        from_theirs["body"]["from_service"] = sd.service_ids()[EG][0]
        wrong_to = copy.deepcopy(refs[0])
        wrong_to["id"] = str(uuid.uuid4())
        wrong_to["body"]["to_org"] = EG if wrong_to["body"]["to_org"] == RS else RS
        status, _, reply = post(node, nw, [from_theirs, wrong_to])
        t.check(results(reply) == ["refused", "refused"] and
                "not_your_service" in codes(reply["results"][0]) and
                "not_to_org" in codes(reply["results"][1]),
                "a referral from another member's service, or to a service not of to_org: "
                "refused", str(reply)[:400])

        # Every stored record carries the origin's sharing decision, signed:
        # here its peers' organisations (the default for referrals).
        status, _, got = api(node, nw, "GET", f"/v1/records/pathway.referral/{refs[0]['id']}")
        t.check(status == 200 and got.get("audience") == sorted([RS, EG]) and
                abs(got.get("signed_at", 0) - time.time()) < 300,
                "a referral carries its audience and signing time", str(got)[:300])

        # The receiving organisations add their events on their own nodes,
        # once the referrals have reached them; a third party may not.
        for org, n, db in ((RS, rs_node, "rs"), (EG, eg_node, "eg")):
            t.equal(wait_count(pg, db, f"SELECT count(*) FROM pathway_referrals "
                                       f"WHERE origin = '{NW}'", len(refs)),
                    len(refs), f"{org}: Northside's referrals reach its node")
        for org, agent, n in ((RS, rs, rs_node), (EG, eg, eg_node)):
            status, _, reply = post(n, agent, theirs[org])
            t.check(status == 200 and len(theirs[org]) > 0 and
                    set(results(reply)) == {"stored"},
                    f"{org}: events on referrals it received are stored", str(reply)[:300])
        to_rs = next(r for r in refs if r["body"]["to_org"] == RS)
        intruder = sd.envelope("pathway.event", str(uuid.uuid4()), EG,
                               {"referral": to_rs["id"], "status": "accepted", "days": 1})
        status, _, reply = post(eg_node, eg, [intruder])
        t.check(results(reply) == ["refused"] and "not_party" in codes(reply["results"][0]),
                "an organisation outside the referral may not add events")
        n_events = len(sent_events) + len(theirs[RS]) + len(theirs[EG])
        t.equal(wait_count(pg, "trellis", "SELECT count(*) FROM pathway_events", n_events),
                n_events, "the receivers' events come back to the sender's node")
        orphan = sd.envelope("pathway.event", str(uuid.uuid4()), NW,
                             {"referral": str(uuid.uuid4()), "status": "sent", "days": 0})
        t.check("no_referral" in codes(post(node, nw, [orphan])[2]["results"][0]),
                "an event for an unknown referral is refused")

        # Personal data in a referral's district, and free text in feedback.
        pd = copy.deepcopy(refs[0])
        pd["id"] = str(uuid.uuid4())
        pd["body"]["district"] = "LS6 1AN"
        status, _, reply = post(node, nw, [pd])
        r0 = reply["results"][0]
        t.check(r0["result"] == "refused" and "personal_data" in codes(r0) and
                any(e["path"] == "$.body.district" for e in r0["errors"]) and
                "LS6 1AN" not in json.dumps(reply),
                "a full postcode as district: refused, naming the field", json.dumps(r0))
        fb = sd.feedback(NW)
        entry = copy.deepcopy(fb[0])
        entry["id"] = str(uuid.uuid4())
        entry["body"]["summary"] = "Jane said to call her on 07700 900456 after 6."
        status, _, reply = post(node, nw, [entry])
        r0 = reply["results"][0]
        t.check(r0["result"] == "refused" and "personal_data" in codes(r0) and
                "phone" in json.dumps(r0["errors"]) and "900456" not in json.dumps(reply),
                "a phone number in feedback is refused, the kind named, the value not echoed",
                json.dumps(r0))

        # Bad records: every error with its path, valid ones stored alongside.
        broken = copy.deepcopy(refs[1])
        broken["id"] = "not-a-uuid"
        broken["body"]["risk"] = "extreme"
        broken["body"]["colour"] = "blue"
        status, _, reply = post(node, nw, [broken] + fb)
        paths = {e["path"] for e in reply["results"][0]["errors"]}
        t.check({"$.id", "$.body.risk", "$.body.colour"} <= paths,
                "every error of a record is reported with its path", str(paths))
        t.check(set(results(reply)[1:]) == {"stored"},
                "valid records of a batch are stored although another was refused")
        status, _, _ = api(node, nw, "POST", "/v1/records", "{not json")
        t.equal(status, 400, "a body that is not JSON: 400")
        status, _, _ = api(node, nw, "POST", "/v1/records", {"records": [{}] * 10001})
        t.equal(status, 413, "more records than max_batch_records: 413")
        status, _, _ = api(node, nw, "POST", "/v1/records", "{}", {"Content-Type": "text/plain"})
        t.equal(status, 415, "not application/json: 415")

        # --- views ---
        status, _, view = api(node, nw, "GET", "/v1/referrals?direction=out&limit=500")
        t.check(status == 200 and len(view["referrals"]) == len(refs),
                "referrals out: every referral this organisation sent")
        # The status each referral is meant to have, from the events written: the sample's
        # lifecycles are clean, so it is the furthest step any of its events reached.
        written = sent_events + theirs[RS] + theirs[EG]
        order = ["withdrawn", "declined", "closed", "contacted", "accepted", "received"]
        meant = {}
        for r in refs:
            steps = {e["body"]["status"] for e in written if e["body"]["referral"] == r["id"]}
            meant[r["id"]] = next((s for s in order if s in steps), "sent")
        got = {r["referral"]["id"]: r["status"] for r in view["referrals"]}
        t.check(len(set(meant.values())) >= 5 and got == meant,
                "each referral's status is the one its events lead to",
                f"{sorted(set(meant.values()))}; differ: "
                f"{[(k, got.get(k), v) for k, v in meant.items() if got.get(k) != v][:5]}")
        # The one oddity the sample makes: received reported on a later day than accepted
        # (received on day 0-2, accepted from day 1), flagged out_of_order.
        meant_flags = {}
        for r in refs:
            evs = {e["body"]["status"]: e for e in written if e["body"]["referral"] == r["id"]}
            late = ("received" in evs and "accepted" in evs and
                    evs["received"]["body"]["days"] > evs["accepted"]["body"]["days"])
            meant_flags[r["id"]] = ([{"event": evs["received"]["id"], "problem": "out_of_order"}]
                                    if late else [])
        got_flags = {r["referral"]["id"]: r["flags"] for r in view["referrals"]}
        t.check(any(meant_flags.values()) and got_flags == meant_flags,
                "flags: exactly the received events reported after acceptance",
                str([(k, got_flags.get(k), v) for k, v in meant_flags.items()
                     if got_flags.get(k) != v][:3]))
        status, _, view_in = api(rs_node, rs, "GET", "/v1/referrals?direction=in&status=declined")
        to_rs_ids = {r["id"] for r in refs if r["body"]["to_org"] == RS}
        declined_in = {k for k, v in meant.items() if v == "declined" and k in to_rs_ids}
        t.check(status == 200 and len(declined_in) > 0 and
                {r["referral"]["id"] for r in view_in["referrals"]} == declined_in and
                all(r["status"] == "declined" for r in view_in["referrals"]),
                "referrals in, filtered by folded status: exactly the declined ones",
                f"{len(declined_in)} meant")
        t.equal(api(node, nw, "GET", "/v1/referrals?direction=sideways")[0], 400,
                "a bad direction: 400")
        status, _, fbv = api(node, nw, "GET", "/v1/feedback")
        t.check(status == 200 and len(fbv["feedback"]) == 5 and
                sorted(len(f["responses"]) for f in fbv["feedback"]) == [0, 1, 1, 2, 2],
                "feedback entries with their responses", str(fbv)[:300])
        status, _, fbc = api(node, nw, "GET", "/v1/feedback?status=cannot_change")
        t.check(status == 200 and len(fbc["feedback"]) == 1 and
                fbc["feedback"][0]["responses"][-1]["body"]["why_not"],
                "feedback filtered by status, with why not")
        status, _, fbo = api(node, nw, "GET", "/v1/feedback?status=open")
        t.equal(len(fbo["feedback"]), 1, "an entry nobody answered is open")
        status, _, fbt = api(node, nw, "GET", "/v1/feedback?theme=digital&level=co_production")
        t.equal(len(fbt["feedback"]), 1, "feedback filtered by theme and level")

        # --- the change feed ---
        seen, cursor = [], "0"
        while True:
            status, _, page = api(node, nw, "GET", f"/v1/changes?since={cursor}&limit=100")
            seen += page["changes"]
            cursor = page["cursor"]
            if not page["more"]:
                break
        seqs = [c["seq"] for c in seen]
        t.check(len(seqs) > 0 and seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
                "the feed pages in strictly increasing sequence order")
        ids = {c["record"]["id"] for c in seen}
        t.check(svc["id"] in ids and refs[0]["id"] in ids, "the feed holds what was stored")
        t.check(sum(1 for c in seen if c["record"]["id"] == svc["id"]) == 1,
                "a superseded record appears once, at its latest version")
        # Another organisation sees what was shared with it, and nothing else:
        # not Northside's feedback ([sharing] none).
        status, _, other = api(node, rs, "GET", "/v1/changes?since=0&limit=1000")
        shared = [c["record"] for c in other["changes"]]
        t.check(len(shared) > 0 and all(
            r["origin"] == RS or r.get("audience") == "consortium" or RS in r.get("audience", [])
            for r in shared), "another organisation's feed: only what was shared with it",
            str([(r["kind"], r["origin"], r.get("audience")) for r in shared])[:300])
        t.check(not any(r["kind"] == "feedback.entry" for r in shared) and
                any(r["kind"] == "pathway.referral" for r in shared),
                "it gets the referrals shared with it, not the feedback kept back")
        t.check(not other["more"] and int(other["cursor"]) >= max(seqs),
                "a page that is not full moves the cursor past what the reader may not see",
                f"cursor {other['cursor']}, last {max(seqs)}")
        status, _, _ = api(node, rs, "GET", f"/v1/records/feedback.entry/{fb[0]['id']}")
        t.equal(status, 404, "another organisation cannot read a record not shared with it")
        t.equal(count(pg, "rs", f"SELECT count(*) FROM feedback_entries WHERE origin = '{NW}'"),
                0, "and its node never received one")

        # Ids are owned per origin: another member's record under an id taken
        # first blocks nothing, and the first holder's stays the public one.
        squat = sd.services(EG)[0]
        squat["id"] = squat["body"]["id"] = svc["id"]
        squat["body"]["name"] = "Not Northside"
        t.equal(results(post(eg_node, eg, [squat])[2]), ["stored"],
                "another origin may hold the same id")
        t.equal(wait_count(pg, "trellis", "SELECT count(*) FROM directory_services "
                                          f"WHERE id = '{svc['id']}'", 2), 2,
                "both reach Northside's node")
        newest = copy.deepcopy(newer)
        newest["version"] = 3
        t.equal(results(post(node, nw, [newest])[2]), ["stored"],
                "the first holder's next version is not blocked")
        status, _, _ = api(node, nw, "GET", f"/v1/records/directory.service/{svc['id']}")
        t.equal(status, 409, "an id held by two origins: GET asks which (409)")
        status, _, mine = api(node, nw, "GET",
                              f"/v1/records/directory.service/{svc['id']}?origin={NW}")
        t.check(status == 200 and mine["version"] == 3 and mine["origin"] == NW,
                "?origin= picks the record")
        status, _, pub = api(node, nw, "GET", f"/oruk/services/{svc['id']}")
        t.check(status == 200 and pub.get("name") == svc["body"]["name"],
                "the public directory shows the first holder's service", str(pub)[:200])

        # Long-poll: a waiting reader is answered when a record is stored.
        # (From the head of the feed now: records came from peers meanwhile.)
        while True:
            status, _, page = api(node, nw, "GET", f"/v1/changes?since={cursor}&limit=1000")
            cursor = page["cursor"]
            if not page["more"]:
                break
        got = {}

        def waiter():
            start = time.time()
            got["reply"] = api(node, nw, "GET", f"/v1/changes?since={cursor}&wait=20")
            got["took"] = time.time() - start

        th = threading.Thread(target=waiter)
        th.start()
        time.sleep(0.5)
        late = sd.envelope("feedback.entry", str(uuid.uuid4()), NW,
                           {"week": "2026-W48", "source_role": "staff", "themes": ["safety"],
                            "summary": "Late entry.", "easy_read": "Late.",
                            "level": "consultation"})
        post(node, nw, [late])
        th.join(30)
        reply = got.get("reply")
        t.check(reply and reply[0] == 200 and
                [c["record"]["id"] for c in reply[2]["changes"]] == [late["id"]] and
                got["took"] < 5, "a long-poll wakes when a record is stored",
                f"{reply!r}"[:300])
        empty_cursor = reply[2]["cursor"] if reply else cursor
        start = time.time()
        status, _, empty = api(node, nw, "GET", f"/v1/changes?since={empty_cursor}&wait=1")
        t.check(status == 200 and empty["changes"] == [] and 0.9 < time.time() - start < 5,
                "a long-poll with nothing new answers empty at its deadline")
        t.equal(api(node, nw, "GET", "/v1/changes?since=abc")[0], 400, "a bad cursor: 400")
        t.equal(api(node, nw, "GET", "/v1/changes?wait=9999")[0], 400, "wait over max: 400")

        # --- a 10,000 record mixed batch ---
        big_refs, big_events, _ = sd.referrals(NW, 4000, seed=7)
        entries = []
        for i in range(10000 - len(big_refs) - len(big_events)):
            entries.append(sd.envelope("feedback.entry", str(uuid.uuid4()), NW,
                                       {"week": "2026-W40", "source_role": "service_user",
                                        "themes": ["access"], "summary": f"Entry {i}.",
                                        "easy_read": "Entry.", "level": "consultation"}))
        batch = big_refs + big_events + entries
        start = time.time()
        status, _, reply = post(node, nw, batch)
        took = time.time() - start
        t.check(status == 200 and reply["stored"] == 10000,
                f"a 10,000 record mixed batch is stored whole ({took:.1f}s)",
                str(reply)[:300] if status != 200 else str(reply["refused"]))
        count = int(pg.psql("SELECT (SELECT count(*) FROM pathway_referrals) + "
                            "(SELECT count(*) FROM pathway_events) + "
                            "(SELECT count(*) FROM feedback_entries)")[0][0])

        # --- a restart keeps everything ---
        t.equal(node.stop(), 0, "node stops cleanly")
        node.start()
        status, _, got = api(node, nw, "GET", f"/v1/records/pathway.referral/{big_refs[5]['id']}")
        unsigned = {k: v for k, v in got.items()
                    if k not in ("sig", "signer", "audience", "signed_at")}
        t.check(status == 200 and unsigned == big_refs[5], "after a restart: records are all there")
        t.check(verify_signature(got, node.certs["cert"]),
                "a stored record carries the origin node's signature, which openssl verifies")
        count2 = int(pg.psql("SELECT (SELECT count(*) FROM pathway_referrals) + "
                             "(SELECT count(*) FROM pathway_events) + "
                             "(SELECT count(*) FROM feedback_entries)")[0][0])
        t.equal(count2, count, "after a restart: the same number of records")
        t.check("07700 900456" not in node.read_log() and "Secret Lane" not in node.read_log(),
                "no refused personal data in the logs")
        node.close()
        for n in (rs_node, eg_node):
            t.equal(n.stop(), 0, f"{n.name} stops cleanly")
            n.close()
    finally:
        pki.close()

t.finish()
