#!/usr/bin/env python3
"""POST every batch file of the ingest benchmark to a node, with C concurrent
keep-alive clients over mutual TLS. Prints 'rate N' (records/s) and batch
latency percentiles."""

import glob
import http.client
import json
import os
import ssl
import sys
import threading
import time

work, port, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pki = os.path.join(work, "pki")
files = sorted(glob.glob(os.path.join(work, "batches", "*.json")))
bodies = [open(f, "rb").read() for f in files]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(os.path.join(pki, "ca.crt"))
ctx.load_cert_chain(os.path.join(pki, "orgs/bench/agents/agent.chain.crt"),
                    os.path.join(pki, "orgs/bench/agents/agent.key"))
lock = threading.Lock()
next_i = [0]
stored = [0]
lat = []
errors = []


def worker():
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)
    while True:
        with lock:
            i = next_i[0]
            next_i[0] += 1
        if i >= len(bodies):
            break
        t0 = time.time()
        conn.request("POST", "/v1/records", body=bodies[i],
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        dt = time.time() - t0
        with lock:
            lat.append(dt)
            if r.status != 200:
                errors.append(r.status)
            else:
                stored[0] += json.loads(data)["stored"]
    conn.close()


start = time.time()
threads = [threading.Thread(target=worker) for _ in range(clients)]
for th in threads:
    th.start()
for th in threads:
    th.join()
took = time.time() - start
lat.sort()
print("rate %d" % int(stored[0] / took))
print("latency per 1,000-record batch: p50 %.0f ms, p99 %.0f ms" %
      (1000 * lat[len(lat) // 2], 1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]))
if errors:
    print("errors", errors[:10])
