"""Helpers for the enrolment and rollover tests: a member's own PKI folder
made the way docs/operations.md says ("Joining a consortium": request-org on
the member's machine, sign-org on the coordinator's, import-org back), and
what counts as a refused handshake or an unverifiable record in a node's log."""

import os
import signal
import tempfile
import time

from harness import Pki


class Member(Pki):
    """A member organisation's own folder: it holds its CA key, never the
    root's; the coordinator's folder never holds this key."""

    def __init__(self, coordinator, org):
        self.dir = tempfile.mkdtemp(prefix=f"trellis-member-{org}-")
        self.orgs = set()
        self.org = org
        self.coordinator = coordinator
        self.run("request-org", org)
        coordinator.run("sign-org", self.request)
        self.run("import-org", bundle(coordinator, org))
        self.orgs.add(org)

    @property
    def request(self):
        return os.path.join(self.dir, "orgs", self.org, "request.pem")

    def add_org(self, org):
        if org != self.org:
            raise ValueError(f"{self.dir} is {self.org}'s folder, not {org}'s")


def bundle(coordinator, org):
    return os.path.join(coordinator.dir, "orgs", org, "bundle.pem")


def key_files(folder):
    """Every private key file under folder, as paths relative to it."""
    out = set()
    for root, _, files in os.walk(folder):
        for f in files:
            if f.endswith(".key"):
                out.add(os.path.relpath(os.path.join(root, f), folder))
    return out


# What a node logs when a handshake is refused or a pulled record cannot be
# verified: none of these may appear during a renewal or a rollover.
BAD_EVENTS = ("tls_handshake_failed", "tls_reload_failed", "sync_signer_refused",
              "sync_records_refused", "sync_record_refused", "conn_revoked")


def mark(node):
    """Where a node's log is now: bad_events(..., since=mark(node)) looks after it."""
    return len(node.log_events())


def bad_events(node, peers, since=0):
    """The events above, plus sync errors while pulling from one of peers,
    from the since-th log event on (before both nodes are up, a peer that
    is not listening yet is no fault)."""
    return [e for e in node.log_events()[since:]
            if e.get("event") in BAD_EVENTS or
            (e.get("event") == "sync_error" and e.get("peer") in peers)]


def reload(node, timeout=15):
    """SIGHUP, then wait for the node to log that the new certificates are in."""
    before = sum(1 for e in node.log_events() if e.get("event") in ("tls_reloaded",
                                                                     "tls_reload_failed"))
    node.signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = [e for e in node.log_events() if e.get("event") in ("tls_reloaded",
                                                                   "tls_reload_failed")]
        if len(done) > before:
            return done[-1]
        time.sleep(0.1)
    return None


def signers(pg, db):
    """{record key: signer fingerprint} of every record a node holds."""
    from fedkit import KIND_TABLES
    out = {}
    for kind, table in KIND_TABLES.items():
        for rid, signer in pg.psql(f"SELECT id, doc->>'signer' FROM {table}", db=db):
            out[(kind, rid)] = signer
    return out
