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
use crate::runtime::dispatch_thread::{Dispatcher, OrderMsg};
use crate::runtime::handle::Handle;
use crate::runtime::inbox::{inbox, Inbox, Outlet};
pub use crate::runtime::shard_msg::{Receipt, ShardMsg};
use crate::runtime::transport::{Idle, PartitionConsumer};
use crate::store::checkpoint::CheckpointDir;
use crossbeam_channel::{bounded, select, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the dispatcher thread receives from the shards.
struct ShardOutput {
    shard: usize,
    watermark: Watermark,
    detections: Vec<Detection>,
    /// Batches whose detections these are: told once they are durable.
    receipts: Vec<Receipt>,
}

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
}

/// The running engine threads.
pub struct EngineThreads {
    /// The sessions' way in.
    pub handle: Handle,
    /// Event vectors the shards give back to ingest.
    pub buffers: BufferPool,
    /// Sender of new rules to the correlator.
    pub rules_tx: Sender<Arc<RuleSet>>,
    shards: Vec<Inbox<ShardMsg>>,
    handles: Vec<JoinHandle<()>>,
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
        let mut correlator = Correlator::new(rules, settings, shards);
        for d in flagged {
            correlator.set_flagged(d, true);
        }
        // What was durable before a restart: incidents still open come
        // back; those that have their order already are no news.
        for d in replay {
            correlator.handle_detection(d);
        }
        correlator.flush();
        let m = metrics.clone();
        handles.push(
            std::thread::Builder::new()
                .name("dispatcher".into())
                .spawn(move || {
                    run_dispatcher(correlator, dispatcher, out_rx, acks_out, rules_rx, m, clock)
                })?,
        );
        Ok(EngineThreads {
            handle: Handle::new(inboxes.clone(), acks, metrics),
            buffers,
            rules_tx,
            shards: inboxes,
            handles,
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
        for h in self.handles {
            let _ = h.join();
        }
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
        if !detections.is_empty() || watermark != last_watermark {
            last_watermark = watermark;
            let msg = ShardOutput {
                shard: index,
                watermark,
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

fn run_dispatcher(
    mut correlator: Correlator,
    mut dispatcher: Dispatcher,
    mut rx: Receiver<ShardOutput>,
    acks_in: Outlet<OrderMsg>,
    mut rules_rx: Receiver<Arc<RuleSet>>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) {
    let mut acks_rx = acks_in.rx.clone();
    let mut shards_open = true;
    // The replayed journal's warnings, before any input.
    let warnings: Vec<_> = std::iter::from_fn(|| correlator.poll_warning()).collect();
    dispatcher.round(
        clock.now_ms(),
        warnings,
        Vec::new(),
        Vec::new(),
        &mut correlator,
    );
    loop {
        let mut acks = Vec::new();
        let mut outputs = Vec::new();
        // Sleep until the next input or until the dispatcher next needs
        // time (a deadline, a commit to try again), not on a tick.
        let wake = match dispatcher.poll_timeout() {
            Some(at) => crossbeam_channel::at(clock.instant_of_ms(at)),
            None => crossbeam_channel::never(),
        };
        select! {
            recv(rx) -> m => match m {
                Ok(o) => outputs.push(o),
                Err(_) => {
                    shards_open = false;
                    rx = crossbeam_channel::never();
                }
            },
            recv(acks_rx) -> m => match m {
                Ok(a) => acks.push(a),
                Err(_) => acks_rx = crossbeam_channel::never(),
            },
            recv(rules_rx) -> m => match m {
                Ok(rules) => correlator.set_rules(rules),
                Err(_) => rules_rx = crossbeam_channel::never(),
            },
            recv(wake) -> _ => {}
        }
        // Take whatever else is waiting: one commit for all of it.
        outputs.extend(rx.try_iter().take(1024));
        acks.extend(acks_rx.try_iter().take(4096));
        acks_in.took(acks.len());
        let mut receipts = Vec::new();
        for o in outputs {
            dispatcher.handle_detections(&o.detections);
            for d in o.detections {
                correlator.handle_detection(d);
            }
            correlator.flush();
            correlator.handle_watermark(o.shard, o.watermark);
            receipts.extend(o.receipts);
        }
        let warnings: Vec<_> = std::iter::from_fn(|| correlator.poll_warning()).collect();
        dispatcher.round(clock.now_ms(), warnings, acks, receipts, &mut correlator);
        metrics.record_correlator(&correlator.take_stats(), correlator.open_incidents());
        if !shards_open {
            // The shards are drained and so is the engine: done. Acks still
            // in flight come from sessions that are closing too.
            acks_in.close();
            break;
        }
    }
}
