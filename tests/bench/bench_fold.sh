#!/usr/bin/env bash
# What folding the pathway sums (sql/functions/15_trellis_pathway_fold.sql)
# costs PostgreSQL per stored record, for batches shaped like an agent's: each
# trellis_store call holds 500 new referrals and their 500 "sent" events
# (bench_ingest.sh posts referrals alone). Two databases of one cluster run
# the same calls alternately: one as the migrations leave it, one with the
# fold taken out (triggers dropped, trellis_pathway_refresh a no-op). The
# figure is the backend's CPU (utime + stime from /proc), so other work on the
# machine changes it less than it changes a rate.
# After a checkpoint the backend writes whole pages into the WAL again
# (full_page_writes); single rounds came out several times too high in
# trials, so checkpoints wait for the end (checkpoint_timeout) and the
# result is the median of the rounds.
#   tests/bench/bench_fold.sh                 5 rounds of 20 calls
#   BENCH_ROUNDS=5 BENCH_CALLS=40 tests/bench/bench_fold.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rounds=${BENCH_ROUNDS:-5}
calls=${BENCH_CALLS:-20}

work=$(mktemp -d /tmp/trellis-bench-fold-XXXXXX)
chmod 755 "$work" # PostgreSQL runs as postgres when we are root
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# Default durability, as bench_ingest.sh (fsync, full_page_writes on).
mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nshared_buffers = 512MB\nmax_wal_size = 8GB\ncheckpoint_timeout = 1h\n" \
    "$work/pg" | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
psql() { command psql -X -q -v ON_ERROR_STOP=1 -h "$work/pg" -U trellis "$@"; }

# Both databases get the migrations and the functions, as server/migrate.c
# applies them; "nofold" then loses the fold.
for db in fold nofold; do
    psql -d postgres -c "CREATE DATABASE $db"
    for f in "$root"/sql/0*.sql "$root"/sql/functions/*.sql; do
        psql -d "$db" -f "$f" >/dev/null 2>&1 || { echo "$f failed on $db"; exit 1; }
    done
done
psql -d nofold -c "DROP TRIGGER pathway_referrals_facts ON pathway_referrals;
    DROP TRIGGER pathway_events_facts ON pathway_events;
    CREATE OR REPLACE FUNCTION trellis_pathway_refresh(ids uuid[], origins text[])
    RETURNS void LANGUAGE sql AS 'SELECT'"

# One call: 500 referrals (from a service to another, as pulled: replicating,
# so no directory is needed) and their "sent" events, built in SQL.
call_sql="WITH r AS (SELECT gen_random_uuid() AS id, gen_random_uuid() AS e, g
                   FROM generate_series(1, 500) g),
recs AS (
    SELECT 1 AS k, g, 'pathway.referral' AS kind, id,
        jsonb_build_object('kind', 'pathway.referral', 'id', id, 'origin', 'bench',
            'version', 1, 'body', jsonb_build_object('from_service', gen_random_uuid(),
            'to_service', gen_random_uuid(), 'to_org', 'bench',
            'week', '2026-W' || lpad((1 + g % 47)::text, 2, '0'), 'needs', '[\"housing\"]'::jsonb,
            'risk', 'medium', 'age_band', '25_34', 'district', 'LS6', 'route', 'self')) AS doc
    FROM r
    UNION ALL
    SELECT 2, g, 'pathway.event', e,
        jsonb_build_object('kind', 'pathway.event', 'id', e, 'origin', 'bench', 'version', 1,
            'body', jsonb_build_object('referral', id, 'status', 'sent', 'days', 0))
    FROM r),
a AS (SELECT array_agg(ord::int - 1 ORDER BY ord) AS idxs, array_agg(kind ORDER BY ord) AS kinds,
             array_agg(id ORDER BY ord) AS ids, array_agg('bench'::text ORDER BY ord) AS origins,
             array_agg(1::bigint ORDER BY ord) AS versions,
             array_agg(md5(id::text) ORDER BY ord) AS hashes, array_agg(doc ORDER BY ord) AS docs
      FROM (SELECT *, row_number() OVER (ORDER BY k, g) AS ord FROM recs) s)
SELECT count(*) FROM a, trellis_store(idxs, kinds, ids, origins, versions, hashes, docs, true);"

# CPU ticks of a backend, and the CPU per stored record of calls calls in one session.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # db -> CPU microseconds per stored record
    local pid t0 t1 fifo=$work/fifo
    rm -f "$fifo"; mkfifo "$fifo"
    # psql reads its SQL from the fifo: the backend's ticks are read after the
    # last call and before the session ends.
    psql -d "$1" -tA -F' ' <"$fifo" >"$work/out" &
    local ppid=$!
    exec 3>"$fifo"
    echo "SELECT 'pid', pg_backend_pid();" >&3
    while ! pid=$(sed -n 's/^pid //p' "$work/out" | head -1) || [[ -z $pid ]]; do sleep 0.05; done
    t0=$(ticks "$pid")
    for _ in $(seq "$calls"); do echo "$call_sql" >&3; done
    echo "SELECT 'done';" >&3
    while ! grep -q '^done' "$work/out"; do sleep 0.05; done
    t1=$(ticks "$pid")
    exec 3>&-
    wait "$ppid"
    python3 -c "print('%.1f' % (($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / ($calls * 1000)))"
}

echo "fold benchmark: $rounds rounds of $calls trellis_store calls of 500 referrals + 500 events, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %22s %22s %12s\n' round "with fold (us/record)" "without (us/record)" "fold costs"
costs=()
for i in $(seq "$rounds"); do
    with=$(measure fold)
    without=$(measure nofold)
    costs+=("$(python3 -c "print('%.1f' % ($with - $without))")")
    printf '%-8s %22s %22s %12s\n' "$i" "$with" "$without" "${costs[-1]}"
done
echo "fold costs, median of $rounds rounds: $(printf '%s\n' "${costs[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}') us per record"
for db in fold nofold; do
    echo "$db: $(psql -d "$db" -tAc "SELECT count(*) || ' referrals, ' || (SELECT count(*) FROM pathway_facts) || ' facts' FROM pathway_referrals")"
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
