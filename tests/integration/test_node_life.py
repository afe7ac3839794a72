"""A node's life: configuration checks, start before the database is up,
migrations, a schema newer than the node, graceful drain on SIGTERM."""

import os
import signal
import subprocess
import threading
import time

from harness import Checks, Node, PgCluster, Pki, Reader, binary, tls_connect

t = Checks("test_node_life")


def check_config(path):
    r = subprocess.run([binary("trellisd"), "--config", path, "--check-config"],
                       capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip()


with PgCluster("life") as pg:
    pki = Pki()
    try:
        node = Node(pki, pg)
        agent = pki.agent("alpha", "laptop")

        # --check-config: good, then each broken shape gives one line and exit 1.
        rc, out = check_config(node.config_path)
        t.equal(rc, 0, "--check-config accepts a good configuration")
        good = open(node.config_path).read()

        other = pki.node("alpha", "other-node")
        cases = {
            "missing key": (good.replace("ca = ", "#ca = "), "missing required key [tls] ca"),
            "bad number": (good + "[limits]\nmax_headers = many\n", "max_headers"),
            "unknown key": (good + "[limits]\ncolour = blue\n", "unknown key [limits] colour"),
            "unreadable cert": (good.replace(node.certs["chain"], "/nonexistent/node.crt"),
                                "[tls] cert"),
            "key of another cert": (good.replace(node.certs["key"], other["key"]),
                                    "does not match"),
        }
        for name, (text, want) in cases.items():
            with open(node.config_path, "w") as f:
                f.write(text)
            rc, out = check_config(node.config_path)
            t.check(rc == 1 and want in out and len(out.splitlines()) == 1,
                    f"--check-config, {name}: one-line error", out)
        with open(node.config_path, "w") as f:
            f.write(good)
        r = subprocess.run([binary("trellisd"), "--help"], capture_output=True, text=True)
        t.check(r.returncode == 0 and "--check-config" in r.stdout, "--help explains the options")
        r = subprocess.run([binary("trellisd")], capture_output=True, text=True)
        t.check(r.returncode == 2 and "--config" in r.stderr, "no arguments: usage error")

        # The example configuration in the tree is what the binary documents.
        r = subprocess.run([binary("trellisd"), "--print-example-config"], capture_output=True,
                           text=True)
        example = open(os.path.join(os.environ.get("TRELLIS_SOURCE_DIR", "."),
                                    "deploy", "trellisd.conf.example")).read()
        t.equal(r.stdout, example, "deploy/trellisd.conf.example matches --print-example-config")

        # Start with the database down: up, not ready; ready once it starts.
        pg.stop()
        node.start(wait="alive")
        status, hdrs, body = node.curl("/readyz", agent=agent)
        t.check(status == 503 and "retry-after" in hdrs, "database down: /readyz 503 with Retry-After",
                f"{status} {hdrs}")
        t.equal(node.curl("/healthz", agent=agent)[0], 200, "database down: /healthz 200")
        pg.start()
        try:
            node.wait("ready", timeout=30)
            t.check(True, "database started later: the node becomes ready by itself")
        except RuntimeError as e:
            t.check(False, "database started later: the node becomes ready by itself", str(e)[-500:])
        rows = pg.psql("SELECT count(*) FROM trellis_schema_migrations")
        files = [f for f in os.listdir(os.path.join(os.environ.get("TRELLIS_SOURCE_DIR", "."), "sql"))
                 if f.endswith(".sql")]
        t.equal(int(rows[0][0]), len(files), "every migration recorded once")

        # SIGTERM drains: a request in flight (its database backend paused) still
        # gets its reply, idle connections are closed, the process exits 0.
        backends = [int(r[0]) for r in pg.psql(
            "SELECT pid FROM pg_stat_activity WHERE datname = 'trellis' AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'")]
        idle = tls_connect(node, agent)
        busy = tls_connect(node, agent)
        for pid in backends:
            os.kill(pid, signal.SIGSTOP)
        try:
            busy.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            node.signal(signal.SIGTERM)
            time.sleep(0.5)
            t.check(node.proc.poll() is None, "SIGTERM with a request in flight: still draining")
        finally:
            for pid in backends:
                os.kill(pid, signal.SIGCONT)
        resp = Reader(busy).response()
        t.check(resp is not None and resp[0] == 200 and resp[1].get("connection") == "close",
                "the in-flight request is answered during the drain", repr(resp)[:200])
        t.check(Reader(idle).closed(), "idle connections are closed on SIGTERM")
        try:
            t.equal(node.proc.wait(10), 0, "drained node exits 0")
        except subprocess.TimeoutExpired:
            t.check(False, "drained node exits 0", "still running")
        ev = [e.get("event") for e in node.log_events()]
        t.check("stopped" in ev, "shutdown logged")

        # A drain that cannot finish is cut at shutdown_timeout.
        node.write_config({"node": {"listen": f"127.0.0.1:{node.port}", "shutdown_timeout": "1s"},
                           "tls": {"cert": node.certs["chain"], "key": node.certs["key"],
                                   "ca": pki.ca, "crl": pki.crl},
                           "database": {"url": pg.url, "migrations": os.path.join(
                               os.environ.get("TRELLIS_SOURCE_DIR", "."), "sql")}})
        node.start()
        backends = [int(r[0]) for r in pg.psql(
            "SELECT pid FROM pg_stat_activity WHERE datname = 'trellis' AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'")]
        busy = tls_connect(node, agent)
        for pid in backends:
            os.kill(pid, signal.SIGSTOP)
        try:
            busy.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)
            start = time.time()
            code = node.stop(timeout=15)
            took = time.time() - start
        finally:
            for pid in backends:
                os.kill(pid, signal.SIGCONT)
        t.check(code == 0 and took < 5, "a stuck drain is cut at shutdown_timeout and exits 0",
                f"code {code}, {took:.1f}s")

        # A schema newer than the node knows: the node refuses to run.
        pg.psql("INSERT INTO trellis_schema_migrations (version, name) VALUES (999, '999_future.sql')")
        node.start(wait=None)
        code = node.wait_exit(20)
        t.check(code not in (0, None), "schema newer than the node: it refuses to run", str(code))
        t.check(any(e.get("event") == "database_fatal" and "newer" in e.get("error", "")
                    for e in node.log_events()), "the refusal is logged")
        pg.psql("DELETE FROM trellis_schema_migrations WHERE version = 999")
        node.start()
        t.equal(node.curl("/readyz", agent=agent)[0], 200, "restarted on the right schema: ready")
        node.close()
    finally:
        pki.close()

t.finish()
