//! The journal of detections: each dispatcher round's detections, written
//! in the round's transaction (the same fsync as its orders), so that a
//! device's batch is acknowledged only once what it made is durable. A
//! restart replays the recent ones into the correlator (an incident still
//! open is rebuilt; one that already has its order is no news). Entries
//! older than the correlation window and the allowed lateness go with the
//! commit that passes them.

use super::tables::JOURNAL;
use super::{Store, StoreError};
use crate::engine::Detection;
use redb::WriteTransaction;

/// Appends the detections and trims what is older than `before_ms`.
pub(super) fn write(
    txn: &WriteTransaction,
    detections: &[Detection],
    before_ms: Option<i64>,
) -> Result<(), StoreError> {
    let mut journal = txn.open_table(JOURNAL)?;
    for d in detections {
        let json = serde_json::to_vec(d).expect("detections serialize");
        journal.insert((d.time_ms, d.device, d.seq, d.repeat), json.as_slice())?;
    }
    if let Some(before) = before_ms {
        journal.retain_in(..(before, 0, 0, 0), |_, _| false)?;
    }
    Ok(())
}

impl Store {
    /// The journaled detections of events at or after `since_ms`, oldest
    /// first: what a restart replays into the correlator.
    pub fn journal_since(&self, since_ms: i64) -> Result<Vec<Detection>, StoreError> {
        let txn = self.read_txn()?;
        let journal = txn.open_table(JOURNAL)?;
        let mut out = Vec::new();
        for entry in journal.range((since_ms, 0, 0, 0)..)? {
            let (key, value) = entry?;
            let d = serde_json::from_slice(value.value()).map_err(|e| StoreError::Corrupt {
                key: format!("journal {:?}", key.value()),
                source: e,
            })?;
            out.push(d);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::dispatch::Batch;
    use crate::engine::Detection;
    use crate::model::{CameraRef, Category, Event, Source};
    use crate::store::Store;

    fn detection(device: u64, time_ms: i64) -> Detection {
        Detection {
            event: Event {
                device,
                seq: 1,
                time_ms,
                lat: 31.25,
                lon: 121.41,
                cell: 0x0893_0995_86d7_ffff,
                value: 9.0,
                category: Category::Smoke,
                source: Source::Sensor,
                camera: CameraRef::NONE,
            },
            first_seen_ms: time_ms,
            count: 1,
            repeat: 0,
            arrival: 0,
            late_ms: None,
        }
    }

    #[test]
    fn detections_come_back_after_a_reopen_and_old_ones_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let batch = |journal: Vec<Detection>, before: i64| Batch {
            journal,
            journal_before_ms: Some(before),
            ..Batch::default()
        };
        store
            .commit(&batch(vec![detection(1, 1_000), detection(2, 5_000)], 0))
            .unwrap();
        store
            .commit(&batch(vec![detection(3, 9_000)], 2_000))
            .unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let devices: Vec<u64> = store
            .journal_since(0)
            .unwrap()
            .iter()
            .map(|d| d.device)
            .collect();
        assert_eq!(
            devices,
            vec![2, 3],
            "the entry before 2,000 went with the second commit"
        );
        assert_eq!(
            store.journal_since(6_000).unwrap(),
            vec![detection(3, 9_000)]
        );
    }
}
