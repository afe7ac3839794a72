#!/usr/bin/env python3
"""Directory benchmark: a node holding BENCH_SERVICES directory services
(10,000 by default, the fixtures of tests/integration/test_oruk_filters.py)
answers a filtered /oruk/services page and a proximity search from 20
keep-alive connections at once. The figure is the node's own time per
request (the "ms" of its request log: arrival to reply), p50/p95/p99, next
to the same SQL run by pgbench with as many clients (captured from the
database's statement log, values in place of parameters). The node keeps a
list's reply until the next store (view_cache.h): the hammered figure is
that of a page asked for again; the first request's node time and the
pgbench figures are those of a fresh query."""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Node, PgCluster, Pki, api  # noqa: E402
import test_oruk_filters as fx  # noqa: E402

N = int(os.environ.get("BENCH_SERVICES", "10000"))
CONNS = int(os.environ.get("BENCH_CONNS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
QUERIES = {
    "filtered /services page": "/oruk/services?need=advocacy&for_gender=women&taking_referrals=true"
                               "&per_page=50",
    "proximity search": "/oruk/services?postcode=LS6+1AA&proximity=5000&per_page=50",
}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def load(node, agent, records):
    for i in range(0, len(records), 500):
        status, _, reply = api(node, agent, "POST", "/v1/records", {"records": records[i:i + 500]})
        if status != 200 or reply.get("stored") != len(records[i:i + 500]):
            sys.exit(f"loading services failed: {status} {str(reply)[:300]}")


def hammer(node, agent, path, seconds, load_bin):
    """bench_node_load (C, epoll, HTTP/1.1 keep-alive over mutual TLS): CONNS
    connections, one request in flight on each, for seconds."""
    p = subprocess.run([load_bin, "127.0.0.1", str(node.port), path, str(CONNS), str(seconds),
                        agent["chain"], agent["key"]], capture_output=True, text=True,
                       timeout=seconds + 60)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.exit(f"bench_node_load failed: {p.stdout} {p.stderr}")
    return r["ok"], r["requests"] - r["ok"]


def server_times(node, path_prefix, since):
    out = []
    with open(node.log_path, "rb") as f:
        f.seek(since)
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("path") == path_prefix and "ms" in ev and ev.get("status") == 200:
                out.append(ev["ms"])
    return out


def captured_sql(pg, marker_from):
    """The last list statement the node ran, with its parameters in place
    (log_statement = all: the statement's line, then its DETAIL line)."""
    with open(os.path.join(pg.dir, "log"), encoding="utf-8", errors="replace") as f:
        f.seek(marker_from)
        lines = f.read().splitlines()
    found = None
    for i, line in enumerate(lines):
        m = re.search(r"execute <unnamed>: (WITH .*)$", line)
        if m and i + 1 < len(lines) and "parameters:" in lines[i + 1].lower():
            found = (m.group(1), re.split(r"(?i)parameters:", lines[i + 1], 1)[1])
    if not found:
        return None
    sql, params = found
    values = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", params))
    return re.sub(r"\$(\d+)\b", lambda m: values.get(m.group(1), "NULL"), sql)


def pgbench(pg, sql, seconds, work, clients=CONNS):
    script = os.path.join(work, "q.sql")
    with open(script, "w") as f:
        f.write(sql.replace("\n", " ") + ";\n")
    logdir = os.path.join(work, "pgbench")
    os.makedirs(logdir, exist_ok=True)
    p = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "trellis",
                        "-c", str(clients), "-j", str(min(2, clients)), "-T", str(int(seconds)), "-f", script,
                        "-l", "--log-prefix", os.path.join(logdir, "log"), "trellis"],
                       capture_output=True, text=True, cwd=logdir)
    if p.returncode != 0:
        print(f"pgbench failed: {p.stderr[-500:]}")
        return None
    lat = []
    for name in os.listdir(logdir):
        for line in open(os.path.join(logdir, name)):
            parts = line.split()
            if len(parts) >= 3:
                lat.append(int(parts[2]) / 1000.0)  # microseconds
        os.remove(os.path.join(logdir, name))
    return lat


def main():
    import random
    records = fx.make_services(N, random.Random(12))
    with PgCluster("benchdir") as pg:
        pki = Pki()
        pki.add_org(fx.ORG)
        node = Node(pki, pg, org=fx.ORG, name="node",
                    config={"node": {"log_level": "info", "log_requests": "all"},
                            "limits": {"max_batch_records": "1000"}})
        try:
            node.start()
            agent = pki.agent(fx.ORG, "office")
            load_bin = os.path.join(node.dir, "bench_node_load")
            subprocess.run(["cc", "-O2", "-DLOAD_BUF=1048576", "-o", load_bin, os.path.join(HERE, "bench_node_load.c"),
                            "-lssl", "-lcrypto"], check=True)
            t0 = time.time()
            load(node, agent, records)
            csv_path = os.path.join(node.dir, "onspd.csv")
            fx.onspd(csv_path)
            subprocess.run([fx.binary("trellisd"), "--config", node.config_path,
                            "--load-postcodes", csv_path], check=True, stdout=subprocess.DEVNULL)
            pg.psql("ANALYZE")
            print(f"directory benchmark: {N} services loaded in {time.time() - t0:.0f} s, "
                  f"{CONNS} connections, {SECONDS:.0f} s a query, {os.cpu_count()} cores")
            print(f"{'query':28} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
                  f"{'p99 ms':>7}   {'pgbench p95 ms':>14}")
            first = {}
            for label, path in QUERIES.items():
                # The SQL the node runs for it, captured from the statement
                # log on the first request: the node keeps the reply until
                # the next store (view_cache.h), so later ones run no SQL.
                pg.psql("ALTER SYSTEM SET log_statement = 'all'")
                pg.psql("SELECT pg_reload_conf()")
                time.sleep(0.5)
                mark = os.path.getsize(os.path.join(pg.dir, "log"))
                since = os.path.getsize(node.log_path)
                status, _, reply = api(node, agent, "GET", path)
                if status != 200:
                    sys.exit(f"{path}: {status} {str(reply)[:300]}")
                time.sleep(0.5)
                first[label] = server_times(node, "/oruk/services", since)
                sql = captured_sql(pg, mark)
                if not sql:
                    print(f"    (the SQL of {path} was not found in the statement log)")
                pg.psql("ALTER SYSTEM RESET log_statement")
                pg.psql("SELECT pg_reload_conf()")
                time.sleep(0.5)
                if os.environ.get("BENCH_EXPLAIN") and sql:
                    for row in pg.psql("EXPLAIN (ANALYZE, COSTS OFF) " + sql):
                        print("    " + row[0])
                since = os.path.getsize(node.log_path)
                n, errs = hammer(node, agent, path, SECONDS, load_bin)
                ms = server_times(node, "/oruk/services", since)
                ref = pgbench(pg, sql, SECONDS, node.dir) if sql else None
                one = pgbench(pg, sql, 3, node.dir, clients=1) if sql else None
                print(f"{label:28} {n:9d} {n / SECONDS:7.0f} {pct(ms, 50):7.2f} "
                      f"{pct(ms, 95):7.2f} {pct(ms, 99):7.2f}   "
                      f"{pct(ref, 95) if ref else float('nan'):14.1f}"
                      f"   (SQL alone, 1 client: p50 {pct(one, 50) if one else float('nan'):.1f} ms)"
                      + (f"   ({errs} non-200)" if errs else ""))
                print(f"{'':28} client side, mean round trip (connections / rate): "
                      f"{CONNS / (n / SECONDS) * 1000 if n else float('nan'):.1f} ms; first request "
                      f"(nothing kept yet: query and rendering): "
                      f"{first[label][0] if first[label] else float('nan'):.1f} ms on the node")
        finally:
            node.close()
            pki.close()


if __name__ == "__main__":
    main()
