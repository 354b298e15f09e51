//! The durable outbox on this machine's disk: orders committed per second
//! with one fsync per commit (group commit of 1, 10 and 100 orders), and
//! the time to reopen an outbox of 20,000 orders as the hub does at start
//! (open, then read every order to reload deadlines).
//! `cargo bench --bench outbox`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tongguan::dispatch::record::{HistoryEntry, OrderRecord, Status};
use tongguan::dispatch::{Order, Place};
use tongguan::model::{Category, Severity, Source};
use tongguan::store::{Batch, Store};

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
        }],
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
            store.all_orders().unwrap().len()
        })
    });
    g.finish();
}

criterion_group!(benches, commit, reopen);
criterion_main!(benches);
