//! What a shard thread receives, in order on one queue: event batches and
//! control (heartbeats, rules, queries, stop) travel together, so control
//! takes effect exactly between the batches it was sent between. In the
//! cluster mode a partition's messages from the log, and the saving and
//! loading of its state, travel the same way ([`PartitionMsg`]), so a
//! state saved covers exactly the messages sent before it.

use crate::engine::checkpoint::{Restored, ShardCheckpoint};
use crate::engine::shard::{DeviceState, Shard};
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
    /// About one partition of the cluster that this shard runs here.
    Partition(PartitionMsg),
}

/// What a partition's consumer sends the shard that runs it.
pub enum PartitionMsg {
    /// Events from the log, run at `now_ms`: the arrival time ingest
    /// stamped on them (Unix ms), never this node's clock, so a replay
    /// here decides as the first run did. No events: a tick its owner
    /// wrote into the quiet partition's log, which lets the partition's
    /// watermark follow that time.
    Events {
        /// Which partition's.
        partition: u32,
        /// The engine's time for them.
        now_ms: i64,
        /// The events; `done` is told once what they made is durable.
        batch: ShardBatch,
        /// Run again after a move, past the saved state, by a node that
        /// had made what they made durable (acknowledged them): they
        /// rebuild the state, their detections are not handed on again.
        replayed: bool,
    },
    /// The state of partition `partition` of `partitions` after every
    /// message sent before this one, answered on `reply`.
    Save {
        /// Which partition.
        partition: u32,
        /// Of how many.
        partitions: u32,
        /// This node's clock, for the record.
        now_ms: i64,
        /// Where the state goes.
        reply: tokio::sync::oneshot::Sender<ShardCheckpoint>,
    },
    /// The partition's saved state replaces what the shard holds of it
    /// (none: it starts empty); what was loaded is answered on `reply`.
    Load {
        /// Which partition.
        partition: u32,
        /// Of how many.
        partitions: u32,
        /// Its state as its last owner saved it.
        saved: Option<Box<ShardCheckpoint>>,
        /// What came of it.
        reply: tokio::sync::oneshot::Sender<Restored>,
    },
}

impl PartitionMsg {
    /// Runs the message on the shard thread's `shard`; a batch's receipt
    /// joins `receipts` (told once its detections are durable).
    pub fn run(self, shard: &mut Shard, receipts: &mut Vec<Receipt>) {
        match self {
            PartitionMsg::Events {
                partition,
                now_ms,
                batch,
                replayed,
            } => {
                if batch.events.is_empty() {
                    shard.handle_partition_tick(partition, now_ms);
                } else {
                    shard.handle_partition_events(partition, now_ms, batch.arrival, &batch.events);
                }
                if replayed {
                    // (The shard thread takes every detection after each
                    // message: these are this batch's.)
                    while shard.poll_detection().is_some() {}
                }
                receipts.extend(batch.done);
            }
            PartitionMsg::Save {
                partition,
                partitions,
                now_ms,
                reply,
            } => {
                let _ = reply.send(shard.checkpoint_partition(partition, partitions, now_ms));
            }
            PartitionMsg::Load {
                partition,
                partitions,
                saved,
                reply,
            } => {
                let restored = shard.load_partition(partition, partitions, saved.map(|s| *s));
                let _ = reply.send(restored);
            }
        }
    }
}
