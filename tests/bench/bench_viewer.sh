#!/usr/bin/env bash
# Viewer benchmark (issue 9): 10,000 directory services and 1,000,000
# pathway referrals (with their ~2.3 million events) in a throwaway cluster,
# then 20 concurrent connections on
#   - the pathways page of a one-year period (/viewer/pathways?from=2026-W01&to=2026-W52),
#   - the directory search page ($BENCH_DIRECTORY_PATH),
# each for BENCH_SECONDS, p50/p95/p99 of the time to the whole reply; and the
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

./deploy/install-deps.sh >/dev/null
build=$root/build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null

work=$(mktemp -d /tmp/trellis-bench-viewer-XXXXXX)
chmod 755 "$work"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
node_pid=
cleanup() {
    [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
pgport=$(free_port)
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nshared_buffers = 1GB\nmax_wal_size = 8GB\nwork_mem = 32MB\nmaintenance_work_mem = 512MB\n" \
    "$pgport" "$work/pg" | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
psql() { command psql -X -q -h 127.0.0.1 -p "$pgport" -U trellis "$@"; }
psql -d postgres -c "CREATE DATABASE trellis"

"$build/client/trellis" pki --dir "$work/pki" init-consortium >/dev/null
"$build/client/trellis" pki --dir "$work/pki" add-org member-00 >/dev/null
"$build/client/trellis" pki --dir "$work/pki" issue-node member-00 node --host 127.0.0.1 >/dev/null
"$build/client/trellis" pki --dir "$work/pki" issue-agent member-00 agent >/dev/null
port=$(free_port)
vport=$(free_port)
# The viewer listener, where this build has one ([viewer] listen).
viewer=
if "$build/server/trellisd" --print-example-config |
    awk '/^\[viewer\]/{v=1; next} /^\[/{v=0} v && /^;?listen =/{found=1} END{exit !found}'; then
    viewer="[viewer]
listen = 127.0.0.1:$vport"
fi
cat >"$work/trellisd.conf" <<CONF
[node]
listen = 127.0.0.1:$port
log_level = warn
$(grep -q "^;workers = " <("$build/server/trellisd" --print-example-config) && echo "workers = 1")
[tls]
cert = $work/pki/orgs/member-00/nodes/node.chain.crt
key = $work/pki/orgs/member-00/nodes/node.key
ca = $work/pki/ca.crt
crl = $work/pki/crl.pem
[database]
url = postgresql://trellis@127.0.0.1:$pgport/trellis
pool_size = 8
migrations = $root/sql
$viewer
CONF
"$build/server/trellisd" --config "$work/trellisd.conf" 2>"$work/trellisd.log" &
node_pid=$!
for _ in $(seq 100); do
    curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/member-00/agents/agent.chain.crt" \
        --key "$work/pki/orgs/member-00/agents/agent.key" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

echo "viewer benchmark: $services services, $referrals referrals, $conns connections, ${secs}s each; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
start=$(date +%s)
python3 "$root/tests/bench/bench_viewer_data.py" "$services" "$work/services.csv"
psql -d trellis -c "CREATE TABLE bench_services (id uuid, origin text, doc jsonb)" \
    -c "\\copy bench_services FROM '$work/services.csv' WITH (FORMAT csv)"
psql -d trellis -v referrals="$referrals" -f "$root/tests/bench/bench_viewer_load.sql" >/dev/null
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
{
    echo "PREPARE page(text, text, text, text) AS $(cat "$work/page.sql");"
    echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE page('2026-W01', '2026-W52', NULL, NULL);"
} >"$work/explain.sql"
echo "--- EXPLAIN ANALYZE of the pathways page's query, one year"
psql -d trellis -f "$work/explain.sql"
{
    echo "\\set x 1"
    sed -e "s/\\\$1/'2026-W01'/g; s/\\\$2/'2026-W52'/g; s/\\\$3::text/NULL::text/g; s/\\\$4::text/NULL::text/g" "$work/page.sql"
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
echo "--- HTTP: the viewer's pages, $conns connections, ${secs}s each"
python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "/viewer/pathways?$period" "$conns" 3 >/dev/null
python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "/viewer/pathways?$period" "$conns" "$secs"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$vport$dir_path")
if [[ $code == 200 ]]; then
    python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "$dir_path" "$conns" 3 >/dev/null
    python3 "$root/tests/bench/bench_viewer_http.py" "$vport" "$dir_path" "$conns" "$secs"
else
    echo "directory search page $dir_path: HTTP $code (not in this build): no figure"
fi
