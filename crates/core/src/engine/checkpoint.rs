//! A shard's state as it is saved and loaded across restarts: its devices
//! (dedup windows, activity, clocks, cells), its open conditions and count
//! windows, its watermark. In the cluster mode the same encoding carries
//! one partition's part of a shard to its next owner
//! ([`crate::engine::shard::Shard::checkpoint_partition`]; `shard` and
//! `shards` then say which partition of how many). A restart that loads it keeps a stuck sensor's
//! open condition, and with it its order and that order's deterministic
//! id, and a hold that began before the restart goes on from where it was.
//!
//! Encoded as a small header (magic, format version, which shard of how
//! many) then an rkyv archive of [`ShardCheckpoint`], checked on load. The
//! shell decides when to take one and where it goes; the core only turns
//! state into bytes and back.

use super::condition::Condition;
use super::device::Device;
use super::rules::Test;
use super::watermark::WatermarkTracker;
use rkyv::rancor;
use rkyv::util::AlignedVec;

/// The format version, in the header. Raise it whenever a type archived
/// here changes (`layout_is_pinned` below fails when one does): a file of
/// another version is not loaded.
pub const VERSION: u32 = 2;

const MAGIC: [u8; 8] = *b"TGSHARD\0";
const HEADER: usize = 24;

/// One shard's state at one moment.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ShardCheckpoint {
    /// Which shard it is.
    pub shard: u32,
    /// Of how many: the map's cells are split among this many shards, so
    /// state is only loaded by a hub that splits it alike.
    pub shards: u32,
    /// Processing time when it was taken, Unix ms.
    pub taken_ms: i64,
    pub(crate) watermark: WatermarkTracker,
    pub(crate) devices: Vec<(u64, Device)>,
    pub(crate) conditions: Vec<ConditionEntry>,
    pub(crate) counts: Vec<CountEntry>,
}

/// One device's open condition of one category, with the kind of rule it
/// followed (a condition of a rule that changed kind is not loaded).
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct ConditionEntry {
    pub device: u64,
    pub category: u16,
    pub kind: RuleKind,
    pub condition: Condition,
}

/// One cell's count window of one category.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct CountEntry {
    pub cell: u64,
    pub category: u16,
    pub times: Vec<i64>,
    pub active: Option<Condition>,
}

/// The kinds of rule whose state differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum RuleKind {
    Above,
    Below,
    Rate,
    Count,
}

impl RuleKind {
    pub(crate) fn of(test: &Test) -> RuleKind {
        match test {
            Test::Above { .. } => RuleKind::Above,
            Test::Below { .. } => RuleKind::Below,
            Test::Rate { .. } => RuleKind::Rate,
            Test::Count { .. } => RuleKind::Count,
        }
    }
}

/// What a loaded checkpoint brought back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    /// Devices.
    pub devices: usize,
    /// Open conditions and count windows.
    pub conditions: usize,
    /// Conditions and windows left out: their category's rule is gone or
    /// is of another kind now.
    pub dropped: usize,
}

/// Why bytes are not a checkpoint this hub can load.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    /// Not a checkpoint file, or cut short.
    #[error("not a shard checkpoint (bad header)")]
    NotACheckpoint,
    /// Written by a version with another format.
    #[error("checkpoint format {found}, this hub reads format {VERSION}")]
    Version {
        /// The file's version.
        found: u32,
    },
    /// The archive does not check.
    #[error("checkpoint damaged: {0}")]
    Damaged(String),
}

impl ShardCheckpoint {
    /// The checkpoint as bytes: header, then the archive.
    pub fn encode(&self) -> Vec<u8> {
        let archive = rkyv::to_bytes::<rancor::Error>(self).expect("checkpoints serialize");
        let mut out = Vec::with_capacity(HEADER + archive.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.shard.to_le_bytes());
        out.extend_from_slice(&self.shards.to_le_bytes());
        out.extend_from_slice(&(archive.len() as u32).to_le_bytes());
        out.extend_from_slice(&archive);
        out
    }

    /// A checkpoint from [`ShardCheckpoint::encode`]'s bytes, checked.
    pub fn decode(bytes: &[u8]) -> Result<ShardCheckpoint, CheckpointError> {
        if bytes.len() < HEADER || bytes[..8] != MAGIC {
            return Err(CheckpointError::NotACheckpoint);
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        if word(8) != VERSION {
            return Err(CheckpointError::Version { found: word(8) });
        }
        let payload = &bytes[HEADER..];
        if payload.len() != word(20) as usize {
            return Err(CheckpointError::NotACheckpoint);
        }
        // The archive is read in place, so it must sit aligned.
        let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        rkyv::from_bytes::<ShardCheckpoint, rancor::Error>(&aligned)
            .map_err(|e| CheckpointError::Damaged(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
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
            (648, 15257999730322192769),
            "the archived layout changed: raise checkpoint::VERSION"
        );
    }

    fn fnv(bytes: &[u8]) -> u64 {
        bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}
