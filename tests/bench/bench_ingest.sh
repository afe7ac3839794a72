#!/usr/bin/env bash
# Ingest benchmark: POST /v1/records (batches of 1,000 pathway.referral
# records, 4 concurrent clients over mutual TLS: bench_ingest_post.c) against
# psql \copy of the same rows into the same table of the same database, side
# by side in one run. \copy runs twice: in one session, and split into as
# many parallel sessions as trellisd has clients (the machine's real ceiling
# for this table, the one the node's figure is compared with).
#   tests/bench/bench_ingest.sh            200,000 records
#   BENCH_RECORDS=1000000 tests/bench/bench_ingest.sh
#   BENCH_QUICK=1 tests/bench/bench_ingest.sh   a 20,000 record smoke run
#   BENCH_CLIENTS=4                   trellisd clients = parallel \copy sessions
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
. tests/bench/lib.sh # first: it sets work, node_pid and pgbin
records=${BENCH_RECORDS:-200000}
[[ -n "${BENCH_QUICK:-}" ]] && records=20000
clients=${BENCH_CLIENTS:-4}

./deploy/install-deps.sh
build=$root/build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
cc -O2 -Wall -o "$build/bench_ingest_post" tests/bench/bench_ingest_post.c -lssl -lcrypto -lpthread

work=$(mktemp -d /tmp/trellis-bench-ingest-XXXXXX)
chmod 755 "$work" # PostgreSQL runs as postgres when we are root
cleanup() {
    [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# One PostgreSQL cluster with default durability (fsync on) for both sides.
mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
pgport=$(free_port)
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nshared_buffers = 512MB\nmax_wal_size = 4GB\n" \
    "$pgport" "$work/pg" | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
psql() { command psql -X -q -h 127.0.0.1 -p "$pgport" -U trellis "$@"; }

# Server CPU, in clock ticks: the whole cluster and trellisd.
pg_ticks() { cluster_ticks "$work/pg/data"; }
node_ticks() { pid_ticks "$node_pid"; }
psql -d postgres -c "CREATE DATABASE trellis"

# PKI and node.
"$build/client/trellis" pki --dir "$work/pki" init-consortium >/dev/null
"$build/client/trellis" pki --dir "$work/pki" add-org bench >/dev/null
"$build/client/trellis" pki --dir "$work/pki" issue-node bench node --host 127.0.0.1 >/dev/null
"$build/client/trellis" pki --dir "$work/pki" issue-agent bench agent >/dev/null
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
CONF
"$build/server/trellisd" --config "$work/trellisd.conf" 2>"$work/trellisd.log" &
node_pid=$!
for _ in $(seq 100); do
    curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/bench/agents/agent.chain.crt" \
        --key "$work/pki/orgs/bench/agents/agent.key" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# The same rows for both: JSON batches for the node, CSV for \copy.
python3 "$root/tests/bench/bench_ingest_data.py" "$records" "$work"

curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/bench/agents/agent.chain.crt" \
    --key "$work/pki/orgs/bench/agents/agent.key" -H 'Content-Type: application/json' \
    --data-binary @"$work/services.json" "https://127.0.0.1:$port/v1/records" >/dev/null

echo "ingest benchmark: $records pathway.referral records, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

copy_in() { # CSV file
    psql -v ON_ERROR_STOP=1 -d trellis -c "\\copy pathway_referrals (id, origin, version, hash, seq, doc, from_service, to_service, week, needs, risk, age_band, district, route) FROM '$1' WITH (FORMAT csv)"
}
check_rows() { # what the table must hold
    local n
    n=$(psql -d trellis -tAc "SELECT count(*) FROM pathway_referrals")
    [[ $n -eq $1 ]] || { echo "\\copy stored $n of $1 rows"; exit 1; }
    # The pathway sums too (sql/009): facts left over from one run would
    # meet the same referrals in the next and change its work.
    psql -d trellis -c "TRUNCATE pathway_referrals, pathway_facts, pathway_org_weekly, pathway_service_weekly, pathway_reasons_weekly, pathway_days_weekly"
}

# \copy, one session.
start=$(date +%s.%N)
pg0=$(pg_ticks)
copy_in "$work/rows.csv"
end=$(date +%s.%N)
sleep 1 # the session's backend exits after psql does; let the postmaster reap it
copy_pg=$(($(pg_ticks) - pg0))
copy_rate=$(python3 -c "print(int($records / ($end - $start)))")
check_rows "$records"

# \copy, the same rows split into one part per trellisd client, each part in
# its own session, all started at once; timed until the last one finishes.
split -n "l/$clients" -d -a 3 "$work/rows.csv" "$work/part-"
start=$(date +%s.%N)
pg0=$(pg_ticks)
copy_pids=()
for part in "$work"/part-*; do
    copy_in "$part" &
    copy_pids+=($!)
done
for p in "${copy_pids[@]}"; do wait "$p"; done
end=$(date +%s.%N)
sleep 1
pcopy_pg=$(($(pg_ticks) - pg0))
pcopy_rate=$(python3 -c "print(int($records / ($end - $start)))")
check_rows "$records"

pg0=$(pg_ticks)
node0=$(node_ticks)
"$build/bench_ingest_post" "$work" "$port" "$clients" >"$work/post.out" || true
post_pg=$(($(pg_ticks) - pg0))
post_node=$(($(node_ticks) - node0))
post_rate=$(grep '^rate' "$work/post.out" | cut -d' ' -f2)
stored=$(psql -d trellis -tAc "SELECT count(*) FROM pathway_referrals")
[[ $stored -eq $records ]] || { echo "only $stored of $records records stored"; cat "$work/post.out"; exit 1; }

printf '%-52s %12s\n' "method" "records/s"
printf '%-52s %12s\n' "psql \\copy (one session, CSV)" "$copy_rate"
printf '%-52s %12s\n' "psql \\copy ($clients sessions in parallel, CSV)" "$pcopy_rate"
printf '%-52s %12s\n' "trellisd POST /v1/records ($clients clients, 1,000/batch)" "$post_rate"
python3 -c "print('%-52s %11.0f%%' % ('trellisd / parallel \\\\copy ($clients sessions)', 100.0 * $post_rate / $pcopy_rate))"
python3 -c "print('%-52s %11.0f%%' % ('trellisd / one-session \\\\copy', 100.0 * $post_rate / $copy_rate))"
grep '^latency' "$work/post.out" || true
echo "server CPU per record, microseconds (PostgreSQL + trellisd):"
printf '  %-50s %s + 0\n' "psql \\copy, one session" "$(us_per_record "$copy_pg")"
printf '  %-50s %s + 0\n' "psql \\copy, $clients sessions" "$(us_per_record "$pcopy_pg")"
printf '  %-50s %s + %s\n' "trellisd POST /v1/records" "$(us_per_record "$post_pg")" \
    "$(us_per_record "$post_node")"
