//! Where the engine meets the cluster side, in the cluster mode: the
//! shards' outputs go out to the detections stream (not to this node's
//! correlator), and the district's correlator and dispatcher take their
//! input from that stream only while this node holds the dispatch lease.
//! The types here are what travels between the engine threads and the
//! NATS tasks; none of them decides anything.

use crate::engine::watermark::Watermark;
use crate::engine::Detection;
use crate::runtime::dispatch_thread::{OrderMsg, Replicate};
use crate::runtime::shard_msg::Receipt;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;

/// A shard's output: its detections since the last one, its watermark,
/// and the receipts of the batches they came from (told once the
/// detections are durable). In the cluster mode the dispatcher receives
/// these from the detections stream with `shard` naming the partition.
pub struct ShardOutput {
    /// The shard (or, from the detections stream, the partition).
    pub shard: usize,
    /// How far its event time has got.
    pub watermark: Watermark,
    /// In the cluster mode, how far each partition the shard runs has got
    /// (its own watermark, by its own messages): what goes out for it.
    pub partitions: Vec<(u32, Watermark)>,
    /// What it found.
    pub detections: Vec<Detection>,
    /// Batches whose detections these are.
    pub receipts: Vec<Receipt>,
}

/// Sends a request about an order to the node that dispatches, and its
/// answer back to the session (the NATS side implements it).
pub trait Forward: Send + Sync {
    /// Forwards one request; its reply channel is answered from there.
    fn forward(&self, msg: OrderMsg);
}

/// What the dispatcher thread is told in the cluster mode.
pub enum DispatchInput {
    /// Detections and a watermark of one partition, from the stream.
    Output(ShardOutput),
    /// This node dispatches from now on: start again from the outbox
    /// (caught up with the orders stream), replicate every commit there.
    Activate {
        /// Where commits go.
        replicate: Arc<dyn Replicate>,
        /// Told when the dispatcher runs (or why it could not start).
        ready: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// Another node dispatches: forget, send requests there.
    Deactivate,
    /// Where requests about orders go while another node dispatches.
    Forwarder(Arc<dyn Forward>),
}

/// The cluster side's ends of the engine.
pub struct ClusterEnds {
    /// The shards' outputs, to publish.
    pub shard_outputs: Receiver<ShardOutput>,
    /// The dispatcher thread's input.
    pub dispatch: Sender<DispatchInput>,
    /// The shards' count (partition p runs in shard p mod shards).
    pub shards: usize,
}
