//! A shard's checkpoint round trips: saved, encoded, decoded and restored
//! into a shard that goes on as the saved one would.

use super::*;
use crate::engine::shard::Shard;
use crate::engine::{Detection, EngineSettings, RuleSet};
use crate::model::{CameraRef, Category, Event, Source};
use std::sync::Arc;

const T0: i64 = 1_780_000_000_000;
const S: i64 = 1_000;

fn reading(device: u64, seq: u64, t: i64, category: Category, value: f64) -> Event {
    let (lat, lon) = (31.2575 + device as f64 * 1e-4, 121.4125);
    Event {
        device,
        seq,
        time_ms: t,
        lat,
        lon,
        cell: crate::geo::cell_of(lat, lon).expect("a valid position"),
        value,
        category,
        source: Source::Sensor,
        camera: CameraRef::NONE,
    }
}

fn shard() -> Shard {
    Shard::new(Arc::new(RuleSet::defaults()), EngineSettings::default())
}

fn detections(s: &mut Shard) -> Vec<Detection> {
    std::iter::from_fn(|| s.poll_detection()).collect()
}

/// A shard with a smoke alarm open (device 1), a gas hold under way
/// (device 2), a device seen once (3) and a complaint counted (4).
fn busy_shard() -> Shard {
    let mut s = shard();
    s.handle_events(
        T0,
        0,
        &[
            reading(1, 1, T0, Category::Smoke, 9.0),
            reading(2, 1, T0, Category::Gas, 80.0),
            reading(3, 1, T0, Category::WaterLevel, 0.5),
            reading(4, 1, T0, Category::NoiseComplaint, 1.0),
        ],
    );
    assert_eq!(detections(&mut s).len(), 1, "the smoke alarm");
    s
}

#[test]
fn a_checkpoint_reads_back_as_it_was_written() {
    let c = busy_shard().checkpoint(1, 2, T0 + S);
    assert_eq!(
        (c.devices.len(), c.conditions.len(), c.counts.len()),
        (4, 2, 1)
    );
    let back = ShardCheckpoint::decode(&c.encode()).unwrap();
    // (Compared as bytes: a rate rule's NaN reference is not equal to
    // itself.)
    assert_eq!(back.encode(), c.encode());
    assert_eq!((back.shard, back.shards, back.taken_ms), (1, 2, T0 + S));
}

#[test]
fn a_restored_shard_goes_on_where_the_old_one_stopped() {
    let saved = busy_shard().checkpoint(0, 1, T0 + S);
    let (mut s, restored) = Shard::restore(
        Arc::new(RuleSet::defaults()),
        EngineSettings::default(),
        ShardCheckpoint::decode(&saved.encode()).unwrap(),
    );
    assert_eq!(
        restored,
        Restored {
            devices: 4,
            conditions: 3,
            dropped: 0
        }
    );
    s.handle_events(
        T0 + 2 * S,
        0,
        &[
            reading(1, 1, T0, Category::Smoke, 9.0),
            reading(1, 2, T0 + 2 * S, Category::Smoke, 9.0),
        ],
    );
    assert!(
        detections(&mut s).is_empty(),
        "the retransmit is known, and the smoke alarm is open already"
    );
    assert_eq!(s.take_stats().retransmits, 1);
    // The gas hold began at T0, before the restart: it fires once the
    // hold has passed since then, not since the restart.
    let hold = 5 * S;
    s.handle_events(
        T0 + hold,
        0,
        &[reading(2, 2, T0 + hold, Category::Gas, 80.0)],
    );
    let d = detections(&mut s);
    assert_eq!(d.len(), 1, "the gas leak held past its hold");
    assert_eq!(
        d[0].first_seen_ms, T0,
        "from the reading before the restart"
    );
}

#[test]
fn state_of_a_rule_that_changed_kind_is_not_loaded() {
    let saved = busy_shard().checkpoint(0, 1, T0 + S);
    let rules = RuleSet::from_toml(
        r#"
        [[rule]]
        name = "smoke-low"
        category = "smoke"
        kind = "below"
        limit = 1.0
        clear = 2.0
        for = "0s"
        severity = "major"
        incident = "fire"
        deadline = "5m"
        plan = "test"
        "#,
    )
    .unwrap();
    let (_, restored) = Shard::restore(Arc::new(rules), EngineSettings::default(), saved);
    assert_eq!(
        restored,
        Restored {
            devices: 4,
            conditions: 0,
            dropped: 3
        },
        "smoke is a below rule now; gas and complaints have no rule"
    );
}

#[test]
fn what_is_not_a_whole_checkpoint_of_this_version_is_refused() {
    let bytes = busy_shard().checkpoint(0, 1, T0).encode();
    assert_eq!(
        ShardCheckpoint::decode(&bytes[..bytes.len() - 1]),
        Err(CheckpointError::NotACheckpoint),
        "cut short"
    );
    assert_eq!(
        ShardCheckpoint::decode(b"{\"not\": \"a checkpoint at all\"}"),
        Err(CheckpointError::NotACheckpoint)
    );
    let mut other = bytes.clone();
    other[8] = 9;
    assert_eq!(
        ShardCheckpoint::decode(&other),
        Err(CheckpointError::Version { found: 9 })
    );
    let mut damaged = bytes;
    damaged[HEADER..].fill(0xff);
    assert!(matches!(
        ShardCheckpoint::decode(&damaged),
        Err(CheckpointError::Damaged(_))
    ));
}

/// Fails when an archived type changes: raise [`VERSION`], then update
/// the figures.
#[test]
fn layout_is_pinned() {
    let mut c = busy_shard().checkpoint(0, 1, T0);
    // In a fixed order: the hash map's is not part of the format.
    c.devices.sort_by_key(|&(id, _)| id);
    c.conditions.sort_by_key(|e| (e.device, e.category));
    let bytes = c.encode();
    assert_eq!(
        (bytes.len(), fnv(&bytes)),
        (648, 7519708522875409593),
        "the archived layout changed: raise checkpoint::VERSION"
    );
    // Devices save their cell's resolution-7 parent now; with the cells
    // themselves there, as before, the bytes are those the format had.
    for (id, d) in &mut c.devices {
        d.cell = reading(*id, 1, T0, Category::Smoke, 0.0).cell;
    }
    assert_eq!(fnv(&c.encode()), 15257999730322192769, "format 2 as it was");
}

/// A checkpoint from before devices were narrowed (their cells, not the
/// parents) loads alike: each device still in its partition.
#[test]
fn a_checkpoint_with_whole_cells_loads_into_the_same_partitions() {
    let mut c = busy_shard().checkpoint(0, 1, T0);
    for (id, d) in &mut c.devices {
        d.cell = reading(*id, 1, T0, Category::Smoke, 0.0).cell;
    }
    let (s, _) = Shard::restore(
        Arc::new(RuleSet::defaults()),
        EngineSettings::default(),
        ShardCheckpoint::decode(&c.encode()).unwrap(),
    );
    for p in 0..4 {
        let mut ours: Vec<u64> = s
            .checkpoint_partition(p, 4, T0)
            .devices
            .iter()
            .map(|(id, _)| *id)
            .collect();
        ours.sort_unstable();
        let mut expected: Vec<u64> = (1..=4)
            .filter(|&id| {
                let cell = reading(id, 1, T0, Category::Smoke, 0.0).cell;
                crate::engine::partition::shard_of(cell, 4) == p as usize
            })
            .collect();
        expected.sort_unstable();
        assert_eq!(ours, expected, "partition {p}");
    }
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
