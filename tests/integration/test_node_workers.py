"""[node] workers = 2: a supervisor and two trellisd workers on one port
(SO_REUSEPORT) and one database. Both workers accept connections; one and
only one pulls from the peer; records posted through both reach the peer
exactly once; SIGHUP reaches every worker; kill -9 of a worker: the
supervisor restarts it and the port keeps answering meanwhile; SIGTERM
stops all with status 0 and no sanitizer report. workers = 1 stays a single
process, and a worker that cannot start stops the whole node with status 1."""

import os
import signal
import socket
import subprocess
import time

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, api, binary, free_port, metric
from viewkit import get as viewer_get

t = Checks("test_node_workers")
A, B = sd.ORGS[0], sd.ORGS[1]
STANDBY = "standby: another process pulls"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def events(node, name, **match):
    return [e for e in node.log_events()
            if e.get("event") == name and all(e.get(k) == v for k, v in match.items())]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def worker_pids(node):
    """{worker: pid} of the workers' current lives, from the supervisor's log."""
    out = {}
    for e in events(node, "worker_started"):
        out[e["worker"]] = e["pid"]
    return out


def answered_by(node, agent, n):
    """Which worker answered each of n requests for /metrics, each on a new connection."""
    seen = []
    for _ in range(n):
        status, _, text = api(node, agent, "GET", "/metrics")
        if status == 200:
            seen.append(int(metric(text, "trellis_worker")))
    return seen


with PgCluster("workers") as pg:
    pki = Pki()
    a = b = None
    try:
        pg.create_db("a")
        pg.create_db("b")
        viewer_port = free_port()
        a = Node(pki, pg, org=A, name="a", db="a",
                 config={"node": {"workers": "2", "log_requests": "all"},
                         "viewer": {"listen": f"127.0.0.1:{viewer_port}"}})
        a.viewer_port = viewer_port
        b = Node(pki, pg, org=B, name="b", db="b")
        a.add_peer(b)
        b.add_peer(a)
        b.start()
        a.start()
        agent_a, agent_b = pki.agent(A, "office"), pki.agent(B, "office")

        # ---- start-up: the first worker alone until it takes writes, then the second ----
        ready = fk.wait_for(lambda: sorted(e["worker"] for e in events(a, "worker_ready")) == [1, 2],
                            30)
        t.check(ready, "both workers say they take writes", str(events(a, "worker_ready")))
        log = a.log_events()
        order = [(e["event"], e["worker"]) for e in log
                 if e.get("event") in ("worker_started", "worker_ready")]
        t.equal(order[:3], [("worker_started", 1), ("worker_ready", 1), ("worker_started", 2)],
                "the second worker is forked only once the first takes writes (recovery runs once)")
        t.equal(len([e for e in log if e.get("event") == "feed_epoch" and e.get("worker") == 1]), 1,
                "the first worker began the feed's epoch")
        pids = worker_pids(a)
        t.equal(children(a.proc.pid), sorted(pids.values()),
                "the supervisor has two children, the workers its log names")
        listening = {e.get("worker"): e.get("pid") for e in events(a, "listening")}
        t.equal(listening, pids, "each worker listens on the one port, its log lines say which")

        # ---- both accept connections ----
        seen = answered_by(a, agent_a, 40)
        t.equal(len(seen), 40, "40 requests on 40 new connections are all answered")
        t.equal(sorted(set(seen)), [1, 2], "both workers answered some of them (/metrics says which)")

        pages = [viewer_get(a, "/viewer/")[0] for _ in range(30)]
        t.equal(set(pages), {200}, "the viewer listener answers 30 plain-HTTP connections")
        t.equal(sorted({e.get("worker") for e in events(a, "view")}), [1, 2],
                "both workers serve the viewer too (each binds it with SO_REUSEPORT)")

        # ---- one and only one pulls from the peer ----
        locks = fk.wait_for(lambda: pg.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE locktype = 'advisory' AND classid = 7310003 AND granted AND datname = 'a'",
            db="a") == [("1",)], 10)
        t.check(locks, "one pull lock on database a is held in PostgreSQL")
        states = set()
        for _ in range(30):
            states.add(fk.fed_status(a, agent_a)["b"]["state"] == STANDBY)
        t.equal(states, {True, False},
                "one worker's status shows it pulls from b, the other's that it stands by")
        from_b = [fk.entry(B, f"Written on b {i}.") for i in range(5)]
        fk.post(b, agent_b, from_b)
        t.check(fk.wait_for(lambda: fk.keys(from_b) <= set(fk.held(pg, "a")), 20),
                "a's workers pull b's records")

        # ---- records posted through both reach the peer exactly once ----
        last_b = fk.seq_last(pg, "b")
        mine = [fk.entry(A, f"Through a worker {i}.") for i in range(30)]
        for r in mine:  # one POST per connection: the kernel spreads them
            fk.post(a, agent_a, [r])
        posts = [e for e in events(a, "request") if e.get("method") == "POST"
                 and e.get("path") == "/v1/records" and e.get("status") == 200]
        t.equal(sorted({e.get("worker") for e in posts}), [1, 2],
                "both workers stored some of the 30 records")
        got = fk.wait_for(lambda: fk.keys(mine) <= set(fk.held(pg, "b")), 30)
        t.check(got, "b holds every record posted through either worker")
        t.equal(fk.seq_last(pg, "b") - last_b, len(mine),
                "b took one sequence number per record: none applied twice")
        held_a = fk.held(pg, "a")
        t.equal(len([k for k in fk.keys(mine) if k in held_a]), 30,
                "a's database holds each of them")

        # ---- SIGHUP reaches every worker ----
        before = len(events(a, "tls_reloaded"))
        a.signal(signal.SIGHUP)
        reloaded = fk.wait_for(lambda: sorted(e.get("worker") for e in
                                              events(a, "tls_reloaded")[before:]) == [1, 2], 15)
        t.check(reloaded, "SIGHUP to the supervisor: both workers reload their certificates",
                str(events(a, "tls_reloaded")))

        # ---- kill -9 of a worker: restarted, and the port keeps answering ----
        old = worker_pids(a)[1]
        os.kill(old, signal.SIGKILL)
        exited = fk.wait_for(lambda: events(a, "worker_exited", worker=1, pid=old), 10, 0.05)
        t.check(exited and exited[0].get("signal") == 9,
                "the supervisor reaps the killed worker and logs how it ended", str(exited))
        statuses = []
        t0 = time.time()
        while time.time() - t0 < 3:
            statuses.append(a.curl("/healthz", agent=agent_a)[0])
        t.check(statuses and set(statuses) == {200},
                f"the port keeps answering meanwhile ({len(statuses)} requests, all 200)",
                str(sorted(set(statuses))))
        t.check(events(a, "worker_restarting", worker=1), "the supervisor logs the restart "
                "with its delay")
        again = fk.wait_for(lambda: [e for e in events(a, "worker_ready", worker=1)
                                     if e["pid"] != old], 20)
        t.check(again, "the worker is started again and takes writes")
        new = worker_pids(a)[1]
        t.check(new != old and not alive(old), "under a new pid", f"{old} -> {new}")
        t.equal(children(a.proc.pid), sorted(worker_pids(a).values()),
                "two children again")
        t.equal(sorted(set(answered_by(a, agent_a, 40))), [1, 2],
                "both workers answer again")
        more_b = [fk.entry(B, f"After the kill {i}.") for i in range(3)]
        fk.post(b, agent_b, more_b)
        t.check(fk.wait_for(lambda: fk.keys(more_b) <= set(fk.held(pg, "a")), 20),
                "b's new records still reach a (the pull lock passed on if it had to)")
        more_a = [fk.entry(A, f"After the kill, to b {i}.") for i in range(10)]
        for r in more_a:
            fk.post(a, agent_a, [r])
        t.check(fk.wait_for(lambda: fk.keys(more_a) <= set(fk.held(pg, "b")), 30),
                "records posted after the restart reach b",
                str(fk.fed_status(b, agent_b)["a"]))

        # ---- SIGTERM stops all cleanly ----
        last_pids = sorted(worker_pids(a).values())
        fk.stop_checked(t, a, "a (supervisor and workers)")
        t.check(not any(alive(p) for p in last_pids), "no worker outlives the supervisor")
        ends = {e["worker"]: e.get("exit_code") for e in events(a, "worker_exited")
                if e["pid"] in last_pids}
        t.equal(ends, {1: 0, 2: 0}, "each worker stopped by itself with status 0")

        # ---- workers = 1: a single process, as before ----
        t.equal(children(b.proc.pid), [], "b (workers = 1) forks nothing")
        t.check(not events(b, "worker_started") and
                not any("worker" in e for e in b.log_events()),
                "b's log has no supervisor and no worker field")
        status, _, text = api(b, agent_b, "GET", "/metrics")
        t.equal(metric(text, "trellis_worker", pid=str(b.proc.pid)), 0.0,
                "b's /metrics says worker 0 (the single process), with its pid")
        fk.stop_checked(t, b)

        # ---- workers = auto: one per CPU this process may run on ----
        d = Node(pki, pg, org=A, name="d", db="a", config={"node": {"workers": "auto"}})
        d.start()
        want = min(len(os.sched_getaffinity(0)), 256)
        if want > 1:
            t.check(fk.wait_for(lambda: len(events(d, "worker_ready")) == want, 30),
                    f"workers = auto starts {want} workers (the CPUs this process may use)",
                    str(events(d, "worker_started")))
            t.equal(len(children(d.proc.pid)), want, "the supervisor has that many children")
        else:
            t.equal(children(d.proc.pid), [], "workers = auto on one CPU: a single process")
        fk.stop_checked(t, d)
        d.close()

        # ---- SIGTERM while a worker is still starting: it waits, then stops cleanly ----
        e = Node(pki, pg, org=A, name="e", db="a", config={"node": {"workers": "2"}})
        e.start()
        t.check(fk.wait_for(lambda: events(e, "worker_started", worker=2), 30, 0.01),
                "the second worker is forked")
        fk.stop_checked(t, e, "e, stopped while its second worker starts")
        t.equal(sorted(x.get("exit_code") for x in events(e, "worker_exited")), [0, 0],
                "both workers exit 0: none is killed by a SIGTERM that came before its handlers")
        e.close()

        # ---- a worker that cannot start stops the node ----
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)  # no SO_REUSEPORT: the workers cannot share it
        c = Node(pki, pg, org=A, name="c", db="a",
                 config={"node": {"workers": "2", "listen": f"127.0.0.1:{taken.getsockname()[1]}"}})
        c.start(wait=None)
        code = c.wait_exit(30)
        taken.close()
        t.equal(code, 1, "a port another program holds: the supervisor exits 1")
        t.check(events(c, "start_failed", worker=1) and events(c, "workers_start_failed"),
                "the worker says why, the supervisor that it stopped everything")
        t.equal(events(c, "worker_started", worker=2), [], "and the second was never forked")
        c.close()

        with open(a.config_path) as f:
            conf = f.read().replace("workers = 2", "workers = lots")
        with open(a.config_path.replace("trellisd.conf", "bad.conf"), "w") as f:
            f.write(conf)
        bad = subprocess.run([binary("trellisd"), "--config", a.config_path.replace(
            "trellisd.conf", "bad.conf"), "--check-config"], capture_output=True, text=True)
        t.check(bad.returncode == 1 and "[node] workers is not a whole number or auto" in bad.stderr,
                "workers = lots is refused with the key named", bad.stderr)
    finally:
        fk.close_nodes(a, b)
        pki.close()

t.finish()
