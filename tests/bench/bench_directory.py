#!/usr/bin/env python3
"""Directory benchmark: a node holding BENCH_SERVICES directory services
(10,000 by default, the fixtures of tests/integration/test_oruk_filters.py,
their locations spread over BENCH_POSTCODES loaded postcodes) answers
filtered /oruk/services pages and proximity searches from 20 keep-alive
connections at once. Each case runs twice:

  fresh (varied)  every request drawn at random from BENCH_DISTINCT distinct
                  queries (needs, genders, ages, districts, words, risk,
                  accessibility, flags, pages; postcodes over the loaded
                  ones, radii): what 20 caseworkers searching for different
                  people ask. The node's reply cache (view_cache.h) answers
                  only a query asked again within its life; the hit rate is
                  read from the node's /metrics. This is the row a target is
                  judged on.
  same repeated   one fixed query, as before: after the first request every
                  reply comes from the cache, so it measures the cache.

The figure is the node's own time per request (the "ms" of its request
log: arrival to reply), p50/p95/p99, next to one representative query's SQL
run by pgbench with as many clients (captured from the database's statement
log, values in place of parameters)."""

import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import quote_plus

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Node, PgCluster, Pki, api  # noqa: E402
import test_oruk_filters as fx  # noqa: E402
import bench_vocab  # noqa: E402

N = int(os.environ.get("BENCH_SERVICES", "10000"))
CONNS = int(os.environ.get("BENCH_CONNS", "20"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
DISTINCT = int(os.environ.get("BENCH_DISTINCT", "5000"))
N_POSTCODES = int(os.environ.get("BENCH_POSTCODES", "2000"))
# [node] workers of the node: the product's default (one per CPU) unless
# set; the integration harness's default is 1.
WORKERS = os.environ.get("BENCH_WORKERS", "auto")
REPEATED = {
    "filtered /services page": "/oruk/services?need=advocacy&for_gender=women&taking_referrals=true"
                               "&per_page=50",
    "proximity search": "/oruk/services?postcode=LS6+1AA&proximity=5000&per_page=50",
}
# Outward codes of the loaded postcodes, each with its local authority and
# a point near which its postcodes fall (West Yorkshire, Manchester,
# Sheffield, York).
AREAS = [("LS", 1, 29, "E08000035", 53.80, -1.55), ("BD", 1, 22, "E08000032", 53.79, -1.75),
         ("HX", 1, 7, "E08000033", 53.72, -1.86), ("M", 1, 40, "E08000003", 53.48, -2.24),
         ("S", 1, 36, "E08000019", 53.38, -1.47), ("YO", 1, 32, "E06000014", 53.96, -1.08)]
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def spread_postcodes(rng, n):
    """n distinct postcodes: {postcode: (lat, lng, lad)}, the fixture's own
    first (the test queries name them), then points within ~8 km of their
    area's centre."""
    out = dict(fx.LOOKUP)
    while len(out) < n:
        area, lo, hi, lad, lat, lng = rng.choice(AREAS)
        pc = (f"{area}{rng.randint(lo, hi)} {rng.randint(1, 9)}"
              f"{rng.choice(INWARD_LETTERS)}{rng.choice(INWARD_LETTERS)}")
        out.setdefault(pc, (lat + rng.uniform(-0.07, 0.07), lng + rng.uniform(-0.12, 0.12), lad))
    return out


def write_onspd(path, postcodes):
    with open(path, "w") as f:
        f.write("pcd,pcd2,pcds,dointr,doterm,oslaud,lat,long\n")
        for pc, (lat, lng, lad) in postcodes.items():
            f.write(f"{pc.replace(' ', ''):7},{pc},{pc},199801,,{lad},{lat:.6f},{lng:.6f}\n")


def spread_locations(records, postcodes, rng):
    """Place most public locations at one of the loaded postcodes, by their
    address: a signed record's coordinates are whole degrees only
    (tr_validate_directory.c), so the address is what locates a public
    service, and the fixture's three whole-degree points would make every
    proximity search the same few distances."""
    pcs = list(postcodes)
    for rec in records:
        if rec["body"]["trellis"]["location_confidential"]:
            continue
        for sal in rec["body"].get("service_at_locations", []):
            loc = sal["location"]
            if not loc.get("addresses") and rng.random() < 0.8:
                loc["addresses"] = [{"id": loc["id"][:-3] + "a" + loc["id"][-2:],
                                     "address_1": "1 Test Street", "city": "Leeds",
                                     "state_province": "West Yorkshire", "country": "GB",
                                     "address_type": "physical"}]
            for a in loc.get("addresses", []):
                a["postal_code"] = rng.choice(pcs)
                loc.pop("latitude", None)
                loc.pop("longitude", None)


def realistic_words(records, rng):
    """Give every service a name and a description made of the benchmark's
    vocabulary (bench_vocab.py: a few hundred words) instead of the
    fixture's five, and return the words a search draws from: every word of
    at least 4 letters in the names and descriptions."""
    for k, rec in enumerate(records):
        body = rec["body"]
        body["name"] = bench_vocab.name(rng, k)
        body["description"] = bench_vocab.description(rng)
    return bench_vocab.searchable(r["body"]["name"] + " " + r["body"]["description"]
                                  for r in records)


def q(params):
    return "/oruk/services?" + "&".join(f"{k}={quote_plus(str(v))}" for k, v in params)


def filtered_query(rng, districts, words):
    """A caseworker's search: a need, and some of who the person is and
    what the service must offer."""
    p = [("need", rng.choice(fx.NEEDS))]
    if rng.random() < 0.6:
        p.append(("for_gender", rng.choice(["women", "men", "non_binary"])))
    if rng.random() < 0.5:
        age = rng.randint(14, 80)
        p += [("minimum_age", age), ("maximum_age", age)]
    if rng.random() < 0.4:
        p.append(("district", rng.choice(districts)))
    if rng.random() < 0.6:
        p.append(("taking_referrals", "true"))
    if rng.random() < 0.2:
        p.append(("self_referral", rng.choice(["true", "false"])))
    if rng.random() < 0.2:
        p.append(("risk_level", rng.choice(["standard", "medium", "high"])))
    if rng.random() < 0.15:
        p.append(("accessibility", rng.choice(fx.ACCESS)))
    if rng.random() < 0.3:
        p.append(("search", " ".join(rng.sample(words, rng.randint(1, 2)))))
    if rng.random() < 0.15:
        p.append(("page", rng.randint(2, 4)))
    p.append(("per_page", rng.choice([50, 50, 50, 20, 100])))
    return q(p)


def proximity_query(rng, pcs):
    """Near a person's postcode, within a radius, often for one need."""
    p = [("postcode", rng.choice(pcs)), ("proximity", rng.choice([1000, 2000, 5000, 10000, 20000]))]
    if rng.random() < 0.5:
        p.append(("need", rng.choice(fx.NEEDS)))
    if rng.random() < 0.3:
        p.append(("taking_referrals", "true"))
    if rng.random() < 0.1:
        p.append(("page", 2))
    p.append(("per_page", rng.choice([50, 50, 20])))
    return q(p)


def paths_file(work, name, make, rng, n_requests):
    """BENCH_DISTINCT distinct queries, then n_requests draws among them
    (uniform, so a query recurs only by chance, as between caseworkers)."""
    pool, seen = [], set()
    while len(pool) < DISTINCT:
        u = make(rng)
        if u not in seen:
            seen.add(u)
            pool.append(u)
    path = os.path.join(work, name)
    with open(path, "w") as f:
        for _ in range(n_requests):
            f.write(rng.choice(pool) + "\n")
    return path, pool


def worker_metrics(node, agent):
    """{worker pid: its /metrics text}: with [node] workers > 1 each scrape
    is answered by one worker (trellis_worker{pid=...}) and every counter is
    that process's own, so scrape until every worker has answered."""
    want = max(1, len(node_pids(node)) - 1)
    got = {}
    for _ in range(200):
        status, _, text = node.curl("/metrics", agent=agent)
        m = re.search(r'^trellis_worker\{pid="(\d+)"\}', text, re.M)
        if status == 200:
            got[m.group(1) if m else "0"] = text
        if len(got) >= want:
            break
    return got


def summed(texts, pattern):
    """{name: value summed over the workers} of the metrics matching pattern."""
    out = {}
    for text in texts.values():
        for k, v in re.findall(r"^(" + pattern + r") (\d+)$", text, re.M):
            out[k] = out.get(k, 0) + int(v)
    return out


def cache_counts(node, agent):
    got = summed(worker_metrics(node, agent), r"trellis_view_cache_(?:hits|misses)_total")
    if len(got) != 2:
        sys.exit("/metrics without the cache counters")
    return got["trellis_view_cache_hits_total"], got["trellis_view_cache_misses_total"]


def index_counts(node, agent):
    """(services in the directory index, listings it answered, listings the
    SQL path answered, listings with a search, of them with the tsquery or
    the matches kept: no round trip for the search) from /metrics, summed
    over the workers (entries: the least of them)."""
    texts = worker_metrics(node, agent)
    got = summed(texts, r"trellis_dir_index_\w+")
    entries = min((int(m.group(1)) for t in texts.values()
                   for m in [re.search(r"^trellis_dir_index_entries (\d+)$", t, re.M)] if m),
                  default=0)
    return (entries,) + tuple(got.get(f"trellis_dir_index_{k}", 0) for k in (
        "answers_total", "sql_answers_total", "searches_total")) + (
        got.get("trellis_dir_index_tsq_kept_total", 0)
        + got.get("trellis_dir_index_searches_kept_total", 0),)


def wait_index(node, agent, n, timeout=300):
    """The index loaded with every service (not [directory] index = off)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        api(node, agent, "GET", "/oruk/services?per_page=1&page=2")  # a refresh, if due
        if index_counts(node, agent)[0] >= n:
            return True
        time.sleep(0.5)
    return False


def vm_rss_mb(pid):
    """The resident memory of a process, MiB (/proc/PID/status VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def index_bytes(node, agent):
    """The directory index's memory counted, the most of any worker."""
    return max((int(m.group(1)) for t in worker_metrics(node, agent).values()
                for m in [re.search(r"^trellis_dir_index_bytes (\d+)$", t, re.M)] if m),
               default=0)


def repeat_rate(path):
    """Of the requests in a paths file that carry a search, the percentage
    whose search string an earlier request carried."""
    seen, n, again = set(), 0, 0
    with open(path) as f:
        for line in f:
            m = re.search(r"[?&]search=([^&\n]*)", line)
            if not m:
                continue
            n += 1
            again += m.group(1) in seen
            seen.add(m.group(1))
    return 100.0 * again / n if n else float("nan")


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


def captured_sqls(pg, marker_from):
    """The list statements the node ran since marker_from, with their
    parameters in place (log_statement = all: the statement's line, then its
    DETAIL line): the SQL path's one query (WITH ...), or the directory
    index's pre-query (postcode, search) and page fetch (SELECT $1::bigint)."""
    with open(os.path.join(pg.dir, "log"), encoding="utf-8", errors="replace") as f:
        f.seek(marker_from)
        lines = f.read().splitlines()
    found = []
    for i, line in enumerate(lines):
        m = re.search(r"execute <unnamed>: ((?:WITH |SELECT \$1::bigint,|SELECT CASE WHEN \$1::text ).*)$",
                      line)
        if m and i + 1 < len(lines) and "parameters:" in lines[i + 1].lower():
            found.append((m.group(1), re.split(r"(?i)parameters:", lines[i + 1], 1)[1]))
    out = []
    for sql, params in found:
        values = dict(re.findall(r"\$(\d+) = ('(?:[^']|'')*'|NULL)", params))
        out.append(re.sub(r"\$(\d+)\b", lambda m: values.get(m.group(1), "NULL"), sql))
    return out


def captured_sql(pg, marker_from):
    """The last of them: the one that returns the list."""
    sqls = captured_sqls(pg, marker_from)
    return sqls[-1] if sqls else None


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


def node_pids(node):
    """trellisd's processes: the one started, and its workers (its children)
    when [node] workers > 1."""
    pids = [node.proc.pid]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == node.proc.pid:
                    pids.append(int(pid))
        except (OSError, IndexError, ValueError):
            pass
    return pids


def rss_line(node):
    """VmRSS of each trellisd process, MiB."""
    pids = node_pids(node)
    per = [f"{vm_rss_mb(p):.1f}" for p in pids[1:]]
    if not per:
        return f"one process, VmRSS {vm_rss_mb(pids[0]):.1f} MiB"
    return (f"a supervisor ({vm_rss_mb(pids[0]):.1f} MiB) and {len(per)} workers, VmRSS "
            f"{', '.join(per)} MiB")


def cpu_seconds(node, pg):
    """CPU seconds used so far by trellisd and by the cluster (the
    postmaster, its live children, and the children it has reaped): on a
    shared machine the time per reply moves with the other work, the CPU
    per reply much less."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(pid):
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    node_s = 0.0
    for pid in node_pids(node):  # the supervisor and its workers
        v = stat(pid)
        node_s += (int(v[11]) + int(v[12])) / tick
    with open(os.path.join(pg.data, "postmaster.pid")) as f:
        pm = int(f.readline())
    v = stat(pm)
    pg_s = sum(int(x) for x in v[11:15]) / tick  # utime stime cutime cstime
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            v = stat(pid)
            if int(v[1]) == pm:  # the postmaster's child: a backend, a worker
                pg_s += (int(v[11]) + int(v[12])) / tick
        except (OSError, IndexError, ValueError):
            pass  # ended meanwhile: counted in the postmaster's cutime
    return node_s, pg_s


def run_load(node, pg, agent, load_bin, path_arg):
    """One hammering: (replies, non-200, node ms list, cache hits, misses,
    node CPU ms per reply, PostgreSQL CPU ms per reply)."""
    h0, m0 = cache_counts(node, agent)
    i0 = index_counts(node, agent)
    since = os.path.getsize(node.log_path)
    c0 = cpu_seconds(node, pg)
    n, errs = hammer(node, agent, path_arg, SECONDS, load_bin)
    c1 = cpu_seconds(node, pg)
    i1 = index_counts(node, agent)
    searched = i1[3] - i0[3]
    print(f"    (directory index: {i1[1] - i0[1]} listings from it, {i1[2] - i0[2]} by the SQL "
          f"path; {searched} with a search, {i1[4] - i0[4]} of them "
          f"({100.0 * (i1[4] - i0[4]) / searched if searched else float('nan'):.1f}%) with the "
          f"search kept: no round trip)")
    ms = server_times(node, "/oruk/services", since)
    h1, m1 = cache_counts(node, agent)
    per = 1000.0 / n if n else float("nan")
    return n, errs, ms, h1 - h0, m1 - m0, (c1[0] - c0[0]) * per, (c1[1] - c0[1]) * per


def row(label, kind, r):
    n, errs, ms, hits, misses, node_cpu, pg_cpu = r
    rate = 100.0 * hits / (hits + misses) if hits + misses else float("nan")
    print(f"{label:24} {kind:16} {n:9d} {n / SECONDS:7.0f} {pct(ms, 50):7.2f} {pct(ms, 95):7.2f} "
          f"{pct(ms, 99):7.2f} {rate:8.1f}%  {node_cpu:6.2f} {pg_cpu:6.2f}"
          + (f"   ({errs} non-200)" if errs else ""))


def main():
    import random
    rng = random.Random(12)
    records = fx.make_services(N, rng)
    words = realistic_words(records, rng)
    postcodes = spread_postcodes(rng, N_POSTCODES)
    spread_locations(records, postcodes, rng)
    districts = sorted({pc.split()[0] for pc in postcodes}) + sorted(fx.GSS)
    pcs = sorted(postcodes)
    with PgCluster("benchdir") as pg:
        pki = Pki()
        pki.add_org(fx.ORG)
        # BENCH_INDEX=off: the SQL path, the reference, for a comparison.
        node = Node(pki, pg, org=fx.ORG, name="node",
                    config={"node": {"log_level": "info", "log_requests": "all", "workers": WORKERS},
                            "limits": {"max_batch_records": "1000"},
                            "directory": {"index": os.environ.get("BENCH_INDEX", "on")}})
        try:
            node.start()
            agent = pki.agent(fx.ORG, "office")
            load_bin = os.path.join(node.dir, "bench_node_load")
            subprocess.run(["cc", "-O2", "-DLOAD_BUF=1048576", "-o", load_bin, os.path.join(HERE, "bench_node_load.c"),
                            "-lssl", "-lcrypto"], check=True)
            t0 = time.time()
            load(node, agent, records)
            csv_path = os.path.join(node.dir, "onspd.csv")
            write_onspd(csv_path, postcodes)
            subprocess.run([fx.binary("trellisd"), "--config", node.config_path,
                            "--load-postcodes", csv_path], check=True, stdout=subprocess.DEVNULL)
            pg.psql("ANALYZE")
            if os.environ.get("BENCH_INDEX", "on") != "off" and not wait_index(node, agent, N):
                sys.exit("the directory index did not load every service")
            # Enough draws for the whole run at any rate this machine reaches.
            n_draws = int(SECONDS * 3000) + 1000
            fresh = {
                "filtered /services page": paths_file(node.dir, "filtered.txt",
                                                      lambda r: filtered_query(r, districts, words),
                                                      rng, n_draws),
                "proximity search": paths_file(node.dir, "proximity.txt",
                                               lambda r: proximity_query(r, pcs), rng, n_draws),
            }
            print(f"directory benchmark: {N} services loaded in {time.time() - t0:.0f} s, "
                  f"{len(postcodes)} postcodes, {CONNS} connections, {SECONDS:.0f} s a run, "
                  f"{DISTINCT} distinct queries a case, {os.cpu_count()} cores, load average "
                  f"{os.getloadavg()[0]:.1f}")
            print(f"[node] workers = {WORKERS}: {rss_line(node)} once loaded; the directory "
                  f"index counts {index_bytes(node, agent) / 1048576:.1f} MiB (one worker's)")
            print(f"search words: {len(words)} distinct (every word of 4+ letters in the "
                  f"services' names and descriptions), 1-2 a search, in 30% of the filtered "
                  f"queries; {repeat_rate(fresh['filtered /services page'][0]):.1f}% of the "
                  f"drawn filtered requests with a search repeat an earlier one's search "
                  f"string (the most a kept answer could serve)")
            # Every fresh query must be one the node answers: a 400 would be
            # fast and measure nothing.
            for label, (_, pool) in fresh.items():
                for u in rng.sample(pool, 20):
                    status, _, reply = api(node, agent, "GET", u)
                    if status != 200:
                        sys.exit(f"{u}: {status} {str(reply)[:300]}")
            print(f"{'query':24} {'run':16} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
                  f"{'p99 ms':>7} {'cache hits':>9}  {'CPU ms a reply: node':>6} / PG")
            notes = []
            for label, path in REPEATED.items():
                # The SQL the node runs for the repeated query, captured from
                # the statement log on its first request (the node keeps the
                # reply until the next store, view_cache.h).
                pg.psql("ALTER SYSTEM SET log_statement = 'all'")
                pg.psql("SELECT pg_reload_conf()")
                time.sleep(0.5)
                mark = os.path.getsize(os.path.join(pg.dir, "log"))
                since = os.path.getsize(node.log_path)
                status, _, reply = api(node, agent, "GET", path)
                if status != 200:
                    sys.exit(f"{path}: {status} {str(reply)[:300]}")
                time.sleep(0.5)
                first = server_times(node, "/oruk/services", since)
                sqls = captured_sqls(pg, mark)
                sql = sqls[-1] if sqls else None
                if not sql:
                    print(f"    (the SQL of {path} was not found in the statement log)")
                pg.psql("ALTER SYSTEM RESET log_statement")
                pg.psql("SELECT pg_reload_conf()")
                time.sleep(0.5)
                for one in sqls if os.environ.get("BENCH_EXPLAIN") else []:
                    for line in pg.psql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + one):
                        print("    " + line[0])
                row(label, "fresh (varied)", run_load(node, pg, agent, load_bin, "@" + fresh[label][0]))
                row(label, "same repeated", run_load(node, pg, agent, load_bin, path))
                ref = pgbench(pg, sql, SECONDS, node.dir) if sql else None
                one = pgbench(pg, sql, 3, node.dir, clients=1) if sql else None
                notes.append(f"{label}: the repeated query's first request (nothing kept): "
                             f"{first[0] if first else float('nan'):.1f} ms on the node; its SQL "
                             f"alone, pgbench: p95 {pct(ref, 95) if ref else float('nan'):.1f} ms "
                             f"({CONNS} clients), p50 {pct(one, 50) if one else float('nan'):.1f} ms "
                             f"(1 client)")
            for n in notes:
                print(n)
            print(f"trellisd: {rss_line(node)}; the directory index counts "
                  f"{index_bytes(node, agent) / 1048576:.1f} MiB a worker "
                  f"(trellis_dir_index_bytes)")
            print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        finally:
            node.close()
            pki.close()


if __name__ == "__main__":
    main()
