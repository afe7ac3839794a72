"""Federation under stress and faults, each followed by convergence with
nothing lost and nothing doubled (sets of record hashes compared):
  - ordering: 8 concurrent writers on A while B pulls continuously;
  - kill -9 of the pulling node mid-batch, 20 times in a loop;
  - A's PostgreSQL stopped mid-sync, then started again;
  - A cut off from B for a while (its process stopped), then healed;
  - two trellisd on one database pulling from the same peer under load:
    no record applied twice, no cursor moving backwards."""

import os
import signal
import sys
import threading
import time
import uuid

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_faults")
A, B = sd.ORGS[0], sd.ORGS[1]


def ids(pg, db):
    return {r for r in pg.psql("SELECT id || ':' || hash FROM feedback_entries", db=db)}


def logged_twice(pg, db):
    return pg.psql("SELECT id FROM trellis_changes GROUP BY id HAVING count(*) > 1", db=db)


def entries(n, tag):
    return [sd.envelope("feedback.entry", str(uuid.uuid4()), A,
                        {"week": "2026-W47", "source_role": "staff", "themes": ["access"],
                         "summary": f"{tag} {i}.", "easy_read": "Entry.",
                         "level": "consultation"}) for i in range(n)]


def converged(pg_a, pg_b, timeout=90):
    """Wait until B's database holds exactly A's set."""
    deadline = time.time() + timeout
    while time.time() < deadline and ids(pg_b, "trellis") != ids(pg_a, "trellis"):
        time.sleep(0.3)
    return ids(pg_b, "trellis") == ids(pg_a, "trellis")


class Writers:
    """n threads posting batches to a node until stopped."""

    def __init__(self, node, agent, n, batch=20):
        self.stop = threading.Event()
        self.count = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(node, agent, batch))
                        for _ in range(n)]
        for th in self.threads:
            th.start()

    def run(self, node, agent, batch):
        while not self.stop.is_set():
            try:
                status, _, reply = api(node, agent, "POST", "/v1/records",
                                       {"records": entries(batch, "load")}, timeout=30)
                with self.lock:
                    if status == 200:
                        self.count += reply["stored"]
                    else:
                        self.errors += 1
            except OSError:
                with self.lock:
                    self.errors += 1
                time.sleep(0.1)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(60)


with PgCluster("faults-a") as pg_a, PgCluster("faults-b") as pg_b:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    try:
        a = Node(pki, pg_a, org=A, name="node-a")
        b = Node(pki, pg_b, org=B, name="node-b")
        a.add_peer(b)
        b.add_peer(a)
        a.start()
        b.start()
        agent = pki.agent(A, "office")

        # Ordering: 8 concurrent writers on A while B pulls.
        w = Writers(a, agent, 8)
        time.sleep(8)
        w.finish()
        t.check(converged(pg_a, pg_b) and w.count > 500,
                f"8 concurrent writers on A ({w.count} records): B ends with exactly A's set",
                f"A {len(ids(pg_a, 'trellis'))}, B {len(ids(pg_b, 'trellis'))}")
        t.check(not logged_twice(pg_b, "trellis"), "B logged no record twice")

        # kill -9 the pulling node mid-batch, 20 times, while A takes writes.
        w = Writers(a, agent, 2, batch=50)
        for i in range(20):
            time.sleep(0.3 + (i % 5) * 0.1)
            b.proc.send_signal(signal.SIGKILL)
            b.proc.wait()
            b.start(wait="alive")
        w.finish()
        t.check(converged(pg_a, pg_b),
                f"kill -9 of B 20 times mid-sync: B converges to A's {len(ids(pg_a, 'trellis'))}")
        t.check(not logged_twice(pg_b, "trellis"), "after the kills: nothing logged twice")

        # A's PostgreSQL stopped mid-sync, then started again.
        w = Writers(a, agent, 2)
        time.sleep(1)
        pg_a.stop()
        time.sleep(2)
        pg_a.start()
        time.sleep(2)
        w.finish()
        t.check(converged(pg_a, pg_b),
                "A's PostgreSQL stopped and started mid-sync: B converges")

        # A cut off from B (its process stopped), then healed.
        a.proc.send_signal(signal.SIGSTOP)
        time.sleep(4)
        a.proc.send_signal(signal.SIGCONT)
        post = entries(30, "after the partition")
        api(a, agent, "POST", "/v1/records", {"records": post})
        t.check(converged(pg_a, pg_b), "after a partition heals: B "
                "converges")
        b.close()

        # Two trellisd on one database (B1, B2), both pulling from A under load.
        b1 = Node(pki, pg_b, org=B, name="node-b1")
        b2 = Node(pki, pg_b, org=B, name="node-b2")
        for n in (b1, b2):
            n.add_peer(a)  # the same [peer node-a] section: they share its cursor
        b1.start()
        b2.start()
        cursors = []
        stop = threading.Event()

        def watch():
            while not stop.is_set():
                rows = pg_b.psql("SELECT cursor FROM peer_cursors WHERE peer = 'node-a'")
                if rows:
                    cursors.append(int(rows[0][0]))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        w = Writers(a, agent, 4)
        time.sleep(4)
        agent_b = pki.agent(B, "office")
        states = [api(n, agent_b, "GET", "/v1/fed/status")[2]["peers"][0]["state"]
                  for n in (b1, b2)]
        t.check(sum(1 for st in states if st.startswith("standby")) == 1,
                "two trellisd on one database: one pulls from the peer, the other stands by",
                str(states))
        time.sleep(4)
        w.finish()
        ok = converged(pg_a, pg_b)
        stop.set()
        watcher.join()
        t.check(ok,
                "two trellisd on one database: the database ends with A's set")
        t.check(not logged_twice(pg_b, "trellis"), "two trellisd on one database: no record "
                "applied twice")
        t.check(cursors == sorted(cursors) and len(cursors) > 10,
                "two trellisd on one database: the cursor never moves backwards",
                str(cursors[:20]))
        for n in (a, b1, b2):
            n.close()
    finally:
        pki.close()

t.finish()
