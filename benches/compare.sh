#!/usr/bin/env bash
# Measures the hub against its own raw baseline on this machine, in one run:
# the highest rate `tongguan sink` and `tongguan serve` sustain with zero
# loss (loadgen --rate max, medians of RUNS runs), serve's latency at fixed
# rates, and resident memory per tracked device. Prints one table (markdown)
# with the ratio serve/sink. All traffic stays on 127.0.0.1; every run is
# bounded in time; only processes this script started are stopped.
#
# Usage: benches/compare.sh [--quick]
#   --quick   shorter runs (5 s, 1 run each) for a smoke test of the script
# Env: RUNS (3), SECONDS_PER_RUN (10), CONNECTIONS (4), DEVICES_FOR_MEMORY (1000000)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-10}
CONNECTIONS=${CONNECTIONS:-4}
MEM_DEVICES=${DEVICES_FOR_MEMORY:-1000000}
if [[ "${1:-}" == "--quick" ]]; then RUNS=1; SECS=5; MEM_DEVICES=200000; fi
if [[ "${1:-}" == "--help" ]]; then sed -n '2,12p' "$0"; exit 0; fi

cargo build --release -p tongguan -p loadgen >&2
HUB=target/release/tongguan
LOADGEN=target/release/loadgen
WORK=$(mktemp -d)
HUB_PID=""
cleanup() {
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start MODE: a hub (serve or sink) on loopback ports the OS picks.
start() {
    rm -rf "$WORK/data"
    "$HUB" "$1" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$WORK/data" \
        > "$WORK/hub.out" 2> "$WORK/hub.err" &
    HUB_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
    QUIC=$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$WORK/hub.out")
    HTTP=$(sed -n 's#.*http://\([0-9.:]*\)/metrics.*#\1#p' "$WORK/hub.out")
}
stop() { kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$HUB_PID/status"; }
metric_sum() { curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d", s}'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(statistics.median(v))' "$@"; }
field() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r[sys.argv[1]])' "$1"; }

max_rate() { # MODE -> median events/s over RUNS zero-loss runs
    local rates=()
    for _ in $(seq "$RUNS"); do
        start "$1"
        local out
        out=$(timeout $((SECS + 30)) "$LOADGEN" --hub "$QUIC" --rate max --duration "${SECS}s" \
            --connections "$CONNECTIONS" --devices 100000 --batch 4096 --window 16 --quiet --json)
        stop
        local sent acked errors
        sent=$(field sent <<< "$out"); acked=$(field acked <<< "$out"); errors=$(field errors <<< "$out")
        if [[ "$sent" != "$acked" || "$errors" != "0" ]]; then echo "loss in $1: $out" >&2; rates+=(0); continue; fi
        rates+=("$(field events_per_sec <<< "$out")")
    done
    median "${rates[@]}"
}

latency_at() { # RATE -> "p50 p99 p999 loss"
    start serve
    local out
    out=$(timeout $((SECS + 30)) "$LOADGEN" --hub "$QUIC" --rate "$1" --duration "${SECS}s" \
        --connections "$CONNECTIONS" --devices 100000 --subscribe --quiet --json)
    stop
    local loss=$(( $(field sent <<< "$out") - $(field acked <<< "$out") ))
    echo "$(field latency_p50_ms <<< "$out") $(field latency_p99_ms <<< "$out") $(field latency_p999_ms <<< "$out") $loss $(field events_per_sec <<< "$out")"
}

echo "measuring the highest zero-loss rates ($RUNS runs of ${SECS}s each)..." >&2
SINK=$(max_rate sink)
SERVE=$(max_rate serve)

echo "measuring latency at fixed rates..." >&2
declare -A LAT
for r in 100000 500000 1000000; do LAT[$r]=$(latency_at "$r"); done

echo "measuring memory per tracked device ($MEM_DEVICES devices)..." >&2
start serve
sleep 1
BEFORE=$(rss_kib)
timeout 120 "$LOADGEN" --hub "$QUIC" --rate 400000 --duration "$((MEM_DEVICES * 3 / 400000 + 1))s" \
    --connections "$CONNECTIONS" --devices "$MEM_DEVICES" --quiet --json > "$WORK/mem.json"
sleep 1
AFTER=$(rss_kib)
TRACKED=$(metric_sum tongguan_shard_devices)
stop
PER_DEVICE=$(python3 -c "print(round(($AFTER - $BEFORE) * 1024 / max($TRACKED, 1), 1))")

RATIO=$(python3 -c "print(round($SERVE / $SINK, 2) if $SINK > 0 else 'n/a')")
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
cat <<TABLE
Machine: $(nproc) cores ($CPU), $(free -g | awk '/Mem:/ {print $2}') GiB; loadgen shares the cores with the hub.
Command: benches/compare.sh (RUNS=$RUNS, ${SECS}s per run, $CONNECTIONS connections)

| measure | sink | serve | serve/sink |
|---|---|---|---|
| highest zero-loss rate, events/s (median of $RUNS, loadgen --rate max) | $(printf '%.0f' "$SINK") | $(printf '%.0f' "$SERVE") | $RATIO |
TABLE
for r in 100000 500000 1000000; do
    read -r p50 p99 p999 loss achieved <<< "${LAT[$r]}"
    echo "| serve at $r events/s offered: achieved $(printf '%.0f' "$achieved")/s, loss $loss, event-to-order p50 / p99 / p99.9 ms | | $p50 / $p99 / $p999 | |"
done
echo "| resident memory per tracked device ($TRACKED devices tracked; RSS $BEFORE -> $AFTER KiB) | | $PER_DEVICE bytes | |"
