#!/usr/bin/env bash
# Build the fuzz targets with clang's libFuzzer (ASan + UBSan, every library instrumented) and
# run one target, or each in turn, for SECONDS. Seeds come from tests/fuzz/corpus/NAME (read
# only); what the fuzzer finds grows in build-fuzz/corpus/NAME, crashes land in
# build-fuzz/artifacts/NAME/. Ends with a line per target: runs, coverage, corpus, crashes.
#   tests/fuzz/run.sh all 60        tests/fuzz/run.sh http 600
# Environment: FUZZ_BUILD_DIR (default ./build-fuzz), FUZZ_JOBS (build, default 2),
# FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
targets=(http peer_http query dir_query records canon pii config batch export postcodes)

usage() { echo "usage: $0 TARGET|all SECONDS   (targets: ${targets[*]})" >&2; exit 2; }
[[ $# -eq 2 && $2 =~ ^[0-9]+$ ]] || usage
if [[ $1 == all ]]; then
    run=("${targets[@]}")
else
    [[ " ${targets[*]} " == *" $1 "* ]] || usage
    run=("$1")
fi
secs=$2

command -v clang >/dev/null || { echo "clang not found: run deploy/install-deps.sh" >&2; exit 1; }
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTRELLIS_FUZZ=ON \
      >/dev/null || exit 1
if ! cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target "${run[@]/#/fuzz_}" \
        >"$build/build.log" 2>&1; then
    grep -E -A5 "error" "$build/build.log" | head -40
    echo "build failed (full log: $build/build.log)" >&2
    exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
failed=0
for t in "${run[@]}"; do
    corpus=$build/corpus/$t
    artifacts=$build/artifacts/$t
    mkdir -p "$corpus" "$artifacts"
    dict=()
    [[ -f $root/tests/fuzz/$t.dict ]] && dict=(-dict="$root/tests/fuzz/$t.dict")
    log=$build/fuzz_$t.log
    echo "== fuzz_$t for ${secs}s (log: $log)"
    # Work in a scratch folder: a target may write files (config) next to itself.
    (cd "$build" && "$build/tests/fuzz_$t" "$corpus" "$root/tests/fuzz/corpus/$t" \
        -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$artifacts/" \
        -timeout=10 -rss_limit_mb=2048 "${dict[@]}" ${FUZZ_ARGS:-}) >"$log" 2>&1
    rc=$?
    done_line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$log" | tail -1)
    [[ -z $done_line ]] && done_line=$(grep -E "^#[0-9]+" "$log" | tail -1)
    runs=$(grep -m1 "stat::number_of_executed_units" "$log" | awk '{print $2}')
    cov=$(grep -oE "cov: [0-9]+" <<<"$done_line" | awk '{print $2}')
    ft=$(grep -oE "ft: [0-9]+" <<<"$done_line" | awk '{print $2}')
    corp=$(grep -oE "corp: [0-9]+/[0-9]+[a-zA-Z]*" <<<"$done_line" | awk '{print $2}')
    rate=$(grep -oE "exec/s: [0-9]+" <<<"$done_line" | awk '{print $2}')
    crashes=$(find "$artifacts" -type f | wc -l)
    line="fuzz_$t: ${secs}s, ${runs:-?} runs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, crashes $crashes"
    if [[ $rc -ne 0 || $crashes -gt 0 ]]; then
        failed=1
        line+=" FAILED (exit $rc)"
        grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5
    fi
    echo "$line"
    summary+=("$line")
done
echo "---"
printf '%s\n' "${summary[@]}"
exit $failed
