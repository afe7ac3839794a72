"""What is about to lapse is said before it does: /metrics gives the seconds
until each CRL's next update and each certificate's expiry (the node's, its
organisation CA's, the root's), read independently here from the files with
the openssl CLI; the node logs a warning for each within [tls]
expiry_warning, and an error for one already past."""

import datetime
import os
import re
import subprocess
import time

from harness import Checks, Node, PgCluster, Pki

t = Checks("test_tls_expiry")
ORG = "northside-womens-aid"


def openssl_date(args, field):
    out = subprocess.run(["openssl", *args, "-noout", f"-{field}"], capture_output=True,
                         text=True, check=True).stdout
    value = out.strip().split("=", 1)[1]
    return datetime.datetime.strptime(value, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def gauges(metrics):
    out = {}
    for line in metrics.splitlines():
        m = re.match(r'trellis_tls_expiry_seconds\{what="([^"]+)",name="([^"]+)"\} (-?\d+)$', line)
        if m:
            out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


with PgCluster("expiry") as pg:
    pki = Pki()
    try:
        # 8000 h: more than a CRL's 30 days, less than a node certificate's 397.
        node = Node(pki, pg, org=ORG, name="node", config={"tls": {"expiry_warning": "8000h"}})
        node.start()
        agent = pki.agent(ORG, "office")
        status, _, metrics = node.curl("/metrics", agent=agent)
        got = gauges(metrics)
        now = time.time()
        crl_org = openssl_date(["crl", "-in", os.path.join(pki.dir, "orgs", ORG, "crl.pem")],
                               "nextupdate")
        crl_root = openssl_date(["crl", "-in", os.path.join(pki.dir, "root", "crl.pem")],
                                "nextupdate")
        want = {
            "node_cert": openssl_date(["x509", "-in", node.certs["cert"]], "enddate"),
            "org_ca": openssl_date(["x509", "-in", os.path.join(pki.dir, "orgs", ORG, "ca.crt")],
                                   "enddate"),
            "root_ca": openssl_date(["x509", "-in", pki.ca], "enddate"),
        }
        for what, at in want.items():
            seen = [v for (w, _), v in got.items() if w == what]
            t.check(len(seen) == 1 and abs(seen[0] - (at - now)) < 120,
                    f"/metrics: seconds until the {what} expires", f"{seen} vs {at - now:.0f}")
        crls = sorted(v for (w, _), v in got.items() if w == "crl")
        t.check(len(crls) == 2 and all(abs(v - (c - now)) < 120
                                       for v, c in zip(crls, sorted([crl_org, crl_root]))),
                "/metrics: seconds until each CA's CRL (root's and the organisation's) needs "
                "its next update", f"{crls} vs {[crl_org - now, crl_root - now]}")
        t.check(any(name == f"{ORG} CA" for (w, name) in got if w == "crl"),
                "a CRL is named by the CA it is of", str(sorted(got)))

        near = [e for e in node.log_events() if e.get("event") == "tls_expiry_near"]
        t.equal(sorted(e.get("what") for e in near), ["crl", "crl"],
                "within expiry_warning: a warning for each CRL, none for the certificates")
        t.check(all("refresh-crls" in e.get("action", "") for e in near),
                "each warning says what to do")
        t.equal(node.stop(), 0, "the node stops cleanly")
        node.close()
    finally:
        pki.close()

t.finish()
