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
    /// Seconds spent sending.
    pub duration_s: f64,
    /// The offered rate.
    pub rate_target: u64,
    pub devices: usize,
    pub connections: usize,
}

pub fn print_table(s: &Summary) {
    let rows = [
        ("offered rate", format!("{} events/s", s.rate_target)),
        (
            "sent",
            format!("{} events in {} batches", s.sent, s.batches),
        ),
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
            "orders received",
            format!(
                "{} ({} acknowledged back)",
                s.orders_received, s.order_acks_sent
            ),
        ),
        (
            "event → order",
            format!(
                "p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  ({} samples)",
                s.latency_p50_ms,
                s.latency_p99_ms,
                s.latency_p999_ms,
                s.latency_max_ms,
                s.latency_samples
            ),
        ),
        ("errors", s.errors.to_string()),
    ];
    for (k, v) in rows {
        println!("{k:>16}  {v}");
    }
}
