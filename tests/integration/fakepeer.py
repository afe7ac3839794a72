"""A peer node that misbehaves on purpose: a small HTTPS server with a real
node certificate of its organisation, serving whatever change feed and
signer certificates a test gives it, and breaking the protocol or failing
as told. Used by the forgery and hardening tests."""

import base64
import hashlib
import json
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port


def sign(doc, certs):
    """Sign a record as its origin node would, with the openssl CLI: ECDSA-
    SHA256 over the canonical JSON of the record without "sig"."""
    der = subprocess.run(["openssl", "x509", "-in", certs["cert"], "-outform", "DER"],
                         capture_output=True, check=True).stdout
    doc = dict(doc, signer=hashlib.sha256(der).hexdigest())
    canon = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with tempfile.TemporaryDirectory() as d:
        open(f"{d}/data", "wb").write(canon.encode())
        subprocess.run(["openssl", "dgst", "-sha256", "-sign", certs["key"], "-out", f"{d}/sig",
                        f"{d}/data"], check=True)
        doc["sig"] = base64.b64encode(open(f"{d}/sig", "rb").read()).decode()
    return doc


class FakePeer:
    def __init__(self, pki, certs):
        self.own = certs
        self.feed = []          # [{"seq", "record"}]
        self.certs = {}         # fingerprint -> PEM chain
        self.cert_failures = 0  # answer this many certificate requests 503 first
        self.reply_hook = None  # since -> (changes, cursor) to serve instead of the feed
        self.requests = {"changes": 0, "certs": 0}
        self.protocol = "2"     # its Trellis-Protocol header; None: sends none (version 1)
        self.asked_protocol = []  # the Trellis-Protocol header of each request (None: none)
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                peer.asked_protocol.append(self.headers.get("Trellis-Protocol"))
                if self.path.startswith("/v1/fed/changes"):
                    peer.requests["changes"] += 1
                    since = int(self.path.split("since=")[1].split("&")[0])
                    if peer.reply_hook:
                        changes, cursor = peer.reply_hook(since)
                    else:
                        changes = [c for c in peer.feed if c["seq"] > since]
                        cursor = changes[-1]["seq"] if changes else since
                    body = json.dumps({"changes": changes, "cursor": str(cursor), "more": False,
                                       "head": cursor}).encode()
                    if not changes:
                        time.sleep(0.5)
                    self.reply(200, body, "application/json")
                elif self.path.startswith("/v1/fed/certs/"):
                    peer.requests["certs"] += 1
                    if peer.cert_failures > 0:
                        peer.cert_failures -= 1
                        self.reply(503, b'{"status":503}', "application/problem+json")
                        return
                    pem = peer.certs.get(self.path.rsplit("/", 1)[1])
                    self.reply(200 if pem else 404, (pem or "").encode(), "application/x-pem-file")
                else:
                    self.reply(404, b"{}", "application/json")

            def reply(self, status, body, ctype):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                if peer.protocol is not None:
                    self.send_header("Trellis-Protocol", peer.protocol)
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

    def sign_own(self, doc):
        """doc signed with this peer's own node certificate, which it then
        serves to whoever asks for the signer: a record as its origin sends it."""
        signed = sign(doc, self.own)
        self.certs[signed["signer"]] = open(self.own["chain"]).read()
        return signed

    def close(self):
        self.server.shutdown()
