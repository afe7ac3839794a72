#!/usr/bin/env bash
# Viewer benchmark (issue 9): 10,000 directory services and 1,000,000
# pathway referrals (with their ~2.3 million events) in a throwaway cluster,
# then 20 concurrent connections on
#   - the pathways page of a one-year period (/viewer/pathways?from=2026-W01&to=2026-W52),
#   - the directory search page: fresh (varied) queries, each request drawn
#     from 5,000 distinct searches (words, need, district, gender, age,
#     taking referrals, page), with the reply cache's hit rate from
#     /metrics: the row a target is judged on; then the same query repeated
#     ($BENCH_DIRECTORY_PATH), which after its first reply measures the cache,
#   - the pathways page fresh (varied): one-year periods and pairs of
#     organisations not asked before, as a page is met right after a store,
# each for BENCH_SECONDS, p50/p95/p99 of the time to the whole reply and of
# the node's own time per reply (its request log), after the time of the
# first (uncached) reply; and the
# pathways page's query alone through pgbench (20 clients, prepared), with
# its EXPLAIN ANALYZE. Figures and plans go to docs/benchmarks.md by hand.
#   tests/bench/bench_viewer.sh
#   BENCH_REFERRALS=100000 BENCH_SECONDS=10 tests/bench/bench_viewer.sh   a quick run
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
referrals=${BENCH_REFERRALS:-1000000}
services=${BENCH_SERVICES:-10000}
secs=${BENCH_SECONDS:-30}
conns=${BENCH_CONNS:-20}
dir_path=${BENCH_DIRECTORY_PATH:-/viewer/directory?search=refuge}
period="from=2026-W01&to=2026-W52"

. tests/bench/lib.sh
bench_build
bench_work viewer
bench_cluster "shared_buffers = 1GB" "max_wal_size = 8GB" "work_mem = 32MB" \
    "maintenance_work_mem = 512MB"
bench_pki member-00
vport=$(free_port)
# The viewer listener, where this build has one ([viewer] listen); info
# logs every view with the node's own time ("ms"), the server time p95.
viewer=
if "$build/server/trellisd" --print-example-config |
    awk '/^\[viewer\]/{v=1; next} /^\[/{v=0} v && /^;?listen =/{found=1} END{exit !found}'; then
    viewer="[viewer]
listen = 127.0.0.1:$vport"
fi
log_level=info bench_node member-00 "[database]
pool_size = 8
$viewer"

echo "viewer benchmark: $services services, $referrals referrals, $conns connections, ${secs}s each; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
start=$(date +%s)
# A kept cluster (BENCH_KEEP) holding this data already is used as it is;
# the node has applied this build's migrations and functions to it.
if bench_reused && [[ $(cat "$work/loaded" 2>/dev/null) == "$services $referrals" ]]; then
    echo "data kept from an earlier run ($BENCH_KEEP)"
else
    [[ ! -f $work/loaded ]] || { echo "BENCH_KEEP holds other data: $(cat "$work/loaded")" >&2; exit 1; }
    python3 "$root/tests/bench/bench_viewer_data.py" "$services" "$work/services.csv"
    psql -d trellis -c "CREATE TABLE bench_services (id uuid, origin text, doc jsonb)" \
        -c "\\copy bench_services FROM '$work/services.csv' WITH (FORMAT csv)"
    psql -d trellis -v referrals="$referrals" -f "$root/tests/bench/bench_viewer_load.sql" >/dev/null
    echo "$services $referrals" >"$work/loaded"
fi
echo "loaded in $(( $(date +%s) - start ))s: $(psql -d trellis -tAc "SELECT (SELECT count(*) FROM directory_services) || ' services, ' || (SELECT count(*) FROM pathway_referrals) || ' referrals, ' || (SELECT count(*) FROM pathway_events) || ' events, ' || (SELECT count(*) FROM pathway_org_weekly) || ' organisation-week rows, ' || (SELECT count(*) FROM pathway_service_weekly) || ' service-pair-week rows'")"

# The page's query, as server/view_pathways.c sends it.
python3 - "$root/server/view_pathways.c" "$work/page.sql" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
body = src[src.index("PATHWAYS_SQL[] ="):]
body = body[:body.index(";\n")]
sql = "".join(bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\]|\\.)*)"', body))
open(sys.argv[2], "w").write(sql)
PY
# Its plan, with the plans of the statements inside its functions
# (auto_explain, to the client), after one run for warm buffers.
{
    echo "PREPARE page(text, text, text, text) AS $(cat "$work/page.sql");"
    echo "EXECUTE page('2026-W01', '2026-W52', NULL, NULL) \\g /dev/null"
    echo "LOAD 'auto_explain';"
    echo "SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on;"
    echo "SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on;"
    echo "SET auto_explain.log_level = notice; SET client_min_messages = notice;"
    echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE page('2026-W01', '2026-W52', NULL, NULL);"
} >"$work/explain.sql"
echo "--- EXPLAIN ANALYZE of the pathways page's query, one year"
psql -d trellis -f "$work/explain.sql" 2>&1
echo "--- its parts, one year"
psql -d trellis -v from=2026-W01 -v to=2026-W52 -f "$root/tests/bench/bench_viewer_parts.sql" 2>&1
{
    echo "\\set x 1"
    sed -E "s/\\\$1/'2026-W01'/g; s/\\\$2/'2026-W52'/g; s/\\\$([34])(::text)?/NULL::text/g" "$work/page.sql"
    echo ";"
} >"$work/pgbench.sql"
echo "--- pgbench: the pathways query alone, $conns clients, ${secs}s"
(cd "$work" && pgbench -n -h 127.0.0.1 -p "$pgport" -U trellis -c "$conns" -j 2 -T "$secs" \
    -f pgbench.sql -l --log-prefix=pgb trellis 2>&1 | grep -E "tps|latency average|transactions")
cat "$work"/pgb.* | python3 -c '
import sys
lat = sorted(int(l.split()[2]) / 1000.0 for l in sys.stdin if l.strip())
p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
print("pgbench latency ms: p50 %.1f  p95 %.1f  p99 %.1f  (%d queries)" % (p(.5), p(.95), p(.99), len(lat)))'

if [[ -z $viewer ]]; then
    echo "--- this build has no viewer listener ([viewer] listen): no HTTP figures"
    exit 0
fi
# The node's own time per reply (its request log's "ms": arrival to reply)
# for PATH's requests logged after byte OFFSET of the log.
server_times() {
    tail -c +"$(($2 + 1))" "$work/trellisd.log" | python3 -c '
import json, sys
path = sys.argv[1]
ms = []
for line in sys.stdin:
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    if ev.get("path") == path and ev.get("status") == 200 and "ms" in ev:
        ms.append(ev["ms"])
ms.sort()
p = lambda q: ms[min(len(ms) - 1, int(len(ms) * q))]
open(sys.argv[2], "w").write("%d\n" % len(ms))
if ms:
    print("  server time ms: p50 %.2f  p95 %.2f  p99 %.2f  (%d replies)" % (p(.5), p(.95), p(.99), len(ms)))' "$1" "$work/replies"
}
# One page: its first reply (nothing kept yet: the query and the rendering),
# then CONNS connections for BENCH_SECONDS.
page_bench() {
    local path=$1 code
    code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' "http://127.0.0.1:$vport$path")
    echo "$path: first reply (uncached) HTTP ${code% *} in ${code#* } s"
    [[ ${code% *} == 200 ]] || return 0
    python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "$path" "$conns" 3 >/dev/null
    local off
    off=$(stat -c %s "$work/trellisd.log")
    python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "$path" "$conns" "$secs"
    server_times "${path%%\?*}" "$off"
}
echo "--- HTTP: the viewer's pages, $conns connections, ${secs}s each; load average $(cut -d' ' -f1-3 /proc/loadavg)"
page_bench "/viewer/pathways?$period"
page_bench "$dir_path"
# The directory as caseworkers use it: different searches for different
# people. 5,000 distinct queries; each request draws one at random.
# The services' words (a kept cluster may have no CSV left: from the table).
[[ -f $work/services.csv ]] ||
    psql -d trellis -c "\\copy (SELECT id, origin, doc FROM directory_services) TO '$work/services.csv' WITH (FORMAT csv)" >/dev/null
python3 - "$work/dir_paths.txt" "$work/services.csv" <<'PY'
import csv, json, random, sys
from urllib.parse import quote_plus
sys.path.insert(0, "deploy")
sys.path.insert(0, "tests/bench")
import sample_data as sd
import bench_vocab
rng = random.Random("bench-viewer-paths")
# Every word of 4+ letters in the services' names and descriptions (a few
# hundred): a search string recurs only by chance, and the node's kept
# answers cannot hide what a fresh search costs.
with open(sys.argv[2], newline="") as f:
    words = bench_vocab.searchable(json.loads(row[2])["body"]["name"] + " "
                                   + json.loads(row[2])["body"].get("description", "")
                                   for row in csv.reader(f))
print(f"directory searches draw from {len(words)} words")
districts = [f"LS{i}" for i in range(1, 30)] + [f"BD{i}" for i in range(1, 23)] + \
    ["E08000035", "E08000032", "E08000033", "E08000034", "E08000036"]
seen = set()
while len(seen) < 5000:
    p = []
    if rng.random() < 0.5:
        p.append("search=" + quote_plus(" ".join(rng.sample(words, rng.randint(1, 2)))))
    if rng.random() < 0.7:
        p.append("need=" + rng.choice(sd.NEEDS))
    if rng.random() < 0.4:
        p.append("district=" + rng.choice(districts))
    if rng.random() < 0.5:
        p.append("for_gender=" + rng.choice(["women", "men", "non_binary"]))
    if rng.random() < 0.4:
        p.append(f"age={rng.randint(14, 80)}")
    if rng.random() < 0.5:
        p.append("taking_referrals=true")
    if rng.random() < 0.15:
        p.append(f"page={rng.randint(2, 4)}")
    seen.add("/viewer/directory?" + "&".join(p))
with open(sys.argv[1], "w") as f:
    f.write("\n".join(sorted(seen)) + "\n")
searches = [p.split("search=")[1].split("&")[0] for p in seen if "search=" in p]
print(f"{len(searches)} of the {len(seen)} queries search, with {len(set(searches))} distinct "
      f"search strings")
PY
# CPU time used so far, in ms: the node's, and the cluster's (the postmaster,
# its live children, and the children it has reaped).
cpu_ms() {
    python3 - "$node_pid" "$(head -1 "$work/pg/data/postmaster.pid")" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
def ms(pid, reaped=False):
    try:
        s = stat(pid)
    except OSError:
        return 0
    t = int(s[11]) + int(s[12]) + (int(s[13]) + int(s[14]) if reaped else 0)
    return t * 1000 // hz
node, pm = sys.argv[1], sys.argv[2]
kids = 0
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if stat(p)[1] == pm:
            kids += ms(p)
    except OSError:
        pass  # gone meanwhile
print(ms(node), ms(pm, True) + kids)
PY
}
cache_counts() {
    bench_curl member-00 "https://127.0.0.1:$port/metrics" |
        awk '/^trellis_view_cache_(hits|misses)_total /{printf "%s ", $2}'
}
echo "/viewer/directory, fresh (varied): 5,000 distinct queries, drawn at random; load average $(cut -d' ' -f1-3 /proc/loadavg)"
read -r h0 m0 <<<"$(cache_counts)"
off=$(stat -c %s "$work/trellisd.log")
read -r n0 p0 <<<"$(cpu_ms)"
python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "@$work/dir_paths.txt" "$conns" "$secs"
read -r n1 p1 <<<"$(cpu_ms)"
server_times /viewer/directory "$off"
# The CPU a page costs: on a shared machine the times move with the other
# work, the CPU per page much less.
awk -v n=$((n1 - n0)) -v p=$((p1 - p0)) -v r="$(cat "$work/replies")" 'BEGIN {
    r = r > 0 ? r : 1
    printf "  CPU a page: node %.2f ms, PostgreSQL %.2f ms (%d pages)\n", n / r, p / r, r }'
read -r h1 m1 <<<"$(cache_counts)"
echo "  reply cache: $((h1 - h0)) hits, $((m1 - m0)) misses ($(( (h1 - h0) * 100 / (h1 - h0 + m1 - m0 + 1) ))% hits)"
# The pathways page as it is met right after a store: nothing kept. Every
# request a one-year period not asked before (52 weeks starting anywhere in
# 2025-2026, so each is cut differently into blocks and edge weeks) and a
# pair of organisations: 93,600 distinct pages, drawn at random.
python3 - "$work/pw_paths.txt" <<'PY'
import datetime, random, sys
rng = random.Random("bench-viewer-pathways")
orgs = ["member-%02d" % k for k in range(30)]
def week(d):
    y, w, _ = d.isocalendar()
    return "%d-W%02d" % (y, w)
monday = datetime.date.fromisocalendar(2025, 1, 1)
paths = []
for start in range(104):
    f = monday + datetime.timedelta(weeks=start)
    for a in orgs:
        for b in orgs:
            paths.append("/viewer/pathways?from=%s&to=%s&from_org=%s&to_org=%s"
                         % (week(f), week(f + datetime.timedelta(weeks=51)), a, b))
rng.shuffle(paths)
with open(sys.argv[1], "w") as out:
    out.write("\n".join(paths) + "\n")
PY
echo "/viewer/pathways, fresh (varied): one-year periods and pairs not asked before, drawn at random; load average $(cut -d' ' -f1-3 /proc/loadavg)"
read -r h0 m0 <<<"$(cache_counts)"
off=$(stat -c %s "$work/trellisd.log")
read -r n0 p0 <<<"$(cpu_ms)"
python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "@$work/pw_paths.txt" "$conns" "$secs"
read -r n1 p1 <<<"$(cpu_ms)"
server_times /viewer/pathways "$off"
pages=$(cat "$work/replies")
echo "  CPU: node $((n1 - n0)) ms, PostgreSQL $((p1 - p0)) ms for $pages pages:" \
    "$(( (n1 - n0 + p1 - p0) / (pages > 0 ? pages : 1) )) ms a page" \
    "(node $(( (n1 - n0) / (pages > 0 ? pages : 1) )), PostgreSQL $(( (p1 - p0) / (pages > 0 ? pages : 1) )))"
read -r h1 m1 <<<"$(cache_counts)"
echo "  reply cache: $((h1 - h0)) hits, $((m1 - m0)) misses ($(( (h1 - h0) * 100 / (h1 - h0 + m1 - m0 + 1) ))% hits)"
