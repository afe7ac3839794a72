"""Joining a consortium without handing over keys (issue 11), end to end in
two folders as docs/operations.md tells it: the member runs request-org in
its own folder, the coordinator sign-org in the root's, the member
import-org; the member issues its node's and agents' certificates with no
root key, its node joins a running mesh and syncs both ways; it revokes an
agent, the coordinator takes its CRL in (add-crl) and every node refuses that
agent. No private key is ever in the other side's folder. Then the error
cases: a request for an organisation that exists, a tampered request, a
bundle for another organisation, a CRL not signed by the organisation's CA."""

import base64
import os
import re

import fedkit as fk
import pkikit as pk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_pki_enrol")
HUB, MEMBER = sd.ORGS[0], sd.ORGS[1]


def fails(pki, what, *args):
    """Run a pki command that must fail; returns its message."""
    r = pki.run(*args, check=False)
    t.check(r.returncode != 0, f"{what}: refused", r.stdout[-300:])
    return r.stderr.strip()


def tamper(src, dst, old, new):
    """Copy a request with bytes of its DER changed (a valid PEM still)."""
    text = open(src).read()
    m = re.search(r"-----BEGIN CERTIFICATE REQUEST-----\n(.*?)-----END", text, re.S)
    der = base64.b64decode(m.group(1))
    t.check(old in der, "the request holds the bytes to tamper with")
    b64 = base64.encodebytes(der.replace(old, new)).decode()
    with open(dst, "w") as f:
        f.write(text[:m.start(1)] + b64 + text[m.end(1):])


with PgCluster("enrol") as pg:
    coord = Pki()
    member = other = third = None
    hub = node = None
    try:
        # The coordinator's own organisation by the one-folder shortcut, as the demo does.
        coord.add_org(HUB)
        # The real flow: request-org on the member's machine, sign-org on the coordinator's.
        member = pk.Member(coord, MEMBER)
        coord_keys = pk.key_files(coord.dir)
        member_keys = pk.key_files(member.dir)
        t.check(not any(k.startswith(f"orgs/{MEMBER}/") for k in coord_keys),
                "the coordinator's folder holds no key of the member", str(sorted(coord_keys)))
        t.equal(sorted(member_keys), [f"orgs/{MEMBER}/ca.key"],
                "the member's folder holds its CA key and no other (no root key)")
        root_key = open(os.path.join(coord.dir, "root", "ca.key")).read()
        member_ca_key = open(os.path.join(member.dir, "orgs", MEMBER, "ca.key")).read()
        t.check(all(open(os.path.join(coord.dir, k)).read() != member_ca_key for k in coord_keys),
                "no file of the coordinator's folder is the member's CA key")
        t.check(all(open(os.path.join(member.dir, k)).read() != root_key for k in member_keys),
                "no file of the member's folder is the root key")

        # The member issues its own certificates, in a folder with no root key.
        r = member.run("issue-node", MEMBER, "member-node", "--host", "127.0.0.1")
        t.check("issued node certificate member-node" in r.stdout, "issue-node works in the "
                "member's folder", r.stdout)

        pg.create_db("hub")
        pg.create_db("member")
        hub = Node(coord, pg, org=HUB, name="hub", db="hub")
        node = Node(member, pg, org=MEMBER, name="member-node", db="member")
        hub.add_peer(node)
        node.add_peer(hub)
        hub.start()
        hub_agent = coord.agent(HUB, "office")
        before = fk.post(hub, hub_agent, [fk.entry(HUB, "Written before the member joined.")])

        # The member's node joins the running mesh.
        node.start()
        marks = (pk.mark(hub), pk.mark(node))
        member_agent = member.agent(MEMBER, "office")
        theirs = fk.post(node, member_agent, [fk.entry(MEMBER, "Written by the new member.")])
        t.check(fk.wait_for(lambda: before <= set(fk.held(pg, "member"))),
                "the member's node pulls the hub's records")
        t.check(fk.wait_for(lambda: theirs <= set(fk.held(pg, "hub"))),
                "the hub pulls (and verifies) the member's records")
        t.equal(pk.bad_events(hub, ("member-node",), marks[0]) +
                pk.bad_events(node, ("hub",), marks[1]), [],
                "once both run, no refused handshake, sync error or refused record")

        # The member revokes an agent; the coordinator takes its CRL in.
        laptop = member.agent(MEMBER, "stolen-laptop")
        t.equal(hub.curl("/v1/whoami", agent=laptop)[0], 200, "the laptop reaches the hub first")
        member.run("revoke", laptop["cert"])
        r = coord.run("add-crl", MEMBER, os.path.join(member.dir, "orgs", MEMBER, "crl.pem"))
        t.check("took in" in r.stdout, "add-crl takes the member's CRL in", r.stdout)
        member.run("import-org", coord.crl)  # the coordinator's bundle back to the member
        for n in (hub, node):
            ev = pk.reload(n)
            t.check(ev and ev["event"] == "tls_reloaded", f"{n.name} reloads the new CRLs",
                    str(ev))
        t.equal(hub.curl("/v1/whoami", agent=laptop)[0], 0,
                "the hub refuses the member's revoked agent (its CRL came through add-crl)")
        t.equal(node.curl("/v1/whoami", agent=laptop)[0], 0,
                "the member's node refuses it too")
        t.equal(hub.curl("/v1/whoami", agent=member_agent)[0], 200,
                "the member's other agent still reaches the hub")
        later = fk.post(node, member_agent, [fk.entry(MEMBER, "After the revocation.")])
        t.check(fk.wait_for(lambda: later <= set(fk.held(pg, "hub"))),
                "records still flow after the CRL exchange")

        # ---- errors ----
        other = Pki.__new__(Pki)  # a second member's folder, made by hand
        other.dir, other.orgs = member.dir + "-again", set()
        os.makedirs(other.dir)
        passphrase = os.path.join(other.dir, "passphrase")
        with open(passphrase, "w") as f:
            f.write("correct horse battery staple\n")
        other.run("--passphrase-file", passphrase, "request-org", MEMBER)
        t.check("ENCRYPTED PRIVATE KEY" in open(os.path.join(other.dir, "orgs", MEMBER,
                                                              "ca.key")).read(),
                "request-org --passphrase-file encrypts the organisation CA's key")
        msg = fails(coord, "a request for an organisation that exists", "sign-org",
                    os.path.join(other.dir, "orgs", MEMBER, "request.pem"))
        t.check(f"organisation {MEMBER} already exists" in msg and "different key" in msg, "the "
                "message says the organisation exists with another key", msg)
        msg = fails(coord, "a rollover that the organisation's current CA key did not vouch for",
                    "sign-org", os.path.join(other.dir, "orgs", MEMBER, "request.pem"),
                    "--rollover")
        t.check("not vouched for" in msg and "current CA key" in msg,
                "the message says a rollover needs the current CA key", msg)
        t.check(os.path.exists(os.path.join(coord.dir, "orgs", MEMBER, "ca.crt")) and
                not os.path.exists(os.path.join(coord.dir, "orgs", MEMBER, "retired")),
                "the refused rollover leaves the organisation's CA in place")

        third_org = "westmoor-rape-crisis"
        third = Pki.__new__(Pki)
        third.dir, third.orgs = member.dir + "-third", set()
        os.makedirs(third.dir)
        third.run("request-org", third_org)
        req = os.path.join(third.dir, "orgs", third_org, "request.pem")
        bad = os.path.join(third.dir, "tampered.pem")
        tamper(req, bad, third_org.encode(), b"eastmoor-rape-crisis")
        msg = fails(coord, "a tampered request", "sign-org", bad)
        t.check("signature does not verify" in msg and "tampered" in msg,
                "the message says the request was altered", msg)
        t.check(not os.path.exists(os.path.join(coord.dir, "orgs", "eastmoor-rape-crisis")),
                "nothing is written for a tampered request")

        coord.run("sign-org", req)
        msg = fails(member, "a bundle for another organisation", "import-org",
                    pk.bundle(coord, third_org))
        t.check(f"for organisation {third_org}" in msg and "no request waiting" in msg,
                "the message names the organisation the bundle is for", msg)
        msg = fails(coord, "a CRL not signed by the organisation's CA", "add-crl", MEMBER,
                    os.path.join(coord.dir, "orgs", HUB, "crl.pem"))
        t.check(f"not signed by organisation {MEMBER}'s CA" in msg, "the message says whose "
                "signature is missing", msg)
        msg = fails(member, "sign-org in a folder with no root key", "sign-org", req)
        t.check("holds no root key" in msg, "the message says sign-org needs the root", msg)

        # A lost CA key: the coordinator revokes the CA, then takes the member's
        # request from a new folder as the rollover.
        coord.run("revoke", os.path.join(coord.dir, "orgs", MEMBER, "ca.crt"))
        r = coord.run("sign-org", os.path.join(other.dir, "orgs", MEMBER, "request.pem"),
                      "--rollover")
        t.check("signed organisation" in r.stdout, "once the lost CA is revoked, sign-org "
                "--rollover takes a request it did not vouch for", r.stdout)
        other.run("--passphrase-file", passphrase, "import-org", pk.bundle(coord, MEMBER))
        r = other.run("--passphrase-file", passphrase, "issue-node", MEMBER, "member-node",
                      "--host", "127.0.0.1")
        t.check("issued node certificate" in r.stdout, "the new folder issues under the new CA",
                r.stdout)
        member.run("import-org", coord.crl)
        msg = fails(member, "the old folder's revoked CA issuing", "issue-node", MEMBER, "late")
        t.check("CA is revoked" in msg, "the old folder's CA, revoked by the root, issues "
                "nothing more", msg)

        fk.stop_checked(t, hub)
        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(hub, node)
        for p in (coord, member, other, third):
            if p is not None:
                p.close()

t.finish()
