//! 审计文件 The audit trail's files in DATA_DIR/audit/: `audit.log`, one
//! sealed line per entry, appended only; `audit.head`, the last sequence
//! number and hash, replaced (written, synced, renamed) after each batch,
//! so that entries cut from the end are noticed too. Reading, checking and
//! searching them; the writer (writer.rs) appends.

use crate::audit::chain::{self, Broken, Head};
use crate::audit::entry::Entry;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The trail's directory under the data dir.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("audit")
}

/// The log file.
pub fn log_path(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("audit.log")
}

/// The head file.
pub fn head_path(data_dir: &Path) -> PathBuf {
    dir(data_dir).join("audit.head")
}

/// Why the trail does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The head file is not one.
    #[error("{0}: not an audit head (seq and hash)")]
    Head(String),
    /// An entry is wrong: the first one found.
    #[error("{path}: {broken}")]
    Broken {
        /// The log.
        path: String,
        /// Where and why.
        broken: Broken,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VerifyError + '_ {
    move |source| VerifyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Every line of the log (without newlines), one at a time; no log: none.
fn lines(path: &Path) -> Result<Box<dyn Iterator<Item = std::io::Result<Vec<u8>>>>, VerifyError> {
    match std::fs::File::open(path) {
        Ok(f) => Ok(Box::new(BufReader::new(f).split(b'\n'))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Box::new(std::iter::empty())),
        Err(e) => Err(io(path)(e)),
    }
}

/// Checks the whole trail: every line in turn, then the end against the
/// head. Returns the head.
pub fn verify(data_dir: &Path) -> Result<Head, VerifyError> {
    let path = log_path(data_dir);
    let broken = |broken| VerifyError::Broken {
        path: path.display().to_string(),
        broken,
    };
    let saved = read_head(data_dir)?;
    let mut head = Head::default();
    let mut at_saved = None;
    for (i, line) in lines(&path)?.enumerate() {
        let line = line.map_err(io(&path))?;
        head = chain::check(&head, &line, i as u64 + 1).map_err(broken)?.1;
        if head.seq == saved.seq {
            at_saved = Some(head.hash.clone());
        }
    }
    chain::against_head(&head, &saved, at_saved.as_deref()).map_err(broken)?;
    Ok(head)
}

/// The saved head (none saved: the start).
pub fn read_head(data_dir: &Path) -> Result<Head, VerifyError> {
    let path = head_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|_| VerifyError::Head(path.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Head::default()),
        Err(e) => Err(io(&path)(e)),
    }
}

/// Replaces the head file: written, synced, renamed.
pub fn write_head(data_dir: &Path, head: &Head) -> std::io::Result<()> {
    let path = head_path(data_dir);
    let tmp = path.with_extension("head.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(head).expect("a head serializes"))?;
    f.sync_data()?;
    std::fs::rename(&tmp, &path)
}

/// Where the log ends, to go on from: the last line's hash and sequence
/// (not verified: `tongguan audit verify` does that).
pub fn last_head(data_dir: &Path) -> std::io::Result<Head> {
    let path = log_path(data_dir);
    let mut head = Head::default();
    let Ok(iter) = lines(&path) else {
        return Ok(head);
    };
    for line in iter {
        let line = line?;
        if let Ok((hash, body)) = chain::split(&line) {
            if let Ok(entry) = serde_json::from_slice::<Entry>(body) {
                head = Head {
                    seq: entry.seq,
                    hash: hash.to_owned(),
                };
            }
        }
    }
    Ok(head)
}

/// What a search asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The account name, exactly.
    pub person: Option<String>,
    /// The order id, exactly.
    pub order: Option<String>,
    /// From this time on (ms since the epoch), inclusive.
    pub from_ms: Option<i64>,
    /// Before this time (ms), exclusive.
    pub to_ms: Option<i64>,
    /// At most this many, the newest.
    pub limit: usize,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.person.as_ref().is_none_or(|p| *p == e.record.person)
            && self
                .order
                .as_ref()
                .is_none_or(|o| e.record.order.as_ref() == Some(o))
            && self.from_ms.is_none_or(|t| e.time_ms >= t)
            && self.to_ms.is_none_or(|t| e.time_ms < t)
    }
}

/// The newest entries that match, newest first (a scan of the log).
pub fn search(data_dir: &Path, filter: &Filter) -> Result<Vec<Entry>, VerifyError> {
    let path = log_path(data_dir);
    let mut found = std::collections::VecDeque::with_capacity(filter.limit.min(4096));
    for line in lines(&path)? {
        let line = line.map_err(io(&path))?;
        let Ok((_, body)) = chain::split(&line) else {
            continue;
        };
        let Ok(entry) = serde_json::from_slice::<Entry>(body) else {
            continue;
        };
        if filter.matches(&entry) {
            if found.len() == filter.limit {
                found.pop_front();
            }
            found.push_back(entry);
        }
    }
    Ok(found.into_iter().rev().collect())
}
