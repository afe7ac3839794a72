"""Two trellisd processes on one database (the way to grow past one
machine): one pulls from the peer and the other stands by; kill -9 the one
that pulls and the other takes over within its 2 s retry, nothing applied
twice; the killed one, started again, stands by. And a long-poll held by
one process is answered when a record is committed through the other
(LISTEN/NOTIFY), not when its wait runs out."""

import signal
import threading
import time

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api

t = Checks("test_fed_standby")
A, B = sd.ORGS[0], sd.ORGS[1]
STANDBY = "standby: another process pulls"


def states(nodes, agent):
    return [fk.fed_status(n, agent)["a"]["state"] for n in nodes]


with PgCluster("standby") as pg:
    pki = Pki()
    a = b1 = b2 = None
    try:
        pg.create_db("a")
        pg.create_db("b")
        a = Node(pki, pg, org=A, name="a", db="a")
        b1 = Node(pki, pg, org=B, name="b1", db="b")
        b2 = Node(pki, pg, org=B, name="b2", db="b")
        a.add_peer(b1)  # lets B's nodes pull; A itself does not pull from B
        with open(a.config_path, "a") as f:
            f.write("pull = no\n")
        for bn in (b1, b2):
            bn.add_peer(a)
        a.start()
        b1.start()
        b2.start()
        agent_a, agent_b = pki.agent(A, "office"), pki.agent(B, "office")

        first = [fk.entry(A, f"Before the takeover {i}.") for i in range(5)]
        fk.post(a, agent_a, first)
        got = fk.wait_for(lambda: fk.keys(first) <= set(fk.held(pg, "b")), 20)
        t.check(got, "the pair on database b pulls A's records")
        st = fk.wait_for(lambda: (lambda s: s if sorted(x == STANDBY for x in s) == [False, True]
                                  else None)(states((b1, b2), agent_b)), 10)
        t.check(st, "exactly one of the two processes pulls from A, the other stands by",
                str(states((b1, b2), agent_b)))
        holder, standby = (b1, b2) if st and st[1] == STANDBY else (b2, b1)
        locks = pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND classid = 7310003 AND granted", db="b")
        t.equal(locks, [("1",)], "one pull lock is held in PostgreSQL")

        # ---- kill -9 the holder: the standby takes over ----
        last_before = fk.seq_last(pg, "b")
        held_before = fk.held(pg, "b")
        holder.proc.send_signal(signal.SIGKILL)
        holder.proc.wait()
        killed_at = time.time()
        second = [fk.entry(A, f"After the takeover {i}.") for i in range(5)]
        fk.post(a, agent_a, second)
        got = fk.wait_for(lambda: fk.keys(second) <= set(fk.held(pg, "b")), 20, 0.1)
        took = time.time() - killed_at
        t.check(got, f"after kill -9 of {holder.name}, {standby.name} pulls A's new records")
        t.check(took < 10, "the standby takes over within its 2 s retry (and one pull)",
                f"{took:.1f} s")
        t.check(fk.fed_status(standby, agent_b)["a"]["state"] != STANDBY,
                f"{standby.name}'s status no longer says standby")
        after = fk.held(pg, "b")
        t.equal({k: after[k] for k in held_before}, held_before,
                "the takeover changed no record already held (same sequence numbers)")
        t.equal(fk.seq_last(pg, "b") - last_before, len(second),
                "the takeover took one sequence number per new record, nothing applied twice")
        t.equal(int(pg.psql("SELECT cursor FROM peer_cursors WHERE peer = 'a'", db="b")[0][0]),
                fk.seq_last(pg, "a"), "the cursor for A is at A's head")

        # The killed process, started again, finds the lock taken.
        holder.start()
        st = fk.wait_for(lambda: fk.fed_status(holder, agent_b)["a"]["state"] == STANDBY, 10)
        t.check(st, f"{holder.name} restarted: it stands by, {standby.name} keeps pulling",
                str(fk.fed_status(holder, agent_b)["a"]))

        # ---- a long-poll on one process, a commit through the other ----
        status, _, page = api(b2, agent_b, "GET", "/v1/changes?since=0&limit=1000")
        cursor = page["cursor"]
        result = {}

        def long_poll():
            t0 = time.time()
            result["reply"] = api(b2, agent_b, "GET", f"/v1/changes?since={cursor}&wait=20",
                                  timeout=40)
            result["secs"] = time.time() - t0

        th = threading.Thread(target=long_poll)
        th.start()
        time.sleep(1.5)  # the request is parked on b2 by now
        t.check(th.is_alive(), "the long-poll on b2 waits while nothing is new")
        mine = fk.entry(B, "Committed through b1.")
        posted_at = time.time()
        fk.post(b1, agent_b, [mine])
        th.join(30)
        woke = time.time() - posted_at
        status, _, page = result.get("reply", (0, {}, {}))
        ids = [c["record"]["id"] for c in page.get("changes", [])] if status == 200 else []
        t.equal(ids, [mine["id"]], "the long-poll on b2 answers with the record stored through b1")
        t.check(woke < 5, "and at once (NOTIFY), not when its 20 s wait runs out",
                f"{woke:.1f} s after the commit, {result.get('secs', 0):.1f} s in all")

        fk.stop_checked(t, b1)
        fk.stop_checked(t, b2)
        fk.stop_checked(t, a)
    finally:
        fk.close_nodes(a, b1, b2)
        pki.close()

t.finish()
