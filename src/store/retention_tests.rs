//! Retention on real outbox files: only acknowledged orders go, by age
//! (from their acknowledgement) and by count; each is in an export file
//! before it is gone, and nothing goes when the export cannot be written;
//! a resume from an old seq skips what went and the log's last entry
//! stays; the index stays right; reads decode only what they return; a
//! compaction gives the space back.

use super::retention::{PassReport, Policy, RetentionError};
use super::tables::{LOG, ORDERS};
use super::tests::{
    assert_index_right, backlog_by_log, backlog_ids, commit_logged, record, STREETS,
};
use super::{BacklogFilter, OrderQuery, Store};
use crate::dispatch::record::{AckRecord, OrderRecord, Status};
use crate::wire::control::{Outcome, DISTRICT};
use redb::ReadableTable;
use std::collections::BTreeSet;

const DAY: i64 = 86_400_000;
/// "Now" in these tests: 2026-03-01T00:00:00Z.
const NOW: i64 = 1_772_323_200_000;

/// Order `n` of a street (or none for every fourth), made at
/// `created_ms`, with its log entries at seq `n + 1`.
fn order(n: u64, status: Status, created_ms: i64, acked_ms: Option<i64>) -> OrderRecord {
    let street = (n % 4 != 3).then(|| STREETS[(n % 4) as usize % 3]);
    let mut r = record(n + 1, street, status, created_ms);
    r.street_seq = if street.is_some() { n + 1 } else { 0 };
    r.district_seq = n + 1;
    r.ack = acked_ms.map(|at_ms| AckRecord {
        outcome: Outcome::Confirmed,
        note: String::new(),
        by: "district".into(),
        at_ms,
    });
    r
}

fn acked(n: u64, created_ms: i64, acked_ms: i64) -> OrderRecord {
    order(n, Status::Acked, created_ms, Some(acked_ms))
}

fn policy(max_age: Option<i64>, max_count: Option<u64>, chunk: usize) -> Policy {
    Policy {
        max_age_ms: max_age,
        max_count,
        chunk,
    }
}

fn pass(store: &Store, p: &Policy) -> PassReport {
    store.retain_closed(p, NOW, &mut |_| true).unwrap()
}

fn ids(store: &Store) -> BTreeSet<String> {
    store
        .all_orders()
        .unwrap()
        .into_iter()
        .map(|r| r.order.id)
        .collect()
}

/// Every record in the export files, in the order written.
fn exported(dir: &std::path::Path) -> Vec<OrderRecord> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("exports"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<OrderRecord>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Old open and escalated orders, orders acknowledged long ago, one made
/// long ago and acknowledged yesterday, and recent acknowledged ones.
fn district_of_every_kind() -> Vec<OrderRecord> {
    let mut out = Vec::new();
    for n in 0..10 {
        out.push(order(n, Status::Open, NOW - 400 * DAY + n as i64, None));
    }
    for n in 10..20 {
        out.push(order(
            n,
            Status::Escalated,
            NOW - 400 * DAY + n as i64,
            None,
        ));
    }
    for n in 20..50 {
        let made = NOW - 300 * DAY + n as i64 * 60_000;
        out.push(acked(n, made, made + 3_600_000));
    }
    out.push(acked(50, NOW - 300 * DAY, NOW - DAY));
    for n in 51..60 {
        let made = NOW - 10 * DAY + n as i64;
        out.push(acked(n, made, made + 60_000));
    }
    out
}

#[test]
fn orders_acknowledged_before_the_age_go_and_open_and_escalated_ones_stay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let all = district_of_every_kind();
    commit_logged(&store, all.clone());
    let report = pass(&store, &policy(Some(90 * DAY), None, 7));
    assert_eq!(report.deleted, 30, "{report:?}");
    assert_eq!(report.orders_before, 60);
    assert!(report.transactions >= 5, "chunks of 7: {report:?}");
    let kept = ids(&store);
    for r in &all {
        let n: u64 = r.order.id[3..].parse().unwrap();
        let should_stay = !(21..=50).contains(&n);
        assert_eq!(kept.contains(&r.order.id), should_stay, "{}", r.order.id);
    }
    // The one made long ago and acknowledged yesterday stays.
    assert!(kept.contains(&all[50].order.id));
    assert_index_right(&store);
    assert_eq!(
        store
            .list_orders(&OrderQuery {
                status: Some(Status::Acked),
                ..OrderQuery::all(100)
            })
            .unwrap()
            .count,
        10
    );
    // A second pass finds nothing more.
    assert_eq!(pass(&store, &policy(Some(90 * DAY), None, 7)).deleted, 0);
}

#[test]
fn the_count_cap_keeps_the_newest_acknowledged_orders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let open = (0..5).map(|n| order(n, Status::Open, NOW - 500 * DAY, None));
    let closed = (5..25).map(|n| acked(n, NOW - DAY + n as i64, NOW - DAY / 2));
    commit_logged(&store, open.chain(closed));
    let report = pass(&store, &policy(None, Some(5), 4));
    assert_eq!(report.deleted, 15);
    let acked_page = store
        .list_orders(&OrderQuery {
            status: Some(Status::Acked),
            ..OrderQuery::all(100)
        })
        .unwrap();
    let left: Vec<String> = acked_page
        .orders
        .iter()
        .map(|r| r.order.id.clone())
        .collect();
    assert_eq!(
        left,
        ["TG-00025", "TG-00024", "TG-00023", "TG-00022", "TG-00021"],
        "the five newest, newest first"
    );
    assert_eq!(store.list_orders(&OrderQuery::all(0)).unwrap().count, 10);
    assert_index_right(&store);
    // Both rules at once: the cap, then the age.
    let both = pass(&store, &policy(Some(1), Some(3), 100));
    assert_eq!(both.deleted, 5, "two by the cap, the rest by age");
    assert_eq!(ids(&store).len(), 5, "the open ones");
}

#[test]
fn the_export_holds_exactly_the_deleted_records_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let all = district_of_every_kind();
    commit_logged(&store, all.clone());
    let before = ids(&store);
    let report = pass(&store, &policy(Some(90 * DAY), None, 7));
    let gone: BTreeSet<String> = before.difference(&ids(&store)).cloned().collect();
    let out = exported(dir.path());
    assert_eq!(out.len() as u64, report.exported);
    assert_eq!(report.exported, report.deleted);
    let out_ids: BTreeSet<String> = out.iter().map(|r| r.order.id.clone()).collect();
    assert_eq!(out_ids, gone);
    assert_eq!(out_ids.len(), out.len(), "each once");
    for r in &out {
        let original = all.iter().find(|a| a.order.id == r.order.id).unwrap();
        assert_eq!(r, original, "the record whole, as stored");
    }
    // Files named by the dates the orders were made, oldest first.
    let names: Vec<String> = report
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("closed-orders-2025-") && n.ends_with(".jsonl")),
        "{names:?}"
    );
}

#[test]
fn nothing_is_deleted_when_the_export_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit_logged(&store, district_of_every_kind());
    // A file where the exports directory should be.
    std::fs::write(dir.path().join("exports"), "in the way").unwrap();
    let before = ids(&store);
    let err = store
        .retain_closed(&policy(Some(90 * DAY), None, 7), NOW, &mut |_| true)
        .unwrap_err();
    assert!(matches!(err, RetentionError::Export { .. }), "{err}");
    assert_eq!(ids(&store), before);
    assert_index_right(&store);
    // The outbox still takes commits.
    commit_logged(&store, [order(70, Status::Open, NOW, None)]);
    assert_eq!(ids(&store).len(), before.len() + 1);
}

#[test]
fn a_resume_from_an_old_seq_gets_what_is_still_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut all = district_of_every_kind();
    // The newest entry of the district's log is an order acknowledged
    // long ago: it goes, its log entry stays (the next order is numbered
    // after it).
    all.push(acked(60, NOW - 200 * DAY, NOW - 200 * DAY));
    commit_logged(&store, all);
    let last = store.last_seq(DISTRICT).unwrap();
    assert_eq!(last, 61);
    pass(&store, &policy(Some(90 * DAY), None, 1000));
    assert_eq!(store.last_seq(DISTRICT).unwrap(), last);
    assert!(store.order("TG-00061").unwrap().is_none());
    for scope in STREETS.iter().copied().chain([DISTRICT]) {
        for after in [0, 5, 25, 50] {
            for which in [BacklogFilter::All, BacklogFilter::Unacked] {
                let got = backlog_ids(&store, scope, after, which);
                assert_eq!(got, backlog_by_log(&store, scope, after, which));
                assert!(got.iter().all(|(_, id)| store.order(id).unwrap().is_some()));
            }
        }
    }
    let from_5: Vec<u64> = backlog_ids(&store, DISTRICT, 5, BacklogFilter::All)
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    let want: Vec<u64> = (6..=20).chain(51..=60).collect();
    assert_eq!(from_5, want, "the deleted orders' seqs are skipped");
}

#[test]
fn the_log_entries_of_a_deleted_order_go_with_it_earlier_revisions_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Revision 1 at seqs 1 (street and district); revision 2 at seq 3;
    // others after it in both logs.
    let mut first = acked(0, NOW - 200 * DAY, NOW - 200 * DAY);
    first.status = Status::Open;
    first.ack = None;
    commit_logged(&store, [first]);
    commit_logged(&store, [order(1, Status::Open, NOW, None)]);
    let mut second = acked(0, NOW - 200 * DAY, NOW - 200 * DAY);
    second.street_seq = 3;
    second.district_seq = 3;
    commit_logged(&store, [second]);
    commit_logged(&store, [order(3, Status::Open, NOW, None)]);
    commit_logged(&store, [order(4, Status::Open, NOW, None)]);
    let report = pass(&store, &policy(Some(90 * DAY), None, 10));
    assert_eq!(report.deleted, 1);
    let txn = store.read_txn().unwrap();
    let log: Vec<(String, u64, String)> = txn
        .open_table(LOG)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value().0.to_owned(), k.value().1, v.value().to_owned())
        })
        .collect();
    assert_eq!(report.log_entries_deleted, 4, "{log:?}");
    assert!(log.iter().all(|(_, _, id)| id != "TG-00001"), "{log:?}");
    assert_eq!(log.len(), 5, "the three open orders' entries: {log:?}");
}

#[test]
fn a_pass_stops_between_transactions_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit_logged(&store, district_of_every_kind());
    let mut held = Vec::new();
    let report = store
        .retain_closed(&policy(Some(90 * DAY), None, 4), NOW, &mut |d| {
            held.push(d);
            false
        })
        .unwrap();
    assert_eq!((report.deleted, report.transactions, held.len()), (4, 1, 1));
    assert_index_right(&store);
}

/// Acknowledged orders whose stored records cannot be decoded: any read
/// that decoded one would fail. Lists of open orders, counts, the
/// backlog from seq 0 and the district's figures read around them.
#[test]
fn reads_decode_only_the_orders_they_return() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let n = 2_000;
    let closed = (0..n).map(|k| acked(k, NOW - 30 * DAY + k as i64, NOW - 29 * DAY));
    let open = (n..n + 20).map(|k| order(k, Status::Open, NOW - DAY + k as i64, None));
    commit_logged(&store, closed.chain(open));
    store
        .with_db(|db| {
            let txn = db.begin_write()?;
            {
                let mut orders = txn.open_table(ORDERS)?;
                for k in 0..n {
                    orders.insert(format!("TG-{:05}", k + 1).as_str(), b"not json".as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .unwrap();
    assert!(store.all_orders().is_err(), "a scan would decode them");
    let newest = store.list_orders(&OrderQuery::all(10)).unwrap();
    assert_eq!((newest.count, newest.orders.len()), (2_020, 10));
    let acked_count = store
        .list_orders(&OrderQuery {
            status: Some(Status::Acked),
            ..OrderQuery::all(0)
        })
        .unwrap()
        .count;
    assert_eq!(acked_count, 2_000);
    let backlog = store
        .backlog(DISTRICT, 0, BacklogFilter::Unacked, 256)
        .unwrap();
    assert_eq!(backlog.len(), 20);
    assert!(store.acked_since(NOW - 7 * DAY, 1_000).unwrap().is_empty());
    let counts = store.status_counts().unwrap();
    assert_eq!(
        counts,
        [
            (Status::Open, 20),
            (Status::Acked, 2_000),
            (Status::Escalated, 0)
        ]
    );
}

#[test]
fn compaction_gives_back_the_space_of_deleted_orders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for chunk in 0..10u64 {
        commit_logged(
            &store,
            (chunk * 300..(chunk + 1) * 300)
                .map(|k| acked(k, NOW - 200 * DAY + k as i64, NOW - 199 * DAY)),
        );
    }
    commit_logged(
        &store,
        (3_000..3_010).map(|k| order(k, Status::Open, NOW, None)),
    );
    let report = pass(&store, &policy(Some(90 * DAY), None, 1_000));
    assert_eq!(report.deleted, 3_000);
    assert!(report.deleted_more_than(0.2));
    let c = store.compact().unwrap();
    assert!(
        c.after_bytes * 2 < c.before_bytes,
        "compacted {} -> {} bytes",
        c.before_bytes,
        c.after_bytes
    );
    assert_eq!(c.after_bytes, store.file_bytes());
    assert_index_right(&store);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.list_orders(&OrderQuery::all(0)).unwrap().count, 10);
}

#[test]
fn an_acknowledged_order_that_cannot_be_read_stays_and_the_pass_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit_logged(
        &store,
        (0..10).map(|k| acked(k, NOW - 200 * DAY + k as i64, NOW - 199 * DAY)),
    );
    store
        .with_db(|db| {
            let txn = db.begin_write()?;
            txn.open_table(ORDERS)?
                .insert("TG-00004", b"not json".as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .unwrap();
    let report = pass(&store, &policy(Some(90 * DAY), None, 3));
    assert_eq!(report.deleted, 9);
    assert_eq!(store.list_orders(&OrderQuery::all(0)).unwrap().count, 1);
    assert!(
        store.order("TG-00004").is_err(),
        "kept, unreadable as it was"
    );
    // Not an I/O error: the outbox stays open.
    commit_logged(&store, [order(20, Status::Open, NOW, None)]);
}
