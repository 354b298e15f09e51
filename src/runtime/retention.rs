//! The outbox's retention on a thread of its own: a pass at start and
//! every `retention_interval` (the pass itself, what it deletes and how it
//! exports, is the store's: store/retention.rs), counted in the metrics,
//! and a compaction after a pass that deleted more than
//! `compact_after_deleting` of the orders (off by default: it holds the
//! outbox, seconds on a large file). Dropped with the hub, it waits for
//! the transaction in progress, never for a whole pass.

use crate::config::retention::RetentionConfig;
use crate::metrics::Metrics;
use crate::store::retention::{Policy, RetentionError};
use crate::store::Store;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// The retention pass on a thread of its own: at start, then every
/// `retention_interval`, until dropped (which waits for the transaction
/// in progress, never for a whole pass).
pub struct RetentionTask {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RetentionTask {
    /// Starts the thread. A thread that cannot be started is logged and
    /// the hub serves without retention.
    pub fn spawn(store: &Arc<Store>, config: &RetentionConfig, metrics: &Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::channel();
        let driver = Driver {
            store: store.clone(),
            metrics: metrics.clone(),
            policy: Policy::from_config(config),
            interval: config.retention_interval,
            compact_after: config.compact_after_deleting,
            stop: rx,
        };
        let thread = std::thread::Builder::new()
            .name("tongguan-retention".into())
            .spawn(move || driver.run())
            .map_err(|e| tracing::error!(error = %e, "retention thread not started"))
            .ok();
        RetentionTask {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for RetentionTask {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the retention thread owns.
struct Driver {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    policy: Policy,
    interval: Duration,
    compact_after: f64,
    /// Dropped (disconnected) when the hub stops.
    stop: mpsc::Receiver<()>,
}

impl Driver {
    fn run(self) {
        loop {
            self.pass();
            match self.stop.recv_timeout(self.interval) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        }
    }

    /// Whether the hub is stopping; waits `pause` first.
    fn stopping_after(&self, pause: Duration) -> bool {
        !matches!(
            self.stop.recv_timeout(pause),
            Err(mpsc::RecvTimeoutError::Timeout)
        )
    }

    fn pass(&self) {
        let started = Instant::now();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // The dispatcher gets at least as long as each transaction held
        // the outbox before the next one begins.
        let mut go_on = |held: Duration| !self.stopping_after(held.max(Duration::from_millis(1)));
        let result = self.store.retain_closed(&self.policy, now_ms, &mut go_on);
        match &result {
            Ok(r) => {
                self.metrics.outbox_retention(r.deleted, r.exported, false);
                if r.deleted > 0 {
                    tracing::info!(
                        deleted = r.deleted,
                        exported = r.exported,
                        files = r.files.len(),
                        log_entries = r.log_entries_deleted,
                        longest_hold_ms = r.longest_hold.as_millis() as u64,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "closed orders exported and deleted"
                    );
                }
            }
            Err(e) => {
                self.metrics.outbox_retention(0, 0, true);
                tracing::error!(error = %chain(e), "retention pass failed; it runs again in retention_interval");
            }
        }
        if result.is_ok_and(|r| r.deleted_more_than(self.compact_after)) {
            match self.store.compact() {
                Ok(c) => tracing::info!(
                    before_bytes = c.before_bytes,
                    after_bytes = c.after_bytes,
                    elapsed_ms = c.elapsed.as_millis() as u64,
                    "outbox compacted"
                ),
                Err(e) => tracing::warn!(error = %e.chain(), "outbox not compacted"),
            }
        }
        if let Ok(counts) = self.store.status_counts() {
            for (status, n) in counts {
                self.metrics.outbox_orders(status, n);
            }
        }
    }
}

/// An error and its causes, `: `-separated.
fn chain(e: &RetentionError) -> String {
    match e {
        RetentionError::Store(e) => e.chain(),
        other => {
            let mut out = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                out.push_str(": ");
                out.push_str(&c.to_string());
                cause = c.source();
            }
            out
        }
    }
}
