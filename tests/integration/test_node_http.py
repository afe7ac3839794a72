"""Strict, bounded HTTP/1.1 on a real node: smuggling shapes refused, limits
answered with problem+json, slow requests cut, pipelining in order, and 500
concurrent keep-alive connections served."""

import asyncio
import json
import time

from harness import Checks, Node, PgCluster, Pki, Reader, api, metric, tls_connect, tls_context

t = Checks("test_node_http")


def exchange(node, agent, raw, timeout=10):
    """Send raw bytes; return (first response, whether the server then closed)."""
    s = tls_connect(node, agent, timeout)
    try:
        s.sendall(raw)
        r = Reader(s)
        resp = r.response()
        return resp, r.closed()
    finally:
        s.close()


def problem(resp):
    try:
        return json.loads(resp[2])
    except (ValueError, TypeError):
        return {}


with PgCluster("http") as pg:
    pki = Pki()
    try:
        # A long handshake timeout: 500 handshakes at once under ASan, on a
        # machine running other tests, must not be cut by it.
        # One identity sends 500 requests at once below: past the default per-identity queue.
        node = Node(pki, pg, config={"limits": {"request_timeout": "1s", "max_body_bytes": "64k",
                                                "max_pipeline": "4",
                                                "max_queued_per_identity": "1000"},
                                     "tls": {"handshake_timeout": "60s"}})
        node.start()
        agent = pki.agent("alpha", "laptop")

        # Refused shapes: 400 and close.
        bad = {
            "CL+TE": b"POST /v1/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "duplicate CL": b"POST /v1/whoami HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                            b"Content-Length: 5\r\n\r\nhello",
            "obs-fold": b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-A: one\r\n  two\r\n\r\n",
            "Upgrade": b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\n\r\n",
            "garbage": b"\x16\x03\x01 NOT HTTP AT ALL\r\n\r\n",
        }
        for name, raw in bad.items():
            resp, closed = exchange(node, agent, raw)
            t.check(resp is not None and resp[0] == 400 and closed,
                    f"{name}: 400 and close", repr(resp)[:200])
            if resp:
                t.equal(resp[1].get("content-type"), "application/problem+json",
                        f"{name}: problem+json")

        # Oversized header (16 KiB default) and body (64k configured).
        big = b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n"
        resp, closed = exchange(node, agent, big)
        t.check(resp and resp[0] == 431 and closed, "header over 16 KiB: 431 and close",
                repr(resp)[:200])
        longurl = b"GET /" + b"a" * 17000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
        resp, closed = exchange(node, agent, longurl)
        t.check(resp and resp[0] == 414, "request target over 16 KiB: 414", repr(resp)[:200])
        body = b"x" * (65 * 1024)
        resp, closed = exchange(node, agent, b"POST /v1/whoami HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: %d\r\n\r\n" % len(body) + body)
        t.check(resp and resp[0] == 413 and closed, "body over max_body_bytes: 413 and close",
                repr(resp)[:200])
        t.check("max_body" in problem(resp).get("detail", "") or
                "body" in problem(resp).get("detail", ""),
                "413 names the limit", repr(resp)[:300])
        status, _, _ = node.curl("/v1/whoami", agent=agent, method="POST", data="@/dev/null",
                                 extra=["-H", "Transfer-Encoding: chunked"])
        t.equal(status, 405, "chunked POST to a GET path: 405 (the chunked body was read)")

        # Not found and wrong method.
        status, hdrs, body = node.curl("/nope", agent=agent)
        t.check(status == 404 and hdrs.get("content-type") == "application/problem+json"
                and json.loads(body)["status"] == 404, "unknown path: 404 problem+json")
        status, hdrs, body = node.curl("/v1/whoami", agent=agent, method="DELETE")
        t.check(status == 405 and hdrs.get("allow") == "GET, HEAD",
                "wrong method: 405 with Allow: GET, HEAD", str(hdrs))

        # RFC 9112 3.2: an HTTP/1.1 request without Host, with two, or with an empty one, and
        # (2.2) a request line ended by a bare CR: 400 and close.
        bad_line = {
            "no Host": b"GET /healthz HTTP/1.1\r\n\r\n",
            "two Host fields": b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n",
            "empty Host": b"GET /healthz HTTP/1.1\r\nHost:\r\n\r\n",
            "bare CR after the version": b"GET /healthz HTTP/1.1\rHost: x\r\n\r\n",
        }
        for name, raw in bad_line.items():
            resp, closed = exchange(node, agent, raw)
            t.check(resp is not None and resp[0] == 400 and closed, f"{name}: 400 and close",
                    repr(resp)[:200])
        resp, _ = exchange(node, agent, b"GET /healthz HTTP/1.0\r\n\r\n")
        t.check(resp and resp[0] == 200, "HTTP/1.0 without Host: 200", repr(resp)[:200])
        resp, _ = exchange(node, agent, b"GET https://node.example/healthz HTTP/1.1\r\nHost: x\r\n"
                           b"Connection: close\r\n\r\n")
        t.check(resp and resp[0] == 200, "absolute-form target: served (RFC 9112 3.2.2)",
                repr(resp)[:200])

        # Content-Type is a media type: case-insensitive, parameters; not a prefix.
        batch = json.dumps({"records": []})
        for ctype, want in (("application/jsonfoo", 415), ("text/plain", 415),
                            ("APPLICATION/JSON", 200), ("application/json; charset=UTF-8", 200),
                            ("application/json; charset=latin1", 415)):
            status, _, _ = api(node, agent, "POST", "/v1/records", body=batch,
                               headers={"Content-Type": ctype})
            t.equal(status, want, f"POST /v1/records as {ctype}: {want}")

        # Expect: 100-continue is answered before the body is sent; an unknown expectation, 417.
        s = tls_connect(node, agent)
        r = Reader(s)
        s.sendall(b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(batch))
        interim = r.response()
        t.check(interim and interim[0] == 100, "Expect: 100-continue: 100 Continue first",
                repr(interim)[:200])
        s.sendall(batch.encode())
        final = r.response()
        t.check(final and final[0] == 200, "then the final reply once the body is sent",
                repr(final)[:200])
        s.close()
        resp, closed = exchange(node, agent, b"POST /v1/records HTTP/1.1\r\nHost: x\r\n"
                                b"Expect: pony\r\nContent-Length: 2\r\n\r\n")
        t.check(resp and resp[0] == 417 and closed and
                problem(resp).get("title") == "Expectation Failed",
                "Expect: unknown: 417 Expectation Failed and close", repr(resp)[:200])

        # HEAD (RFC 9110 9.1: a server MUST support it): GET's headers, no body, and the
        # connection goes on with the next request.
        s = tls_connect(node, agent)
        s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = Reader(s)
        r.closed()
        head, _, rest = r.buf.partition(b"\r\n\r\n")
        t.check(head.startswith(b"HTTP/1.1 200") and b"Content-Length: 0" not in head and
                rest.startswith(b"HTTP/1.1 200"),
                "HEAD: 200 with GET's Content-Length and no body", repr(r.buf)[:300])
        s.close()

        # Slowloris: a request that never finishes is cut at request_timeout (1 s).
        s = tls_connect(node, agent)
        s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        start = time.time()
        r = Reader(s)
        resp = r.response()
        took = time.time() - start
        t.check(resp is not None and resp[0] == 408 and r.closed(),
                "slow request: 408 and close", repr(resp)[:200])
        t.check(0.8 < took < 5, "slow request cut near its 1 s deadline", f"{took:.2f}s")
        s.close()
        timeouts = [e for e in node.log_events()
                    if e.get("event") == "request" and e.get("status") == 408]
        t.check(timeouts and timeouts[-1]["ms"] >= 800,
                "the 408 is logged with the time since the request began",
                repr(timeouts[-1:]))

        # Pipelining: 10 requests in one write (cap 4 in flight) answered in order.
        s = tls_connect(node, agent)
        paths = ["/healthz", "/v1/whoami", "/readyz", "/nope"] * 2 + ["/healthz", "/v1/whoami"]
        s.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
        r = Reader(s)
        got = [r.response() for _ in paths]
        want = {"/healthz": 200, "/v1/whoami": 200, "/readyz": 200, "/nope": 404}
        t.equal([g[0] if g else None for g in got], [want[p] for p in paths],
                "10 pipelined requests answered in order")
        s.close()

        # Keep-alive and Connection: close.
        s = tls_connect(node, agent)
        r = Reader(s)
        for i in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            t.check(r.response()[0] == 200, f"keep-alive request {i + 1}")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = r.response()
        t.check(resp[0] == 200 and resp[1].get("connection") == "close" and r.closed(),
                "Connection: close is honoured")
        s.close()

        # HTTP/1.0 keep-alive is answered as such (ab -k speaks it); without it, close.
        s = tls_connect(node, agent)
        r = Reader(s)
        s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        resp = r.response()
        t.check(resp and resp[0] == 200 and resp[1].get("connection") == "keep-alive",
                "HTTP/1.0 keep-alive: the reply says Connection: keep-alive", repr(resp)[:200])
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        resp = r.response()
        t.check(resp and resp[0] == 200 and r.closed(), "HTTP/1.0 without keep-alive: closed")
        s.close()

        # A connection idle past the settle time (its TLS buffers given back)
        # carries on as before.
        s = tls_connect(node, agent)
        r = Reader(s)
        s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        first = r.response()
        time.sleep(1.5)
        s.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
        second = r.response()
        t.check(first and second and first[0] == second[0] == 200 and first[2] == second[2],
                "a keep-alive connection idle for 1.5 s still serves")
        s.close()

        # 500 concurrent keep-alive connections, each sending 3 requests.
        ctx = tls_context(pki, agent)

        async def client(i):
            reader, writer = await asyncio.open_connection("127.0.0.1", node.port, ssl=ctx,
                                                           server_hostname="127.0.0.1")
            ok = 0
            for _ in range(3):
                writer.write(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n\r\n")
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                length = int([ln for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length")][0].split(b":")[1])
                await reader.readexactly(length)
                ok += head.startswith(b"HTTP/1.1 200")
            return writer, ok

        async def crowd(n):
            results = await asyncio.gather(*(client(i) for i in range(n)),
                                           return_exceptions=True)
            oks = sum(r[1] for r in results if not isinstance(r, BaseException))
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if not isinstance(r, BaseException):
                    r[0].close()
            return oks, errors

        oks, errors = asyncio.run(crowd(500))
        t.check(oks == 1500 and not errors, "500 concurrent keep-alive connections all served",
                f"{oks} ok, {len(errors)} errors, first: {errors[:1]}")

        # The counters move by what is asked: 7 whoami and 3 not found, between two reads.
        _, _, m1 = node.curl("/metrics", agent=agent)
        for _ in range(7):
            node.curl("/v1/whoami", agent=agent)
        for _ in range(3):
            node.curl("/nope", agent=agent)
        _, _, m2 = node.curl("/metrics", agent=agent)

        def moved(name, **labels):
            return (metric(m2, name, **labels) or 0) - (metric(m1, name, **labels) or 0)

        t.equal(moved("trellis_http_requests_total", route="whoami", status="200"), 7,
                "/metrics counts requests by route and status: whoami 200 moved by 7")
        t.equal(moved("trellis_http_requests_total", status="404"), 3,
                "/metrics: 404s moved by 3")
        # The histogram saw the 10 requests and the first /metrics read (counted once answered).
        t.equal(moved("trellis_http_request_duration_seconds_count"), 11,
                "/metrics: the latency histogram counted every request between the reads")
        t.equal(metric(m2, "trellis_http_request_duration_seconds_bucket", le="+Inf"),
                metric(m2, "trellis_http_request_duration_seconds_count"),
                "/metrics: the histogram's +Inf bucket holds every request")
        t.equal(metric(m2, "trellis_db_pool_size"), 4, "/metrics has the pool: its default size")
        t.check("X-Slow" not in node.read_log() and "aaaaaaaa" not in node.read_log(),
                "logs never carry request bytes")
        reqs = [e for e in node.log_events() if e.get("event") == "request"]
        t.check(any(e["status"] == 404 and e.get("path") == "/nope" for e in reqs) and
                all(e["status"] >= 400 for e in reqs),
                "log_requests = errors: a line per refused request, none for the others")
        t.equal(node.stop(), 0, "node exits 0")
        node.close()
    finally:
        pki.close()

t.finish()
