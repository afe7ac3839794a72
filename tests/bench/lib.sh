# Shared set-up of the shell benchmarks, sourced (not run): the Release
# build, a throwaway PostgreSQL cluster, a consortium PKI with one member's
# node and agent, and one trellisd on them, torn down on exit.
#
#   . tests/bench/lib.sh
#   bench_build                          # $build: the Release build (BENCH_BUILD_DIR)
#   bench_work viewer                    # $work: a temporary folder, removed on exit
#                                        # (BENCH_KEEP=DIR: that folder, kept)
#   bench_cluster "shared_buffers = 1GB" # $pgport, psql(): a cluster in $work/pg
#                                        # (started again if DIR holds one)
#   bench_pki member-00                  # $work/pki: the org's node and agent
#   bench_node member-00 "[database]
#   pool_size = 8"                       # $port, $node_pid: trellisd, ready
#   pid_ticks PID, cluster_ticks DATADIR # CPU so far, in clock ticks
#   us_per_record TICKS                  # per $records, in microseconds
#
# Callers have done `set -euo pipefail` and cd to the repository's root.

root=${root:-$PWD}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
node_pid=
work=

# PostgreSQL refuses to run as root: its commands run as postgres then.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# CPU in clock ticks, of one process and of a whole cluster (the postmaster,
# its live children and, through cutime/cstime, the backends that have
# exited: each \copy session's). Per record, this says which process limits
# a rate on a shared machine, whatever else runs on it.
pid_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
cluster_ticks() { # DATADIR
    local pm t c
    pm=$(head -1 "$1/postmaster.pid")
    t=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pm/stat")
    for c in $(pgrep -P "$pm"); do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$c/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
us_per_record() { # TICKS: per $records
    python3 -c "print('%.1f' % ($1 * 1e6 / $(getconf CLK_TCK) / $records))"
}

bench_build() {
    ./deploy/install-deps.sh >/dev/null
    build=${BENCH_BUILD_DIR:-$root/build-bench}
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
    cmake --build "$build" -j"${BENCH_JOBS:-$(nproc)}" >/dev/null
}

bench_cleanup() {
    if [[ -n $node_pid ]]; then
        kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
    fi
    if [[ -n $work && -n ${BENCH_KEEP:-} ]]; then
        # Kept for the next run: a clean stop, so it starts without recovery.
        as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
    elif [[ -n $work ]]; then
        as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
        rm -rf "$work"
    fi
}

# BENCH_KEEP=DIR keeps the work folder and its cluster after the run and
# uses them again in the next one, so that a large data set is loaded once
# (the caller asks bench_reused whether it is there already).
bench_work() {
    if [[ -n ${BENCH_KEEP:-} ]]; then
        work=$BENCH_KEEP
        mkdir -p "$work"
        rm -rf "$work/pki"
    else
        work=$(mktemp -d "/tmp/trellis-bench-$1-XXXXXX")
    fi
    chmod 755 "$work" # PostgreSQL runs as postgres when we are root
    trap bench_cleanup EXIT
}

# True when bench_cluster started a kept cluster again (BENCH_KEEP).
bench_reused() { [[ -n ${cluster_reused:-} ]]; }

# A cluster with default durability; each argument is a postgresql.conf line.
bench_cluster() {
    pgport=$(free_port)
    cluster_reused=
    if [[ -f $work/pg/data/PG_VERSION ]]; then
        as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -o "-p $pgport" -w \
            start >/dev/null
        cluster_reused=1
        return 0
    fi
    mkdir -p "$work/pg"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$work/pg"; fi
    as_pg "$pgbin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --locale=C >/dev/null
    {
        printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" \
            "$pgport" "$work/pg"
        for line in "$@"; do printf '%s\n' "$line"; done
    } | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
    as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start >/dev/null
    psql -d postgres -c "CREATE DATABASE trellis"
}
psql() { command psql -X -q -h 127.0.0.1 -p "$pgport" -U trellis "$@"; }

bench_pki() {
    local t=$build/client/trellis
    $t pki --dir "$work/pki" init-consortium >/dev/null
    $t pki --dir "$work/pki" add-org "$1" >/dev/null
    $t pki --dir "$work/pki" issue-node "$1" node --host 127.0.0.1 >/dev/null
    $t pki --dir "$work/pki" issue-agent "$1" agent >/dev/null
}

# curl with the org's agent certificate: bench_curl ORG URL [curl options].
bench_curl() {
    local org=$1 url=$2
    shift 2
    curl -fsS --cacert "$work/pki/ca.crt" --cert "$work/pki/orgs/$org/agents/agent.chain.crt" \
        --key "$work/pki/orgs/$org/agents/agent.key" "$@" "$url"
}

# trellisd for ORG on the cluster, its config's further sections in $2
# (a [database] section there is merged: pool_size and the like), at
# $log_level (warn unless set); returns when /readyz answers.
bench_node() {
    local org=$1 extra=${2:-}
    port=$(free_port)
    local db_extra
    db_extra=$(awk '/^\[database\]/{d=1; next} /^\[/{d=0} d' <<<"$extra")
    extra=$(awk '/^\[database\]/{d=1; next} /^\[/{d=0} !d' <<<"$extra")
    cat >"$work/trellisd.conf" <<CONF
[node]
listen = 127.0.0.1:$port
log_level = ${log_level:-warn}
workers = 1
[tls]
cert = $work/pki/orgs/$org/nodes/node.chain.crt
key = $work/pki/orgs/$org/nodes/node.key
ca = $work/pki/ca.crt
crl = $work/pki/crl.pem
[database]
url = postgresql://trellis@127.0.0.1:$pgport/trellis
migrations = $root/sql
$db_extra
$extra
CONF
    "$build/server/trellisd" --config "$work/trellisd.conf" 2>"$work/trellisd.log" &
    node_pid=$!
    for _ in $(seq 100); do
        bench_curl "$org" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "trellisd did not become ready:" >&2
    tail -20 "$work/trellisd.log" >&2
    return 1
}
