//! The order index: every order once under (status, created_ms, id) and
//! once under (street, status, created_ms, id), written in the same
//! transaction as the order, so that a list reads a key range instead of
//! decoding every order. An update finds the keys to remove in
//! [`INDEXED`] without decoding the old record. A file without the index
//! (written before there was one) gets it built at open.

use super::tables::{decode, Facets, BY_STATUS, BY_STREET, INDEXED, META, ORDERS};
use super::StoreError;
use crate::dispatch::record::{OrderRecord, Status};
use redb::{ReadableTable, ReadableTableMetadata, Table, TableHandle, WriteTransaction};

/// The index layout this version writes; another (or none) is rebuilt.
const VERSION: u64 = 1;
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

/// The street part of a key: the code, or "" for an order outside every
/// street.
pub(super) fn street_key(r: &OrderRecord) -> &str {
    r.order.street_code().unwrap_or("")
}

/// What a list filters on besides the key.
fn facets(r: &OrderRecord) -> Facets {
    (r.order.severity.name(), r.order.escalation_of.is_some())
}

/// The index tables, open in a write transaction.
pub(super) struct Index<'t> {
    by_status: Table<'t, (u8, i64, &'static str), Facets>,
    by_street: Table<'t, (&'static str, u8, i64, &'static str), Facets>,
    indexed: Table<'t, &'static str, (u8, &'static str, i64)>,
}

impl<'t> Index<'t> {
    /// Opens (or creates) the index tables.
    pub(super) fn open(txn: &'t WriteTransaction) -> Result<Index<'t>, StoreError> {
        Ok(Index {
            by_status: txn.open_table(BY_STATUS)?,
            by_street: txn.open_table(BY_STREET)?,
            indexed: txn.open_table(INDEXED)?,
        })
    }

    /// Indexes a record as it is now, replacing its old keys.
    pub(super) fn put(&mut self, r: &OrderRecord) -> Result<(), StoreError> {
        let id = r.order.id.as_str();
        let old = self.indexed.get(id)?.map(|g| {
            let (status, street, created_ms) = g.value();
            (status, street.to_owned(), created_ms)
        });
        if let Some((status, street, created_ms)) = old {
            self.by_status.remove((status, created_ms, id))?;
            self.by_street
                .remove((street.as_str(), status, created_ms, id))?;
        }
        let (status, street, created_ms) =
            (status_code(r.status), street_key(r), r.order.created_ms);
        let facets = facets(r);
        self.by_status.insert((status, created_ms, id), facets)?;
        self.by_street
            .insert((street, status, created_ms, id), facets)?;
        self.indexed.insert(id, (status, street, created_ms))?;
        Ok(())
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
    for table in [BY_STATUS.name(), BY_STREET.name(), INDEXED.name()] {
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
