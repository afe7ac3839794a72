"""A CRL past its nextUpdate. Node A's CRL bundle holds, for organisation X,
a CRL signed by X's CA (made here with the openssl CLI, not with `trellis
pki`) whose nextUpdate has passed: A cannot know whether X's certificates
were revoked since, so it fails closed for X and only X. X's agents are
refused (counted as expired), X's node can neither pull from A nor be pulled
from; Y, whose CRL is current, is served. After `trellis pki refresh-crls`,
the new bundle and SIGHUP, X is served again and A pulls what it missed."""

import os
import re
import shutil
import signal
import subprocess
import time

import fedkit as fk
from harness import Checks, Node, PgCluster, Pki, api

t = Checks("test_crl_expiry")
A, X, Y = "alpha-support", "xray-refuge", "yankee-advocacy"


def expired_crl(pki, org, out):
    """A CRL of org's CA, signed by that CA, valid from 3 days ago to 1 day ago."""
    work = os.path.join(pki.dir, "openssl-ca")
    os.makedirs(work, exist_ok=True)
    open(os.path.join(work, "index.txt"), "w").close()
    cnf = os.path.join(work, "ca.cnf")
    with open(cnf, "w") as f:
        f.write(f"[ca]\ndefault_ca = old\n[old]\ndatabase = {work}/index.txt\n"
                "default_md = sha256\ncrl_extensions = ext\n"
                "[ext]\nauthorityKeyIdentifier = keyid:always\n")
    fmt = "%Y%m%d%H%M%SZ"
    last = time.strftime(fmt, time.gmtime(time.time() - 3 * 86400))
    nxt = time.strftime(fmt, time.gmtime(time.time() - 86400))
    ca = os.path.join(pki.dir, "orgs", org)
    subprocess.run(["openssl", "ca", "-batch", "-config", cnf, "-gencrl",
                    "-keyfile", os.path.join(ca, "ca.key"), "-cert", os.path.join(ca, "ca.crt"),
                    "-crl_lastupdate", last, "-crl_nextupdate", nxt, "-out", out],
                   check=True, capture_output=True)
    text = subprocess.run(["openssl", "crl", "-in", out, "-noout", "-nextupdate"],
                          check=True, capture_output=True, text=True).stdout
    return text.strip()


def failures(node, agent, reason):
    _, _, m = node.curl("/metrics", agent=agent)
    g = re.search(r'^trellis_tls_handshake_failures_total\{reason="%s"\} (\d+)$' % reason, m, re.M)
    return int(g.group(1)) if g else None


with PgCluster("crl") as pg:
    pki = Pki()
    a = x = None
    try:
        for org in (A, X, Y):
            pki.add_org(org)
        pg.create_db("a")
        pg.create_db("x")
        old = os.path.join(pki.dir, "x-expired.pem")
        nxt = expired_crl(pki, X, old)
        stale = os.path.join(pki.dir, "stale-bundle.pem")
        with open(stale, "w") as f:
            for part in (os.path.join("root", "crl.pem"), os.path.join("orgs", A, "crl.pem"),
                         os.path.join("orgs", Y, "crl.pem"), "x-expired.pem"):
                with open(os.path.join(pki.dir, part)) as src:
                    f.write(src.read())

        a = Node(pki, pg, org=A, name="a", db="a", config={"tls": {"crl": stale}})
        x = Node(pki, pg, org=X, name="x", db="x")
        a.add_peer(x)
        x.add_peer(a)
        a.start()
        agent_a, agent_x, agent_y = (pki.agent(o, "office") for o in (A, X, Y))
        t.check("GMT" in nxt, f"X's CRL in A's bundle expired ({nxt})")

        before = failures(a, agent_a, "expired")
        status, _, body = a.curl("/v1/whoami", agent=agent_y)
        t.equal(status, 200, "Y (its CRL current) is served by A")
        status, _, body = a.curl("/v1/whoami", agent=agent_x)
        t.check(status == 0, "X's agent is refused by A while A's CRL for X is past nextUpdate",
                f"{status} {body[:200]}")
        t.equal(failures(a, agent_a, "expired"), (before or 0) + 1,
                "A counts that refusal as expired, once")
        status, _, _ = a.curl("/v1/whoami", agent=agent_a)
        t.equal(status, 200, "A's own organisation is served")

        # X's node, started after A: its first pull meets A up, and only
        # A's refusal can fail it.
        x.start()
        mine = fk.entry(X, "Written on X while A's CRL for X is stale.")
        fk.post(x, agent_x, [mine])
        st = fk.wait_for(lambda: (lambda s: s if s.get("last_error") else None)(
            fk.fed_status(a, agent_a)["x"]), 10)
        t.check(st, "A cannot pull from X: its status names the error", str(st))
        t.check(st and st["last_success"] is None, "A has never pulled from X", str(st))
        st = fk.wait_for(lambda: (lambda s: s if s.get("last_error") else None)(
            fk.fed_status(x, agent_x)["a"]), 10)
        t.check(st and st["last_success"] is None,
                "X's node cannot pull from A either (A refuses its certificate)", str(st))
        t.check(("feedback.entry", mine["id"]) not in fk.held(pg, "a"),
                "X's record has not reached A")

        # The IT lead's monthly refresh: new CRLs, the bundle copied, SIGHUP.
        r = pki.run("refresh-crls")
        t.equal(r.returncode, 0, "trellis pki refresh-crls")
        shutil.copy(pki.crl, stale)
        a.signal(signal.SIGHUP)
        ok = fk.wait_for(lambda: a.curl("/v1/whoami", agent=agent_x)[0] == 200, 10)
        t.check(ok, "after the refresh and SIGHUP, X's agent is served by A")
        got = fk.wait_for(lambda: ("feedback.entry", mine["id"]) in fk.held(pg, "a"), 40)
        t.check(got, "and A pulls X's record it had missed")
        fk.stop_checked(t, a)
        fk.stop_checked(t, x)
    finally:
        fk.close_nodes(a, x)
        pki.close()

t.finish()
