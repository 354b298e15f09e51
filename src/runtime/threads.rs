//! The engine on threads: one owner thread per shard, fed by a bounded
//! crossbeam channel of messages (event batches, heartbeats, queries:
//! control travels on the same channel as data, in order), and one
//! dispatcher thread that runs the correlator and the durable dispatcher.

use crate::engine::checkpoint::{Restored, ShardCheckpoint};
use crate::engine::correlate::Correlator;
use crate::engine::shard::Shard;
use crate::engine::watermark::Watermark;
use crate::engine::{Detection, EngineSettings, RuleSet};
use crate::metrics::Metrics;
use crate::runtime::buffers::BufferPool;
use crate::runtime::checkpoints::{CheckpointWriter, ShardCheckpointer};
use crate::runtime::clock::Clock;
use crate::runtime::cluster_ends::{ClusterEnds, DispatchInput, ShardOutput};
use crate::runtime::dispatch_loop::{CorrelatorPlan, DispatchLoop};
use crate::runtime::dispatch_thread::{Dispatcher, OrderMsg};
use crate::runtime::handle::Handle;
use crate::runtime::inbox::{inbox, Inbox};
pub use crate::runtime::shard_msg::ShardMsg;
use crate::runtime::transport::{Idle, PartitionConsumer};
use crate::store::checkpoint::CheckpointDir;
use crossbeam_channel::{bounded, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the engine threads are made of.
pub struct EnginePlan {
    /// The rules in force at start.
    pub rules: Arc<RuleSet>,
    /// The engine's limits and windows.
    pub settings: EngineSettings,
    /// Shard threads.
    pub shards: usize,
    /// Batches each shard's queue holds.
    pub queue: usize,
    /// Journaled detections to replay into the correlator at start.
    pub replay: Vec<Detection>,
    /// Where and how often the shards save their state; none: they do not.
    pub checkpoints: Option<(CheckpointDir, std::time::Duration)>,
    /// The state each shard saved before the restart, by shard.
    pub restored: Vec<Option<ShardCheckpoint>>,
    /// In the cluster mode, the partitions: the shards' outputs then go to
    /// the cluster side, and the dispatcher runs only where the dispatch
    /// lease is, on the detections stream (see [`ClusterEnds`]).
    pub cluster_partitions: Option<u32>,
    /// How far back the journal is replayed when a cluster node starts
    /// dispatching, ms.
    pub journal_keep_ms: i64,
}

/// The running engine threads.
pub struct EngineThreads {
    /// The sessions' way in.
    pub handle: Handle,
    /// Event vectors the shards give back to ingest.
    pub buffers: BufferPool,
    /// Sender of new rules to the correlator.
    pub rules_tx: Sender<Arc<RuleSet>>,
    /// In the cluster mode, the cluster side's ends (taken when it joins).
    pub cluster: Option<ClusterEnds>,
    shards: Vec<Inbox<ShardMsg>>,
    handles: Vec<JoinHandle<()>>,
    dispatcher: JoinHandle<()>,
    /// The cluster mode's way to stop the dispatcher thread.
    stop_dispatch: Option<crossbeam_channel::Sender<DispatchInput>>,
    checkpoints: Option<CheckpointWriter>,
}

impl EngineThreads {
    /// Starts `shards` shard threads and the dispatcher thread; `flagged`
    /// devices start out needing corroboration.
    pub fn spawn(
        plan: EnginePlan,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        dispatcher: Dispatcher,
        flagged: Vec<u64>,
    ) -> std::io::Result<EngineThreads> {
        let EnginePlan {
            rules,
            settings,
            shards,
            queue,
            replay,
            checkpoints,
            mut restored,
            cluster_partitions,
            journal_keep_ms,
        } = plan;
        let writer = checkpoints
            .map(|(dir, every)| {
                CheckpointWriter::spawn(dir, shards, every, metrics.clone(), clock.clone())
            })
            .transpose()?;
        let mut loaded = Restored::default();
        let (out_tx, out_rx) = bounded::<ShardOutput>(shards * 64);
        let (acks, acks_out) = inbox::<OrderMsg>(4096);
        let (rules_tx, rules_rx) = bounded::<Arc<RuleSet>>(16);
        let mut inboxes = Vec::new();
        let mut handles = Vec::new();
        // Enough for every queue to be full and each session to hold one.
        let buffers = BufferPool::new(shards * (queue + 64));
        for i in 0..shards {
            let (tx, rx) = inbox::<ShardMsg>(queue);
            let shard = match restored.get_mut(i).and_then(Option::take) {
                Some(saved) => {
                    let (shard, r) = Shard::restore(rules.clone(), settings, saved);
                    loaded.devices += r.devices;
                    loaded.conditions += r.conditions;
                    loaded.dropped += r.dropped;
                    shard
                }
                None => Shard::new(rules.clone(), settings),
            };
            let out = out_tx.clone();
            let ctx = ShardContext {
                index: i,
                of: shards,
                metrics: metrics.clone(),
                buffers: buffers.clone(),
                clock: clock.clone(),
                checkpoints: writer
                    .as_ref()
                    .map(|w| w.for_shard(shard.generation(), clock.now_ms())),
            };
            handles.push(
                std::thread::Builder::new()
                    .name(format!("shard-{i}"))
                    .spawn(move || run_shard(shard, rx, out, ctx))?,
            );
            inboxes.push(tx);
        }
        drop(out_tx);
        if loaded != Restored::default() {
            tracing::info!(
                devices = loaded.devices,
                conditions = loaded.conditions,
                left_out = loaded.dropped,
                "engine state of the previous run loaded"
            );
        }
        let slots = cluster_partitions.map_or(shards, |p| p as usize);
        let mut correlator = Correlator::new(rules.clone(), settings, slots);
        for d in flagged {
            correlator.set_flagged(d, true);
        }
        // What was durable before a restart: incidents still open come
        // back; those that have their order already are no news.
        for d in replay {
            correlator.handle_detection(d);
        }
        correlator.flush();
        // In the cluster mode the shards' outputs go to the cluster side and
        // the dispatcher listens to it instead.
        let (outputs, inputs, cluster) = match cluster_partitions {
            None => (out_rx, None, None),
            Some(_) => {
                let (tx, rx) = bounded::<DispatchInput>(1024);
                let ends = ClusterEnds {
                    shard_outputs: out_rx,
                    dispatch: tx,
                    shards,
                };
                (crossbeam_channel::never(), Some(rx), Some(ends))
            }
        };
        let stop_dispatch = cluster.as_ref().map(|c| c.dispatch.clone());
        let run = DispatchLoop {
            correlator,
            dispatcher,
            outputs,
            inputs,
            acks: acks_out,
            rules: rules_rx,
            plan: CorrelatorPlan {
                rules,
                settings,
                slots,
                keep_ms: journal_keep_ms,
            },
            metrics: metrics.clone(),
            clock,
        };
        let dispatcher = std::thread::Builder::new()
            .name("dispatcher".into())
            .spawn(move || run.run())?;
        Ok(EngineThreads {
            handle: Handle::new(inboxes.clone(), acks, metrics),
            buffers,
            rules_tx,
            cluster,
            shards: inboxes,
            handles,
            dispatcher,
            stop_dispatch,
            checkpoints: writer,
        })
    }

    /// Tells every shard to stop after what is queued, and waits until all
    /// of it has gone through the engine and every order out of it is in
    /// the outbox.
    pub fn drain(self) {
        for tx in &self.shards {
            let _ = tx.send_last(ShardMsg::Stop);
        }
        drop(self.shards);
        drop(self.handle);
        drop(self.rules_tx);
        drop(self.cluster);
        for h in self.handles {
            let _ = h.join();
        }
        // In the cluster mode the dispatcher's input is the cluster side's,
        // stopped by now: what was in flight goes to the next owner.
        drop(self.stop_dispatch);
        let _ = self.dispatcher.join();
        // The shards' last snapshots, written.
        if let Some(w) = self.checkpoints {
            w.finish();
        }
    }
}

/// What a shard thread works with besides its shard and its queues.
struct ShardContext {
    index: usize,
    of: usize,
    metrics: Arc<Metrics>,
    buffers: BufferPool,
    clock: Arc<dyn Clock>,
    checkpoints: Option<ShardCheckpointer>,
}

fn run_shard(
    mut shard: Shard,
    inbox: impl PartitionConsumer,
    out: Sender<ShardOutput>,
    ctx: ShardContext,
) {
    let ShardContext {
        index,
        of,
        metrics,
        buffers,
        clock,
        mut checkpoints,
    } = ctx;
    let label = index.to_string();
    let devices_gauge = metrics.shard_devices.with_label_values(&[&label]);
    let offline_gauge = metrics.devices_offline.with_label_values(&[&label]);
    let mut last_watermark = Watermark::NotYet;
    let mut last_lanes: Vec<(u32, Watermark)> = Vec::new();
    let mut receipts = Vec::new();
    loop {
        // Sleep until the next message or until the shard next needs time.
        let wake = checkpoints
            .as_ref()
            .map_or(i64::MAX, |c| c.poll_timeout(shard.generation()))
            .min(shard.poll_timeout());
        let got = inbox.next_before(clock.instant_of_ms(wake));
        let now = clock.now_ms();
        match got {
            Ok(ShardMsg::Events(batch)) => {
                shard.handle_events(now, batch.arrival, &batch.events);
                buffers.give(batch.events);
                receipts.extend(batch.done);
            }
            Ok(ShardMsg::Heartbeat(ids)) => shard.handle_heartbeat(now, &ids),
            Ok(ShardMsg::Rules(rules)) => shard.set_rules(rules),
            Ok(ShardMsg::Partition(msg)) => msg.run(&mut shard, &mut receipts),
            Ok(ShardMsg::Stop) => break,
            Ok(ShardMsg::Query { ids, reply }) => {
                let found = ids
                    .iter()
                    .filter_map(|&id| Some((id, shard.device(id)?)))
                    .collect();
                let _ = reply.send(found);
            }
            Err(Idle::Deadline) => {}
            Err(Idle::Closed) => break,
        }
        if now >= shard.poll_timeout() {
            shard.handle_timeout(now);
            devices_gauge.set(shard.devices() as i64);
            offline_gauge.set(shard.offline() as i64);
        }
        let stats = shard.take_stats();
        if stats != Default::default() {
            metrics.record_shard(&stats);
        }
        if let Some(c) = &mut checkpoints {
            c.maybe_save(index as u32, of as u32, &shard, now);
        }
        let detections: Vec<Detection> = std::iter::from_fn(|| shard.poll_detection()).collect();
        if detections.is_empty() {
            // Nothing of these batches needs to be durable: they are done.
            for r in receipts.drain(..) {
                let _ = r.send(());
            }
        }
        let watermark = shard.current_watermark();
        // (Partitions' watermarks: the cluster mode only; none embedded.)
        let lanes_moved = !shard.partition_watermarks().eq(last_lanes.iter().copied());
        if !detections.is_empty() || watermark != last_watermark || lanes_moved {
            last_watermark = watermark;
            if lanes_moved {
                last_lanes.clear();
                last_lanes.extend(shard.partition_watermarks());
            }
            let msg = ShardOutput {
                shard: index,
                watermark,
                partitions: last_lanes.clone(),
                detections,
                receipts: std::mem::take(&mut receipts),
            };
            if out.send(msg).is_err() {
                break;
            }
        }
    }
    inbox.close();
    if let Some(c) = checkpoints {
        c.save_last(index as u32, of as u32, &shard, clock.now_ms());
    }
}
