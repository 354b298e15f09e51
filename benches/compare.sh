#!/usr/bin/env bash
# Measures the hub against its own raw baseline on this machine, in one run:
# the highest rate `tongguan sink` and `tongguan serve` sustain open loop
# with zero loss (a coarse ladder of offered rates, then steps of 250k
# between the last step sustained and the first that is not; medians of
# RUNS ladders), a 30-second run of serve at 2,000,000 events/s, serve's
# latency at fixed rates (end to end, and the hub's own p99 at 1M), the CPU
# each side spends per event, and resident memory per tracked device with
# every one of a million devices heard. Prints one table (markdown) with
# the ratio serve/sink; with BASE_HUB, the ladders also run against an
# older hub binary, alternating, and the table compares the two.
# All traffic stays on 127.0.0.1; every run is bounded in count and time;
# only processes this script started are stopped.
#
# Usage: benches/compare.sh [--quick]
#   --quick   shorter runs (5 s, 1 ladder, a 10 s sustained run) for a smoke test
# Env: RUNS (3), SECONDS_PER_RUN (10), SUSTAIN_SECONDS (30), CONNECTIONS (4),
#      DEVICES_FOR_MEMORY (1000000), LADDER ("1000000 2000000 ... 7000000 8000000 10000000"),
#      FINE_STEP (250000), BASE_HUB (an older tongguan binary to compare with)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
SECS=${SECONDS_PER_RUN:-10}
SUSTAIN=${SUSTAIN_SECONDS:-30}
CONNECTIONS=${CONNECTIONS:-4}
MEM_DEVICES=${DEVICES_FOR_MEMORY:-1000000}
LADDER=${LADDER:-"1000000 2000000 3000000 4000000 4500000 5000000 5500000 6000000 7000000 8000000 10000000"}
FINE_STEP=${FINE_STEP:-250000}
BASE_HUB=${BASE_HUB:-}
if [[ "${1:-}" == "--quick" ]]; then RUNS=1; SECS=5; SUSTAIN=10; MEM_DEVICES=200000; fi
if [[ "${1:-}" == "--help" ]]; then sed -n '2,19p' "$0"; exit 0; fi

cargo build --release -p tongguan -p loadgen >&2
NEW_HUB=target/release/tongguan
LOADGEN=target/release/loadgen
if [[ -n "$BASE_HUB" && ! -x "$BASE_HUB" ]]; then echo "BASE_HUB=$BASE_HUB is not an executable" >&2; exit 1; fi
WORK=$(mktemp -d)
HUB_PID=""
WARM_PID=""
cleanup() {
    if [[ -n "$WARM_PID" ]] && kill -0 "$WARM_PID" 2>/dev/null; then kill "$WARM_PID" 2>/dev/null || true; fi
    if [[ -n "$HUB_PID" ]] && kill -0 "$HUB_PID" 2>/dev/null; then kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# hub_flags BIN MODE: the flags of `BIN MODE` for loopback ports the OS
# picks and a fresh data dir; a flag the binary's help does not list
# (an older hub) is left out.
hub_flags() {
    local help
    help=$("$1" "$2" --help 2>&1 || true)
    FLAGS=()
    for f in "--listen 127.0.0.1:0" "--admin 127.0.0.1:0" "--data-dir $WORK/data"; do
        if grep -q -- "${f%% *}" <<< "$help"; then read -r -a pair <<< "$f"; FLAGS+=("${pair[@]}"); fi
    done
}

# start MODE [BIN]: a hub (serve or sink; the new binary unless BIN) on
# loopback ports the OS picks.
start() {
    local bin=${2:-$NEW_HUB}
    rm -rf "$WORK/data"; : > "$WORK/hub.out"
    hub_flags "$bin" "$1"
    "$bin" "$1" "${FLAGS[@]}" > "$WORK/hub.out" 2> "$WORK/hub.err" &
    HUB_PID=$!
    for _ in $(seq 100); do [[ -s "$WORK/hub.out" ]] && break; sleep 0.1; done
    QUIC=$(sed -n 's/.*QUIC \([0-9.:]*\) .*/\1/p' "$WORK/hub.out")
    HTTP=$(sed -n 's#.*http://\([0-9.:]*\)/metrics.*#\1#p' "$WORK/hub.out")
    if [[ -z "$QUIC" ]]; then
        echo "$bin $1 did not print its QUIC address; its stderr:" >&2
        tail -n 20 "$WORK/hub.err" >&2
        exit 1
    fi
}
stop() { kill "$HUB_PID"; wait "$HUB_PID" 2>/dev/null || true; HUB_PID=""; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$HUB_PID/status"; }
# CPU seconds (user + system, every thread) of the hub so far.
hub_cpu() { awk '{print ($14 + $15) / 100}' "/proc/$HUB_PID/stat"; }
metric_sum() { curl -s "http://$HTTP/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {printf "%d", s}'; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(round(statistics.median(v)) if v else 0)' "$@"; }
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(round(a / b, 2) if b > 0 else 'n/a')" "$1" "$2"; }

# hub_p99 AFTER [BEFORE]: the p99 (ms) of tongguan_event_to_order_seconds
# in the scrape AFTER (minus the scrape BEFORE), its buckets summed over
# every label set, interpolated linearly inside the bucket it falls in
# (so at most that bucket's upper bound); "n/a" without orders.
hub_p99() {
    python3 - "$@" <<'PY'
import re, sys
def buckets(path):
    b = {}
    try:
        text = open(path).read()
    except OSError:
        return b
    for line in text.splitlines():
        m = re.match(r'tongguan_event_to_order_seconds_bucket\{.*le="([^"]+)".*\}\s+(\S+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            b[le] = b.get(le, 0.0) + float(m.group(2))
    return b
after = buckets(sys.argv[1])
before = buckets(sys.argv[2]) if len(sys.argv) > 2 else {}
cum = sorted((le, n - before.get(le, 0.0)) for le, n in after.items())
total = cum[-1][1] if cum else 0
if total <= 0:
    print("n/a"); sys.exit()
target, lower, below = 0.99 * total, 0.0, 0.0
for le, n in cum:
    if n >= target:
        if le == float("inf"):
            print(f">{lower * 1000:g}"); sys.exit()
        print(round((lower + (le - lower) * (target - below) / max(n - below, 1e-9)) * 1000, 3)); sys.exit()
    lower, below = le, n
PY
}

# offer MODE RATE SECONDS [loadgen args...] -> one line:
#   "ok|short achieved loss unsent hub_ns loadgen_ns p50 p99 p999 hub_p99"
# ok: zero loss, nothing left unsent, no error, and >= 98 % of the offer
# achieved. hub_p99: the hub's own event-to-order p99 (ms, from /metrics,
# scraped before the hub stops; with WARM_SCRAPE=N set, the orders of the
# first N seconds after loadgen starts are left out). OFFER_HUB picks the
# binary (the new one by default).
offer() {
    local mode=$1 rate=$2 secs=$3; shift 3
    start "$mode" "${OFFER_HUB:-$NEW_HUB}"
    local before out after
    rm -f "$WORK/warm.prom" "$WORK/end.prom"
    before=$(hub_cpu)
    if [[ -n "${WARM_SCRAPE:-}" ]]; then
        (sleep "$WARM_SCRAPE"; curl -s -m 5 "http://$HTTP/metrics" > "$WORK/warm.prom" || true) &
        WARM_PID=$!
    fi
    out=$(timeout $((secs * 2 + 60)) "$LOADGEN" --hub "$QUIC" --rate "$rate" --duration "${secs}s" \
        --connections "$CONNECTIONS" --devices 100000 --quiet --json "$@") || true
    after=$(hub_cpu)
    if [[ -n "$WARM_PID" ]]; then wait "$WARM_PID" 2>/dev/null || true; WARM_PID=""; fi
    curl -s -m 5 "http://$HTTP/metrics" > "$WORK/end.prom" || true
    stop
    local own
    if [[ -s "$WORK/warm.prom" ]]; then own=$(hub_p99 "$WORK/end.prom" "$WORK/warm.prom"); else own=$(hub_p99 "$WORK/end.prom"); fi
    if [[ -z "$out" ]]; then echo "short 0 0 0 0 0 0 0 0 $own"; return; fi
    python3 - "$out" "$before" "$after" "$rate" "$own" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); before, after, rate = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
loss = r["sent"] - r["acked"]
ok = loss == 0 and r["unsent"] == 0 and r["errors"] == 0 and r["events_per_sec"] >= 0.98 * rate
hub_ns = (after - before) * 1e9 / max(r["sent"], 1)
print("ok" if ok else "short", round(r["events_per_sec"]), loss, r["unsent"], round(hub_ns),
      round(r.get("cpu_ns_per_event") or 0), r["latency_p50_ms"], r["latency_p99_ms"], r["latency_p999_ms"], sys.argv[5])
PY
}

# ladder SIDE MODE: sets BEST to the highest rate sustained (0 if none)
# by the hub of SIDE (new or base) in MODE. It climbs LADDER until the
# first rate that is not sustained, then climbs again from the last
# rate sustained (0 if none) in steps of FINE_STEP, below the rate that
# failed, until a step fails. Appends the CPU figures of the 1M/s step to
# HUB_NS_1M and LG_NS_1M["SIDE MODE"].
# A ladder that sustains its top step did not find its ceiling: it is
# counted in TOPPED["SIDE MODE"], and the table says the rate is a floor.
declare -A HUB_NS_1M LG_NS_1M TOPPED
ladder() {
    local side=$1 mode=$2 res verdict hub_ns lg_ns failed="" rate
    local OFFER_HUB=$NEW_HUB
    [[ "$side" == base ]] && OFFER_HUB=$BASE_HUB
    BEST=0
    for rate in $LADDER; do
        res=$(offer "$mode" "$rate" "$SECS")
        echo "  $side $mode at $rate: $res" >&2
        read -r verdict _ _ _ hub_ns lg_ns _ <<< "$res"
        if [[ "$rate" == "1000000" ]]; then
            HUB_NS_1M["$side $mode"]+=" $hub_ns"; LG_NS_1M["$side $mode"]+=" $lg_ns"
        fi
        if [[ "$verdict" != "ok" ]]; then failed=$rate; break; fi
        BEST=$rate
    done
    if [[ -z "$failed" ]]; then
        TOPPED["$side $mode"]=$((${TOPPED["$side $mode"]:-0} + 1))
        return 0
    fi
    for ((rate = BEST + FINE_STEP; rate < failed; rate += FINE_STEP)); do
        res=$(offer "$mode" "$rate" "$SECS")
        echo "  $side $mode at $rate (fine): $res" >&2
        read -r verdict _ <<< "$res"
        [[ "$verdict" == "ok" ]] || break
        BEST=$rate
    done
}

SIDES="new"
BASE_VERSION=""
if [[ -n "$BASE_HUB" ]]; then
    SIDES="new base"
    BASE_VERSION=$("$BASE_HUB" --version 2>/dev/null | head -n 1 || true)
    BASE_VERSION=${BASE_VERSION:-no --version}
fi
echo "climbing the ladder of offered rates ($RUNS ladders of ${SECS}s steps, then steps of $FINE_STEP; hubs: $SIDES)..." >&2
declare -A RATES
for _ in $(seq "$RUNS"); do
    for mode in sink serve; do
        for side in $SIDES; do
            ladder "$side" "$mode"; RATES["$side $mode"]+=" $BEST"
        done
    done
done
# shellcheck disable=SC2086 # the lists are words on purpose
{
    SINK_RATES=(${RATES[new sink]}); SERVE_RATES=(${RATES[new serve]})
    SINK=$(median ${RATES[new sink]}); SERVE=$(median ${RATES[new serve]})
    SINK_HUB_NS=$(median ${HUB_NS_1M[new sink]:-}); SINK_LG_NS=$(median ${LG_NS_1M[new sink]:-})
    SERVE_HUB_NS=$(median ${HUB_NS_1M[new serve]:-}); SERVE_LG_NS=$(median ${LG_NS_1M[new serve]:-})
    if [[ -n "$BASE_HUB" ]]; then
        B_SINK_RATES=(${RATES[base sink]}); B_SERVE_RATES=(${RATES[base serve]})
        B_SINK=$(median ${RATES[base sink]}); B_SERVE=$(median ${RATES[base serve]})
        B_SINK_HUB_NS=$(median ${HUB_NS_1M[base sink]:-}); B_SERVE_HUB_NS=$(median ${HUB_NS_1M[base serve]:-})
    fi
}

echo "serve at 2000000 events/s for ${SUSTAIN}s..." >&2
SUSTAINED=$(offer serve 2000000 "$SUSTAIN" --subscribe)

echo "measuring latency at fixed rates..." >&2
declare -A LAT
# More incidents than by default, for more latency samples per run; the
# orders of the first 2 s (connections' slow start, cold caches) are left
# out of the latency figures, not out of the load; the hub's own figure
# leaves out what its histogram held 2 s after loadgen started.
for r in 100000 500000 1000000; do
    LAT[$r]=$(WARM_SCRAPE=2 offer serve "$r" "$SECS" --subscribe --incidents 100 --warmup 2s)
done

# Every device once in order first (--cover), so all of them are tracked;
# no incidents, so no hotline complaints add devices of their own.
MEM_SECS=$((MEM_DEVICES * 3 / 400000 + 1))
echo "measuring memory per tracked device ($MEM_DEVICES devices, all heard, ${MEM_SECS}s at 400000 events/s)..." >&2
start serve
sleep 1
BEFORE=$(rss_kib)
timeout 120 "$LOADGEN" --hub "$QUIC" --rate 400000 --duration "${MEM_SECS}s" --cover --incidents 0 \
    --connections "$CONNECTIONS" --devices "$MEM_DEVICES" --quiet --json > "$WORK/mem.json"
sleep 1
AFTER=$(rss_kib)
TRACKED=$(metric_sum tongguan_shard_devices)
stop
PER_DEVICE=$(python3 -c "print(round(($AFTER - $BEFORE) * 1024 / max($TRACKED, 1), 1))")
if [[ "$TRACKED" == "$MEM_DEVICES" ]]; then HEARD="all $TRACKED"; else HEARD="$TRACKED of $MEM_DEVICES"; fi

RATIO=$(ratio "$SERVE" "$SINK")
# topped SIDE: what the table adds when ladders of SIDE reached their top.
topped() {
    local sink=${TOPPED["$1 sink"]:-0} serve=${TOPPED["$1 serve"]:-0}
    if ((sink + serve > 0)); then
        echo "; reached the ladder's top, so a floor, not a ceiling: sink in $sink, serve in $serve of $RUNS"
    fi
}
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
read -r s_verdict s_achieved s_loss s_unsent _ _ _ s_p99 _ <<< "$SUSTAINED"
cat <<TABLE
Machine: $(nproc) cores ($CPU), $(free -g | awk '/Mem:/ {print $2}') GiB; loadgen shares the cores with the hub.
Command: benches/compare.sh (RUNS=$RUNS, ${SECS}s per step, $CONNECTIONS connections, ladder $LADDER, then steps of $FINE_STEP${BASE_HUB:+, BASE_HUB: $BASE_VERSION})

| measure | sink | serve | serve/sink |
|---|---|---|---|
| highest sustained rate, events/s (open loop, zero loss, median of $RUNS ladders: ${SINK_RATES[*]} / ${SERVE_RATES[*]}$(topped new)) | $SINK | $SERVE | $RATIO |
| hub CPU per event at 1,000,000 events/s, ns | $SINK_HUB_NS | $SERVE_HUB_NS | $(ratio "$SERVE_HUB_NS" "$SINK_HUB_NS") |
| loadgen CPU per event at 1,000,000 events/s, ns | $SINK_LG_NS | $SERVE_LG_NS | |
TABLE
if [[ -n "$BASE_HUB" ]]; then
    cat <<TABLE
| base ($BASE_VERSION) highest sustained rate, events/s (median of $RUNS ladders: ${B_SINK_RATES[*]} / ${B_SERVE_RATES[*]}$(topped base)) | $B_SINK | $B_SERVE | $(ratio "$B_SERVE" "$B_SINK") |
| base hub CPU per event at 1,000,000 events/s, ns | $B_SINK_HUB_NS | $B_SERVE_HUB_NS | $(ratio "$B_SERVE_HUB_NS" "$B_SINK_HUB_NS") |
| new/base: hub CPU per event at 1,000,000 events/s | $(ratio "$SINK_HUB_NS" "$B_SINK_HUB_NS") | $(ratio "$SERVE_HUB_NS" "$B_SERVE_HUB_NS") | |
| new/base: highest sustained rate | $(ratio "$SINK" "$B_SINK") | $(ratio "$SERVE" "$B_SERVE") | |
TABLE
fi
echo "| serve at 2000000 events/s offered for ${SUSTAIN}s: $s_verdict, achieved $s_achieved/s, loss $s_loss, unsent $s_unsent | | p99 $s_p99 ms | |"
for r in 100000 500000 1000000; do
    read -r verdict achieved loss unsent _ _ p50 p99 p999 own <<< "${LAT[$r]}"
    echo "| serve at $r events/s offered: $verdict, achieved $achieved/s, loss $loss, event-to-order p50 / p99 / p99.9 ms (first 2 s left out) | | $p50 / $p99 / $p999 | |"
    if [[ "$r" == 1000000 ]]; then
        echo "| hub's own p99 event to order (tongguan_event_to_order_seconds) at 1M events/s, ms (from its buckets, at most the bucket's upper bound; first ~2 s left out) | | $own | |"
    fi
done
echo "| resident memory per tracked device ($TRACKED devices tracked; RSS $BEFORE -> $AFTER KiB) | | $PER_DEVICE bytes | |"
echo "| devices tracked after the memory step (loadgen --cover: each of the $MEM_DEVICES devices once, then the skewed mix) | | $HEARD | |"
