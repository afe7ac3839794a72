"""A node's database goes back (docs/federation.md, "Restores and
failovers"): pg_dump/pg_restore --clean, pg_basebackup plus point-in-time
recovery, and a streaming replica paused behind its primary, the primary
killed and the replica promoted. Each time: records written on several nodes
before and after the backup point; the peers notice the feed went back and
resume from the last common point; the restored node refuses writes (503,
recovering) until its own records are back from its peers, /readyz says so,
/v1/fed/status says what was detected and recovered; at the end every
node's feed holds every record the writers were told was stored, exactly
once. And a node whose peers are all down at start takes writes, but says
so, and does not hang."""

import os
import shutil
import subprocess
import sys
import time

import fedkit as fk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki, _as_pg_user, api, binary

t = Checks("test_fed_restore")
A, B, C = sd.ORGS[0], sd.ORGS[1], sd.ORGS[2]
which = sys.argv[1] if len(sys.argv) > 1 else "all"


def pg_tool(pg, tool, *args):
    subprocess.run(_as_pg_user([os.path.join(pg.bindir, tool), *args]), check=True,
                   stdout=subprocess.DEVNULL)


def feed(node, agent):
    """[(kind, id, origin, seq)] of a node's whole feed, as its own agent reads it."""
    out, since = [], "0"
    while True:
        status, _, page = api(node, agent, "GET", f"/v1/changes?since={since}&limit=1000")
        if status != 200:
            raise RuntimeError(f"/v1/changes on {node.name}: {status} {page}")
        out += [(c["record"]["kind"], c["record"]["id"], c["record"]["origin"], c["seq"])
                for c in page["changes"]]
        if not page["more"]:
            return out
        since = page["cursor"]


def check_feeds(what, nodes, agents, expected):
    """Every node's feed holds each expected record exactly once."""
    for n in nodes:
        got = fk.wait_for(lambda: (lambda f: f if {(k, i) for k, i, _, _ in f} >= expected
                                   else None)(feed(n, agents[n.org])), 60, 0.5)
        f = got or feed(n, agents[n.org])
        keys = [(k, i) for k, i, _, _ in f]
        t.equal(sorted(set(keys) & expected), sorted(expected),
                f"{what}: {n.name}'s feed holds every record the writers were told was stored")
        t.equal(len(keys), len(set(keys)), f"{what}: {n.name}'s feed holds each record once")
        t.equal(len({s for _, _, _, s in f}), len(f),
                f"{what}: {n.name}'s feed has one record per sequence number")


def post_many(node, agent, org, n, label):
    recs = [fk.entry(org, f"{label} {i}.") for i in range(n)]
    stored = set()
    for i in range(0, n, 100):
        stored |= fk.post(node, agent, recs[i:i + 100])
    return stored


def held_by(pg, db, keys):
    return keys <= set(fk.held(pg, db))


def pulled_from(node, agent, peer, peer_pg):
    """node's own cursor on peer has reached every record the peer's database
    holds. Records can reach a node through a third one first: holding them
    does not mean the node pulled them from their origin, and only a cursor
    past the backup point can see the feed go back."""
    head = max(seq for seq, _, _ in fk.held(*peer_pg).values())
    return fk.fed_status(node, agent)[peer]["cursor"] >= head


def mesh(pki, pgs, timeout="60s"):
    """Nodes a, b, c, each on its own database, each pulling from the others."""
    nodes = {}
    for name, org in (("a", A), ("b", B), ("c", C)):
        pg, db = pgs[name]
        nodes[name] = Node(pki, pg, org=org, name=name, db=db,
                           config={"node": {"recovery_timeout": timeout}})
    for n in nodes.values():
        for o in nodes.values():
            if o is not n:
                n.add_peer(o)
    return nodes


def restart_recovering(t, what, b, agent_b, peers_up, expect_lost, recover_from):
    """b starts on a database that went back while c is down: it must say it
    is recovering and refuse writes until c is back and has given back b's
    records."""
    c, pg_c = recover_from
    b.start(wait="healthz")
    st = fk.wait_for(lambda: (lambda s: s if s["recovery"]["state"] == "recovering" else None)(
        api(b, agent_b, "GET", "/v1/fed/status")[2]), 30)
    t.check(st, f"{what}: b says it is recovering while a peer that holds its records is down",
            str(api(b, agent_b, "GET", "/v1/fed/status")[2].get("recovery")))
    if st:
        t.check(st["recovery"]["went_back"], f"{what}: b's status says its feed went back")
        t.check("a" in st["recovery"]["detected_by"], f"{what}: and that peer a saw it")
        t.check("c" in st["recovery"]["waiting_for"], f"{what}: and that it waits for c")
    status, _, body = b.curl("/readyz", agent=agent_b)
    t.equal(status, 503, f"{what}: /readyz answers 503 while b is recovering")
    t.check("recovering" in body, f"{what}: and says it is recovering", body[:300])
    status, headers, reply = api(b, agent_b, "POST", "/v1/records",
                                 {"records": [fk.entry(B, "Too early.")]})
    t.equal(status, 503, f"{what}: POST /v1/records is refused with 503 while recovering")
    t.check("retry-after" in {k.lower() for k in headers}, f"{what}: with Retry-After")
    t.check("recovering" in str(reply.get("type", "")) + str(reply.get("detail", "")),
            f"{what}: and a problem+json that says it is recovering", str(reply))
    c.start()
    ok = fk.wait_for(lambda: api(b, agent_b, "GET", "/readyz")[0] == 200, 60, 0.3)
    t.check(ok, f"{what}: once c is back, b has its records and is ready")
    st = api(b, agent_b, "GET", "/v1/fed/status")[2]
    t.equal(st["recovery"]["state"], "done", f"{what}: b's recovery is done")
    t.check(st["recovery"]["own_records_recovered"] >= len(expect_lost),
            f"{what}: b's status counts the records its peers gave back",
            f'{st["recovery"]["own_records_recovered"]} < {len(expect_lost)}')


def trellis_status(node, agent):
    r = subprocess.run([binary("trellis"), "status", "--node", node.url, "--cert", agent["chain"],
                        "--key", agent["key"], "--ca", node.pki.ca],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


def peer_went_back(t, what, node, agent, peer):
    st = fk.wait_for(lambda: (lambda p: p if p.get("feed_went_back") else None)(
        fk.fed_status(node, agent)[peer]), 30)
    t.check(st, f"{what}: {node.name}'s status says {peer}'s feed went back",
            str(fk.fed_status(node, agent)[peer]))
    if st:
        back = st["feed_went_back"]
        t.check(back["to"] < back["from"], f"{what}: from its cursor to an earlier point",
                str(back))
        t.check(st["lag_records"] >= 0, f"{what}: and the lag is not hidden")


def scenario(name, prepare, go_back):
    """prepare(pgs) -> pgs for a, b, c; go_back(b, pgs) takes b's database
    back to the backup point (b stopped) and returns b's new (pg, db)."""
    pki = Pki()
    clusters = []
    nodes = {}
    try:
        pgs = prepare(clusters)
        nodes = mesh(pki, pgs)
        a, b, c = nodes["a"], nodes["b"], nodes["c"]
        agents = {org: pki.agent(org, "office") for org in (A, B, C)}
        for n in (a, b, c):
            n.start(wait="healthz")
        for n in (a, b, c):
            n.wait()
        expected = set()
        for n in (a, b, c):
            expected |= post_many(n, agents[n.org], n.org, 30, f"{name}: before {n.name}")
        ok = fk.wait_for(lambda: all(held_by(*pgs[x], expected) for x in "abc"), 60)
        t.check(ok, f"{name}: the mesh holds the records written before the backup")

        backup = go_back.backup(b, pgs)
        lost = post_many(b, agents[B], B, 200, f"{name}: lost with the restore")
        expected |= lost
        expected |= post_many(a, agents[A], A, 20, f"{name}: a after the backup")
        ok = fk.wait_for(lambda: held_by(*pgs["a"], lost) and held_by(*pgs["c"], lost), 60)
        t.check(ok, f"{name}: a and c pulled the 200 records b wrote after the backup")
        ok = fk.wait_for(lambda: pulled_from(a, agents[A], "b", pgs["b"]), 60)
        t.check(ok, f"{name}: a's cursor on b is past them", str(fk.fed_status(a, agents[A])["b"]))
        # PITR and failover lose what was written after the target, or what the
        # replica never got; a restored dump loses the 200.
        gone = lost
        for s in go_back.after_pull(b, pgs, lambda: pulled_from(a, agents[A], "b", pgs["b"])):
            expected |= s
            gone = s

        fk.stop_checked(t, c, f"{name}: c")
        fk.stop_checked(t, b, f"{name}: b")
        pgs["b"] = go_back.restore(b, pgs, backup)
        b.pg, b_db = pgs["b"]
        b.write_config_db(pgs["b"])
        t.check(not (gone & set(fk.held(*pgs["b"]))),
                f"{name}: b's database went back (the records written after it are not in it)")
        restart_recovering(t, name, b, agents[B], [a], gone, (c, pgs["c"]))
        peer_went_back(t, name, a, agents[A], "b")
        rc, out = trellis_status(b, agents[B])
        t.check(rc == 0 and "recovery: done (feed went back" in out and "given back" in out,
                f"{name}: trellis status on b says its feed went back and what came back", out)
        status, _, text = api(a, agents[A], "GET", "/metrics")
        t.check('trellis_fed_feed_went_back_total{peer="b"} 1' in str(text),
                f"{name}: /metrics on a counts b's feed going back")
        rc, out = trellis_status(a, agents[A])
        t.check(rc == 0 and "b's feed went back 1 time" in out,
                f"{name}: trellis status on a says b's feed went back", out)

        after = post_many(b, agents[B], B, 200, f"{name}: after the restore")
        expected |= after
        expected |= post_many(c, agents[C], C, 20, f"{name}: c after the restore")
        ok = fk.wait_for(lambda: held_by(*pgs["a"], after) and held_by(*pgs["c"], after), 60)
        t.check(ok, f"{name}: the 200 records b took after the restore reach a and c")
        t.check(held_by(*pgs["b"], gone), f"{name}: the lost records are back on b")
        check_feeds(name, (a, b, c), agents, expected)
        ok = fk.wait_for(lambda: fk.fed_status(a, agents[A])["b"]["lag_records"] == 0, 30)
        t.check(ok, f"{name}: a has caught up with b (lag 0, and true)",
                str(fk.fed_status(a, agents[A])["b"]))

        if name == "pg_dump":
            # Peers all down at start: b takes writes at once, but says so.
            fk.stop_checked(t, a, f"{name}: a")
            fk.stop_checked(t, c, f"{name}: c again")
            fk.stop_checked(t, b, f"{name}: b again")
            t0 = time.time()
            b.start()
            t.check(time.time() - t0 < 25, "peers all down: b is ready without waiting for them")
            st = api(b, agents[B], "GET", "/v1/fed/status")[2]["recovery"]
            t.equal(st["state"], "unconfirmed", "peers all down: b's recovery is unconfirmed")
            t.equal(sorted(st["unreached"]), ["a", "c"], "and names the peers it could not ask")
            t.check(any(e.get("event") == "recovery_unconfirmed" for e in b.log_events()),
                    "and logs recovery_unconfirmed")
            late = post_many(b, agents[B], B, 5, "peers down")
            expected |= late
            a.start()
            c.start()
            ok = fk.wait_for(lambda: api(b, agents[B], "GET", "/v1/fed/status")[2]["recovery"]
                             ["state"] == "done", 60, 0.3)
            t.check(ok, "peers back: b asked them, nothing was lost, recovery done")
            check_feeds(f"{name}, peers back", (a, b, c), agents, expected)

        for n in (a, b, c):
            fk.stop_checked(t, n, f"{name}: {n.name} at the end")
    finally:
        fk.close_nodes(*nodes.values())
        pki.close()
        if getattr(go_back, "replica", None):
            go_back.replica.close()
        for pg in clusters:
            pg.close()


# ---- (1) pg_dump / pg_restore --clean ----

class Dump:
    def backup(self, b, pgs):
        pg, db = pgs["b"]
        path = os.path.join(pg.dir, "b.dump")
        subprocess.run(["pg_dump", "-Fc", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "trellis",
                        "-f", path, db], check=True)
        return path

    def after_pull(self, b, pgs, a_pulled):
        return []

    def restore(self, b, pgs, path):
        pg, db = pgs["b"]
        subprocess.run(["pg_restore", "--clean", "--if-exists", "-h", "127.0.0.1", "-p",
                        str(pg.port), "-U", "trellis", "-d", db, path], check=True)
        return pg, db


def prepare_one(clusters):
    pg = PgCluster("restore")
    clusters.append(pg)
    for db in "abc":
        pg.create_db(db)
    return {x: (pg, x) for x in "abc"}


# ---- (2) pg_basebackup + point-in-time recovery ----

def archive_conf(pg):
    arch = os.path.join(pg.dir, "archive")
    subprocess.run(_as_pg_user(["mkdir", "-p", arch]), check=True)
    with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
        f.write(f"wal_level = replica\narchive_mode = on\n"
                f"archive_command = 'cp %p {arch}/%f'\n")
    pg.stop()
    pg.start()
    return arch


class Pitr:
    def backup(self, b, pgs):
        pg, _ = pgs["b"]
        self.arch = pg.archive
        base = os.path.join(pg.dir, "base")
        pg_tool(pg, "pg_basebackup", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "trellis",
                "-D", base, "-X", "stream")
        return base

    def after_pull(self, b, pgs, a_pulled):
        pg, db = pgs["b"]
        # The recovery target: after the 200, before the last ones.
        pg.psql("SELECT pg_create_restore_point('before_the_last')", db=db)
        (wal,), = pg.psql("SELECT pg_walfile_name(pg_switch_wal())", db=db)
        ok = fk.wait_for(lambda: pg.psql("SELECT coalesce(last_archived_wal, '') >= "
                                         f"'{wal}' FROM pg_stat_archiver", db=db) == [("t",)], 60)
        t.check(ok, "pitr: the WAL up to the recovery target is archived")
        agent = b.pki.agent(B, "office")
        last = post_many(b, agent, B, 40, "pitr: after the recovery target")
        ok = fk.wait_for(lambda: held_by(*pgs["a"], last) and a_pulled(), 60)
        t.check(ok, "pitr: a pulled the records written after the recovery target, from b itself")
        return [last]

    def restore(self, b, pgs, base):
        pg, db = pgs["b"]
        pg.stop("immediate")
        subprocess.run(_as_pg_user(["rm", "-rf", pg.data]), check=True)
        subprocess.run(_as_pg_user(["cp", "-a", base, pg.data]), check=True)
        with open(os.path.join(pg.data, "postgresql.conf"), "a") as f:
            f.write(f"restore_command = 'cp {self.arch}/%f %p'\n"
                    "recovery_target_name = 'before_the_last'\n"
                    "recovery_target_action = 'promote'\n")
        subprocess.run(_as_pg_user(["touch", os.path.join(pg.data, "recovery.signal")]),
                       check=True)
        pg.start()
        ok = fk.wait_for(lambda: pg.psql("SELECT pg_is_in_recovery()", db=db) == [("f",)], 60)
        t.check(ok, "pitr: b's cluster recovered to the target and was promoted")
        return pg, db


def prepare_two(clusters):
    pg = PgCluster("restore-ac")
    pg_b = PgCluster("restore-b")
    clusters += [pg, pg_b]
    pg.create_db("a")
    pg.create_db("c")
    pg_b.archive = archive_conf(pg_b)
    pg_b.create_db("b")
    return {"a": (pg, "a"), "b": (pg_b, "b"), "c": (pg, "c")}


# ---- (3) a streaming replica paused behind its primary, promoted ----

class Failover:
    def backup(self, b, pgs):
        pg, db = pgs["b"]
        self.primary = pg
        replica = PgCluster.__new__(PgCluster)
        replica.dir = os.path.join(pg.dir, "replica")
        replica.data = os.path.join(replica.dir, "data")
        replica.bindir = pg.bindir
        replica.port = __import__("harness").free_port()
        replica.running = False
        subprocess.run(_as_pg_user(["mkdir", "-p", replica.dir]), check=True)
        pg_tool(pg, "pg_basebackup", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "trellis",
                "-D", replica.data, "-X", "stream", "-R")
        with open(os.path.join(replica.data, "postgresql.conf"), "a") as f:
            f.write(f"port = {replica.port}\nunix_socket_directories = '{replica.dir}'\n"
                    "hot_standby = on\n")
        replica.start()
        self.replica = replica
        return replica

    def after_pull(self, b, pgs, a_pulled):
        pg, db = pgs["b"]
        r = self.replica
        lsn = pg.psql("SELECT pg_current_wal_lsn()", db=db)[0][0]
        ok = fk.wait_for(lambda: r.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn",
                                        db=db) == [("t",)], 60)
        t.check(ok, "failover: the replica replayed the 200 records")
        # Cut off and paused: it stays behind, as an asynchronous replica can.
        # (Cut off first: a paused startup process applies no new
        # primary_conninfo, and WAL received but not replayed would be
        # replayed at promotion.)
        r.psql("ALTER SYSTEM SET primary_conninfo = ''", db=db)
        r.psql("SELECT pg_reload_conf()", db=db)
        ok = fk.wait_for(lambda: r.psql("SELECT count(*) FROM pg_stat_wal_receiver",
                                        db=db) == [("0",)], 30)
        t.check(ok, "failover: the replica no longer receives WAL")
        r.psql("SELECT pg_wal_replay_pause()", db=db)
        ok = fk.wait_for(lambda: r.psql("SELECT pg_get_wal_replay_pause_state()",
                                        db=db) == [("paused",)], 30)
        t.check(ok, "failover: the replica's replay is paused")
        agent = b.pki.agent(B, "office")
        last = post_many(b, agent, B, 40, "failover: not on the replica")
        ok = fk.wait_for(lambda: held_by(*pgs["a"], last) and a_pulled(), 60)
        t.check(ok, "failover: a pulled the records the replica never got, from b itself")
        return [last]

    def restore(self, b, pgs, replica):
        _, db = pgs["b"]
        self.primary.stop("immediate")  # the primary dies
        replica.psql("SELECT pg_promote()", db=db)
        ok = fk.wait_for(lambda: replica.psql("SELECT pg_is_in_recovery()", db=db) == [("f",)],
                         60)
        t.check(ok, "failover: the replica was promoted")
        return replica, db


def _write_config_db(self, pg_db):
    """Point the node at another cluster (a promoted replica)."""
    pg, db = pg_db
    with open(self.config_path) as f:
        text = f.read()
    import re
    text = re.sub(r"url = postgresql://\S+", f"url = {pg.url_of(db)}", text, count=1)
    with open(self.config_path, "w") as f:
        f.write(text)


Node.write_config_db = _write_config_db

if which in ("all", "dump"):
    scenario("pg_dump", prepare_one, Dump())
if which in ("all", "pitr"):
    scenario("pitr", prepare_two, Pitr())
if which in ("all", "failover"):
    scenario("failover", prepare_two, Failover())

t.finish()
