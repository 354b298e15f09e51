//! The engine's checkpoints on their own thread: each shard thread, once
//! a checkpoint interval, hands over a snapshot of its state when it has
//! changed (or says it has not), and this thread encodes it and replaces
//! the shard's file, off the shards' path. A shard whose previous
//! snapshot is still being written skips one (counted), so a slow disk
//! never holds a shard up. At stop each shard hands over a last one and
//! this thread writes it before the engine counts as drained.

use crate::engine::checkpoint::ShardCheckpoint;
use crate::metrics::Metrics;
use crate::runtime::clock::Clock;
use crate::store::checkpoint::CheckpointDir;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a shard thread tells the writer.
pub enum CheckpointMsg {
    /// A snapshot to write.
    Save(Box<ShardCheckpoint>),
    /// The shard's state is what its file holds already.
    Unchanged {
        /// Which shard.
        shard: u32,
    },
}

/// A shard thread's side: when to take a snapshot, and where it goes.
pub struct ShardCheckpointer {
    tx: Sender<CheckpointMsg>,
    interval_ms: i64,
    next_ms: i64,
    saved_generation: u64,
    metrics: Arc<Metrics>,
}

impl ShardCheckpointer {
    /// When the shard next needs to act for its checkpoint, Unix ms (only
    /// while its state has changed since the last one: an unchanged shard
    /// is not woken for it).
    pub fn poll_timeout(&self, generation: u64) -> i64 {
        if generation == self.saved_generation {
            i64::MAX
        } else {
            self.next_ms
        }
    }

    /// Called after each step of the shard: hands over a snapshot once
    /// an interval, if the state changed.
    pub fn maybe_save(
        &mut self,
        index: u32,
        shards: u32,
        shard: &crate::engine::shard::Shard,
        now_ms: i64,
    ) {
        if now_ms < self.next_ms {
            return;
        }
        self.next_ms = now_ms.saturating_add(self.interval_ms);
        let generation = shard.generation();
        let msg = if generation == self.saved_generation {
            CheckpointMsg::Unchanged { shard: index }
        } else {
            let took = std::time::Instant::now();
            let c = shard.checkpoint(index, shards, now_ms);
            // A shard of a million devices takes some 50 ms to copy its
            // state: space the snapshots so they cost it at most 2 % of its
            // time (a kill -9 then loses a little more).
            let spent_ms = took.elapsed().as_millis() as i64;
            self.next_ms = self.next_ms.max(now_ms.saturating_add(spent_ms * 50));
            CheckpointMsg::Save(Box::new(c))
        };
        match self.tx.try_send(msg) {
            Ok(()) => self.saved_generation = generation,
            Err(TrySendError::Full(_)) => self.metrics.engine_checkpoints_skipped.inc(),
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// The last snapshot, at stop: waited for.
    pub fn save_last(
        self,
        index: u32,
        shards: u32,
        shard: &crate::engine::shard::Shard,
        now_ms: i64,
    ) {
        if shard.generation() != self.saved_generation {
            let c = shard.checkpoint(index, shards, now_ms);
            let _ = self.tx.send(CheckpointMsg::Save(Box::new(c)));
        }
    }
}

/// The writer thread.
pub struct CheckpointWriter {
    tx: Sender<CheckpointMsg>,
    interval_ms: i64,
    metrics: Arc<Metrics>,
    handle: JoinHandle<()>,
}

impl CheckpointWriter {
    /// Starts the writer of `shards` shards' checkpoints into `dir`, one
    /// every `interval` at most.
    pub fn spawn(
        dir: CheckpointDir,
        shards: usize,
        interval: Duration,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<CheckpointWriter> {
        // One snapshot of each shard in flight at most.
        let (tx, rx) = bounded(shards);
        let m = metrics.clone();
        let handle = std::thread::Builder::new()
            .name("checkpoints".into())
            .spawn(move || run(dir, rx, shards, m, clock))?;
        Ok(CheckpointWriter {
            tx,
            interval_ms: interval.as_millis() as i64,
            metrics,
            handle,
        })
    }

    /// The side of one shard thread, whose state is that of the file now
    /// at generation `generation`.
    pub fn for_shard(&self, generation: u64, now_ms: i64) -> ShardCheckpointer {
        ShardCheckpointer {
            tx: self.tx.clone(),
            interval_ms: self.interval_ms,
            next_ms: now_ms.saturating_add(self.interval_ms),
            saved_generation: generation,
            metrics: self.metrics.clone(),
        }
    }

    /// Waits until every snapshot handed over has been written (once the
    /// shard threads, holding the other senders, have ended).
    pub fn finish(self) {
        drop(self.tx);
        let _ = self.handle.join();
    }
}

fn run(
    dir: CheckpointDir,
    rx: Receiver<CheckpointMsg>,
    shards: usize,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) {
    let started = clock.now_ms();
    let mut last_ok = vec![started; shards];
    for i in 0..shards {
        // Exported from the start, not from the first checkpoint.
        metrics
            .engine_checkpoint_age
            .with_label_values(&[&i.to_string()])
            .set(0);
    }
    let mut failing = false;
    loop {
        let msg = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let now = clock.now_ms();
        match msg {
            Some(CheckpointMsg::Save(c)) => {
                let bytes = c.encode();
                match dir.save(c.shard, &bytes) {
                    Ok(()) => {
                        last_ok[c.shard as usize] = now;
                        metrics.engine_checkpoints_ok.inc();
                        metrics
                            .engine_checkpoint_bytes
                            .with_label_values(&[&c.shard.to_string()])
                            .set(bytes.len() as i64);
                        if std::mem::take(&mut failing) {
                            tracing::info!(dir = %dir.path().display(), "engine checkpoints written again");
                        }
                    }
                    Err(e) => {
                        metrics.engine_checkpoints_failed.inc();
                        if !std::mem::replace(&mut failing, true) {
                            tracing::error!(dir = %dir.path().display(), error = %e, "cannot write the engine's checkpoint: a restart would lose the engine's state since the last one");
                        }
                    }
                }
            }
            Some(CheckpointMsg::Unchanged { shard }) => last_ok[shard as usize] = now,
            None => {}
        }
        for (i, t) in last_ok.iter().enumerate() {
            metrics
                .engine_checkpoint_age
                .with_label_values(&[&i.to_string()])
                .set((now - t).max(0) / 1000);
        }
    }
}
