#!/usr/bin/env bash
# What the recording ([record], docs/RECORDING.md) costs the hub: serve
# with the recording off and with mode = "all", alternating off, on, off,
# on ... in one run with the same generator: the hub's CPU per event, the
# event-to-order p99 at the subscribers, what was achieved, and (on) the
# batches and bytes recorded and dropped. All traffic on 127.0.0.1; every
# run bounded in time; only processes started here are stopped.
#
# Usage: benches/record.sh [HUB] [LOADGEN]
# Env: RUNS (3), SECS (10), RATE (1000000)
set -euo pipefail
HUB=${1:-target/release/tongguan}; LOADGEN=${2:-target/release/loadgen}
RUNS=${RUNS:-3}; SECS=${SECS:-10}; RATE=${RATE:-1000000}
WORK=$(mktemp -d); HUB_PID=""
cleanup() {
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
printf '[record]\nmode = "off"\n' > "$WORK/off.toml"
printf '[record]\nmode = "all"\n' > "$WORK/on.toml"

start() {
    rm -rf "$WORK/data"; : > "$WORK/hub.out"
    "$HUB" serve --config "$WORK/$1.toml" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/hub.out" 2> /dev/null &
    HUB_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
    QUIC=$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$WORK/hub.out")
    HTTP=$(sed -n 's#.*HTTP http://\([0-9.:]*\)/metrics.*#\1#p' "$WORK/hub.out")
}
stop() { kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
hub_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$HUB_PID/stat"; }
scrape() { curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

# offer off|on -> "verdict achieved hub_ns p99_ms recorded_batches dropped_batches recorded_mib"
offer() {
    start "$1"
    local before out after rec drop bytes
    before=$(hub_cpu)
    out=$(timeout $((SECS * 2 + 60)) "$LOADGEN" --hub "$QUIC" --rate "$RATE" --duration "${SECS}s" \
        --connections 4 --devices 100000 --subscribe --incidents 100 --warmup 2s --quiet --json) || true
    after=$(hub_cpu)
    rec=$(scrape tongguan_record_batches_total); drop=$(scrape tongguan_record_dropped_batches_total)
    bytes=$(scrape tongguan_record_bytes_total)
    stop
    python3 - "$out" "$before" "$after" "$RATE" "${rec:-0}" "${drop:-0}" "${bytes:-0}" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print("short 0 0 0 0 0 0"); sys.exit()
before, after, rate = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ok = r["sent"] == r["acked"] and r["unsent"] == 0 and r["errors"] == 0 and r["events_per_sec"] >= 0.98 * rate
print("ok" if ok else "short", round(r["events_per_sec"]), round((after - before) * 1e9 / max(r["sent"], 1)),
      r["latency_p99_ms"], int(float(sys.argv[5])), int(float(sys.argv[6])), round(float(sys.argv[7]) / 2**20))
PY
}

echo "run record verdict achieved hub_ns_per_event p99_ms recorded_batches dropped_batches recorded_mib"
for run in $(seq "$RUNS"); do
    for side in off on; do
        echo "$run $side $(offer "$side")"
    done
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
