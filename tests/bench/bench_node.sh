#!/usr/bin/env bash
# Side-by-side benchmark of trellisd and nginx on this machine, both answering
# /healthz from memory with the same 15 bytes (nginx: return 200, no file) over
# mutual TLS 1.3 with the same certificates and the same logging (none per
# request, warnings only):
#   1. requests/s over keep-alive TLS, 50 connections: ab -k (HTTP/1.0
#      keep-alive) and bench_node_load (HTTP/1.1 keep-alive), with requests per
#      server CPU-second (utime+stime from /proc/PID/stat);
#   2. new mutual-TLS handshakes/s: openssl s_time -new, 1 and 2 processes;
#   3. memory per idle TLS connection at 1,000 and 10,000 connections, as PSS
#      (/proc/PID/smaps_rollup, summed over the server's processes: pages the
#      nginx master and workers share are counted once, not once per process).
# Servers: trellisd (workers = 1: one process, one libuv loop), nginx
# worker_processes 1 (the fair single-core comparison), trellisd with
# workers = N (N = nproc: a supervisor and N workers on one port with
# SO_REUSEPORT) and nginx worker_processes auto (N workers too: the fair
# multi-core comparison), all four up at once. Each rate is measured BENCH_ROUNDS times (default 3), the servers
# alternated within each round (the order rotating from round to round), and
# reported as the median with the spread (lowest-highest); the ratio column
# is the ratio of the medians with the spread of the per-round ratios. For every
# run the table also gives the server's CPU use and how much of the machine
# other work took meanwhile (then the rates are not to be trusted; the
# per-CPU-second figures suffer less). Everything runs on 127.0.0.1 with a
# throwaway PKI (trellis pki) and PostgreSQL cluster; all of it is stopped and
# removed on exit. docs/benchmarks.md has the method and the figures.
#
#   tests/bench/bench_node.sh               full run (four servers: a third longer than three)
#   BENCH_QUICK=1 tests/bench/bench_node.sh smoke run (about 2 minutes)
#
# Knobs (environment): BENCH_N (ab -n, default 300000), BENCH_SECONDS (time
# cap of each ab and bench_node_load run, default 8), BENCH_STIME_SECONDS
# (s_time -time, default 10), BENCH_CONNS (default 50), BENCH_ROUNDS (rounds of
# every rate measurement, default 3; at least 3 for a figure), BENCH_IDLE
# (idle connection counts, default 1000,10000), BENCH_IDLE_AUTO (those for
# nginx auto, default the smallest: its memory per connection is nginx 1
# worker's, and 10,000 more handshakes cost 30 s), BENCH_CRL=0 (no CRL check on
# either server), BENCH_SERVERS (which to run, default "trellisd nginx-1
# trellisd-n nginx-auto"; e.g. "trellisd-n nginx-auto" for the multi-core
# row alone), BENCH_KEEP=1 (keep the work folder), BENCH_BUILD_DIR,
# BENCH_SRC_DIR (Trellis source to build and take sql/ from, default this
# work tree; e.g. an export of a commit while the tree is mid-edit).
# The table is also written to $BENCH_BUILD_DIR/bench_node_results.txt and
# every raw figure to bench_node_results.json beside it.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
here=$root/tests/bench
build=${BENCH_BUILD_DIR:-$root/build-bench}
src=$(cd "${BENCH_SRC_DIR:-$root}" && pwd)
quick=${BENCH_QUICK:-0}
if [[ $quick == 1 ]]; then
    ab_n=${BENCH_N:-20000} secs=${BENCH_SECONDS:-3} stime_secs=${BENCH_STIME_SECONDS:-3}
    idle_counts=${BENCH_IDLE:-1000}
else
    ab_n=${BENCH_N:-300000} secs=${BENCH_SECONDS:-8} stime_secs=${BENCH_STIME_SECONDS:-10}
    idle_counts=${BENCH_IDLE:-1000,10000}
fi
conns=${BENCH_CONNS:-50}
rounds=${BENCH_ROUNDS:-3}
idle_auto=${BENCH_IDLE_AUTO:-$(tr ',' '\n' <<<"$idle_counts" | sort -n | head -1)}
use_crl=${BENCH_CRL:-1}
t_start=$(date +%s)

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { python3 -c "import sys; print($1)"; }

# ---- dependencies, build, limits ----

./deploy/install-deps.sh --bench
for tool in nginx ab openssl curl python3 cc; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
say "building a Release build of Trellis into $build"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_TESTS=OFF >/dev/null
cmake --build "$build" -j2 >/dev/null
trellisd=$build/server/trellisd
trellis=$build/client/trellis
[[ -x $trellisd && -x $trellis ]] || die "build did not produce trellisd and trellis"

hard=$(ulimit -Hn)
[[ $hard == unlimited ]] && hard=65536
ulimit -n $((hard < 65536 ? hard : 65536))
max_idle=$(tr ',' '\n' <<<"$idle_counts" | sort -n | tail -1)
if (($(ulimit -n) < max_idle + 200)); then
    die "open-file limit $(ulimit -n) is too low for $max_idle idle connections (raise the hard limit)"
fi

busy_pct() { # share of all CPUs busy over one second, before we start anything
    python3 -c 'import time
def r():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = r(); time.sleep(1); t1, i1 = r()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))'
}
busy_start=$(busy_pct)
if ((busy_start > 10)); then
    say "warning: the CPUs are ${busy_start}% busy before starting: other work on this machine will skew the figures"
fi

work=$(mktemp -d /tmp/trellis-bench-XXXXXX)
chmod 711 "$work" # PostgreSQL and nginx workers (not root) must reach their own sub-folders
cc -O2 -Wall -o "$work/bench_node_load" "$here/bench_node_load.c" -lssl -lcrypto

# ---- everything started is stopped on exit ----

declare -A MAIN_PID PORT PIDS # per server: the process started, its port, all its processes
pg_data=""
stop_server() { # server
    local p=${MAIN_PID[$1]:-}
    [[ -n $p ]] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    MAIN_PID[$1]=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local s
    for s in "${!MAIN_PID[@]}"; do stop_server "$s"; done
    if [[ -n $pg_data && -f $pg_data/postmaster.pid ]]; then
        as_pg "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" -D "$pg_data" \
            -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then say "work folder kept: $work"; else rm -rf "$work"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PKI (trellis pki) ----

pki=$work/pki
"$trellis" pki --dir "$pki" init-consortium >/dev/null
"$trellis" pki --dir "$pki" add-org bench >/dev/null
"$trellis" pki --dir "$pki" issue-node bench node --host 127.0.0.1 >/dev/null
"$trellis" pki --dir "$pki" issue-agent bench agent >/dev/null
ca=$pki/ca.crt
node_chain=$pki/orgs/bench/nodes/node.chain.crt
node_key=$pki/orgs/bench/nodes/node.key
agent_crt=$pki/orgs/bench/agents/agent.crt
agent_chain=$pki/orgs/bench/agents/agent.chain.crt
agent_key=$pki/orgs/bench/agents/agent.key
# ab -E: client certificate, then the organisation CA, then the key.
ab_pem=$work/ab-client.pem
cat "$agent_crt" "$pki/orgs/bench/ca.crt" "$agent_key" >"$ab_pem"
# s_time -cert loads only the first certificate of a file. With a -CAfile that
# holds the root AND the organisation CA, OpenSSL builds the client chain from
# it and sends the organisation CA too; with the root alone the server refuses
# the client (trellisd counts unknown_ca, nginx answers 400), yet s_time still
# counts the connection, so the chain is checked below before every run.
ca_bundle=$work/ca-bundle.pem
cat "$ca" "$pki/orgs/bench/ca.crt" >"$ca_bundle"

# ---- PostgreSQL (trellisd needs its database to start) ----

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $pg_bin ]] || die "PostgreSQL server binaries not found"
mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres: "$work/pg"
pg_port=$(free_port)
as_pg "$pg_bin/initdb" -D "$work/pg/data" -U trellis --auth=trust -E UTF8 --no-sync --locale=C >/dev/null
printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" \
    "$pg_port" "$work/pg" | as_pg tee -a "$work/pg/data/postgresql.conf" >/dev/null
pg_data=$work/pg/data
as_pg "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/pg/log" -w start >/dev/null
psql -X -q -h 127.0.0.1 -p "$pg_port" -U trellis -d postgres -c "CREATE DATABASE trellis"

# ---- server configurations ----

td_port=$(free_port)
# [node] workers, where this build has it (BENCH_SRC_DIR may be an older export).
workers_line=""
# (Not "| grep -q": under pipefail, trellisd writing on after grep has quit fails the test.)
if [[ $("$trellisd" --print-example-config) == *$'\n;workers = '* ]]; then
    workers_line="workers = 1"
fi
crl_line=""
[[ $use_crl == 1 ]] && crl_line="crl = $pki/crl.pem"
cat >"$work/trellisd.conf" <<CONF
[node]
listen = 127.0.0.1:$td_port
log_level = warn
log_requests = off
$workers_line

[tls]
cert = $node_chain
key = $node_key
ca = $ca
$crl_line

[database]
url = postgresql://trellis@127.0.0.1:$pg_port/trellis
migrations = $src/sql

[limits]
idle_timeout = 600s
max_connections = 20000
max_connections_per_identity = 20000
max_requests_per_conn = 10000
CONF

mkdir -p "$work/nginx-tmp"
nginx_conf() { # name workers port
    local crl=""
    [[ $use_crl == 1 ]] && crl="ssl_crl $pki/crl.pem;"
    cat <<CONF
daemon off;
worker_processes $2;
worker_rlimit_nofile $(ulimit -n);
pid $work/$1.pid;
error_log $work/$1-error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    default_type application/json;
    client_body_temp_path $work/nginx-tmp; proxy_temp_path $work/nginx-tmp;
    fastcgi_temp_path $work/nginx-tmp; uwsgi_temp_path $work/nginx-tmp; scgi_temp_path $work/nginx-tmp;
    keepalive_timeout 600;
    keepalive_requests 10000;          # = trellisd max_requests_per_conn
    server {
        listen 127.0.0.1:$3 ssl;
        ssl_certificate $node_chain;
        ssl_certificate_key $node_key;
        ssl_protocols TLSv1.3;
        ssl_verify_client on;
        ssl_client_certificate $ca;
        ssl_verify_depth 2;
        $crl
        # = trellisd: no session cache, no session tickets at all (without
        # NumTickets 0, nginx still sends two stateful tickets per handshake)
        ssl_session_cache off;
        ssl_session_tickets off;
        ssl_conf_command NumTickets 0;
        # = trellisd's /healthz: the same 15 bytes from memory. Serving a file
        # instead would cost nginx an open, fstat, read and close per request
        # and add Last-Modified, ETag and Accept-Ranges to every reply.
        # trellisd also sends these two on every reply; nginx adds Server and
        # Connection, which it cannot leave out.
        location = /healthz {
            add_header Cache-Control no-store;
            add_header X-Content-Type-Options nosniff;
            return 200 '{"status":"ok"}';
        }
    }
}
CONF
}
PORT[trellisd]=$td_port
# trellisd with one worker per CPU: the same configuration on its own port.
PORT[trellisd-n]=$(free_port)
sed -e "s/^listen = .*/listen = 127.0.0.1:${PORT[trellisd-n]}/" -e "s/^workers = 1$/workers = $(nproc)/" \
    "$work/trellisd.conf" >"$work/trellisd-n.conf"
if [[ -z $workers_line && " ${BENCH_SERVERS:-trellisd-n} " == *" trellisd-n "* ]]; then
    die "this trellisd has no [node] workers: leave trellisd-n out of BENCH_SERVERS"
fi
PORT[nginx-1]=$(free_port)
PORT[nginx-auto]=$(free_port)
nginx_conf nginx-1 1 "${PORT[nginx-1]}" >"$work/nginx-1.conf"
nginx_conf nginx-auto auto "${PORT[nginx-auto]}" >"$work/nginx-auto.conf"
nginx -t -q -c "$work/nginx-1.conf" -p "$work/" || die "nginx configuration refused"

# ---- helpers: servers, CPU time, memory ----

pids=""       # every process of the server under test, comma separated
server_port=""

use_server() { server_port=${PORT[$1]}; pids=${PIDS[$1]}; }

https_get() { # path -> body (trellisd metrics, readiness)
    curl -sS --max-time 5 --cacert "$ca" --cert "$agent_chain" --key "$agent_key" \
        "https://127.0.0.1:$server_port$1"
}

start_server() { # trellisd | nginx-1 | trellisd-n | nginx-auto
    local server_pid
    server_port=${PORT[$1]}
    case $1 in
    trellisd | trellisd-n)
        setsid "$trellisd" --config "$work/$1.conf" >>"$work/$1.log" 2>&1 &
        server_pid=$!
        MAIN_PID[$1]=$server_pid
        for _ in $(seq 100); do
            https_get /readyz >/dev/null 2>&1 && break
            kill -0 "$server_pid" 2>/dev/null || { tail -5 "$work/$1.log" >&2; die "$1 exited"; }
            sleep 0.1
        done
        https_get /readyz >/dev/null || die "$1 not ready; see $work/$1.log"
        pids=$server_pid
        if [[ $1 == trellisd-n ]]; then
            # The supervisor forks the other workers once the first takes writes:
            # wait for every one to say so, then count them all (CPU, memory).
            for _ in $(seq 100); do
                (($(grep -c '"event":"worker_ready"' "$work/$1.log") >= $(nproc))) && break
                sleep 0.1
            done
            local kids
            kids=$(ps --ppid "$server_pid" -o pid= | tr -d ' ' | paste -sd,)
            (($(tr ',' '\n' <<<"$kids" | wc -l) == $(nproc))) || die "$1: not $(nproc) workers: $kids"
            pids=$server_pid,$kids
        fi
        ;;
    nginx-*)
        setsid nginx -c "$work/$1.conf" -p "$work/" >>"$work/nginx.out" 2>&1 &
        server_pid=$!
        MAIN_PID[$1]=$server_pid
        local want=1
        [[ $1 == nginx-auto ]] && want=$(nproc)
        for _ in $(seq 100); do
            pids=$(ps --ppid "$server_pid" -o pid= 2>/dev/null | tr -d ' ' | paste -sd, || true)
            [[ -n $pids && $(tr ',' '\n' <<<"$pids" | wc -l) -ge $want ]] &&
                https_get /healthz >/dev/null 2>&1 && break
            kill -0 "$server_pid" 2>/dev/null || { cat "$work/$1-error.log" >&2; die "nginx exited"; }
            sleep 0.1
        done
        https_get /healthz >/dev/null || die "nginx not answering; see $work/$1-error.log"
        pids=$server_pid,$pids
        ;;
    esac
    PIDS[$1]=$pids
}

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of the server's processes (the comm field may hold spaces)
    local t=0 p
    for p in ${pids//,/ }; do
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$t"
}

declare -A R # "metric|server" -> figure
rec() { R["$1|$2"]=$3; }
declare -A S # "metric|server" -> one figure per round, space separated
sample() { S["$1|$2"]="${S[$1|$2]:-}${S[$1|$2]:+ }$3"; }
round=0      # the round being run, 1..rounds

# A measured window: server CPU (its processes), client CPU (this shell's
# waited-for children: ab, s_time, bench_node_load) and all CPU busy on the
# machine, so that work by anything else during the run shows up.
machine_ticks() { head -1 /proc/stat | awk '{print $2 + $3 + $4 + $7 + $8 + $9}'; }
child_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{print $14 + $15}'; }
window_start() { w_c0=$(cpu_ticks) w_m0=$(machine_ticks) w_k0=$(child_ticks) w_t0=$(now); }
window_end() { # key server; sets w_cpu (server CPU-seconds) and w_secs
    local c1 m1 k1 t1
    c1=$(cpu_ticks) m1=$(machine_ticks) k1=$(child_ticks) t1=$(now)
    w_cpu=$(calc "max(($c1-$w_c0)/$clk_tck, 1e-9)")
    w_secs=$(calc "$t1-$w_t0")
    sample "${1}_cpu_pct" "$2" "$(calc "round(100*$w_cpu/$w_secs)")"
    local other
    other=$(calc "max(0, round(100*(($m1-$w_m0)-($c1-$w_c0)-($k1-$w_k0))/$clk_tck/$w_secs/$(nproc)))")
    sample "${1}_other_pct" "$2" "$other"
    ((other <= 10)) || say "$2: warning: other work took ${other}% of the machine during this run"
}

# ---- 1. requests/s over keep-alive mutual TLS ----

run_ab() { # server
    local s=$1 out="$work/ab-$1.txt" rc=0
    window_start
    timeout $((secs + 30)) ab -k -c "$conns" -t "$secs" -n "$ab_n" -s 5 -q -E "$ab_pem" \
        "https://127.0.0.1:$server_port/healthz" >"$out" 2>&1 || rc=$?
    window_end ab "$s"
    local ndone took ka failed non2xx ok
    ndone=$(awk "/^Complete requests:/{print \$3}" "$out")
    took=$(awk '/^Time taken for tests:/{print $5}' "$out")
    ka=$(awk '/^Keep-Alive requests:/{print $3}' "$out")
    failed=$(awk '/^Failed requests:/{print $3}' "$out")
    non2xx=$(awk '/^Non-2xx responses:/{print $3}' "$out")
    if [[ $rc -ne 0 || -z $took || -z $ndone ]]; then
        say "$s: ab -k gave no figure: $(grep -m1 -E 'apr_|error|SSL' "$out" || tail -1 "$out")"
        sample ab_rps "$s" "stall"
        rec ab_note "$s" "ab stopped: $(grep -m1 -E 'apr_|error' "$out" | head -c 120)"
        return
    fi
    # Only good 2xx replies count: ab's own req/s counts every completed one.
    ok=$((ndone - ${failed:-0} - ${non2xx:-0}))
    ((ok >= 0)) || ok=0
    sample ab_rps "$s" "$(calc "round($ok/max($took, 1e-9))")"
    sample ab_per_cpu "$s" "$(calc "round($ok/$w_cpu)")"
    say "$s: round $round: ab -k $ndone requests in ${took}s, $ok good, keep-alive $ka, failed $failed, non-2xx ${non2xx:-0}"
    [[ ${failed:-0} == 0 && -z $non2xx ]] || rec ab_note "$s" "failed $failed, non-2xx ${non2xx:-0}"
}

# HTTP/1.0 keep-alive: ab only keeps a connection whose reply says Keep-Alive;
# otherwise it waits for the server to close. Show what the server answers.
probe_http10() {
    printf 'GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n' |
        timeout 3 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$server_port" \
            -cert "$agent_crt" -key "$agent_key" -CAfile "$ca_bundle" 2>/dev/null |
        tr -d '\r' | sed -n '1,/^$/p' || true
}

run_load() { # server
    local s=$1 out="$work/load-$1.json"
    window_start
    timeout $((secs + 30)) "$work/bench_node_load" 127.0.0.1 "$server_port" /healthz "$conns" "$secs" \
        "$agent_chain" "$agent_key" >"$out" || say "$s: bench_node_load reported errors: $(cat "$out")"
    window_end load "$s"
    local j
    j=$(cat "$out")
    # rps and ok count 2xx replies only (bench_node_load.c)
    sample load_rps "$s" "$(calc "round(__import__('json').loads('''$j''')['rps'])")"
    sample load_per_cpu "$s" "$(calc "round(__import__('json').loads('''$j''')['ok']/$w_cpu)")"
    say "$s: round $round: HTTP/1.1 keep-alive $j"
}

# ---- 2. new mutual-TLS handshakes/s ----

stime_once() { # out
    timeout $((stime_secs + 20)) openssl s_time -connect "127.0.0.1:$server_port" -new \
        -cert "$agent_crt" -key "$agent_key" -CAfile "$ca_bundle" -time "$stime_secs" >"$1" 2>&1 || true
}

handshakes_total() { # trellisd only: completed and refused handshakes from /metrics
    https_get /metrics | awk '/^trellis_tls_handshakes_total /{ok=$2}
        /^trellis_tls_handshake_failures_total/{bad+=$2} END{print ok+0, bad+0}'
}

run_stime() { # server procs
    local s=$1 n=$2 i total=0 m0="" m1=""
    # The chain s_time sends must really be accepted: one request with the same
    # -cert/-key/-CAfile must get a 200 from this server.
    local status
    status=$(printf 'GET /healthz HTTP/1.0\r\n\r\n' |
        timeout 5 openssl s_client -quiet -connect "127.0.0.1:$server_port" -cert "$agent_crt" \
            -key "$agent_key" -CAfile "$ca_bundle" 2>/dev/null | head -1 | tr -d '\r')
    [[ $status == *" 200 "* ]] || die "$s: the s_time client chain is not accepted (got '$status')"
    [[ $s == trellisd ]] && m0=$(handshakes_total) # trellisd-n: each scrape is one worker's
    window_start
    local bg=()
    for i in $(seq "$n"); do
        stime_once "$work/stime-$s-$n-$i.txt" &
        bg+=($!)
    done
    wait "${bg[@]}" # not a bare wait: the server is a child of this shell too
    window_end "hs$n" "$s"
    for i in $(seq "$n"); do
        local c
        c=$(grep -o '^[0-9]* connections in [0-9.]* real' "$work/stime-$s-$n-$i.txt" | awk '{print $1}')
        [[ -n $c ]] || die "$s: s_time gave no figure: $(tail -3 "$work/stime-$s-$n-$i.txt")"
        total=$((total + c))
    done
    sample "hs${n}_rps" "$s" "$(calc "round($total/$w_secs)")"
    sample "hs${n}_per_cpu" "$s" "$(calc "round($total/$w_cpu)")"
    if [[ $s == trellisd ]]; then
        m1=$(handshakes_total)
        local ok=$((${m1% *} - ${m0% *})) bad=$((${m1#* } - ${m0#* }))
        say "$s: round $round: s_time x$n counted $total, trellisd completed $ok and refused $bad"
        ((bad == 0 && ok >= total)) || rec "hs${n}_note" "$s" "server refused $bad / completed $ok of $total"
    else
        say "$s: round $round: s_time x$n counted $total"
    fi
}

# ---- 3. memory per idle connection ----

run_idle() { # server counts
    # Memory is read 2 s after the last connection went idle: trellisd gives
    # an idle connection's TLS buffers back after 1 s (CONN_TIMER_SETTLE). PSS,
    # summed over the server's processes, is the figure; RSS is for reference.
    local s=$1 out="$work/idle-$1.json"
    timeout 240 python3 "$here/bench_node_idle.py" --port "$server_port" --cert "$agent_chain" \
        --key "$agent_key" --path /healthz --pids "$pids" --counts "$2" --procs 2 --settle 2 \
        >"$out" || die "$s: idle-connection holder failed"
    python3 - "$out" "$s" >"$work/idle-$1.rec" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = sys.argv[2]
print(f"pss_base {r['before']['Pss'] / 1024:.1f}")
print(f"rss_base {r['before']['VmRSS'] / 1024:.1f}")
for st in r["stages"]:
    t = st["target"]
    print(f"idle_alive_{t} {st['alive']}")
    print(f"idle_kib_{t} {st['kib_per_conn']}")
    print(f"idle_rss_kib_{t} {st['rss_kib_per_conn']}")
    print(f"pss_{t} {st['rss']['Pss'] / 1024:.1f}")
print(f"pss_after_close {r['after_close']['Pss'] / 1024:.1f}")
PY
    while read -r k v; do rec "$k" "$s" "$v"; done <"$work/idle-$1.rec"
}

# ---- run ----
# The three servers run side by side (an idle server costs nothing) and each
# measurement goes round all three before the next one starts, so a change in
# what else this machine is doing hits all of them alike. Memory comes first,
# on fresh processes. Only one server has load at any time.

read -r -a servers <<<"${BENCH_SERVERS:-trellisd nginx-1 trellisd-n nginx-auto}"
for s in "${servers[@]}"; do
    [[ -n ${PORT[$s]:-} ]] || die "BENCH_SERVERS: unknown server $s"
done
for s in "${servers[@]}"; do
    start_server "$s"
    say "$s: pids $pids, port $server_port"
done
say "=== 3. memory per idle connection"
for s in "${servers[@]}"; do
    use_server "$s"
    if [[ $s == nginx-auto || $s == trellisd-n ]]; then run_idle "$s" "$idle_auto"; else run_idle "$s" "$idle_counts"; fi
done
# The same work: show each server's reply to the same request once.
for s in "${servers[@]}"; do
    use_server "$s"
    say "$s: reply to GET /healthz: $(curl -sS -i --max-time 5 --cacert "$ca" --cert "$agent_chain" \
        --key "$agent_key" "https://127.0.0.1:$server_port/healthz" | tr -d '\r' |
        awk 'NR==1{printf "%s;", $0; next} /^$/{body=1; next} body{printf " body %s", $0; next}
             {sub(/:.*/, ""); printf " %s", $0}')"
done
# Each round runs every server once, starting from a different one each round.
rotated() { # round -> the servers in that round's order
    local i n=${#servers[@]}
    for ((i = 0; i < n; i++)); do echo "${servers[$(((i + $1 - 1) % n))]}"; done
}
say "=== 1. requests/s, ab -k ($rounds rounds)"
for round in $(seq "$rounds"); do
    for s in $(rotated "$round"); do
        use_server "$s"
        run_ab "$s"
        if [[ ${S[ab_rps|$s]} == *stall* && -z ${R[ab_probe|$s]:-} ]]; then
            reply=$(probe_http10)
            rec ab_probe "$s" 1
            say "$s: reply to an HTTP/1.0 keep-alive request:"
            sed 's/^/    /' <<<"$reply" >&2
            grep -qi '^connection:.*keep-alive' <<<"$reply" ||
                rec ab_note "$s" "HTTP/1.0 keep-alive reply has no 'Connection: keep-alive': ab -k waits for a close that never comes"
        fi
    done
done
say "=== 1. requests/s, HTTP/1.1 keep-alive ($rounds rounds)"
for round in $(seq "$rounds"); do
    for s in $(rotated "$round"); do use_server "$s"; run_load "$s"; done
done
say "=== 2. handshakes/s ($rounds rounds)"
for n in 1 2; do
    for round in $(seq "$rounds"); do
        for s in $(rotated "$round"); do use_server "$s"; run_stime "$s" "$n"; done
    done
done
for s in "${servers[@]}"; do stop_server "$s"; done

# Median and spread of each rate over the rounds; a round that gave no figure
# (ab stalled) makes the figure that word.
for k in "${!S[@]}"; do
    read -r med lo hi <<<"$(python3 -c '
import statistics, sys
v = sys.argv[1:]
if not all(x.replace(".", "", 1).isdigit() for x in v):
    print(next(x for x in v if not x.replace(".", "", 1).isdigit()), "-", "-")
else:
    f = [float(x) for x in v]
    print(*(("%d" % x if x == int(x) else "%.1f" % x) for x in (statistics.median(f), min(f), max(f))))' ${S[$k]})"
    R[$k]=$med
    [[ $lo == - ]] || R["${k%%|*}_spread|${k#*|}"]="$lo-$hi"
done

# ---- the table ----

rows=(
    "ab_rps|req/s, ab -k (HTTP/1.0 keep-alive), $conns conns|hi"
    "ab_per_cpu|  req per server CPU-second (ab -k)|hi"
    "ab_cpu_pct|  server CPU, % of one core (ab -k)|"
    "ab_other_pct|  other work on the machine, % of all CPUs|"
    "load_rps|req/s, HTTP/1.1 keep-alive (bench_node_load), $conns conns|hi"
    "load_per_cpu|  req per server CPU-second (HTTP/1.1)|hi"
    "load_cpu_pct|  server CPU, % of one core (HTTP/1.1)|"
    "load_other_pct|  other work on the machine, % of all CPUs|"
    "hs1_rps|handshakes/s, 1 s_time -new|hi"
    "hs1_per_cpu|  handshakes per server CPU-second (1 s_time)|hi"
    "hs1_cpu_pct|  server CPU, % of one core (1 s_time)|"
    "hs1_other_pct|  other work on the machine, % of all CPUs|"
    "hs2_rps|handshakes/s, 2 s_time -new in parallel|hi"
    "hs2_per_cpu|  handshakes per server CPU-second (2 s_time)|hi"
    "hs2_cpu_pct|  server CPU, % of one core (2 s_time)|"
    "hs2_other_pct|  other work on the machine, % of all CPUs|"
    "pss_base|PSS before, MiB (summed over the server's processes)|"
    "rss_base|  RSS before, MiB (summed; for reference)|"
)
for c in ${idle_counts//,/ }; do
    rows+=("idle_kib_$c|KiB PSS per idle TLS conn, $c conns|lo" "idle_rss_kib_$c|  KiB RSS per idle TLS conn (for reference)|"
        "pss_$c|PSS with $c idle conns, MiB|" "idle_alive_$c|  idle conns still open at measurement|")
done
rows+=("pss_after_close|PSS after closing them, MiB|")

src_version() {
    if [[ $src == "$root" ]]; then
        GIT_OPTIONAL_LOCKS=0 git -C "$root" describe --always --dirty 2>/dev/null || echo '?'
    else
        echo "built from $src$([[ -f $src/.commit ]] && echo ", an export of $(cat "$src/.commit")")"
    fi
}

cell() { # key server -> "median (lowest-highest)" or the single figure
    local v=${R[$1|$2]:--} sp=${R[${1}_spread|$2]:-}
    [[ -n $sp && $rounds -gt 1 ]] && v+=" ($sp)"
    echo "$v"
}
# Per-round ratios trellisd / nginx (the two ran in the same round).
ratio_spread() { # key trellisd-server nginx-server
    local t=${S[$1|$2]:-} n=${S[$1|$3]:-}
    [[ -n $t && -n $n && $rounds -gt 1 ]] || return 0
    python3 -c '
import sys
t, n = sys.argv[1].split(), sys.argv[2].split()
try:
    r = [float(a) / float(b) for a, b in zip(t, n) if float(b)]
except ValueError:
    sys.exit(0)
if r:
    print(" (%.2f-%.2f)" % (min(r), max(r)))' "$t" "$n"
}
ratio() { # key dir trellisd-server nginx-server -> "r (lo-hi) ok|SHORT" or ""
    local t=${R[$1|$3]:--} n=${R[$1|$4]:--} r=""
    if [[ -n $2 && $t =~ ^[0-9.]+$ && $n =~ ^[0-9.]+$ ]] && [[ $n != 0 ]]; then
        r=$(calc "f'{$t/$n:.2f}'")$(ratio_spread "$1" "$3" "$4")
        if [[ $2 == hi ]]; then
            (($(calc "int($t >= $n)"))) && r+=" ok" || r+=" SHORT"
        else
            (($(calc "int($t <= $n)"))) && r+=" ok" || r+=" SHORT"
        fi
    fi
    echo "$r"
}
table() {
    local np
    np=$(nproc)
    printf '%-56s %22s %22s %20s %22s %22s %20s\n' "metric" "trellisd 1 wkr" "nginx 1 wkr" "ratio 1*" \
        "trellisd $np wkr" "nginx auto ($np)" "ratio $np*"
    printf '%-56s %22s %22s %20s %22s %22s %20s\n' "------" "--------------" "-----------" "-------" \
        "----------------" "-----------------" "-------"
    local row key label dir t n tn a
    for row in "${rows[@]}"; do
        IFS='|' read -r key label dir <<<"$row"
        t=$(cell "$key" trellisd) n=$(cell "$key" nginx-1) tn=$(cell "$key" trellisd-n) a=$(cell "$key" nginx-auto)
        printf '%-56s %22s %22s %20s %22s %22s %20s\n' "$label" "$t" "$n" \
            "$(ratio "$key" "$dir" trellisd nginx-1)" "$tn" "$a" "$(ratio "$key" "$dir" trellisd-n nginx-auto)"
    done
    echo "* ratio 1 = trellisd workers = 1 / nginx worker_processes 1; ratio $np = trellisd workers = $np / nginx"
    echo "  worker_processes auto ($np processes each; trellisd's supervisor counts in CPU and memory, nginx's master too)."
    echo "  Of the medians; in brackets the lowest and highest of the per-round ratios; target: >= 1 for rates, <= 1"
    echo "  for memory. Rates: median (lowest-highest) of $rounds rounds, servers alternated within each round; only"
    echo "  2xx replies count. Memory: PSS summed over every process of a server, measured once, first."
    local s k
    for s in "${servers[@]}"; do
        for k in ab_note hs1_note hs2_note; do
            [[ -n ${R[$k|$s]:-} ]] && echo "note ($s, ${k%_note}): ${R[$k|$s]}"
        done
    done
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r); CPUs ${busy_start}% busy with other work at start"
    echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), $(openssl version | cut -d' ' -f1-2), ab $(ab -V | awk 'NR==1{print $5}'), trellisd $(src_version)"
    echo "settings: $rounds rounds, ab -n $ab_n (cap ${secs}s), ${secs}s per load run, s_time -time $stime_secs, $conns connections, idle counts $idle_counts (nginx auto, trellisd N: $idle_auto), servers ${servers[*]}, CRL check $([[ $use_crl == 1 ]] && echo on || echo off), quick=$quick, took $(($(date +%s) - t_start))s"
}

echo
table | tee "$build/bench_node_results.txt"
{
    printf '{'
    first=1
    for k in "${!R[@]}"; do
        [[ $first == 1 ]] || printf ', '
        first=0
        printf '"%s": "%s"' "$k" "${R[$k]//\"/\'}"
    done
    for k in "${!S[@]}"; do # every round's figure
        printf ', "rounds:%s": "%s"' "$k" "${S[$k]}"
    done
    printf '}\n'
} >"$build/bench_node_results.json"
