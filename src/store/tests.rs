//! The order index against a scan of every order: lists and their counts
//! agree after new orders, updates that move an order's time, street or
//! severity, and status changes; the pending entries are exactly the
//! unacknowledged orders at their latest log entries, and the backlog
//! read through them is what a walk of the log gives; an outbox written
//! without the index (or with the first version of it) gets one at open.

use super::index::{COUNTS, PENDING, SEQS};
use super::tables::{decode, encode, BY_STATUS, BY_STREET, INDEXED, LOG, META, ORDERS};
use super::{BacklogFilter, Batch, OrderQuery, Store, StreetFilter};
use crate::dispatch::record::{OrderRecord, Status};
use crate::dispatch::{Order, Place, StreetRef};
use crate::model::{Category, Severity, Source};
use crate::wire::control::DISTRICT;
use redb::{ReadableTable, ReadableTableMetadata};
use std::collections::BTreeSet;

pub(super) const STREETS: [&str; 3] = ["310107005000", "310107011000", "310107014000"];

pub(super) fn record(n: u64, street: Option<&str>, status: Status, created_ms: i64) -> OrderRecord {
    OrderRecord {
        order: Order {
            id: format!("TG-{n:05}"),
            revision: 1,
            seq: n,
            created_ms,
            severity: Severity::Major,
            category: Category::Smoke,
            incident_kind: "fire".into(),
            multi_source: false,
            sources: vec![Source::Sensor],
            place: Place {
                cell: "893099586d7ffff".into(),
                lat: 31.25,
                lon: 121.41,
                street: street.map(|code| StreetRef {
                    code: code.into(),
                    name: "街道".into(),
                    name_en: "Street".into(),
                }),
            },
            events: Vec::new(),
            event_count: 1,
            plan: "核查".into(),
            deadline_ms: created_ms + 300_000,
            camera: None,
            first_seen_ms: created_ms,
            last_seen_ms: created_ms,
            repeat: 0,
            escalation_of: None,
            late_ms: None,
            accept_by_ms: None,
            disposal: None,
        },
        status,
        street_seq: n,
        district_seq: n,
        ack: None,
        history: Vec::new(),
        disposal: Default::default(),
    }
}

/// A mixed outbox: streets and none, every status, severities, some
/// escalations, and times that repeat (ties broken by id).
pub(super) fn mixed(n: u64) -> OrderRecord {
    let street = match n % 4 {
        3 => None,
        k => Some(STREETS[k as usize]),
    };
    let status = Status::ALL[(n / 4 % 3) as usize];
    let mut r = record(n, street, status, 1_000 + (n as i64 / 3));
    r.order.severity = Severity::ALL[(n % 7 % 4) as usize];
    if n.is_multiple_of(5) {
        r.order.escalation_of = Some(format!("TG-{:05}", n + 1));
    }
    r
}

pub(super) fn commit(store: &Store, records: impl IntoIterator<Item = OrderRecord>) {
    store
        .commit(&Batch {
            orders: records.into_iter().collect(),
            ..Batch::default()
        })
        .unwrap();
}

/// Every query shape the hub asks, with a small and a large limit.
fn queries() -> Vec<OrderQuery> {
    let mut streets = vec![StreetFilter::Any, StreetFilter::NoStreet];
    streets.extend(STREETS.map(|s| StreetFilter::Code(s.into())));
    streets.push(StreetFilter::Code("310107999000".into()));
    let mut out = Vec::new();
    for street in &streets {
        for status in [
            None,
            Some(Status::Open),
            Some(Status::Acked),
            Some(Status::Escalated),
        ] {
            for severity in [None, Some(Severity::Critical)] {
                for escalations in [true, false] {
                    for limit in [0, 3, 1000] {
                        out.push(OrderQuery {
                            status,
                            street: street.clone(),
                            severity,
                            escalations,
                            limit,
                        });
                    }
                }
            }
        }
    }
    out
}

/// What a scan of every order answers: the count and the ids listed.
fn scanned(store: &Store, q: &OrderQuery) -> (usize, Vec<String>) {
    let mut all: Vec<OrderRecord> = store
        .all_orders()
        .unwrap()
        .into_iter()
        .filter(|r| q.matches(r))
        .collect();
    all.sort_by(|a, b| {
        b.order
            .created_ms
            .cmp(&a.order.created_ms)
            .then(b.order.id.cmp(&a.order.id))
    });
    let ids = all
        .iter()
        .take(q.limit)
        .map(|r| r.order.id.clone())
        .collect();
    (all.len(), ids)
}

/// Commits records with their log entries, as the dispatcher writes them:
/// (street, street_seq) for a street's order, (district, district_seq).
pub(super) fn commit_logged(store: &Store, records: impl IntoIterator<Item = OrderRecord>) {
    let mut batch = Batch::default();
    for r in records {
        if let Some(street) = r.order.street_code().filter(|_| r.street_seq > 0) {
            batch
                .log
                .push((street.to_owned(), r.street_seq, r.order.id.clone()));
        }
        batch
            .log
            .push((DISTRICT.to_owned(), r.district_seq, r.order.id.clone()));
        batch.orders.push(r);
    }
    store.commit(&batch).unwrap();
}

/// What the backlog was before it had pending entries: a walk of the
/// scope's log, each order at its latest entry, that `which` admits.
pub(super) fn backlog_by_log(
    store: &Store,
    scope: &str,
    after: u64,
    which: BacklogFilter,
) -> Vec<(u64, String)> {
    let txn = store.read_txn().unwrap();
    let log = txn.open_table(LOG).unwrap();
    let orders = txn.open_table(ORDERS).unwrap();
    let mut out = Vec::new();
    for entry in log.range((scope, after + 1)..=(scope, u64::MAX)).unwrap() {
        let (key, id) = entry.unwrap();
        let seq = key.value().1;
        let Some(raw) = orders.get(id.value()).unwrap() else {
            continue;
        };
        let r = decode(id.value(), raw.value()).unwrap();
        let scope_ok = scope == DISTRICT || r.order.street_code() == Some(scope);
        if r.seq_in(scope) == seq && scope_ok && which.admits(r.status) {
            out.push((seq, r.order.id));
        }
    }
    out
}

/// The backlog as the store reads it, in chunks as a subscriber's
/// catch-up does.
pub(super) fn backlog_ids(
    store: &Store,
    scope: &str,
    mut after: u64,
    which: BacklogFilter,
) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    loop {
        let chunk = store.backlog(scope, after, which, 7).unwrap();
        let done = chunk.len() < 7;
        for (seq, r) in chunk {
            after = seq;
            out.push((seq, r.order.id));
        }
        if done {
            return out;
        }
    }
}

/// Every query lists what a scan lists, and the index has one entry per
/// order in each table, counts that sum to the orders, and a pending
/// entry for each unacknowledged order in each log it is in.
pub(super) fn assert_index_right(store: &Store) {
    for q in queries() {
        let page = store.list_orders(&q).unwrap();
        let ids: Vec<String> = page.orders.iter().map(|r| r.order.id.clone()).collect();
        assert_eq!((page.count, ids), scanned(store, &q), "{q:?}");
    }
    let txn = store.read_txn().unwrap();
    let orders = txn.open_table(ORDERS).unwrap().len().unwrap();
    assert_eq!(txn.open_table(BY_STATUS).unwrap().len().unwrap(), orders);
    assert_eq!(txn.open_table(BY_STREET).unwrap().len().unwrap(), orders);
    assert_eq!(txn.open_table(INDEXED).unwrap().len().unwrap(), orders);
    assert_eq!(txn.open_table(SEQS).unwrap().len().unwrap(), orders);
    let mut counted = 0;
    for entry in txn.open_table(COUNTS).unwrap().iter().unwrap() {
        let (key, n) = entry.unwrap();
        assert!(
            n.value() > 0,
            "a count at zero is removed: {:?}",
            key.value()
        );
        counted += n.value();
    }
    assert_eq!(counted, orders);
    let mut want = BTreeSet::new();
    for r in store.all_orders().unwrap() {
        if r.status == Status::Acked {
            continue;
        }
        if let Some(street) = r.order.street_code().filter(|_| r.street_seq > 0) {
            want.insert((street.to_owned(), r.street_seq, r.order.id.clone()));
        }
        // Seqs start at 1; a record with 0 (made up by a test) is in no log.
        if r.district_seq > 0 {
            want.insert((DISTRICT.to_owned(), r.district_seq, r.order.id.clone()));
        }
    }
    let pending: BTreeSet<(String, u64, String)> = txn
        .open_table(PENDING)
        .unwrap()
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            let (scope, seq) = k.value();
            (scope.to_owned(), seq, v.value().to_owned())
        })
        .collect();
    assert_eq!(pending, want);
}

#[test]
fn lists_agree_with_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit(&store, (0..120).map(mixed));
    assert_index_right(&store);
}

#[test]
fn index_kept_right_across_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit(&store, (0..90).map(mixed));
    // Updates: a new revision moves the time; some move street, lose it,
    // change severity; one order twice in one batch.
    let updates = (0..90).step_by(4).map(|n| {
        let mut r = mixed(n);
        r.order.revision = 2;
        r.order.created_ms = 5_000 - n as i64;
        r.order.place.street = match n % 3 {
            0 => None,
            k => Some(StreetRef {
                code: STREETS[k as usize].into(),
                name: "街道".into(),
                name_en: "Street".into(),
            }),
        };
        r.order.severity = Severity::Critical;
        r
    });
    let mut twice = mixed(7);
    twice.order.created_ms = 9_000;
    commit(&store, updates.chain([mixed(7), twice]));
    assert_index_right(&store);
    let newest = store.list_orders(&OrderQuery::all(1)).unwrap();
    assert_eq!(newest.orders[0].order.id, "TG-00007");
    assert_eq!(newest.count, 90);
}

#[test]
fn status_changes_move_the_order_between_lists() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let street = STREETS[0];
    commit(
        &store,
        (0..10).map(|n| record(n, Some(street), Status::Open, 100 + n as i64)),
    );
    let count = |status| {
        let q = OrderQuery {
            status: Some(status),
            street: StreetFilter::Code(street.into()),
            ..OrderQuery::all(100)
        };
        let page = store.list_orders(&q).unwrap();
        assert_eq!(page.count, page.orders.len());
        (
            page.count,
            page.orders.iter().any(|r| r.order.id == "TG-00003"),
        )
    };
    assert_eq!(count(Status::Open), (10, true));
    let mut r = record(3, Some(street), Status::Open, 100 + 3);
    for (status, at) in [(Status::Escalated, 500), (Status::Acked, 600)] {
        r.status = status;
        r.history.push(crate::dispatch::record::HistoryEntry {
            at_ms: at,
            what: status.name().into(),
            detail: String::new(),
            by: None,
        });
        commit(&store, [r.clone()]);
        assert_eq!(count(status), (1, true));
    }
    assert_eq!(count(Status::Open), (9, false));
    assert_eq!(count(Status::Escalated), (0, false));
    assert_eq!(count(Status::Acked), (1, true));
    let all = store.list_orders(&OrderQuery::all(100)).unwrap();
    assert_eq!(all.count, 10);
    assert_eq!(all.orders[6].order.id, "TG-00003");
    assert_eq!(all.orders[6].status, Status::Acked);
    assert_eq!(all.orders[6].history.len(), 2);
    assert_index_right(&store);
}

/// An outbox as the version before the index wrote it: orders, log and
/// devices, no index tables and no marker.
fn write_without_index(dir: &std::path::Path, records: &[OrderRecord]) {
    let db = redb::Database::create(dir.join("outbox.redb")).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut orders = txn.open_table(ORDERS).unwrap();
        let mut log = txn.open_table(LOG).unwrap();
        for r in records {
            orders
                .insert(r.order.id.as_str(), encode(r).as_slice())
                .unwrap();
            log.insert(("district", r.district_seq), r.order.id.as_str())
                .unwrap();
        }
    }
    txn.commit().unwrap();
}

#[test]
fn index_built_at_open_for_an_outbox_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<OrderRecord> = (0..60).map(mixed).collect();
    write_without_index(dir.path(), &records);
    let store = Store::open(dir.path()).unwrap();
    assert_index_right(&store);
    assert_eq!(store.list_orders(&OrderQuery::all(0)).unwrap().count, 60);
    assert_eq!(store.last_seq("district").unwrap(), 59);
    // Written once: the marker is there, and later commits keep it right.
    {
        let txn = store.read_txn().unwrap();
        let meta = txn.open_table(META).unwrap();
        assert!(meta.get("order_index").unwrap().is_some());
    }
    commit(&store, (60..80).map(mixed));
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_index_right(&store);
}

#[test]
fn index_rebuilt_when_it_misses_orders() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        commit(&store, (0..30).map(mixed));
    }
    // Orders written behind the index's back (a version that did not
    // keep it): the counts differ, so the next open rebuilds.
    {
        let db = redb::Database::create(dir.path().join("outbox.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut orders = txn.open_table(ORDERS).unwrap();
            for r in (30..40).map(mixed) {
                orders
                    .insert(r.order.id.as_str(), encode(&r).as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.list_orders(&OrderQuery::all(0)).unwrap().count, 40);
    assert_index_right(&store);
}

#[test]
fn the_backlog_of_what_is_not_acknowledged_reads_the_pending_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    commit_logged(&store, (0..120).map(mixed));
    // Updates take new log entries (seqs past the first ones); acks and
    // escalations change the status in place.
    let updates = (0..120).step_by(3).map(|n| {
        let mut r = mixed(n);
        r.order.revision = 2;
        r.street_seq = 1_000 + n;
        r.district_seq = 1_000 + n;
        r.status = match n % 9 {
            0 => Status::Acked,
            3 => Status::Escalated,
            _ => Status::Open,
        };
        r
    });
    commit_logged(&store, updates);
    assert_index_right(&store);
    let scopes = STREETS.iter().copied().chain([DISTRICT, "310107999000"]);
    for scope in scopes {
        for after in [0, 1, 50, 999, 1_050, 5_000] {
            for which in [BacklogFilter::Unacked, BacklogFilter::All] {
                assert_eq!(
                    backlog_ids(&store, scope, after, which),
                    backlog_by_log(&store, scope, after, which),
                    "{scope} after {after} {which:?}"
                );
            }
        }
    }
    assert!(!backlog_ids(&store, DISTRICT, 0, BacklogFilter::Unacked).is_empty());
}

/// An outbox with the first version of the index: its tables as that
/// version wrote them, marker 1.
#[test]
fn an_index_of_the_first_version_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<OrderRecord> = (0..40).map(mixed).collect();
    write_without_index(dir.path(), &records);
    {
        let db = redb::Database::create(dir.path().join("outbox.redb")).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let old: redb::TableDefinition<&str, (u8, &str, i64)> =
                redb::TableDefinition::new("orders_indexed");
            let mut indexed = txn.open_table(old).unwrap();
            for r in &records {
                indexed
                    .insert(r.order.id.as_str(), (1, "", r.order.created_ms))
                    .unwrap();
            }
            txn.open_table(META)
                .unwrap()
                .insert("order_index", 1)
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_index_right(&store);
    assert_eq!(
        backlog_ids(&store, DISTRICT, 0, BacklogFilter::Unacked),
        backlog_by_log(&store, DISTRICT, 0, BacklogFilter::Unacked)
    );
}
