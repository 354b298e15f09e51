//! 审计写入 The audit trail's writer: one thread that takes records from a
//! bounded queue, seals them onto the chain, appends them, and syncs once
//! per batch (whatever queued while the last sync ran), then replaces the
//! head. Requests hand a record in and go on; a full queue makes them wait
//! rather than lose an entry. [`Audit::sync`] waits until everything
//! handed in before it is on disk (tests, shutdown).

use crate::audit::chain::Head;
use crate::audit::entry::Record;
use crate::audit::file;
use crate::runtime::clock::Clock;
use prometheus::IntCounter;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Most records sealed and written under one sync.
const BATCH: usize = 1024;

enum Msg {
    Record(i64, Box<Record>),
    Sync(oneshot::Sender<()>),
}

/// The way into the writer.
pub struct Audit {
    tx: mpsc::Sender<Msg>,
    clock: Arc<dyn Clock>,
    data_dir: PathBuf,
}

/// What the writer counts: entries written and synced, batches that could
/// not be written (logged; the hub goes on).
#[derive(Clone)]
pub struct AuditCounters {
    /// `tongguan_audit_entries_total`.
    pub written: IntCounter,
    /// `tongguan_audit_errors_total`.
    pub errors: IntCounter,
}

impl Audit {
    /// Opens DATA_DIR/audit/ (made if missing), goes on from the log's end,
    /// and starts the writer thread; it ends when the last handle goes.
    pub fn open(
        data_dir: &Path,
        queue: usize,
        clock: Arc<dyn Clock>,
        counters: AuditCounters,
    ) -> std::io::Result<Audit> {
        std::fs::create_dir_all(file::dir(data_dir))?;
        let head = file::last_head(data_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file::log_path(data_dir))?;
        let (tx, rx) = mpsc::channel(queue.max(1));
        let writer = Writer {
            rx,
            log,
            head,
            data_dir: data_dir.to_owned(),
            counters,
        };
        std::thread::Builder::new()
            .name("tongguan-audit".into())
            .spawn(move || writer.run())?;
        Ok(Audit {
            tx,
            clock,
            data_dir: data_dir.to_owned(),
        })
    }

    /// Hands a record in, stamped now; waits only while the queue is full.
    pub async fn record(&self, record: Record) {
        let now = self.clock.now_ms();
        if self
            .tx
            .send(Msg::Record(now, Box::new(record)))
            .await
            .is_err()
        {
            tracing::error!("the audit writer has stopped: an entry was not written");
        }
    }

    /// Waits until every record handed in before is on disk.
    pub async fn sync(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Sync(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The data dir the trail is in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

struct Writer {
    rx: mpsc::Receiver<Msg>,
    log: std::fs::File,
    head: Head,
    data_dir: PathBuf,
    counters: AuditCounters,
}

impl Writer {
    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match self.rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            self.write(batch);
        }
    }

    /// Seals and appends a batch, syncs once, replaces the head, then
    /// answers the syncs waiting in it.
    fn write(&mut self, batch: Vec<Msg>) {
        let mut bytes = Vec::new();
        let mut head = self.head.clone();
        let mut waiting = Vec::new();
        let mut n = 0;
        for msg in batch {
            match msg {
                Msg::Record(time_ms, record) => {
                    let (line, next) = head.seal(*record, time_ms);
                    bytes.extend_from_slice(&line);
                    head = next;
                    n += 1;
                }
                Msg::Sync(done) => waiting.push(done),
            }
        }
        if n > 0 {
            let done = self
                .log
                .write_all(&bytes)
                .and_then(|()| self.log.sync_data())
                .and_then(|()| file::write_head(&self.data_dir, &head));
            match done {
                Ok(()) => {
                    self.head = head;
                    self.counters.written.inc_by(n);
                }
                Err(e) => {
                    // The chain goes on from what was written: the next
                    // start reads the log's end again.
                    self.counters.errors.inc();
                    tracing::error!(error = %e, entries = n, "audit entries could not be written");
                    if let Ok(h) = file::last_head(&self.data_dir) {
                        self.head = h;
                    }
                }
            }
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}
