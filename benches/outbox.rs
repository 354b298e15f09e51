//! The durable outbox on this machine's disk: orders committed per second
//! with one fsync per commit (group commit of 1, 10 and 100 orders), and
//! the time to reopen an outbox of 20,000 open orders as the hub does at
//! start (open, then read the open orders through the index to reload
//! deadlines), and a list of 20 open orders of one street among 50,000
//! orders (`GET /api/orders?status=open&street=CODE&limit=20`) through the
//! index and, for comparison, by decoding every order as the hub did
//! before it had one.
//! `cargo bench --bench outbox`.
//!
//! `cargo bench --bench outbox -- scale`: the outbox at a district's
//! scale, 1,000,000 orders (TONGGUAN_BENCH_ORDERS), and what the hub
//! reads at that size; see scale/outbox_scale.rs.

use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use tongguan::dispatch::record::{HistoryEntry, OrderRecord, Status};
use tongguan::dispatch::{Order, Place, StreetRef};
use tongguan::model::{Category, Severity, Source};
use tongguan::store::{Batch, OrderQuery, Store, StreetFilter};

/// Streets of the list bench's outbox.
const STREETS: u64 = 10;

fn order(n: u64) -> OrderRecord {
    let order = Order {
        id: format!("TG19e47d4f800-{n}"),
        revision: 1,
        seq: n,
        created_ms: 1_780_000_000_000,
        severity: Severity::Major,
        category: Category::Smoke,
        incident_kind: "fire".into(),
        multi_source: false,
        sources: vec![Source::Sensor],
        place: Place {
            cell: "893099586d7ffff".into(),
            lat: 31.25,
            lon: 121.41,
            street: None,
        },
        events: Vec::new(),
        event_count: 1,
        plan: "派消防站与街道应急队伍赶赴现场核查；通知物业切断非消防电源、组织疏散。".into(),
        deadline_ms: 1_780_000_300_000,
        camera: None,
        first_seen_ms: 1_780_000_000_000,
        last_seen_ms: 1_780_000_000_000,
        repeat: 0,
        escalation_of: None,
        late_ms: None,
        accept_by_ms: None,
        disposal: None,
    };
    OrderRecord {
        order,
        status: Status::Open,
        street_seq: n,
        district_seq: n,
        ack: None,
        history: vec![HistoryEntry {
            at_ms: 1_780_000_000_000,
            what: "dispatched".into(),
            detail: "revision 1".into(),
            by: None,
        }],
        disposal: Default::default(),
    }
}

fn batch(from: u64, n: u64) -> Batch {
    let mut b = Batch::default();
    for k in from..from + n {
        b.orders.push(order(k));
        b.log
            .push(("310107005000".into(), k, format!("TG19e47d4f800-{k}")));
        b.log
            .push(("district".into(), k, format!("TG19e47d4f800-{k}")));
    }
    b
}

fn commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut g = c.benchmark_group("outbox_commit");
    g.sample_size(20);
    let mut next = 0u64;
    for per_commit in [1u64, 10, 100] {
        g.throughput(Throughput::Elements(per_commit));
        g.bench_function(format!("{per_commit}_orders_per_fsync"), |b| {
            b.iter_batched(
                || {
                    next += per_commit;
                    batch(next, per_commit)
                },
                |batch| store.commit(&batch).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn reopen(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for k in 0..200 {
            store.commit(&batch(k * 100, 100)).unwrap();
        }
    }
    let mut g = c.benchmark_group("outbox_reopen");
    g.sample_size(10);
    g.bench_function("20000_orders", |b| {
        b.iter(|| {
            let store = Store::open(dir.path()).unwrap();
            let open = OrderQuery {
                status: Some(Status::Open),
                escalations: false,
                ..OrderQuery::all(usize::MAX)
            };
            store.list_orders(&open).unwrap().orders.len()
        })
    });
    g.finish();
}

/// An order of street `n % STREETS`, made at `n` ms: one in ten of a
/// street's orders open, one in ten escalated, the rest acknowledged.
fn street_order(n: u64) -> OrderRecord {
    let mut r = order(n);
    r.order.created_ms += n as i64;
    r.order.place.street = Some(StreetRef {
        code: format!("3101070{:02}000", n % STREETS),
        name: "长征镇".into(),
        name_en: "Changzheng".into(),
    });
    r.status = match (n / STREETS) % 10 {
        0 => Status::Open,
        1 => Status::Escalated,
        _ => Status::Acked,
    };
    r
}

fn list(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for k in 0..500 {
        let orders = (k * 100..(k + 1) * 100).map(street_order).collect();
        store
            .commit(&Batch {
                orders,
                ..Batch::default()
            })
            .unwrap();
    }
    let street = "310107003000";
    let mut g = c.benchmark_group("outbox_list");
    g.sample_size(10);
    let query = OrderQuery {
        status: Some(Status::Open),
        street: StreetFilter::Code(street.into()),
        ..OrderQuery::all(20)
    };
    g.bench_function("20_open_of_one_street_in_50000", |b| {
        b.iter(|| {
            let page = store.list_orders(&query).unwrap();
            assert_eq!((page.count, page.orders.len()), (500, 20));
            page
        })
    });
    g.bench_function("20_open_of_one_street_in_50000_by_scan", |b| {
        b.iter(|| {
            // What the hub did before the index: decode every order,
            // filter, sort.
            let mut open: Vec<OrderRecord> = store
                .all_orders()
                .unwrap()
                .into_iter()
                .filter(|r| query.matches(r))
                .collect();
            open.sort_by(|a, b| {
                b.order
                    .created_ms
                    .cmp(&a.order.created_ms)
                    .then(b.order.id.cmp(&a.order.id))
            });
            let count = open.len();
            open.truncate(20);
            assert_eq!((count, open.len()), (500, 20));
            open
        })
    });
    g.finish();
}

#[path = "scale/outbox_scale.rs"]
mod scale;

criterion_group!(benches, commit, reopen, list);

fn main() {
    if std::env::args().skip(1).any(|a| a == "scale") {
        scale::run();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
