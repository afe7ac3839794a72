"""[limits] max_connections and max_requests_per_conn, counted from the
client side: with max_connections = 5 and five connections held open, a
sixth is closed at once (and counted), and once one of the five has gone a
new one is served; with max_requests_per_conn = 3, three of five pipelined
requests are answered, the third with Connection: close, and the
connection ends."""

import re
import time

import fedkit as fk
from harness import Checks, Node, PgCluster, Pki, Reader, tls_connect

t = Checks("test_limits")
ORG = "alpha-support"
GET = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def served(node, agent):
    """One request on a new connection: its status, or None if refused."""
    try:
        s = tls_connect(node, agent, timeout=5)
        s.sendall(GET)
        r = Reader(s).response()
        s.close()
        return r[0] if r else None
    except OSError:
        return None


def metric(node, agent, name):
    _, _, m = node.curl("/metrics", agent=agent)
    g = re.search(r"^%s (\d+)$" % re.escape(name), m, re.M)
    return int(g.group(1)) if g else None


with PgCluster("limits") as pg:
    pki = Pki()
    node = None
    try:
        agent = pki.agent(ORG, "office")
        node = Node(pki, pg, org=ORG, config={"limits": {"max_connections": "5",
                                                          "max_requests_per_conn": "3"}})
        node.start()

        # ---- max_requests_per_conn = 3 ----
        s = tls_connect(node, agent)
        s.sendall(GET * 5)
        rd = Reader(s)
        replies = []
        while True:
            r = rd.response()
            if r is None:
                break
            replies.append(r)
        t.equal([r[0] for r in replies], [200, 200, 200],
                "five pipelined requests, max_requests_per_conn = 3: three answered")
        t.equal([r[1].get("connection", "").lower() == "close" for r in replies],
                [False, False, True], "the third reply says Connection: close, the first two do not")
        t.check(rd.closed(), "then the node closes the connection")
        s.close()

        # ---- max_connections = 5 ----
        held = []
        for i in range(5):
            c = tls_connect(node, agent)
            c.sendall(GET)
            r = Reader(c).response()
            t.equal(r[0] if r else None, 200, f"connection {i + 1} of 5 is served")
            held.append(c)
        sixth = served(node, agent)
        t.equal(sixth, None, "a sixth connection is closed at once (max_connections = 5)")
        held.pop().close()
        tries = []  # until the node has seen the close, a try is still refused
        ok = fk.wait_for(lambda: tries.append(served(node, agent)) or tries[-1] == 200, 5, 0.1)
        t.check(ok, "once one of the five is closed, a new connection is served")
        # /metrics on a connection of its own (four held + this one = five).
        t.equal(metric(node, agent, "trellis_connections_refused_total"), 1 + tries.count(None),
                "the node counted each refused connection, and only those")
        for c in held:
            c.close()
        fk.stop_checked(t, node)
    finally:
        fk.close_nodes(node)
        pki.close()

t.finish()
