//! A shard's state as it is saved and loaded across restarts: its devices
//! (dedup windows, activity, clocks, cells), its open conditions and count
//! windows, its watermark. In the cluster mode the same encoding carries
//! one partition's part of a shard to its next owner (the shard's
//! `checkpoint_partition`; `shard` and `shards` then say which partition
//! of how many). A restart that loads it keeps a stuck sensor's
//! open condition, and with it its order and that order's deterministic
//! id, and a hold that began before the restart goes on from where it was.
//!
//! Encoded as a small header (magic, format version, which shard of how
//! many) then an rkyv archive of [`ShardCheckpoint`], checked on load. The
//! shell decides when to take one and where it goes; the core only turns
//! state into bytes and back.

use super::condition::Condition;
use super::device::DeviceRecord;
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
    pub(crate) devices: Vec<(u64, DeviceRecord)>,
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
mod tests;
