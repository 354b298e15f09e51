//! The device table against std's map as the model: the same operations,
//! the same contents, whatever the ids (the free-slot marker among them,
//! ids that share a home slot) and however many are removed.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Debug, Clone)]
enum Op {
    /// Take the device (new if absent) and count an event.
    Touch(u64),
    /// Put a device whose event count is the given one.
    Insert(u64, u64),
    /// Keep the devices whose id is not a multiple of this.
    RetainNotMultipleOf(u64),
}

fn id() -> impl Strategy<Value = u64> {
    // Few ids, so they repeat; the marker of a free slot and its
    // neighbours among them.
    prop_oneof![0u64..300, Just(FREE), Just(FREE - 1), Just(0)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => id().prop_map(Op::Touch),
        2 => (id(), 1u64..10).prop_map(|(i, n)| Op::Insert(i, n)),
        1 => (2u64..5).prop_map(Op::RetainNotMultipleOf),
    ]
}

fn device(events: u64) -> Device {
    let mut d = Device::new();
    d.events_low = events as u32;
    d
}

fn events(t: &DeviceTable, id: u64) -> Option<u64> {
    t.get(id).map(|d| t.events(id, d))
}

fn contents(t: &DeviceTable) -> HashMap<u64, u64> {
    t.iter().map(|(id, d)| (id, t.events(id, d))).collect()
}

proptest! {
    #[test]
    fn holds_what_a_map_would(ops in proptest::collection::vec(op(), 1..600)) {
        let mut table = DeviceTable::default();
        let mut model: HashMap<u64, u64> = HashMap::new();
        for op in ops {
            match op {
                Op::Touch(id) => {
                    table.touch(id, 0);
                    *model.entry(id).or_insert(0) += 1;
                }
                Op::Insert(id, n) => {
                    table.insert(id, device(n));
                    model.insert(id, n);
                }
                Op::RetainNotMultipleOf(m) => {
                    table.retain(|id, _| id % m != 0);
                    model.retain(|id, _| id % m != 0);
                }
            }
            prop_assert_eq!(table.len(), model.len());
        }
        prop_assert_eq!(contents(&table), model.clone());
        for (id, n) in &model {
            prop_assert_eq!(events(&table, *id), Some(*n));
            prop_assert!(table.contains(*id));
        }
        for id in 300..400 {
            prop_assert!(table.get(id).is_none());
        }
    }
}

#[test]
fn grows_by_a_quarter_and_keeps_a_fifth_of_its_slots_free() {
    let mut t = DeviceTable::default();
    let mut sizes = vec![];
    for id in 0..100_000u64 {
        t.insert(id * 7_919, device(id));
        if sizes.last() != Some(&t.slots.len()) {
            sizes.push(t.slots.len());
        }
        assert!(t.occupied * 100 <= t.slots.len() * MAX_LOAD_PERCENT);
    }
    assert_eq!(sizes[..4], [64, 80, 100, 125]);
    for pair in sizes.windows(2) {
        assert_eq!(pair[1], pair[0] + pair[0] / 4);
    }
    assert_eq!(t.len(), 100_000);
    assert!((0..100_000u64).all(|id| events(&t, id * 7_919) == Some(id)));
}

#[test]
fn a_removal_inside_a_run_leaves_the_rest_of_the_run_reachable() {
    let mut t = DeviceTable::default();
    t.touch(1, 0);
    // Ids sharing id 1's home slot, so they sit in one run after it.
    let n = 64u128;
    let home = |id: u64| ((u128::from(id.wrapping_mul(0x9e37_79b9_7f4a_7c15)) * n) >> 64) as usize;
    let same: Vec<u64> = (2..100_000)
        .filter(|&id| home(id) == home(1))
        .take(5)
        .collect();
    assert_eq!(same.len(), 5);
    for &id in &same {
        t.insert(id, device(id));
    }
    t.retain(|id, _| id != 1 && id != same[1]);
    assert!(t.get(1).is_none() && t.get(same[1]).is_none());
    for &id in same.iter().filter(|&&id| id != same[1]) {
        assert_eq!(events(&t, id), Some(id));
    }
    assert_eq!(t.len(), 4);
}

#[test]
fn a_prefetch_changes_nothing_and_works_on_an_empty_table() {
    let mut t = DeviceTable::default();
    t.prefetch(5);
    t.insert(5, device(3));
    t.prefetch(5);
    t.prefetch(FREE);
    assert_eq!(contents(&t), HashMap::from([(5, 3)]));
}

#[test]
fn an_event_count_past_four_billion_carries_and_survives_a_record() {
    let mut t = DeviceTable::default();
    let record = device(0).record(u64::from(u32::MAX) - 1);
    for id in [7, FREE] {
        t.insert_record(id, &record);
        for _ in 0..3 {
            t.touch(id, 1_000);
        }
        assert_eq!(events(&t, id), Some(u64::from(u32::MAX) + 2), "{id}");
    }
    let mut again = DeviceTable::default();
    again.extend(t.records());
    assert_eq!(contents(&again), contents(&t));
    // A carry goes with its device, and a device put anew starts over.
    t.retain(|id, _| id != 7);
    assert_eq!(t.carries.len(), 1);
    t.insert(FREE, device(5));
    assert_eq!((events(&t, FREE), t.carries.len()), (Some(5), 0));
}
