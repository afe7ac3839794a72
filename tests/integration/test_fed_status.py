"""The pull loop's back-off and what /v1/fed/status says about it.

A pulls from B. While B's port is held by a listener of this test that
accepts and hangs up, the times of A's connection attempts, taken by that
listener, must follow the documented back-off: 200 ms doubling, each wait
drawn between half the step and the whole step. Then B comes up: A catches
up and the status shows the cursor and head from the databases, lag 0 and a
last success; B goes down: the back-off starts again from 200 ms, and the
status keeps the cursor, names the error and counts the lag in seconds from
when A last had everything."""

import calendar
import json
import socket
import subprocess
import threading
import time

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_fed_status")
A, B = sd.ORGS[0], sd.ORGS[1]


class HangUp:
    """Holds a port, accepts every connection and closes it at once (or,
    silent, keeps it open and never answers), recording when each came."""

    def __init__(self, port, silent=False):
        self.times = []
        self.silent = silent
        self.held = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.times.append(time.monotonic())
            if self.silent:
                self.held.append(conn)
            else:
                conn.close()

    def close(self):
        self.done.set()
        self.thread.join()
        for c in self.held:
            c.close()
        self.sock.close()


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def epoch(ts):
    return calendar.timegm(time.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")) if ts else None


with PgCluster("status") as pg:
    pki = Pki()
    a = b = None
    try:
        pg.create_db("a")
        pg.create_db("b")
        a = Node(pki, pg, org=A, name="a", db="a")
        b = Node(pki, pg, org=B, name="b", db="b")
        a.add_peer(b)
        b.add_peer(a)
        agent_a, agent_b = pki.agent(A, "office"), pki.agent(B, "office")

        # ---- B's port hangs up: the back-off, measured by the listener ----
        fake = HangUp(b.port)
        a.start()
        fk.wait_for(lambda: len(fake.times) >= 6, 12, 0.05)
        fake.close()
        g = gaps(fake.times)
        t.check(len(g) >= 5, "A keeps retrying B", f"{len(fake.times)} attempts")
        # Wait k is drawn from [step/2, step], step = 200 ms * 2^k; a failed
        # handshake adds a few ms, a loaded machine a few more.
        for k, gap in enumerate(g[:5]):
            step = 0.2 * 2 ** k
            t.check(step / 2 - 0.02 <= gap <= step + 0.4,
                    f"retry {k + 1} comes {step / 2:.1f}-{step:.1f} s after the failure before",
                    f"{gap:.3f} s; all gaps {[round(x, 3) for x in g]}")
        st = fk.fed_status(a, agent_a)["b"]
        t.check(st["last_error"] and st["last_error"].startswith("fetching"),
                "status: last_error names the failing step", str(st))
        t.check(st["last_error_at"] and abs(epoch(st["last_error_at"]) - time.time()) < 15,
                "status: last_error_at is the time of a failure just now", str(st))
        t.equal((st["last_success"], st["lag_seconds"]), (None, None),
                "status: never caught up, so no last success and no lag in seconds (not 0)")

        # ---- B comes up: A catches up ----
        b.start()
        recs = [fk.entry(B, f"On B {i}.") for i in range(7)]
        fk.post(b, agent_b, recs)
        up_at = time.time()
        got = fk.wait_for(lambda: fk.keys(recs) <= set(fk.held(pg, "a")), 20)
        t.check(got, "A catches up with B once B is up (within its back-off)")
        head_b = fk.seq_last(pg, "b")
        st = fk.wait_for(lambda: (lambda s: s if s["cursor"] == head_b else None)(
            fk.fed_status(a, agent_a)["b"]), 10)
        st = st or fk.fed_status(a, agent_a)["b"]
        cursor_db = int(pg.psql("SELECT cursor FROM peer_cursors WHERE peer = 'b'", db="a")[0][0])
        t.equal((st["cursor"], st["peer_head"], st["lag_records"]), (cursor_db, head_b, 0),
                "status after catching up: cursor (as stored), B's head (from B's database), lag 0")
        t.equal(st["lag_seconds"], 0, "status: lag 0 s while A long-polls B with everything")
        t.check(st["last_success"] and epoch(st["last_success"]) >= int(up_at) - 1,
                "status: last_success is the pull just made", str(st))
        t.check(epoch(st["last_error_at"]) <= epoch(st["last_success"]),
                "status: the last error is kept, older than the last success", str(st))
        t.equal(st["stored"], len(recs), "status: stored counts B's records")

        # ---- A behind: its applies held by a lock the test takes ----
        # A fetches B's new records but cannot store them: the status must
        # show how far behind it is (B's head from B's database, A's cursor
        # from A's), not lag 0.
        held = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port),
                                 "-U", "trellis", "-d", "a"], stdin=subprocess.PIPE, text=True)
        held.stdin.write("BEGIN; LOCK TABLE peer_cursors IN SHARE ROW EXCLUSIVE MODE;\n")
        held.stdin.flush()
        locked = fk.wait_for(lambda: pg.psql(
            "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE "
            "c.relname = 'peer_cursors' AND l.mode = 'ShareRowExclusiveLock' AND l.granted",
            db="a"), 10, 0.05)
        t.check(locked, "the test holds a lock on A's peer_cursors")
        more = [fk.entry(B, f"Behind {i}.") for i in range(9)]
        fk.post(b, agent_b, more)
        head_b = fk.seq_last(pg, "b")
        st = fk.wait_for(lambda: (lambda s: s if s["state"] == "applying" else None)(
            fk.fed_status(a, agent_a)["b"]), 10)
        time.sleep(0.5)
        st = fk.fed_status(a, agent_a)["b"]
        t.equal((st["state"], st["cursor"], st["peer_head"], st["lag_records"]),
                ("applying", cursor_db, head_b, head_b - cursor_db),
                "status while A cannot store B's batch: B's head and the lag in records")
        held.stdin.write("COMMIT;\n")
        held.stdin.close()
        held.wait(10)
        got = fk.wait_for(lambda: (lambda s: s if s["cursor"] == head_b else None)(
            fk.fed_status(a, agent_a)["b"]), 15)
        t.check(got and got["lag_records"] == 0 and fk.keys(more) <= set(fk.held(pg, "a")),
                "once the lock goes, A stores them and its lag is 0 again", str(got))
        cursor_db = head_b
        up_at = time.time()

        # ---- B goes down: the back-off starts again from 200 ms ----
        # (Its first retries meet a closed port before any listener of ours
        # could take it: their times come from A's log lines.)
        stop_at = time.time()
        fk.stop_checked(t, b)
        down_at = time.time()

        def error_times():
            return [calendar.timegm(time.strptime(e["ts"][:19], "%Y-%m-%dT%H:%M:%S")) +
                    float("0" + e["ts"][19:-1]) for e in a.log_events()
                    if e.get("event") == "sync_error" and e.get("peer") == "b"]

        def errors_since_down():
            return [x for x in error_times() if x >= stop_at]

        fk.wait_for(lambda: len(errors_since_down()) >= 3, 8, 0.1)
        g = gaps(errors_since_down())
        t.check(g and g[0] < 0.45,
                "after a success the back-off starts again from 200 ms (none of the 6 s and more "
                "reached before)", f"gaps {[round(x, 3) for x in g]}")
        time.sleep(max(0, down_at + 3 - time.time()))
        st = fk.fed_status(a, agent_a)["b"]
        now = time.time()
        t.check(st["last_error"] and epoch(st["last_error_at"]) >= int(down_at) - 1,
                "status: last_error is the new failure", str(st))
        t.check(st["lag_seconds"] is not None and
                now - down_at - 1 <= st["lag_seconds"] <= now - up_at + 1,
                "status: lag in seconds counts from when A last had all of B's records",
                f"{st['lag_seconds']} (B down {now - down_at:.1f} s ago, written "
                f"{now - up_at:.1f} s ago)")
        t.equal(st["cursor"], cursor_db, "status: the cursor is still shown while B is down")

        # A retry that hangs (B's address answers nothing): while it is in
        # flight the loop is fetching again, but A is no less behind.
        fake = HangUp(b.port, silent=True)
        hung = fk.wait_for(lambda: fake.times, 15, 0.05)
        st = fk.fed_status(a, agent_a)["b"]
        now = time.time()
        fake.close()
        t.check(hung and st["state"] == "fetching" and st["lag_seconds"] is not None and
                st["lag_seconds"] >= now - down_at - 1,
                "status: a retry in flight does not show lag 0 s", str(st))

        # ---- B starts while its new epoch cannot be made ----
        # Until this start's epoch exists, a reader naming the epoch before
        # would be taken as current: after a restore it would not be told
        # the feed went back. The test holds the change log's writer lock
        # (sql/002) on B's database, so the epoch waits; B's feed must answer
        # 503 "starting" meanwhile, and serve once the lock goes.
        old_epoch = pg.psql("SELECT epoch FROM trellis_feed_epochs ORDER BY n DESC LIMIT 1",
                            db="b")[0][0]
        held = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p",
                                 str(pg.port), "-U", "trellis", "-d", "b"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        held.stdin.write("SELECT pg_advisory_lock(7310001);\n\\echo held\n")
        held.stdin.flush()
        lines = [held.stdout.readline().strip() for _ in range(2)]  # pg_advisory_lock: void
        t.check("held" in lines, "the test holds B's change log writer lock", str(lines))
        b.start(wait="healthz")
        ask = f"/v1/changes?since={cursor_db}&epoch={old_epoch}"
        status, hdrs, body = b.curl(ask, agent=agent_b)
        body = json.loads(body or "{}")
        t.check(status == 503 and body.get("type", "").endswith("starting") and
                hdrs.get("retry-after") == "1",
                "B's feed read naming the epoch before: 503 starting, Retry-After 1, while this "
                "start's epoch is not made", f"{status} {hdrs} {body}")
        status, _, body = b.curl("/v1/changes?since=0", agent=agent_b)
        t.equal(status, 503, "and a read naming no epoch waits for it too")
        held.stdin.write("SELECT pg_advisory_unlock(7310001);\n")
        held.stdin.close()
        held.wait(10)
        b.wait("ready")
        status, _, body = b.curl(ask, agent=agent_b)
        body = json.loads(body) if status == 200 else {}
        t.check(status == 200 and body.get("epoch") not in (None, old_epoch) and
                body.get("since") == str(cursor_db),
                "once the lock goes, B serves its feed under a new epoch, from the cursor asked "
                "(nothing went back)", f"{status} {body}")
        got = fk.wait_for(lambda: (lambda s: s if s["state"] == "fetching" and s["lag_records"]
                                   == 0 else None)(fk.fed_status(a, agent_a)["b"]), 15)
        t.check(got and not got["feed_went_back"],
                "A pulls from B again, and does not take the new epoch for a restore", str(got))

        fk.stop_checked(t, b)
        fk.stop_checked(t, a)
    finally:
        fk.close_nodes(a, b)
        pki.close()

t.finish()
