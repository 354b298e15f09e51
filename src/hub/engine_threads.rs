//! The engine on threads: one owner thread per shard, fed by a bounded
//! crossbeam channel of batches, and one dispatcher thread that runs the
//! correlator and hands orders out. Control (ticks, stop) travels on the
//! same channels as data, in order.

use super::clock;
use super::dispatcher::Dispatcher;
use crate::engine::correlate::Correlator;
use crate::engine::shard::Shard;
use crate::engine::{Detection, EngineSettings, RuleSet};
use crate::metrics::Metrics;
use crate::model::Event;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a thread ticks its state machine when no data comes.
const TICK: Duration = Duration::from_millis(100);

/// A batch for one shard: the events of one device batch that fall in it.
pub struct ShardBatch {
    /// Arrival stamp of the device batch ([`clock::stamp_ns`]).
    pub arrival: u64,
    /// The events.
    pub events: Vec<Event>,
}

/// What the dispatcher thread receives.
enum ToDispatcher {
    Output {
        shard: usize,
        watermark: i64,
        detections: Vec<Detection>,
    },
}

/// The running engine threads.
pub struct EngineThreads {
    /// Senders into each shard's queue.
    pub shard_txs: Vec<Sender<ShardBatch>>,
    handles: Vec<JoinHandle<()>>,
}

impl EngineThreads {
    /// Starts `shards` shard threads and the dispatcher thread.
    pub fn spawn(
        rules: Arc<RuleSet>,
        settings: EngineSettings,
        shards: usize,
        queue: usize,
        metrics: Arc<Metrics>,
        dispatcher: Dispatcher,
    ) -> std::io::Result<EngineThreads> {
        let (out_tx, out_rx) = bounded::<ToDispatcher>(shards * 64);
        let mut shard_txs = Vec::new();
        let mut handles = Vec::new();
        for i in 0..shards {
            let (tx, rx) = bounded::<ShardBatch>(queue);
            let shard = Shard::new(rules.clone(), settings);
            let out = out_tx.clone();
            let m = metrics.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("shard-{i}"))
                    .spawn(move || run_shard(i, shard, rx, out, m))?,
            );
            shard_txs.push(tx);
        }
        drop(out_tx);
        let correlator = Correlator::new(rules, settings, shards);
        handles.push(
            std::thread::Builder::new()
                .name("dispatcher".into())
                .spawn(move || run_dispatcher(correlator, dispatcher, out_rx, metrics))?,
        );
        Ok(EngineThreads { shard_txs, handles })
    }

    /// Closes the queues and waits until every queued batch has gone
    /// through the engine and every order out of it has been handed on.
    pub fn drain(self) {
        drop(self.shard_txs);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

fn run_shard(
    index: usize,
    mut shard: Shard,
    rx: Receiver<ShardBatch>,
    out: Sender<ToDispatcher>,
    metrics: Arc<Metrics>,
) {
    let label = index.to_string();
    let devices_gauge = metrics.shard_devices.with_label_values(&[&label]);
    let mut last_tick = clock::now_ms();
    let mut last_watermark = i64::MIN;
    loop {
        let got = rx.recv_timeout(TICK);
        let now = clock::now_ms();
        match got {
            Ok(batch) => shard.handle_events(now, batch.arrival, &batch.events),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if now - last_tick >= TICK.as_millis() as i64 {
            shard.handle_timeout(now);
            last_tick = now;
            devices_gauge.set(shard.devices() as i64);
        }
        let stats = shard.take_stats();
        if stats != Default::default() {
            metrics.events_processed.inc_by(stats.processed);
            metrics
                .events_duplicate_retransmit
                .inc_by(stats.retransmits);
            metrics.events_duplicate_too_old.inc_by(stats.too_old);
            metrics.events_late.inc_by(stats.late);
            metrics.detections.inc_by(stats.detections);
            metrics.conditions_cleared.inc_by(stats.cleared);
            metrics.state_expired.inc_by(stats.expired);
        }
        let detections: Vec<Detection> = std::iter::from_fn(|| shard.poll_detection()).collect();
        let watermark = shard.watermark();
        if !detections.is_empty() || watermark != last_watermark {
            last_watermark = watermark;
            let msg = ToDispatcher::Output {
                shard: index,
                watermark,
                detections,
            };
            if out.send(msg).is_err() {
                break;
            }
        }
    }
}

fn run_dispatcher(
    mut correlator: Correlator,
    mut dispatcher: Dispatcher,
    rx: Receiver<ToDispatcher>,
    metrics: Arc<Metrics>,
) {
    loop {
        match rx.recv_timeout(TICK) {
            Ok(ToDispatcher::Output {
                shard,
                watermark,
                detections,
            }) => {
                for d in detections {
                    correlator.handle_detection(d);
                }
                correlator.flush();
                correlator.handle_watermark(shard, watermark);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while let Some(w) = correlator.poll_warning() {
            dispatcher.dispatch(&w);
        }
        let stats = correlator.take_stats();
        metrics.incidents_opened.inc_by(stats.opened);
        metrics.incidents_closed.inc_by(stats.closed);
        metrics
            .incidents_open
            .set(correlator.open_incidents() as i64);
    }
}
