#!/usr/bin/env bash
# Directory benchmark: 10,000 services, 20 concurrent keep-alive connections,
# the node's p95 time for a filtered /oruk/services page and a proximity
# search, beside the same SQL run by pgbench (tests/bench/bench_directory.py).
#   tests/bench/bench_directory.sh
#   BENCH_SERVICES=2000 BENCH_SECONDS=5 tests/bench/bench_directory.sh   smoke run
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
./deploy/install-deps.sh
build=${BENCH_BUILD_DIR:-$root/build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j"${BENCH_JOBS:-2}" >/dev/null
# Debian's python3-jsonschema: test_oruk_filters (the fixtures) imports it.
py=python3
python3 -c 'import jsonschema' 2>/dev/null || py=/usr/bin/python3
TRELLIS_BUILD_DIR=$build TRELLIS_SOURCE_DIR=$root exec "$py" tests/bench/bench_directory.py
