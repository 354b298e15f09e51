//! What a shard keeps of one device: its retransmit dedup window, when it
//! was last seen, how many events it sent, its newest event time, its
//! clock's offset and the cell it reports from (which tells the cluster's
//! partition its state moves with). Its own file because a checkpoint
//! saves it as it is.

use super::dedup::SeqWindow;

/// What a shard keeps of one device: its dedup window, its activity and
/// its clock.
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct Device {
    pub(crate) window: SeqWindow,
    /// Processing time of its latest event or heartbeat, Unix ms.
    pub(crate) last_seen_ms: i64,
    /// Events seen from it (duplicates and late ones included).
    pub(crate) events: u64,
    /// The newest event time of its events taken (not duplicates), Unix ms.
    pub(crate) newest_ms: i64,
    /// The shard's `DeviceState::clock_offset_ms`, within the range of an i32 (25
    /// days; ingest rejects events a day old).
    pub(crate) clock_offset_ms: i32,
    /// The map cell of its latest event taken (not duplicates): its
    /// state belongs to that cell's partition.
    pub(crate) cell: u64,
}

impl Device {
    pub(crate) const fn new() -> Device {
        Device {
            window: SeqWindow::new(),
            last_seen_ms: 0,
            events: 0,
            newest_ms: i64::MIN,
            clock_offset_ms: 0,
            cell: 0,
        }
    }

    pub(crate) fn clock_skewed(&self, threshold_ms: i64) -> bool {
        i64::from(self.clock_offset_ms) > threshold_ms
    }
}
