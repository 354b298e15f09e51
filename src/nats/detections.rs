//! The partitions' detections out to the detections stream: a thread
//! takes each shard output, splits its detections by partition, and
//! publishes one message per partition this node holds (with the lease's
//! epoch and the partition's own watermark, which bounds the event time
//! of every detection still to come from it). The batches the output came from are told
//! they are durable only once every message of it is stored, so their
//! events are acknowledged to the events stream only then. A message the
//! stream does not take is published again while the partition is this
//! node's; a partition whose lease was lost meanwhile publishes nothing,
//! and the output's batches stay unacknowledged for the next owner to run
//! again (the detections' ids make the repeats vanish).
//!
//! A watermark alone goes out at most every [`WATERMARK_EVERY_MS`] per
//! partition: the dispatch owner's incidents close a little later, and
//! idle partitions cost a few messages a second.

use super::connect::Nats;
use super::ownership::Validity;
use crate::engine::partition::shard_of;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::cluster_ends::ShardOutput;
use crate::wire::detection_log::{DetectionMessage, VERSION};
use crossbeam_channel::Receiver;
use std::sync::Arc;

/// The longest a partition's watermark waits to go out alone, ms.
pub const WATERMARK_EVERY_MS: i64 = 500;

/// The header carrying the writer's lease epoch (also in the payload, for
/// tools that read headers only).
pub const EPOCH_HEADER: &str = "Tg-Epoch";

/// Starts the publishing thread; it ends when the shards are drained.
pub fn spawn(
    nats: Nats,
    outputs: Receiver<ShardOutput>,
    shards: usize,
    partitions: usize,
    validity: Validity,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("detections-out".into())
        .spawn(move || {
            let mut last_sent = vec![(i64::MIN, None::<i64>); partitions];
            let publisher = Publish {
                nats,
                validity: validity.clone(),
                clock: clock.clone(),
                metrics,
            };
            for out in outputs.iter() {
                let now = clock.now_ms();
                let plan = messages(&out, shards, partitions, &validity, now, &mut last_sent);
                rt.spawn(publish(publisher.clone(), plan, out.receipts));
            }
        })
}

/// What one output becomes: the messages, and whether any of its
/// detections belonged to a partition no longer this node's.
struct Plan {
    messages: Vec<DetectionMessage>,
    dropped: bool,
}

fn messages(
    out: &ShardOutput,
    shards: usize,
    partitions: usize,
    validity: &Validity,
    now: i64,
    last_sent: &mut [(i64, Option<i64>)],
) -> Plan {
    let mut by_partition: Vec<Vec<crate::engine::Detection>> = vec![Vec::new(); partitions];
    for d in &out.detections {
        by_partition[shard_of(d.cell, partitions)].push(*d);
    }
    let mut plan = Plan {
        messages: Vec::new(),
        dropped: false,
    };
    for (p, detections) in by_partition.into_iter().enumerate() {
        if p % shards != out.shard {
            continue;
        }
        let Some(epoch) = validity.epoch(p, now) else {
            plan.dropped |= !detections.is_empty();
            continue;
        };
        // The partition's own watermark: moved by its messages only, so
        // what the dispatcher's correlator learns of it is the same
        // whichever node runs it.
        let watermark_ms = out
            .partitions
            .iter()
            .find(|w| w.0 as usize == p)
            .and_then(|w| w.1.ms());
        let (at, sent) = &mut last_sent[p];
        let fresh = watermark_ms != *sent && now.saturating_sub(*at) >= WATERMARK_EVERY_MS;
        if detections.is_empty() && !fresh {
            continue;
        }
        (*at, *sent) = (now, watermark_ms);
        plan.messages.push(DetectionMessage {
            v: VERSION,
            partition: p as u32,
            epoch,
            watermark_ms,
            detections,
        });
    }
    plan
}

/// Publishes an output's messages together, then tells its batches. A
/// message the stream did not take (a leader election, a reconnect) is
/// published again with the same id for as long as this node holds its
/// partition: its events were run here already, so a redelivery of them
/// would find nothing new, and the detection would be lost. Once the
/// partition is gone, the batches stay unacknowledged and its next owner
/// runs them.
async fn publish(out: Publish, plan: Plan, receipts: Vec<crate::runtime::shard_msg::Receipt>) {
    let mut pending = Vec::with_capacity(plan.messages.len());
    for m in &plan.messages {
        pending.push(out.send(m).await);
    }
    for (m, sent) in plan.messages.iter().zip(pending) {
        let mut stored = match sent {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        while !stored {
            out.failed();
            if out
                .validity
                .epoch(m.partition as usize, out.clock.now_ms())
                .is_none()
            {
                return;
            }
            tokio::time::sleep(RETRY).await;
            stored = match out.send(m).await {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
        }
    }
    if !plan.dropped {
        for r in receipts {
            let _ = r.send(());
        }
    }
}

/// How long a message the stream did not take waits to go again.
const RETRY: std::time::Duration = std::time::Duration::from_millis(250);

/// What the publishing tasks share.
#[derive(Clone)]
struct Publish {
    nats: Nats,
    validity: Validity,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

impl Publish {
    /// Sends one message; its acknowledgement is awaited by the caller.
    async fn send(
        &self,
        m: &DetectionMessage,
    ) -> Result<
        async_nats::jetstream::context::PublishAckFuture,
        async_nats::jetstream::context::PublishError,
    > {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(EPOCH_HEADER, m.epoch.to_string().as_str());
        if let Some(id) = m.id() {
            headers.insert("Nats-Msg-Id", id.as_str());
        }
        let subject = self.nats.names.detections_subject(m.partition as usize);
        self.nats
            .js
            .publish_with_headers(subject, headers, m.encode().into())
            .await
    }

    /// Counted in tongguan_cluster_errors_total{operation="detections"}.
    fn failed(&self) {
        self.metrics
            .cluster_errors
            .with_label_values(&["detections"])
            .inc();
    }
}
