#!/usr/bin/env bash
# Two loadgen binaries side by side against the same hub binary,
# alternating A, B, A, B ... (a fresh hub for every run): per run, the
# generator's CPU per event (its own cpu_ns_per_event) beside the hub's
# (from /proc), the rate achieved and whether every event was
# acknowledged. Prints one line per run, then the medians. All traffic on
# 127.0.0.1; every run bounded in time; only processes started here are
# stopped.
#
# Usage: benches/loadgen_ab.sh OLD_LOADGEN NEW_LOADGEN [HUB]
# Env: RUNS (3), SECS (10), RATE (1000000), CONNECTIONS (4), DEVICES (100000),
#      EXTRA (more loadgen flags, e.g. "--subscribe --incidents 100")
set -euo pipefail
OLD=$1; NEW=$2; HUB=${3:-target/release/tongguan}
RUNS=${RUNS:-3}; SECS=${SECS:-10}; RATE=${RATE:-1000000}
CONNECTIONS=${CONNECTIONS:-4}; DEVICES=${DEVICES:-100000}; EXTRA=${EXTRA:-}
WORK=$(mktemp -d); HUB_PID=""
cleanup() {
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

start() {
    rm -rf "$WORK/data"; : > "$WORK/hub.out"
    "$HUB" serve --listen 127.0.0.1:0 --admin 127.0.0.1:0 --data-dir "$WORK/data" > "$WORK/hub.out" 2> /dev/null &
    HUB_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
    QUIC=$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$WORK/hub.out")
}
stop() { kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
hub_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$HUB_PID/stat"; }

# one LOADGEN -> "ok|short achieved loadgen_ns hub_ns p99_ms"
one() {
    start
    local before out after
    before=$(hub_cpu)
    # shellcheck disable=SC2086
    out=$(timeout $((SECS * 2 + 60)) "$1" --hub "$QUIC" --rate "$RATE" --duration "${SECS}s" \
        --connections "$CONNECTIONS" --devices "$DEVICES" --quiet --json $EXTRA) || true
    after=$(hub_cpu)
    stop
    python3 - "$out" "$before" "$after" "$RATE" <<'PY'
import json, sys
try:
    r = json.loads(sys.argv[1])
except ValueError:
    print("short 0 0 0 0"); sys.exit()
before, after, rate = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ok = r["sent"] == r["acked"] and r["unsent"] == 0 and r["errors"] == 0 and r["events_per_sec"] >= 0.98 * rate
hub_ns = (after - before) * 1e9 / max(r["sent"], 1)
print("ok" if ok else "short", round(r["events_per_sec"]), round(r["cpu_ns_per_event"] or 0), round(hub_ns), r["latency_p99_ms"])
PY
}

declare -a A_LG A_HUB B_LG B_HUB
for run in $(seq "$RUNS"); do
    for side in A B; do
        bin=$OLD; [[ $side == B ]] && bin=$NEW
        res=$(one "$bin")
        echo "run $run $side: $res"
        read -r _ _ lg hub _ <<< "$res"
        if [[ $side == A ]]; then A_LG+=("$lg"); A_HUB+=("$hub"); else B_LG+=("$lg"); B_HUB+=("$hub"); fi
    done
done
median() { python3 -c 'import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:])))' "$@"; }
echo "medians at $RATE events/s ($RUNS runs each): A loadgen $(median "${A_LG[@]}") ns/event, hub $(median "${A_HUB[@]}") ns/event; B loadgen $(median "${B_LG[@]}") ns/event, hub $(median "${B_HUB[@]}") ns/event"
