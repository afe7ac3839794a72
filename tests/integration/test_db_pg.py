"""The database pool against a throwaway PostgreSQL cluster: the cmocka suite
(tests/unit/test_db.c) with TRELLIS_TEST_PG_URL set, the real sql/ migrations
applied by two processes at once, a schema newer than the files, and a pool
that starts with the cluster down and recovers by itself, twice."""

import os
import queue
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD_DIR, SOURCE_DIR, Checks, PgCluster  # noqa: E402

TEST_DB = os.path.join(BUILD_DIR, "tests", "test_db")
SQL_DIR = os.path.join(SOURCE_DIR, "sql")


def url_for(pg, db):
    return f"postgresql://trellis@127.0.0.1:{pg.port}/{db}"


def run(args, url, timeout=300):
    env = dict(os.environ, TRELLIS_TEST_PG_URL=url)
    return subprocess.run([TEST_DB] + args, env=env, capture_output=True, text=True,
                          timeout=timeout)


def sql_files():
    return sorted(f for f in os.listdir(SQL_DIR) if f[:1].isdigit() and f.endswith(".sql"))


class Lines:
    """Lines of a child's stdout, read by a thread so that waits can time out."""

    def __init__(self, proc):
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, f):
        for line in f:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, want, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                return False
            self.seen.append(line)
            if line == want:
                return True
        return False


def suite(c, pg):
    r = run([], pg.url)
    out = r.stdout + r.stderr
    print(out, flush=True)
    c.equal(r.returncode, 0, "cmocka suite passes against a real cluster")
    c.check("SKIPPED" not in out, "no test skipped with TRELLIS_TEST_PG_URL set")
    left = pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'trellis_t_%'")
    c.equal(left, [("0",)], "the suite dropped the databases it made")


def migrations(c, pg):
    pg.psql("CREATE DATABASE mig", db="postgres")
    url = url_for(pg, "mig")
    files = sql_files()
    latest = int(files[-1].split("_")[0])
    env = dict(os.environ, TRELLIS_TEST_PG_URL=url)
    # Two processes at once: the advisory lock makes them take turns.
    procs = [subprocess.Popen([TEST_DB, "--migrate", SQL_DIR], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=120)
        c.equal(p.returncode, 0, f"migrating process {i + 1} succeeds")
        c.check(f"MIGRATED schema_version={latest}" in out, f"process {i + 1} reports version",
                out + err)
    rows = pg.psql("SELECT version, name FROM trellis_schema_migrations ORDER BY version", db="mig")
    want = [(str(int(f.split("_")[0])), f) for f in files]
    c.equal(rows, want, "one trellis_schema_migrations row per sql/ file")
    c.equal(pg.psql("SELECT to_regclass('trellis_node') IS NOT NULL", db="mig"), [("t",)],
            "001_init.sql created trellis_node")
    applied = pg.psql("SELECT max(applied_at) FROM trellis_schema_migrations", db="mig")

    r = run(["--migrate", SQL_DIR], url)
    c.equal(r.returncode, 0, "a third start succeeds")
    c.equal(pg.psql("SELECT max(applied_at) FROM trellis_schema_migrations", db="mig"), applied,
            "and applies nothing")

    pg.psql("INSERT INTO trellis_schema_migrations (version, name) VALUES (999, '999_future.sql')",
            db="mig")
    r = run(["--migrate", SQL_DIR], url)
    c.equal(r.returncode, 2, "a schema newer than the files is fatal")
    c.check(f"database schema version 999 is newer than this node knows ({latest})" in r.stderr,
            "with the versions in the message", r.stderr)
    c.equal(pg.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"), [("0",)],
            "no advisory lock left behind")


def recovery(c, pg):
    pg.psql("CREATE DATABASE recover", db="postgres")
    pg.stop()
    env = dict(os.environ, TRELLIS_TEST_PG_URL=url_for(pg, "recover"))
    p = subprocess.Popen([TEST_DB, "--recover"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    lines = Lines(p)
    try:
        ok = c.check(lines.wait_for("DOWN-OK", 20),
                     "cluster down: pool not ready, db_query fails fast")
        if ok:
            pg.start()
            ok = c.check(lines.wait_for("UP-OK", 40), "cluster started: the pool recovers alone")
        if ok:
            ok = c.check(lines.wait_for("SLEEPING", 20), "a long query is running")
        if ok:
            pg.stop("immediate")
            ok = c.check(lines.wait_for("LOST-OK", 30),
                         "server killed: the running query gets 'connection lost'")
        if ok:
            pg.start()
            c.check(lines.wait_for("RECOVERED", 40), "restarted: the pool recovers again")
        rc = p.wait(timeout=30)
        c.equal(rc, 0, "recover mode exits 0 (closed cleanly, no handle left)")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        if not pg.running:
            pg.start()
    err = p.stderr.read()
    if err:
        print(err, flush=True)


def main():
    c = Checks("test_db_pg")
    if not os.path.isfile(TEST_DB):
        c.check(False, f"{TEST_DB} is built")
        c.finish()
    with PgCluster("db") as pg:
        suite(c, pg)
        migrations(c, pg)
        recovery(c, pg)
    c.finish()


if __name__ == "__main__":
    main()
