#!/usr/bin/env bash
# Soak run of the tongguan hub: a fresh hub on loopback, one loadgen process
# offering steady load for a long time, and a CSV sample of the hub's memory,
# CPU and metrics every few seconds. Not a test: it reports, it does not judge.
# Usage: benches/soak.sh --help
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: benches/soak.sh [options]

Starts a fresh tongguan hub on 127.0.0.1 (temporary data dir), runs ONE loadgen
process against it for the whole duration (with --subscribe, so orders are
acknowledged), samples the hub every --interval into a CSV, then stops
everything it started and prints a summary (RSS growth after warm-up, totals,
loadgen's JSON summary line).

Options:
  --duration D    how long loadgen sends, e.g. 60s, 10m, 1h      (default 10m)
  --rate N        events/s offered                               (default 20000)
                  Soak at about HALF the maximum rate the performance script
                  measures on this machine: a soak looks for leaks and drift,
                  not for the saturation point.
  --devices N     simulated devices                              (default 100000)
  --interval D    sampling period, e.g. 5s                       (default 5s)
  --warmup D      RSS "at start" is the first sample after this  (default 30s)
  --out FILE      CSV written                     (default soak-<timestamp>.csv)
  --listen ADDR   hub QUIC address, 127.0.0.1:PORT, port 0 = OS-chosen
                  (default $TONGGUAN_LISTEN or 127.0.0.1:14433)
  --admin ADDR    hub HTTP address, 127.0.0.1:PORT, port 0 = OS-chosen
                  (default $TONGGUAN_ADMIN or 127.0.0.1:19464)
  --keep          keep the temporary dir (data dir and logs) at the end
  -h, --help      this text

Environment:
  TONGGUAN_BIN    hub binary     (default target/release/tongguan)
  LOADGEN_BIN     loadgen binary (default target/release/loadgen)
  TONGGUAN_LISTEN, TONGGUAN_ADMIN   as --listen, --admin
  LOADGEN_ARGS    extra loadgen arguments, word-split (e.g. "--connections 4")
  RUST_LOG        hub log filter (default info)

CSV columns (one row per sample; counters are totals since the hub started):
  elapsed_s          seconds since loadgen started
  rss_kib            hub VmRSS (/proc/PID/status)
  cpu_s              hub utime+stime (/proc/PID/stat)
  events_received    sum of tongguan_events_received_total
  orders_dispatched  sum of tongguan_orders_dispatched_total
  shard_devices      sum of tongguan_shard_devices
  incidents_open     tongguan_incidents_open
  p99_ms             p99 of tongguan_event_to_order_seconds over the interval
                     only (delta of the _bucket counters, all severities;
                     empty when no order was dispatched in the interval)
  latency_n          orders observed by that histogram in the interval

The run is bounded: loadgen is killed 30 s after its duration if it has not
stopped, the hub gets 20 s to shut down on SIGTERM, then SIGKILL. Only the
processes this script started are signalled, by PID, on exit or Ctrl-C.
All traffic stays on 127.0.0.1.
EOF
}

die() { echo "soak: $*" >&2; exit 2; }

# "90", "90s", "10m", "1h30m", "1m30s" -> whole seconds.
to_secs() {
    local s=$1 total=0 n u
    [[ $s =~ ^[0-9]+$ ]] && { echo "$s"; return; }
    [[ $s =~ ^([0-9]+(h|m|min|s))+$ ]] || return 1
    while [[ $s =~ ^([0-9]+)(h|min|m|s)(.*)$ ]]; do
        n=$((10#${BASH_REMATCH[1]})) u=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
        case $u in h) total=$((total + n * 3600)) ;; m | min) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
    done
    echo "$total"
}

loopback_addr() { [[ $1 =~ ^127\.0\.0\.1:[0-9]{1,5}$ ]] || die "$2 must be 127.0.0.1:PORT, got '$1'"; }

repo=$(cd "$(dirname "$0")/.." && pwd)
TONGGUAN_BIN=${TONGGUAN_BIN:-$repo/target/release/tongguan}
LOADGEN_BIN=${LOADGEN_BIN:-$repo/target/release/loadgen}
listen=${TONGGUAN_LISTEN:-127.0.0.1:14433}
admin=${TONGGUAN_ADMIN:-127.0.0.1:19464}
duration=10m rate=20000 devices=100000 interval=5s warmup=30s keep=0
out="soak-$(date +%Y%m%d-%H%M%S).csv"

while (($#)); do
    case $1 in
        -h | --help) usage; exit 0 ;;
        --keep) keep=1; shift; continue ;;
        --duration | --rate | --devices | --interval | --warmup | --out | --listen | --admin)
            (($# >= 2)) || die "$1 needs a value" ;;
        --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    case $1 in
        --duration) duration=$2 ;; --rate) rate=$2 ;; --devices) devices=$2 ;;
        --interval) interval=$2 ;; --warmup) warmup=$2 ;; --out) out=$2 ;;
        --listen) listen=$2 ;; --admin) admin=$2 ;;
    esac
    shift 2
done

duration_s=$(to_secs "$duration") || die "bad --duration '$duration'"
interval_s=$(to_secs "$interval") || die "bad --interval '$interval'"
warmup_s=$(to_secs "$warmup") || die "bad --warmup '$warmup'"
[[ $rate =~ ^[0-9]+$ && $devices =~ ^[0-9]+$ ]] || die "--rate and --devices are integers"
((duration_s > 0 && interval_s > 0)) || die "--duration and --interval must be positive"
loopback_addr "$listen" --listen
loopback_addr "$admin" --admin
[[ -x $TONGGUAN_BIN ]] || die "no hub binary at $TONGGUAN_BIN (cargo build --release, or set TONGGUAN_BIN)"
[[ -x $LOADGEN_BIN ]] || die "no loadgen binary at $LOADGEN_BIN (cargo build --release -p loadgen, or set LOADGEN_BIN)"
for tool in curl python3; do command -v "$tool" >/dev/null || die "$tool is needed"; done
[[ -d /proc/self ]] || die "needs Linux /proc"
clk_tck=$(getconf CLK_TCK)
: >"$out" || die "cannot write $out"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tongguan-soak.XXXXXX")
hub_pid='' lg_pid='' sleep_pid=''

# Stops a process we started: SIGTERM, up to $2 seconds, then SIGKILL.
stop_pid() {
    local pid=$1 grace=$2 i
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "soak: pid $pid still running after ${grace}s, SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

strip_ansi() { sed -e 's/\x1b\[[0-9;]*m//g' "$@"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $sleep_pid ]] && kill "$sleep_pid" 2>/dev/null || true
    stop_pid "$lg_pid" 5
    stop_pid "$hub_pid" 20
    if [[ -s $tmp/hub.stderr.log ]]; then
        local warn
        warn=$(strip_ansi "$tmp/hub.stderr.log" | grep -cE ' (WARN|ERROR) ' || true)
        echo
        echo "== hub stderr ($tmp/hub.stderr.log, $(wc -l <"$tmp/hub.stderr.log") lines, $warn WARN/ERROR), last 15 lines:"
        strip_ansi "$tmp/hub.stderr.log" | tail -n 15
    fi
    if [[ -s $tmp/loadgen.stderr.log ]]; then
        echo
        echo "== loadgen stderr, last 10 lines:"
        strip_ansi "$tmp/loadgen.stderr.log" | tail -n 10
    fi
    if ((keep)); then
        echo "soak: kept $tmp"
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
# First Ctrl-C (or SIGTERM): stop the load and print the summary of what was
# measured; a second one: stop everything now.
interrupted=0
on_signal() {
    ((interrupted)) && { echo "soak: interrupted again, stopping now" >&2; exit 130; }
    interrupted=1
    echo "soak: interrupted, stopping loadgen (again to skip the summary)" >&2
}
trap on_signal INT TERM

# Sleeps in the background so a signal runs the trap at once.
nap() {
    sleep "$1" &
    sleep_pid=$!
    wait "$sleep_pid" || kill "$sleep_pid" 2>/dev/null || true
    sleep_pid=''
}

# --- the hub ---
# set -m around each start: the child gets a process group of its own, so a
# Ctrl-C reaches only this script, which then stops the children in order
# (loadgen, a last sample, the hub).
set -m
RUST_LOG=${RUST_LOG:-info} "$TONGGUAN_BIN" serve --listen "$listen" --admin "$admin" \
    --data-dir "$tmp/data" </dev/null >"$tmp/hub.stdout" 2>"$tmp/hub.stderr.log" &
hub_pid=$!
set +m
line=''
for ((i = 0; i < 300; i++)); do
    line=$(head -n 1 "$tmp/hub.stdout" 2>/dev/null || true)
    [[ $line == "tongguan serving:"* ]] && break
    kill -0 "$hub_pid" 2>/dev/null || die "the hub exited at start (see its stderr below)"
    sleep 0.1
done
[[ $line == "tongguan serving:"* ]] || die "no 'tongguan serving' line from the hub in 30 s"
[[ $line =~ QUIC\ (127\.0\.0\.1:[0-9]+)\ \(certificate\ in\ (.*)\),\ HTTP\ http://(127\.0\.0\.1:[0-9]+)/metrics ]] ||
    die "unexpected first line from the hub: $line"
quic=${BASH_REMATCH[1]} cert=${BASH_REMATCH[2]} http=${BASH_REMATCH[3]}
metrics_url="http://$http/metrics"
for ((i = 0; i < 100; i++)); do
    curl -fs --max-time 1 "http://$http/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
((interrupted)) && exit 130
echo "soak: hub pid $hub_pid, QUIC $quic, HTTP $http, data dir $tmp/data"

# --- sampling ---
# One sample: scrape /metrics, sum the series, p99 of the interval from the
# delta of the histogram buckets (state of the previous scrape in a file).
sample_metrics() {
    local scrape=$tmp/scrape.txt
    if ! curl -fs --max-time 3 -o "$scrape" "$metrics_url"; then
        echo ",,,,,"
        return
    fi
    python3 - "$scrape" "$tmp/buckets.prev" <<'PY'
import math, re, sys
scrape, state = sys.argv[1], sys.argv[2]
sums = {"tongguan_events_received_total": 0.0, "tongguan_orders_dispatched_total": 0.0,
        "tongguan_shard_devices": 0.0, "tongguan_incidents_open": 0.0}
buckets = {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')
for line in open(scrape):
    m = line_re.match(line)
    if not m:
        continue
    name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
    if name in sums:
        sums[name] += value
    elif name == "tongguan_event_to_order_seconds_bucket":
        le = re.search(r'le="([^"]+)"', labels).group(1)
        le = math.inf if le == "+Inf" else float(le)
        buckets[le] = buckets.get(le, 0.0) + value   # summed over severities
prev = {}
try:
    for line in open(state):
        le, v = line.split()
        prev[float(le)] = float(v)
except FileNotFoundError:
    pass
with open(state, "w") as f:
    for le, v in buckets.items():
        f.write(f"{le} {v}\n")
# Cumulative counts of this interval, as Prometheus' histogram_quantile would
# see them for increase(...[interval]): linear inside the bucket, the last
# finite bound if the rank falls in +Inf.
les = sorted(buckets)
delta = [max(0.0, buckets[le] - prev.get(le, 0.0)) for le in les]
n = delta[-1] if delta else 0.0
p99 = ""
if n > 0:
    rank = 0.99 * n
    lower, below = 0.0, 0.0
    for le, c in zip(les, delta):
        if c >= rank:
            if math.isinf(le):
                p99 = f"{lower * 1000:.3f}"
            else:
                frac = (rank - below) / (c - below) if c > below else 1.0
                p99 = f"{(lower + (le - lower) * frac) * 1000:.3f}"
            break
        if not math.isinf(le):
            lower, below = le, c
s = sums
print(f'{s["tongguan_events_received_total"]:.0f},{s["tongguan_orders_dispatched_total"]:.0f},'
      f'{s["tongguan_shard_devices"]:.0f},{s["tongguan_incidents_open"]:.0f},{p99},{n:.0f}')
PY
}

sample() {
    local elapsed=$1 rss='' cpu='' stat
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$hub_pid/status" 2>/dev/null || true)
    [[ -n $rss ]] || return 0 # the hub is gone
    if stat=$(cat "/proc/$hub_pid/stat" 2>/dev/null); then
        # Fields after "pid (comm) ": state is 1st, utime 12th, stime 13th.
        read -r -a f <<<"${stat##*) }"
        cpu=$(awk -v u="${f[11]}" -v s="${f[12]}" -v t="$clk_tck" 'BEGIN {printf "%.2f", (u + s) / t}')
    fi
    echo "$elapsed,$rss,$cpu,$(sample_metrics)" >>"$out"
    tail -n 1 "$out"
}

echo "elapsed_s,rss_kib,cpu_s,events_received,orders_dispatched,shard_devices,incidents_open,p99_ms,latency_n" >"$out"
sample_metrics >/dev/null # baseline of the histogram before the load

# --- the load: one loadgen process for the whole run ---
# shellcheck disable=SC2206
extra=(${LOADGEN_ARGS:-})
set -m
"$LOADGEN_BIN" --hub "$quic" --ca "$cert" --rate "$rate" --duration "${duration_s}s" \
    --devices "$devices" --subscribe --json "${extra[@]}" \
    </dev/null >"$tmp/loadgen.json" 2>"$tmp/loadgen.stderr.log" &
lg_pid=$!
set +m
t0=$EPOCHREALTIME
deadline=$((duration_s + 30))
echo "soak: loadgen pid $lg_pid, ${rate} events/s, ${devices} devices, ${duration_s} s; CSV $out (every ${interval_s} s)"
echo "elapsed_s,rss_kib,cpu_s,events_received,orders_dispatched,shard_devices,incidents_open,p99_ms,latency_n"

elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}'; }
k=1
while ((!interrupted)) && kill -0 "$lg_pid" 2>/dev/null; do
    if ! kill -0 "$hub_pid" 2>/dev/null; then
        echo "soak: the hub DIED during the run, stopping loadgen" >&2
        stop_pid "$lg_pid" 5
        break
    fi
    # Sleep until the next tick, in steps of at most 1 s so the end of
    # loadgen is seen at once.
    while ((!interrupted)) && kill -0 "$lg_pid" 2>/dev/null; do
        wake=$(awk -v a="$t0" -v k="$k" -v i="$interval_s" -v b="$EPOCHREALTIME" \
            'BEGIN {d = a + k * i - b; printf "%.3f", (d > 1 ? 1 : (d > 0 ? d : 0))}')
        [[ $wake == 0.000 ]] && break
        nap "$wake"
    done
    ((!interrupted)) && kill -0 "$lg_pid" 2>/dev/null || break
    k=$((k + 1))
    e=$(elapsed)
    if awk -v e="$e" -v d="$deadline" 'BEGIN {exit !(e > d)}'; then
        echo "soak: loadgen still running $((deadline - duration_s)) s after its duration, killing it" >&2
        stop_pid "$lg_pid" 5
        break
    fi
    kill -0 "$hub_pid" 2>/dev/null && sample "$e"
done
lg_rc=0
if ((interrupted)); then
    stop_pid "$lg_pid" 5
    lg_rc=130
else
    wait "$lg_pid" 2>/dev/null || lg_rc=$?
fi
lg_pid=''
# Final sample once loadgen has stopped, the hub still running.
if kill -0 "$hub_pid" 2>/dev/null; then
    nap 1
    sample "$(elapsed)"
fi

# --- summary ---
echo
echo "== soak summary (${duration_s} s at ${rate} events/s, ${devices} devices; hub pid $hub_pid)"
python3 - "$out" "$warmup_s" <<'PY'
import sys, csv
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["rss_kib"]]
warm = float(sys.argv[2])
if not rows:
    print("no samples"); sys.exit()
after = [r for r in rows if float(r["elapsed_s"]) >= warm]
if not after:
    print(f"(run shorter than the {warm:.0f} s warm-up: RSS at start is the first sample)")
    after = rows
first, last = after[0], rows[-1]
rs, re_ = int(first["rss_kib"]), int(last["rss_kib"])
mx = max(rows, key=lambda r: int(r["rss_kib"]))
growth = re_ - rs
print(f"RSS at start  {rs} KiB  (t={first['elapsed_s']} s)")
print(f"RSS at end    {re_} KiB  (t={last['elapsed_s']} s)")
print(f"RSS max       {mx['rss_kib']} KiB  (t={mx['elapsed_s']} s)")
print(f"RSS growth    {growth:+d} KiB  ({100.0 * growth / rs:+.1f} %)")
if len(after) >= 3:
    xs = [float(r["elapsed_s"]) for r in after]; ys = [int(r["rss_kib"]) for r in after]
    mx_, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx_) ** 2 for x in xs)
    if den > 0:
        slope = sum((x - mx_) * (y - my) for x, y in zip(xs, ys)) / den
        span = xs[-1] - xs[0]
        print(f"RSS trend     {slope * 60:+.0f} KiB/min after warm-up (least squares over {span:.0f} s"
              + (", too short to mean much)" if span < 300 else ")"))
cpu = float(last["cpu_s"] or 0); t = float(last["elapsed_s"])
print(f"hub CPU       {cpu:.1f} s  ({100 * cpu / t:.0f} % of one core over {t:.0f} s, start-up included)")
print(f"events        {last['events_received']} received by the hub")
print(f"orders        {last['orders_dispatched']} dispatched")
p = [float(r["p99_ms"]) for r in rows if r["p99_ms"]]
if p:
    print(f"interval p99  event-to-order in the hub: max {max(p):.2f} ms, median {sorted(p)[len(p)//2]:.2f} ms over {len(p)} intervals")
PY
echo "loadgen (exit $lg_rc):"
if [[ -s $tmp/loadgen.json ]]; then
    tail -n 1 "$tmp/loadgen.json"
else
    echo "(no JSON summary: loadgen was killed or failed)"
fi
echo "CSV: $out"
((interrupted)) && exit 130
exit 0
