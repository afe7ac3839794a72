"""The peer client (server/peer_client.c) against a real trellisd over mutual TLS, and against
fake peers in this script for what trellisd never does (drop a reused connection, chunked,
oversized or folded responses, hang, refuse our certificate). The C driver
tests/unit/peer_client_main.c prints one line per step; this script checks them."""

import os
import re
import socket
import ssl
import subprocess
import threading
import time

from harness import BUILD_DIR, Checks, Node, PgCluster, Pki, free_port

t = Checks("test_peer_client")


class FakePeer:
    """A TLS 1.3 server on a thread, asking for a client certificate, that answers by path."""

    def __init__(self, certs, ca, host="127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx.load_cert_chain(certs["chain"], certs["key"])
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(ca)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.url = f"https://{host}:{self.sock.getsockname()[1]}"
        self.paths = []
        self.handshake_errors = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.sock.close()

    def serve(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(raw,), daemon=True).start()

    def handle(self, raw):
        raw.settimeout(20)
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshake_errors += 1
            raw.close()
            return
        served, buf = 0, b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                self.paths.append((path, head.decode("latin-1")))
                if not self.respond(conn, path, served):
                    return
                served += 1
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()

    @staticmethod
    def json(conn, body, extra=""):
        conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra}"
                     f"Content-Length: {len(body)}\r\n\r\n{body}".encode())

    def respond(self, conn, path, served):
        """Answer; False closes the connection."""
        if path == "/ok":
            self.json(conn, '{"ok":true}')
        elif path == "/drop":  # a keep-alive the server gave up on just as the request came
            if served:
                return False
            self.json(conn, '{"drop":"served"}')
        elif path == "/drop-always":
            return False
        elif path == "/chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n"
                         b"6\r\n{\"a\":[\r\n4;x=y\r\n1,2,\r\n3\r\n3]}\r\n0\r\nX-T: 1\r\n\r\n")
        elif path == "/big":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n" + b"x" * 1000)
        elif path == "/bigchunked":
            piece = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(20):
                conn.sendall(piece)
        elif path == "/fold":
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}")
        elif path == "/close":
            self.json(conn, '{"closing":true}', "Connection: close\r\n")
            return False
        elif path == "/hang":
            while conn.recv(65536):
                pass
            return False
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


def parse(out):
    """{step: {key: value}} from "<step> k=v k=v ... err=<rest of line>" lines."""
    steps = {}
    for line in out.splitlines():
        m = re.match(r"^(\S+) (.*?)(?: ?err=(.*))?$", line)
        if not m:
            continue
        fields = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
        fields["err"] = m.group(3) or ""
        steps[m.group(1)] = fields
    return steps


def num(step, key):
    try:
        return int(step.get(key, "-1"))
    except ValueError:
        return -1


with PgCluster("peerc") as pg:
    pki = Pki()
    other = Pki()  # another consortium: its certificates chain to another root
    fakes = []
    node = None
    try:
        me = pki.node("beta", "node2")  # the driver is beta's node pulling from alpha
        node = Node(pki, pg, org="alpha", name="node1", config={"limits": {"idle_timeout": "1s"}})
        node.start()
        good = FakePeer(pki.node("alpha", "node1"), pki.ca)
        foreign = FakePeer(other.node("alpha", "node1"), other.ca)
        mismatch = FakePeer(pki.node("alpha", "node1"), pki.ca, host="127.0.0.2")
        refuses_us = FakePeer(pki.node("alpha", "node1"), other.ca)
        fakes = [good, foreign, mismatch, refuses_us]

        driver = os.path.join(BUILD_DIR, "tests", "peer_client_main")
        cmd = [driver, "--url", node.url, "--org", "alpha", "--cert", me["chain"],
               "--key", me["key"], "--ca", pki.ca, "--crl", pki.crl,
               "--byname", f"https://localhost:{node.port}", "--foreign", foreign.url,
               "--refused", f"https://127.0.0.1:{free_port()}", "--fake", good.url,
               "--mismatch", mismatch.url, "--refuses-us", refuses_us.url,
               "--idle-wait-ms", "1600"]
        started = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        print(r.stdout, end="")
        t.equal(r.returncode, 0, "driver exits 0", )
        t.check("ERROR: AddressSanitizer" not in r.stderr and "LeakSanitizer" not in r.stderr,
                "no ASan or leak report", r.stderr[-2000:])
        s = parse(r.stdout)
        get = lambda name: s.get(name, {})  # noqa: E731

        w = get("whoami")
        t.equal(num(w, "status"), 200, "whoami: 200")
        t.equal(w.get("who"), "beta/node/node2", "whoami names the driver's own identity")
        t.equal(w.get("ct"), "application/json", "whoami: Content-Type given to the caller")
        t.equal(w.get("peer"), "alpha/node/node1", "response carries the verified peer identity")

        q = get("sequential")
        t.equal(num(q, "ok"), 50, "50 sequential GETs chained from callbacks all 200")
        t.equal(num(q, "connects"), 1, "all of them on the one keep-alive connection")

        lp = get("longpoll")
        t.equal(num(lp, "status"), 200, "long-poll /v1/changes?wait=2: 200")
        t.check(1800 <= num(lp, "ms") < 5000, "long-poll held about 2 s", str(lp))
        t.equal(lp.get("has_cursor"), "1", "long-poll reply is the change feed")
        t.equal(num(lp, "connects"), 1, "long-poll on the same connection")

        to = get("timeout")
        t.equal(num(to, "status"), 0, "request timeout: no response")
        t.equal(to.get("err"), "no response within 500 ms", "request timeout: clear error")
        t.check(450 <= num(to, "ms") < 2000, "request timeout fires on time", str(to))
        at = get("after-timeout")
        t.check(num(at, "status") == 200 and num(at, "connects") == 2,
                "after a timeout the next request reconnects", str(at))
        ai = get("after-idle")
        t.check(num(ai, "status") == 200 and num(ai, "connects") == 3,
                "node closed the idle keep-alive: the next request reconnects", str(ai))
        ac = get("after-cancel")
        t.check(num(ac, "status") == 200 and ac.get("cancelled_called") == "0",
                "cancel: no callback, next request served", str(ac))

        t.equal(num(get("byname"), "status"), 200,
                "by name (localhost: lookup off the loop, SNI, DNS SAN)")
        t.equal(get("wrong-org").get("err"), "peer certificate is for org alpha, expected gamma",
                "expect_org mismatch refused with a clear error")
        fc = get("foreign-ca").get("err", "")
        t.check(fc.startswith("peer certificate refused:") and "issuer" in fc,
                "server with a certificate of another CA refused", fc)
        rf = get("refused")
        t.check(rf.get("err", "").startswith("cannot connect to 127.0.0.1:") and
                "connection refused" in rf.get("err", ""), "refused port: connect error",
                str(rf))
        t.check(0 <= num(rf, "ms") < 1000, "refused port fails quickly", str(rf))
        mm = get("mismatch").get("err", "")
        t.check(mm.startswith("peer certificate refused:") and "mismatch" in mm.lower(),
                "certificate without the URL's IP refused", mm)
        # TLS 1.3: the refusal comes after the client's handshake, on the first read. The
        # peer's alert is named when it arrives before the peer's reset (a race in the kernel).
        ru = get("refuses-us").get("err", "")
        t.check(("TLS alert: unknown CA" in ru and ru.startswith("peer closed the connection"))
                or (ru.startswith("connection reset by the peer before responding") and
                    "may have refused our certificate" in ru),
                "peer refusing our certificate fails the first request", ru)

        t.equal(get("fake-ok").get("body"), '{"ok":true}', "fake peer: plain response")
        fr = get("fake-retry")
        t.check(num(fr, "status") == 200 and num(fr, "connects") == 2,
                "keep-alive dropped by the peer before any byte: sent again on a new connection",
                str(fr))
        t.equal(sum(1 for p, _ in good.paths if p == "/drop"), 2, "the dropped request sent twice")
        t.equal(get("fake-chunked").get("body"), '{"a":[1,2,3]}',
                "chunked body with extension and trailer")
        t.equal(get("fake-big").get("err"), "response too large", "Content-Length over max_body")
        t.equal(get("fake-bigchunked").get("err"), "response too large",
                "chunked body over max_body")
        t.check("obs-fold" in get("fake-fold").get("err", ""), "folded header refused",
                str(get("fake-fold")))
        fcl = get("fake-close")
        fac = get("fake-after-close")
        t.check(num(fcl, "status") == 200 and num(fac, "status") == 200 and
                num(fac, "connects") == num(fcl, "connects") + 1,
                "Connection: close honoured, next request reconnects", f"{fcl} {fac}")
        t.equal(get("fake-hang").get("err"), "no response within 300 ms", "per-request timeout")
        t.equal(get("fake-drop-fresh").get("err"), "peer closed the connection before responding",
                "a fresh connection closed without a response is not retried")
        t.equal(sum(1 for p, _ in good.paths if p == "/drop-always"), 1,
                "fresh-connection failure sent once")
        head = next((h for p, h in good.paths if p == "/ok"), "")
        t.check(head.startswith("GET /ok HTTP/1.1\r\n") and
                f"\r\nHost: 127.0.0.1:{good.url.rsplit(':', 1)[1]}" in head and
                "\r\nAccept: application/json" in head, "request line and headers", head)

        t.equal(num(get("free-in-callback"), "status"), 200, "client freed inside its callback")
        t.equal(get("loop_close").get("rc"), "0", "uv_loop_close() == 0 at the end")
        errs = [line for line in r.stdout.splitlines() if "err=" in line]
        t.check(all("ZQXJ" not in line and '{"' not in line.split("err=", 1)[1] for line in errs),
                "errors never carry response bodies")
        t.check(time.time() - started < 60, "driver finished in reasonable time")
    finally:
        for f in fakes:
            f.close()
        if node:
            node.close()
        pki.close()
        other.close()

t.finish()
