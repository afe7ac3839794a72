#!/usr/bin/env bash
# The agent's CPU per row (user + sys, /usr/bin/time -v) in its two phases,
# for one or more builds of `trellis` alternated against the same node:
# spooling only (the node out of reach: read, anonymise, spool) and `trellis
# sync` sending that spool. CPU, not throughput: it holds on a loaded
# machine, where wall-clock rates say more about the load than the agent.
#   tests/bench/bench_agent_cpu.sh                      this tree's Release build
#   tests/bench/bench_agent_cpu.sh OLD/trellis NEW/trellis
#   BENCH_ROWS=200000 BENCH_RUNS=2 ...                  (the defaults)
#   BENCH_PERF=DIR ...   also `perf record -g` (BENCH_PERF_ARGS) each phase of the first build
#                        once, into DIR/spool.data and DIR/sync.data
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
rows=${BENCH_ROWS:-200000}
runs=${BENCH_RUNS:-2}

. tests/bench/lib.sh
bench_build
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=("$build/client/trellis")

bench_work agentcpu
bench_cluster "shared_buffers = 512MB" "max_wal_size = 4GB"
bench_pki bench
bench_node bench "[limits]
max_batch_records = 1000"
trellis=$build/client/trellis
conf=$work/agent/agent.conf
$trellis agent init --dir "$work/agent" --node "https://127.0.0.1:$port" --ca "$work/pki/ca.crt" \
    --cert "$work/pki/orgs/bench/agents/agent.chain.crt" --key "$work/pki/orgs/bench/agents/agent.key" \
    --spool "$work/agent/spool" --secret "$work/agent/secret" --batch 1000 >/dev/null
# A referral leaves from one of its origin's own services: publish them first.
$trellis push --config "$conf" --quiet --mapping deploy/examples/directory.map \
    deploy/examples/services.csv >/dev/null
python3 tests/bench/bench_agent_data.py "$rows" "$work/export.csv"
echo "agent CPU per row: $rows-row referral CSV, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

cpu() { grep -E 'User time|System time' "$1" | awk '{s += $NF} END {print s}'; }
maxrss() { grep 'Maximum resident set size' "$1" | awk '{print $NF}'; }
mib() { python3 -c "print('%.1f' % ($1 / 1024))"; }
per_row() { python3 -c "print('%.1f' % ($1 * 1e6 / $rows))"; }

# One measured pair: spool only, then send it. $1 the binary, $2 a label,
# $3 a folder to `perf record -g` each phase into (optional).
phases() {
    local bin=$1 label=$2 perf=${3:-}
    local pre1=() pre2=()
    if [[ -n $perf ]]; then
        pre1=(perf record -q ${BENCH_PERF_ARGS:--g} -o "$perf/spool.data")
        pre2=(perf record -q ${BENCH_PERF_ARGS:--g} -o "$perf/sync.data")
    fi
    psql -d trellis -c "TRUNCATE pathway_referrals, pathway_events" >/dev/null
    rm -rf "$work/agent/spool"
    /usr/bin/time -v -o "$work/t1" "${pre1[@]}" "$bin" push --config "$conf" --quiet \
        --node https://127.0.0.1:1 --retry-for 0 --mapping deploy/examples/referrals.map \
        "$work/export.csv" >"$work/push.out" 2>"$work/push.err" || true
    grep -q "$rows records spooled" "$work/push.out" || { cat "$work/push.out" "$work/push.err"; exit 1; }
    /usr/bin/time -v -o "$work/t2" "${pre2[@]}" "$bin" sync --config "$conf" --quiet \
        >/dev/null 2>"$work/sync.err" || { cat "$work/sync.err"; exit 1; }
    local stored
    stored=$(psql -d trellis -tAc "SELECT count(*) FROM pathway_referrals")
    [[ $stored -eq $rows ]] || { echo "$label: only $stored of $rows records stored"; exit 1; }
    printf '%-44s spool %6s µs/row (VmHWM %s MiB)   send %6s µs/row (VmHWM %s MiB)\n' "$label" \
        "$(per_row "$(cpu "$work/t1")")" "$(mib "$(maxrss "$work/t1")")" \
        "$(per_row "$(cpu "$work/t2")")" "$(mib "$(maxrss "$work/t2")")"
}

for run in $(seq "$runs"); do
    for bin in "${bins[@]}"; do
        phases "$bin" "run $run $bin"
    done
done
# perf's own overhead inflates the figures: profile once, after the runs.
if [[ -n "${BENCH_PERF:-}" ]]; then
    mkdir -p "$BENCH_PERF"
    phases "${bins[0]}" "under perf: ${bins[0]}" "$BENCH_PERF"
fi
