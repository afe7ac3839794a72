"""Revocation reaches the connections already open: after `trellis pki
revoke` and SIGHUP, a keep-alive connection opened with the revoked
certificate before is closed (it could otherwise go on reading and writing
for days, a long-poll at a time), new handshakes with it are refused, and
other certificates' connections carry on."""

import signal
import time

from harness import Checks, Node, PgCluster, Pki, Reader, tls_connect

t = Checks("test_node_revoke")
ORG = "northside-womens-aid"


def get(sock, path="/v1/whoami"):
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: node\r\n\r\n".encode())


with PgCluster("revoke") as pg:
    pki = Pki()
    try:
        node = Node(pki, pg, org=ORG, name="node")
        node.start()
        stolen = pki.agent(ORG, "stolen-laptop")
        office = pki.agent(ORG, "office")
        bad, good = tls_connect(node, stolen), tls_connect(node, office)
        bad_r, good_r = Reader(bad), Reader(good)
        for sock, reader, name in ((bad, bad_r, "stolen-laptop"), (good, good_r, "office")):
            get(sock)
            res = reader.response()
            t.check(res and res[0] == 200 and name in res[2], f"{name}: a keep-alive request")

        pki.run("revoke", stolen["cert"])
        node.signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline and not any(
                e.get("event") == "tls_reloaded" for e in node.log_events()):
            time.sleep(0.1)
        reloaded = [e for e in node.log_events() if e.get("event") == "tls_reloaded"]
        t.check(reloaded and reloaded[-1].get("revoked_connections_closed") == 1,
                "the reload closes the one connection of the revoked certificate", str(reloaded))
        try:
            get(bad)
            answered = bad_r.response()
        except OSError:
            answered = None
        t.check(answered is None, "the revoked certificate's open connection is closed: "
                "a request on it gets no answer", str(answered)[:200])
        get(good)
        res = good_r.response()
        t.check(res and res[0] == 200, "another certificate's open connection carries on")
        try:
            again = tls_connect(node, stolen)
            get(again)
            refused = Reader(again).response() is None
        except OSError:
            refused = True
        t.check(refused, "a new connection with the revoked certificate is refused")
        logged = [e for e in node.log_events() if e.get("event") == "conn_revoked"]
        t.check(logged and "stolen-laptop" in logged[0].get("identity", ""),
                "the cut is logged with the identity", str(logged))
        for s in (bad, good):
            s.close()
        t.equal(node.stop(), 0, "the node stops cleanly")
        node.close()
    finally:
        pki.close()

t.finish()
