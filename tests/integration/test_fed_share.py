"""What leaves a node, read from the receiving databases: per-peer `share`
with a subset of kinds and with `none`, `pull = no` (one-way), and the
documented backfill (a peer's cursor reset to 0 after more is shared): the
records it already held keep their sequence numbers and the sequence moves
by exactly the records it did not have."""

import time

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api

t = Checks("test_fed_share")
A, B, C, D = sd.ORGS + ["westmoor-rape-crisis"]
SUBSET = {"directory.service", "feedback.entry"}


def fed_requests(node, ident_part):
    """Feed requests node logged from an identity (log_requests = all)."""
    return [e for e in node.log_events() if e.get("event") == "request"
            and e.get("path") == "/v1/fed/changes" and ident_part in e.get("identity", "")]


with PgCluster("share") as pg:
    pki = Pki()
    a = b = c = d = None
    try:
        for db in ("a", "b", "c", "d"):
            pg.create_db(db)
        # Each origin shares everything with the whole consortium ([sharing]):
        # what this test looks at is what each node's per-peer share lets go.
        everyone = {"sharing": {k: "consortium" for k in fk.KIND_TABLES}}
        cfg = {"node": {"log_requests": "all"}, **everyone}
        a = Node(pki, pg, org=A, name="a", db="a", config=cfg)
        b = Node(pki, pg, org=B, name="b", db="b", config=everyone)
        c = Node(pki, pg, org=C, name="c", db="c", config=everyone)
        d = Node(pki, pg, org=D, name="d", db="d", config=everyone)
        a.add_peer(b, share=", ".join(sorted(SUBSET)))
        a.add_peer(c, share="none")
        a.add_peer(d, share="all")
        for n in (b, c):
            n.add_peer(a)
        d.add_peer(a)
        with open(d.config_path, "a") as f:
            f.write("pull = no\n")
        for n in (a, b, c, d):
            n.start()
        agent = {org: pki.agent(org, "office") for org in (A, B, C, D)}

        refs, mine, _ = sd.referrals(A, 12)
        written = sd.services(A) + refs + mine + sd.feedback(A)
        fk.post(a, agent[A], written)
        kinds_written = {r["kind"] for r in written}
        t.equal(kinds_written, set(fk.KIND_TABLES), "A's records cover all five kinds")
        on_a = fk.held(pg, "a")
        t.equal(set(on_a), fk.keys(written), "A holds what its agent wrote")

        # B: exactly A's records of the shared kinds, with A's hashes.
        want_b = {k: v[1] for k, v in on_a.items() if k[0] in SUBSET}
        got = fk.wait_for(lambda: {k: v[1] for k, v in fk.held(pg, "b").items()} == want_b, 30)
        t.check(got, f"share = {', '.join(sorted(SUBSET))}: B holds exactly A's records "
                "of those kinds", f"B holds {sorted({k for k, _ in fk.held(pg, 'b')})}")

        # C: nothing. What A serves C's node certificate is an empty page
        # that still moves the cursor to A's head; C's database stays empty.
        head_a = fk.seq_last(pg, "a")
        status, _, page = api(a, pki.node(C, "c"), "GET", "/v1/fed/changes?since=0&limit=1000")
        t.check(status == 200 and page["changes"] == [] and page["cursor"] == str(head_a)
                and page["head"] == head_a,
                "share = none: A's feed for C's node is empty, with A's head and cursor",
                f"{status} {str(page)[:300]} (A's head {head_a})")
        t.equal(fk.held(pg, "c"), {}, "share = none: C's database holds none of A's records")

        # A share = none peer is held like any other: a long-poll, not a
        # request after request.
        before = len(fed_requests(a, C))
        time.sleep(3)
        n = len(fed_requests(a, C)) - before
        t.check(n <= 1, "share = none: C's pull is a held long-poll, not a busy loop",
                f"{n} feed requests from C in 3 s")

        # D: pull = no. It never asks A, holds nothing of A's, and shows no
        # pull from A in its status, while A still pulls from D.
        t.equal(fed_requests(a, D), [], "pull = no: D never asked A for its feed")
        t.equal(fk.held(pg, "d"), {}, "pull = no: D's database holds none of A's records")
        t.check("a" not in fk.fed_status(d, agent[D]), "pull = no: D's status lists no pull from A")
        from_d = fk.entry(D, "Written on D, pulled by A.")
        svc_d = sd.services(A)[0]
        svc_d["origin"] = D
        svc_d["id"] = svc_d["body"]["id"] = str(fk.uuid.uuid4())
        svc_d["body"]["organization"]["id"] = sd.org_id(D)
        ref_d = sd.envelope("pathway.referral", str(fk.uuid.uuid4()), D,
                            dict(refs[0]["body"], from_service=svc_d["id"]))
        fk.post(d, agent[D], [from_d, svc_d, ref_d])
        got = fk.wait_for(lambda: {("feedback.entry", from_d["id"]),
                                   ("pathway.referral", ref_d["id"])} <= set(fk.held(pg, "a")), 20)
        t.check(got, "pull = no is one-way: A still pulls D's records")
        got = fk.wait_for(lambda: ("feedback.entry", from_d["id"]) in fk.held(pg, "b"), 20)
        t.check(got, "A relays D's record of a kind it shares with B")
        t.check(("pathway.referral", ref_d["id"]) not in fk.held(pg, "b"),
                "A does not relay D's record of a kind it does not share with B")

        # ---- backfill: A now shares everything with B ----
        fk.stop_checked(t, a, "A (before its share changes)")
        with open(a.config_path) as f:
            conf = f.read()
        with open(a.config_path, "w") as f:
            f.write(conf.replace("share = " + ", ".join(sorted(SUBSET)), "share = all"))
        a.start()
        marker = fk.entry(A, "Shared after the change.")
        fk.post(a, agent[A], [marker])
        got = fk.wait_for(lambda: ("feedback.entry", marker["id"]) in fk.held(pg, "b"), 30)
        t.check(got, "after share = all, B gets A's new records")
        before = fk.held(pg, "b")
        t.check(not any(k[0] == "pathway.referral" for k in before),
                "records of the newly shared kinds behind B's cursor are not sent by themselves "
                "(hence backfill)")
        last_before = fk.seq_last(pg, "b")
        unchanged_before = fk.fed_status(b, agent[B])["a"]["unchanged"]

        pg.psql("UPDATE peer_cursors SET cursor = 0 WHERE peer = 'a'", db="b")
        wake = fk.entry(A, "Wakes B's long-poll after the reset.")
        fk.post(a, agent[A], [wake])
        want = set(fk.held(pg, "a"))
        got = fk.wait_for(lambda: set(fk.held(pg, "b")) >= want, 30)
        t.check(got, "backfill from cursor 0: B ends with every record of A")
        after = fk.held(pg, "b")
        moved = {k: (before[k], after.get(k)) for k in before if after.get(k) != before[k]}
        t.equal(moved, {}, "backfill: every record B held keeps its sequence number and hash")
        new = set(after) - set(before)
        t.equal(new, want - set(before), "backfill: B stored exactly the records it lacked")
        t.equal(fk.seq_last(pg, "b") - last_before, len(new),
                "backfill: B's change sequence moved by exactly the records it lacked")
        t.equal(len(after), len(set(after)), "backfill: one row per record")
        st = fk.fed_status(b, agent[B])["a"]
        t.equal(st["unchanged"] - unchanged_before, len(before),
                "backfill: each record B already held was pulled again as unchanged")
        t.equal(int(pg.psql("SELECT cursor FROM peer_cursors WHERE peer = 'a'", db="b")[0][0]),
                fk.seq_last(pg, "a"), "backfill: B's cursor is back at A's head")
        for n in (a, b, c, d):
            fk.stop_checked(t, n)
    finally:
        fk.close_nodes(a, b, c, d)
        pki.close()

t.finish()
