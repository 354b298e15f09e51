//! The recording directory: segment files named by the arrival time of
//! their first batch (`seg-<ms>-<n>.tgrec`, with its time index beside it
//! as `.tgidx`), listed oldest first, and the retention that deletes the
//! oldest while the segments take more than `record.max_bytes` or end
//! before `record.max_age`. The segment being written is never deleted.

use std::io;
use std::path::{Path, PathBuf};

/// Extension of a segment file.
pub const SEGMENT_EXT: &str = "tgrec";
/// Extension of a segment's index.
pub const INDEX_EXT: &str = "tgidx";

/// A segment on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// The segment.
    pub path: PathBuf,
    /// Arrival time of its first batch, Unix ms.
    pub start_ms: i64,
    /// Tie-breaker among segments begun in the same millisecond.
    pub n: u32,
    /// Its size, bytes.
    pub bytes: u64,
}

impl SegmentFile {
    /// Its index file.
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension(INDEX_EXT)
    }
}

/// The file name of a segment begun at `start_ms`.
pub fn segment_name(start_ms: i64, n: u32) -> String {
    format!("seg-{:015}-{n:04}.{SEGMENT_EXT}", start_ms.max(0))
}

fn parse_name(name: &str) -> Option<(i64, u32)> {
    let stem = name.strip_prefix("seg-")?.strip_suffix(".tgrec")?;
    let (ms, n) = stem.split_once('-')?;
    Some((ms.parse().ok()?, n.parse().ok()?))
}

/// The segments in `dir`, oldest first (other files are left alone).
pub fn list(dir: &Path) -> io::Result<Vec<SegmentFile>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some((start_ms, n)) = name.to_str().and_then(parse_name) else {
            continue;
        };
        out.push(SegmentFile {
            path: entry.path(),
            start_ms,
            n,
            bytes: entry.metadata()?.len(),
        });
    }
    out.sort_by_key(|s| (s.start_ms, s.n));
    Ok(out)
}

/// Deletes the oldest segments (and their indexes) while all of them take
/// more than `max_bytes` (0: no limit) or while the next one begins before
/// `now_ms - max_age_ms` (0: no limit): a segment ends where the next
/// begins. `current` is never deleted. Returns how many were deleted.
pub fn retain(
    dir: &Path,
    max_bytes: u64,
    max_age_ms: i64,
    now_ms: i64,
    current: Option<&Path>,
) -> io::Result<usize> {
    let segments = list(dir)?;
    let mut total: u64 = segments.iter().map(|s| s.bytes).sum();
    let horizon = now_ms.saturating_sub(max_age_ms);
    let mut deleted = 0;
    for (i, s) in segments.iter().enumerate() {
        if current == Some(s.path.as_path()) {
            break;
        }
        let too_big = max_bytes > 0 && total > max_bytes;
        let ended = segments.get(i + 1).map_or(i64::MAX, |next| next.start_ms);
        let too_old = max_age_ms > 0 && ended < horizon;
        if !too_big && !too_old {
            break;
        }
        std::fs::remove_file(&s.path)?;
        let _ = std::fs::remove_file(s.index_path());
        total -= s.bytes;
        deleted += 1;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, start_ms: i64, bytes: usize) -> PathBuf {
        let p = dir.join(segment_name(start_ms, 0));
        std::fs::write(&p, vec![0u8; bytes]).unwrap();
        std::fs::write(p.with_extension(INDEX_EXT), b"").unwrap();
        p
    }

    #[test]
    fn segments_list_oldest_first_and_other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), 2_000, 1);
        touch(dir.path(), 1_000, 1);
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let l = list(dir.path()).unwrap();
        assert_eq!(
            l.iter().map(|s| s.start_ms).collect::<Vec<_>>(),
            vec![1_000, 2_000]
        );
    }

    #[test]
    fn retention_deletes_the_oldest_by_size_and_by_age_never_the_current() {
        let dir = tempfile::tempdir().unwrap();
        let a = touch(dir.path(), 1_000, 100);
        let b = touch(dir.path(), 2_000, 100);
        let c = touch(dir.path(), 3_000, 100);
        // 300 bytes over a limit of 250: the oldest goes, with its index.
        assert_eq!(retain(dir.path(), 250, 0, 0, Some(&c)).unwrap(), 1);
        assert!(!a.exists() && !a.with_extension(INDEX_EXT).exists());
        // b ends at 3,000, before now - age = 3,500; c is current.
        assert_eq!(retain(dir.path(), 0, 1_000, 4_500, Some(&c)).unwrap(), 1);
        assert!(!b.exists() && c.exists());
        assert_eq!(retain(dir.path(), 1, 1, i64::MAX, Some(&c)).unwrap(), 0);
    }
}
