//! The recording (`[record]`): accepted batches, as validated, with the
//! hub's clock at their arrival, appended to segment files under
//! DATA_DIR/recordings/ for `tongguan replay`. Ingest hands each batch to
//! [`Recorder::offer`] once, after validation and before the shards take
//! it: a copy into a bounded queue, never a wait. The recording thread
//! (`writer`) samples devices, encodes (the core's
//! `tongguan_core::replay::format`), writes, rotates and deletes old
//! segments; [`reader`] reads a time range back.
//!
//! Invariant: ingest is never slowed by the recording. A full queue
//! drops the batch from the recording and counts it
//! (`tongguan_record_dropped_batches_total`).

pub mod reader;
mod sample;
pub mod segments;
mod writer;

use crate::config::record::{RecordConfig, RecordMode};
use crate::metrics::RecordMetrics;
use crate::model::Event;
use crossbeam_channel::{Sender, TrySendError};
use std::path::Path;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;
use tongguan_core::replay::format::record_len;

/// What the recording thread receives.
enum Msg {
    /// A batch that arrived at `arrival_ms`.
    Batch { arrival_ms: i64, events: Vec<Event> },
    /// Write out what is buffered, then say so.
    Flush(crossbeam_channel::Sender<()>),
}

/// Ingest's handle on the recording.
pub struct Recorder {
    tx: Sender<Msg>,
    metrics: RecordMetrics,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Recorder {
    /// Starts the recording thread when `config` records anything; `None`
    /// when the mode is off. `partitions` is the hub's shard count, kept
    /// in each segment for the replay.
    pub fn spawn(
        config: &RecordConfig,
        data_dir: &Path,
        partitions: usize,
        metrics: RecordMetrics,
    ) -> std::io::Result<Option<Recorder>> {
        if config.mode == RecordMode::Off {
            return Ok(None);
        }
        let dir = config.dir_in(data_dir);
        std::fs::create_dir_all(&dir)?;
        let (tx, rx) = crossbeam_channel::bounded(config.queue_batches);
        let writer = writer::Writer::new(dir, config, partitions, metrics.clone());
        let thread = std::thread::Builder::new()
            .name("recording".into())
            .spawn(move || writer.run(rx))?;
        Ok(Some(Recorder {
            tx,
            metrics,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Hands a batch's accepted events (split by shard, as ingest holds
    /// them) to the recording, or counts it dropped if the queue is full.
    pub fn offer(&self, arrival_ms: i64, parts: &[Vec<Event>]) {
        let n: usize = parts.iter().map(Vec::len).sum();
        if n == 0 {
            return;
        }
        let mut events = Vec::with_capacity(n);
        for p in parts {
            events.extend_from_slice(p);
        }
        match self.tx.try_send(Msg::Batch { arrival_ms, events }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.dropped_batches.inc();
                self.metrics.dropped_bytes.inc_by(record_len(n) as u64);
            }
        }
    }

    /// Waits (at most `grace`) until every batch queued before this call
    /// is written to its segment.
    pub fn flush(&self, grace: Duration) -> bool {
        let (done, wait) = crossbeam_channel::bounded(1);
        if self.tx.send_timeout(Msg::Flush(done), grace).is_err() {
            return false;
        }
        wait.recv_timeout(grace).is_ok()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has written the rest.
        let (tx, _) = crossbeam_channel::bounded(1);
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CameraRef, Category, Source};

    fn events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|seq| Event {
                device: 1,
                seq,
                time_ms: 1_780_000_000_000,
                value: 1.0,
                lat: 31.25,
                lon: 121.41,
                cell: crate::geo::cell_of(31.25, 121.41).unwrap(),
                category: Category::Smoke,
                source: Source::Sensor,
                camera: CameraRef::NONE,
            })
            .collect()
    }

    /// A recording thread that does not keep up (here: none reads the
    /// queue): the batch past the queue's room is dropped and counted, and
    /// `offer` returns at once every time.
    #[test]
    fn a_full_recording_queue_drops_the_batch_and_counts_it() {
        let metrics = crate::metrics::Metrics::new().record;
        let (tx, rx) = crossbeam_channel::bounded(2);
        let recorder = Recorder {
            tx,
            metrics: metrics.clone(),
            thread: Mutex::new(None),
        };
        let started = std::time::Instant::now();
        for _ in 0..5 {
            recorder.offer(7, &[events(3), events(2)]);
        }
        assert!(started.elapsed() < Duration::from_secs(1), "never waits");
        assert_eq!(rx.len(), 2, "the queue holds what it has room for");
        assert_eq!(metrics.dropped_batches.get(), 3);
        assert_eq!(metrics.dropped_bytes.get(), 3 * record_len(5) as u64);
        // An empty batch is not offered at all.
        recorder.offer(8, &[Vec::new()]);
        assert_eq!(metrics.dropped_batches.get(), 3);
        match rx.try_recv().unwrap() {
            Msg::Batch { arrival_ms, events } => assert_eq!((arrival_ms, events.len()), (7, 5)),
            Msg::Flush(_) => panic!("a batch was queued"),
        }
    }
}
