"""Helpers for the agent's integration tests: an agent set up with
`trellis agent init` in a temporary folder, run as a real process, and a
real HTTP proxy (Debian's tinyproxy) on a free port."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import binary, free_port


class Agent:
    """`trellis` with its own agent.conf, secret and spool."""

    def __init__(self, pki, node, org, name="office", extra=()):
        self.dir = tempfile.mkdtemp(prefix="trellis-agent-")
        self.certs = pki.agent(org, name)
        self.conf = os.path.join(self.dir, "agent.conf")
        self.spool = os.path.join(self.dir, "spool")
        self.inbox = os.path.join(self.dir, "inbox")
        self.outbox = os.path.join(self.dir, "outbox")
        self.secret = os.path.join(self.dir, "secret")
        r = self.run("agent", "init", "--dir", self.dir, "--node", node.url, "--ca", pki.ca,
                     "--cert", self.certs["chain"], "--key", self.certs["key"],
                     "--spool", self.spool, "--secret", self.secret, "--inbox", self.inbox,
                     "--outbox", self.outbox, *extra, config=False)
        if r.returncode != 0:
            raise RuntimeError(f"agent init failed: {r.stderr}")

    def env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")
               and k.lower() not in ("https_proxy", "http_proxy", "all_proxy", "no_proxy")}
        env.update(extra or {})
        return env

    def cmd(self, *args, config=True):
        return [binary("trellis"), *args] + (["--config", self.conf] if config else [])

    def run(self, *args, config=True, env=None, timeout=300, input=None):
        return subprocess.run(self.cmd(*args, config=config), capture_output=True, text=True,
                              env=self.env(env), timeout=timeout, input=input)

    def popen(self, *args, env=None, **kw):
        return subprocess.Popen(self.cmd(*args), env=self.env(env), **kw)

    def spool_sql(self, sql):
        """Rows from the spool through Python's sqlite3 (another reader)."""
        import sqlite3
        db = sqlite3.connect(os.path.join(self.spool, "spool.db"), timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Proxy:
    """tinyproxy in the foreground on a free loopback port, allowed to
    CONNECT to the given ports. Its log lines are in self.log_path."""

    def __init__(self, connect_ports):
        self.dir = tempfile.mkdtemp(prefix="trellis-proxy-")
        self.port = free_port()
        conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(conf, "w") as f:
            f.write(f"Port {self.port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\n"
                    "LogLevel Connect\nMaxClients 50\n")
            for p in connect_ports:
                f.write(f"ConnectPort {p}\n")
        self.log_path = os.path.join(self.dir, "log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        import socket
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("tinyproxy did not start")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def connects(self):
        with open(self.log_path, errors="replace") as f:
            return sum(1 for line in f if "CONNECT" in line and "Established" in line
                       or "Connect (file descriptor" in line)

    def read_log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def publish_services(pki, node, org):
    """Publish org's directory services (deploy/sample_data.py) on its node,
    as its CMS team would before referring: a referral must leave from one
    of its origin's own services."""
    import sys
    from harness import SOURCE_DIR, api
    sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
    import sample_data as sd
    status, _, reply = api(node, pki.agent(org, "publisher"), "POST", "/v1/records",
                           {"records": sd.services(org)})
    if status != 200 or reply.get("refused"):
        raise RuntimeError(f"publishing {org}'s services: {status} {str(reply)[:300]}")
