//! Reads of one snapshot: an order, a scope's last sequence and backlog,
//! every order (for tests and comparisons; nothing on a request path
//! decodes them all) and every device record. The backlog of what is not
//! acknowledged reads the index's pending entries, so a subscriber from
//! seq 0 costs what it is sent, not the whole log; the gapless backlog
//! reads the log after the subscriber's seq, skipping entries whose order
//! is gone (deleted by retention) or has a later entry.

use super::index::PENDING;
use super::tables::{decode, decode_device, DEVICES, LOG, ORDERS};
use super::StoreError;
use crate::dispatch::outbox::BacklogFilter;
use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::OrderRecord;
use redb::{ReadTransaction, ReadableTable};

/// One order.
pub(super) fn order(txn: &ReadTransaction, id: &str) -> Result<Option<OrderRecord>, StoreError> {
    let table = txn.open_table(ORDERS)?;
    table.get(id)?.map(|v| decode(id, v.value())).transpose()
}

/// The highest sequence number in a scope's log (0 when empty).
pub(super) fn last_seq(txn: &ReadTransaction, scope: &str) -> Result<u64, StoreError> {
    let log = txn.open_table(LOG)?;
    let last = log.range((scope, 0)..=(scope, u64::MAX))?.next_back();
    Ok(match last {
        Some(entry) => entry?.0.value().1,
        None => 0,
    })
}

/// The orders of `scope`'s log after `after` that `which` admits (the
/// unacknowledged ones, or all): each order once, at its latest log entry,
/// oldest first, at most `limit`.
pub(super) fn backlog(
    txn: &ReadTransaction,
    scope: &str,
    after: u64,
    which: BacklogFilter,
    limit: usize,
) -> Result<Vec<(u64, OrderRecord)>, StoreError> {
    let entries = match which {
        BacklogFilter::Unacked => txn.open_table(PENDING)?,
        BacklogFilter::All => txn.open_table(LOG)?,
    };
    let orders = txn.open_table(ORDERS)?;
    let mut out = Vec::new();
    for entry in entries.range((scope, after.saturating_add(1))..=(scope, u64::MAX))? {
        let (key, id) = entry?;
        let seq = key.value().1;
        let id = id.value();
        // Gone: retention deleted it after exporting it.
        let Some(raw) = orders.get(id)? else {
            continue;
        };
        let record = decode(id, raw.value())?;
        // A later entry carries a newer revision; an acked order is done,
        // unless the whole log is asked for (pending entries are neither).
        if record.seq_in(scope) != seq || !which.admits(record.status) {
            continue;
        }
        out.push((seq, record));
        if out.len() >= limit {
            break;
        }
    }
    Ok(out)
}

/// Every order, in id order.
pub(super) fn all_orders(txn: &ReadTransaction) -> Result<Vec<OrderRecord>, StoreError> {
    let orders = txn.open_table(ORDERS)?;
    let mut out = Vec::new();
    for entry in orders.iter()? {
        let (k, v) = entry?;
        out.push(decode(k.value(), v.value())?);
    }
    Ok(out)
}

/// Every device quality record.
pub(super) fn devices(txn: &ReadTransaction) -> Result<Vec<DeviceRecord>, StoreError> {
    let devices = txn.open_table(DEVICES)?;
    let mut out = Vec::new();
    for entry in devices.iter()? {
        let (k, v) = entry?;
        out.push(decode_device(k.value(), v.value())?);
    }
    Ok(out)
}
