"""Renewals and an organisation CA rollover on a running mesh (issue 11), the
way docs/operations.md ("The certificate calendar") tells it. Node a (the
coordinator's organisation) and node b (a member enrolled without handing
over keys) pull from each other with long-polls while an agent of b keeps
writing. Then, in turn: b's node certificate is renewed and b reloaded
(SIGHUP); the writing agent's certificate is renewed; b's organisation CA is
rolled over (request-org --rollover, sign-org --rollover, import-org), the
new CRL bundle reloaded everywhere, b's node and agent certificates renewed
under the new CA and b reloaded. Throughout: no refused handshake, no sync
error and no refused record on either node; every record written under the
old chain, the renewed certificate and the new CA reaches a; and a node c (a third organisation)
that pulls from b from cursor 0 afterwards verifies and stores them all."""

import os
import threading
import time

import fedkit as fk
import pkikit as pk
from fedkit import sd
from harness import Checks, Node, PgCluster, Pki

t = Checks("test_pki_rollover")
A, B, C = sd.ORGS[0], sd.ORGS[1], sd.ORGS[2]


class Writer:
    """An agent of b posting a record every 0.1 s. The lock is held while an
    operator swaps the agent's certificate files (on a real machine they are
    copied in whole), so a request never reads half-replaced files."""

    def __init__(self, node, agent):
        self.node, self.agent = node, agent
        self.lock = threading.Lock()
        self.stored, self.errors = set(), []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            with self.lock:
                try:
                    self.stored |= fk.post(self.node, self.agent,
                                           [fk.entry(B, "Written during a rollover.")])
                except Exception as e:  # noqa: BLE001 - every failure counts, whatever it is
                    self.errors.append(str(e)[:300])
            time.sleep(0.1)

    def count(self):
        with self.lock:
            return len(self.stored)

    def wait_more(self, n=10, timeout=30):
        """Wait until n more records are stored."""
        start = self.count()
        return fk.wait_for(lambda: self.count() >= start + n, timeout=timeout)

    def close(self):
        self.stop.set()
        self.thread.join()


def fingerprints(pg, db):
    return set(pk.signers(pg, db).values())


with PgCluster("rollover") as pg:
    coord = Pki()
    member = None
    a = b = c = None
    writer = None
    try:
        coord.add_org(A)
        coord.add_org(C)
        member = pk.Member(coord, B)
        for db in ("a", "b", "c"):
            pg.create_db(db)
        a = Node(coord, pg, org=A, name="a", db="a")
        b = Node(member, pg, org=B, name="b", db="b")
        c = Node(coord, pg, org=C, name="c", db="c")
        a.add_peer(b)
        b.add_peer(a)
        b.add_peer(c)  # b shares with c, which only comes at the end
        a.start()
        b.start()
        agent = member.agent(B, "writer")
        t.check(fk.wait_for(lambda: fk.fed_status(a, a._agent).get("b", {}).get("last_success")),
                "a has pulled from b once: both up")
        marks = (pk.mark(a), pk.mark(b))
        writer = Writer(b, agent)
        t.check(writer.wait_more(), "the agent writes to b")

        # 1. b's node certificate renewed, b reloaded, while a long-polls b.
        old_fp = fingerprints(pg, "b")
        r = member.run("renew-node", B, "b")
        t.check("renewed node certificate b" in r.stdout and "127.0.0.1" in r.stdout,
                "renew-node keeps the node's names", r.stdout)
        ev = pk.reload(b)
        t.check(ev and ev["event"] == "tls_reloaded", "b reloads its renewed certificate", str(ev))
        t.check(writer.wait_more(), "the agent goes on writing after the reload")
        renewed_fp = fingerprints(pg, "b") - old_fp
        t.equal(len(renewed_fp), 1, "records written since are signed by the renewed "
                "certificate")

        # 2. The writing agent's certificate renewed.
        with writer.lock:
            r = member.run("renew-agent", B, "writer")
        t.check("renewed agent certificate writer" in r.stdout, "renew-agent", r.stdout)
        t.check(writer.wait_more(), "the agent writes with its renewed certificate")
        status, _, body = b.curl("/v1/whoami", agent=agent)
        t.check(status == 200 and "writer" in body, "b knows the renewed agent as writer", body)

        # 3. b's organisation CA rolled over.
        member.run("request-org", B, "--rollover")
        req = os.path.join(member.dir, "orgs", B, "next", "request.pem")
        r = coord.run("sign-org", req, "--rollover")
        t.check("retired" in r.stdout, "sign-org --rollover keeps the old CA", r.stdout)
        member.run("import-org", pk.bundle(coord, B))
        ours = (f"orgs/{A}/", f"orgs/{C}/")  # the coordinator's own organisations
        t.equal([k for k in pk.key_files(coord.dir) if not k.startswith(ours)],
                ["root/ca.key"], "the coordinator holds no key of b's, old or new: only the "
                "root's and its own organisations'")
        b_keys = pk.key_files(member.dir)
        t.check(all(k.startswith(f"orgs/{B}/") for k in b_keys) and f"orgs/{B}/ca.key" in b_keys
                and any(k.startswith(f"orgs/{B}/retired/") and k.endswith("/ca.key")
                        for k in b_keys),
                "b's folder holds only b's keys: its new CA key and the retired one's",
                str(sorted(b_keys)))
        # Overlap: every node trusts both b's CAs before any certificate moves.
        for n in (a, b):
            ev = pk.reload(n)
            t.check(ev and ev["event"] == "tls_reloaded", f"{n.name} reloads the bundle with "
                    "both of b's CAs", str(ev))
        t.check(writer.wait_more(), "the agent writes during the overlap")
        with writer.lock:
            member.run("renew-agent", B, "writer")
        r = member.run("renew-node", B, "b")
        t.check("renewed node certificate b" in r.stdout, "b's node certificate under the new "
                "CA", r.stdout)
        ev = pk.reload(b)
        t.check(ev and ev["event"] == "tls_reloaded", "b switches to the new CA's certificate",
                str(ev))
        t.check(writer.wait_more(), "the agent writes under the new CA")
        new_fp = fingerprints(pg, "b") - old_fp - renewed_fp
        t.check(len(new_fp) >= 1, "records are now signed under the new CA", str(new_fp))
        writer.close()
        t.equal(writer.errors, [], "no write failed")
        # The old CA stays trusted until the member renews everything and it expires: its
        # key re-signs its CRL every month.
        r = member.run("refresh-crls")
        t.check("retired" in r.stdout, "refresh-crls re-signs the retired CA's CRL", r.stdout)
        org_dir = os.path.join(member.dir, "orgs", B)
        retired = os.listdir(os.path.join(org_dir, "retired"))
        t.equal(len(retired), 1, "one retired CA in b's folder")
        for crl in (os.path.join(org_dir, "crl.pem"),
                    os.path.join(org_dir, "retired", retired[0], "crl.pem")):
            r = coord.run("add-crl", B, crl)
            t.check("took in" in r.stdout, f"add-crl takes in {os.path.relpath(crl, org_dir)}",
                    r.stdout)
        member.run("import-org", coord.crl)
        for n in (a, b):
            ev = pk.reload(n)
            t.check(ev and ev["event"] == "tls_reloaded", f"{n.name} reloads the monthly CRLs",
                    str(ev))

        want = fk.held(pg, "b")
        t.check(writer.stored <= set(want), "b holds every record it was told it stored")
        t.check(fk.wait_for(lambda: set(want) <= set(fk.held(pg, "a"))),
                "a has every record of b, whichever chain signed it")
        t.equal(pk.bad_events(a, ("b",), marks[0]) + pk.bad_events(b, ("a",), marks[1]), [],
                "no refused handshake, sync error or refused record during any of it")
        sig_a = pk.signers(pg, "a")
        t.check(old_fp <= set(sig_a.values()) and renewed_fp <= set(sig_a.values()) and
                new_fp <= set(sig_a.values()),
                "a verified records of the old, the renewed and the new-CA certificates")

        # 4. A node that pulls from cursor 0 afterwards verifies every record.
        c.add_peer(b)
        c.start()
        t.check(fk.wait_for(lambda: set(want) <= set(fk.held(pg, "c")), timeout=60),
                "c, pulling from b from cursor 0, stores every record")
        held_c = fk.held(pg, "c")
        t.equal({k: want[k][1] for k in want}, {k: held_c[k][1] for k in want},
                "c holds them unaltered (same hashes)")
        t.equal(pk.bad_events(c, ("b",)), [], "c refuses no record and no handshake")
        sig_c = set(pk.signers(pg, "c").values())
        t.check(old_fp | renewed_fp | new_fp <= sig_c, "c verified all three signers' records")

        # The retired CA still revokes what it issued (the first agent certificate).
        replaced = os.path.join(member.dir, "orgs", B, "agents", "replaced")
        first = min((os.path.join(replaced, d, "writer.crt") for d in os.listdir(replaced)),
                    key=os.path.getmtime)
        r = member.run("revoke", first)
        t.check("/retired/" in r.stdout, "revoke finds the retired CA that issued it", r.stdout)
        listing = member.run("list").stdout
        t.check("(retired CA)" in listing and "revoked" in listing,
                "list shows the retired CA and the certificate it revoked", listing)

        # The one-folder shortcut: the coordinator rolls over an organisation it holds.
        coord.run("request-org", C, "--rollover")
        coord.run("sign-org", os.path.join(coord.dir, "orgs", C, "next", "request.pem"),
                  "--rollover")
        coord.run("import-org", pk.bundle(coord, C))
        c_keys = pk.key_files(os.path.join(coord.dir, "orgs", C))
        t.check("ca.key" in c_keys and any(k.startswith("retired/") and k.endswith("/ca.key")
                                           for k in c_keys),
                "one folder: the new CA key in place, the old one retired", str(sorted(c_keys)))
        r = coord.run("renew-node", C, "c")
        t.check("renewed node certificate c" in r.stdout, "one folder: renew under the new CA",
                r.stdout)

        for n in (a, b, c):
            fk.stop_checked(t, n)
    finally:
        if writer is not None:
            writer.close()
        fk.close_nodes(a, b, c)
        for p in (coord, member):
            if p is not None:
                p.close()

t.finish()
