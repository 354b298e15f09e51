//! Ingest's way into the events stream: each partition's part of a batch
//! published to its subject with a message id from its events, pipelined
//! (the publishes of a batch go out together; their acknowledgements are
//! awaited off ingest's path), and the part counts as durable once
//! JetStream acknowledged it: stored on a quorum of the stream's replicas.
//! A part JetStream does not take is published again, with the same id,
//! for a while (an election, a reconnect) before ingest gives up on it.
//! Each part carries the time ingest took it (this node's clock): the
//! engine time of whichever node runs it, first or in a replay.

use super::connect::Names;
use crate::metrics::Metrics;
use crate::model::Event;
use crate::runtime::inbox::Stopped;
use crate::runtime::transport::LogIngress;
use crate::wire::event_log;
use async_nats::jetstream::{self, message::PublishMessage};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a part is published again while JetStream does not store it.
const RETRY_FOR: Duration = Duration::from_secs(10);

/// Publisher of events to the stream.
pub struct NatsEvents {
    js: jetstream::Context,
    names: Names,
    partitions: usize,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    clock: std::sync::Arc<dyn crate::runtime::clock::Clock>,
}

impl NatsEvents {
    /// Publishes over `js` into the stream `names` gives, split over
    /// `partitions`, stamped with `clock`'s time.
    pub fn new(
        js: jetstream::Context,
        names: Names,
        partitions: usize,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        clock: std::sync::Arc<dyn crate::runtime::clock::Clock>,
    ) -> NatsEvents {
        NatsEvents {
            js,
            names,
            partitions,
            metrics,
            clock,
        }
    }
}

impl LogIngress for NatsEvents {
    fn partitions(&self) -> usize {
        self.partitions
    }

    fn publish_events(
        &self,
        partition: usize,
        events: Vec<Event>,
    ) -> Pin<Box<dyn Future<Output = Result<oneshot::Receiver<()>, Stopped>> + Send + '_>> {
        let mut payload = Vec::new();
        event_log::encode(self.clock.now_ms(), &events, &mut payload);
        let part = Part {
            subject: self.names.events_subject(partition),
            id: event_log::message_id(partition, &events),
            payload: payload.into(),
        };
        let (done, durable) = oneshot::channel();
        let js = self.js.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            if store(&js, &part, &metrics).await {
                let _ = done.send(());
            }
            // Else `done` is dropped: the device's ack writer learns the
            // part is not durable, no BATCH_ACK is sent, and the device
            // sends the batch again.
        });
        Box::pin(async move { Ok(durable) })
    }
}

/// One partition's part of a batch, ready to publish.
struct Part {
    subject: String,
    id: String,
    payload: bytes::Bytes,
}

/// Publishes `part` until JetStream has stored it, for [`RETRY_FOR`] at
/// most: a leader election or a reconnect takes a few seconds, and a
/// publish again with the same message id is dropped as a duplicate if the
/// first one had been stored after all.
async fn store(js: &jetstream::Context, part: &Part, metrics: &Metrics) -> bool {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        let msg = PublishMessage::build()
            .payload(part.payload.clone())
            .message_id(&part.id);
        let error = match js.send_publish(part.subject.clone(), msg).await {
            Ok(ack) => match ack.await {
                Ok(_) => {
                    metrics
                        .cluster_publish_seconds
                        .observe(start.elapsed().as_secs_f64());
                    return true;
                }
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        metrics.cluster_errors.with_label_values(&["publish"]).inc();
        if start.elapsed() >= RETRY_FOR {
            metrics.cluster_publish_failed.inc();
            tracing::warn!(subject = %part.subject, %error, "events not stored by the cluster's log: not acknowledged");
            return false;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
