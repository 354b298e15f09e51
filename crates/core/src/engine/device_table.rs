//! The shard's table of devices: open addressing with linear probing, 48
//! bytes a slot (an id and its [`Device`]).
//!
//! Why not a `HashMap`: a device's state is the one read per event that
//! misses the caches (devices arrive in random order, a million of them
//! do not fit), and std's map hides where an id's slot is until it has
//! probed it, so a lookup done ahead stalls like the real one. Here the
//! slot an id starts from is a multiplication away, so
//! [`DeviceTable::prefetch`] can ask the memory for a batch's devices
//! before the shard reaches them, without waiting. The table's size is
//! any number of slots (the hash is mapped onto it by a multiply, not a
//! mask), so it grows by a quarter instead of doubling: between 64 % and
//! 80 % of its slots are in use, and a million devices take 60 to 75 MB.
//! (Growing by a quarter moves each device four times on average as the
//! table fills, against two by half: a cost paid once per new device.)
//!
//! Invariants: every id is in at most one slot, reachable from its home
//! slot over occupied slots only (no tombstones: [`DeviceTable::retain`]
//! re-seats what follows a removed slot); at most [`MAX_LOAD_PERCENT`] of
//! the slots are occupied, so a probe always ends at a free one. The id
//! that marks a free slot ([`FREE`]) is a valid device id too: that one
//! device is kept aside. A device's event count keeps its low 32 bits in
//! its slot; the carries of the few past four billion are kept beside.

use super::device::{Device, DeviceRecord};
use rustc_hash::FxHashMap;

/// The id that marks a free slot.
const FREE: u64 = u64::MAX;

/// Occupied slots at most, in percent of all, before the table grows.
const MAX_LOAD_PERCENT: usize = 80;

/// Slots of a table's first allocation.
const MIN_SLOTS: usize = 64;

/// One slot: an id and its device. Not aligned to a cache line: at 48
/// bytes a million devices take a quarter less memory than at 64, and the
/// half of the slots that straddle two lines cost a second prefetch.
#[derive(Clone, Copy)]
#[repr(C)]
struct Slot {
    id: u64,
    device: Device,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 48);

/// Where a device is held: a slot's index, or [`ASIDE`].
type Seat = usize;

/// The seat of the device whose id is [`FREE`].
const ASIDE: Seat = usize::MAX;

const FREE_SLOT: Slot = Slot {
    id: FREE,
    device: Device::new(),
};

/// The devices of one shard by id.
#[derive(Default)]
pub(crate) struct DeviceTable {
    slots: Vec<Slot>,
    /// Occupied slots.
    occupied: usize,
    /// The device whose id is [`FREE`], which no slot can hold.
    aside: Option<Device>,
    /// The event counts' high 32 bits, of the devices where they are not
    /// zero.
    carries: FxHashMap<u64, u32>,
}

impl DeviceTable {
    /// Devices held.
    pub(crate) fn len(&self) -> usize {
        self.occupied + usize::from(self.aside.is_some())
    }

    /// Whether `id` is held.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// The device `id`.
    pub(crate) fn get(&self, id: u64) -> Option<&Device> {
        if id == FREE {
            return self.aside.as_ref();
        }
        self.find(id).map(|i| &self.slots[i].device)
    }

    /// The device `id`, to change.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Device> {
        if id == FREE {
            return self.aside.as_mut();
        }
        self.find(id).map(|i| &mut self.slots[i].device)
    }

    /// The device `id` (a new one if it was not held), marked seen at
    /// processing time `now_ms` with one more event counted.
    #[inline]
    pub(crate) fn touch(&mut self, id: u64, now_ms: i64) -> &mut Device {
        let seat = self.seat(id, Device::new());
        let device = self.at(seat);
        device.see(now_ms);
        if device.count_event() {
            *self.carries.entry(id).or_default() += 1;
        }
        self.at(seat)
    }

    /// All the events counted for `device`, which is `id`'s.
    pub(crate) fn events(&self, id: u64, device: &Device) -> u64 {
        let high = self.carries.get(&id).copied().unwrap_or(0);
        u64::from(high) << 32 | u64::from(device.events_low)
    }

    /// Puts `device` as `id`'s, replacing what was held (its carry
    /// included).
    pub(crate) fn insert(&mut self, id: u64, device: Device) {
        let seat = self.seat(id, device);
        *self.at(seat) = device;
        self.carries.remove(&id);
    }

    /// Puts the device a checkpoint saved as `id`'s.
    pub(crate) fn insert_record(&mut self, id: u64, record: &DeviceRecord) {
        self.insert(id, Device::from_record(record));
        let high = (record.events >> 32) as u32;
        if high != 0 {
            self.carries.insert(id, high);
        }
    }

    /// Every device held with its id, as a checkpoint saves it.
    pub(crate) fn records(&self) -> impl Iterator<Item = (u64, DeviceRecord)> + '_ {
        self.iter()
            .map(|(id, d)| (id, d.record(self.events(id, d))))
    }

    /// Asks the memory for `id`'s home slot, without waiting for it: a
    /// lookup of `id` a little later finds it in the cache.
    #[inline]
    pub(crate) fn prefetch(&self, id: u64) {
        if self.slots.is_empty() {
            return;
        }
        crate::prefetch::prefetch(&self.slots[self.home(id)], 2);
    }

    /// Every device held with its id, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Device)> {
        let aside = self.aside.as_ref().map(|d| (FREE, d));
        self.slots
            .iter()
            .filter(|s| s.id != FREE)
            .map(|s| (s.id, &s.device))
            .chain(aside)
    }

    /// Every device held, in no order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Device> {
        self.iter().map(|(_, d)| d)
    }

    /// Keeps only the devices `keep` says yes to; the memory stays.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(u64, &Device) -> bool) {
        if self.aside.is_some_and(|d| !keep(FREE, &d)) {
            self.aside = None;
        }
        let before = self.occupied;
        for slot in &mut self.slots {
            if slot.id != FREE && !keep(slot.id, &slot.device) {
                slot.id = FREE;
                self.occupied -= 1;
            }
        }
        if self.occupied != before {
            self.reseat();
        }
        if !self.carries.is_empty() {
            let mut carries = std::mem::take(&mut self.carries);
            carries.retain(|&id, _| self.contains(id));
            self.carries = carries;
        }
    }

    /// The slot holding `id` (not [`FREE`]).
    #[inline]
    fn find(&self, id: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = self.home(id);
        loop {
            match self.slots[i].id {
                x if x == id => return Some(i),
                FREE => return None,
                _ => i = self.next(i),
            }
        }
    }

    /// The device at `seat`.
    #[inline]
    fn at(&mut self, seat: Seat) -> &mut Device {
        match seat {
            ASIDE => self.aside.as_mut().expect("seated aside"),
            i => &mut self.slots[i].device,
        }
    }

    /// Where `id` is held, seating it with `device` first if it was not.
    #[inline]
    fn seat(&mut self, id: u64, device: Device) -> Seat {
        if id == FREE {
            self.aside.get_or_insert(device);
            return ASIDE;
        }
        if (self.occupied + 1) * 100 > self.slots.len() * MAX_LOAD_PERCENT {
            self.grow();
        }
        let mut i = self.home(id);
        loop {
            match self.slots[i].id {
                x if x == id => break,
                FREE => {
                    self.slots[i] = Slot { id, device };
                    self.occupied += 1;
                    break;
                }
                _ => i = self.next(i),
            }
        }
        i
    }

    /// Where `id`'s probe starts: its hash mapped onto the slots by a
    /// multiply, so any number of slots works.
    #[inline]
    fn home(&self, id: u64) -> usize {
        let hash = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((u128::from(hash) * self.slots.len() as u128) >> 64) as usize
    }

    #[inline]
    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    /// A quarter as many slots again (at least [`MIN_SLOTS`]), every
    /// device moved to its place there.
    #[cold]
    fn grow(&mut self) {
        let slots = (self.slots.len() + self.slots.len() / 4).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![FREE_SLOT; slots]);
        self.occupied = 0;
        for s in old.into_iter().filter(|s| s.id != FREE) {
            self.seat(s.id, s.device);
        }
    }

    /// After removals: every device that follows a freed slot is put in
    /// again, so it is reachable from its home slot. Walks once round from
    /// a free slot, so each run of occupied slots is redone from its start.
    fn reseat(&mut self) {
        let Some(start) = self.slots.iter().position(|s| s.id == FREE) else {
            return;
        };
        let n = self.slots.len();
        for step in 1..n {
            let i = (start + step) % n;
            let slot = self.slots[i];
            if slot.id == FREE {
                continue;
            }
            self.slots[i].id = FREE;
            self.occupied -= 1;
            self.seat(slot.id, slot.device);
        }
    }
}

impl Extend<(u64, DeviceRecord)> for DeviceTable {
    fn extend<T: IntoIterator<Item = (u64, DeviceRecord)>>(&mut self, devices: T) {
        for (id, record) in devices {
            self.insert_record(id, &record);
        }
    }
}

#[cfg(test)]
mod tests;
