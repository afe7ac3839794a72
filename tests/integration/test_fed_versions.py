"""Mixed versions (issue 11): the protocol version a node announces, what it
does with a peer it cannot speak to, and a mesh where one node runs the next
schema version.

- A (this schema) and B (this schema plus a test-only migration 999 that
  adds columns and a table the code ignores, through [database] migrations)
  sync records of every kind both ways.
- Every API reply carries Trellis-Protocol; /healthz and /v1/fed/status
  say which versions the node speaks; the peer's version is in the status.
- A node refuses a peer request that announces a version it does not speak
  (400 protocol-version naming both); no header is version 1, served.
- C pulls from A and from a peer that announces protocol 3: that peer is
  "incompatible" in /v1/fed/status and `trellis status`, with both versions
  named, while C keeps syncing with A.
- A peer of protocol 1 (no header): its records are taken by today's rules;
  its referral without to_org is refused as protocol_1, its directory
  service is stored."""

import copy
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import fedkit as fk
from fakepeer import FakePeer
from fedkit import sd
from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, binary, metric

t = Checks("test_fed_versions")
A, B, C = sd.ORGS

# What a later release might add: a column with a default on two record
# tables and a table of its own. This node's code must neither need nor
# break on them.
NEXT_SCHEMA = """
ALTER TABLE directory_services ADD COLUMN next_reviewed_at timestamptz;
ALTER TABLE pathway_referrals ADD COLUMN next_flag boolean NOT NULL DEFAULT false;
CREATE TABLE next_schema_notes (id bigserial PRIMARY KEY, note text NOT NULL);
INSERT INTO next_schema_notes (note) VALUES ('made by 999');
"""


def latest_migration():
    return max(int(f.split("_")[0]) for f in os.listdir(os.path.join(SOURCE_DIR, "sql"))
               if f[0].isdigit() and f.endswith(".sql"))


def next_schema_dir():
    d = tempfile.mkdtemp(prefix="trellis-next-sql-")
    shutil.copytree(os.path.join(SOURCE_DIR, "sql"), d, dirs_exist_ok=True)
    with open(os.path.join(d, "999_next_schema.sql"), "w") as f:
        f.write(NEXT_SCHEMA)
    return d


def fresh_service(org, i):
    """One of org's sample services under a new id (the body names it too)."""
    rec = copy.deepcopy(sd.services(org)[i])
    rec["id"] = rec["body"]["id"] = str(uuid.uuid4())
    return rec


def same_records(pg, dbs, want):
    """Every db holds every (kind, id) of want, with the same hash everywhere."""
    got = [fk.held(pg, db) for db in dbs]
    if not all(want <= set(g) for g in got):
        return None
    return all(g[k][1] == got[0][k][1] for g in got for k in want)


def trellis_status(node, agent):
    r = subprocess.run([binary("trellis"), "status", "--node", node.url, "--cert", agent["chain"],
                        "--key", agent["key"], "--ca", node.pki.ca],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


with PgCluster("versions") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    next_sql = next_schema_dir()
    a = b = c = fake = old = None
    try:
        for db in ("ver_a", "ver_b", "ver_c"):
            pg.create_db(db)
        consortium = {"sharing": {"feedback.entry": "consortium", "feedback.response": "consortium",
                                  "pathway.referral": "consortium", "pathway.event": "consortium"}}
        a = Node(pki, pg, org=A, name="ver-a", db="ver_a", config=consortium)
        b = Node(pki, pg, org=B, name="ver-b", db="ver_b",
                 config=dict(consortium, database={"migrations": next_sql}))
        a.add_peer(b)
        b.add_peer(a)
        a.start()
        b.start()
        agent_a, agent_b = pki.agent(A, "office"), pki.agent(B, "office")

        # ---- the versions each node announces ----
        _, hdrs, body = a.curl("/healthz")
        t.equal(hdrs.get("trellis-protocol"), "2", "/healthz carries Trellis-Protocol: 2")
        health = json.loads(body)
        t.equal((health.get("protocol"), health.get("protocol_min")), (2, 1),
                "/healthz says the protocol version and the oldest it syncs with")
        _, _, ready_a = api(a, agent_a, "GET", "/readyz")
        _, _, ready_b = api(b, agent_b, "GET", "/readyz")
        t.equal(ready_a.get("schema_version"), latest_migration(), "A runs this schema version")
        t.equal(ready_b.get("schema_version"), 999, "B runs the next schema version (999)")
        t.equal(pg.psql("SELECT note FROM next_schema_notes", db="ver_b"), [("made by 999",)],
                "B's migration 999 ran")

        # ---- records of every kind, both ways ----
        refs, mine, theirs = sd.referrals(A, 12)
        refs = [r for r in refs if r["body"]["to_org"] == B]
        sent = {r["id"] for r in refs}
        mine = [e for e in mine if e["body"]["referral"] in sent]
        recs_a = sd.services(A) + sd.feedback(A) + refs + mine
        recs_b = sd.services(B) + sd.feedback(B)
        want = fk.post(a, agent_a, recs_a) | fk.post(b, agent_b, recs_b)
        t.check(fk.wait_for(lambda: same_records(pg, ["ver_a", "ver_b"], want), 60),
                "a mesh with one node on the next schema: services, referrals, events and "
                "feedback reach both nodes with the same hashes")
        # B answers A's referrals (receiver events): written on the next schema, folded on A.
        replies = [e for e in theirs[B] if e["body"]["referral"] in sent]
        want |= fk.post(b, agent_b, replies)
        t.check(fk.wait_for(lambda: same_records(pg, ["ver_a", "ver_b"], want), 60),
                "B's events on A's referrals reach A", f"{len(replies)} events")
        # The fold (sql/009's pathway_facts, kept by triggers): the same outcome on both.
        folded = ("SELECT referral, outcome, decision_days, contact_days FROM pathway_facts "
                  "ORDER BY referral")
        t.check(fk.wait_for(lambda: pg.psql(folded, db="ver_a") == pg.psql(folded, db="ver_b")
                            and len(pg.psql(folded, db="ver_a")) == len(refs), 30),
                "both nodes fold A's referrals to the same outcomes",
                str(pg.psql(folded, db="ver_a"))[:200])
        t.equal(pg.psql("SELECT count(*) FROM pathway_referrals WHERE next_flag", db="ver_b"),
                [("0",)], "B's new column kept its default on records from A")
        st = fk.fed_status(a, agent_a)["ver-b"]
        t.check(st.get("state") == "fetching" and st.get("protocol") == 2
                and st.get("last_success") and st.get("lag_records") == 0,
                "A's status for B: protocol 2, pulling, caught up", str(st)[:300])
        _, _, whole = api(a, agent_a, "GET", "/v1/fed/status")
        t.equal(whole.get("protocol"), {"version": 2, "min": 1},
                "/v1/fed/status says which versions this node speaks")

        # ---- A refuses a peer request in a version it does not speak ----
        for announced, named in (("3", "protocol 3"), ("x9", "an unreadable version")):
            status, hdrs, prob = api(a, b.certs, "GET", "/v1/fed/changes?since=0",
                                     headers={"Trellis-Protocol": announced})
            t.equal(status, 400, f"a peer announcing {announced!r} is refused")
            t.check(isinstance(prob, dict) and prob.get("type", "").endswith("/protocol-version")
                    and "1 to 2" in prob.get("detail", "") and named in prob.get("detail", ""),
                    "the problem names both versions", str(prob))
            t.equal(hdrs.get("trellis-protocol"), "2", "the refusal says what A speaks")
        status, _, page = api(a, b.certs, "GET", "/v1/fed/changes?since=0&limit=1")
        t.check(status == 200 and len(page.get("changes", [])) == 1,
                "a request without the header is protocol 1, and served", str(status))

        # ---- C: one peer announces protocol 3, the other is A ----
        fake = FakePeer(pki, pki.node(B, "node-b3"))
        fake.protocol = "3"
        # A service of B's that only this peer has (A relays B's others to C).
        only_here = fresh_service(B, 0)
        only_here = fake.sign_own(only_here)  # as its origin's node sends it
        fake.feed = [{"seq": 1, "record": only_here}]
        c = Node(pki, pg, org=C, name="ver-c", db="ver_c", config=consortium)
        c.add_peer(a)
        a.add_peer(c)  # A serves only configured peers: restarted to know C
        fk.stop_checked(t, a)
        a.start()
        with open(c.config_path, "a") as f:
            f.write(f"[peer node-b3]\nurl = {fake.url}\norg = {B}\nshare = all\n")
        c.start()
        agent_c = pki.agent(C, "office")
        st = fk.wait_for(lambda: (lambda p: p if p.get("state") == "incompatible" else None)(
            fk.fed_status(c, agent_c).get("node-b3", {})), 30)
        t.check(st is not None, "C shows the protocol-3 peer as incompatible",
                str(fk.fed_status(c, agent_c).get("node-b3"))[:300])
        st = st or {}
        t.check("protocol 3" in (st.get("last_error") or "")
                and "1 to 2" in (st.get("last_error") or ""),
                "its last_error names both versions", str(st.get("last_error")))
        t.equal(st.get("protocol"), 3, "the status shows the version it announced")
        t.equal(set(fake.asked_protocol), {"2"}, "C announced protocol 2 on every request")
        t.check(("directory.service", only_here["id"]) not in fk.held(pg, "ver_c"),
                "nothing of the protocol-3 reply was stored")
        rc, out = trellis_status(c, agent_c)
        t.check(rc == 0 and "incompatible" in out and "protocol 3" in out and
                "protocol: 2 (syncs with peers of 1 to 2)" in out,
                "`trellis status` shows the peer incompatible with both versions", out)
        t.check(fk.wait_for(lambda: {k for k in fk.held(pg, "ver_c") if k[0] != "pathway.event"
                                     and k[0] != "pathway.referral"} >=
                            {k for k in fk.keys(recs_a) if k[0] in
                             ("directory.service", "feedback.entry", "feedback.response")}, 60),
                "C keeps syncing with A meanwhile")
        fresh = fk.entry(A, "Written while a peer of C is incompatible.")
        fk.post(a, agent_a, [fresh])
        t.check(fk.wait_for(lambda: ("feedback.entry", fresh["id"]) in fk.held(pg, "ver_c"), 30),
                "a record A writes now reaches C")
        asked = fake.requests["changes"]
        t.check(fk.wait_for(lambda: fake.requests["changes"] > asked, 40),
                "the incompatible peer is tried again (it may be upgraded)")

        # The peer is upgraded to a version C speaks: it syncs.
        fake.protocol = "2"
        t.check(fk.wait_for(lambda: ("directory.service", only_here["id"])
                            in fk.held(pg, "ver_c"), 60),
                "once the peer speaks protocol 2, its records are stored")
        st = fk.fed_status(c, agent_c)["node-b3"]
        t.check(st.get("state") != "incompatible" and st.get("protocol") == 2,
                "and its status is no longer incompatible", str(st)[:300])
        fk.stop_checked(t, c)
        fake.close()
        fake = None

        # ---- a peer of protocol 1 (no header) ----
        old = FakePeer(pki, pki.node(B, "node-b1"))
        old.protocol = None
        svc = fresh_service(B, 1)  # not one A relays
        ref = sd.envelope("pathway.referral", str(uuid.uuid4()), B,
                          {"from_service": sd.service_ids()[B][0],
                           "to_service": sd.service_ids()[C][0], "week": "2026-W40",
                           "needs": ["housing"], "risk": "medium", "age_band": "25_34",
                           "district": "LS6", "route": "professional"})
        svc, ref = old.sign_own(svc), old.sign_own(ref)
        old.feed = [{"seq": 1, "record": svc}, {"seq": 2, "record": ref}]
        pg.psql("DELETE FROM peer_cursors WHERE peer = 'node-b3'", db="ver_c")
        with open(c.config_path) as f:
            conf = f.read().split("[peer node-b3]")[0]
        with open(c.config_path, "w") as f:
            f.write(conf + f"[peer node-b1]\nurl = {old.url}\norg = {B}\nshare = all\n")
        c.start()
        t.check(fk.wait_for(lambda: ("directory.service", svc["id"]) in fk.held(pg, "ver_c"), 60),
                "a protocol-1 peer (no header): its directory service is stored")
        st = fk.fed_status(c, agent_c)["node-b1"]
        t.equal((st.get("protocol"), st.get("state") != "incompatible"), (1, True),
                "its status shows protocol 1, not incompatible")
        t.check(("pathway.referral", ref["id"]) not in fk.held(pg, "ver_c"),
                "its referral without to_org is not stored")
        refused = [e for e in c.log_events() if e.get("event") == "sync_record_refused"
                   and e.get("id") == ref["id"]]
        t.check(refused and refused[0].get("code") == "protocol_1",
                "it is refused as protocol_1, not as an ordinary invalid record", str(refused))
        _, _, metrics = c.curl("/metrics", agent=agent_c)
        t.equal(metric(metrics, "trellis_fed_records_refused_total", reason="protocol_1"), 1,
                "/metrics counts it under reason protocol_1")
        fk.stop_checked(t, c)
        fk.stop_checked(t, a)
        fk.stop_checked(t, b)
    finally:
        for p in (fake, old):
            if p:
                p.close()
        fk.close_nodes(a, b, c)
        shutil.rmtree(next_sql, ignore_errors=True)
        pki.close()

t.finish()
