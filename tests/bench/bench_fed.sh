#!/usr/bin/env bash
# Federation benchmark, side by side in one run on this machine:
#   bootstrap: N pathway records on node A; a new node B pulls them all,
#              next to PostgreSQL's logical replication copying the same table
#              between the same two clusters (initial sync) and psql \copy;
#   streaming: A takes the same rows in INSERT batches of 1,000 while both B
#              (through trellisd) and a logical-replication subscriber catch up.
#   tests/bench/bench_fed.sh                 1,000,000 records
#   BENCH_RECORDS=200000 tests/bench/bench_fed.sh
#   BENCH_QUICK=1 tests/bench/bench_fed.sh   20,000 records, a smoke run
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
records=${BENCH_RECORDS:-1000000}
[[ -n "${BENCH_QUICK:-}" ]] && records=20000
stream=$((records / 10))

./deploy/install-deps.sh
build=$root/build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
trellis=$build/client/trellis

work=$(mktemp -d /tmp/trellis-bench-fed-XXXXXX)
chmod 755 "$work" # PostgreSQL runs as postgres when we are root
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for c in a b; do as_pg "$pgbin/pg_ctl" -D "$work/pg-$c/data" -m immediate -w stop >/dev/null 2>&1 || true; done
    rm -rf "$work"
}
trap cleanup EXIT

declare -A pgport
for c in a b; do
    mkdir -p "$work/pg-$c"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg-$c"
    as_pg "$pgbin/initdb" -D "$work/pg-$c/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
    pgport[$c]=$(free_port)
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nshared_buffers = 512MB\nmax_wal_size = 4GB\nwal_level = logical\n" \
        "${pgport[$c]}" "$work/pg-$c" | as_pg tee -a "$work/pg-$c/data/postgresql.conf" >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$work/pg-$c/data" -l "$work/pg-$c/log" -w start >/dev/null
done
psql_a() { command psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${pgport[a]}" -U trellis "$@"; }
psql_b() { command psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "${pgport[b]}" -U trellis "$@"; }
psql_a -d postgres -c "CREATE DATABASE trellis"
psql_b -d postgres -c "CREATE DATABASE trellis"
psql_b -d postgres -c "CREATE DATABASE lr"
for f in "$root"/sql/*.sql; do psql_b -d lr -f "$f" >/dev/null; done

"$trellis" pki --dir "$work/pki" init-consortium >/dev/null
for org in bench-a bench-b; do
    "$trellis" pki --dir "$work/pki" add-org $org >/dev/null
    "$trellis" pki --dir "$work/pki" issue-node $org node --host 127.0.0.1 >/dev/null
    "$trellis" pki --dir "$work/pki" issue-agent $org agent >/dev/null
done
declare -A port=([a]=$(free_port) [b]=$(free_port))
node_conf() { # NODE ORG PEER PEER_ORG
    cat <<CONF
[node]
listen = 127.0.0.1:${port[$1]}
log_level = warn
[tls]
cert = $work/pki/orgs/$2/nodes/node.chain.crt
key = $work/pki/orgs/$2/nodes/node.key
ca = $work/pki/ca.crt
crl = $work/pki/crl.pem
[database]
url = postgresql://trellis@127.0.0.1:${pgport[$1]}/trellis
migrations = $root/sql
[peer $3]
url = https://127.0.0.1:${port[$3]}
org = $4
share = all
CONF
}
node_conf a bench-a b bench-b >"$work/a.conf"
node_conf b bench-b a bench-a >"$work/b.conf"
start_node() {
    "$build/server/trellisd" --config "$work/$1.conf" 2>>"$work/$1.log" &
    pids+=($!)
    local org=bench-$1
    for _ in $(seq 100); do
        curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/$org/agents/agent.chain.crt" \
            --key "$work/pki/orgs/$org/agents/agent.key" "https://127.0.0.1:${port[$1]}/readyz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "node $1 not ready"; cat "$work/$1.log"; exit 1
}
# Seconds from START until DB holds WANT rows. One session polls, inside the
# server, for the last row expected (an index lookup every 10 ms: a psql
# started that often, or a count(*) of the growing table, would itself take
# a good part of the machine from both sides), then counts once. Both sides
# apply in order, in whole transactions: when the last row is there, so is
# everything before it.
wait_until() { # PSQL_FN DB LAST_ID WANT START
    $1 -d "$2" -c "DO \$\$ BEGIN
        WHILE NOT EXISTS (SELECT 1 FROM pathway_referrals WHERE id = '$3') LOOP
            PERFORM pg_sleep(0.01);
        END LOOP; END \$\$"
    local at; at=$(now)
    while :; do
        local n; n=$($1 -d "$2" -tAc "SELECT count(*) FROM pathway_referrals")
        [[ $n -ge $4 ]] && break
        sleep 0.5
        at=$(now)
    done
    python3 -c "print($at - $5)"
}

echo "federation benchmark: $records records (stream $stream), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# A's records: generated rows for bench-a, loaded into A's own table.
start_node a
python3 "$root/tests/bench/bench_ingest_data.py" "$((records + stream))" "$work" bench-a
head -n "$records" "$work/rows.csv" >"$work/boot.csv"
tail -n "$stream" "$work/rows.csv" >"$work/stream.csv"
boot_last=$(tail -n 1 "$work/boot.csv" | cut -d, -f1)
stream_last=$(tail -n 1 "$work/stream.csv" | cut -d, -f1)
start=$(now)
psql_a -d trellis -c "\\copy pathway_referrals (id, origin, version, hash, seq, doc, from_service, to_service, week, needs, risk, age_band, district, route) FROM '$work/boot.csv' WITH (FORMAT csv)"
copy_s=$(python3 -c "print($(now) - $start)")
psql_a -d trellis -c "SELECT setval('trellis_change_seq', (SELECT max(seq) FROM pathway_referrals))" >/dev/null

# Bootstrap: B pulls everything from A.
start=$(now)
start_node b
boot_s=$(wait_until psql_b trellis "$boot_last" "$records" "$start")

# Logical replication's initial sync of the same table between the same clusters.
psql_a -d trellis -c "CREATE PUBLICATION bench FOR TABLE pathway_referrals"
start=$(now)
psql_b -d lr -c "CREATE SUBSCRIPTION bench CONNECTION 'host=127.0.0.1 port=${pgport[a]} dbname=trellis user=trellis' PUBLICATION bench"
lr_boot_s=$(wait_until psql_b lr "$boot_last" "$records" "$start")

# Streaming: the same rows inserted on A in batches of 1,000; both catch up.
python3 - "$work/stream.csv" "$work/stream.sql" <<'PY'
import csv, sys
def q(v):
    return "'" + v.replace("'", "''") + "'"
rows = list(csv.reader(open(sys.argv[1])))
with open(sys.argv[2], "w") as out:
    for i in range(0, len(rows), 1000):
        vals = ",".join("(" + ",".join(q(v) for v in r) + ")" for r in rows[i:i + 1000])
        out.write("INSERT INTO pathway_referrals (id, origin, version, hash, seq, doc, from_service,"
                  " to_service, week, needs, risk, age_band, district, route) VALUES %s;\n" % vals)
PY
start=$(now)
psql_a -d trellis -f "$work/stream.sql" >/dev/null
insert_s=$(python3 -c "print($(now) - $start)")
psql_a -d trellis -c "SELECT setval('trellis_change_seq', (SELECT max(seq) FROM pathway_referrals))" >/dev/null
# Wake A's long-polls: rows written straight into the table skip trellis_store's NOTIFY.
psql_a -d trellis -c "NOTIFY trellis_changes" >/dev/null
total=$((records + stream))
b_stream_s=$(wait_until psql_b trellis "$stream_last" "$total" "$start")
lr_stream_s=$(wait_until psql_b lr "$stream_last" "$total" "$start")

rate() { python3 -c "print(int($1 / max($2, 1e-9)))"; }
printf '\n%-58s %12s\n' "measure" "records/s"
printf '%-58s %12s\n' "psql \\copy into A (reference)" "$(rate "$records" "$copy_s")"
printf '%-58s %12s\n' "logical replication, initial sync A -> B" "$(rate "$records" "$lr_boot_s")"
printf '%-58s %12s\n' "trellisd B bootstrap from A (verify, apply, cursor)" "$(rate "$records" "$boot_s")"
printf '%-58s %12s\n' "A takes the stream (INSERT, 1,000 per statement)" "$(rate "$stream" "$insert_s")"
printf '%-58s %12s\n' "logical replication, stream caught up (from stream start)" "$(rate "$stream" "$lr_stream_s")"
printf '%-58s %12s\n' "trellisd B, stream caught up (from stream start)" "$(rate "$stream" "$b_stream_s")"
python3 -c "print('%-58s %11.0f%%' % ('trellisd bootstrap / logical replication initial sync', 100.0 * $lr_boot_s / $boot_s))"
