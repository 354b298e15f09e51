//! Every node's copy of the orders stream: a task reads the stream in
//! order from where this node's outbox last stood and applies each
//! message to it (the orders and log entries the dispatch owner wrote,
//! its device records and journal), then hands the orders to this node's
//! subscribers as the owner's dispatcher would. So /api/orders, SUBSCRIBE
//! `from_seq` and the console answer alike on every node, and the next
//! dispatch owner resumes from an outbox that holds what the last one
//! wrote.
//!
//! What this process wrote itself (while it dispatched) is in its outbox
//! and was sent already: skipped. A write whose dispatch epoch is older
//! than the newest seen is a stale owner's and is refused (counted). How
//! far the outbox stands in the stream is kept in DATA_DIR/cluster/.

use super::connect::Nats;
use super::detections::EPOCH_HEADER;
use super::replicate::ORIGIN_HEADER;
use crate::cluster::fence::{Fence, Verdict};
use crate::dispatch::scope::Scope;
use crate::geo::RegionMap;
use crate::metrics::Metrics;
use crate::runtime::dispatch_thread::encode_order;
use crate::runtime::subscribers::Subscribers;
use crate::store::{Batch, Store};
use crate::wire::control::DISTRICT;
use crate::wire::order_log;
use async_nats::jetstream::consumer::{pull, DeliverPolicy};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the follower needs.
pub struct Follow {
    /// The cluster.
    pub nats: Nats,
    /// This node's outbox.
    pub store: Arc<Store>,
    /// This node's subscribers.
    pub subscribers: Arc<Subscribers>,
    /// The region map (scopes by name).
    pub map: Arc<RegionMap>,
    /// This process (see [`super::replicate::ORIGIN_HEADER`]).
    pub origin: String,
    /// Where the stream position is kept.
    pub data_dir: PathBuf,
    /// Counts.
    pub metrics: Arc<Metrics>,
}

/// How far this node's outbox stands in the orders stream: its last
/// applied stream sequence.
#[derive(Clone, Default)]
pub struct Applied(Arc<AtomicU64>);

impl Applied {
    /// The last stream sequence applied.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// Starts the follower.
pub fn spawn(follow: Follow) -> (tokio::task::JoinHandle<()>, Applied) {
    let file = follow.data_dir.join("cluster").join("orders-applied");
    let start = std::fs::read_to_string(&file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let applied = Applied(Arc::new(AtomicU64::new(start)));
    let position = applied.clone();
    let task = tokio::spawn(async move {
        let mut fence = Fence::new();
        loop {
            if let Err(e) = run(&follow, &position, &file, &mut fence).await {
                follow
                    .metrics
                    .cluster_errors
                    .with_label_values(&["follow"])
                    .inc();
                tracing::warn!(error = %e, "reading the orders stream stopped; starting again");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    (task, applied)
}

async fn run(
    f: &Follow,
    applied: &Applied,
    file: &std::path::Path,
    fence: &mut Fence,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stream = f.nats.js.get_stream(f.nats.names.orders_stream()).await?;
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: applied.get() + 1,
            },
            ..Default::default()
        })
        .await?;
    let mut chunks = consumer.messages().await?.ready_chunks(256);
    while let Some(chunk) = chunks.next().await {
        let mut batch = Batch::default();
        let mut last = applied.get();
        for msg in chunk {
            let msg = msg?;
            last = msg.info()?.stream_sequence;
            if admit(f, &msg, fence) {
                match order_log::decode(&msg.payload) {
                    Ok(entry) => order_log::merge(&mut batch, entry),
                    Err(e) => {
                        tracing::error!(error = %e, seq = last, "an orders-stream message this node cannot read")
                    }
                }
            }
        }
        apply(f, &batch).await?;
        applied.0.store(last, Ordering::Release);
        save_position(file, last);
    }
    Ok(())
}

/// Whether a message is one to apply: not this process's own, and not a
/// stale owner's.
fn admit(f: &Follow, msg: &async_nats::jetstream::Message, fence: &mut Fence) -> bool {
    let header = |name: &str| {
        msg.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };
    let epoch = header(EPOCH_HEADER)
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    if let Verdict::Stale { epoch, current } = fence.judge(0, epoch) {
        f.metrics
            .cluster_fenced
            .with_label_values(&["orders"])
            .inc();
        tracing::warn!(
            epoch,
            current,
            "an order written under an old dispatch lease: refused"
        );
        return false;
    }
    header(ORIGIN_HEADER).as_deref() != Some(f.origin.as_str())
}

/// Commits what the messages wrote, then sends the orders to this node's
/// subscribers.
async fn apply(f: &Follow, batch: &Batch) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if batch.is_empty() {
        return Ok(());
    }
    let store = f.store.clone();
    let to_commit = batch.clone();
    tokio::task::spawn_blocking(move || store.commit(&to_commit)).await??;
    f.metrics
        .cluster_orders_applied
        .inc_by(batch.orders.len() as u64);
    for (scope, seq, id) in &batch.log {
        // A later entry in the same chunk carries a newer revision: that
        // one is sent (as a subscriber's catch-up would).
        let Some(record) = batch
            .orders
            .iter()
            .find(|r| &r.order.id == id && r.seq_in(scope) == *seq)
        else {
            continue;
        };
        let mut order = record.order.clone();
        order.seq = *seq;
        let scope = if scope == DISTRICT {
            Scope::District
        } else {
            match f.map.street_by_code(scope) {
                Some(s) => Scope::Street(s),
                None => continue,
            }
        };
        f.subscribers.publish(scope, &(*seq, encode_order(&order)));
    }
    f.subscribers.records_committed(&batch.orders);
    Ok(())
}

fn save_position(file: &std::path::Path, seq: u64) {
    if let Some(dir) = file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = crate::store::atomic::replace_file(file, seq.to_string().as_bytes()) {
        tracing::warn!(file = %file.display(), error = %e, "cannot keep the orders stream position");
    }
}
