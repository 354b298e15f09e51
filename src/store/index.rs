//! The order index, written in the same transaction as the orders, so
//! that no read has to decode every order:
//!
//! - every order once under (status, created_ms, id) and once under
//!   (street, status, created_ms, id): a list reads a key range;
//! - [`COUNTS`]: how many orders each (street, status, severity,
//!   escalation) has, so a list's count of all matches is a sum of a few
//!   numbers instead of a walk over the keys;
//! - [`PENDING`]: every order not acknowledged under (scope, seq) of its
//!   latest entry in each scope's log, so the backlog of a subscriber from
//!   seq 0 (everything unacknowledged) reads what it sends and nothing else;
//! - [`INDEXED`] and [`SEQS`]: the keys an order has, to remove when it
//!   changes or goes, without decoding the old record.
//!
//! A file without this version of the index (written before there was
//! one, or an older one) gets it built at open.

use super::tables::{decode, Facets, BY_STATUS, BY_STREET, INDEXED, META, ORDERS};
use super::StoreError;
use crate::dispatch::record::{OrderRecord, Status};
use crate::wire::control::DISTRICT;
use redb::{
    ReadableTable, ReadableTableMetadata, Table, TableDefinition, TableHandle, WriteTransaction,
};

/// (street code or "", status code, severity name, escalation) -> how many
/// orders have it. Rows at zero are removed.
pub(super) const COUNTS: TableDefinition<(&str, u8, &str, bool), u64> =
    TableDefinition::new("orders_counts");
/// (scope, seq) -> order id: each order not acknowledged, at its latest
/// entry in its street's log and in the district's.
pub(super) const PENDING: TableDefinition<(&str, u64), &str> =
    TableDefinition::new("orders_pending");
/// Order id -> (street_seq, district_seq): its latest log entries.
pub(super) const SEQS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("orders_seqs");

/// The index layout this version writes; another (or none) is rebuilt.
/// 1: by status, by street, keys. 2: counts, pending, seqs besides.
const VERSION: u64 = 2;
/// Its key in [`META`].
const VERSION_KEY: &str = "order_index";

/// A status as an index key: fixed here, not by the enum's order, since
/// it is on disk. Codes are consecutive so that `code + 1` bounds a range.
pub(super) fn status_code(s: Status) -> u8 {
    match s {
        Status::Open => 1,
        Status::Acked => 2,
        Status::Escalated => 3,
    }
}

/// The code of [`Status::Acked`], the final status.
pub(super) const ACKED: u8 = 2;

/// The street part of a key: the code, or "" for an order outside every
/// street.
pub(super) fn street_key(r: &OrderRecord) -> &str {
    r.order.street_code().unwrap_or("")
}

/// What a list filters on besides the key.
fn facets(r: &OrderRecord) -> Facets {
    (r.order.severity.name(), r.order.escalation_of.is_some())
}

/// The keys an order had, as [`Index::remove`] found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Removed {
    /// Status code.
    pub status: u8,
    /// Street code or "".
    pub street: String,
    /// Latest entry in its street's log (0: none).
    pub street_seq: u64,
    /// Latest entry in the district's log.
    pub district_seq: u64,
}

impl Removed {
    /// Its latest log entries: (scope, seq) of each log it is in.
    pub(super) fn log_entries(&self) -> impl Iterator<Item = (&str, u64)> {
        let street = (self.street_seq > 0 && !self.street.is_empty())
            .then_some((self.street.as_str(), self.street_seq));
        street
            .into_iter()
            .chain((self.district_seq > 0).then_some((DISTRICT, self.district_seq)))
    }
}

/// The index tables, open in a write transaction.
pub(super) struct Index<'t> {
    by_status: Table<'t, (u8, i64, &'static str), Facets>,
    by_street: Table<'t, (&'static str, u8, i64, &'static str), Facets>,
    indexed: Table<'t, &'static str, (u8, &'static str, i64)>,
    seqs: Table<'t, &'static str, (u64, u64)>,
    pending: Table<'t, (&'static str, u64), &'static str>,
    counts: Table<'t, (&'static str, u8, &'static str, bool), u64>,
}

impl<'t> Index<'t> {
    /// Opens (or creates) the index tables.
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Index<'t>, StoreError> {
        Ok(Index {
            by_status: txn.open_table(BY_STATUS)?,
            by_street: txn.open_table(BY_STREET)?,
            indexed: txn.open_table(INDEXED)?,
            seqs: txn.open_table(SEQS)?,
            pending: txn.open_table(PENDING)?,
            counts: txn.open_table(COUNTS)?,
        })
    }

    /// Indexes a record as it is now, replacing its old keys.
    pub(super) fn put(&mut self, r: &OrderRecord) -> Result<(), StoreError> {
        let id = r.order.id.as_str();
        self.remove(id)?;
        let (status, street, created_ms) =
            (status_code(r.status), street_key(r), r.order.created_ms);
        let facets = facets(r);
        self.by_status.insert((status, created_ms, id), facets)?;
        self.by_street
            .insert((street, status, created_ms, id), facets)?;
        self.indexed.insert(id, (status, street, created_ms))?;
        self.seqs.insert(id, (r.street_seq, r.district_seq))?;
        self.count((street, status, facets.0, facets.1), 1)?;
        if status != ACKED {
            let keys = Removed {
                status,
                street: street.to_owned(),
                street_seq: r.street_seq,
                district_seq: r.district_seq,
            };
            for key in keys.log_entries() {
                self.pending.insert(key, id)?;
            }
        }
        Ok(())
    }

    /// Removes every key of order `id` (an update replaces them; retention
    /// deletes the order); returns what they were, `None` when it had none.
    pub(super) fn remove(&mut self, id: &str) -> Result<Option<Removed>, StoreError> {
        let Some((status, street, created_ms)) = self.indexed.remove(id)?.map(|g| {
            let (status, street, created_ms) = g.value();
            (status, street.to_owned(), created_ms)
        }) else {
            return Ok(None);
        };
        let facets = self.by_status.remove((status, created_ms, id))?.map(|g| {
            let (severity, escalation) = g.value();
            (severity.to_owned(), escalation)
        });
        self.by_street
            .remove((street.as_str(), status, created_ms, id))?;
        if let Some((severity, escalation)) = facets {
            self.count((street.as_str(), status, &severity, escalation), -1)?;
        }
        let (street_seq, district_seq) = self.seqs.remove(id)?.map_or((0, 0), |g| g.value());
        let removed = Removed {
            status,
            street,
            street_seq,
            district_seq,
        };
        if status != ACKED {
            for key in removed.log_entries() {
                self.pending.remove(key)?;
            }
        }
        Ok(Some(removed))
    }

    /// Adds `delta` to a count, removing the row when it reaches zero.
    fn count(&mut self, key: (&str, u8, &str, bool), delta: i64) -> Result<(), StoreError> {
        let now = self.counts.get(key)?.map_or(0, |g| g.value());
        let next = now.saturating_add_signed(delta);
        debug_assert!(delta >= 0 || now > 0, "a count below zero: {key:?}");
        if next == 0 {
            self.counts.remove(key)?;
        } else {
            self.counts.insert(key, next)?;
        }
        Ok(())
    }

    /// Whether the log entry (scope, seq) -> `id` is the order's latest in
    /// that scope (what a backlog sends); false for an order that is gone.
    pub(super) fn is_latest(&self, scope: &str, seq: u64, id: &str) -> Result<bool, StoreError> {
        let Some((street_seq, district_seq)) = self.seqs.get(id)?.map(|g| g.value()) else {
            return Ok(false);
        };
        if scope == DISTRICT {
            return Ok(district_seq == seq);
        }
        let street = self.indexed.get(id)?.map(|g| g.value().1.to_owned());
        Ok(street_seq == seq && street.as_deref() == Some(scope))
    }
}

/// Makes sure the file holds this version's index, building it from the
/// orders when it does not (or when it has fewer entries than orders).
/// Returns how many orders were indexed, 0 when the index was there.
pub(super) fn ensure(txn: &WriteTransaction) -> Result<usize, StoreError> {
    let mut meta = txn.open_table(META)?;
    let version = meta.get(VERSION_KEY)?.map(|v| v.value());
    let orders = txn.open_table(ORDERS)?;
    if version == Some(VERSION) && txn.open_table(INDEXED)?.len()? == orders.len()? {
        return Ok(0);
    }
    let tables = [
        BY_STATUS.name(),
        BY_STREET.name(),
        INDEXED.name(),
        SEQS.name(),
        PENDING.name(),
        COUNTS.name(),
    ];
    for table in tables {
        drop_table(txn, table)?;
    }
    let mut index = Index::open(txn)?;
    let mut n = 0;
    for entry in orders.iter()? {
        let (k, v) = entry?;
        index.put(&decode(k.value(), v.value())?)?;
        n += 1;
    }
    meta.insert(VERSION_KEY, VERSION)?;
    Ok(n)
}

/// Deletes an index table, whatever its key and value types were.
fn drop_table(txn: &WriteTransaction, name: &str) -> Result<(), StoreError> {
    let table = txn.list_tables()?.find(|t| t.name() == name);
    if let Some(table) = table {
        txn.delete_table(table)?;
    }
    Ok(())
}
