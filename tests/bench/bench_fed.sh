#!/usr/bin/env bash
# Federation benchmark, side by side in one run on this machine:
#   bootstrap: N pathway records on node A, taken through its API as real
#              agents send them (POST /v1/records with A's agent certificate,
#              so A signs each with its audience and signed_at); a new node B
#              pulls them all (validating each, its audience and its
#              signature, as it checks every record it pulls),
#              next to PostgreSQL's logical replication copying the same
#              table, the same signed rows, between the same two clusters
#              (initial sync) and psql \copy of those rows;
#   streaming: A takes N/10 more records through its API while both B
#              (through trellisd) and a logical-replication subscriber catch
#              up, both waited for at once from the same start, so either may
#              come out ahead.
#   tests/bench/bench_fed.sh                 1,000,000 records
#   BENCH_RECORDS=200000 tests/bench/bench_fed.sh
#   BENCH_QUICK=1 tests/bench/bench_fed.sh   20,000 records, a smoke run
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
. tests/bench/lib.sh # first: it sets work, node_pid and pgbin
records=${BENCH_RECORDS:-1000000}
[[ -n "${BENCH_QUICK:-}" ]] && records=20000
stream=$((records / 10))

./deploy/install-deps.sh
build=$root/build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
trellis=$build/client/trellis
cc -O2 -Wall -o "$build/bench_ingest_post" tests/bench/bench_ingest_post.c -lssl -lcrypto -lpthread
clients=${BENCH_CLIENTS:-4}            # A's agents posting at once
timeout_s=${BENCH_TIMEOUT:-3600}       # give up waiting for a side after this

work=$(mktemp -d /tmp/trellis-bench-fed-XXXXXX)
chmod 755 "$work" # PostgreSQL runs as postgres when we are root
now() { date +%s.%N; }
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    # the clusters first: a waiter's psql ends with its server
    for c in a b; do as_pg "$pgbin/pg_ctl" -D "$work/pg-$c/data" -m immediate -w stop >/dev/null 2>&1 || true; done
    wait 2>/dev/null || true
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
psql_a -d postgres -c "CREATE DATABASE copyref"
for f in "$root"/sql/*.sql; do psql_a -d copyref -f "$f" >/dev/null; done
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
$(grep -q "^;workers = " <("$build/server/trellisd" --print-example-config) && echo "workers = 1")
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
unset node_pid # lib.sh made it a scalar
declare -A node_pid
start_node() {
    "$build/server/trellisd" --config "$work/$1.conf" 2>>"$work/$1.log" &
    pids+=($!)
    node_pid[$1]=$!
    local org=bench-$1
    for _ in $(seq 100); do
        curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/$org/agents/agent.chain.crt" \
            --key "$work/pki/orgs/$org/agents/agent.key" "https://127.0.0.1:${port[$1]}/readyz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "node $1 not ready"; cat "$work/$1.log"; exit 1
}
# Seconds from START until DB holds WANT rows. One session polls, inside the
# server, for the marker: a record A took alone, after every other one had
# been committed (an index lookup every 10 ms: a psql started that often, or
# a count(*) of the growing table, would itself take a good part of the
# machine from both sides), then counts once. Both sides apply in order, in
# whole transactions (logical replication in A's commit order, trellisd in
# A's sequence order): when the marker is there, so is everything before it.
wait_until() { # PSQL_FN DB MARKER_ID WANT START
    $1 -d "$2" -c "DO \$\$ DECLARE deadline timestamptz := clock_timestamp() + interval '$timeout_s s';
        BEGIN
        WHILE NOT EXISTS (SELECT 1 FROM pathway_referrals WHERE id = '$3') LOOP
            IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'marker not there after $timeout_s s'; END IF;
            PERFORM pg_sleep(0.01);
        END LOOP; END \$\$" >&2
    local at; at=$(now)
    while :; do
        local n; n=$($1 -d "$2" -tAc "SELECT count(*) FROM pathway_referrals")
        [[ $n -ge $4 ]] && break
        sleep 0.5
        at=$(now)
    done
    python3 -c "print($at - $5)"
}

# CPU, in clock ticks, of a node's trellisd and of its whole cluster.
node_ticks() { pid_ticks "${node_pid[$1]}"; }
pg_ticks() { cluster_ticks "$work/pg-$1/data"; }

echo "federation benchmark: $records records (stream $stream), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

# A's records: generated referrals between A's own 50 services (published
# first: a referral leaves from a service of its origin), regrouped into the
# bootstrap's and the stream's batches of 1,000; the last record of each set
# is held back as its marker, posted alone once the rest is committed.
start_node a
python3 "$root/tests/bench/bench_ingest_data.py" "$((records + stream))" "$work" bench-a
python3 - "$work" "$records" <<'PY'
import glob, json, os, sys
work, n = sys.argv[1], int(sys.argv[2])
def records():  # file by file: a million records at once would take gigabytes
    for f in sorted(glob.glob(os.path.join(work, "batches", "*.json"))):
        yield from json.load(open(f))["records"]
def write(name, batch, i):
    with open(os.path.join(work, "batches-" + name, "%06d.json" % i), "w") as f:
        json.dump({"records": batch}, f, separators=(",", ":"))
def split(name, recs):  # all but the last in batches of 1,000; the last, alone
    os.makedirs(os.path.join(work, "batches-" + name))
    batch, i, last = [], 0, None
    for r in recs:
        if last is not None:
            batch.append(last)
            if len(batch) == 1000:
                write(name, batch, i)
                batch, i = [], i + 1
        last = r
    if batch:
        write(name, batch, i)
    with open(os.path.join(work, "marker-%s.json" % name), "w") as f:
        json.dump({"records": [last]}, f)
    with open(os.path.join(work, "marker-%s.id" % name), "w") as f:
        f.write(last["id"])
it = records()
split("boot", (r for _, r in zip(range(n), it)))
split("stream", it)
PY
boot_marker=$(cat "$work/marker-boot.id")
stream_marker=$(cat "$work/marker-stream.id")
post_a() { # JSON file: one POST by A's agent; every record must be stored
    local out
    out=$(curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/bench-a/agents/agent.chain.crt" \
        --key "$work/pki/orgs/bench-a/agents/agent.key" -H 'Content-Type: application/json' \
        --data-binary @"$1" "https://127.0.0.1:${port[a]}/v1/records")
    posted_at=$(now) # the reply read: the records are committed
    python3 -c 'import json, sys
r = json.loads(sys.argv[1]); n = len(json.load(open(sys.argv[2]))["records"])
ok = r["stored"]
sys.exit(0 if ok == n else "%s: %d of %d stored: %s" % (sys.argv[2], ok, n, sys.argv[1][:300]))' "$out" "$1"
}
post_batches() { # folder: A's agents post it, CLIENTS at once; prints the rate line
    "$build/bench_ingest_post" "$work" "${port[a]}" "$clients" bench-a "$1" >"$work/$1.out" ||
        { cat "$work/$1.out" >&2; echo "posting $1 to A failed" >&2; exit 1; }
}
post_a "$work/services.json"

# A takes the bootstrap records through its API, then the marker alone.
start=$(now)
post_batches batches-boot
post_a "$work/marker-boot.json"
api_s=$(python3 -c "print($posted_at - $start)")
n=$(psql_a -d trellis -tAc "SELECT count(*) FROM pathway_referrals WHERE doc ? 'sig' AND doc ? 'signed_at' AND doc ? 'audience'")
[[ $n -eq $records ]] || { echo "A holds $n signed referrals, not $records"; exit 1; }

# Reference: psql \copy of the same signed rows into an empty copy of the
# schema on A's cluster.
psql_a -d trellis -c "\\copy pathway_referrals TO '$work/boot.csv' WITH (FORMAT csv)"
start=$(now)
psql_a -d copyref -c "\\copy pathway_referrals FROM '$work/boot.csv' WITH (FORMAT csv)"
copy_s=$(python3 -c "print($(now) - $start)")
psql_a -d postgres -c "DROP DATABASE copyref"

# Bootstrap: B pulls everything from A.
cpu0_a=$(node_ticks a) cpu0_pga=$(pg_ticks a) cpu0_pgb=$(pg_ticks b)
start=$(now)
start_node b
boot_s=$(wait_until psql_b trellis "$boot_marker" "$records" "$start")
boot_cpu=("$(($(node_ticks a) - cpu0_a))" "$(($(pg_ticks a) - cpu0_pga))" "$(node_ticks b)" "$(($(pg_ticks b) - cpu0_pgb))")

# Logical replication's initial sync of the same table between the same clusters.
psql_a -d trellis -c "CREATE PUBLICATION bench FOR TABLE pathway_referrals"
cpu0_pga=$(pg_ticks a) cpu0_pgb=$(pg_ticks b)
start=$(now)
psql_b -d lr -c "CREATE SUBSCRIPTION bench CONNECTION 'host=127.0.0.1 port=${pgport[a]} dbname=trellis user=trellis' PUBLICATION bench"
lr_boot_s=$(wait_until psql_b lr "$boot_marker" "$records" "$start")
lr_cpu=("$(($(pg_ticks a) - cpu0_pga))" "$(($(pg_ticks b) - cpu0_pgb))")

# Streaming: A's agents post N/10 more records, then the marker alone; B's
# trellisd and the subscriber are waited for at once, from the same start.
total=$((records + stream))
start=$(now)
wait_until psql_b trellis "$stream_marker" "$total" "$start" >"$work/b_stream.s" &
b_wait=$!
wait_until psql_b lr "$stream_marker" "$total" "$start" >"$work/lr_stream.s" &
lr_wait=$!
pids+=("$b_wait" "$lr_wait")
post_batches batches-stream
batches_at=$(now)
post_a "$work/marker-stream.json"
insert_s=$(python3 -c "print($posted_at - $start)")
wait "$b_wait" || { echo "trellisd B did not catch up"; exit 1; }
wait "$lr_wait" || { echo "logical replication did not catch up"; exit 1; }
b_stream_s=$(cat "$work/b_stream.s")
lr_stream_s=$(cat "$work/lr_stream.s")

rate() { python3 -c "print(int($1 / max($2, 1e-9)))"; }
printf '\n%-62s %12s\n' "measure" "records/s"
printf '%-62s %12s\n' "A takes the records, POST /v1/records ($clients agents, signed)" "$(rate "$records" "$api_s")"
printf '%-62s %12s\n' "psql \\copy of the same signed rows (reference)" "$(rate "$records" "$copy_s")"
printf '%-62s %12s\n' "logical replication, initial sync A -> B" "$(rate "$records" "$lr_boot_s")"
printf '%-62s %12s\n' "trellisd B bootstrap from A (verify, apply, cursor)" "$(rate "$records" "$boot_s")"
printf '%-62s %12s\n' "A takes the stream, POST /v1/records ($clients agents)" "$(rate "$stream" "$insert_s")"
printf '%-62s %12s\n' "logical replication, stream caught up (from stream start)" "$(rate "$stream" "$lr_stream_s")"
printf '%-62s %12s\n' "trellisd B, stream caught up (from stream start)" "$(rate "$stream" "$b_stream_s")"
python3 -c "print('%-62s %11.0f%%' % ('trellisd bootstrap / logical replication initial sync', 100.0 * $lr_boot_s / $boot_s))"
python3 -c "print('%-62s %11.0f%%' % ('trellisd catch-up / logical replication catch-up', 100.0 * $lr_stream_s / $b_stream_s))"
echo "CPU per record, microseconds (both nodes' idle long-polls included):"
echo "  trellisd bootstrap: A trellisd $(us_per_record "${boot_cpu[0]}"), A PostgreSQL $(us_per_record "${boot_cpu[1]}"), B trellisd $(us_per_record "${boot_cpu[2]}"), B PostgreSQL $(us_per_record "${boot_cpu[3]}")"
echo "  logical replication initial sync: A PostgreSQL $(us_per_record "${lr_cpu[0]}"), B PostgreSQL $(us_per_record "${lr_cpu[1]}")"
python3 -c "print('stream, seconds from its start: A had the batches %.2f, the marker %.2f; logical replication caught up %.2f, trellisd B %.2f' % ($batches_at - $start, $insert_s, $lr_stream_s, $b_stream_s))"
