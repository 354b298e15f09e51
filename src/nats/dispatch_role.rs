//! The district's dispatch where its lease is: one node at a time holds
//! the `dispatch` key of the leases bucket (the same lease machine as the
//! partitions'), runs the correlator and dispatcher on the detections
//! stream and answers the other nodes' requests about orders. On gaining
//! it, the node first brings its outbox up to the end of the orders
//! stream, then starts its dispatcher again from that outbox (open
//! orders, deadlines, sequences, the journal), so an escalation due while
//! the last owner was dead fires once, late, and no order is made twice.
//! On losing it, it stops reading and forwards requests to the new owner.

use super::connect::Nats;
use super::follow::Applied;
use super::ownership::Validity;
use super::replicate::OrdersOut;
use crate::cluster::fence::{Fence, Verdict};
use crate::cluster::lease::Ownership;
use crate::engine::watermark::Watermark;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::runtime::cluster_ends::{DispatchInput, ShardOutput};
use crate::runtime::handle::Handle;
use crate::wire::detection_log::DetectionMessage;
use async_nats::jetstream::consumer::{pull, AckPolicy};
use crossbeam_channel::Sender;
use futures_util::StreamExt;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a detection may stay unacknowledged before the stream
/// delivers it again (to whoever dispatches by then).
const ACK_WAIT: Duration = Duration::from_secs(10);
/// The longest a new owner waits for its outbox to catch up.
const CATCH_UP: Duration = Duration::from_secs(10);

/// What the dispatch role's task works with.
pub struct Role {
    /// The cluster.
    pub nats: Nats,
    /// The dispatcher thread's input.
    pub dispatch: Sender<DispatchInput>,
    /// This node's sessions' way to the dispatcher.
    pub handle: Handle,
    /// Scopes by name.
    pub map: Arc<RegionMap>,
    /// How far the outbox stands in the orders stream.
    pub applied: Applied,
    /// Until when the dispatch lease is this node's, and its epoch.
    pub validity: Validity,
    /// The node's clock.
    pub clock: Arc<dyn Clock>,
    /// Counts.
    pub metrics: Arc<Metrics>,
    /// This process.
    pub origin: String,
}

/// Starts the role's task: it follows the dispatch lease's changes.
pub fn spawn(
    role: Role,
    mut changes: mpsc::UnboundedReceiver<Ownership>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut running: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        while let Some(change) = changes.recv().await {
            match change {
                Ownership::Gained { epoch, .. } => {
                    stop(&mut running);
                    match activate(&role).await {
                        Ok(()) => {
                            tracing::info!(epoch, "this node dispatches");
                            running.push(tokio::spawn(consume(role.clone_parts())));
                            let (nats, handle, map) =
                                (role.nats.clone(), role.handle.clone(), role.map.clone());
                            running.push(tokio::spawn(async move {
                                if let Err(e) = super::requests::serve(nats, handle, map).await {
                                    tracing::error!(error = %e, "cannot answer requests about orders");
                                }
                            }));
                        }
                        Err(e) => {
                            role.metrics
                                .cluster_errors
                                .with_label_values(&["dispatch"])
                                .inc();
                            tracing::error!(error = %e, "cannot start dispatching; the lease lapses to another node");
                        }
                    }
                }
                Ownership::Lost { .. } => {
                    stop(&mut running);
                    let _ = role.dispatch.send(DispatchInput::Deactivate);
                    tracing::info!("another node dispatches");
                }
            }
        }
        stop(&mut running);
    })
}

fn stop(running: &mut Vec<tokio::task::JoinHandle<()>>) {
    for t in running.drain(..) {
        t.abort();
    }
}

impl Role {
    /// What the detections consumer needs, owned.
    fn clone_parts(&self) -> Consume {
        Consume {
            nats: self.nats.clone(),
            dispatch: self.dispatch.clone(),
            validity: self.validity.clone(),
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Catches the outbox up with the orders stream, then starts the
/// dispatcher on it.
async fn activate(role: &Role) -> Result<(), String> {
    let mut stream = role
        .nats
        .js
        .get_stream(role.nats.names.orders_stream())
        .await
        .map_err(|e| e.to_string())?;
    let end = stream
        .info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence;
    let started = tokio::time::Instant::now();
    while role.applied.get() < end {
        if started.elapsed() > CATCH_UP {
            return Err(format!(
                "the outbox stands at {} of the orders stream's {end} after {CATCH_UP:?}",
                role.applied.get()
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let replicate = Arc::new(OrdersOut {
        nats: role.nats.clone(),
        validity: role.validity.clone(),
        clock: role.clock.clone(),
        origin: role.origin.clone(),
        rt: tokio::runtime::Handle::current(),
        commits: AtomicU64::new(0),
    });
    let (ready, started) = tokio::sync::oneshot::channel();
    role.dispatch
        .send(DispatchInput::Activate { replicate, ready })
        .map_err(|_| "the dispatcher has stopped".to_owned())?;
    started
        .await
        .map_err(|_| "the dispatcher has stopped".to_owned())?
}

/// What the detections consumer works with.
struct Consume {
    nats: Nats,
    dispatch: Sender<DispatchInput>,
    validity: Validity,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
}

/// Reads the detections stream into the dispatcher until aborted,
/// starting again after errors.
async fn consume(c: Consume) {
    let mut fence = Fence::new();
    loop {
        if let Err(e) = pull(&c, &mut fence).await {
            c.metrics
                .cluster_errors
                .with_label_values(&["consume"])
                .inc();
            tracing::warn!(error = %e, "the detections consumer stopped; starting again");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn pull(
    c: &Consume,
    fence: &mut Fence,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = c
        .nats
        .js
        .get_stream(c.nats.names.detections_stream())
        .await?;
    let name = c.nats.names.detections_consumer();
    let consumer = stream
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_ack_pending: 10_000,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(msg) = messages.next().await {
        let msg = msg?;
        if c.validity.epoch(0, c.clock.now_ms()).is_none() {
            // The lease lapsed (a stop?): not ours to run; unacknowledged,
            // it goes to the next owner.
            return Ok(());
        }
        let m = match DetectionMessage::decode(&msg.payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "a detections-stream message this node cannot read");
                continue;
            }
        };
        if let Verdict::Stale { epoch, current } = fence.judge(m.partition, m.epoch) {
            c.metrics
                .cluster_fenced
                .with_label_values(&["detections"])
                .inc();
            tracing::warn!(
                partition = m.partition,
                epoch,
                current,
                "detections of a partition's former owner: refused"
            );
            let _ = msg.ack().await;
            continue;
        }
        let (done, durable) = tokio::sync::oneshot::channel();
        let output = ShardOutput {
            shard: m.partition as usize,
            watermark: m.watermark_ms.map_or(Watermark::NotYet, Watermark::At),
            partitions: Vec::new(),
            detections: m.detections,
            receipts: vec![done],
        };
        if c.dispatch.send(DispatchInput::Output(output)).is_err() {
            return Ok(());
        }
        tokio::spawn(async move {
            if durable.await.is_ok() {
                let _ = msg.ack().await;
            }
        });
    }
    Ok(())
}
