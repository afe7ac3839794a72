"""Federation under stress and faults, each followed by convergence to what
the writers were told was stored, with nothing lost and nothing doubled (sets
of records compared; a record applied twice would take a new sequence
number, so each record's number and the sequence's last value are checked):
  - ordering: 8 concurrent writers on A while B pulls continuously;
  - kill -9 of the pulling node mid-batch, 20 times in a loop;
  - A's PostgreSQL stopped mid-sync, then started again, and A takes writes;
  - a partition: every connection between A and B frozen (a proxy the test
    controls) for 80 s, three long-poll periods, while both take writes, then
    healed;
  - two trellisd on one database pulling from the same peer under load:
    no record applied twice, no cursor moving backwards."""

import os
import select
import socket
import sys
import threading
import time
import uuid

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_faults")
A, B = sd.ORGS[0], sd.ORGS[1]


def ids(pg, db="trellis"):
    """id:hash of every feedback entry a node holds."""
    return {r[0] for r in pg.psql("SELECT id || ':' || hash FROM feedback_entries", db=db)}


def seqs(pg, db="trellis"):
    """Each entry's sequence number, and the last value the sequence handed out (0 before the
    first: a fresh sequence shows last_value 1 with is_called false)."""
    per = {r[0]: int(r[1]) for r in pg.psql("SELECT id, seq FROM feedback_entries", db=db)}
    last = pg.psql("SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
                   "FROM trellis_change_seq", db=db)
    return per, int(last[0][0])


def moved(before, after):
    """Entries whose sequence number changed (a re-applied record takes a new one)."""
    return sorted(k for k, v in before.items() if after.get(k) != v)


def entries(n, tag, org=A):
    return [sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                        {"week": "2026-W47", "source_role": "staff", "themes": ["access"],
                         "summary": f"{tag} {i}.", "easy_read": "Entry.",
                         "level": "consultation"}) for i in range(n)]


class Told:
    """What writers were told: ids answered stored or unchanged (want), and ids of requests
    that failed without an answer, which may or may not have been stored (uncertain)."""

    def __init__(self):
        self.want, self.uncertain = set(), set()
        self.lock = threading.Lock()

    def post(self, node, agent, records, timeout=30):
        try:
            status, _, reply = api(node, agent, "POST", "/v1/records", {"records": records},
                                   timeout=timeout)
        except OSError:
            status, reply = 0, None
        with self.lock:
            if status == 200:
                for r in reply["results"]:
                    if r.get("result") in ("stored", "unchanged"):
                        self.want.add(records[r["index"]]["id"])
            elif status == 0 or status >= 500:
                self.uncertain |= {r["id"] for r in records}
        return status, reply


def converged(pg_a, pg_b, told, timeout=90):
    """Wait until B holds exactly A's set (ids and hashes), which holds every record a writer
    was told was stored and nothing else but what an unanswered request may have stored."""
    deadline = time.time() + timeout
    while True:
        a, b = ids(pg_a), ids(pg_b)
        held = {x.split(":")[0] for x in a}
        ok = a == b and told.want <= held and held - told.want <= told.uncertain
        if ok or time.time() > deadline:
            return ok, (f"A {len(a)}, B {len(b)}, told stored {len(told.want)}, "
                        f"missing from A {len(told.want - held)}, "
                        f"unexplained on A {len(held - told.want - told.uncertain)}")
        time.sleep(0.3)


class Writers:
    """n threads posting batches to a node until stopped."""

    def __init__(self, node, agent, n, told, batch=20, org=A, pause=0.0):
        self.stop = threading.Event()
        self.count = 0
        self.errors = 0
        self.lock = threading.Lock()
        self.pause = pause
        self.threads = [threading.Thread(target=self.run, args=(node, agent, batch, told, org))
                        for _ in range(n)]
        for th in self.threads:
            th.start()

    def run(self, node, agent, batch, told, org):
        while not self.stop.is_set():
            status, reply = told.post(node, agent, entries(batch, "load", org))
            with self.lock:
                if status == 200:
                    self.count += reply["stored"]
                else:
                    self.errors += 1
            if status != 200:
                time.sleep(0.1)
            self.stop.wait(self.pause)

    def finish(self):
        self.stop.set()
        for th in self.threads:
            th.join(60)


class Link:
    """A TCP proxy the test controls between a node and its peer. cut() freezes every
    connection through it, both ways, and every new one (nothing passes and nobody is told, as
    when a network drops packets); heal() lets everything flow again."""

    def __init__(self, target_port):
        self.target = target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.flowing = threading.Event()
        self.flowing.set()
        self.passed = 0  # bytes forwarded
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                down, _ = self.sock.accept()
                up = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                if self.sock.fileno() < 0:
                    return
                continue
            for src, dst in ((down, up), (up, down)):
                threading.Thread(target=self.pump, args=(src, dst), daemon=True).start()

    def pump(self, src, dst):
        try:
            while True:
                self.flowing.wait()
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready or not self.flowing.is_set():
                    continue  # cut: the bytes stay where they are
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                self.passed += len(data)
        except OSError:
            pass
        for sk in (src, dst):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.flowing.clear()

    def heal(self):
        self.flowing.set()

    def close(self):
        self.sock.close()


def peer_through(node, other, link):
    with open(node.config_path, "a") as f:
        f.write(f"[peer {other.name}]\nurl = https://127.0.0.1:{link.port}\norg = {other.org}\n"
                "share = all\n")


with PgCluster("faults-a") as pg_a, PgCluster("faults-b") as pg_b:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    links = []
    try:
        a = Node(pki, pg_a, org=A, name="node-a")
        b = Node(pki, pg_b, org=B, name="node-b")
        to_b, to_a = Link(b.port), Link(a.port)  # A pulls from B through to_b, B from A
        links = [to_b, to_a]
        peer_through(a, b, to_b)
        peer_through(b, a, to_a)
        a.start()
        b.start()
        agent = pki.agent(A, "office")
        agent_b = pki.agent(B, "office")
        told = Told()

        # Ordering: 8 concurrent writers on A while B pulls. B takes exactly one sequence
        # number per record it stores (a record applied twice would take another).
        start_b = seqs(pg_b)
        w = Writers(a, agent, 8, told)
        time.sleep(8)
        w.finish()
        ok, detail = converged(pg_a, pg_b, told)
        t.check(ok and w.count > 500,
                f"8 concurrent writers on A ({w.count} records): B ends with exactly the set "
                "A's writers were told was stored", detail)
        after = seqs(pg_b)
        t.equal(after[1] - start_b[1], len(after[0]) - len(start_b[0]),
                "B took one sequence number per record stored, no more")

        # kill -9 the pulling node mid-batch, 20 times, while A takes writes. Whatever B had
        # committed before a kill keeps its sequence number after the restart (a batch that
        # comes again is unchanged).
        w = Writers(a, agent, 2, told, batch=50)
        held = {}
        for i in range(20):
            time.sleep(0.3 + (i % 5) * 0.1)
            held.update(seqs(pg_b)[0])
            b.kill()
            b.start(wait="alive")
        w.finish()
        ok, detail = converged(pg_a, pg_b, told)
        t.check(ok, f"kill -9 of B 20 times mid-sync: B converges to what A's writers were told "
                f"({len(told.want)})", detail)
        after = seqs(pg_b)
        t.check(len(held) > 0 and moved(held, after[0]) == [],
                f"after the kills: none of the {len(held)} records B held before a kill took a "
                "new sequence number", str(moved(held, after[0])[:5]))
        # Redelivery: B stopped, its cursor set back to half way, started: the second half of
        # A's feed comes again and changes nothing.
        t.equal(b.stop(), 0, "B stops cleanly")
        cursor = int(pg_b.psql("SELECT cursor FROM peer_cursors WHERE peer = 'node-a'")[0][0])
        pg_b.psql(f"UPDATE peer_cursors SET cursor = {cursor // 2} WHERE peer = 'node-a'")
        b.start()
        deadline = time.time() + 60
        while time.time() < deadline and int(pg_b.psql(
                "SELECT cursor FROM peer_cursors WHERE peer = 'node-a'")[0][0]) < cursor:
            time.sleep(0.3)
        _, _, st = api(b, agent_b, "GET", "/v1/fed/status")
        t.check(st["peers"][0]["unchanged"] > 0 and st["peers"][0]["stored"] == 0,
                "redelivery: B read half of A's feed again, all unchanged", str(st)[:300])
        again = seqs(pg_b)
        t.check(moved(after[0], again[0]) == [] and again[1] == after[1],
                "redelivery: no sequence number taken or moved",
                f"{len(moved(after[0], again[0]))} moved, last {after[1]} -> {again[1]}")

        # A's PostgreSQL stopped mid-sync, then started again: A takes writes again.
        w = Writers(a, agent, 2, told)
        time.sleep(1)
        pg_a.stop()
        time.sleep(2)
        pg_a.start()
        time.sleep(2)
        w.finish()
        probe = entries(10, "after the database came back")
        deadline = time.time() + 30
        status, reply = 0, None
        while time.time() < deadline:
            status, reply = told.post(a, agent, probe)
            if status == 200:
                break
            time.sleep(0.5)
        t.check(status == 200 and reply["stored"] == len(probe),
                "after its PostgreSQL restarted, A takes writes again", f"{status} {reply}"[:300])
        ok, detail = converged(pg_a, pg_b, told)
        t.check(ok, "A's PostgreSQL stopped and started mid-sync: B converges", detail)

        # A partition: every connection between A and B frozen for 80 s (three long-poll
        # periods of 25 s, twice the pull's 40 s request timeout) while both take writes;
        # then healed.
        before = (seqs(pg_a), seqs(pg_b))
        cut_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        to_a.cut()
        to_b.cut()
        wa = Writers(a, agent, 1, told, batch=10, pause=0.2)
        wb = Writers(b, agent_b, 1, told, batch=10, org=B, pause=0.2)
        time.sleep(80)
        wa.finish()
        wb.finish()
        from_a = {e for e in told.want if e not in before[0][0]} & {x.split(":")[0] for x in ids(pg_a)}
        from_b = {x.split(":")[0] for x in ids(pg_b)} - {x.split(":")[0] for x in ids(pg_a)}
        crossed = from_a & {x.split(":")[0] for x in ids(pg_b)}
        t.check(wa.count > 0 and wb.count > 0 and not crossed and from_b,
                f"during the partition both sides take writes (A {wa.count}, B {wb.count}) and "
                "nothing crosses", f"{len(crossed)} crossed")
        _, _, st = api(b, agent_b, "GET", "/v1/fed/status")
        peer = st["peers"][0]
        t.check(peer["last_error"] and (peer.get("last_error_at") or "") >= cut_at,
                "during the partition: B's status shows an error from after the cut",
                f"cut at {cut_at}: {peer}"[:400])
        heal_at = time.time()
        to_a.heal()
        to_b.heal()
        ok, detail = converged(pg_a, pg_b, told, timeout=120)
        t.check(ok, f"after the partition heals ({time.time() - heal_at:.0f} s): A and B hold "
                "the same set, every record either side's writers were told was stored", detail)
        after = (seqs(pg_a), seqs(pg_b))
        t.check(moved(before[0][0], after[0][0]) == [] and moved(before[1][0], after[1][0]) == [],
                "after the partition: no record took a new sequence number on either side")
        new_a = len(after[0][0]) - len(before[0][0])
        new_b = len(after[1][0]) - len(before[1][0])
        t.check(after[0][1] - before[0][1] == new_a and after[1][1] - before[1][1] == new_b,
                "after the partition: each side took one sequence number per new record",
                f"A {after[0][1] - before[0][1]} for {new_a}, B {after[1][1] - before[1][1]} "
                f"for {new_b}")
        b.close()

        # Two trellisd on one database (B1, B2), both pulling from A under load.
        b1 = Node(pki, pg_b, org=B, name="node-b1")
        b2 = Node(pki, pg_b, org=B, name="node-b2")
        for n in (b1, b2):
            n.add_peer(a)  # the same [peer node-a] section: they share its cursor
        start_b = seqs(pg_b)
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
        w = Writers(a, agent, 4, told)
        time.sleep(4)
        states = [api(n, agent_b, "GET", "/v1/fed/status")[2]["peers"][0]["state"]
                  for n in (b1, b2)]
        t.check(sum(1 for st in states if st.startswith("standby")) == 1,
                "two trellisd on one database: one pulls from the peer, the other stands by",
                str(states))
        time.sleep(4)
        w.finish()
        ok, detail = converged(pg_a, pg_b, told)
        stop.set()
        watcher.join()
        t.check(ok, "two trellisd on one database: the database ends with the set A's writers "
                "were told was stored", detail)
        after = seqs(pg_b)
        t.check(moved(start_b[0], after[0]) == [] and
                after[1] - start_b[1] == len(after[0]) - len(start_b[0]),
                "two trellisd on one database: no record applied twice (one sequence number "
                "per new record, none moved)",
                f"{after[1] - start_b[1]} numbers for {len(after[0]) - len(start_b[0])} records")
        t.check(cursors == sorted(cursors) and len(cursors) > 10,
                "two trellisd on one database: the cursor never moves backwards",
                str(cursors[:20]))
        for n in (a, b1, b2):
            n.close()
    finally:
        for link in links:
            link.close()
        pki.close()

t.finish()
