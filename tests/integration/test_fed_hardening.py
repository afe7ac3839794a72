"""What a broken or hostile peer cannot do to a node's federation any more:
a signer certificate that cannot be fetched at the moment holds the batch
(retried with back-off) instead of losing its records for ever; a record is
verified against its signer's certificate as it was when it was signed, so
records outlive an expired certificate, but a record signed after the
certificate expired, or dated in the future, is refused; a reply that breaks
the protocol (a cursor going backwards, more records than asked for) is an
error with back-off, shown in the status and the metrics, not a tight loop.
The peer is a small HTTPS server with a real node certificate (fakepeer.py)."""

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

from fakepeer import FakePeer, sign
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_hardening")
A, B, C = sd.ORGS
D = "old-members-trust"  # an organisation whose node certificate has expired
DAY = 86400


def entry(org, text):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                       {"week": "2026-W47", "source_role": "staff", "themes": ["safety"],
                        "summary": text, "easy_read": text, "level": "consultation"})


def has(pg, db, rid):
    return bool(pg.psql(f"SELECT 1 FROM feedback_entries WHERE id = '{rid}'", db=db))


def wait_for(cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    return cond()


def refused_events(node):
    return [e for e in node.log_events() if e.get("event") == "sync_record_refused"]


def peer_status(node, agent):
    status, _, st = api(node, agent, "GET", "/v1/fed/status")
    return st["peers"][0] if status == 200 and st.get("peers") else {}


with PgCluster("hardening") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    # D's CA began 30 days ago; its node certificate was valid from 20 days
    # ago for 10 days: expired now. Made before C starts, so C's CRL bundle
    # holds D's CRL.
    pki.run("add-org", D, "--backdate", "30")
    pki.orgs.add(D)
    old = pki.node(D, "old-node", "--backdate", "20", "--days", "10")
    fake = None
    try:
        for db in ("hard_a", "hard_c"):
            pg.create_db(db)
        a = Node(pki, pg, org=A, name="node-a", db="hard_a",
                 config={"sharing": {"feedback.entry": "consortium"}})
        a.start()
        agent_a = pki.agent(A, "office")
        genuine = [entry(A, f"Genuine entry {i}.") for i in range(3)]
        status, _, reply = api(a, agent_a, "POST", "/v1/records", {"records": genuine})
        t.check(status == 200 and reply["stored"] == 3, "A stores and signs its records")
        signed = [api(a, agent_a, "GET", f"/v1/records/feedback.entry/{r['id']}")[2]
                  for r in genuine]
        fp_a = signed[0]["signer"]

        # B relays A's records to C, but its certificate endpoint is busy at
        # first (503, as when its database is): C must hold the batch.
        fake = FakePeer(pki, pki.node(B, "node-b"))
        fake.certs[fp_a] = open(a.certs["chain"]).read()
        fake.cert_failures = 3
        fake.feed = [{"seq": i + 1, "record": r} for i, r in enumerate(signed)]
        c = Node(pki, pg, org=C, name="node-c", db="hard_c")
        with open(c.config_path, "a") as f:
            f.write(f"[peer node-b]\nurl = {fake.url}\norg = {B}\nshare = all\n")
        c.start()
        agent_c = pki.agent(C, "office")
        t.check(wait_for(lambda: all(has(pg, "hard_c", r["id"]) for r in signed)),
                "a signer certificate the relay could not serve at first: the records are "
                "stored once it can (held and retried, not skipped)")
        t.equal(refused_events(c), [], "nothing was refused meanwhile")
        t.check(fake.requests["certs"] >= 4, "the certificate was asked for again after each 503",
                str(fake.requests))
        st = peer_status(c, agent_c)
        t.check("signer certificate" in (st.get("last_error") or ""),
                "the status said what held the batch", str(st)[:300])
        t.check(bool(pg.psql(f"SELECT 1 FROM signer_certs WHERE fingerprint = '{fp_a}'",
                             db="hard_c")),
                "C kept the certificate, to serve it onward when it relays")

        # Records outlive their signer's certificate: D's node signed one
        # while its certificate was valid; it has expired since.
        now = int(time.time())
        chain_d = open(old["chain"]).read()
        fp_d = hashlib.sha256(subprocess.run(
            ["openssl", "x509", "-in", old["cert"], "-outform", "DER"],
            capture_output=True, check=True).stdout).hexdigest()
        fake.certs[fp_d] = chain_d

        def from_d(text, signed_at):
            return sign(dict(entry(D, text), audience="consortium", signed_at=signed_at), old)

        while_valid = from_d("Signed while the certificate was valid.", now - 15 * DAY)
        after_expiry = from_d("Signed after the certificate expired.", now - 5 * DAY)
        in_future = from_d("Dated tomorrow.", now + DAY)
        base = len(fake.feed)
        fake.feed += [{"seq": base + i + 1, "record": r}
                      for i, r in enumerate([after_expiry, while_valid, in_future])]
        t.check(wait_for(lambda: has(pg, "hard_c", while_valid["id"])),
                "a record signed while its signer's certificate was valid is stored after "
                "the certificate expired")
        t.check(wait_for(lambda: {after_expiry["id"], in_future["id"]} <=
                         {e["id"] for e in refused_events(c)}),
                "a record signed after the certificate expired, or dated in the future, "
                "is refused")
        reasons = {e["id"]: e["reason"] for e in refused_events(c)}
        t.check("not valid when" in reasons.get(after_expiry["id"], "") and
                "future" in reasons.get(in_future["id"], ""), "each with its reason",
                json.dumps(reasons))
        t.check(not has(pg, "hard_c", after_expiry["id"]) and
                not has(pg, "hard_c", in_future["id"]), "neither is stored")

        # A hostile peer's flood of bad records: each refused and counted, but
        # the journal takes at most 20 lines of them a batch, and a summary.
        before = len(refused_events(c))
        junk = [dict(entry(A, f"Junk {i}."), colour="blue") for i in range(30)]
        base = len(fake.feed)
        fake.feed += [{"seq": base + i + 1, "record": r} for i, r in enumerate(junk)]
        def summaries():
            return [e for e in c.log_events() if e.get("event") == "sync_records_refused"]

        wait_for(summaries)
        summary = summaries()
        t.check(summary and summary[-1].get("refused") == 30,
                "30 refusals in a batch: one summary line counts them all", str(summary)[-300:])
        t.equal(len(refused_events(c)) - before, 20, "and 20 are logged one by one")
        cursor = pg.psql("SELECT cursor FROM peer_cursors WHERE peer = 'node-b'", db="hard_c")
        t.equal(int(cursor[0][0]), len(fake.feed), "the feed moves past them")

        # A cursor that goes backwards: an error with back-off, not a loop.
        def backwards(since):
            return [{"seq": since + 1, "record": signed[0]}], max(0, since - 1)

        before = fake.requests["changes"]
        fake.reply_hook = backwards
        time.sleep(4)
        asked = fake.requests["changes"] - before
        t.check(asked <= 12, f"a cursor going backwards is retried with back-off ({asked} "
                "requests in 4 s)")
        st = peer_status(c, agent_c)
        t.check("backwards" in (st.get("last_error") or "") and st.get("protocol_errors", 0) >= 1,
                "the status says the peer broke the protocol", str(st)[:300])
        _, _, metrics = c.curl("/metrics", agent=agent_c)
        line = [m for m in metrics.splitlines()
                if m.startswith('trellis_fed_protocol_errors_total{peer="node-b"}')]
        t.check(line and int(line[0].rsplit(" ", 1)[1]) >= 1,
                "and /metrics counts it", str(line))

        # More records than were asked for.
        def too_many(since):
            return [{"seq": since + i + 1, "record": signed[0]} for i in range(2001)], since + 2001

        fake.reply_hook = too_many
        t.check(wait_for(lambda: "more than" in (peer_status(c, agent_c).get("last_error") or ""),
                         timeout=20),
                "a reply with more records than asked for is refused whole")
        cursor = pg.psql("SELECT cursor FROM peer_cursors WHERE peer = 'node-b'", db="hard_c")
        t.equal(int(cursor[0][0]), len(fake.feed), "and the cursor did not move past it")
        fake.reply_hook = None

        t.equal(c.stop(), 0, "C stops cleanly")
        t.equal(a.stop(), 0, "A stops cleanly")
        a.close()
        c.close()
    finally:
        if fake:
            fake.close()
        pki.close()

t.finish()
