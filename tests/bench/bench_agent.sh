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

. tests/bench/lib.sh
bench_build

ingest_rate=
if [[ -z "${BENCH_SKIP_INGEST:-}" ]]; then
    BENCH_RECORDS=$rows tests/bench/bench_ingest.sh | tee /tmp/trellis-bench-agent-ingest.$$
    ingest_rate=$(grep -m1 -F 'trellisd POST /v1/records' /tmp/trellis-bench-agent-ingest.$$ | awk '{print $NF}')
    rm -f /tmp/trellis-bench-agent-ingest.$$
fi

# The same PostgreSQL and node set-up as bench_ingest.sh.
bench_work agent
bench_cluster "shared_buffers = 512MB" "max_wal_size = 4GB"
bench_pki bench
bench_node bench "[limits]
max_batch_records = 1000"
trellis=$build/client/trellis
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
