"""Forgery: a peer that relays a record with an altered body, or one that
claims another origin, or an unsigned one, is refused and logged (its own
records, unsigned or altered, as well), and the
rest of its batch is stored (no poison-record stall); a revoked node's
records are refused. The dishonest peer is a small HTTPS server here, with a
real node certificate of its organisation, serving a crafted change feed."""

import copy
import json
import os
import signal
import sys
import time
import uuid

from fakepeer import FakePeer
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, metric

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_forgery")
A, B, C = sd.ORGS


def refused_events(node):
    return [e for e in node.log_events() if e.get("event") == "sync_record_refused"]


def has(pg, db, rid):
    return bool(pg.psql(f"SELECT 1 FROM feedback_entries WHERE id = '{rid}'", db=db))


def entry(org, text):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                       {"week": "2026-W47", "source_role": "staff", "themes": ["safety"],
                        "summary": text, "easy_read": text, "level": "consultation"})


with PgCluster("forgery") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    fake = None
    try:
        for db in ("forge_a", "forge_c"):
            pg.create_db(db)
        # A: an honest origin. Its signed records are what B tampers with.
        # A shares its feedback entries with the whole consortium, its
        # responses with B only: a decision signed into each record.
        a = Node(pki, pg, org=A, name="node-a", db="forge_a",
                 config={"sharing": {"feedback.entry": "consortium", "feedback.response": B}})
        a.start()
        agent_a = pki.agent(A, "office")
        genuine = [entry(A, f"Genuine entry {i}.") for i in range(4)]
        response = sd.envelope("feedback.response", str(uuid.uuid4()), A,
                               {"entry": genuine[0]["id"], "week": "2026-W48", "status": "heard"})
        status, _, reply = api(a, agent_a, "POST", "/v1/records", {"records": genuine + [response]})
        t.check(status == 200 and reply["stored"] == 5, "A stores and signs its records")
        signed = [api(a, agent_a, "GET", f"/v1/records/feedback.entry/{r['id']}")[2]
                  for r in genuine]
        fp_a = signed[0]["signer"]
        a_chain = open(a.certs["cert"]).read() + open(
            os.path.join(pki.dir, "orgs", A, "ca.crt")).read()

        # B's node, dishonest, relays to C.
        b_certs = pki.node(B, "node-b")
        fake = FakePeer(pki, b_certs)
        fake.certs[fp_a] = a_chain
        altered = copy.deepcopy(signed[1])
        altered["body"]["summary"] = "Tampered on the way."
        other_origin = copy.deepcopy(signed[2])
        other_origin["origin"] = C  # claims C wrote it, signed by A's node
        unsigned = dict(entry(A, "Relayed without a signature."), audience="consortium")
        honest = signed[0]
        # Sharing is not transitive: B relays to C what A shared with B only,
        # as signed, and with its audience widened.
        for_b = api(a, agent_a, "GET", f"/v1/records/feedback.response/{response['id']}")[2]
        t.equal(for_b.get("audience"), [B], "A's response carries its audience: B alone")
        widened = copy.deepcopy(for_b)  # the same record, its audience widened
        widened["audience"] = "consortium"
        # B's own records, straight from their origin: checked all the same.
        own_good = fake.sign_own(dict(entry(B, "B's own, signed."), audience="consortium"))
        own_unsigned = dict(entry(B, "B's own, unsigned."), audience="consortium")
        own_altered = fake.sign_own(dict(entry(B, "B's own, as signed."),
                                         audience="consortium"))
        own_altered["body"]["summary"] = "B's own, changed after signing."
        fake.feed = [{"seq": i + 1, "record": r}
                     for i, r in enumerate([altered, honest, other_origin, unsigned, for_b,
                                            widened, signed[3], own_good, own_unsigned,
                                            own_altered])]

        c = Node(pki, pg, org=C, name="node-c", db="forge_c")
        with open(c.config_path, "a") as f:
            f.write(f"[peer node-b]\nurl = {fake.url}\norg = {B}\nshare = all\n")
        c.start()
        deadline = time.time() + 30
        while time.time() < deadline and not (has(pg, "forge_c", honest["id"]) and
                                             has(pg, "forge_c", signed[3]["id"])):
            time.sleep(0.2)
        t.check(has(pg, "forge_c", honest["id"]) and has(pg, "forge_c", signed[3]["id"]),
                "genuine relayed records in the same batch are stored (no stall)")
        t.check(not has(pg, "forge_c", altered["id"]), "an altered body is refused")
        t.check(not has(pg, "forge_c", other_origin["id"]), "a record claiming another origin "
                "than its signer's is refused")
        t.check(not has(pg, "forge_c", unsigned["id"]), "an unsigned relayed record is refused")
        t.check(has(pg, "forge_c", own_good["id"]), "B's own signed record is stored")
        t.check(not has(pg, "forge_c", own_unsigned["id"]) and
                not has(pg, "forge_c", own_altered["id"]),
                "B's own unsigned record, and its own record altered after signing, are "
                "refused although they come from their origin")
        t.check(not pg.psql("SELECT 1 FROM feedback_responses", db="forge_c"),
                "a record its origin did not share with C, relayed as signed or widened, "
                "is refused")
        ev = refused_events(c)
        reasons = {e["id"]: e["reason"] for e in ev}
        t.check(altered["id"] in reasons and other_origin["id"] in reasons and
                unsigned["id"] in reasons and for_b["id"] in reasons and
                own_unsigned["id"] in reasons and own_altered["id"] in reasons,
                "each refusal is logged with its reason", json.dumps(reasons))
        why_b = sorted(e["reason"] for e in ev if e["id"] == for_b["id"])
        t.check(len(why_b) == 2 and "did not share" in why_b[0] and "signature" in why_b[1],
                "not shared with C; widened, its signature no longer matches", str(why_b))
        log = c.read_log()
        t.check("Tampered on the way" not in log and "Genuine entry" not in log,
                "refusals are logged without the record's body")
        _, _, metrics = c.curl("/metrics", agent=pki.agent(C, "office"))
        # The altered body and the widened audience fail their signatures, the unsigned one
        # is unsigned, the one claiming another origin than its signer's has the wrong
        # signer, and the one A shared with B alone is not shared with C.
        counted = {r: metric(metrics, "trellis_fed_records_refused_total", reason=r)
                   for r in ("invalid", "unsigned", "signature", "signer", "not_shared")}
        t.equal(counted, {"invalid": 0, "unsigned": 2, "signature": 3, "signer": 1,
                          "not_shared": 1},
                "refusals are counted in /metrics: the seven forged records, by reason")

        # A revoked node's records are refused.
        late = entry(A, "Signed after the revocation.")
        api(a, agent_a, "POST", "/v1/records", {"records": [late]})
        late_signed = api(a, agent_a, "GET", f"/v1/records/feedback.entry/{late['id']}")[2]
        pki.run("revoke", a.certs["cert"])
        c.signal(signal.SIGHUP)  # the new CRL; the signer cache is checked again
        time.sleep(1)
        fake.feed.append({"seq": len(fake.feed) + 1, "record": late_signed})
        deadline = time.time() + 20
        while time.time() < deadline and late["id"] not in {e["id"] for e in refused_events(c)}:
            time.sleep(0.2)
        t.check(not has(pg, "forge_c", late["id"]) and
                late["id"] in {e["id"] for e in refused_events(c)},
                "a record signed by a revoked node is refused")
        a.close()
        c.close()
    finally:
        if fake:
            fake.close()
        pki.close()

t.finish()
