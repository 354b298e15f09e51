//! The event transport between ingest and the shards, as a seam: ingest
//! publishes a message for a partition, each shard thread consumes its
//! partition, in order. The embedded hub's transport is one bounded
//! in-memory queue per shard ([`crate::runtime::inbox`]); a cluster's is a
//! replicated log partitioned the same way, with ingest acknowledging
//! devices once the log has their batch.

use crate::model::Event;
use crate::runtime::handle::Handle;
use crate::runtime::inbox::{Outlet, Stopped};
use crate::runtime::shard_msg::{ShardBatch, ShardMsg};
use crossbeam_channel::RecvTimeoutError;
use std::future::Future;
use std::time::Instant;
use tokio::sync::oneshot;

/// Ingest's side.
pub trait EventTransport: Send + Sync {
    /// How many partitions events are split over.
    fn partitions(&self) -> usize;

    /// Publishes `msg` to `partition`, waiting while the partition is full
    /// (backpressure reaches the device as QUIC flow control).
    fn publish(
        &self,
        partition: usize,
        msg: ShardMsg,
    ) -> impl Future<Output = Result<(), Stopped>> + Send;

    /// Publishes one part of a batch's events; the receiver is told once
    /// the shard has run them and what they made is durable (an error: the
    /// hub stopped first).
    fn publish_events(
        &self,
        partition: usize,
        arrival: u64,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<oneshot::Receiver<()>, Stopped>> + Send {
        let (done, durable) = oneshot::channel();
        let msg = ShardMsg::Events(ShardBatch {
            arrival,
            events,
            done: Some(done),
        });
        async move { self.publish(partition, msg).await.map(|()| durable) }
    }
}

/// Ingest's side in the cluster mode: the events of a batch go to a
/// replicated log, split by partition, and the receiver is told once the
/// log has them on a quorum (an error: they could not be written). A
/// trait object, so that the runtime does not depend on the log's client.
pub trait LogIngress: Send + Sync {
    /// How many partitions events are split over.
    fn partitions(&self) -> usize;

    /// Publishes one partition's part of a batch.
    fn publish_events(
        &self,
        partition: usize,
        events: Vec<Event>,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<oneshot::Receiver<()>, Stopped>> + Send + '_>>;
}

/// Why a consumer returned without a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// The deadline came first.
    Deadline,
    /// Every publisher is gone: nothing more will come.
    Closed,
}

/// A shard thread's side.
pub trait PartitionConsumer {
    /// The next message of the partition, or why there is none by
    /// `deadline`. Blocks the calling thread.
    fn next_before(&self, deadline: Instant) -> Result<ShardMsg, Idle>;

    /// The consumer stops: publishers waiting on it give up.
    fn close(&self);
}

impl EventTransport for Handle {
    fn partitions(&self) -> usize {
        self.shard_count()
    }

    fn publish(
        &self,
        partition: usize,
        msg: ShardMsg,
    ) -> impl Future<Output = Result<(), Stopped>> + Send {
        self.submit(partition, msg)
    }
}

impl PartitionConsumer for Outlet<ShardMsg> {
    fn next_before(&self, deadline: Instant) -> Result<ShardMsg, Idle> {
        match self.rx.recv_deadline(deadline) {
            Ok(msg) => {
                // The stop message came in the slot kept for it, unpermitted.
                if !matches!(msg, ShardMsg::Stop) {
                    self.took(1);
                }
                Ok(msg)
            }
            Err(RecvTimeoutError::Timeout) => Err(Idle::Deadline),
            Err(RecvTimeoutError::Disconnected) => Err(Idle::Closed),
        }
    }

    fn close(&self) {
        Outlet::close(self);
    }
}
