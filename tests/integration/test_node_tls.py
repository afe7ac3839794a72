"""Mutual TLS: who gets in, who is refused, and certificate reload.
Clients are curl and openssl s_client (real clients no one here wrote) and
Python's ssl module for raw bytes."""

import json
import os
import shutil
import signal
import subprocess
import time

from harness import Checks, Node, PgCluster, Pki, Reader, metric, tls_connect

t = Checks("test_node_tls")


def s_client_request(node, cert=None, key=None, ca=None):
    """Send a request through openssl s_client; return what came back. Under
    TLS 1.3 a refused client certificate shows only on the first read."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{node.port}", "-quiet",
           "-verify_return_error", "-CAfile", ca or node.pki.ca, "-tls1_3"]
    if cert:
        cmd += ["-cert", cert, "-cert_chain", cert, "-key", key]
    r = subprocess.run(cmd, input=b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       capture_output=True, timeout=20)
    return r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def wait_log(node, event, after=0, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        evs = [e for e in node.log_events() if e.get("event") == event]
        if len(evs) > after:
            return evs[-1]
        time.sleep(0.1)
    return None


with PgCluster("tls") as pg:
    pki = Pki()
    other = Pki()  # a second consortium: its certificates chain to another root
    try:
        # Organisations exist before the node starts: it loads their CRLs then
        # (a new member's CRL arrives with SIGHUP, tested below).
        peer = pki.node("beta", "node2")
        node = Node(pki, pg, org="alpha", name="node1")
        node.start()
        agent = pki.agent("alpha", "laptop")

        status, hdrs, body = node.curl("/v1/whoami", agent=agent)
        t.equal(status, 200, "agent certificate: whoami 200")
        who = json.loads(body) if status == 200 else {}
        t.equal((who.get("org"), who.get("role"), who.get("name")), ("alpha", "agent", "laptop"),
                "whoami reports the agent's identity")
        t.equal(len(who.get("fingerprint", "")), 64, "whoami gives a SHA-256 fingerprint")
        t.equal(hdrs.get("content-type"), "application/json", "whoami is JSON")

        status, _, body = node.curl("/v1/whoami", agent=peer)
        who = json.loads(body) if status == 200 else {}
        t.equal((status, who.get("org"), who.get("role")), (200, "beta", "node"),
                "another organisation's node certificate is identified as such")

        out, _ = s_client_request(node, agent["chain"], agent["key"])
        t.check(out.startswith("HTTP/1.1 200") and '"org":"alpha"' in out,
                "openssl s_client with the agent certificate gets 200", out[:200])

        # No certificate: curl and s_client both fail on the first read.
        r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", pki.ca,
                            node.url + "/v1/whoami"], capture_output=True, text=True)
        t.check(r.returncode != 0 and '"org"' not in r.stdout, "no certificate: curl refused",
                r.stderr)
        out, err = s_client_request(node)
        t.check("HTTP/1.1" not in out, "no certificate: s_client's read fails", out[:200])

        # A certificate from another consortium's CA.
        stranger = other.agent("alpha", "laptop")
        status, _, _ = node.curl("/v1/whoami", agent=stranger)
        t.equal(status, 0, "certificate of another CA: refused")
        out, _ = s_client_request(node, stranger["chain"], stranger["key"])
        t.check("HTTP/1.1" not in out, "another CA: s_client's read fails")

        # A member added after the node started: refused (no CRL for its CA yet)
        # until SIGHUP reloads the CRL bundle.
        late = pki.agent("gamma", "laptop")
        t.equal(node.curl("/v1/whoami", agent=late)[0], 0, "new member before reload: refused")
        node.signal(signal.SIGHUP)
        t.check(wait_log(node, "tls_reloaded") is not None, "SIGHUP reloads the TLS context")
        t.equal(node.curl("/v1/whoami", agent=late)[0], 200, "new member after SIGHUP: served")

        # Expired.
        expired = pki.agent("alpha", "old-laptop", "--backdate", "10", "--days", "1")
        status, _, _ = node.curl("/v1/whoami", agent=expired)
        t.equal(status, 0, "expired certificate: refused")

        # Revoked: revoke, SIGHUP to reload the CRL, refused.
        victim = pki.agent("alpha", "stolen-laptop")
        t.equal(node.curl("/v1/whoami", agent=victim)[0], 200, "before revocation: 200")
        pki.run("revoke", victim["cert"])
        node.signal(signal.SIGHUP)
        t.check(wait_log(node, "tls_reloaded", after=1) is not None, "second SIGHUP reloads again")
        status, _, _ = node.curl("/v1/whoami", agent=victim)
        t.equal(status, 0, "revoked certificate: refused after reload")
        out, _ = s_client_request(node, victim["chain"], victim["key"])
        t.check("HTTP/1.1" not in out, "revoked: s_client's read fails")
        t.equal(node.curl("/v1/whoami", agent=agent)[0], 200, "others still served after reload")

        fails = [e for e in node.log_events() if e.get("event") == "tls_handshake_failed"]
        reasons = {e.get("reason") for e in fails}
        t.check({"no_certificate", "unknown_ca", "expired", "revoked"} <= reasons,
                "handshake failures logged with their reason", str(reasons))
        # The counters move by the refusals asked for: two more of each reason.
        _, _, m1 = node.curl("/metrics", agent=agent)
        for _ in range(2):
            node.curl("/v1/whoami", agent=victim)
            s_client_request(node, None, None)
        _, _, m2 = node.curl("/metrics", agent=agent)
        for reason in ("revoked", "no_certificate"):
            got = [metric(m, "trellis_tls_handshake_failures_total", reason=reason) or 0
                   for m in (m1, m2)]
            t.check(got[0] >= 1 and got[1] - got[0] == 2,
                    f"handshake failures counted by reason in /metrics: {reason} moved by 2",
                    str(got))

        # The identity comes only from the certificate: headers cannot override it.
        status, _, body = node.curl("/v1/whoami", agent=agent,
                                    headers=["X-Trellis-Org: beta", "X-Forwarded-Client-Cert: x"])
        t.check(status == 200 and json.loads(body)["org"] == "alpha",
                "request headers cannot change the identity")

        # SIGHUP with a broken certificate: logged, old context keeps serving.
        backup = node.certs["chain"] + ".bak"
        shutil.copy(node.certs["chain"], backup)
        with open(node.certs["chain"], "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
        node.signal(signal.SIGHUP)
        ev = wait_log(node, "tls_reload_failed")
        t.check(ev is not None, "SIGHUP with a broken certificate: reload failure logged")
        t.equal(node.curl("/v1/whoami", agent=agent)[0], 200,
                "broken certificate on SIGHUP: the node keeps serving")
        shutil.move(backup, node.certs["chain"])

        # Connections per identity.
        node.close()
        node = Node(pki, pg, org="alpha", name="node1b",
                    config={"limits": {"max_connections_per_identity": 2}})
        node.start()
        socks = [tls_connect(node, agent) for _ in range(3)]
        replies = []
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            replies.append(Reader(s).response())
        t.equal([r[0] if r else None for r in replies], [200, 200, 429],
                "third connection of one identity: 429")
        for s in socks:
            s.close()
        t.equal(node.stop(), 0, "node exits 0 on SIGTERM")
        node.close()
    finally:
        pki.close()
        other.close()

t.finish()
