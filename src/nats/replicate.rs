//! The dispatch owner's commits onto the orders stream: each commit of
//! its outbox is published (one message per order written, one of
//! dispatcher state) and every message stored on a quorum before the
//! dispatcher sends anything of it, with the epoch of the dispatch lease
//! in a header (followers refuse a stale owner's late writes) and this
//! process's identity (its own follower skips what it wrote itself).
//! Called on the dispatcher thread: it blocks that thread until the
//! stream answers, bounded by [`TIMEOUT`].

use super::connect::Nats;
use super::detections::EPOCH_HEADER;
use super::ownership::Validity;
use crate::runtime::clock::Clock;
use crate::runtime::dispatch_thread::Replicate;
use crate::store::Batch;
use crate::wire::order_log;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a commit may wait for the stream.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The header naming the process that wrote a message.
pub const ORIGIN_HEADER: &str = "Tg-Origin";

/// Publishes commits for this node while it holds the dispatch lease.
pub struct OrdersOut {
    /// The cluster.
    pub nats: Nats,
    /// Until when the dispatch lease is this node's, and its epoch.
    pub validity: Validity,
    /// The node's clock.
    pub clock: Arc<dyn Clock>,
    /// This process.
    pub origin: String,
    /// The runtime the publishes run on.
    pub rt: tokio::runtime::Handle,
    /// Commits so far (names the state messages).
    pub commits: AtomicU64,
}

impl Replicate for OrdersOut {
    fn replicate(&self, batch: &Batch) -> Result<(), String> {
        let epoch = self
            .validity
            .epoch(0, self.clock.now_ms())
            .ok_or("this node's dispatch lease has lapsed")?;
        let n = self.commits.fetch_add(1, Ordering::Relaxed);
        let messages = order_log::split(batch, &format!("{}-{epoch}-{n}", self.origin));
        let nats = self.nats.clone();
        let origin = self.origin.clone();
        let publish = async move {
            let mut acks = Vec::with_capacity(messages.len());
            for m in messages {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", m.id.as_str());
                headers.insert(EPOCH_HEADER, epoch.to_string().as_str());
                headers.insert(ORIGIN_HEADER, origin.as_str());
                let subject = nats.names.orders_subject(m.scope.as_deref());
                let ack = nats
                    .js
                    .publish_with_headers(subject, headers, m.payload.into())
                    .await
                    .map_err(|e| format!("publishing to the orders stream: {e}"))?;
                acks.push(ack);
            }
            for ack in acks {
                ack.await
                    .map_err(|e| format!("the orders stream did not store a commit: {e}"))?;
            }
            Ok::<(), String>(())
        };
        self.rt.block_on(async {
            tokio::time::timeout(TIMEOUT, publish)
                .await
                .map_err(|_| format!("the orders stream did not answer within {TIMEOUT:?}"))?
        })
    }
}
