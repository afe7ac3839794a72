"""Forgery: a peer that relays a record with an altered body, or one that
claims another origin, or an unsigned one, is refused and logged, and the
rest of its batch is stored (no poison-record stall); a revoked node's
records are refused. The dishonest peer is a small HTTPS server here, with a
real node certificate of its organisation, serving a crafted change feed."""

import copy
import json
import os
import signal
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import SOURCE_DIR, Checks, Node, PgCluster, Pki, api, free_port, metric

sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy"))
import sample_data as sd  # noqa: E402

t = Checks("test_fed_forgery")
A, B, C = sd.ORGS


class FakePeer:
    """B's node, dishonest: serves whatever feed and certificates it is given."""

    def __init__(self, pki, certs):
        self.feed = []
        self.certs = {}
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.startswith("/v1/fed/changes"):
                    since = int(self.path.split("since=")[1].split("&")[0])
                    changes = [c for c in peer.feed if c["seq"] > since]
                    cursor = changes[-1]["seq"] if changes else since
                    body = json.dumps({"changes": changes, "cursor": str(cursor), "more": False,
                                       "head": cursor}).encode()
                    if not changes:
                        time.sleep(0.5)
                    self.reply(200, body, "application/json")
                elif self.path.startswith("/v1/fed/certs/"):
                    pem = peer.certs.get(self.path.rsplit("/", 1)[1])
                    self.reply(200 if pem else 404, (pem or "").encode(), "application/x-pem-file")
                else:
                    self.reply(404, b"{}", "application/json")

            def reply(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(certs["chain"], certs["key"])
        ctx.load_verify_locations(pki.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.handle_error = lambda *args: None  # a node hanging up at its shutdown
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"https://127.0.0.1:{self.port}"

    def close(self):
        self.server.shutdown()


def refused_events(node):
    return [e for e in node.log_events() if e.get("event") == "sync_record_refused"]


def has(pg, db, rid):
    return bool(pg.psql(f"SELECT 1 FROM feedback_entries WHERE id = '{rid}'", db=db))


def entry(org, text):
    return sd.envelope("feedback.entry", str(uuid.uuid4()), org,
                       {"week": "2026-W47", "source_role": "staff", "themes": ["safety"],
                        "summary": text, "easy_read": text, "level": "consultation"})


with PgCluster("forgery") as pg:
    pki = Pki()
    for org in sd.ORGS:
        pki.add_org(org)
    fake = None
    try:
        for db in ("forge_a", "forge_c"):
            pg.create_db(db)
        # A: an honest origin. Its signed records are what B tampers with.
        a = Node(pki, pg, org=A, name="node-a", db="forge_a")
        a.start()
        agent_a = pki.agent(A, "office")
        genuine = [entry(A, f"Genuine entry {i}.") for i in range(4)]
        status, _, reply = api(a, agent_a, "POST", "/v1/records", {"records": genuine})
        t.check(status == 200 and reply["stored"] == 4, "A stores and signs its records")
        signed = [api(a, agent_a, "GET", f"/v1/records/feedback.entry/{r['id']}")[2]
                  for r in genuine]
        fp_a = signed[0]["signer"]
        a_chain = open(a.certs["cert"]).read() + open(
            os.path.join(pki.dir, "orgs", A, "ca.crt")).read()

        # B's node, dishonest, relays to C.
        b_certs = pki.node(B, "node-b")
        fake = FakePeer(pki, b_certs)
        fake.certs[fp_a] = a_chain
        altered = copy.deepcopy(signed[1])
        altered["body"]["summary"] = "Tampered on the way."
        other_origin = copy.deepcopy(signed[2])
        other_origin["origin"] = C  # claims C wrote it, signed by A's node
        unsigned = entry(A, "Relayed without a signature.")
        honest = signed[0]
        fake.feed = [{"seq": i + 1, "record": r}
                     for i, r in enumerate([altered, honest, other_origin, unsigned, signed[3]])]

        c = Node(pki, pg, org=C, name="node-c", db="forge_c")
        with open(c.config_path, "a") as f:
            f.write(f"[peer node-b]\nurl = {fake.url}\norg = {B}\nshare = all\n")
        c.start()
        deadline = time.time() + 30
        while time.time() < deadline and not (has(pg, "forge_c", honest["id"]) and
                                             has(pg, "forge_c", signed[3]["id"])):
            time.sleep(0.2)
        t.check(has(pg, "forge_c", honest["id"]) and has(pg, "forge_c", signed[3]["id"]),
                "genuine relayed records in the same batch are stored (no stall)")
        t.check(not has(pg, "forge_c", altered["id"]), "an altered body is refused")
        t.check(not has(pg, "forge_c", other_origin["id"]), "a record claiming another origin "
                "than its signer's is refused")
        t.check(not has(pg, "forge_c", unsigned["id"]), "an unsigned relayed record is refused")
        ev = refused_events(c)
        reasons = {e["id"]: e["reason"] for e in ev}
        t.check(altered["id"] in reasons and other_origin["id"] in reasons and
                unsigned["id"] in reasons, "each refusal is logged with its reason",
                json.dumps(reasons))
        log = c.read_log()
        t.check("Tampered on the way" not in log and "Genuine entry" not in log,
                "refusals are logged without the record's body")
        _, _, metrics = c.curl("/metrics", agent=pki.agent(C, "office"))
        # One of each: the altered body fails its signature, the unsigned one is unsigned, the
        # one claiming another origin than its signer's is "other".
        counted = {r: metric(metrics, "trellis_fed_records_refused_total", reason=r)
                   for r in ("invalid", "unsigned", "signature", "other")}
        t.equal(counted, {"invalid": 0, "unsigned": 1, "signature": 1, "other": 1},
                "refusals are counted in /metrics: the three forged records, by reason")

        # A revoked node's records are refused.
        late = entry(A, "Signed after the revocation.")
        api(a, agent_a, "POST", "/v1/records", {"records": [late]})
        late_signed = api(a, agent_a, "GET", f"/v1/records/feedback.entry/{late['id']}")[2]
        pki.run("revoke", a.certs["cert"])
        c.signal(signal.SIGHUP)  # the new CRL; the signer cache is checked again
        time.sleep(1)
        fake.feed.append({"seq": 6, "record": late_signed})
        deadline = time.time() + 20
        while time.time() < deadline and late["id"] not in {e["id"] for e in refused_events(c)}:
            time.sleep(0.2)
        t.check(not has(pg, "forge_c", late["id"]) and
                late["id"] in {e["id"] for e in refused_events(c)},
                "a record signed by a revoked node is refused")
        a.close()
        c.close()
    finally:
        if fake:
            fake.close()
        pki.close()

t.finish()
