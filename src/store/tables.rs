//! The outbox's redb tables and how its records are encoded: orders and
//! device records as JSON, the per-scope logs, the order index (see
//! index.rs) with the marker that says which index the file has, and the
//! journal of detections (journal.rs).

use super::StoreError;
use crate::dispatch::quality::DeviceRecord;
use crate::dispatch::record::OrderRecord;
use redb::{Database, TableDefinition};
use std::path::Path;

/// Order id -> the record, as JSON.
pub(super) const ORDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("orders");
/// (scope, seq) -> order id.
pub(super) const LOG: TableDefinition<(&str, u64), &str> = TableDefinition::new("log");
/// Device id -> its quality record, as JSON.
pub(super) const DEVICES: TableDefinition<u64, &[u8]> = TableDefinition::new("devices");
/// (event time ms, device, seq, repeat) -> a detection, as JSON (see
/// journal.rs).
pub(super) const JOURNAL: TableDefinition<(i64, u64, u64, u32), &[u8]> =
    TableDefinition::new("journal");

/// What a list filters on besides its key: (severity name, whether the
/// order is an escalation).
pub(super) type Facets = (&'static str, bool);

/// (status code, created_ms, order id) -> facets.
pub(super) const BY_STATUS: TableDefinition<(u8, i64, &str), Facets> =
    TableDefinition::new("orders_by_status");
/// (street code or "", status code, created_ms, order id) -> facets.
pub(super) const BY_STREET: TableDefinition<(&str, u8, i64, &str), Facets> =
    TableDefinition::new("orders_by_street");
/// Order id -> (status code, street code or "", created_ms): the index
/// keys an order has, to remove when it changes.
pub(super) const INDEXED: TableDefinition<&str, (u8, &str, i64)> =
    TableDefinition::new("orders_indexed");
/// Name -> version: "order_index" is the version of the index the file
/// holds (none in files written before there was one).
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// redb's page cache: its default (1 GiB) would let the hub's memory grow
/// with the outbox; orders are read rarely (catch-up, the API), so a small
/// cache serves.
const CACHE_BYTES: usize = 16 << 20;

/// Opens (or creates) the database file.
pub(super) fn open_db(path: &Path) -> Result<Database, redb::DatabaseError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
}

/// An order record as stored.
pub(super) fn encode(r: &OrderRecord) -> Vec<u8> {
    serde_json::to_vec(r).expect("records serialize")
}

/// An order record from its stored bytes.
pub(super) fn decode(id: &str, bytes: &[u8]) -> Result<OrderRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: id.to_owned(),
        source,
    })
}

/// A device record from its stored bytes.
pub(super) fn decode_device(device: u64, bytes: &[u8]) -> Result<DeviceRecord, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        key: format!("device {device}"),
        source,
    })
}
