#!/usr/bin/env bash
# A working local federation: installs what is missing, builds, makes a
# throwaway consortium PKI and starts three charity nodes on loopback, each
# with its own PostgreSQL cluster. Safe to run again while up.
#   ./deploy/demo.sh          start (or show) the demo
#   ./deploy/demo.sh down     stop every process it started
#   ./deploy/demo.sh status   show what runs
# State: $TRELLIS_DEMO_DIR (default ./.demo/), with federation.json.
# TRELLIS_DEMO_BUILD_DIR: take trellisd and trellis from this existing build
# folder and build nothing (the tests use their sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=${TRELLIS_DEMO_DIR:-$root/.demo}
mkdir -p "$demo"
demo=$(cd "$demo" && pwd)
build=${TRELLIS_DEMO_BUILD_DIR:-$root/build}
orgs=(northside-womens-aid riverside-sv-centre eastgate-youth-project)

say() { printf 'demo: %s\n' "$*" >&2; }

as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_port() { # the port a node listens on, chosen once and kept
    local f=$demo/$1/api.port
    mkdir -p "$demo/$1"
    [[ -f $f ]] || free_port >"$f"
    cat "$f"
}

viewer_port() { # the port of a node's viewer, chosen once and kept
    local f=$demo/$1/viewer.port
    mkdir -p "$demo/$1"
    [[ -f $f ]] || free_port >"$f"
    cat "$f"
}

down() {
    for org in "${orgs[@]}"; do
        local d=$demo/$org
        if alive "$d/trellisd.pid"; then
            kill -TERM "$(cat "$d/trellisd.pid")" 2>/dev/null || true
            # It drains for up to shutdown_timeout (5s below); one that is
            # still there after that is hung: kill it rather than leave it
            # running with its pid file gone.
            for _ in $(seq 70); do alive "$d/trellisd.pid" || break; sleep 0.1; done
            if alive "$d/trellisd.pid"; then
                kill -KILL "$(cat "$d/trellisd.pid")" 2>/dev/null || true
                say "trellisd of $org did not stop on SIGTERM: killed"
            else
                say "stopped trellisd of $org"
            fi
        fi
        rm -f "$d/trellisd.pid"
        local pgd; pgd=$(readlink -f "$d/pg") # PostgreSQL's tools get the real path
        if [[ -f $pgd/data/postmaster.pid ]]; then
            as_pg "$(pg_bin)/pg_ctl" -D "$pgd/data" -m fast -w stop >/dev/null 2>&1 || true
            say "stopped PostgreSQL of $org"
        fi
    done
}

# As root, PostgreSQL runs as the postgres user, which must reach its data
# folder: a demo folder under /root or made by mktemp (mode 0700) is out of
# its reach. Then each cluster lives in a folder of its own under /var/tmp,
# linked from the demo folder as $demo/ORG/pg (remove both when done).
place_pg() {
    local org=$1 d=$demo/$1/pg
    [[ -L $d && ! -e $d ]] && rm -f "$d" # its folder was cleaned away
    [[ -e $d ]] && return 0
    if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$demo/$org"; then
        local away
        away=$(mktemp -d /var/tmp/trellis-demo-pg.XXXXXX)
        chown postgres: "$away"
        ln -s "$away" "$d"
        say "$org: PostgreSQL cannot reach $demo: its cluster is in $away"
    else
        mkdir -p "$d"
        if [[ $(id -u) -eq 0 ]]; then chown postgres: "$d"; fi
    fi
}

start_pg() {
    local org=$1 d
    place_pg "$org"
    d=$(readlink -f "$demo/$org/pg") # PostgreSQL's tools get the real path
    if [[ ! -f $d/data/PG_VERSION ]]; then
        as_pg "$(pg_bin)/initdb" -D "$d/data" -U trellis --auth=trust -E UTF8 --locale=C \
            --no-sync >/dev/null
        local port; port=$(free_port)
        printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" \
            "$port" "$d" | as_pg tee -a "$d/data/postgresql.conf" >/dev/null
        echo "$port" >"$demo/$org/pg.port"
    fi
    if [[ ! -f $d/data/postmaster.pid ]]; then
        as_pg "$(pg_bin)/pg_ctl" -D "$d/data" -l "$d/log" -w start >/dev/null
    fi
    local port; port=$(cat "$demo/$org/pg.port")
    if ! psql -X -q -h 127.0.0.1 -p "$port" -U trellis -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname='trellis'" | grep -q 1; then
        psql -X -q -h 127.0.0.1 -p "$port" -U trellis -d postgres -c "CREATE DATABASE trellis"
    fi
}

make_pki() {
    local pki=$demo/pki trellis=$build/client/trellis
    if [[ ! -f $pki/ca.crt ]]; then
        "$trellis" pki --dir "$pki" init-consortium --name "Demo Consortium Root CA" >/dev/null
    fi
    for org in "${orgs[@]}"; do
        [[ -d $pki/orgs/$org ]] || "$trellis" pki --dir "$pki" add-org "$org" >/dev/null
        [[ -f $pki/orgs/$org/nodes/node.crt ]] ||
            "$trellis" pki --dir "$pki" issue-node "$org" node --host localhost --host 127.0.0.1 >/dev/null
        [[ -f $pki/orgs/$org/agents/agent.crt ]] ||
            "$trellis" pki --dir "$pki" issue-agent "$org" agent >/dev/null
    done
}

start_node() {
    local org=$1 d=$demo/$1 pki=$demo/pki
    local port; port=$(node_port "$org")
    cat >"$d/trellisd.conf" <<CONF
# Demo node of $org (written by deploy/demo.sh)
[node]
listen = 127.0.0.1:$port
log_requests = all
shutdown_timeout = 5s

[tls]
cert = $pki/orgs/$org/nodes/node.chain.crt
key = $pki/orgs/$org/nodes/node.key
ca = $pki/ca.crt
crl = $pki/crl.pem

[database]
url = postgresql://trellis@127.0.0.1:$(cat "$d/pg.port")/trellis
migrations = $root/sql

# The viewer on loopback, without a proxy (as loopback allows): docs/viewer.md
[viewer]
listen = 127.0.0.1:$(viewer_port "$org")
CONF
    # A mesh: every node peers with the two others and shares everything.
    local other
    for other in "${orgs[@]}"; do
        [[ $other == "$org" ]] && continue
        printf '\n[peer %s]\nurl = https://127.0.0.1:%s\norg = %s\nshare = all\n' \
            "$other" "$(node_port "$other")" "$other" >>"$d/trellisd.conf"
    done
    if ! alive "$d/trellisd.pid"; then
        setsid "$build/server/trellisd" --config "$d/trellisd.conf" >>"$d/trellisd.log" 2>&1 &
        echo $! >"$d/trellisd.pid"
    fi
    for _ in $(seq 100); do
        if curl -fsS --cacert "$pki/ca.crt" --cert "$pki/orgs/$org/agents/agent.chain.crt" \
            --key "$pki/orgs/$org/agents/agent.key" "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
            return 0
        fi
        alive "$d/trellisd.pid" || { tail -5 "$d/trellisd.log" >&2; say "trellisd of $org exited"; return 1; }
        sleep 0.1
    done
    say "trellisd of $org not ready; see $d/trellisd.log"
    return 1
}

write_federation() {
    local pki=$demo/pki first=1
    {
        echo '{"nodes": ['
        for org in "${orgs[@]}"; do
            local d=$demo/$org
            [[ $first -eq 1 ]] || echo ','
            first=0
            printf '  {"org": "%s", "api_url": "https://127.0.0.1:%s", "database_url": "postgresql://trellis@127.0.0.1:%s/trellis",\n' \
                "$org" "$(node_port "$org")" "$(cat "$d/pg.port")"
            printf '   "ca": "%s", "agent_cert": "%s", "agent_key": "%s", "node_cert": "%s",\n' \
                "$pki/ca.crt" "$pki/orgs/$org/agents/agent.chain.crt" "$pki/orgs/$org/agents/agent.key" \
                "$pki/orgs/$org/nodes/node.chain.crt"
            printf '   "viewer_url": "http://127.0.0.1:%s/viewer/",\n' "$(viewer_port "$org")"
            printf '   "config": "%s", "pid_file": "%s", "log_file": "%s"}' \
                "$d/trellisd.conf" "$d/trellisd.pid" "$d/trellisd.log"
        done
        echo
        echo ']}'
    } >"$demo/federation.json"
}

# POST a batch of records with an organisation's agent; print what happened.
push() {
    local org=$1 to=$2 part=$3 pki=$demo/pki out
    out=$(python3 "$root/deploy/sample_data.py" "$org" --part "$part" |
        curl -fsS --cacert "$pki/ca.crt" --cert "$pki/orgs/$org/agents/agent.chain.crt" \
            --key "$pki/orgs/$org/agents/agent.key" -H 'Content-Type: application/json' \
            --data-binary @- "https://127.0.0.1:$(node_port "$to")/v1/records") || return 1
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("stored %d, unchanged %d, refused %d" % (r["stored"], r["unchanged"], r["refused"]))' <<<"$out"
}

# Sample data, through the API, each charity on its own node only: the mesh
# spreads it. A receiving charity records what happened to the referrals it
# got once they have reached its node. Idempotent: a second load stores nothing.
load_data() {
    for org in "${orgs[@]}"; do
        say "$org: directory services: $(push "$org" "$org" services)"
        say "$org: referrals, events and feedback: $(push "$org" "$org" own)"
    done
    local want=$(( ${#orgs[@]} * 100 )) org n
    for org in "${orgs[@]}"; do
        for _ in $(seq 300); do
            n=$(psql -X -q -tA -h 127.0.0.1 -p "$(cat "$demo/$org/pg.port")" -U trellis -d trellis \
                -c "SELECT count(*) FROM pathway_referrals")
            [[ $n -ge $want ]] && break
            sleep 0.2
        done
        say "$org: $n of $want referrals have reached its node"
    done
    for org in "${orgs[@]}"; do
        say "$org: events on referrals it received: $(push "$org" "$org" received)"
    done
}

status() {
    for org in "${orgs[@]}"; do
        local d=$demo/$org state=stopped
        alive "$d/trellisd.pid" && state="running (pid $(cat "$d/trellisd.pid"))"
        printf '  %-24s https://127.0.0.1:%s  viewer http://127.0.0.1:%s/viewer/  %s\n' "$org" \
            "$(cat "$d/api.port" 2>/dev/null || echo '?')" "$(cat "$d/viewer.port" 2>/dev/null || echo '?')" "$state"
    done
}

case "${1:-up}" in
down) down; exit 0 ;;
status) status; exit 0 ;;
up) ;;
*) echo "usage: $0 [up|down|status]" >&2; exit 2 ;;
esac

./deploy/install-deps.sh
if [[ -n ${TRELLIS_DEMO_BUILD_DIR:-} ]]; then
    say "using the build in $build"
else
    say "building into $build"
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRELLIS_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" >/dev/null
fi
make_pki
for org in "${orgs[@]}"; do
    mkdir -p "$demo/$org"
    start_pg "$org"
    start_node "$org"
done
write_federation
load_data

first=${orgs[0]}
cat <<MSG

Trellis demo federation is up (state in $demo, map in $demo/federation.json):
$(status)

Ask a node who you are, with the agent certificate of $first:
  curl --cacert $demo/pki/ca.crt --cert $demo/pki/orgs/$first/agents/agent.chain.crt --key $demo/pki/orgs/$first/agents/agent.key https://127.0.0.1:$(node_port "$first")/v1/whoami
The same with a path of your choice: /oruk/services (the shared directory),
/v1/referrals?direction=in, /v1/feedback, /v1/changes?since=0, /v1/fed/status.
Look in a browser (the viewer: directory, coverage, pathways, feedback):
  http://127.0.0.1:$(viewer_port "$first")/viewer/
How the mesh is doing:
  $build/client/trellis status --node https://127.0.0.1:$(node_port "$first") --cert $demo/pki/orgs/$first/agents/agent.chain.crt --key $demo/pki/orgs/$first/agents/agent.key --ca $demo/pki/ca.crt

Stop everything: ./deploy/demo.sh down
MSG
