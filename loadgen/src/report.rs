//! The run's summary: one JSON line with --json, a table otherwise.

use serde::Serialize;

/// What a run measured. Field names are an interface: scripts read them.
#[derive(Debug, Serialize, Default)]
pub struct Summary {
    /// Events written to the hub (retransmits included).
    pub sent: u64,
    /// Events the hub acknowledged as accepted.
    pub acked: u64,
    /// Events the hub rejected in acks.
    pub rejected: u64,
    /// Accepted events per second over the sending time.
    pub events_per_sec: f64,
    /// Orders (and order updates) received by the subscribers.
    pub orders_received: u64,
    /// Orders whose triggering event this run sent (latency samples).
    pub latency_samples: u64,
    /// Event-to-order latency percentiles, ms, from the trigger's intended
    /// send time to the order at the subscriber.
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub latency_p999_ms: f64,
    pub latency_max_ms: f64,
    /// Connection, protocol and ack errors.
    pub errors: u64,
    /// Batches written.
    pub batches: u64,
    /// Acknowledgements sent by the subscribers.
    pub order_acks_sent: u64,
    /// Events an open-loop run was due to send but did not: it fell so far
    /// behind its schedule that it stopped (the rate was not sustained).
    pub unsent: u64,
    /// Seconds spent sending.
    pub duration_s: f64,
    /// The offered rate (events/s), or null for `--rate max`.
    pub rate_target: Option<u64>,
    pub devices: usize,
    pub connections: usize,
    /// The scenario run.
    pub scenario: crate::population::Scenario,
    /// CPU time loadgen itself used (user + system, all threads), seconds,
    /// when the system says (Linux): with the hub's, it shows how much of
    /// a shared machine the generator took.
    pub cpu_s: Option<f64>,
    /// That CPU time per event sent, nanoseconds.
    pub cpu_ns_per_event: Option<f64>,
    /// Seconds at the start whose orders the latency figures leave out
    /// (`--warmup`).
    pub warmup_s: f64,
}

/// CPU time of this process so far (user + system, every thread), from
/// /proc/self/stat, in seconds; `None` where there is no /proc.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) in parentheses:
    // utime and stime are the 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks: 100 per second on every Linux that ships /proc today.
    Some((utime + stime) / 100.0)
}

pub fn print_table(s: &Summary) {
    let rows = [
        (
            "offered rate",
            s.rate_target
                .map_or("max (closed loop)".into(), |r| format!("{r} events/s")),
        ),
        (
            "sent",
            format!("{} events in {} batches", s.sent, s.batches),
        ),
        ("not sent (behind schedule)", s.unsent.to_string()),
        (
            "acknowledged",
            format!("{} accepted, {} rejected", s.acked, s.rejected),
        ),
        (
            "throughput",
            format!(
                "{:.0} events/s over {:.1} s",
                s.events_per_sec, s.duration_s
            ),
        ),
        (
            "loadgen CPU",
            s.cpu_s.map_or("unknown".into(), |c| {
                format!(
                    "{c:.2} s ({:.0} ns per event sent)",
                    s.cpu_ns_per_event.unwrap_or(0.0)
                )
            }),
        ),
        (
            "orders received",
            format!(
                "{} ({} acknowledged back)",
                s.orders_received, s.order_acks_sent
            ),
        ),
        (
            "event → order",
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  ({} samples{})",
                s.latency_p50_ms,
                s.latency_p99_ms,
                s.latency_p999_ms,
                s.latency_max_ms,
                s.latency_samples,
                if s.warmup_s > 0.0 {
                    format!(", first {} s left out", s.warmup_s)
                } else {
                    String::new()
                }
            ),
        ),
        ("errors", s.errors.to_string()),
    ];
    for (k, v) in rows {
        println!("{k:>16}  {v}");
    }
}

/// A histogram of microseconds in HdrHistogram's percentile distribution
/// text format (values in milliseconds), as HdrHistogram's plotters read.
pub fn hgrm(h: &hdrhistogram::Histogram<u64>) -> String {
    use std::fmt::Write;
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if !h.is_empty() {
        let mut total = 0;
        for v in h.iter_quantiles(1) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let inverse = if q < 1.0 {
                1.0 / (1.0 - q)
            } else {
                f64::INFINITY
            };
            let _ = writeln!(
                out,
                "{:12.3} {:2.12} {:10} {:14.2}",
                v.value_iterated_to() as f64 / 1000.0,
                q,
                total,
                inverse
            );
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    out
}
