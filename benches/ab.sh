#!/usr/bin/env bash
# Two hub binaries side by side, alternating A, B, A, B ... in one run, with
# the same generator: the hub's CPU per event and the event-to-order p99 at
# a fixed rate (with subscribers), whether each sustains a higher rate with
# zero loss, and resident memory per tracked device. For "new against old"
# figures that machine-to-machine differences cannot blur. All traffic on
# 127.0.0.1; every run bounded in time; only processes started here are
# stopped.
#
# Usage: benches/ab.sh OLD_HUB NEW_HUB [LOADGEN]
# Env: RUNS (3), SECS (10), RATE (1000000), HIGH (3000000), DEVICES (200000)
set -euo pipefail
OLD=$1; NEW=$2; LOADGEN=${3:-target/release/loadgen}
RUNS=${RUNS:-3}; SECS=${SECS:-10}; RATE=${RATE:-1000000}; HIGH=${HIGH:-3000000}; DEVICES=${DEVICES:-200000}
WORK=$(mktemp -d); HUB_PID=""
cleanup() {
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start() {
    rm -rf "$WORK/data"; : > "$WORK/hub.out"
    "$1" serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/hub.out" 2> /dev/null &
    HUB_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
    QUIC=$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$WORK/hub.out")
    HTTP=$(sed -n 's#.*HTTP http://\([0-9.:]*\)/metrics.*#\1#p' "$WORK/hub.out")
}
stop() { kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
hub_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$HUB_PID/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$HUB_PID/status"; }

# offer HUB RATE [loadgen args] -> "ok|short achieved hub_ns p99_ms"
offer() {
    local hub=$1 rate=$2; shift 2
    start "$hub"
    local before out after
    before=$(hub_cpu)
    out=$(timeout $((SECS * 2 + 60)) "$LOADGEN" --hub "$QUIC" --rate "$rate" --duration "${SECS}s" \
        --connections 4 --devices 100000 --quiet --json "$@") || true
    after=$(hub_cpu)
    stop
    python3 - "$out" "$before" "$after" "$rate" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print("short 0 0 0"); sys.exit()
before, after, rate = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ok = r["sent"] == r["acked"] and r["unsent"] == 0 and r["errors"] == 0 and r["events_per_sec"] >= 0.98 * rate
print("ok" if ok else "short", round(r["events_per_sec"]), round((after - before) * 1e9 / max(r["sent"], 1)), r["latency_p99_ms"])
PY
}

per_device() {
    start "$1"; sleep 1
    local before after tracked
    before=$(rss_kib)
    timeout 120 "$LOADGEN" --hub "$QUIC" --rate 400000 --duration "$((DEVICES * 3 / 400000 + 1))s" \
        --connections 4 --devices "$DEVICES" --quiet --json > /dev/null || true
    sleep 1; after=$(rss_kib)
    tracked=$(curl -s "http://$HTTP/metrics" | awk '$1 ~ /^tongguan_shard_devices/ {s += $2} END {print s + 0}')
    stop
    python3 -c "print(round(($after - $before) * 1024 / max($tracked, 1), 1))"
}

echo "run side rate verdict achieved hub_ns_per_event p99_ms"
for run in $(seq "$RUNS"); do
    for side in old new; do
        hub=$OLD; [[ $side == new ]] && hub=$NEW
        echo "$run $side $RATE $(offer "$hub" "$RATE" --subscribe --incidents 100 --warmup 2s)"
        echo "$run $side $HIGH $(offer "$hub" "$HIGH")"
    done
done
for side in old new; do
    hub=$OLD; [[ $side == new ]] && hub=$NEW
    echo "memory $side bytes_per_device $(per_device "$hub")"
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
