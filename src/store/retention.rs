//! Retention of closed orders: the outbox keeps every order that is not
//! acknowledged (open, or escalated and not acknowledged) for ever, and
//! an acknowledged one until it is older than `retain_closed_for` (since
//! its acknowledgement) or more than `retain_closed_max` acknowledged
//! orders are kept (the oldest, by when they were made, go first).
//!
//! An order goes in a transaction of at most `orders_per_transaction`:
//! its record is appended to an export file (export.rs) and synced before
//! the transaction removes the record, its index keys and its latest log
//! entries, and commits. The transaction is all there is of the
//! deletion, so a crash leaves each order either kept or gone and
//! exported. Between transactions the pass gives the dispatcher at least
//! as long as it held the outbox. The older log entries of the deleted
//! orders (earlier revisions) and any entry no backlog can send any more
//! are swept afterwards, up to the highest entry deleted in each scope.
//! The last entry of a scope's log is never deleted: the dispatcher
//! numbers the next order after it.
//!
//! What this means for a subscriber resuming from an old seq: it gets
//! what is still kept after that seq (every order not acknowledged, and
//! the acknowledged ones retention has not deleted); a deleted order's
//! entries are skipped.
//!
//! The runtime runs a pass at start and every `retention_interval` on a
//! thread of its own (runtime/retention.rs).

use super::export::{append_synced, exports_dir, file_name};
use super::index::{Index, ACKED};
use super::tables::{decode, BY_STATUS, LOG, ORDERS};
use super::{Store, StoreError};
use crate::config::retention::RetentionConfig;
use crate::dispatch::record::{OrderRecord, Status};
use redb::{Database, ReadableTable, WriteTransaction};
use std::collections::HashMap;
use std::ops::Bound;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Log entries one sweep transaction reads at most.
const SWEEP_CHUNK: usize = 50_000;

/// What retention keeps of the acknowledged orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// An order acknowledged this long ago (ms) or longer goes; `None`:
    /// no age limit.
    pub max_age_ms: Option<i64>,
    /// At most this many acknowledged orders stay; `None`: no cap.
    pub max_count: Option<u64>,
    /// Orders deleted in one transaction at most.
    pub chunk: usize,
}

impl Policy {
    /// The policy a `[retention]` table asks for.
    pub fn from_config(c: &RetentionConfig) -> Policy {
        Policy {
            max_age_ms: (!c.retain_closed_for.is_zero())
                .then(|| i64::try_from(c.retain_closed_for.as_millis()).unwrap_or(i64::MAX)),
            max_count: (c.retain_closed_max > 0).then_some(c.retain_closed_max),
            chunk: c.orders_per_transaction.max(1),
        }
    }

    /// Whether it keeps everything.
    pub fn keeps_all(&self) -> bool {
        self.max_age_ms.is_none() && self.max_count.is_none()
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PassReport {
    /// Orders in the outbox when the pass began.
    pub orders_before: u64,
    /// Orders deleted, each exported first.
    pub deleted: u64,
    /// Records appended to export files: `deleted`, and more only when a
    /// transaction failed after its export (those are exported again).
    pub exported: u64,
    /// The export files appended to, in the order written.
    pub files: Vec<PathBuf>,
    /// Log entries deleted: the deleted orders' and those no backlog
    /// sends any more.
    pub log_entries_deleted: u64,
    /// Write transactions the pass made.
    pub transactions: u64,
    /// The longest a deleting transaction held the outbox (export and
    /// commit included).
    pub longest_hold: Duration,
    /// The longest a sweep of the logs held it.
    pub longest_sweep: Duration,
}

impl PassReport {
    /// Counts a write transaction (a sweep's or not) that held the outbox
    /// for `held`, and asks `go_on` whether to go on.
    fn went_on(
        &mut self,
        held: Duration,
        sweep: bool,
        go_on: &mut dyn FnMut(Duration) -> bool,
    ) -> bool {
        self.transactions += 1;
        let longest = if sweep {
            &mut self.longest_sweep
        } else {
            &mut self.longest_hold
        };
        *longest = (*longest).max(held);
        go_on(held)
    }

    /// Whether the pass deleted more than `share` of the orders.
    pub fn deleted_more_than(&self, share: f64) -> bool {
        share > 0.0 && self.deleted as f64 > share * self.orders_before as f64
    }
}

/// Why a retention pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// The outbox could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An export file could not be written or synced: the orders of that
    /// chunk were not deleted.
    #[error("cannot write the export {path}; the orders meant for it were kept")]
    Export {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Which acknowledged orders go, decided oldest first (by when they were
/// made): while more are kept than the cap allows, the oldest; then those
/// acknowledged before the cutoff. Made before the cutoff is necessary to
/// have been acknowledged before it, so the walk stops at the first order
/// made after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    /// Orders acknowledged before this (Unix ms) go; `i64::MIN`: none.
    cutoff_ms: i64,
    /// How many more must go to be within the cap.
    excess: u64,
}

/// What [`Rule`] says of one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Export and delete it.
    Delete,
    /// Keep it and look at the next.
    Keep,
    /// Keep it and every order after it.
    Stop,
}

impl Rule {
    fn new(policy: &Policy, now_ms: i64, acked: u64) -> Rule {
        Rule {
            cutoff_ms: policy
                .max_age_ms
                .map_or(i64::MIN, |age| now_ms.saturating_sub(age)),
            excess: policy.max_count.map_or(0, |max| acked.saturating_sub(max)),
        }
    }

    /// The verdict from the index key alone, when it needs no more.
    fn by_key(&self, created_ms: i64) -> Option<Verdict> {
        if self.excess > 0 {
            Some(Verdict::Delete)
        } else if created_ms >= self.cutoff_ms {
            Some(Verdict::Stop)
        } else {
            None
        }
    }

    /// The verdict once the order's acknowledgement time is known.
    fn by_closed(&self, closed_ms: i64) -> Verdict {
        if closed_ms < self.cutoff_ms {
            Verdict::Delete
        } else {
            Verdict::Keep
        }
    }

    /// An order was chosen for deletion.
    fn took_one(&mut self) {
        self.excess = self.excess.saturating_sub(1);
    }
}

/// When an order was closed: its acknowledgement, else its last history
/// line, else its revision's time.
fn closed_ms(r: &OrderRecord) -> i64 {
    r.ack.as_ref().map_or_else(
        || r.history.last().map_or(r.order.created_ms, |h| h.at_ms),
        |a| a.at_ms,
    )
}

/// The orders one transaction deletes: (created_ms, id, stored bytes).
struct Chosen {
    orders: Vec<(i64, String, Vec<u8>)>,
    /// The last index key looked at: the next transaction starts after it.
    cursor: Option<(i64, String)>,
    /// Nothing after the cursor can go.
    done: bool,
}

/// Where the pass is between transactions.
struct Walk {
    rule: Rule,
    cursor: Option<(i64, String)>,
    /// The last entry of each scope's log, as last seen (it only grows,
    /// so an old value keeps more, never less).
    last_seq: HashMap<String, u64>,
    /// The highest entry deleted in each scope: the sweep's end.
    swept_to: HashMap<String, u64>,
}

impl Store {
    /// One retention pass at `now_ms`: exports and deletes the acknowledged
    /// orders `policy` lets go, then sweeps the logs. After each
    /// transaction `go_on` is told how long it held the outbox and says
    /// whether to go on (the driver waits there, and stops on shutdown).
    pub fn retain_closed(
        &self,
        policy: &Policy,
        now_ms: i64,
        go_on: &mut dyn FnMut(Duration) -> bool,
    ) -> Result<PassReport, RetentionError> {
        let counts = self.status_counts()?;
        let acked = counts
            .iter()
            .find(|(s, _)| *s == Status::Acked)
            .map_or(0, |c| c.1);
        let mut report = PassReport {
            orders_before: counts.iter().map(|c| c.1).sum(),
            ..PassReport::default()
        };
        if policy.keeps_all() {
            return Ok(report);
        }
        let mut walk = Walk {
            rule: Rule::new(policy, now_ms, acked),
            cursor: None,
            last_seq: HashMap::new(),
            swept_to: HashMap::new(),
        };
        loop {
            let Some((done, held)) =
                self.write(|db| self.delete_chunk(db, policy, &mut walk, &mut report))?
            else {
                break;
            };
            if !report.went_on(held, false, go_on) {
                return Ok(report);
            }
            if done {
                break;
            }
        }
        let mut scopes: Vec<(String, u64)> = walk.swept_to.drain().collect();
        scopes.sort();
        for (scope, to) in scopes {
            let mut from = Some(1);
            while let Some(start) = from {
                let held;
                (from, held) = self.sweep_step(&scope, start, to, &mut walk, &mut report)?;
                if !report.went_on(held, true, go_on) {
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// Runs a write on the open database; an I/O error closes it, as a
    /// failed commit does (redb wants a reopen after one; the next commit
    /// of the dispatcher opens it again).
    fn write<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, RetentionError>,
    ) -> Result<T, RetentionError> {
        let result = {
            let guard = self.db.read().expect("outbox lock");
            match guard.as_ref() {
                Some(db) => f(db),
                None => Err(StoreError::Closed.into()),
            }
        };
        if let Err(RetentionError::Store(StoreError::Io(_))) = &result {
            drop(self.db.write().expect("outbox lock").take());
        }
        result
    }

    /// One transaction: chooses, exports and deletes a chunk. `None` when
    /// nothing was left to delete; else whether the walk is done, and how
    /// long the transaction held the outbox (from its start, once the
    /// dispatcher's commit before it was done, to its commit).
    fn delete_chunk(
        &self,
        db: &Database,
        policy: &Policy,
        walk: &mut Walk,
        report: &mut PassReport,
    ) -> Result<Option<(bool, Duration)>, RetentionError> {
        let txn = db.begin_write().map_err(StoreError::from)?;
        let began = Instant::now();
        let chosen = choose(&txn, &mut walk.rule, walk.cursor.as_ref(), policy.chunk)?;
        walk.cursor = chosen.cursor;
        if chosen.orders.is_empty() {
            txn.abort().map_err(StoreError::from)?;
            return Ok((!chosen.done).then_some((false, began.elapsed())));
        }
        // On disk elsewhere before anything is deleted.
        let first = chosen.orders.first().map_or(0, |o| o.0);
        let last = chosen.orders.last().map_or(0, |o| o.0);
        let name = file_name(first, last);
        let dir = exports_dir(&self.path);
        let lines: Vec<&[u8]> = chosen.orders.iter().map(|o| o.2.as_slice()).collect();
        let path = append_synced(&dir, &name, &lines).map_err(|source| RetentionError::Export {
            path: dir.join(&name),
            source,
        })?;
        report.exported += lines.len() as u64;
        if report.files.last() != Some(&path) {
            report.files.push(path);
        }
        let ids = chosen.orders.iter().map(|o| o.1.as_str());
        report.log_entries_deleted += delete(&txn, ids, walk)?;
        txn.commit().map_err(StoreError::from)?;
        report.deleted += chosen.orders.len() as u64;
        Ok(Some((chosen.done, began.elapsed())))
    }

    /// One sweep transaction over `scope`'s log from `from` to `to`;
    /// returns where the next starts (`None` when the range is done) and
    /// how long it held the outbox.
    fn sweep_step(
        &self,
        scope: &str,
        from: u64,
        to: u64,
        walk: &mut Walk,
        report: &mut PassReport,
    ) -> Result<(Option<u64>, Duration), RetentionError> {
        self.write(|db| {
            let txn = db.begin_write().map_err(StoreError::from)?;
            let began = Instant::now();
            let last = last_entry(
                &txn.open_table(LOG).map_err(StoreError::from)?,
                scope,
                &mut walk.last_seq,
            )?;
            let (deleted, next) = sweep(&txn, scope, from, to.min(last.saturating_sub(1)))?;
            txn.commit().map_err(StoreError::from)?;
            report.log_entries_deleted += deleted;
            Ok((next, began.elapsed()))
        })
    }
}

/// Chooses, oldest first from `cursor`, the acknowledged orders of one
/// transaction: at most `chunk`, looking at no more than a few times as
/// many (those kept are decoded to read their acknowledgement time).
fn choose(
    txn: &WriteTransaction,
    rule: &mut Rule,
    cursor: Option<&(i64, String)>,
    chunk: usize,
) -> Result<Chosen, StoreError> {
    let index = txn.open_table(BY_STATUS)?;
    let orders = txn.open_table(ORDERS)?;
    let start = match cursor {
        Some((created_ms, id)) => Bound::Excluded((ACKED, *created_ms, id.as_str())),
        None => Bound::Included((ACKED, i64::MIN, "")),
    };
    let end = Bound::Excluded((ACKED + 1, i64::MIN, ""));
    let mut chosen = Chosen {
        orders: Vec::new(),
        cursor: cursor.cloned(),
        done: true,
    };
    let budget = chunk.saturating_mul(4);
    for (looked, entry) in index.range((start, end))?.enumerate() {
        if chosen.orders.len() >= chunk || looked >= budget {
            chosen.done = false;
            break;
        }
        let (key, _) = entry?;
        let (_, created_ms, id) = key.value();
        let verdict = rule.by_key(created_ms);
        if verdict == Some(Verdict::Stop) {
            break;
        }
        chosen.cursor = Some((created_ms, id.to_owned()));
        let Some(raw) = orders.get(id)? else {
            continue;
        };
        let raw = raw.value();
        let verdict = match verdict {
            Some(v) => v,
            None => match decode(id, raw) {
                Ok(r) => rule.by_closed(closed_ms(&r)),
                // When it was acknowledged cannot be read: it stays (a
                // pass that stopped at it would stop at it every time).
                Err(e) => {
                    tracing::warn!(error = %e.chain(), "acknowledged order kept by retention");
                    Verdict::Keep
                }
            },
        };
        if verdict == Verdict::Delete {
            rule.took_one();
            chosen
                .orders
                .push((created_ms, id.to_owned(), raw.to_vec()));
        }
    }
    Ok(chosen)
}

/// Deletes the orders `ids`, their index keys and their latest log
/// entries (not the last of a scope); returns how many log entries went.
fn delete<'a>(
    txn: &WriteTransaction,
    ids: impl Iterator<Item = &'a str>,
    walk: &mut Walk,
) -> Result<u64, StoreError> {
    let mut entries = Vec::new();
    {
        let mut orders = txn.open_table(ORDERS)?;
        let mut index = Index::open(txn)?;
        for id in ids {
            orders.remove(id)?;
            if let Some(removed) = index.remove(id)? {
                debug_assert_eq!(removed.status, ACKED, "only acknowledged orders go");
                entries.extend(removed.log_entries().map(|(s, q)| (s.to_owned(), q)));
            }
        }
    }
    let mut log = txn.open_table(LOG)?;
    let mut deleted = 0;
    for (scope, seq) in entries {
        let last = last_entry(&log, &scope, &mut walk.last_seq)?;
        if seq < last && log.remove((scope.as_str(), seq))?.is_some() {
            deleted += 1;
        }
        let to = walk.swept_to.entry(scope).or_insert(0);
        *to = (*to).max(seq);
    }
    Ok(deleted)
}

/// The last entry of `scope`'s log, read once a pass.
fn last_entry(
    log: &impl ReadableTable<(&'static str, u64), &'static str>,
    scope: &str,
    cache: &mut HashMap<String, u64>,
) -> Result<u64, StoreError> {
    if let Some(&last) = cache.get(scope) {
        return Ok(last);
    }
    let last = match log.range((scope, 0)..=(scope, u64::MAX))?.next_back() {
        Some(entry) => entry?.0.value().1,
        None => 0,
    };
    cache.insert(scope.to_owned(), last);
    Ok(last)
}

/// Deletes the entries of `scope`'s log from `from` to `to` that no
/// backlog sends (their order is gone, or has a later entry), reading at
/// most [`SWEEP_CHUNK`]; returns how many went and where to go on.
fn sweep(
    txn: &WriteTransaction,
    scope: &str,
    from: u64,
    to: u64,
) -> Result<(u64, Option<u64>), StoreError> {
    if from > to {
        return Ok((0, None));
    }
    let index = Index::open(txn)?;
    let mut log = txn.open_table(LOG)?;
    let mut dead = Vec::new();
    let mut next = None;
    for (looked, entry) in log.range((scope, from)..=(scope, to))?.enumerate() {
        let (key, id) = entry?;
        let seq = key.value().1;
        if looked >= SWEEP_CHUNK {
            next = Some(seq);
            break;
        }
        if !index.is_latest(scope, seq, id.value())? {
            dead.push(seq);
        }
    }
    for &seq in &dead {
        log.remove((scope, seq))?;
    }
    Ok((dead.len() as u64, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(max_age_ms: Option<i64>, max_count: Option<u64>, acked: u64) -> Rule {
        let policy = Policy {
            max_age_ms,
            max_count,
            chunk: 10,
        };
        Rule::new(&policy, 1_000_000, acked)
    }

    #[test]
    fn the_cap_takes_the_oldest_whatever_their_age() {
        let mut r = rule(None, Some(3), 5);
        assert_eq!(r.by_key(999_999), Some(Verdict::Delete));
        r.took_one();
        assert_eq!(r.by_key(999_999), Some(Verdict::Delete));
        r.took_one();
        assert_eq!(
            r.by_key(0),
            Some(Verdict::Stop),
            "three left: within the cap"
        );
    }

    #[test]
    fn the_age_counts_from_the_acknowledgement() {
        let r = rule(Some(100_000), None, 5);
        assert_eq!(
            r.by_key(950_000),
            Some(Verdict::Stop),
            "made after the cutoff"
        );
        assert_eq!(r.by_key(850_000), None, "made before: when was it acked?");
        assert_eq!(r.by_closed(899_999), Verdict::Delete);
        assert_eq!(
            r.by_closed(900_000),
            Verdict::Keep,
            "acked at the cutoff stays"
        );
    }

    #[test]
    fn no_limit_keeps_everything() {
        let policy = Policy::from_config(&RetentionConfig {
            retain_closed_for: Duration::ZERO,
            retain_closed_max: 0,
            ..RetentionConfig::default()
        });
        assert!(policy.keeps_all());
        assert_eq!(
            rule(None, None, 10).by_key(i64::MIN + 1),
            Some(Verdict::Stop)
        );
    }
}
