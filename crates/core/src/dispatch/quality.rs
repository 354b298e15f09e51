//! Device quality: per device, the orders it took part in and how they
//! ended. A device whose false-alarm share is over the configured level,
//! with enough judged orders, is flagged: its detections alone no longer
//! dispatch an order (the correlator waits for a second device). Pure
//! bookkeeping, no I/O; the dispatcher persists the records it changes.

use crate::wire::control::Outcome;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// One device's record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The device id.
    pub device: u64,
    /// Orders it took part in.
    pub orders: u64,
    /// Outcomes of those orders.
    pub confirmed: u64,
    /// Outcomes of those orders.
    pub false_alarms: u64,
    /// Outcomes of those orders.
    pub resolved: u64,
    /// Whether its detections need corroboration.
    pub flagged: bool,
}

impl DeviceRecord {
    /// Orders with an outcome.
    pub(crate) fn judged(&self) -> u64 {
        self.confirmed + self.false_alarms + self.resolved
    }

    /// Share of judged orders that were false alarms (0 with none judged).
    pub fn false_alarm_rate(&self) -> f64 {
        match self.judged() {
            0 => 0.0,
            n => self.false_alarms as f64 / n as f64,
        }
    }
}

/// When a device is flagged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityPolicy {
    /// Flag above this false-alarm share.
    pub max_false_alarm_rate: f64,
    /// Only judge devices with at least this many judged orders.
    pub min_judged_orders: u64,
}

/// The quality table.
#[derive(Debug)]
pub(crate) struct Quality {
    policy: QualityPolicy,
    devices: FxHashMap<u64, DeviceRecord>,
}

impl Quality {
    /// A table with records loaded from the store.
    pub fn new(policy: QualityPolicy, records: Vec<DeviceRecord>) -> Quality {
        Quality {
            policy,
            devices: records.into_iter().map(|r| (r.device, r)).collect(),
        }
    }

    /// A device's record as it stands (a blank one for a device never seen).
    pub fn record(&self, device: u64) -> DeviceRecord {
        self.devices.get(&device).cloned().unwrap_or(DeviceRecord {
            device,
            ..DeviceRecord::default()
        })
    }

    /// Counts `outcome` on `record` and re-judges it; returns whether its
    /// flag flipped. Changes nothing in the table: see [`Quality::put`].
    pub fn judge(&self, record: &mut DeviceRecord, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Confirmed => record.confirmed += 1,
            Outcome::FalseAlarm => record.false_alarms += 1,
            Outcome::Resolved => record.resolved += 1,
        }
        let was = record.flagged;
        record.flagged = record.judged() >= self.policy.min_judged_orders
            && record.false_alarm_rate() > self.policy.max_false_alarm_rate;
        record.flagged != was
    }

    /// Keeps a record (once it is durable).
    pub fn put(&mut self, record: DeviceRecord) {
        self.devices.insert(record.device, record);
    }

    /// Flagged device ids.
    pub fn flagged(&self) -> impl Iterator<Item = u64> + '_ {
        self.devices
            .values()
            .filter(|r| r.flagged)
            .map(|r| r.device)
    }
}

/// The bookkeeping of whole orders, for the tests; the dispatcher counts
/// through [`Quality::record`], [`Quality::judge`] and [`Quality::put`]
/// so that nothing counts before its round is durable.
#[cfg(test)]
impl Quality {
    /// Counts an order for each of its devices; returns the changed records.
    fn on_order(&mut self, devices: &[u64]) -> Vec<DeviceRecord> {
        let mut changed = Vec::new();
        for &d in dedup(devices).iter() {
            let r = self.devices.entry(d).or_insert_with(|| DeviceRecord {
                device: d,
                ..DeviceRecord::default()
            });
            r.orders += 1;
            changed.push(r.clone());
        }
        changed
    }

    /// Counts an outcome for each device of an order; returns the changed
    /// records, each with whether its `flagged` flipped.
    fn on_outcome(&mut self, devices: &[u64], outcome: Outcome) -> Vec<(DeviceRecord, bool)> {
        let mut changed = Vec::new();
        for &d in dedup(devices).iter() {
            let mut r = self.record(d);
            let flipped = self.judge(&mut r, outcome);
            self.put(r.clone());
            changed.push((r, flipped));
        }
        changed
    }

    /// Whether a device is flagged.
    fn is_flagged(&self, device: u64) -> bool {
        self.devices.get(&device).is_some_and(|r| r.flagged)
    }
}

#[cfg(test)]
fn dedup(devices: &[u64]) -> Vec<u64> {
    let mut v = devices.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_that_is_mostly_wrong_is_flagged_once_there_is_enough_to_judge() {
        let mut q = Quality::new(
            QualityPolicy {
                max_false_alarm_rate: 0.5,
                min_judged_orders: 4,
            },
            Vec::new(),
        );
        for _ in 0..3 {
            q.on_order(&[7, 7, 8]);
            q.on_outcome(&[7, 8], Outcome::FalseAlarm);
        }
        assert!(!q.is_flagged(7), "three orders are not enough to judge");
        q.on_order(&[7]);
        let changed = q.on_outcome(&[7], Outcome::Confirmed);
        assert!(changed[0].0.flagged, "3 false alarms of 4 = 0.75 > 0.5");
        assert!(changed[0].1, "the flag flipped");
        assert_eq!(changed[0].0.orders, 4);
        assert!(!q.is_flagged(8));
        // Confirmations bring it back under the level.
        for _ in 0..3 {
            q.on_outcome(&[7], Outcome::Resolved);
        }
        assert!(!q.is_flagged(7));
    }
}
