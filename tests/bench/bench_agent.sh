#!/usr/bin/env bash
# Agent benchmark: `trellis push` of a large referral export (CSV to `stored`
# on the node, through anonymisation and the SQLite spool), its peak RSS
# (/usr/bin/time -v) and rate, next to the node's own ingest rate measured by
# bench_ingest.sh in the same run.
#   tests/bench/bench_agent.sh                 1,000,000 rows
#   BENCH_ROWS=100000 tests/bench/bench_agent.sh
#   BENCH_SKIP_INGEST=1 ...                    the agent alone
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rows=${BENCH_ROWS:-1000000}

./deploy/install-deps.sh
build=${BENCH_BUILD_DIR:-$root/build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

ingest_rate=
if [[ -z "${BENCH_SKIP_INGEST:-}" ]]; then
    BENCH_RECORDS=$rows tests/bench/bench_ingest.sh | tee /tmp/trellis-bench-agent-ingest.$$
    ingest_rate=$(grep -F 'trellisd POST /v1/records' /tmp/trellis-bench-agent-ingest.$$ | awk '{print $NF}')
    rm -f /tmp/trellis-bench-agent-ingest.$$
fi

work=$(mktemp -d /tmp/trellis-bench-agent-XXXXXX)
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

# The same PostgreSQL and node set-up as bench_ingest.sh.
mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
pgport=$(free_port)
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nshared_buffers = 512MB\nmax_wal_size = 4GB\n" \
    "$pgport" "$work/pg" | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
psql() { command psql -X -q -h 127.0.0.1 -p "$pgport" -U trellis "$@"; }
psql -d postgres -c "CREATE DATABASE trellis"
trellis=$build/client/trellis
$trellis pki --dir "$work/pki" init-consortium >/dev/null
$trellis pki --dir "$work/pki" add-org bench >/dev/null
$trellis pki --dir "$work/pki" issue-node bench node --host 127.0.0.1 >/dev/null
$trellis pki --dir "$work/pki" issue-agent bench agent >/dev/null
port=$(free_port)
cat >"$work/trellisd.conf" <<CONF
[node]
listen = 127.0.0.1:$port
log_level = warn
$(grep -q "^;workers = " <("$build/server/trellisd" --print-example-config) && echo "workers = 1")
[tls]
cert = $work/pki/orgs/bench/nodes/node.chain.crt
key = $work/pki/orgs/bench/nodes/node.key
ca = $work/pki/ca.crt
crl = $work/pki/crl.pem
[database]
url = postgresql://trellis@127.0.0.1:$pgport/trellis
migrations = $root/sql
[limits]
max_batch_records = 1000
CONF
"$build/server/trellisd" --config "$work/trellisd.conf" 2>"$work/trellisd.log" &
node_pid=$!
$trellis agent init --dir "$work/agent" --node "https://127.0.0.1:$port" --ca "$work/pki/ca.crt" \
    --cert "$work/pki/orgs/bench/agents/agent.chain.crt" --key "$work/pki/orgs/bench/agents/agent.key" \
    --spool "$work/agent/spool" --secret "$work/agent/secret" --batch 1000 >/dev/null
for _ in $(seq 100); do
    $trellis agent status --config "$work/agent/agent.conf" >/dev/null 2>&1 && break
    sleep 0.1
done

# A referral must leave from one of its origin's own directory services
# (not_your_service otherwise): publish them first from the example services
# spreadsheet, whose Trellis IDs are the ones referrals.map names.
$trellis push --config "$work/agent/agent.conf" --quiet --mapping deploy/examples/directory.map \
    deploy/examples/services.csv >/dev/null
python3 tests/bench/bench_agent_data.py "$rows" "$work/export.csv"
echo "agent benchmark: $rows-row referral CSV ($(du -h "$work/export.csv" | cut -f1)), $(nproc) cores"
# One push, CSV to stored; then the same split in its two phases (spooling
# with the node out of reach, then `trellis sync`), to show where time goes.
/usr/bin/time -v -o "$work/time.txt" $trellis push --config "$work/agent/agent.conf" --quiet \
    --mapping deploy/examples/referrals.map "$work/export.csv" >"$work/push.out" 2>"$work/push.err" || {
    cat "$work/push.out" "$work/push.err"; exit 1; }
stored=$(psql -d trellis -tAc "SELECT count(*) FROM pathway_referrals")
[[ $stored -eq $rows ]] || { echo "only $stored of $rows records stored"; exit 1; }
wall() { grep 'Elapsed (wall clock)' "$1" | awk '{print $NF}' | awk -F: '{ if (NF == 3) print $1*3600+$2*60+$3; else print $1*60+$2 }'; }
cpu() { grep -E 'User time|System time' "$1" | awk '{s += $NF} END {print s}'; }
maxrss() { grep 'Maximum resident set size' "$1" | awk '{print $NF}'; }
secs=$(wall "$work/time.txt")
rss=$(maxrss "$work/time.txt")
rate=$(python3 -c "print(int($rows / $secs))")
psql -d trellis -c "TRUNCATE pathway_referrals, pathway_events" >/dev/null
rm -rf "$work/agent/spool"
/usr/bin/time -v -o "$work/time1.txt" $trellis push --config "$work/agent/agent.conf" --quiet \
    --node https://127.0.0.1:1 --retry-for 0 --mapping deploy/examples/referrals.map \
    "$work/export.csv" >/dev/null 2>&1 || true
/usr/bin/time -v -o "$work/time2.txt" $trellis sync --config "$work/agent/agent.conf" --quiet \
    >/dev/null 2>"$work/sync.err" || { cat "$work/sync.err"; exit 1; }
printf '%-44s %12s\n' "trellis push (CSV to stored, 1 process)" "$rate records/s"
printf '%-44s %12s\n' "  wall / agent CPU" "${secs} s / $(cpu "$work/time.txt") s"
printf '%-44s %12s\n' "  peak RSS" "$((rss / 1024)) MiB ($rss KiB)"
printf '%-44s %12s\n' "  read, anonymise, spool: wall / CPU / RSS" "$(wall "$work/time1.txt") s / $(cpu "$work/time1.txt") s / $(maxrss "$work/time1.txt") KiB"
printf '%-44s %12s\n' "  send the spool: wall / CPU / RSS" "$(wall "$work/time2.txt") s / $(cpu "$work/time2.txt") s / $(maxrss "$work/time2.txt") KiB"
if [[ -n "$ingest_rate" ]]; then
    python3 -c "print('%-44s %11.0f%%' % ('trellis push / trellisd POST', 100.0 * $rate / $ingest_rate))"
fi
