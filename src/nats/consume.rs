//! Partitions this node owns, processed from the events stream: for each
//! partition gained, a task pulls its subject through the partition's
//! durable consumer and hands the events to the local shard that runs it;
//! a message is acknowledged to JetStream once the shard has run it and
//! what it made is durable, so one that was in flight on a node that died
//! is delivered again to the next owner. A partition lost stops its task
//! at once, and before each message a consumer checks that its lease is
//! surely still the node's by the node's own clock, so a node woken from a
//! stop runs nothing it took in before, even before its ownership task has
//! looked at the leases again.

use super::connect::Nats;
use super::ownership::Validity;
use crate::cluster::lease::Ownership;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::handle::Handle;
use crate::runtime::transport::EventTransport;
use crate::wire::event_log;
use async_nats::jetstream::consumer::{pull, AckPolicy};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a message may stay unacknowledged before JetStream delivers
/// it again (to whoever owns its partition by then).
const ACK_WAIT: Duration = Duration::from_secs(5);
/// Messages in flight per partition.
const MAX_ACK_PENDING: i64 = 256;

/// Starts and stops partition consumers as ownership changes.
pub fn spawn(
    nats: Nats,
    handle: Handle,
    metrics: Arc<Metrics>,
    guard: Guard,
    mut changes: mpsc::UnboundedReceiver<Ownership>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: HashMap<u32, tokio::task::JoinHandle<()>> = HashMap::new();
        while let Some(change) = changes.recv().await {
            match change {
                Ownership::Gained { partition, .. } => {
                    let task = tokio::spawn(consume(
                        nats.clone(),
                        handle.clone(),
                        metrics.clone(),
                        guard.clone(),
                        partition as usize,
                    ));
                    if let Some(old) = running.insert(partition, task) {
                        old.abort();
                    }
                }
                Ownership::Lost { partition } => {
                    if let Some(task) = running.remove(&partition) {
                        task.abort();
                    }
                }
            }
        }
        for task in running.into_values() {
            task.abort();
        }
    })
}

/// What a consumer checks before each message: whether the partition is
/// still surely this node's, by this node's clock.
#[derive(Clone)]
pub struct Guard {
    /// Until when each partition is this node's.
    pub validity: Validity,
    /// The node's clock.
    pub clock: Arc<dyn Clock>,
}

/// Processes partition `p` until aborted, starting again after errors.
async fn consume(nats: Nats, handle: Handle, metrics: Arc<Metrics>, guard: Guard, p: usize) {
    loop {
        if !guard.validity.allows(p, guard.clock.now_ms()) {
            // Lapsed (the node was stopped?): the ownership task says
            // Lost or Gained again; until then, nothing.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if let Err(e) = pull_partition(&nats, &handle, &guard, p).await {
            metrics.cluster_errors.with_label_values(&["consume"]).inc();
            tracing::warn!(partition = p, error = %e, "partition consumer stopped; starting again");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn pull_partition(
    nats: &Nats,
    handle: &Handle,
    guard: &Guard,
    p: usize,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = nats.js.get_stream(nats.names.events_stream()).await?;
    let name = nats.names.events_consumer(p);
    let consumer = stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: nats.names.events_subject(p),
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: MAX_ACK_PENDING,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    // The shard that runs the partition here: partitions are finer than
    // shards, and every rule about one place stays inside one partition.
    let shard = p % handle.shard_count();
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        if !guard.validity.allows(p, guard.clock.now_ms()) {
            // Taken in before a stop, handed out after it: not ours to
            // run any more. Unacknowledged, it goes to the owner.
            return Ok(());
        }
        let mut events = Vec::new();
        if let Err(e) = event_log::decode(&msg.payload, &mut events) {
            // Not ours to read (a newer node's format?): leave it for one
            // that can, and say so.
            tracing::error!(partition = p, error = %e, "events in the stream this node cannot read");
            continue;
        }
        let arrival = crate::runtime::clock::stamp_ns();
        let durable = handle
            .publish_events(shard, arrival, events)
            .await
            .map_err(|_| "the engine stopped")?;
        tokio::spawn(async move {
            if durable.await.is_ok() {
                let _ = msg.ack().await;
            }
        });
    }
    Ok(())
}
