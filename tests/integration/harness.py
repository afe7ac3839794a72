"""Test harness: real PostgreSQL clusters and real trellisd processes on
free loopback ports, with certificates made by `trellis pki`.

Every resource a test starts is stopped by the context managers here, also
when the test fails. Nothing relies on a server left running by hand."""

import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SOURCE_DIR = os.environ.get("TRELLIS_SOURCE_DIR",
                            os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD_DIR = os.environ.get("TRELLIS_BUILD_DIR", os.path.join(SOURCE_DIR, "build-test"))


# What a trellisd process did wrong when it ended, found by Node's stop path (its exit status,
# its log): Checks.finish() fails the test on any, so every test that stops a node checks both.
PROBLEMS = []
STOPS_CHECKED = [0]

# AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer reports.
SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|"
                              r"WARNING: (AddressSanitizer|LeakSanitizer)|"
                              r"runtime error:|SUMMARY: \w+Sanitizer")


def binary(name):
    for sub in ("server", "client", ""):
        p = os.path.join(BUILD_DIR, sub, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    raise RuntimeError(f"{name} not built in {BUILD_DIR}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: int(d.split("/")[-2]))
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found (install postgresql)")
    return dirs[-1]


def _as_pg_user(cmd):
    """PostgreSQL refuses to run as root: run its tools as 'postgres' then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


class PgCluster:
    """A throwaway cluster: initdb into a temporary folder, a free port."""

    def __init__(self, name="pg"):
        self.dir = tempfile.mkdtemp(prefix=f"trellis-{name}-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.bindir = pg_bindir()
        self.running = False
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(_as_pg_user([os.path.join(self.bindir, "initdb"), "-D", self.data,
                                    "-U", "trellis", "--auth=trust", "-E", "UTF8",
                                    "--no-sync", "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.dir}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 100\n")
        self.start()
        self.psql("CREATE DATABASE trellis", db="postgres")

    @property
    def url(self):
        return self.url_of("trellis")

    def url_of(self, db):
        return f"postgresql://trellis@127.0.0.1:{self.port}/{db}"

    def create_db(self, db):
        self.psql(f"CREATE DATABASE {db}", db="postgres")

    def start(self):
        subprocess.run(_as_pg_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                                    "-l", os.path.join(self.dir, "log"), "-w", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.running = True

    def stop(self, mode="fast"):
        if self.running:
            subprocess.run(_as_pg_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data,
                                        "-m", mode, "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.running = False

    def psql(self, sql, db="trellis"):
        """Run SQL through psql (a real client); return stdout rows as tuples."""
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "trellis",
                              "-d", db, "-c", sql],
                             check=True, capture_output=True, text=True).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def metric(text, name, **labels):
    """The value of a metric in Prometheus text: the sum of its samples whose labels include
    labels (all of them when none are given); None when no sample matches."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$', line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(have.get(k) == str(v) for k, v in labels.items()):
            total = (total or 0) + float(m.group(4))
    return total


class Checks:
    """Minimal assertion collector: every check prints a line; the script
    exits non-zero if any failed, with a 'N passed, N failed' summary."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {what} {detail}", flush=True)
        return cond

    def equal(self, got, want, what):
        return self.check(got == want, what, f"(got {got!r}, want {want!r})")

    def finish(self):
        for problem in PROBLEMS:
            self.check(False, "trellisd:", problem)
        if STOPS_CHECKED[0] and not PROBLEMS:
            self.check(True, f"{STOPS_CHECKED[0]} trellisd exits: the expected status, no "
                       "sanitizer report in the logs")
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed or not self.passed else 0)


class Pki:
    """A throwaway consortium PKI made by `trellis pki` (the product's own tool)."""

    def __init__(self, dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix="trellis-pki-")
        self.run("init-consortium")
        self.orgs = set()

    def run(self, *args, check=True):
        return subprocess.run([binary("trellis"), "pki", "--dir", self.dir, *args],
                              check=check, capture_output=True, text=True)

    @property
    def ca(self):
        return os.path.join(self.dir, "ca.crt")

    @property
    def crl(self):
        return os.path.join(self.dir, "crl.pem")

    def add_org(self, org):
        if org not in self.orgs:
            self.run("add-org", org)
            self.orgs.add(org)

    def _leaf(self, kind, org, name, args):
        self.add_org(org)
        base = os.path.join(self.dir, "orgs", org, kind + "s", name)
        if not os.path.exists(base + ".crt"):
            self.run(f"issue-{kind}", org, name, *args)
        return {"cert": base + ".crt", "key": base + ".key", "chain": base + ".chain.crt"}

    def node(self, org, name, *args):
        return self._leaf("node", org, name, ["--host", "localhost", "--host", "127.0.0.1", *args])

    def agent(self, org, name, *args):
        return self._leaf("agent", org, name, list(args))

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    """A real trellisd process on a free loopback port."""

    def __init__(self, pki, pg, org="alpha", name="node1", config=None, db="trellis"):
        self.pki = pki
        self.pg = pg
        self.name = name
        self.org = org
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"trellis-node-{name}-")
        self.certs = pki.node(org, name)
        self.config_path = os.path.join(self.dir, "trellisd.conf")
        self.log_path = os.path.join(self.dir, "trellisd.log")
        self.proc = None
        self.scanned = 0  # how much of the log the sanitizer scan has read
        sections = {
            # One process unless a test asks for more ([node] workers defaults to one
            # per CPU): the tests read one process's log, pid and exit status.
            "node": {"listen": f"127.0.0.1:{self.port}", "log_level": "debug",
                     "shutdown_timeout": "5s", "workers": "1"},
            "tls": {"cert": self.certs["chain"], "key": self.certs["key"], "ca": pki.ca,
                    "crl": pki.crl},
            "database": {"url": pg.url_of(db), "migrations": os.path.join(SOURCE_DIR, "sql")},
            "limits": {},
        }
        for sec, kv in (config or {}).items():
            sections.setdefault(sec, {}).update(kv)
        self.write_config(sections)

    def add_peer(self, other, share="all"):
        """Peer this node with another (this node pulls from it, and shares share)."""
        with open(self.config_path, "a") as f:
            f.write(f"[peer {other.name}]\nurl = {other.url}\norg = {other.org}\n"
                    f"share = {share}\n")

    def write_config(self, sections):
        sections.setdefault("node", {}).setdefault("workers", "1")  # as in __init__
        with open(self.config_path, "w") as f:
            for sec, kv in sections.items():
                f.write(f"[{sec}]\n")
                for k, v in kv.items():
                    f.write(f"{k} = {v}\n")

    @property
    def url(self):
        return f"https://127.0.0.1:{self.port}"

    def start(self, wait="ready"):
        self.account()  # the previous process, if it ended without stop()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary("trellisd"), "--config", self.config_path],
                                     stdout=self.log, stderr=self.log)
        if wait:
            self.wait(wait)
        return self

    def wait(self, what="ready", timeout=30):
        path = "/readyz" if what == "ready" else "/healthz"
        agent = self.pki.agent(self.org, "harness") if not hasattr(self, "_agent") else self._agent
        self._agent = agent
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"trellisd exited with {self.proc.returncode}:\n{self.read_log()}")
            status, _, _ = self.curl(path, agent=agent, check=False)
            if status == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"trellisd not {what} after {timeout}s:\n{self.read_log()}")

    def curl(self, path, agent=None, method="GET", data=None, headers=(), check=False,
             extra=()):
        """Request through curl. Returns (status, headers dict, body text);
        status 0 when curl itself failed (refused handshake, reset)."""
        agent = agent or self._agent
        cmd = ["curl", "-sS", "--max-time", "10", "--cacert", self.pki.ca,
               "--cert", agent["chain"], "--key", agent["key"], "-X", method,
               "-D", "-", "-o", "-", *extra]
        for h in headers:
            cmd += ["-H", h]
        if data is not None:
            cmd += ["--data-binary", data]
        cmd.append(self.url + path)
        r = subprocess.run(cmd, capture_output=True)
        if r.returncode != 0:
            return 0, {}, r.stderr.decode(errors="replace")
        head, _, body = r.stdout.decode(errors="replace").partition("\r\n\r\n")
        lines = head.split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        return status, hdrs, body

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_events(self):
        out = []
        for line in self.read_log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=None, timeout=20):
        """Stop (SIGTERM by default) and return the exit code (None if it had to be killed).
        A SIGTERM or SIGINT must end the process with 0 within timeout, and its log must hold
        no sanitizer report: otherwise the test fails (Checks.finish)."""
        sig = sig or signal.SIGTERM
        if not self.proc or self.proc.poll() is not None:
            self.account()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.account(f"did not exit within {timeout}s of signal {int(sig)}")
            return None
        self.account(expect=0 if sig in (signal.SIGTERM, signal.SIGINT) else code)
        return code

    def kill(self):
        """kill -9 (a deliberate crash): the status is not judged, the log still is."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.account()

    def wait_exit(self, timeout):
        """Wait for the process to end by itself (a refusal to start, say) and return its
        status, None if it is still running. The test judges the status; the log is scanned."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self.account(expect=code)
        return code

    def account(self, problem=None, expect=None):
        """Judge a process that has ended, once: its exit status (expect, or 0 when the test
        did not say; a kill -9 is deliberate) and the new part of its log."""
        if not self.proc or self.proc.poll() is None or getattr(self.proc, "accounted", False):
            return
        self.proc.accounted = True
        STOPS_CHECKED[0] += 1
        code = self.proc.returncode
        if problem:
            PROBLEMS.append(f"{self.name}: {problem}")
        elif expect is None and code == -signal.SIGKILL:
            pass
        elif code != (0 if expect is None else expect):
            PROBLEMS.append(f"{self.name}: exit status {code}, want {expect or 0}")
        log = self.read_log()
        new, self.scanned = log[self.scanned:], len(log)
        reports = [line for line in new.splitlines() if SANITIZER_REPORT.search(line)]
        if reports:
            at = new.find(reports[0])
            PROBLEMS.append(f"{self.name}: sanitizer report in {self.log_path}:\n"
                            + new[max(0, at - 200):at + 3000])
        # A handle left open at exit (uv_loop_close refused): no sanitizer
        # sees it, the node logs it.
        left = [line for line in new.splitlines() if '"event":"loop_not_closed"' in line]
        if left and code != -signal.SIGKILL:
            PROBLEMS.append(f"{self.name}: {left[0]}")

    def close(self):
        self.stop()
        if PROBLEMS:  # keep the evidence
            print(f"{self.name}: log kept in {self.log_path}", flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- raw HTTP over mutual TLS, for what curl will not send ----

import ssl  # noqa: E402


def tls_context(pki, agent):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pki.ca)
    if agent:
        ctx.load_cert_chain(agent["chain"], agent["key"])
    return ctx


def tls_connect(node, agent, timeout=10):
    raw = socket.create_connection(("127.0.0.1", node.port), timeout=timeout)
    return tls_context(node.pki, agent).wrap_socket(raw, server_hostname="127.0.0.1")


class Reader:
    """Reads HTTP/1.1 responses off a socket, one at a time."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (ssl.SSLError, ConnectionError, OSError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        return bool(chunk)

    def response(self):
        """(status, headers, body) or None at end of stream."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill():
                break
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, headers, body.decode("utf-8", "replace")

    def closed(self):
        """True if the peer closes the stream (after any buffered bytes)."""
        while not self.eof:
            if not self._fill():
                break
        return self.eof


def api(node, agent, method, path, body=None, headers=None, timeout=60):
    """One request through Python's http.client over mutual TLS. Returns
    (status, headers dict, parsed JSON or text)."""
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", node.port, timeout=timeout,
                                       context=tls_context(node.pki, agent))
    try:
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        raw = r.read().decode("utf-8", "replace")
        out = {k.lower(): v for k, v in r.getheaders()}
        try:
            return r.status, out, json.loads(raw)
        except ValueError:
            return r.status, out, raw
    finally:
        conn.close()
