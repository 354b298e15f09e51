//! One batch as one write transaction: the orders and their index keys,
//! the log entries, the device records and the journal of detections,
//! committed with one fsync.

use super::index::Index;
use super::tables::{encode, DEVICES, LOG, ORDERS};
use super::{Batch, StoreError};
use redb::Database;

/// Writes `batch` in one transaction and commits it durably.
pub(super) fn commit(db: &Database, batch: &Batch) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut orders = txn.open_table(ORDERS)?;
        let mut index = Index::open(&txn)?;
        for r in &batch.orders {
            orders.insert(r.order.id.as_str(), encode(r).as_slice())?;
            index.put(r)?;
        }
        let mut log = txn.open_table(LOG)?;
        for (scope, seq, id) in &batch.log {
            log.insert((scope.as_str(), *seq), id.as_str())?;
        }
        let mut devices = txn.open_table(DEVICES)?;
        for d in &batch.devices {
            let json = serde_json::to_vec(d).expect("records serialize");
            devices.insert(d.device, json.as_slice())?;
        }
    }
    super::journal::write(&txn, &batch.journal, batch.journal_before_ms)?;
    txn.commit()?;
    Ok(())
}
