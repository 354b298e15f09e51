//! What must be durable before anything is sent: the writes of one
//! dispatcher round, committed together (one transaction, one fsync),
//! including the journal of the round's detections, so that a batch whose
//! detections are in it can be acknowledged to its device.

use super::quality::DeviceRecord;
use super::record::OrderRecord;
use crate::engine::Detection;

/// Writes that commit together.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    /// Orders to put (new, updated, acked, escalated), by id.
    pub orders: Vec<OrderRecord>,
    /// Log entries: (scope, seq, order id).
    pub log: Vec<(String, u64, String)>,
    /// Device quality records to put.
    pub devices: Vec<DeviceRecord>,
    /// The detections of the round, journaled: a restart replays the recent
    /// ones into the correlator, so none that a device was told we have is
    /// lost with an incident still open.
    pub journal: Vec<Detection>,
    /// Journal entries of events before this time (Unix ms) can go: their
    /// incidents are closed by now.
    pub journal_before_ms: Option<i64>,
}

impl Batch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
            && self.log.is_empty()
            && self.devices.is_empty()
            && self.journal.is_empty()
    }
}
