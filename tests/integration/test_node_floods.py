"""Floods and slow clients on a real node: the public listener's own connection
limits (in total and per address, applied at accept) never lock agents out; a
hostile batch is refused before it is built in memory; requests in hand are
capped per identity, in total and by the bytes of their bodies (503 with
Retry-After past each), whichever connections they come on."""

import socket
import ssl
import time

from harness import Checks, Node, PgCluster, Pki, Reader, api, free_port, tls_connect

t = Checks("test_node_floods")


def public_conn(port, ca, source="127.0.0.1"):
    """A TLS connection to the public listener from a loopback source address, or None if the
    node closed it before the handshake finished."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.settimeout(10)
    try:
        raw.bind((source, 0))
        raw.connect(("127.0.0.1", port))
        ctx = ssl.create_default_context(cafile=ca)
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if not s.recv(65536).startswith(b"HTTP/1.1 200"):
            s.close()
            return None
        return s
    except (OSError, ssl.SSLError):
        raw.close()
        return None


def metric(node, agent, name):
    _, _, text = node.curl("/metrics", agent=agent)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


with PgCluster("floods") as pg:
    pki = Pki()
    try:
        public_port = free_port()
        node = Node(pki, pg, config={
            "public": {"listen": f"127.0.0.1:{public_port}", "max_connections": "4",
                       "max_connections_per_address": "2"},
            "limits": {"max_connections": "6"}})
        node.start()
        agent = pki.agent("alpha", "laptop")

        # Per address, at accept: a third connection from 127.0.0.1 is closed at once.
        held = [public_conn(public_port, pki.ca) for _ in range(2)]
        t.check(all(held), "public: two connections from one address served")
        third = public_conn(public_port, pki.ca)
        t.check(third is None, "public: a third from the same address is closed at accept")
        # In total: two more addresses fill the listener; a fourth address is refused.
        held += [public_conn(public_port, pki.ca, "127.0.0.2"),
                 public_conn(public_port, pki.ca, "127.0.0.3")]
        t.check(all(held), "public: other addresses served up to [public] max_connections")
        t.check(public_conn(public_port, pki.ca, "127.0.0.4") is None,
                "public: past [public] max_connections, closed at accept")

        # The mutual-TLS listener keeps all of its own slots meanwhile.
        agents = []
        for i in range(5):
            s = tls_connect(node, agent)
            s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
            resp = Reader(s).response()
            agents.append(s)
            t.check(resp and resp[0] == 200, f"agent connection {i + 1} of 5 served while the "
                    "public listener is full", repr(resp)[:200])
        status, _, _ = node.curl("/v1/whoami", agent=agent)
        t.equal(status, 200, "and a sixth ([limits] max_connections) too")
        for s in agents:
            s.close()
        t.equal(metric(node, agent, "trellis_public_connections_open"), 4.0,
                "metrics: public connections open")
        t.check((metric(node, agent, "trellis_public_connections_refused_total") or 0) >= 2,
                "metrics: public connections refused")

        # Closing frees the address's slots.
        for s in held:
            s.close()
        deadline = time.time() + 5
        again = None
        while time.time() < deadline and again is None:
            again = public_conn(public_port, pki.ca)
            time.sleep(0.1)
        t.check(again is not None, "public: slots come back once connections close")
        if again:
            again.close()

        # A hostile batch: 8 MiB of empty records, or one record of millions of empty arrays.
        # Both are refused (413) having built nothing: the node's peak memory barely moves
        # (it was some 600 MB for one such body, parsed whole before the count was checked).
        def peak_mb():
            with open(f"/proc/{node.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) // 1024
            return 0

        n = (8 * 1024 * 1024 - 64) // 3
        bombs = {
            "8 MiB of empty records": (b'{"records":[' + b",".join([b"{}"] * n) + b"]}",
                                       "max_batch_records"),
            "one record of 2.8 million arrays": (
                b'{"records":[{"kind":"pathway.event","body":[' + b",".join([b"[]"] * n) +
                b"]}]}", "JSON values"),
        }
        for name, (bomb, detail) in bombs.items():
            before = peak_mb()
            start = time.time()
            status, _, body = api(node, agent, "POST", "/v1/records", body=bomb)
            took = time.time() - start
            grew = peak_mb() - before
            t.check(status == 413 and detail in str(body), f"{name}: 413 naming the limit",
                    f"{status} {str(body)[:200]}")
            t.check(grew < 120, f"{name}: peak memory grew {grew} MB (< 120)")
            t.check(took < 10, f"{name}: refused in {took:.1f} s")
        status, _, body = api(node, agent, "POST", "/v1/records",
                              body='{"records":[' + ",".join(["{}"] * 1000) + "]}")
        t.check(status == 200 and body.get("refused") == 1000,
                "1000 records (the limit): parsed and each refused on its own",
                f"{status} {str(body)[:200]}")

        t.equal(node.stop(), 0, "node exits 0")
        node.close()

        # The queue: a long-poll stays in hand for its whole wait, which makes it easy to fill.
        node = Node(pki, pg, name="node2", config={"limits": {
            "max_queued_per_identity": "4", "max_queued_requests": "6", "max_body_bytes": "1M",
            "max_queued_body_bytes": "1536k", "max_pipeline": "16"}})
        node.start()
        poll = b"GET /v1/changes?wait=3 HTTP/1.1\r\nHost: x\r\n\r\n"

        # Pipelined on one connection: four in hand, the fifth and sixth shed.
        s = tls_connect(node, agent)
        s.sendall(poll * 6)
        r = Reader(s)
        got = [r.response() for _ in range(6)]
        t.equal([g[0] if g else None for g in got], [200] * 4 + [503] * 2,
                "6 pipelined long-polls, max_queued_per_identity 4: 4 served, then 503")
        t.check(all(g and g[1].get("retry-after") == "1" for g in got[4:]),
                "the 503s say Retry-After", repr(got[4:])[:300])
        t.check("max_queued_per_identity" in got[5][2], "the 503 names the limit",
                got[5][2][:200])
        s.close()

        # Across connections: one identity's four long-polls fill its share; another identity
        # still gets in, until the node's total is reached.
        held_poll = b"GET /v1/changes?wait=10 HTTP/1.1\r\nHost: x\r\n\r\n"

        def hold(who, n):
            socks = []
            for _ in range(n):
                c = tls_connect(node, who)
                c.sendall(held_poll)
                socks.append(c)
            return socks

        def whoami(who):
            status, hdrs, _ = node.curl("/v1/whoami", agent=who)
            return status, hdrs.get("retry-after")

        def whoami_once_held(who, want, seconds=10):
            # The held long-polls are queued once their handshakes are done, which on a
            # loaded machine can take longer than a fixed sleep: ask until the answer is
            # the one the held requests must cause, or the time is up.
            deadline = time.time() + seconds
            got = whoami(who)
            while got != want and time.time() < deadline:
                time.sleep(0.2)
                got = whoami(who)
            return got

        agent2, agent3 = pki.agent("alpha", "desk"), pki.agent("alpha", "tablet")
        held = hold(agent, 4)
        t.equal(whoami_once_held(agent, (503, "1")), (503, "1"), "a fifth request of one identity on a new "
                "connection: 503")
        t.equal(whoami(agent2)[0], 200, "another identity is served meanwhile")
        held += hold(agent2, 2)
        t.equal(whoami_once_held(agent3, (503, "1")), (503, "1"), "past max_queued_requests in total: 503 for anyone")
        for c in held:
            Reader(c).response()
            c.close()
        t.equal(whoami(agent3)[0], 200, "once answered, the queue makes room again")

        # Bodies: a long-poll holds the line, a 1 MiB body waits behind it in hand, and a second
        # would pass max_queued_body_bytes (1.5 MiB).
        big = b"x" * (1024 * 1024)
        s = tls_connect(node, agent)
        s.sendall(poll + (b"POST /v1/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                          % len(big) + big) * 2)
        r = Reader(s)
        got = [r.response() for _ in range(3)]
        t.equal([g[0] if g else None for g in got], [200, 405, 503],
                "a second 1 MiB body past max_queued_body_bytes: 503")
        t.check(got[2] and "max_queued_body_bytes" in got[2][2], "the 503 names the limit")
        s.close()
        # Bodies still arriving count too: two slow uploads of 800 KiB each would pass 1.5 MiB,
        # so the second is answered 503 and closed, and the first goes on.
        head = (b"POST /v1/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                % len(big))
        first, second = tls_connect(node, agent), tls_connect(node, agent2)
        first.sendall(head + big[:800 * 1024])
        time.sleep(0.5)
        second.sendall(head + big[:800 * 1024])
        r2 = Reader(second)
        resp = r2.response()
        t.check(resp and resp[0] == 503 and resp[1].get("retry-after") == "1" and r2.closed() and
                "max_queued_body_bytes" in resp[2],
                "a second body arriving past max_queued_body_bytes: 503 and close", repr(resp)[:300])
        first.sendall(big[800 * 1024:])
        resp = Reader(first).response()
        t.check(resp and resp[0] == 405, "the first upload goes on to its answer", repr(resp)[:200])
        first.close()
        second.close()

        # A batch's body is counted while it is being stored too (the job may outlive its
        # client); every byte is given back after.
        for _ in range(3):
            status, _, _ = api(node, agent2, "POST", "/v1/records",
                               body='{"records":[' + ",".join(["{}"] * 1000) + "]}")
        t.equal(status, 200, "a batch is stored meanwhile")
        status, _, metrics = node.curl("/metrics", agent=agent)
        t.check("trellis_requests_shed_total 6" in metrics and
                "trellis_requests_queued 1" in metrics and
                "trellis_queued_body_bytes 0" in metrics,
                "metrics: requests shed, the queue now (this request) and its bytes",
                "\n".join(ln for ln in metrics.splitlines() if "queue" in ln or "shed" in ln))
        t.equal(node.stop(), 0, "node exits 0")
        node.close()
    finally:
        pki.close()

t.finish()
