//! Reading a recording back: the segments of a directory, oldest first,
//! each record's batch with its arrival time, between `from` and `to`.
//! A segment's time index finds the first record at or after `from`
//! without decoding what comes before; segments that end before `from`
//! or begin after `to` are not opened. A segment cut short (the hub was
//! killed mid-write) ends at its last whole record and is counted; a
//! record that is corrupt stops the read with the file and offset named.

use super::segments::{self, SegmentFile};
use crate::model::Event;
use std::path::{Path, PathBuf};
use tongguan_core::replay::format::{
    decode_index, decode_record, Decoded, FormatError, SegmentHeader, HEADER_LEN,
};

/// Why a recording could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A segment is not in the format this tongguan reads.
    #[error("{path}: {source}")]
    Format {
        /// The segment.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// Segments disagree on the hub's shard count.
    #[error("{path}: written by a hub of {found} shards, the segments before by one of {expected}: replay the two ranges apart (--from/--to)")]
    Partitions {
        /// The segment.
        path: PathBuf,
        /// The earlier segments' count.
        expected: u16,
        /// This one's.
        found: u16,
    },
}

/// What a read went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Segments opened.
    pub segments: usize,
    /// Batches handed on.
    pub batches: u64,
    /// Events handed on.
    pub events: u64,
    /// Segments that ended in a torn record.
    pub torn: usize,
    /// The hub's shard count, from the segments' headers (0: none read).
    pub partitions: u16,
}

/// A recording directory opened for reading.
pub struct Recording {
    dir: PathBuf,
    segments: Vec<SegmentFile>,
}

impl Recording {
    /// Lists the segments of `dir`.
    pub fn open(dir: &Path) -> Result<Recording, ReadError> {
        let segments = segments::list(dir).map_err(|source| ReadError::Io {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Recording {
            dir: dir.to_owned(),
            segments,
        })
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &[SegmentFile] {
        &self.segments
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments a read from `from` to `to` (Unix ms, inclusive) opens.
    pub fn in_range(&self, from: Option<i64>, to: Option<i64>) -> Vec<&SegmentFile> {
        let n = self.segments.len();
        (0..n)
            .filter(|&i| {
                let s = &self.segments[i];
                let ends = self.segments.get(i + 1).map_or(i64::MAX, |x| x.start_ms);
                from.is_none_or(|f| ends >= f) && to.is_none_or(|t| s.start_ms <= t)
            })
            .map(|i| &self.segments[i])
            .collect()
    }

    /// Hands every batch that arrived from `from` to `to` to `each`, in
    /// recorded order, with how many bytes of the range's segments were
    /// read so far (for a progress bar).
    pub fn read(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        mut each: impl FnMut(i64, &[Event], u64),
    ) -> Result<ReadStats, ReadError> {
        let mut stats = ReadStats::default();
        let mut events = Vec::new();
        let mut done_bytes = 0u64;
        for seg in self.in_range(from, to) {
            let io = |source| ReadError::Io {
                path: seg.path.clone(),
                source,
            };
            let bytes = std::fs::read(&seg.path).map_err(io)?;
            let header = SegmentHeader::decode(&bytes).map_err(|source| ReadError::Format {
                path: seg.path.clone(),
                source,
            })?;
            if stats.partitions != 0 && stats.partitions != header.partitions {
                return Err(ReadError::Partitions {
                    path: seg.path.clone(),
                    expected: stats.partitions,
                    found: header.partitions,
                });
            }
            stats.partitions = header.partitions;
            stats.segments += 1;
            let mut at = start_offset(seg, from);
            while at < bytes.len() {
                events.clear();
                let got =
                    decode_record(&bytes[at..], at as u64, &mut events).map_err(|source| {
                        ReadError::Format {
                            path: seg.path.clone(),
                            source,
                        }
                    })?;
                let Decoded::Record { arrival_ms, len } = got else {
                    stats.torn += 1;
                    break;
                };
                at += len;
                if from.is_some_and(|f| arrival_ms < f) || to.is_some_and(|t| arrival_ms > t) {
                    continue;
                }
                stats.batches += 1;
                stats.events += events.len() as u64;
                each(arrival_ms, &events, done_bytes + at as u64);
            }
            done_bytes += bytes.len() as u64;
        }
        Ok(stats)
    }
}

/// The hub's shard count, from the header of the segment at `path`.
pub fn partitions_of(path: &Path) -> Result<usize, ReadError> {
    use std::io::Read;
    let mut head = [0u8; HEADER_LEN];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|source| ReadError::Io {
            path: path.to_owned(),
            source,
        })?;
    let h = SegmentHeader::decode(&head).map_err(|source| ReadError::Format {
        path: path.to_owned(),
        source,
    })?;
    Ok(usize::from(h.partitions).max(1))
}

/// How far out of order two batches' arrival times can be written.
const SLACK_MS: i64 = 1_000;

/// Where in `seg` a read from `from` begins: the first indexed record at
/// or after it (the start without an index, or when it cannot be read).
fn start_offset(seg: &SegmentFile, from: Option<i64>) -> usize {
    let Some(from) = from else {
        return HEADER_LEN;
    };
    let Ok(index) = std::fs::read(seg.index_path()) else {
        return HEADER_LEN;
    };
    let entries = decode_index(&index);
    // Arrival times are nearly, not strictly, in order (sessions stamp
    // their batches side by side): start a second early; the records
    // before `from` are passed over.
    let first = entries.partition_point(|&(t, _)| t < from.saturating_sub(SLACK_MS));
    match entries.get(first) {
        Some(&(_, off)) => (off as usize).max(HEADER_LEN),
        // Every indexed record is before the range: what follows the last
        // (the index may lag the segment after a crash).
        None => entries
            .last()
            .map_or(HEADER_LEN, |&(_, off)| (off as usize).max(HEADER_LEN)),
    }
}
