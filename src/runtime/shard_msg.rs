//! What a shard thread receives, in order on one queue: event batches and
//! control (heartbeats, rules, queries, stop) travel together, so control
//! takes effect exactly between the batches it was sent between.

use crate::engine::shard::DeviceState;
use crate::engine::RuleSet;
use crate::model::Event;
use std::sync::Arc;

/// A batch for one shard: the events of one device batch that fall in it.
pub struct ShardBatch {
    /// Arrival stamp of the device batch ([`crate::runtime::clock::stamp_ns`]).
    pub arrival: u64,
    /// The events.
    pub events: Vec<Event>,
    /// Told once the shard has run the events and every detection they
    /// made is durable: the device's batch may then be acknowledged.
    pub done: Option<Receipt>,
}

/// The sender's side of "this part of a batch is durable".
pub type Receipt = tokio::sync::oneshot::Sender<()>;

/// What a shard thread receives.
pub enum ShardMsg {
    /// Events to run.
    Events(ShardBatch),
    /// A gateway vouches for these devices.
    Heartbeat(Arc<[u64]>),
    /// New rules from here on.
    Rules(Arc<RuleSet>),
    /// Finish what is queued before this, then stop.
    Stop,
    /// What does the shard know of these devices? Answered on `reply`.
    Query {
        /// Device ids.
        ids: Arc<[u64]>,
        /// Where the answer goes.
        reply: tokio::sync::oneshot::Sender<Vec<(u64, DeviceState)>>,
    },
}
