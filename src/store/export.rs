//! Orders out of the outbox as JSON Lines, one order record a line, as
//! the outbox stores it (the `GET /api/orders/{id}` fields with status,
//! ack and history). Two uses: retention appends the closed orders it is
//! about to delete to `DATA_DIR/exports/closed-orders-FROM_TO.jsonl` (FROM
//! and TO the UTC dates the first and last of them were made) and syncs
//! the file before the deleting transaction commits, so an order leaves
//! the outbox only once it is on disk elsewhere; and `tongguan outbox
//! export` writes the orders (of one status, or all) to standard output.
//!
//! A file of the same name is appended to: a chunk exported and then not
//! deleted (the process died before the commit) is exported again by the
//! next pass, so an order may appear twice in the exports, identical,
//! never not at all.

use super::index::status_code;
use super::tables::{BY_STATUS, ORDERS};
use super::{Store, StoreError};
use crate::dispatch::record::Status;
use redb::{ReadTransaction, ReadableTable};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why `tongguan outbox export` failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The outbox could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written (a closed pipe, a full disk).
    #[error("cannot write the exported orders")]
    Write(#[source] std::io::Error),
}

/// The directory retention exports to: `exports` beside the outbox file.
pub(super) fn exports_dir(outbox: &Path) -> PathBuf {
    outbox
        .parent()
        .map_or_else(|| PathBuf::from("exports"), |d| d.join("exports"))
}

/// The file of a chunk whose orders were made from `first_ms` to
/// `last_ms`: `closed-orders-2026-03-01_2026-03-02.jsonl`.
pub(super) fn file_name(first_ms: i64, last_ms: i64) -> String {
    format!(
        "closed-orders-{}_{}.jsonl",
        utc_date(first_ms),
        utc_date(last_ms)
    )
}

/// The UTC date of a Unix time in ms, `YYYY-MM-DD`.
fn utc_date(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_millis(ms.max(0) as u64))
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(at).to_string()[..10].to_owned()
}

/// Appends `lines` (each an encoded record, without its newline) to
/// `dir/name` and syncs it to disk (and the directory, when the file is
/// new): once this returns, the records survive a crash.
pub(super) fn append_synced(dir: &Path, name: &str, lines: &[&[u8]]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    let existed = path.exists();
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for line in lines {
        debug_assert!(!line.contains(&b'\n'), "a record is one line");
        buf.extend_from_slice(line);
        buf.push(b'\n');
    }
    file.write_all(&buf)?;
    file.sync_all()?;
    if !existed {
        File::open(dir)?.sync_all()?;
    }
    Ok(path)
}

impl Store {
    /// Writes the orders with `status` (all orders when `None`) to `out`,
    /// one stored record a line, in id order (by status: oldest first);
    /// returns how many. One snapshot: what the outbox held when it began.
    pub fn export_orders(
        &self,
        status: Option<Status>,
        out: &mut dyn Write,
    ) -> Result<u64, ExportError> {
        let txn = self.read_txn()?;
        match status {
            None => export_all(&txn, out),
            Some(s) => export_status(&txn, s, out),
        }
    }
}

fn export_all(txn: &ReadTransaction, out: &mut dyn Write) -> Result<u64, ExportError> {
    let orders = txn.open_table(ORDERS).map_err(StoreError::from)?;
    let mut n = 0;
    for entry in orders.iter().map_err(StoreError::from)? {
        let (_, raw) = entry.map_err(StoreError::from)?;
        line(out, raw.value())?;
        n += 1;
    }
    Ok(n)
}

fn export_status(
    txn: &ReadTransaction,
    status: Status,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let code = status_code(status);
    let index = txn.open_table(BY_STATUS).map_err(StoreError::from)?;
    let orders = txn.open_table(ORDERS).map_err(StoreError::from)?;
    let mut n = 0;
    for entry in index
        .range((code, i64::MIN, "")..(code + 1, i64::MIN, ""))
        .map_err(StoreError::from)?
    {
        let (key, _) = entry.map_err(StoreError::from)?;
        if let Some(raw) = orders.get(key.value().2).map_err(StoreError::from)? {
            line(out, raw.value())?;
            n += 1;
        }
    }
    Ok(n)
}

fn line(out: &mut dyn Write, record: &[u8]) -> Result<(), ExportError> {
    out.write_all(record)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(ExportError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_file_is_named_by_the_dates_its_orders_were_made() {
        // 2026-03-01T23:59:59Z and 2026-03-02T00:00:01Z.
        assert_eq!(
            file_name(1_772_409_599_000, 1_772_409_601_000),
            "closed-orders-2026-03-01_2026-03-02.jsonl"
        );
        assert_eq!(
            file_name(0, -5),
            "closed-orders-1970-01-01_1970-01-01.jsonl"
        );
    }

    #[test]
    fn appending_keeps_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        let exports = dir.path().join("exports");
        append_synced(&exports, "a.jsonl", &[b"{\"n\":1}"]).unwrap();
        let path = append_synced(&exports, "a.jsonl", &[b"{\"n\":2}", b"{\"n\":3}"]).unwrap();
        assert_eq!(
            std::fs::read_to_string(path).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n"
        );
    }
}
