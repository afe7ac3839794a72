#!/usr/bin/env python3
"""`trellis pki`: build a consortium in a temporary folder with the real
binary, then check every file against the certificate profile with the real
openssl CLI: chains verify, CRLs revoke, expired certificates fail, and every
refusal is one `trellis:` line with the right exit code."""

import calendar
import filecmp
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Checks, binary, free_port  # noqa: E402

TRELLIS = binary("trellis")
DAY = 86400


def trellis(*args, env=None):
    full_env = dict(os.environ)
    full_env.pop("TRELLIS_PKI_DIR", None)
    full_env.update(env or {})
    return subprocess.run([TRELLIS, *args], capture_output=True, text=True, env=full_env,
                          timeout=60)


def read(path):
    with open(path) as f:
        return f.read()


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)


def text_of(cert):
    return openssl("x509", "-in", cert, "-noout", "-text").stdout


def crl_text(crl):
    return openssl("crl", "-in", crl, "-noout", "-text").stdout


def asn1_time(s):
    """'Nov 24 03:31:56 2026 GMT' (openssl's display form) -> epoch seconds."""
    return calendar.timegm(time.strptime(s.strip(), "%b %d %H:%M:%S %Y %Z"))


def validity_days(cert):
    out = openssl("x509", "-in", cert, "-noout", "-startdate", "-enddate").stdout
    start = asn1_time(re.search(r"notBefore=(.*)", out).group(1))
    end = asn1_time(re.search(r"notAfter=(.*)", out).group(1))
    return start, end, (end - start) / DAY


def crl_number(crl):
    m = re.search(r"CRL Number:\s*\n\s*(\d+)", crl_text(crl))
    return int(m.group(1)) if m else None


def verify(root, org_ca, leaf, *extra):
    r = openssl("verify", *extra, "-CAfile", root, "-untrusted", org_ca, leaf)
    return r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


def tls_handshake(pki, server, client):
    """Mutual TLS 1.3 between openssl s_server presenting server's chain file
    and s_client presenting client's, both checking every CA's CRL as the
    node does. server and client are (org, sub, name). (ok, detail)."""
    trust = os.path.join(pki, "..", "trust.pem")  # root + every CRL: s_client -CRL takes one
    with open(trust, "w") as f:
        for part in ("ca.crt", "crl.pem"):
            f.write(read(os.path.join(pki, part)))
    s_crt, s_key, s_chain = leaf_files(pki, *server)
    c_crt, c_key, c_chain = leaf_files(pki, *client)
    port = free_port()
    common = ["-tls1_3", "-CAfile", trust, "-verify_return_error", "-crl_check_all"]
    with subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", *common,
                           "-cert", s_crt, "-key", s_key, "-cert_chain", s_chain,
                           "-Verify", "3", "-naccept", "1", "-www"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as srv:
        try:
            for line in srv.stdout:  # ends early if s_server exits
                if line.startswith("ACCEPT"):
                    break
            r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *common,
                                "-verify_ip", "127.0.0.1", "-cert", c_crt, "-key", c_key,
                                "-cert_chain", c_chain, "-quiet"],
                               input="GET / HTTP/1.0\r\n\r\n", capture_output=True, text=True,
                               errors="replace", timeout=30)
        finally:
            srv.kill()  # the with block then closes its pipe and waits for it
    ok = r.returncode == 0 and "HTTP/1.0 200" in r.stdout and "TLSv1.3" in r.stdout
    return ok, r.stderr[-600:]


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def one_line_error(c, r, code, what, contains=None):
    """A refusal: exit code, exactly one stderr line starting 'trellis: '."""
    lines = r.stderr.splitlines()
    ok = (r.returncode == code and len(lines) == 1 and lines[0].startswith("trellis: ")
          and (contains is None or contains in lines[0]))
    return c.check(ok, what, f"(exit {r.returncode}, stderr {r.stderr!r})")


def check_help(c):
    r = trellis("--help")
    c.check(r.returncode == 0 and "pki" in r.stdout, "trellis --help exits 0 and lists pki")
    r = trellis("--version")
    c.check(r.returncode == 0 and r.stdout.startswith("trellis "), "trellis --version")
    r = trellis("pki", "--help")
    commands = ["init-consortium", "add-org", "issue-node", "issue-agent", "renew-node",
                "renew-agent", "request-org", "sign-org", "import-org", "add-crl", "revoke",
                "refresh-crls", "list"]
    c.check(r.returncode == 0 and all(cmd in r.stdout for cmd in commands)
            and "profile:" in r.stdout, "trellis pki --help lists every command and the profile")
    for cmd in commands:
        r = trellis("pki", cmd, "--help")
        ok = r.returncode == 0 and r.stdout.startswith(f"usage: trellis pki {cmd}") \
            and "profile:" in r.stdout and (cmd == "list" or "writes" in r.stdout)
        c.check(ok, f"trellis pki {cmd} --help explains files and profile", repr(r.stdout[:200]))
    # --help wins even with otherwise wrong arguments.
    r = trellis("pki", "issue-node", "Bad Org", "--help")
    c.equal(r.returncode, 0, "--help wins over bad arguments")


def check_usage_errors(c, pki):
    one_line_error(c, trellis(), 2, "no command: exit 2")
    one_line_error(c, trellis("frobnicate"), 2, "unknown command: exit 2", "frobnicate")
    one_line_error(c, trellis("--frobnicate"), 2, "unknown top-level option: exit 2")
    one_line_error(c, trellis("pki"), 2, "pki without a command: exit 2")
    one_line_error(c, trellis("pki", "--dir", pki, "frobnicate"), 2,
                   "unknown pki subcommand: exit 2", "frobnicate")
    one_line_error(c, trellis("pki", "--dir", pki, "add-org", "--frobnicate", "x"), 2,
                   "unknown option: exit 2", "--frobnicate")
    one_line_error(c, trellis("pki", "--dir", pki, "add-org"), 2, "missing ORG: exit 2", "ORG")
    one_line_error(c, trellis("pki", "--dir", pki, "add-org", "a", "b"), 2,
                   "extra argument: exit 2")
    one_line_error(c, trellis("pki", "--dir", pki, "issue-agent", "a", "b", "--host", "x"), 2,
                   "--host on an agent: exit 2", "--host")


def check_bad_names(c, pki):
    for bad in ["Bad_Org", "UPPER", "-lead", "has space", "dot.ted", "a" * 64, ""]:
        # After "--" so that "-lead" reaches the name check, not the option parser.
        one_line_error(c, trellis("pki", "--dir", pki, "add-org", "--", bad), 2,
                       f"add-org refuses ORG {bad!r:.20}", "ORG")
    one_line_error(c, trellis("pki", "--dir", pki, "issue-node", "Bad_Org", "n1"), 2,
                   "issue-node refuses a bad ORG", "ORG")
    one_line_error(c, trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "N1"), 2,
                   "issue-node refuses a bad NAME", "NAME")
    one_line_error(c, trellis("pki", "--dir", pki, "issue-agent", "northside-refuge", "a/b"), 2,
                   "issue-agent refuses a bad NAME", "NAME")
    for bad in ["a b", "-x", "x..y", "under_score"]:
        one_line_error(c, trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "n1",
                                  "--host", bad), 2, f"--host {bad!r} refused", "--host")
    for opt, val in [("--days", "0"), ("--days", "x"), ("--days", "-1"), ("--days", "99999"),
                     ("--backdate", "-1"), ("--backdate", "1.5")]:
        one_line_error(c, trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "n1",
                                  opt, val), 2, f"{opt} {val} refused", opt)


def check_root(c, pki):
    root = os.path.join(pki, "root", "ca.crt")
    for f in ["root/ca.crt", "root/ca.key", "root/crl.pem", "ca.crt", "crl.pem"]:
        c.check(os.path.isfile(os.path.join(pki, f)), f"init-consortium wrote {f}")
    c.equal(mode_of(os.path.join(pki, "root", "ca.key")), 0o600, "root key is mode 0600")
    c.check(filecmp.cmp(root, os.path.join(pki, "ca.crt"), shallow=False),
            "DIR/ca.crt is a copy of the root")
    t = text_of(root)
    c.check("Subject: O = consortium, OU = root, CN = Test Consortium Root" in t,
            "root subject O=consortium, OU=root, CN=display name")
    c.check("Issuer: O = consortium, OU = root, CN = Test Consortium Root" in t,
            "root is self-signed")
    c.check(re.search(r"Basic Constraints: critical\s*\n\s*CA:TRUE, pathlen:1", t) is not None,
            "root basicConstraints critical CA:TRUE pathlen:1")
    c.check(re.search(r"Key Usage: critical\s*\n\s*Certificate Sign, CRL Sign", t) is not None,
            "root keyUsage critical keyCertSign,cRLSign")
    c.check("Subject Key Identifier" in t and "Authority Key Identifier" not in t,
            "root has an SKI and no AKI")
    _, _, days = validity_days(root)
    c.check(abs(days - 3650) < 0.01, "root is valid for 10 years", f"({days} days)")
    r = openssl("crl", "-in", os.path.join(pki, "root", "crl.pem"), "-noout", "-text")
    c.check(r.returncode == 0 and "No Revoked Certificates" in r.stdout,
            "root/crl.pem is an empty CRL")


def check_common_profile(c, path, what):
    t = text_of(path)
    c.check("Version: 3 (0x2)" in t, f"{what}: X.509 v3")
    c.check(t.count("Signature Algorithm: ecdsa-with-SHA256") == 2, f"{what}: ECDSA-SHA256")
    c.check("NIST CURVE: P-256" in t, f"{what}: P-256 key")
    serial = openssl("x509", "-in", path, "-noout", "-serial").stdout.strip().split("=")[1]
    c.check(len(serial) == 32 and int(serial[0], 16) < 8,
            f"{what}: random positive 16-byte serial", serial)
    return t


def check_org_ca(c, pki, org):
    d = os.path.join(pki, "orgs", org)
    for f in ["ca.crt", "ca.key", "crl.pem"]:
        c.check(os.path.isfile(os.path.join(d, f)), f"add-org {org} wrote {f}")
    c.equal(mode_of(os.path.join(d, "ca.key")), 0o600, f"{org} CA key is mode 0600")
    t = check_common_profile(c, os.path.join(d, "ca.crt"), f"{org} CA")
    c.check(f"Subject: O = {org}, OU = ca, CN = {org} CA" in t, f"{org} CA subject")
    c.check("Issuer: O = consortium, OU = root" in t, f"{org} CA is signed by the root")
    c.check(re.search(r"Basic Constraints: critical\s*\n\s*CA:TRUE, pathlen:0", t) is not None,
            f"{org} CA basicConstraints critical CA:TRUE pathlen:0")
    c.check(re.search(r"Key Usage: critical\s*\n\s*Certificate Sign, CRL Sign", t) is not None,
            f"{org} CA keyUsage critical keyCertSign,cRLSign")
    c.check("Subject Key Identifier" in t and "Authority Key Identifier" in t,
            f"{org} CA has SKI and AKI")
    _, _, days = validity_days(os.path.join(d, "ca.crt"))
    c.check(abs(days - 1825) < 0.01, f"{org} CA is valid for 5 years", f"({days} days)")
    t = crl_text(os.path.join(d, "crl.pem"))
    c.check("Version 2" in t and "CRL Number" in t and "Authority Key Identifier" in t
            and "Issuer: O = " + org + ", OU = ca" in t, f"{org} CRL: v2, number, AKI, issuer")
    last = asn1_time(re.search(r"Last Update: (.*)", t).group(1))
    nxt = asn1_time(re.search(r"Next Update: (.*)", t).group(1))
    c.equal((nxt - last) / DAY, 30.0, f"{org} CRL's next update is 30 days on")


def leaf_files(pki, org, sub, name):
    d = os.path.join(pki, "orgs", org, sub)
    return tuple(os.path.join(d, name + ext) for ext in (".crt", ".key", ".chain.crt"))


def check_leaf(c, pki, org, sub, name, role):
    crt, key, chain = leaf_files(pki, org, sub, name)
    for f in (crt, key, chain):
        c.check(os.path.isfile(f), f"{role} {name}: wrote {os.path.basename(f)}")
    c.equal(mode_of(key), 0o600, f"{role} {name}: key is mode 0600")
    pub_cert = openssl("x509", "-in", crt, "-noout", "-pubkey").stdout
    pub_key = openssl("pkey", "-in", key, "-pubout").stdout
    c.check(pub_cert and pub_cert == pub_key, f"{role} {name}: key matches certificate")
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n",
                      read(chain), re.S)
    org_ca = os.path.join(pki, "orgs", org, "ca.crt")
    c.check(len(pems) == 2 and pems[0] == read(crt) and pems[1] == read(org_ca),
            f"{role} {name}: chain file is leaf then organisation CA")
    t = check_common_profile(c, crt, f"{role} {name}")
    c.check(f"Subject: O = {org}, OU = {role}, CN = {name}" in t, f"{role} {name}: subject")
    c.check(f"Issuer: O = {org}, OU = ca, CN = {org} CA" in t, f"{role} {name}: issuer")
    c.check(re.search(r"Basic Constraints: critical\s*\n\s*CA:FALSE", t) is not None,
            f"{role} {name}: basicConstraints critical CA:FALSE")
    c.check(re.search(r"Key Usage: critical\s*\n\s*Digital Signature\s*\n", t) is not None,
            f"{role} {name}: keyUsage critical digitalSignature only")
    c.check("Subject Key Identifier" in t and "Authority Key Identifier" in t,
            f"{role} {name}: SKI and AKI")
    _, _, days = validity_days(crt)
    c.check(abs(days - 397) < 0.01, f"{role} {name}: default validity 397 days", f"({days})")
    return t


def check_leaves(c, pki):
    t = check_leaf(c, pki, "northside-refuge", "nodes", "node1", "node")
    c.check(re.search(r"Extended Key Usage: \s*\n\s*TLS Web Server Authentication, "
                      r"TLS Web Client Authentication\n", t) is not None,
            "node: extendedKeyUsage serverAuth, clientAuth")
    c.check(re.search(r"Subject Alternative Name: \s*\n\s*DNS:node1, DNS:localhost, "
                      r"IP Address:127\.0\.0\.1\n", t) is not None,
            "node: SAN DNS:NAME, DNS:localhost, IP:127.0.0.1", t[-900:])
    t = check_leaf(c, pki, "eastside-advice", "agents", "laptop1", "agent")
    c.check(re.search(r"Extended Key Usage: \s*\n\s*TLS Web Client Authentication\n", t)
            is not None, "agent: extendedKeyUsage clientAuth only")
    c.check("Subject Alternative Name" not in t, "agent: no SAN")


def check_verify(c, pki):
    root = os.path.join(pki, "ca.crt")
    bundle = os.path.join(pki, "crl.pem")
    node_ca = os.path.join(pki, "orgs", "northside-refuge", "ca.crt")
    agent_ca = os.path.join(pki, "orgs", "eastside-advice", "ca.crt")
    node = leaf_files(pki, "northside-refuge", "nodes", "node1")[0]
    agent = leaf_files(pki, "eastside-advice", "agents", "laptop1")[0]
    ok, out = verify(root, node_ca, node)
    c.check(ok, "openssl verify: node chains to the root", out)
    ok, out = verify(root, node_ca, node, "-x509_strict", "-purpose", "sslserver")
    c.check(ok, "openssl verify -x509_strict -purpose sslserver: node", out)
    ok, out = verify(root, agent_ca, agent, "-x509_strict", "-purpose", "sslclient")
    c.check(ok, "openssl verify -x509_strict -purpose sslclient: agent", out)
    ok, out = verify(root, agent_ca, node)
    c.check(not ok, "a node does not verify through another organisation's CA", out)
    c.equal(read(bundle).count("-----BEGIN X509 CRL-----"), 3,
            "DIR/crl.pem bundles the root's and both organisations' CRLs")
    ok, out = verify(root, node_ca, node, "-crl_check_all", "-CRLfile", bundle)
    c.check(ok, "openssl verify -crl_check_all with DIR/crl.pem: node OK before revoke", out)
    ok, out = verify(root, agent_ca, agent, "-crl_check_all", "-CRLfile", bundle)
    c.check(ok, "openssl verify -crl_check_all: agent OK before revoke", out)
    ok, out = tls_handshake(pki, ("northside-refuge", "nodes", "node1"),
                            ("eastside-advice", "agents", "laptop1"))
    c.check(ok, "mutual TLS 1.3 with the chain files: node serves, agent connects", out)


def check_revoke(c, pki):
    root = os.path.join(pki, "ca.crt")
    bundle = os.path.join(pki, "crl.pem")
    org_dir = os.path.join(pki, "orgs", "northside-refuge")
    node_ca = os.path.join(org_dir, "ca.crt")
    node, _, node_chain = leaf_files(pki, "northside-refuge", "nodes", "node1")
    agent_ca = os.path.join(pki, "orgs", "eastside-advice", "ca.crt")
    agent = leaf_files(pki, "eastside-advice", "agents", "laptop1")[0]
    before = crl_number(os.path.join(org_dir, "crl.pem"))

    r = trellis("pki", "--dir", pki, "revoke", node_chain)
    c.check(r.returncode == 0 and "revoked" in r.stdout, "revoke (given the chain file) exits 0",
            r.stderr)
    ok, out = verify(root, node_ca, node, "-crl_check_all", "-CRLfile", bundle)
    c.check(not ok and "certificate revoked" in out,
            "openssl verify -crl_check_all: revoked node fails with 'certificate revoked'", out)
    ok, out = verify(root, agent_ca, agent, "-crl_check_all", "-CRLfile", bundle)
    c.check(ok, "the other organisation's agent still verifies", out)
    ok, out = tls_handshake(pki, ("northside-refuge", "nodes", "node1"),
                            ("eastside-advice", "agents", "laptop1"))
    c.check(not ok and "certificate revoked" in out,
            "mutual TLS: the agent refuses the revoked node", out)
    after = crl_number(os.path.join(org_dir, "crl.pem"))
    c.check(before is not None and after == before + 1, "CRL number increases on revoke",
            f"({before} -> {after})")
    serial = openssl("x509", "-in", node, "-noout", "-serial").stdout.strip().split("=")[1]
    c.check(serial in read(os.path.join(org_dir, "revoked.json")),
            "revoked.json beside the organisation CA records the serial")
    c.check(serial in crl_text(os.path.join(org_dir, "crl.pem")), "the org CRL lists the serial")

    r = trellis("pki", "--dir", pki, "revoke", node)
    c.check(r.returncode == 0 and "already revoked" in r.stdout, "revoking twice is a no-op",
            r.stdout + r.stderr)
    c.equal(crl_number(os.path.join(org_dir, "crl.pem")), after,
            "revoking twice leaves the CRL alone")

    one_line_error(c, trellis("pki", "--dir", pki, "revoke", root), 1,
                   "revoking the root is refused", "root")
    one_line_error(c, trellis("pki", "--dir", pki, "revoke", os.path.join(pki, "nope.crt")), 1,
                   "revoking a missing file fails")
    one_line_error(c, trellis("pki", "--dir", pki, "revoke", os.path.join(org_dir, "ca.key")), 1,
                   "revoking a key file fails")


def check_expired(c, pki):
    r = trellis("pki", "--dir", pki, "issue-agent", "eastside-advice", "old-laptop",
                "--backdate", "10", "--days", "1")
    c.equal(r.returncode, 0, "issue-agent --backdate 10 --days 1 exits 0")
    crt = leaf_files(pki, "eastside-advice", "agents", "old-laptop")[0]
    start, end, days = validity_days(crt)
    now = time.time()
    c.check(abs(days - 1) < 0.01 and abs(start - (now - 10 * DAY)) < 120,
            "backdated: notBefore 10 days ago, notAfter one day later", f"({start}, {end})")
    ok, out = verify(os.path.join(pki, "ca.crt"),
                     os.path.join(pki, "orgs", "eastside-advice", "ca.crt"), crt)
    c.check(not ok and "certificate has expired" in out, "backdated certificate fails as expired",
            out)


def check_refusals(c, pki, other):
    node, key, _ = leaf_files(pki, "northside-refuge", "nodes", "node1")
    before = read(node), read(key)
    r = trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "node1")
    one_line_error(c, r, 1, "issuing over an existing certificate is refused", "already exists")
    c.check((read(node), read(key)) == before, "the existing files are unchanged")
    one_line_error(c, trellis("pki", "--dir", pki, "add-org", "northside-refuge"), 1,
                   "adding an existing organisation is refused", "already exists")
    one_line_error(c, trellis("pki", "--dir", pki, "init-consortium"), 1,
                   "init-consortium over an existing consortium is refused", "already exists")
    one_line_error(c, trellis("pki", "--dir", pki, "issue-node", "nobody", "n1"), 1,
                   "issuing for an unknown organisation fails", "add-org")
    # An organisation CA the root revoked issues nothing more.
    r = trellis("pki", "--dir", pki, "add-org", "gone-away-trust")
    c.equal(r.returncode, 0, "add-org gone-away-trust")
    r = trellis("pki", "--dir", pki, "revoke", os.path.join(pki, "orgs", "gone-away-trust",
                                                             "ca.crt"))
    c.equal(r.returncode, 0, "the root revokes gone-away-trust's CA")
    for cmd in ("issue-node", "issue-agent"):
        one_line_error(c, trellis("pki", "--dir", pki, cmd, "gone-away-trust", "n1"), 1,
                       f"{cmd} under a revoked organisation CA is refused", "revoked")
    c.check(not os.path.exists(os.path.join(pki, "orgs", "gone-away-trust", "nodes", "n1.key")),
            "and no key was left behind")
    # A certificate from another consortium has no issuer here.
    one_line_error(c, trellis("pki", "--dir", pki, "revoke", os.path.join(other, "ca.crt")), 1,
                   "revoking a stranger's certificate fails", "no CA")
    leftovers = [os.path.join(d, f) for d, _, fs in os.walk(pki) for f in fs
                 if f.startswith(".")]
    c.check(not leftovers, "no temporary files left behind", repr(leftovers))


def check_list_and_refresh(c, pki):
    r = trellis("pki", "list", env={"TRELLIS_PKI_DIR": pki})
    c.equal(r.returncode, 0, "list (folder from $TRELLIS_PKI_DIR) exits 0")
    rows = {tuple(line.split()[:3]): line for line in r.stdout.splitlines()}
    c.check("revoked" in rows.get(("northside-refuge", "node", "node1"), ""),
            "list shows node1 revoked", r.stdout)
    c.check(rows.get(("eastside-advice", "agent", "laptop1"), "").endswith("valid"),
            "list shows laptop1 valid")
    c.check(rows.get(("eastside-advice", "agent", "old-laptop"), "").endswith("expired"),
            "list shows old-laptop expired")

    crls = [os.path.join(pki, "root", "crl.pem")] + [
        os.path.join(pki, "orgs", o, "crl.pem") for o in ("eastside-advice", "northside-refuge")]
    before = [crl_number(p) for p in crls]
    r = trellis("pki", "--dir", pki, "refresh-crls")
    c.equal(r.returncode, 0, "refresh-crls exits 0")
    after = [crl_number(p) for p in crls]
    c.check(all(b is not None and a == b + 1 for a, b in zip(after, before)),
            "refresh-crls re-signs every CRL with the next number", f"({before} -> {after})")
    node_ca = os.path.join(pki, "orgs", "northside-refuge", "ca.crt")
    node = leaf_files(pki, "northside-refuge", "nodes", "node1")[0]
    ok, out = verify(os.path.join(pki, "ca.crt"), node_ca, node, "-crl_check_all", "-CRLfile",
                     os.path.join(pki, "crl.pem"))
    c.check(not ok and "certificate revoked" in out, "node1 stays revoked after refresh", out)


def check_revoke_org(c, pki):
    r = trellis("pki", "--dir", pki, "revoke",
                os.path.join(pki, "orgs", "eastside-advice", "ca.crt"))
    c.equal(r.returncode, 0, "revoking an organisation CA exits 0")
    agent = leaf_files(pki, "eastside-advice", "agents", "laptop1")[0]
    ok, out = verify(os.path.join(pki, "ca.crt"),
                     os.path.join(pki, "orgs", "eastside-advice", "ca.crt"), agent,
                     "-crl_check_all", "-CRLfile", os.path.join(pki, "crl.pem"))
    c.check(not ok and "certificate revoked" in out,
            "a revoked organisation CA takes its agents with it (root CRL)", out)


def check_passphrase(c, tmp):
    """CA keys under a passphrase: the root and the organisation CAs encrypted,
    usable only with it; node and agent keys never (their services start
    unattended)."""
    pki = os.path.join(tmp, "locked")
    secret = os.path.join(tmp, "passphrase")
    with open(secret, "w") as f:
        f.write("correct horse battery staple\n")
    r = trellis("pki", "--dir", pki, "--passphrase-file", secret, "init-consortium")
    c.check(r.returncode == 0, "init-consortium --passphrase-file exits 0", r.stderr)
    c.check(read(os.path.join(pki, "root", "ca.key")).startswith(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----"), "the root key is written encrypted")
    r = openssl("pkey", "-in", os.path.join(pki, "root", "ca.key"), "-passin", f"file:{secret}",
                "-noout")
    c.check(r.returncode == 0, "openssl opens it with the passphrase", r.stderr)
    one_line_error(c, trellis("pki", "--dir", pki, "add-org", "northside-refuge"), 1,
                   "without the passphrase (and no terminal), the root key cannot be used",
                   "passphrase")
    c.check(not os.path.exists(os.path.join(pki, "orgs", "northside-refuge", "ca.crt")),
            "and nothing was made")
    env = {"TRELLIS_PKI_PASSPHRASE_FILE": secret}
    r = trellis("pki", "--dir", pki, "add-org", "northside-refuge", env=env)
    c.check(r.returncode == 0, "add-org with $TRELLIS_PKI_PASSPHRASE_FILE exits 0", r.stderr)
    c.check(read(os.path.join(pki, "orgs", "northside-refuge", "ca.key")).startswith(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----"), "the organisation CA's key is encrypted too")
    r = trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "node1", env=env)
    c.check(r.returncode == 0, "issue-node with the passphrase exits 0", r.stderr)
    c.check(read(os.path.join(pki, "orgs", "northside-refuge", "nodes", "node1.key")).startswith(
        "-----BEGIN PRIVATE KEY-----"), "the node's key is not encrypted")
    with open(secret, "w") as f:
        f.write("wrong horse\n")
    one_line_error(c, trellis("pki", "--dir", pki, "refresh-crls", env=env), 1,
                   "a wrong passphrase is refused", "passphrase")


def main():
    c = Checks("test_pki")
    tmp = tempfile.mkdtemp(prefix="trellis-pki-")
    try:
        pki = os.path.join(tmp, "pki")
        other = os.path.join(tmp, "other")
        check_help(c)
        check_usage_errors(c, pki)
        one_line_error(c, trellis("pki", "--dir", pki, "add-org", "northside-refuge"), 1,
                       "add-org without a consortium fails", "init-consortium")
        r = trellis("pki", "--dir", pki, "init-consortium", "--name", "Test Consortium Root")
        c.check(r.returncode == 0, "init-consortium exits 0", r.stderr)
        check_root(c, pki)
        for org in ("northside-refuge", "eastside-advice"):
            r = trellis("pki", "--dir", pki, "add-org", org)
            c.check(r.returncode == 0, f"add-org {org} exits 0", r.stderr)
            check_org_ca(c, pki, org)
        check_bad_names(c, pki)
        r = trellis("pki", "--dir", pki, "issue-node", "northside-refuge", "node1",
                    "--host", "localhost", "--host", "127.0.0.1")
        c.check(r.returncode == 0, "issue-node exits 0", r.stderr)
        r = trellis("pki", "--dir", pki, "issue-agent", "eastside-advice", "laptop1")
        c.check(r.returncode == 0, "issue-agent exits 0", r.stderr)
        check_leaves(c, pki)
        check_verify(c, pki)
        r = trellis("pki", "--dir", other, "init-consortium")
        c.equal(r.returncode, 0, "a second, unrelated consortium")
        check_refusals(c, pki, other)
        check_revoke(c, pki)
        check_expired(c, pki)
        check_list_and_refresh(c, pki)
        check_revoke_org(c, pki)
        check_passphrase(c, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    c.finish()


if __name__ == "__main__":
    main()
