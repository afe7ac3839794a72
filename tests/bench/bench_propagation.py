#!/usr/bin/env python3
"""Propagation latency: node A takes records at a steady rate from an agent
(batches every 100 ms); B pulls from A (direct) and C pulls from B (relayed,
A and C not peered). For every record: the time from A's commit (its POST
answered) to its arrival in a long-poll on B's and on C's change feed.
Prints p50, p99 and max for each, in the steady state: one batch goes
through the chain first, and its latency (cold) is printed apart.

The three nodes' databases are in one PostgreSQL cluster with durability on
(fsync, synchronous_commit and full_page_writes on, as a node runs in
production), unlike the test harness's clusters, which turn all three off
for speed. --durability off measures on such a cluster, both runs one after
the other; every result says which it is.

  tests/bench/bench_propagation.py [--rate 1000] [--seconds 20] [--durability on|off|both]

Builds nothing: run it with TRELLIS_BUILD_DIR pointing at a release build
(tests/bench/bench_fed.sh makes one in build-bench/)."""

import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
os.environ.setdefault("TRELLIS_BUILD_DIR",
                      os.path.join(os.path.dirname(__file__), "..", "..", "build-bench"))
from harness import Node, PgCluster, Pki, tls_context  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--rate", type=int, default=1000, help="records per second into A")
ap.add_argument("--seconds", type=int, default=20)
ap.add_argument("--durability", choices=["on", "off", "both"], default="on",
                help="fsync, synchronous_commit and full_page_writes on (default), off, or "
                     "a run of each")
args = ap.parse_args()

ORGS = ["prop-a", "prop-b", "prop-c"]
committed = {}
refused = []  # statuses of batches A did not take: each one is reported
arrived = {"B": {}, "C": {}}
lock = threading.Lock()
stop = threading.Event()  # the writer stops
done = threading.Event()  # the watchers stop: everything arrived, or the wait is over


class Client:
    """A keep-alive connection, as a real agent keeps one: a new TLS
    handshake for every request would add its own milliseconds to what is
    measured."""

    def __init__(self, node, agent):
        self.node, self.ctx = node, tls_context(node.pki, agent)
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.node.port,
                                                        timeout=60, context=self.ctx)
            try:
                data = json.dumps(body) if body is not None else None
                hdrs = {"Content-Type": "application/json"} if data else {}
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                raw = r.read()
                at = time.time()  # before parsing: the arrival, not our JSON decoding
                return r.status, json.loads(raw), at
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


def probes(n):
    return [{"kind": "feedback.entry", "id": str(uuid.uuid4()), "origin": ORGS[0],
             "version": 1, "body": {"week": "2026-W47", "source_role": "staff",
                                    "themes": ["access"], "summary": "Latency probe.",
                                    "easy_read": "Probe.", "level": "consultation"}}
            for _ in range(n)]


def warm_up(node, agent):
    """One batch through the whole chain before the clock starts: the first
    records also pay for one-time work (C fetching and checking the
    certificate of A's node, first connections, the database's first plans).
    Reported apart; the figures are the steady state the target is about."""
    recs = probes(max(1, args.rate // 10))
    status, _, done = Client(node, agent).request("POST", "/v1/records", {"records": recs})
    deadline = time.time() + 30
    while time.time() < deadline:
        with lock:
            if all(r["id"] in arrived["C"] for r in recs):
                return (max(arrived["B"].get(r["id"], done) for r in recs) - done,
                        max(arrived["C"][r["id"]] for r in recs) - done)
        time.sleep(0.05)
    return None


def writer(node, agent):
    batch = max(1, args.rate // 10)
    client = Client(node, agent)
    next_t = time.time()
    while not stop.is_set():
        recs = probes(batch)
        status, _, done = client.request("POST", "/v1/records", {"records": recs})
        if status == 200:
            with lock:
                for r in recs:
                    committed[r["id"]] = done
        else:
            refused.append(status)
        next_t += 0.1
        time.sleep(max(0, next_t - time.time()))


def watcher(name, node, agent):
    client = Client(node, agent)
    cursor = "0"
    while not done.is_set():
        status, page, now = client.request("GET",
                                           f"/v1/changes?since={cursor}&limit=1000&wait=5")
        if status != 200:
            time.sleep(0.1)
            continue
        with lock:
            for c in page["changes"]:
                arrived[name].setdefault(c["record"]["id"], now)
        cursor = page["cursor"]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def set_durability(pg, on):
    """The harness's clusters start with all three off; ALTER SYSTEM
    (postgresql.auto.conf, read after postgresql.conf) sets them, a reload
    applies them (all three take a reload), and SHOW proves it."""
    for name in DURABILITY:
        pg.psql(f"ALTER SYSTEM SET {name} = {'on' if on else 'off'}", db="postgres")
    pg.psql("SELECT pg_reload_conf()", db="postgres")
    want = "on" if on else "off"
    for _ in range(50):
        got = {n: pg.psql(f"SHOW {n}", db="postgres")[0][0] for n in DURABILITY}
        if all(v == want for v in got.values()):
            break
        time.sleep(0.1)
    else:
        sys.exit(f"PostgreSQL did not take durability {want}: {got}")
    pg.psql("CHECKPOINT", db="postgres")
    return ", ".join(f"{n}={v}" for n, v in got.items())


def run(on):
    committed.clear()
    refused.clear()
    for d in arrived.values():
        d.clear()
    stop.clear()
    done.clear()
    with PgCluster("prop") as pg:
        run_on(pg, on)


def run_on(pg, on):
    label = set_durability(pg, on)
    pki = Pki()
    for org in ORGS:
        pki.add_org(org)
    try:
        for db in ("prop_a", "prop_b", "prop_c"):
            pg.create_db(db)
        quiet = {"node": {"log_level": "warn"}}
        # A shares its probes with the whole consortium: with its default
        # audience (its peers: B alone) B would never relay them to C.
        origin = dict(quiet, sharing={"feedback.entry": "consortium"})
        a, b, c = (Node(pki, pg, org=o, name=f"prop-{o[-1]}", db=f"prop_{o[-1]}",
                        config=origin if o == ORGS[0] else quiet)
                   for o in ORGS)
        a.add_peer(b)
        b.add_peer(a)
        b.add_peer(c)
        c.add_peer(b)
        for n in (a, b, c):
            n.start()
        agents = [pki.agent(o, "office") for o in ORGS]
        threads = [threading.Thread(target=watcher, args=("B", b, agents[1])),
                   threading.Thread(target=watcher, args=("C", c, agents[2]))]
        for th in threads:
            th.start()
        time.sleep(1)
        cold = warm_up(a, agents[0])
        w = threading.Thread(target=writer, args=(a, agents[0]))
        w.start()
        time.sleep(args.seconds)
        stop.set()
        w.join()
        # The watchers go on until every committed record has reached B and
        # C or 30 s have passed: a watcher that stopped with the writer
        # would drop the last batches from the figures without a word.
        deadline = time.time() + 30
        while time.time() < deadline:
            with lock:
                if all(i in arrived["B"] and i in arrived["C"] for i in committed):
                    break
            time.sleep(0.05)
        done.set()
        for th in threads:
            th.join(10)
        print(f"propagation, durability {'ON' if on else 'OFF'} ({label}): "
              f"{len(committed)} records into A at {args.rate}/s for "
              f"{args.seconds} s, {os.cpu_count()} cores")
        if refused:
            print(f"A did not take {len(refused)} batches: statuses {sorted(set(refused))}")
        print(f"{'path':<22}{'records':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for name, path in (("B", "A -> B (direct)"), ("C", "A -> B -> C (relayed)")):
            lat = [arrived[name][i] - t for i, t in committed.items() if i in arrived[name]]
            if len(lat) < len(committed):
                print(f"{path}: {len(committed) - len(lat)} of {len(committed)} records did "
                      "not arrive within 30 s of the last write")
            if lat:
                print(f"{path:<22}{len(lat):>9}{pct(lat, 0.5):>9.1f}{pct(lat, 0.99):>9.1f}"
                      f"{max(lat) * 1000:>9.1f}")
            else:
                print(f"{path:<22}{0:>9}")
        print("first batch, before the clock (cold): " +
              ("A -> B %.1f ms, A -> B -> C %.1f ms" % (cold[0] * 1000, cold[1] * 1000)
               if cold else "did not arrive within 30 s"))
        for n in (a, b, c):
            n.close()
    finally:
        pki.close()


for durable in {"on": [True], "off": [False], "both": [True, False]}[args.durability]:
    run(durable)
