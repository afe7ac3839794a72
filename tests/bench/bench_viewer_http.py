"""HTTP load for bench_viewer.sh: CONNS keep-alive connections (one thread
each, one request in flight per connection) asking for PATH on the viewer
listener for SECONDS; prints one JSON line with the count of 200 replies,
errors, and the latency percentiles in milliseconds (the time from sending
the request to reading the whole reply, on loopback).

    bench_viewer_http.py PORT PATH CONNS SECONDS

PATH "@FILE": each request takes a path at random from FILE's lines (many
distinct queries, so that the node's reply cache answers only what is
really asked again, as between caseworkers)."""

import http.client
import json
import random
import sys
import threading
import time


def worker(port, paths, seed, until, lat, errs):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            conn.request("GET", rng.choice(paths))
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                errs.append(r.status)
                continue
            lat.append((time.monotonic() - t0) * 1000.0)
        except (OSError, http.client.HTTPException) as e:
            errs.append(str(e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.close()


def main():
    port, path, conns, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    if path.startswith("@"):
        with open(path[1:]) as f:
            paths = [line.strip() for line in f if line.strip()]
    else:
        paths = [path]
    lat, errs = [], []
    until = time.monotonic() + secs
    threads = [threading.Thread(target=worker, args=(port, paths, k, until, lat, errs))
               for k in range(conns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(len(lat) * p))], 1) if lat else None

    print(json.dumps({"path": path, "conns": conns, "seconds": secs, "ok": len(lat),
                      "errors": len(errs), "first_error": errs[0] if errs else None,
                      "rps": round(len(lat) / secs, 1), "p50_ms": pct(0.50),
                      "p95_ms": pct(0.95), "p99_ms": pct(0.99)}))


main()
