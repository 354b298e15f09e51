//! 发送计划 / One connection's plan: when event i is due (open loop:
//! start + i / rate, whatever the hub does), how many events the run has,
//! which events start an incident, and whether the first events go to
//! every device once in order (`--cover`). Pure arithmetic on nanoseconds
//! since the run's start, so the sender reads the clock once per wake-up,
//! not once per event.

use crate::population::Scenario;
use crate::Args;
use std::time::Duration;

/// How long past its duration an open-loop run that fell behind keeps
/// sending before it gives up (what it did not send is reported).
fn overtime(duration: Duration) -> Duration {
    duration.clamp(Duration::from_secs(5), Duration::from_secs(30))
}

/// What one connection sends, and when.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Nanoseconds between two events, or `None` for `--rate max`.
    pub ns_per_event: Option<f64>,
    /// Events to send (`u64::MAX` for `--rate max`: the run ends by time).
    pub total: u64,
    /// The run's end (ns since start), and when a run behind gives up.
    pub end: u64,
    pub give_up: u64,
    /// Triggers due before this (ns) are left out of latency figures.
    pub warmup: u64,
    /// Events per batch, and a partial batch's longest wait (ns).
    pub batch: usize,
    pub flush: u64,
    /// Batches in flight before the sender waits for acks.
    pub window: usize,
    pub scenario: Scenario,
    /// Event i starts an incident when i % incident_every is half of it.
    pub incident_every: u64,
    /// Share of batches sent twice.
    pub retransmit_share: f64,
    /// `--cover`: the first events go to each of the connection's devices
    /// once, in order, before the skewed mix.
    pub cover: bool,
}

impl Plan {
    /// The plan of one of `args.connections` connections.
    pub fn of(args: &Args) -> Plan {
        let rate = args
            .rate
            .per_second()
            .map(|r| r as f64 / args.connections as f64);
        let incidents = match args.scenario {
            Scenario::Storm => args.incidents * 10.0,
            _ => args.incidents,
        };
        // With `--rate max` incidents are spaced as at 100k events/s.
        let incident_every = if incidents > 0.0 {
            (rate.unwrap_or(100_000.0) / incidents).max(1.0) as u64
        } else {
            u64::MAX
        };
        let ns = |d: Duration| d.as_nanos() as u64;
        Plan {
            ns_per_event: rate.map(|r| 1e9 / r),
            total: rate.map_or(u64::MAX, |r| (r * args.duration.as_secs_f64()) as u64),
            end: ns(args.duration),
            give_up: ns(args.duration + overtime(args.duration)),
            warmup: ns(args.warmup),
            batch: args.batch,
            flush: ns(args.flush),
            window: args.window,
            scenario: args.scenario,
            incident_every,
            retransmit_share: match args.scenario {
                Scenario::DuplicateStorm => args.retransmit_share.max(0.3),
                _ => args.retransmit_share,
            },
            cover: args.cover,
        }
    }

    /// When event `i` is due, ns since the start (open loop only).
    #[inline]
    pub fn due(&self, i: u64, ns_per_event: f64) -> u64 {
        (i as f64 * ns_per_event) as u64
    }

    /// The first event that starts an incident.
    pub fn first_incident(&self) -> u64 {
        self.incident_every / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn plan(flags: &[&str]) -> Plan {
        let args = Args::try_parse_from([&["loadgen"], flags].concat()).unwrap();
        Plan::of(&args)
    }

    #[test]
    fn a_connection_offers_its_share_of_the_rate_on_a_fixed_schedule() {
        let p = plan(&[
            "--rate",
            "1000000",
            "--connections",
            "4",
            "--duration",
            "2s",
        ]);
        let ns = p.ns_per_event.unwrap();
        assert_eq!(ns, 4_000.0);
        assert_eq!(p.total, 500_000);
        assert_eq!(p.due(0, ns), 0);
        assert_eq!(p.due(250_000, ns), 1_000_000_000);
        assert_eq!(p.end, 2_000_000_000);
        assert_eq!(p.give_up, 7_000_000_000, "at least 5 s of overtime");
        assert!(!p.cover);
        assert!(plan(&["--cover"]).cover);
    }

    #[test]
    fn incidents_are_spaced_by_rate_and_storms_bring_ten_times_more() {
        let steady = plan(&["--rate", "100000", "--incidents", "20"]);
        assert_eq!(steady.incident_every, 5_000);
        assert_eq!(steady.first_incident(), 2_500);
        let storm = plan(&[
            "--rate",
            "100000",
            "--scenario",
            "storm",
            "--incidents",
            "20",
        ]);
        assert_eq!(storm.incident_every, 500);
        let none = plan(&["--incidents", "0"]);
        assert_eq!(none.incident_every, u64::MAX);
    }

    #[test]
    fn max_rate_runs_by_time_and_duplicate_storms_retransmit_more() {
        let p = plan(&["--rate", "max", "--scenario", "duplicate-storm"]);
        assert_eq!(p.ns_per_event, None);
        assert_eq!(p.total, u64::MAX);
        assert_eq!(p.retransmit_share, 0.3);
    }
}
