//! The backlog of the partitions this node owns, as JetStream counts it:
//! every few seconds a small task reads the info of each owned
//! partition's durable consumer and sets two gauges, the messages not yet
//! delivered (`tongguan_cluster_consumer_pending`) and those delivered and
//! not yet acknowledged (`tongguan_cluster_consumer_ack_pending`), each
//! summed over the node's partitions. It only reads: a consumer is never
//! created here (that is the partition's consumer task's), and a
//! partition whose info cannot be read is left out of the sum and counted
//! in `tongguan_cluster_errors_total{operation="pending"}`.

use super::connect::Nats;
use super::consume::Guard;
use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Duration;

/// How often the consumers' info is read.
pub const POLL: Duration = Duration::from_secs(5);

/// What the consumers of a node's partitions hold, summed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Messages in the stream not yet delivered.
    pub waiting: u64,
    /// Messages delivered and not yet acknowledged.
    pub unacked: u64,
    /// Partitions whose consumer info could not be read.
    pub unread: u64,
}

impl Backlog {
    /// Adds one partition consumer's counts.
    pub fn add(&mut self, waiting: u64, unacked: u64) {
        self.waiting = self.waiting.saturating_add(waiting);
        self.unacked = self.unacked.saturating_add(unacked);
    }

    /// Counts a partition whose consumer info could not be read.
    pub fn unread(&mut self) {
        self.unread += 1;
    }
}

/// Sets `tongguan_cluster_partitions` and starts the task that polls the
/// owned partitions' consumers every [`POLL`] until the runtime stops.
pub fn spawn(
    nats: Nats,
    guard: Guard,
    metrics: Arc<Metrics>,
    partitions: u32,
) -> tokio::task::JoinHandle<()> {
    metrics.cluster_partitions.set(i64::from(partitions));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let backlog = read(&nats, &guard, partitions).await;
            metrics
                .cluster_consumer_pending
                .set(i64::try_from(backlog.waiting).unwrap_or(i64::MAX));
            metrics
                .cluster_consumer_ack_pending
                .set(i64::try_from(backlog.unacked).unwrap_or(i64::MAX));
            if backlog.unread > 0 {
                metrics
                    .cluster_errors
                    .with_label_values(&["pending"])
                    .inc_by(backlog.unread);
            }
        }
    })
}

/// The backlog of the partitions this node may process now.
async fn read(nats: &Nats, guard: &Guard, partitions: u32) -> Backlog {
    let mut backlog = Backlog::default();
    let Ok(stream) = nats.js.get_stream_no_info(nats.names.events_stream()).await else {
        backlog.unread();
        return backlog;
    };
    for p in 0..partitions as usize {
        if !guard.validity.allows(p, guard.clock.now_ms()) {
            continue;
        }
        match stream.consumer_info(nats.names.events_consumer(p)).await {
            Ok(info) => backlog.add(info.num_pending, info.num_ack_pending as u64),
            // Not created yet (the partition was just gained) or NATS is
            // away: left out of the sum, counted.
            Err(e) => {
                tracing::debug!(partition = p, error = %e, "partition consumer's info not read");
                backlog.unread();
            }
        }
    }
    backlog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlog_sums_the_partitions_read_and_counts_those_not_read() {
        let mut b = Backlog::default();
        b.add(10, 2);
        b.add(5, 0);
        b.unread();
        assert_eq!(
            b,
            Backlog {
                waiting: 15,
                unacked: 2,
                unread: 1
            }
        );
        b.add(u64::MAX, 0);
        assert_eq!(b.waiting, u64::MAX, "saturates");
    }
}
