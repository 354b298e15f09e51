//! What must be durable before anything is sent: the writes of one
//! dispatcher round, committed together (one transaction, one fsync).

use super::quality::DeviceRecord;
use super::record::OrderRecord;

/// Writes that commit together.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Orders to put (new, updated, acked, escalated), by id.
    pub orders: Vec<OrderRecord>,
    /// Log entries: (scope, seq, order id).
    pub log: Vec<(String, u64, String)>,
    /// Device quality records to put.
    pub devices: Vec<DeviceRecord>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.log.is_empty() && self.devices.is_empty()
    }
}
