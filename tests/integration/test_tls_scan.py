"""TLS checked by tools no one here wrote: Debian's sslscan scans both listeners of a running
node (the mutual-TLS one with an agent's certificate, --certs and --pk): TLS 1.3 only, AEAD
suites only, no renegotiation, not vulnerable to Heartbleed, an ECDSA P-256 certificate, and
the same offer on both (tls.c builds both contexts). Then testssl.sh runs every vulnerability
check it has against the mutual-TLS listener, the federation's: nothing found. (Without a
client certificate, which testssl 3.0 cannot present, its HTTP-level checks are skipped there;
the handshake-level ones run. One run costs some 30 s of CPU, so it is not repeated on the
public listener, whose TLS is the same.)"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from harness import Checks, Node, PgCluster, Pki, free_port

t = Checks("test_tls_scan")
AEAD = ("_GCM_", "_CHACHA20_POLY1305_", "_CCM")
# What testssl -U checks, by the title of its line: each must be there. (By the JSON ids it
# cannot be told: testssl 3.0.8 files its SWEET32 finding under CRIME_TLS on a TLS 1.3 server.)
VULNS = ["Heartbleed", "CCS", "Ticketbleed", "ROBOT", "Secure Renegotiation",
         "Secure Client-Initiated Renegotiation", "CRIME, TLS", "POODLE, SSL", "TLS_FALLBACK_SCSV",
         "SWEET32", "FREAK", "DROWN", "LOGJAM", "BEAST", "LUCKY13", "RC4"]
BAD = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}


def sslscan(port, agent=None):
    cmd = ["sslscan", "--no-colour", "--xml=-", "--connect-timeout=10"]
    if agent:
        cmd += [f"--certs={agent['chain']}", f"--pk={agent['key']}"]
    r = subprocess.run(cmd + [f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=300)
    return r.returncode, ET.fromstring(r.stdout).find("ssltest") if r.stdout.strip() else None


def check_sslscan(name, port, agent=None):
    rc, test = sslscan(port, agent)
    t.check(rc == 0 and test is not None, f"{name}: sslscan ran")
    if test is None:
        return None
    enabled = sorted(f"{p.get('type')} {p.get('version')}" for p in test.iter("protocol")
                     if p.get("enabled") == "1")
    t.equal(enabled, ["tls 1.3"], f"{name}: TLS 1.3 only")
    ciphers = [(c.get("sslversion"), c.get("cipher")) for c in test.iter("cipher")]
    t.check(ciphers and all(v == "TLSv1.3" and any(a in c for a in AEAD) for v, c in ciphers),
            f"{name}: AEAD suites only", str(ciphers))
    t.equal(sorted(c for _, c in ciphers),
            ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"],
            f"{name}: Mozilla modern's three suites")
    reneg = test.find("renegotiation")
    t.check(reneg is not None and reneg.get("supported") == "0", f"{name}: no renegotiation",
            str(reneg.attrib if reneg is not None else None))
    hb = [h.get("vulnerable") for h in test.iter("heartbleed")]
    t.check(hb and all(v == "0" for v in hb), f"{name}: not vulnerable to Heartbleed", str(hb))
    pk = test.find("certificates/certificate/pk")
    t.check(pk is not None and pk.get("type") == "EC" and pk.get("curve_name") == "prime256v1",
            f"{name}: an ECDSA P-256 certificate", str(pk.attrib if pk is not None else None))
    groups = sorted(g.get("name") for g in test.iter("group"))
    return enabled, sorted(ciphers), groups


def check_testssl(name, port, workdir):
    out = os.path.join(workdir, f"testssl-{port}.json")
    start = time.time()
    # -U: every vulnerability check; -p: protocols. Timeouts keep a check that hangs from
    # holding the run; --warnings off: no questions asked; --nodns none: no lookups.
    r = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "-p", "-U",
                        "--nodns", "none", "--connect-timeout", "10", "--openssl-timeout", "10",
                        "--jsonfile", out, f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=600, cwd=workdir)
    took = time.time() - start
    try:
        findings = json.load(open(out))
    except (OSError, ValueError):
        findings = []
    t.check(findings, f"{name}: testssl ran ({took:.0f} s)", r.stdout[-2000:] + r.stderr[-500:])
    titles = [ln.strip() for ln in r.stdout.splitlines()]
    missing = [v for v in VULNS if not any(ln.startswith(v) for ln in titles)]
    t.check(not missing, f"{name}: testssl ran every vulnerability check", str(missing))
    vulnerable = [ln for ln in titles if any(ln.startswith(v) for v in VULNS) and
                  "VULNERABLE" in ln.upper().replace("NOT VULNERABLE", "")]
    t.check(not vulnerable, f"{name}: testssl reports no check vulnerable", "\n".join(vulnerable))
    bad = [f"{f['id']}: {f['severity']} {f['finding']}" for f in findings
           if f.get("severity") in BAD]
    t.check(not bad, f"{name}: testssl found nothing", "\n".join(bad))
    offered = [f["id"] for f in findings if f["id"] in ("SSLv2", "SSLv3", "TLS1", "TLS1_1",
                                                         "TLS1_2", "TLS1_3")
               and f["finding"].startswith("offered")]
    t.equal(offered, ["TLS1_3"], f"{name}: testssl sees TLS 1.3 alone")


missing_tools = [x for x in ("sslscan", "testssl") if not shutil.which(x)]
if missing_tools:
    t.check(False, "sslscan and testssl.sh are installed (deploy/install-deps.sh)",
            " ".join(missing_tools))
    t.finish()

with PgCluster("tlsscan") as pg:
    pki = Pki()
    workdir = tempfile.mkdtemp(prefix="trellis-tlsscan-")
    try:
        public_port = free_port()
        node = Node(pki, pg, config={"public": {"listen": f"127.0.0.1:{public_port}"}})
        node.start()
        agent = pki.agent("alpha", "scanner")
        mtls = check_sslscan("mutual-TLS listener", node.port, agent)
        public = check_sslscan("public listener", public_port)
        t.check(mtls is not None and mtls == public,
                "both listeners offer the same protocols, suites and groups", f"{mtls} {public}")
        check_testssl("mutual-TLS listener", node.port, workdir)
        t.equal(node.stop(), 0, "node exits 0")
        node.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        pki.close()

t.finish()
