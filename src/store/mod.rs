//! The durable outbox, in redb: orders, the per-scope logs subscribers
//! resume from, and device quality records. A [`Batch`] of writes is one
//! transaction, committed with fsync before the hub counts an order as
//! dispatched or sends it anywhere (group commit: all the orders, updates,
//! acks and escalations of one dispatcher round in one fsync).
//!
//! Only the dispatcher thread writes; readers (subscriber catch-up, the
//! HTTP API) read snapshots concurrently.
//!
//! Its methods are the outbox's whole surface (commit a batch, read an
//! order, a backlog, everything), so that a JetStream stream per street can
//! take its place when the district outgrows one machine.

use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::{OrderRecord, Status};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const ORDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("orders");
const LOG: TableDefinition<(&str, u64), &str> = TableDefinition::new("log");
const DEVICES: TableDefinition<u64, &[u8]> = TableDefinition::new("devices");

/// Why the store failed. The hub refuses new orders rather than pretend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("cannot open the outbox {path}: {what}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        what: String,
    },
    /// A read or write failed.
    #[error("outbox: {0}")]
    Io(String),
    /// A record could not be decoded (written by an incompatible version).
    #[error("outbox record {key}: {what}")]
    Corrupt {
        /// The record's key.
        key: String,
        /// Why.
        what: String,
    },
}

fn io<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Io(e.to_string())
}

pub use crate::dispatch::batch::Batch;

/// The outbox database. After an I/O error (a full disk, say) redb refuses
/// every later transaction until the file is closed and opened again: a
/// failed commit closes it, and the next commit opens it again.
pub struct Store {
    db: std::sync::RwLock<Option<Database>>,
    path: PathBuf,
}

impl Store {
    /// Opens (or creates) `outbox.redb` in `dir`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("outbox.redb");
        let open_err = |what: String| StoreError::Open {
            path: path.clone(),
            what,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let db = open_db(&path).map_err(|e| open_err(e.to_string()))?;
        let txn = db.begin_write().map_err(|e| open_err(e.to_string()))?;
        {
            txn.open_table(ORDERS)
                .map_err(|e| open_err(e.to_string()))?;
            txn.open_table(LOG).map_err(|e| open_err(e.to_string()))?;
            txn.open_table(DEVICES)
                .map_err(|e| open_err(e.to_string()))?;
        }
        txn.commit().map_err(|e| open_err(e.to_string()))?;
        Ok(Store {
            db: std::sync::RwLock::new(Some(db)),
            path,
        })
    }

    /// Runs `f` on the open database.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.db.read().expect("outbox lock");
        match guard.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Io(
                "the outbox is closed after an I/O error; it reopens on the next write".into(),
            )),
        }
    }

    /// A read snapshot.
    fn read_txn(&self) -> Result<redb::ReadTransaction, StoreError> {
        self.with_db(|db| db.begin_read().map_err(io))
    }

    /// Closes the database (after an I/O error) and tries to open it again.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().expect("outbox lock");
        drop(guard.take());
        let db = open_db(&self.path).map_err(|e| StoreError::Open {
            path: self.path.clone(),
            what: e.to_string(),
        })?;
        *guard = Some(db);
        tracing::warn!(outbox = %self.path.display(), "outbox reopened");
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Commits a batch durably (fsync before returning).
    pub fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        if self.db.read().expect("outbox lock").is_none() {
            self.reopen()?;
        }
        let result = self.with_db(|db| Self::commit_in(db, batch));
        if result.is_err() {
            // redb wants a reopen after an I/O error; the next commit will
            // find out whether there is room again.
            drop(self.db.write().expect("outbox lock").take());
        }
        result
    }

    fn commit_in(db: &Database, batch: &Batch) -> Result<(), StoreError> {
        let txn = db.begin_write().map_err(io)?;
        {
            let mut orders = txn.open_table(ORDERS).map_err(io)?;
            for r in &batch.orders {
                let json = serde_json::to_vec(r).expect("records serialize");
                orders
                    .insert(r.order.id.as_str(), json.as_slice())
                    .map_err(io)?;
            }
            let mut log = txn.open_table(LOG).map_err(io)?;
            for (scope, seq, id) in &batch.log {
                log.insert((scope.as_str(), *seq), id.as_str())
                    .map_err(io)?;
            }
            let mut devices = txn.open_table(DEVICES).map_err(io)?;
            for d in &batch.devices {
                let json = serde_json::to_vec(d).expect("records serialize");
                devices.insert(d.device, json.as_slice()).map_err(io)?;
            }
        }
        txn.commit().map_err(io)
    }

    /// One order.
    pub fn order(&self, id: &str) -> Result<Option<OrderRecord>, StoreError> {
        self.with_db(|db| {
            let txn = db.begin_read().map_err(io)?;
            let table = txn.open_table(ORDERS).map_err(io)?;
            table
                .get(id)
                .map_err(io)?
                .map(|v| decode(id, v.value()))
                .transpose()
        })
    }

    /// The highest sequence number in a scope's log (0 when empty).
    pub fn last_seq(&self, scope: &str) -> Result<u64, StoreError> {
        let txn = self.read_txn()?;
        let log = txn.open_table(LOG).map_err(io)?;
        let last = log
            .range((scope, 0)..=(scope, u64::MAX))
            .map_err(io)?
            .next_back()
            .transpose()
            .map_err(io)?;
        Ok(last.map_or(0, |(k, _)| k.value().1))
    }

    /// What a subscriber of `scope` has not acknowledged, after `after`:
    /// each order once, at its latest log entry, oldest first, at most
    /// `limit`.
    pub fn backlog(
        &self,
        scope: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, OrderRecord)>, StoreError> {
        let txn = self.read_txn()?;
        let log = txn.open_table(LOG).map_err(io)?;
        let orders = txn.open_table(ORDERS).map_err(io)?;
        let mut out = Vec::new();
        for entry in log
            .range((scope, after.saturating_add(1))..=(scope, u64::MAX))
            .map_err(io)?
        {
            let (key, id) = entry.map_err(io)?;
            let seq = key.value().1;
            let id = id.value();
            let Some(raw) = orders.get(id).map_err(io)? else {
                continue;
            };
            let record = decode(id, raw.value())?;
            // A later entry carries a newer revision; an acked order is done.
            if record.seq_in(scope) != seq || record.status == Status::Acked {
                continue;
            }
            out.push((seq, record));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every order, for queries and for reloading deadlines at start.
    pub fn all_orders(&self) -> Result<Vec<OrderRecord>, StoreError> {
        let txn = self.read_txn()?;
        let orders = txn.open_table(ORDERS).map_err(io)?;
        let mut out = Vec::new();
        for entry in orders.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Every device quality record.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let txn = self.read_txn()?;
        let devices = txn.open_table(DEVICES).map_err(io)?;
        let mut out = Vec::new();
        for entry in devices.iter().map_err(io)? {
            let (k, v) = entry.map_err(io)?;
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| StoreError::Corrupt {
                    key: format!("device {}", k.value()),
                    what: e.to_string(),
                })?,
            );
        }
        Ok(out)
    }
}

/// redb's page cache: its default (1 GiB) would let the hub's memory grow
/// with the outbox; orders are read rarely (catch-up, the API), so a small
/// cache serves.
const CACHE_BYTES: usize = 16 << 20;

fn open_db(path: &Path) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

fn decode(id: &str, bytes: &[u8]) -> Result<OrderRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: id.to_owned(),
        what: e.to_string(),
    })
}

impl crate::dispatch::outbox::OrderLookup for Store {
    fn find_order(&self, id: &str) -> Option<OrderRecord> {
        self.order(id).unwrap_or_else(|e| {
            tracing::error!(error = %e, order = id, "cannot read the outbox");
            None
        })
    }
}
