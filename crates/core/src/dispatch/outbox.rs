//! The outbox as the dispatcher sees it: a place orders are read from.
//! The durable store (redb in the embedded hub, JetStream in a cluster)
//! implements it in the shell; tests use a map.

use super::record::OrderRecord;

/// Reads orders by id. An order that cannot be read (an I/O error the
/// implementation has logged and counted) is `None`, like one never made.
pub trait OrderLookup {
    /// The order with this id, as last committed.
    fn find_order(&self, id: &str) -> Option<OrderRecord>;
}

impl OrderLookup for std::collections::HashMap<String, OrderRecord> {
    fn find_order(&self, id: &str) -> Option<OrderRecord> {
        self.get(id).cloned()
    }
}
