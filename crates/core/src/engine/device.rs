//! What a shard keeps of one device: its retransmit dedup window, when it
//! was last seen, how many events it sent, its newest event time, its
//! clock's offset and the place it reports from (which tells the cluster's
//! partition its state moves with). Its own file because the shard's
//! table holds a million of them: 40 bytes each, so that a slot with its
//! id is 48 (the checkpoint keeps the roomier [`DeviceRecord`]).
//!
//! What is narrowed to fit, and why it stays exact:
//! - the newest event time is kept relative to the last time seen, in an
//!   `i32` of ms (24.8 days either way); it only decides whether a new
//!   event is in its device's order, and that judgment is exact while no
//!   event accepted can be that far from the device's last activity
//!   (`limits.max_past` and `max_future` under 24 days; 24 h and 5 min by
//!   default);
//! - the place is the cell's resolution-7 parent in 32 bits
//!   ([`geo::pack_parent`]): partitions are drawn by that parent alone;
//! - the event count keeps its low 32 bits here; the table keeps the
//!   carries of the few devices that send more than four billion.

use super::dedup::SeqWindow;
use crate::geo;

/// [`Device::newest_after_seen_ms`] of a device no event was taken from.
const NO_NEWEST: i32 = i32::MIN;

/// What a shard keeps of one device: its dedup window, its activity and
/// its clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Device {
    pub(crate) window: SeqWindow,
    /// Processing time of its latest event or heartbeat, Unix ms.
    last_seen_ms: i64,
    /// Its newest event time less `last_seen_ms` (clamped to the `i32`'s
    /// range), or [`NO_NEWEST`].
    newest_after_seen_ms: i32,
    /// The shard's `DeviceState::clock_offset_ms`, within the range of an
    /// `i32` (24.8 days).
    pub(crate) clock_offset_ms: i32,
    /// The resolution-7 parent of the cell of its latest event taken (not
    /// duplicates), packed: its state belongs to that place's partition.
    place: u32,
    /// Events seen from it (duplicates and late ones included), the low 32
    /// bits: the shard's device table holds the rest.
    pub(crate) events_low: u32,
}

const _: () = assert!(std::mem::size_of::<Device>() == 40);

impl Device {
    pub(crate) const fn new() -> Device {
        Device {
            window: SeqWindow::new(),
            last_seen_ms: 0,
            newest_after_seen_ms: NO_NEWEST,
            clock_offset_ms: 0,
            place: 0,
            events_low: 0,
        }
    }

    /// Processing time of its latest event or heartbeat, Unix ms.
    pub(crate) fn last_seen_ms(&self) -> i64 {
        self.last_seen_ms
    }

    /// Marks it seen at processing time `now_ms`.
    #[inline]
    pub(crate) fn see(&mut self, now_ms: i64) {
        let newest = self.newest_ms();
        self.last_seen_ms = now_ms;
        self.set_newest_ms(newest);
    }

    /// The newest event time of its events taken (not duplicates), Unix
    /// ms; `i64::MIN` before the first.
    #[inline]
    pub(crate) fn newest_ms(&self) -> i64 {
        if self.newest_after_seen_ms == NO_NEWEST {
            return i64::MIN;
        }
        self.last_seen_ms + i64::from(self.newest_after_seen_ms)
    }

    #[inline]
    pub(crate) fn set_newest_ms(&mut self, newest_ms: i64) {
        self.newest_after_seen_ms = if newest_ms == i64::MIN {
            NO_NEWEST
        } else {
            let after = newest_ms.saturating_sub(self.last_seen_ms);
            after.clamp(i64::from(NO_NEWEST) + 1, i64::from(i32::MAX)) as i32
        };
    }

    /// Counts one event; says whether the low 32 bits wrapped round.
    #[inline]
    pub(crate) fn count_event(&mut self) -> bool {
        let (low, wrapped) = self.events_low.overflowing_add(1);
        self.events_low = low;
        wrapped
    }

    /// Takes `cell` (a map cell, resolution 7 or finer) as where it is.
    #[inline]
    pub(crate) fn set_cell(&mut self, cell: u64) {
        self.place = geo::pack_parent(cell);
    }

    /// The resolution-7 cell it reports from: enough to say its partition
    /// ([`super::partition::shard_of`] goes by that parent).
    pub(crate) fn place_cell(&self) -> u64 {
        geo::unpack_parent(self.place)
    }

    pub(crate) fn clock_skewed(&self, threshold_ms: i64) -> bool {
        i64::from(self.clock_offset_ms) > threshold_ms
    }

    /// As the checkpoint saves it, with all of its event count.
    pub(crate) fn record(&self, events: u64) -> DeviceRecord {
        DeviceRecord {
            window: self.window,
            last_seen_ms: self.last_seen_ms,
            events,
            newest_ms: self.newest_ms(),
            clock_offset_ms: self.clock_offset_ms,
            cell: self.place_cell(),
        }
    }

    /// From what a checkpoint saved; the events beyond the low 32 bits are
    /// the caller's to keep.
    pub(crate) fn from_record(r: &DeviceRecord) -> Device {
        let mut d = Device {
            window: r.window,
            last_seen_ms: r.last_seen_ms,
            newest_after_seen_ms: NO_NEWEST,
            clock_offset_ms: r.clock_offset_ms,
            place: 0,
            events_low: r.events as u32,
        };
        d.set_newest_ms(r.newest_ms);
        d.set_cell(r.cell);
        d
    }
}

/// One device as a checkpoint saves it: the layout of format 2, whole
/// fields. `cell` holds the resolution-7 parent of the latest cell (a
/// checkpoint from before the narrowing has the cell itself there; both
/// say the same partition).
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct DeviceRecord {
    pub(crate) window: SeqWindow,
    pub(crate) last_seen_ms: i64,
    pub(crate) events: u64,
    pub(crate) newest_ms: i64,
    pub(crate) clock_offset_ms: i32,
    pub(crate) cell: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_780_000_000_000;
    const DAY: i64 = 86_400_000;

    #[test]
    fn the_newest_time_follows_the_device_as_it_is_seen_again() {
        let mut d = Device::new();
        d.see(T0);
        assert_eq!(d.newest_ms(), i64::MIN, "nothing taken yet");
        d.set_newest_ms(T0 - 3_000);
        for later in [T0 + 1, T0 + DAY, T0 + 20 * DAY] {
            d.see(later);
            assert_eq!((d.newest_ms(), d.last_seen_ms()), (T0 - 3_000, later));
        }
        // Ahead of the hub's clock, as a fast device's is.
        d.set_newest_ms(T0 + 20 * DAY + 60_000);
        d.see(T0 + 20 * DAY + 5);
        assert_eq!(d.newest_ms(), T0 + 20 * DAY + 60_000);
    }

    #[test]
    fn a_newest_time_out_of_range_is_only_ever_older_than_what_can_arrive() {
        let mut d = Device::new();
        d.see(T0);
        d.set_newest_ms(T0);
        d.see(T0 + 40 * DAY);
        // Clamped to 24.8 days back: later than the truth, yet earlier
        // than any event the default limits accept now (24 h back).
        let newest = d.newest_ms();
        assert!(newest > T0 && newest < T0 + 40 * DAY - 24 * DAY);
    }

    #[test]
    fn a_record_round_trips() {
        let mut d = Device::new();
        d.see(T0);
        d.set_newest_ms(T0 - 7);
        d.clock_offset_ms = -7;
        d.count_event();
        d.set_cell(crate::geo::cell_of(31.25, 121.40).unwrap());
        let r = d.record(1);
        assert_eq!(Device::from_record(&r), d);
        assert_eq!((r.events, r.newest_ms, r.last_seen_ms), (1, T0 - 7, T0));
        assert_eq!(
            r.cell,
            crate::geo::shard_key(crate::geo::cell_of(31.25, 121.40).unwrap())
        );
    }
}
