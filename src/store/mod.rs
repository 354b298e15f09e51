//! The durable outbox, in redb: orders (with an index for the lists), the
//! per-scope logs subscribers resume from, and device quality records. A
//! [`Batch`] of writes is one transaction, committed with fsync before the
//! hub counts an order as dispatched or sends it anywhere (group commit:
//! all the orders, updates, acks and escalations of one dispatcher round
//! in one fsync).
//!
//! Only the dispatcher thread writes; readers (subscriber catch-up, the
//! HTTP API) read snapshots concurrently.
//!
//! Its surface is the core's [`crate::dispatch::outbox::Outbox`]
//! (commit a batch, read an order, a backlog, a list through the index),
//! so that a stream per street in a cluster can take its place when the
//! district outgrows one machine.
//!
//! Acknowledged orders do not stay for ever: retention (retention.rs)
//! exports them (export.rs) and deletes them past an age or a count, and
//! the file is compacted (compact.rs) after a pass that deleted many.

pub mod atomic;
pub mod checkpoint;
mod compact;
pub mod devices;
mod error;
pub mod export;
pub mod history;
mod index;
mod journal;
mod list;
pub mod photos;
mod read;
pub mod retention;
#[cfg(test)]
mod retention_tests;
mod seam;
mod tables;
#[cfg(test)]
mod tests;
mod write;

pub use crate::dispatch::batch::Batch;
pub use crate::dispatch::outbox::{BacklogFilter, OrderPage, OrderQuery, Outbox, StreetFilter};
pub use compact::Compacted;
pub use error::StoreError;

use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::OrderRecord;
use redb::{Database, ReadableDatabase};
use std::path::{Path, PathBuf};
use tables::{open_db, DEVICES, LOG, ORDERS};

/// The outbox database. After an I/O error (a full disk, say) redb refuses
/// every later transaction until the file is closed and opened again: a
/// failed commit closes it, and the next commit opens it again.
pub struct Store {
    db: std::sync::RwLock<Option<Database>>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `outbox.redb` in `dir`, creating `dir` if needed,
    /// and builds the order index if the file has none (one written by an
    /// earlier version).
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("outbox.redb");
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let at_open = |e: StoreError| match e {
            StoreError::Io(source) => StoreError::Open {
                path: path.clone(),
                source,
            },
            other => other,
        };
        let db = open_db(&path).map_err(|e| at_open(StoreError::Io(e.into())))?;
        let indexed = Self::prepare(&db).map_err(at_open)?;
        if indexed > 0 {
            tracing::info!(outbox = %path.display(), orders = indexed, "outbox order index built");
        }
        Ok(Store {
            db: std::sync::RwLock::new(Some(db)),
            path,
        })
    }

    /// Creates the tables a new file lacks and the index an old one lacks;
    /// returns how many orders were indexed.
    fn prepare(db: &Database) -> Result<usize, StoreError> {
        let txn = db.begin_write()?;
        let indexed = {
            txn.open_table(ORDERS)?;
            txn.open_table(LOG)?;
            txn.open_table(DEVICES)?;
            txn.open_table(tables::JOURNAL)?;
            index::ensure(&txn)?
        };
        txn.commit()?;
        Ok(indexed)
    }

    /// Runs `f` on the open database.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.db.read().expect("outbox lock");
        match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Closed),
        }
    }

    /// A read snapshot.
    fn read_txn(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.with_db(|db| Ok(db.begin_read()?))
    }

    /// Closes the database (after an I/O error) and tries to open it again.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().expect("outbox lock");
        drop(guard.take());
        let db = open_db(&self.path).map_err(|e| StoreError::Open {
            path: self.path.clone(),
            source: e.into(),
        })?;
        *guard = Some(db);
        tracing::warn!(outbox = %self.path.display(), "outbox reopened");
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits a batch durably (fsync before returning): its orders, their
    /// index keys, log entries and device records in one transaction.
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.db.read().expect("outbox lock").is_none() {
            self.reopen()?;
        }
        let result = self.with_db(|db| write::commit(db, batch));
        if result.is_err() {
            // redb wants a reopen after an I/O error; the next commit will
            // find out whether there is room again.
            drop(self.db.write().expect("outbox lock").take());
        }
        result
    }

    /// One order.
    pub fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        read::order(&self.read_txn()?, id)
    }

    /// The highest sequence number in a scope's log (0 when empty).
    pub fn last_seq(&self, scope: &str) -> Result<u64, StoreError> {
        read::last_seq(&self.read_txn()?, scope)
    }

    /// The orders of `scope`'s log after `after` that `which` admits (what
    /// a subscriber has not acknowledged, or the whole log): each order
    /// once, at its latest log entry, oldest first, at most `limit`.
    pub fn backlog(
        &self,
        scope: &str,
        after: u64,
        which: BacklogFilter,
        limit: usize,
    ) -> Result<Vec<(u64, OrderRecord)>, StoreError> {
        read::backlog(&self.read_txn()?, scope, after, which, limit)
    }

    /// The orders `query` matches, newest first, at most `query.limit`,
    /// and how many match: read through the index, decoding only the
    /// orders listed.
    pub fn list_orders(&self, query: &OrderQuery) -> Result<OrderPage, StoreError> {
        list::list(&self.read_txn()?, query)
    }

    /// Every order, decoded: for tests and comparisons. Lists go through
    /// [`Store::list_orders`], figures through [`Store::status_counts`].
    pub fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        read::all_orders(&self.read_txn()?)
    }

    /// Every device quality record.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        read::devices(&self.read_txn()?)
    }
}
