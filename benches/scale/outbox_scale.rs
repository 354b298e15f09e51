//! The outbox at a district's scale: TONGGUAN_BENCH_ORDERS orders
//! (default 1,000,000) over a year, filled as the dispatcher writes them
//! (orders with their log entries, committed in large batches; the fill
//! is set-up, not timed), then what the hub reads at that size:
//!
//! - `GET /api/orders?limit=10` (target under 10 ms) and the console's
//!   lists (the district's 500 newest, a street's; under 50 ms);
//! - start-up: `Store::open` and the reads the hub makes before it is
//!   ready (each log's last seq, the open orders' deadlines, device
//!   records, the journal), then a subscriber from seq 0 draining its
//!   backlog of everything unacknowledged (the first-live-order delay);
//!   together under 1 s;
//! - the district's summary as the console reads it (counts from the
//!   index, acknowledged orders of the last 7 days) against decoding
//!   every order as it did before;
//! - RSS before and after 100 list reads;
//! - the index rebuilt at open, as the first start after an upgrade from
//!   an outbox without this version's index does;
//! - a retention pass (keep 90 days) with a committer writing beside it
//!   as the dispatcher would (its slowest commit is what the pass costs
//!   the hub), the export, and a compaction (file size before and after).
//!
//! TONGGUAN_BENCH_CHUNK sets the orders per retention transaction
//! (default: the config's). Bounded in time: the fill stops at half of TONGGUAN_BENCH_SECONDS
//! (default 900) and the rest runs with what was filled.
//!
//! `cargo bench --bench outbox -- scale`; CI: `TONGGUAN_BENCH_ORDERS=20000
//! cargo bench --bench outbox -- scale`. The outbox is made in
//! TONGGUAN_BENCH_DIR (default: the temporary directory) and removed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tongguan::config::retention::RetentionConfig;
use tongguan::dispatch::record::{AckRecord, HistoryEntry, OrderRecord, Status};
use tongguan::dispatch::summary;
use tongguan::dispatch::{Order, Place, StreetRef};
use tongguan::geo::RegionMap;
use tongguan::model::{Category, Severity, Source};
use tongguan::store::retention::Policy;
use tongguan::store::{BacklogFilter, Batch, OrderQuery, Store, StreetFilter};
use tongguan::wire::control::{Outcome, DISTRICT};

const DAY: i64 = 86_400_000;
/// Orders per commit while filling.
const FILL_BATCH: u64 = 10_000;
/// What a subscriber's catch-up reads per call (quic/subscribe.rs).
const CATCH_UP_CHUNK: usize = 256;

/// Runs the whole measurement and prints the table.
pub fn run() {
    let orders: u64 = env("TONGGUAN_BENCH_ORDERS", 1_000_000);
    let budget = Duration::from_secs(env("TONGGUAN_BENCH_SECONDS", 900));
    let began = Instant::now();
    // On the disk of TONGGUAN_BENCH_DIR, else the temporary directory's.
    let dir = match std::env::var_os("TONGGUAN_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("a directory for the outbox");
    let map = RegionMap::sample();
    let streets: Vec<StreetRef> = map
        .streets()
        .iter()
        .map(|s| StreetRef {
            code: s.code.clone(),
            name: s.name.clone(),
            name_en: s.name_en.clone(),
        })
        .collect();
    let now = now_ms();
    let mut table = Table::default();

    let fill = Fill::new(orders, now, &streets);
    let filled = {
        let store = Store::open(dir.path()).unwrap();
        let t = Instant::now();
        let filled = fill.run(&store, began + budget / 2);
        table.row(
            "fill (set-up, not a target)",
            format!("{filled} orders in {:.1} s", t.elapsed().as_secs_f64()),
            "",
        );
        table.row("outbox file", mib(store.file_bytes()), "");
        filled
    };

    // Start-up: what the hub reads before it is ready, then a subscriber
    // from 0 draining its backlog.
    let t = Instant::now();
    let store = Store::open(dir.path()).unwrap();
    let opened = t.elapsed();
    let before_ready = Instant::now();
    let mut scopes: Vec<String> = streets.iter().map(|s| s.code.clone()).collect();
    scopes.push(DISTRICT.into());
    for scope in &scopes {
        store.last_seq(scope).unwrap();
    }
    let open_deadlines = store
        .list_orders(&OrderQuery {
            status: Some(Status::Open),
            escalations: false,
            ..OrderQuery::all(usize::MAX)
        })
        .unwrap()
        .orders
        .len();
    store.devices().unwrap();
    store.journal_since(now - 90_000).unwrap();
    let reads = before_ready.elapsed();
    let (district_backlog, district_drain) = drain(&store, DISTRICT);
    let (street_backlog, street_drain) = drain(&store, &streets[0].code);
    table.row("Store::open", ms(opened), "");
    table.row(
        "reads before ready",
        ms(reads),
        format!("{open_deadlines} open deadlines"),
    );
    table.row(
        "backlog from 0, district (drained)",
        ms(district_drain),
        format!("{district_backlog} orders"),
    );
    table.row(
        "backlog from 0, one street (drained)",
        ms(street_drain),
        format!("{street_backlog} orders"),
    );
    let start_up = opened + reads + district_drain;
    table.row(
        "open + ready + district backlog",
        ms(start_up),
        target(start_up, Duration::from_secs(1)),
    );

    // Lists.
    let rss_before = rss_kib();
    let api10 = OrderQuery::all(10);
    let (p50, max) = timed(100, || store.list_orders(&api10).unwrap().orders.len());
    table.row(
        "GET /api/orders?limit=10 (p50 / max of 100)",
        format!("{} / {}", ms(p50), ms(max)),
        target(max, Duration::from_millis(10)),
    );
    let rss_after = rss_kib();
    let console_district = OrderQuery::all(500);
    let (p50, max) = timed(20, || {
        store.list_orders(&console_district).unwrap().orders.len()
    });
    table.row(
        "console list, district, 500 (p50 / max of 20)",
        format!("{} / {}", ms(p50), ms(max)),
        target(max, Duration::from_millis(50)),
    );
    let console_street = OrderQuery {
        street: StreetFilter::Code(streets[0].code.clone()),
        escalations: false,
        ..OrderQuery::all(500)
    };
    let (p50, max) = timed(20, || {
        store.list_orders(&console_street).unwrap().orders.len()
    });
    table.row(
        "console list, one street, 500 (p50 / max of 20)",
        format!("{} / {}", ms(p50), ms(max)),
        target(max, Duration::from_millis(50)),
    );
    table.row(
        "RSS before / after 100 lists",
        format!("{} / {} MiB", rss_before / 1024, rss_after / 1024),
        if rss_after <= rss_before + 8 * 1024 {
            "unchanged (within 8 MiB)"
        } else {
            "GREW"
        },
    );

    // The district's summary, as the console reads it now and as it did.
    let (p50, max) = timed(5, || district_summary(&store, &map, now - 7 * DAY));
    table.row(
        "district summary: counts + 7 days acked (p50 / max of 5)",
        format!("{} / {}", ms(p50), ms(max)),
        "",
    );
    let t = Instant::now();
    let all = store.all_orders().unwrap();
    let streets_all = summary::by_street(&map, &all);
    let scan = t.elapsed();
    drop((all, streets_all));
    table.row(
        "district summary, by decoding every order",
        ms(scan),
        "before",
    );

    // An outbox from before this version's index: its marker gone, the
    // next open rebuilds the index from the orders (once, before ready).
    drop(store);
    forget_index_version(&dir.path().join("outbox.redb"));
    let t = Instant::now();
    let store = Store::open(dir.path()).unwrap();
    table.row(
        "index rebuilt at open (upgrade, once)",
        format!("{:.1} s", t.elapsed().as_secs_f64()),
        format!(
            "{} orders",
            store.list_orders(&OrderQuery::all(0)).unwrap().count
        ),
    );

    // Retention with a committer beside it.
    let store = Arc::new(store);
    let rss = rss_kib();
    let policy = Policy {
        max_age_ms: Some(90 * DAY),
        max_count: None,
        chunk: env(
            "TONGGUAN_BENCH_CHUNK",
            RetentionConfig::default().orders_per_transaction as u64,
        ) as usize,
    };
    // The committer alone first: what this disk's commits cost without
    // the pass.
    let stop = Arc::new(AtomicBool::new(false));
    let alone = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || commit_beside(&store, &stop, filled + 1_000_000))
    };
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Release);
    let alone = alone.join().unwrap();
    table.row(
        "commits, no pass (p50 / max)",
        format!("{} / {}", ms(alone.0), ms(alone.1)),
        format!("{} commits", alone.2),
    );
    stop.store(false, Ordering::Release);
    let committer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || commit_beside(&store, &stop, filled))
    };
    let t = Instant::now();
    let mut holds = Vec::new();
    let report = store
        .retain_closed(&policy, now, &mut |held| {
            holds.push(held);
            std::thread::sleep(held.max(Duration::from_millis(1)));
            true
        })
        .unwrap();
    holds.sort();
    let pass = t.elapsed();
    stop.store(true, Ordering::Release);
    let commits = committer.join().unwrap();
    let exported: u64 = report
        .files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    table.row(
        "retention pass, keep 90 days",
        format!("{:.1} s", pass.as_secs_f64()),
        format!(
            "{} deleted in {} transactions, {} exported in {} files",
            report.deleted,
            report.transactions,
            mib(exported),
            report.files.len()
        ),
    );
    table.row(
        "  longest deleting transaction",
        ms(report.longest_hold),
        format!("{} orders each", policy.chunk),
    );
    table.row(
        "  longest log sweep transaction",
        ms(report.longest_sweep),
        "",
    );
    table.row(
        "  transactions p50 / p99",
        format!(
            "{} / {}",
            ms(holds[holds.len() / 2]),
            ms(holds[holds.len() * 99 / 100])
        ),
        "",
    );
    table.row(
        "  commits beside it (p50 / max)",
        format!("{} / {}", ms(commits.0), ms(commits.1)),
        format!("{} commits", commits.2),
    );
    table.row(
        "  RSS before / after the pass",
        format!("{} / {} MiB", rss / 1024, rss_kib() / 1024),
        "",
    );
    let c = store.compact().unwrap();
    table.row(
        "compaction",
        ms(c.elapsed),
        format!("{} -> {}", mib(c.before_bytes), mib(c.after_bytes)),
    );
    let (p50, max) = timed(100, || store.list_orders(&api10).unwrap().orders.len());
    table.row(
        "GET /api/orders?limit=10 after (p50 / max)",
        format!("{} / {}", ms(p50), ms(max)),
        target(max, Duration::from_millis(10)),
    );
    println!("\noutbox of {filled} orders ({}):", cpu());
    table.print();
    println!("total {:.0} s", began.elapsed().as_secs_f64());
}

/// A year of a district's orders: every street of the map and some
/// outside them; 1 in 100 open, 1 in 100 escalated (with its open
/// escalation order), the rest acknowledged within the hour; some with a
/// second revision.
struct Fill<'a> {
    orders: u64,
    now: i64,
    streets: &'a [StreetRef],
}

impl<'a> Fill<'a> {
    fn new(orders: u64, now: i64, streets: &'a [StreetRef]) -> Fill<'a> {
        Fill {
            orders,
            now,
            streets,
        }
    }

    /// Fills until done or `deadline`; returns how many orders it made.
    fn run(&self, store: &Store, deadline: Instant) -> u64 {
        let mut seqs = std::collections::HashMap::<String, u64>::new();
        let mut made = 0;
        while made < self.orders && Instant::now() < deadline {
            let n = FILL_BATCH.min(self.orders - made);
            let mut batch = Batch::default();
            for k in made..made + n {
                self.push(&mut batch, k, &mut seqs);
            }
            store.commit(&batch).unwrap();
            made += n;
        }
        made
    }

    fn push(&self, batch: &mut Batch, k: u64, seqs: &mut std::collections::HashMap<String, u64>) {
        let span = 365 * DAY;
        let created = self.now - span + (k as i64 * span / self.orders as i64);
        let street = match k % 11 {
            10 => None,
            s => Some(self.streets[s as usize % self.streets.len()].clone()),
        };
        let mut next = |scope: &str| {
            let seq = seqs.entry(scope.to_owned()).or_insert(0);
            *seq += 1;
            *seq
        };
        let mut r = record(k, created, street.clone());
        // One in twenty had a second revision: two log entries each.
        let revisions = if k.is_multiple_of(20) { 2 } else { 1 };
        for _ in 0..revisions {
            if let Some(s) = &street {
                r.street_seq = next(&s.code);
                batch
                    .log
                    .push((s.code.clone(), r.street_seq, r.order.id.clone()));
            }
            r.district_seq = next(DISTRICT);
            batch
                .log
                .push((DISTRICT.into(), r.district_seq, r.order.id.clone()));
        }
        r.order.seq = if street.is_some() {
            r.street_seq
        } else {
            r.district_seq
        };
        match k % 100 {
            7 => {}
            13 => {
                r.status = Status::Escalated;
                let mut esc = r.clone();
                esc.order.id = format!("{}-D", r.order.id);
                esc.order.escalation_of = Some(r.order.id.clone());
                esc.status = Status::Open;
                esc.street_seq = 0;
                esc.district_seq = next(DISTRICT);
                batch
                    .log
                    .push((DISTRICT.into(), esc.district_seq, esc.order.id.clone()));
                batch.orders.push(esc);
            }
            _ => {
                let at_ms = created + 60_000 + (k % 3_600) as i64 * 1_000;
                r.status = Status::Acked;
                r.ack = Some(AckRecord {
                    outcome: if k.is_multiple_of(5) {
                        Outcome::FalseAlarm
                    } else {
                        Outcome::Confirmed
                    },
                    note: "已到场处置".into(),
                    by: r.order.street_code().unwrap_or(DISTRICT).to_owned(),
                    at_ms,
                });
                r.history.push(HistoryEntry {
                    at_ms,
                    what: "acked".into(),
                    detail: "confirmed".into(),
                    by: None,
                });
            }
        }
        batch.orders.push(r);
    }
}

fn record(k: u64, created_ms: i64, street: Option<StreetRef>) -> OrderRecord {
    let order = Order {
        id: format!("TG{created_ms:x}-{k}"),
        revision: 1,
        seq: 0,
        created_ms,
        severity: Severity::ALL[(k % 4) as usize],
        category: Category::Smoke,
        incident_kind: "fire".into(),
        multi_source: k.is_multiple_of(3),
        sources: vec![Source::Sensor],
        place: Place {
            cell: "893099586d7ffff".into(),
            lat: 31.25,
            lon: 121.41,
            street,
        },
        events: Vec::new(),
        event_count: 1,
        plan: "派消防站与街道应急队伍赶赴现场核查；通知物业切断非消防电源、组织疏散。".into(),
        deadline_ms: created_ms + 300_000,
        camera: None,
        first_seen_ms: created_ms,
        last_seen_ms: created_ms,
        repeat: 0,
        escalation_of: None,
        late_ms: None,
        accept_by_ms: None,
        disposal: None,
    };
    OrderRecord {
        order,
        status: Status::Open,
        street_seq: 0,
        district_seq: 0,
        ack: None,
        history: vec![HistoryEntry {
            at_ms: created_ms,
            what: "dispatched".into(),
            detail: "revision 1".into(),
            by: None,
        }],
        disposal: Default::default(),
    }
}

/// A subscriber from seq 0 reading its whole backlog of what is not
/// acknowledged, chunk by chunk: (orders, time).
fn drain(store: &Store, scope: &str) -> (usize, Duration) {
    let t = Instant::now();
    let (mut after, mut n) = (0, 0);
    loop {
        let chunk = store
            .backlog(scope, after, BacklogFilter::Unacked, CATCH_UP_CHUNK)
            .unwrap();
        n += chunk.len();
        match chunk.last() {
            Some((seq, _)) if chunk.len() == CATCH_UP_CHUNK => after = *seq,
            _ => return (n, t.elapsed()),
        }
    }
}

/// What `GET /api/console/district` reads: open and escalated counts per
/// street from the index, the acknowledged orders made since `since_ms`.
fn district_summary(store: &Store, map: &RegionMap, since_ms: i64) -> usize {
    let acked = store.acked_since(since_ms, 200_000).unwrap();
    let streets = summary::by_street(map, &acked);
    let mut open = 0;
    for s in &streets {
        for status in [Status::Open, Status::Escalated] {
            open += store
                .list_orders(&OrderQuery {
                    status: Some(status),
                    street: StreetFilter::Code(s.code.clone()),
                    escalations: false,
                    ..OrderQuery::all(0)
                })
                .unwrap()
                .count;
        }
    }
    open + acked.len()
}

/// Commits one new open order every 20 ms until `stop`, as the
/// dispatcher would: (p50, max, commits).
fn commit_beside(store: &Store, stop: &AtomicBool, first: u64) -> (Duration, Duration, usize) {
    let mut took = Vec::new();
    let mut k = first + 10_000_000;
    while !stop.load(Ordering::Acquire) {
        let mut r = record(k, now_ms(), None);
        r.district_seq = 50_000_000 + k;
        let batch = Batch {
            log: vec![(DISTRICT.into(), r.district_seq, r.order.id.clone())],
            orders: vec![r],
            ..Batch::default()
        };
        let t = Instant::now();
        store.commit(&batch).unwrap();
        took.push(t.elapsed());
        k += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    took.sort();
    let p50 = took.get(took.len() / 2).copied().unwrap_or_default();
    (p50, took.last().copied().unwrap_or_default(), took.len())
}

/// Removes the marker that says which index the file holds, as a file
/// written by an earlier version lacks it.
fn forget_index_version(file: &std::path::Path) {
    let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let db = redb::Database::create(file).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(meta).unwrap().remove("order_index").unwrap();
    txn.commit().unwrap();
}

/// Runs `f` `n` times: (p50, max).
fn timed<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut took: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    took.sort();
    (took[n / 2], took[n - 1])
}

#[derive(Default)]
struct Table(Vec<(String, String, String)>);

impl Table {
    fn row(&mut self, what: &str, figure: impl Into<String>, note: impl Into<String>) {
        let (figure, note) = (figure.into(), note.into());
        eprintln!("  {what}: {figure} {note}");
        self.0.push((what.into(), figure, note));
    }

    fn print(&self) {
        let w0 = self
            .0
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0);
        let w1 = self
            .0
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0);
        for (what, figure, note) in &self.0 {
            println!("| {what:w0$} | {figure:>w1$} | {note}");
        }
    }
}

fn target(took: Duration, goal: Duration) -> String {
    let verdict = if took < goal { "ok" } else { "MISSED" };
    format!("target < {} ms: {verdict}", goal.as_millis())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// This process's resident set, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The CPU model, from /proc/cpuinfo.
fn cpu() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
