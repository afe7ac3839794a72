"""Federation on real nodes: a mesh of five and a chain of three. Every
record written anywhere ends everywhere it may go, exactly once (sets of
record hashes compared, not counts); a chain relays verifiably; nodes resume
from their stored cursors after a restart; a peer that is down is retried."""

import os
import subprocess
import sys
import time
import uuid

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, binary

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_sync")
ORGS = sd.ORGS
MESH = ORGS + ["westmoor-rape-crisis", "southbank-outreach"]  # five members
TABLES = ["directory_services", "pathway_referrals", "pathway_events", "feedback_entries",
          "feedback_responses"]


def record_set(pg, db):
    """(kind table, id, hash, origin) of every record a node holds."""
    rows = set()
    for table in TABLES:
        for r in pg.psql(f"SELECT id, hash, origin FROM {table}", db=db):
            rows.add((table,) + r)
    return rows


def dupes(pg, db):
    """Change-log entries per record: must be exactly one each."""
    return pg.psql("SELECT id, count(*) FROM trellis_changes GROUP BY id HAVING count(*) > 1",
                   db=db)


def wait_equal(pg, dbs, want, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = [record_set(pg, db) for db in dbs]
        if all(g == want for g in got):
            return True, got
        time.sleep(0.3)
    return False, got


def post(node, agent, records):
    status, _, reply = api(node, agent, "POST", "/v1/records", {"records": records})
    return status == 200 and reply["refused"] == 0, reply


def fresh_entry(org, text):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                       {"week": "2026-W47", "source_role": "staff", "themes": ["safety"],
                        "summary": text, "easy_read": text, "level": "consultation"})


with PgCluster("fed") as pg:
    pki = Pki()
    for org in ORGS:
        pki.add_org(org)
    try:
        # ---- a mesh of five: every pair peered, everything shared ----
        for org in MESH:
            pki.add_org(org)
        dbs = [f"mesh_{i}" for i in range(len(MESH))]
        for db in dbs:
            pg.create_db(db)
        nodes = [Node(pki, pg, org=org, name=f"mesh-{i}", db=db)
                 for i, (org, db) in enumerate(zip(MESH, dbs))]
        for n in nodes:
            for other in nodes:
                if other is not n:
                    n.add_peer(other)
        for n in nodes:
            n.start()
        agents = [pki.agent(org, "office") for org in MESH]

        written = []
        for n, agent, org in zip(nodes, agents, MESH):
            recs = sd.feedback(org)
            if org in sd.SERVICES:
                refs, mine, _ = sd.referrals(org, 30)
                recs += sd.services(org) + refs + mine
            ok, reply = post(n, agent, recs)
            t.check(ok, f"{org}: its records are stored on its own node", str(reply)[:200])
            written += recs
        want = set().union(*(record_set(pg, db) for db in dbs))
        t.equal(len({(r[0], r[1]) for r in want}), len(written),
                "every record written is held by its origin node")
        ok, got = wait_equal(pg, dbs, want)
        t.check(ok, "mesh of 5: every node ends with every record",
                str([len(g) for g in got]) + f" want {len(want)}")
        t.check(all(not dupes(pg, db) for db in dbs), "mesh: each record logged once per node")

        # No echo, no storm: once settled, the change logs stop growing and
        # the nodes only hold idle long-polls (few requests, no stores).
        heads = [pg.psql("SELECT last_value FROM trellis_change_seq", db=db)[0][0] for db in dbs]
        _, _, m1 = nodes[0].curl("/metrics", agent=agents[0])
        time.sleep(3)
        _, _, m2 = nodes[0].curl("/metrics", agent=agents[0])

        def fed_requests(text):
            return sum(int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith('trellis_http_requests_total{route="fed_changes"'))

        t.check(fed_requests(m2) - fed_requests(m1) <= 2 * (len(MESH) - 1),
                "a settled mesh holds idle long-polls, it does not spin",
                f"{fed_requests(m2) - fed_requests(m1)} feed requests in 3 s")
        heads2 = [pg.psql("SELECT last_value FROM trellis_change_seq", db=db)[0][0] for db in dbs]
        t.equal(heads2, heads, "mesh settles: no sequence numbers taken once everyone has all")

        # Status for IT leads.
        status, _, st = api(nodes[0], agents[0], "GET", "/v1/fed/status")
        peers = {p["peer"]: p for p in st.get("peers", [])} if status == 200 else {}
        t.check(status == 200 and set(peers) == {f"mesh-{i}" for i in range(1, len(MESH))} and
                all(p["last_success"] and p["lag_records"] == 0 and p["cursor"] is not None
                    for p in peers.values()),
                "/v1/fed/status: per peer cursor, lag and last success", str(st)[:400])
        r = subprocess.run([binary("trellis"), "status", "--node", nodes[0].url, "--cert",
                            agents[0]["chain"], "--key", agents[0]["key"], "--ca", pki.ca],
                           capture_output=True, text=True)
        t.check(r.returncode == 0 and "mesh-1" in r.stdout and "LAG" in r.stdout,
                "trellis status shows each peer", r.stdout + r.stderr)
        r = subprocess.run([binary("trellis"), "status", "--node", nodes[0].url, "--cert",
                            agents[1]["chain"], "--key", agents[1]["key"], "--ca", pki.ca],
                           capture_output=True, text=True)
        t.check(r.returncode == 1 and "403" in r.stderr and len(r.stderr.splitlines()) == 1,
                "trellis status with another organisation's certificate: a one-line refusal",
                r.stderr)
        t.equal(api(nodes[0], agents[1], "GET", "/v1/fed/status")[0], 403,
                "another organisation cannot read a node's sync status")
        status, _, _ = api(nodes[0], agents[1], "GET", "/v1/fed/changes?since=0")
        t.equal(status, 403, "an agent cannot read the federation feed")
        _, _, metrics = nodes[0].curl("/metrics", agent=agents[0])
        t.check('trellis_fed_records_stored_total{peer="mesh-1"}' in metrics and
                "trellis_fed_lag_records" in metrics, "/metrics carries the federation figures")

        # A restart resumes from the stored cursor: nothing is pulled twice.
        nodes[1].stop()
        late = [fresh_entry(ORGS[0], f"Written while B was down {i}.") for i in range(20)]
        post(nodes[0], agents[0], late)
        nodes[1].start()
        want = record_set(pg, dbs[0])
        ok, got = wait_equal(pg, dbs, want)
        t.check(ok, "a restarted node catches up from its cursor")
        t.check(not dupes(pg, dbs[1]), "the restarted node logged nothing twice")
        for n in nodes:
            n.close()

        # ---- a chain A - B - C: A and C not peered; C gets A's records via B ----
        dbs = ["chain_a", "chain_b", "chain_c"]
        for db in dbs:
            pg.create_db(db)
        # Each origin shares with the whole consortium, but for A's feedback
        # responses, which A shares with its peers only ([sharing] default):
        # B gets them and must not relay them to C.
        consortium = {k: "consortium" for k in ("directory.service", "pathway.referral",
                                                "pathway.event", "feedback.entry",
                                                "feedback.response")}
        a, b, c = (Node(pki, pg, org=org, name=f"chain-{i}", db=db,
                        config={"sharing": dict(consortium, **(
                            {"feedback.response": "peers"} if i == 0 else {}))})
                   for i, (org, db) in enumerate(zip(ORGS, dbs)))
        a.add_peer(b)
        b.add_peer(a)
        b.add_peer(c)
        c.add_peer(b)
        # C starts late: B must hold A's records first, and serve A's certificate.
        a.start()
        b.start()
        ok, _ = post(a, agents[0], sd.services(ORGS[0]) + sd.feedback(ORGS[0]))
        t.check(ok, "chain: A's records stored on A")
        c.start()
        want = record_set(pg, "chain_a") | record_set(pg, "chain_b") | record_set(pg, "chain_c")
        kept_back = {r for r in want if r[0] == "feedback_responses"}
        t.check(len(kept_back) > 0, "chain: A wrote feedback responses for its peers only")
        ok, got = wait_equal(pg, ["chain_a", "chain_b"], want)
        t.check(ok, "chain: B holds all of A's records", str([len(g) for g in got]))
        ok, got = wait_equal(pg, ["chain_c"], want - kept_back)
        t.check(ok, "chain of 3: A's records reach C through B, unchanged, but for what A "
                "shared with its peers only", str([len(g) for g in got]))
        ids_c = pg.psql("SELECT doc->>'signer' FROM feedback_entries LIMIT 1", db="chain_c")
        fp_a = pg.psql("SELECT fingerprint FROM signer_certs WHERE fingerprint = "
                       f"'{ids_c[0][0]}'", db="chain_c") if ids_c else []
        t.check(bool(fp_a), "C fetched and kept the certificate of A's node that signed them")
        refused = [e for e in c.log_events() if e.get("event") == "sync_record_refused"]
        t.equal(refused, [], "C refused nothing relayed by B")
        time.sleep(1)  # B keeps polling C meanwhile
        status, _, st = api(b, agents[1], "GET", "/v1/fed/status")
        from_c = [p for p in st.get("peers", []) if p["org"] == ORGS[2]] if status == 200 else []
        t.check(from_c and from_c[0]["unchanged"] == 0 and from_c[0]["stored"] == 0,
                "split horizon: C offers B nothing of what B relayed to it", str(from_c)[:300])
        # And C's records reach A.
        ok, _ = post(c, agents[2], [fresh_entry(ORGS[2], "From the end of the chain.")])
        want = record_set(pg, "chain_a") | record_set(pg, "chain_c")
        ok, got = wait_equal(pg, ["chain_a", "chain_b"], want)
        t.check(ok, "chain: C's record reaches A through B")
        t.equal(record_set(pg, "chain_c") & kept_back, set(),
                "C never received what A did not share with it")
        for n in (a, b, c):
            n.close()
    finally:
        pki.close()

t.finish()
