#!/usr/bin/env bash
# Install what is missing, build the sanitizer (ASan+UBSan) build, run every
# test (unit, integration, fuzz corpus replays) and end with one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
./deploy/install-deps.sh || exit 1

build=${TRELLIS_TEST_BUILD_DIR:-$root/build-test}
werror=OFF
[[ "${CI:-}" == "true" ]] && werror=ON
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTRELLIS_SANITIZE=ON \
      -DTRELLIS_WERROR=$werror >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
    grep -E -A5 "error|Error" "$build/build.log" | head -60
    echo "build failed (full log: $build/build.log)"
    echo "0 passed, 1 failed"
    exit 1
fi
grep -E "warning:" "$build/build.log" | sort -u | head -20

# Format check: the tree follows .clang-format. install-deps.sh installs
# clang-format; without it the check fails rather than being skipped.
fmt_failed=0
if ! command -v clang-format >/dev/null; then
    echo "FAIL clang-format: not installed, the format check cannot run"
    fmt_failed=1
else
    files=$(git ls-files '*.c' '*.h' 2>/dev/null)
    if [[ -z "$files" ]]; then
        echo "FAIL clang-format: no C files found to check (git ls-files)"
        fmt_failed=1
    elif ! clang-format --dry-run --Werror $files >/dev/null 2>&1; then
        echo "FAIL clang-format: run clang-format -i on: $(clang-format --dry-run $files 2>&1 | grep -o '^[^:]*\.[ch]' | sort -u | tr '\n' ' ')"
        fmt_failed=1
    fi
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$build/ctest.log
(cd "$build" && ctest --output-on-failure -j2 ${TRELLIS_CTEST_ARGS:-}) | tee "$log"
summary=$(grep -E "tests passed, [0-9]+ tests failed out of" "$log" | tail -1)
total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$summary")
failed=$(sed -E 's/.*, ([0-9]+) tests failed.*/\1/' <<<"$summary")
[[ -n "$total" && -n "$failed" ]] || { echo "0 passed, 1 failed"; exit 1; }
failed=$((failed + fmt_failed))
passed=$((total - failed + fmt_failed))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $total -gt 0 ]]
