#!/usr/bin/env bash
# Measures the hub against its own raw baseline on this machine, in one run:
# the highest rate `tongguan sink` and `tongguan serve` sustain open loop
# with zero loss (a ladder of offered rates, medians of RUNS ladders), a
# 30-second run of serve at 2,000,000 events/s, serve's latency at fixed
# rates, the CPU each side spends per event, and resident memory per
# tracked device. Prints one table (markdown) with the ratio serve/sink.
# All traffic stays on 127.0.0.1; every run is bounded in count and time;
# only processes this script started are stopped.
#
# Usage: benches/compare.sh [--quick]
#   --quick   shorter runs (5 s, 1 ladder, a 10 s sustained run) for a smoke test
# Env: RUNS (3), SECONDS_PER_RUN (10), SUSTAIN_SECONDS (30), CONNECTIONS (4),
#      DEVICES_FOR_MEMORY (1000000), LADDER ("1000000 1500000 ... 4000000")
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-10}
SUSTAIN=${SUSTAIN_SECONDS:-30}
CONNECTIONS=${CONNECTIONS:-4}
MEM_DEVICES=${DEVICES_FOR_MEMORY:-1000000}
LADDER=${LADDER:-"1000000 2000000 3000000 4000000 4500000 5000000 5500000 6000000 7000000"}
if [[ "${1:-}" == "--quick" ]]; then RUNS=1; SECS=5; SUSTAIN=10; MEM_DEVICES=200000; fi
if [[ "${1:-}" == "--help" ]]; then sed -n '2,14p' "$0"; exit 0; fi

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
# CPU seconds (user + system, every thread) of the hub so far.
hub_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$HUB_PID/stat"; }
metric_sum() { curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d", s}'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v)))' "$@"; }
field() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(r[sys.argv[1]])' "$1"; }

# offer MODE RATE SECONDS [loadgen args...] -> one line:
#   "ok|short achieved loss unsent hub_ns loadgen_ns p50 p99 p999"
# ok: zero loss, nothing left unsent, no error, and >= 98 % of the offer achieved.
offer() {
    local mode=$1 rate=$2 secs=$3; shift 3
    start "$mode"
    local before out after
    before=$(hub_cpu)
    out=$(timeout $((secs * 2 + 60)) "$LOADGEN" --hub "$QUIC" --rate "$rate" --duration "${secs}s" \
        --connections "$CONNECTIONS" --devices 100000 --quiet --json "$@") || true
    after=$(hub_cpu)
    stop
    if [[ -z "$out" ]]; then echo "short 0 0 0 0 0 0 0 0"; return; fi
    python3 - "$out" "$before" "$after" "$rate" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); before, after, rate = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
loss = r["sent"] - r["acked"]
ok = loss == 0 and r["unsent"] == 0 and r["errors"] == 0 and r["events_per_sec"] >= 0.98 * rate
hub_ns = (after - before) * 1e9 / max(r["sent"], 1)
print("ok" if ok else "short", round(r["events_per_sec"]), loss, r["unsent"], round(hub_ns),
      round(r.get("cpu_ns_per_event") or 0), r["latency_p50_ms"], r["latency_p99_ms"], r["latency_p999_ms"])
PY
}

# ladder MODE: sets BEST to the highest rate of LADDER sustained (0 if
# none), climbing until the first rate that is not, and keeps the CPU
# figures at 1M/s (the last ladder's) in CPU_AT_1M.
declare -A CPU_AT_1M
ladder() {
    local mode=$1 res verdict hub_ns lg_ns
    BEST=0
    for rate in $LADDER; do
        res=$(offer "$mode" "$rate" "$SECS")
        echo "  $mode at $rate: $res" >&2
        read -r verdict _ _ _ hub_ns lg_ns _ _ _ <<< "$res"
        if [[ "$rate" == "1000000" ]]; then CPU_AT_1M[$mode]="$hub_ns $lg_ns"; fi
        [[ "$verdict" == "ok" ]] || break
        BEST=$rate
    done
}

echo "climbing the ladder of offered rates ($RUNS ladders of ${SECS}s steps)..." >&2
SINK_RATES=(); SERVE_RATES=()
for _ in $(seq "$RUNS"); do
    ladder sink; SINK_RATES+=("$BEST")
    ladder serve; SERVE_RATES+=("$BEST")
done
SINK=$(median "${SINK_RATES[@]}")
SERVE=$(median "${SERVE_RATES[@]}")

echo "serve at 2000000 events/s for ${SUSTAIN}s..." >&2
SUSTAINED=$(offer serve 2000000 "$SUSTAIN" --subscribe)

echo "measuring latency at fixed rates..." >&2
declare -A LAT
# More incidents than by default, for more latency samples per run; the
# orders of the first 2 s (connections' slow start, cold caches) are left
# out of the latency figures, not out of the load.
for r in 100000 500000 1000000; do LAT[$r]=$(offer serve "$r" "$SECS" --subscribe --incidents 100 --warmup 2s); done

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
read -r SINK_HUB_NS SINK_LG_NS <<< "${CPU_AT_1M[sink]:-0 0}"
read -r SERVE_HUB_NS SERVE_LG_NS <<< "${CPU_AT_1M[serve]:-0 0}"
read -r s_verdict s_achieved s_loss s_unsent _ _ _ s_p99 _ <<< "$SUSTAINED"
cat <<TABLE
Machine: $(nproc) cores ($CPU), $(free -g | awk '/Mem:/ {print $2}') GiB; loadgen shares the cores with the hub.
Command: benches/compare.sh (RUNS=$RUNS, ${SECS}s per step, $CONNECTIONS connections, ladder $LADDER)

| measure | sink | serve | serve/sink |
|---|---|---|---|
| highest sustained rate, events/s (open loop, zero loss, median of $RUNS ladders: ${SINK_RATES[*]} / ${SERVE_RATES[*]}) | $SINK | $SERVE | $RATIO |
| hub CPU per event at 1,000,000 events/s, ns | $SINK_HUB_NS | $SERVE_HUB_NS | $(python3 -c "print(round($SERVE_HUB_NS / $SINK_HUB_NS, 2) if $SINK_HUB_NS > 0 else 'n/a')") |
| loadgen CPU per event at 1,000,000 events/s, ns | $SINK_LG_NS | $SERVE_LG_NS | |
| serve at 2000000 events/s offered for ${SUSTAIN}s: $s_verdict, achieved $s_achieved/s, loss $s_loss, unsent $s_unsent | | p99 $s_p99 ms | |
TABLE
for r in 100000 500000 1000000; do
    read -r verdict achieved loss unsent hub_ns lg_ns p50 p99 p999 <<< "${LAT[$r]}"
    echo "| serve at $r events/s offered: $verdict, achieved $achieved/s, loss $loss, event-to-order p50 / p99 / p99.9 ms (first 2 s left out) | | $p50 / $p99 / $p999 | |"
done
echo "| resident memory per tracked device ($TRACKED devices tracked; RSS $BEFORE -> $AFTER KiB) | | $PER_DEVICE bytes | |"
