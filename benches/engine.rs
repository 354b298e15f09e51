//! Criterion benches of the engine's stages and the codec, reported in
//! events per second on one core: `cargo bench --bench engine`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rkyv::util::AlignedVec;
use std::hint::black_box;
use std::sync::Arc;
use tongguan::engine::correlate::Correlator;
use tongguan::engine::dedup::SeqWindow;
use tongguan::engine::shard::Shard;
use tongguan::engine::{Detection, EngineSettings, RuleSet};
use tongguan::geo::{self, RegionMap};
use tongguan::model::{CameraRef, Category, Event, Source};
use tongguan::wire::batch::{access_batch, TimeBounds};
use tongguan::wire::{BatchEncoder, WireEvent};

const BATCH: usize = 512;
const T0: i64 = 1_780_000_000_000;

/// Normal telemetry from `devices` sensors spread over Putuo.
fn wire_events(n: usize, devices: u64) -> Vec<WireEvent> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n)
        .map(|i| {
            let d = rng.u64(0..devices);
            WireEvent {
                device_id: d,
                seq: i as u64,
                time_ms: T0 + i as i64,
                value: 0.3,
                lat: 31.222 + 0.076 * (d % 997) as f64 / 997.0,
                lon: 121.362 + 0.096 * (d % 991) as f64 / 991.0,
                category: [Category::Smoke, Category::WaterLevel, Category::Gas][i % 3].code(),
                source: Source::Sensor.code(),
                flags: 0,
                camera: [0; 20],
            }
        })
        .collect()
}

fn events(n: usize, devices: u64) -> Vec<Event> {
    let bounds = TimeBounds {
        min_ms: 0,
        max_ms: i64::MAX,
    };
    let mut enc = BatchEncoder::new();
    let wire = wire_events(n, devices);
    let mut out = Vec::new();
    for chunk in wire.chunks(BATCH) {
        let mut buf = AlignedVec::<16>::new();
        buf.extend_from_slice(enc.encode(0, chunk));
        let b = access_batch(&buf, BATCH).unwrap();
        out.extend(b.events.iter().map(|e| e.validate(bounds).unwrap()));
    }
    out
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(BATCH as u64));
    let wire = wire_events(BATCH, 10_000);
    let mut enc = BatchEncoder::new();
    g.bench_function("encode", |b| {
        b.iter(|| black_box(enc.encode(1, &wire).len()))
    });
    let mut buf = AlignedVec::<16>::new();
    buf.extend_from_slice(enc.encode(1, &wire));
    g.bench_function("access_and_validate_with_cell_cache", |b| {
        let bounds = TimeBounds {
            min_ms: 0,
            max_ms: i64::MAX,
        };
        let mut cells = tongguan::wire::batch::CellCache::new(65_536);
        b.iter(|| {
            let batch = access_batch(&buf, BATCH).unwrap();
            batch
                .events
                .iter()
                .filter(|e| e.validate_cached(bounds, &mut cells).is_ok())
                .count()
        })
    });
    g.bench_function("access_and_validate", |b| {
        let bounds = TimeBounds {
            min_ms: 0,
            max_ms: i64::MAX,
        };
        b.iter(|| {
            let batch = access_batch(&buf, BATCH).unwrap();
            batch
                .events
                .iter()
                .filter(|e| e.validate(bounds).is_ok())
                .count()
        })
    });
    g.finish();
}

fn dedup(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("seq_window", |b| {
        let mut w = SeqWindow::default();
        let mut seq = 0u64;
        b.iter(|| {
            for _ in 0..BATCH {
                seq += 1;
                black_box(w.check(seq ^ 1));
            }
        })
    });
    g.finish();
}

fn shard(c: &mut Criterion) {
    let mut g = c.benchmark_group("shard");
    g.throughput(Throughput::Elements(BATCH as u64));
    let rules = Arc::new(RuleSet::defaults());
    let all = events(BATCH * 64, 100_000);
    g.bench_function("thresholds_100k_devices", |b| {
        let mut shard = Shard::new(rules.clone(), EngineSettings::default());
        let mut scratch = Vec::with_capacity(BATCH);
        let mut i = 0u64;
        b.iter(|| {
            // Fresh sequence numbers every round, so the events are new to
            // the dedup windows and reach the rules.
            let round = i / 64;
            scratch.clear();
            scratch.extend(
                all[(i % 64) as usize * BATCH..][..BATCH]
                    .iter()
                    .map(|e| Event {
                        seq: e.seq + round * all.len() as u64,
                        ..*e
                    }),
            );
            i += 1;
            shard.handle_events(T0, 0, &scratch);
            while shard.poll_detection().is_some() {}
        });
        let stats = shard.take_stats();
        assert!(
            stats.processed > stats.retransmits,
            "the bench measures the rules, not dedup"
        );
    });
    g.finish();
}

/// The cost of a shard checkpoint on the shard's thread (the snapshot) and
/// on the writer's (the encoding), by devices tracked: a shard pays the
/// snapshot once a checkpoint interval while its state changes.
fn checkpoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkpoint");
    g.sample_size(10);
    let rules = Arc::new(RuleSet::defaults());
    for devices in [100_000u64, 1_000_000] {
        let mut shard = Shard::new(rules.clone(), EngineSettings::default());
        for chunk in events(devices as usize * 2, devices).chunks(BATCH) {
            shard.handle_events(T0, 0, chunk);
            while shard.poll_detection().is_some() {}
        }
        g.throughput(Throughput::Elements(shard.devices() as u64));
        g.bench_function(format!("snapshot_{}k_devices", devices / 1000), |b| {
            b.iter(|| black_box(shard.checkpoint(0, 1, T0)))
        });
        let snapshot = shard.checkpoint(0, 1, T0);
        g.bench_function(format!("encode_{}k_devices", devices / 1000), |b| {
            b.iter(|| black_box(snapshot.encode()))
        });
    }
    g.finish();
}

fn correlation(c: &mut Criterion) {
    let mut g = c.benchmark_group("correlation");
    g.throughput(Throughput::Elements(BATCH as u64));
    let rules = Arc::new(RuleSet::defaults());
    let detections: Vec<Detection> = events(BATCH, 1_000)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let (category, source) = if i % 2 == 0 {
                (Category::Smoke, Source::Sensor)
            } else {
                (Category::Fire, Source::Video)
            };
            Detection {
                event: Event {
                    category,
                    source,
                    value: 5.0,
                    camera: CameraRef::NONE,
                    ..e
                },
                first_seen_ms: e.time_ms,
                count: 1,
                repeat: 0,
                arrival: 0,
                late_ms: None,
            }
        })
        .collect();
    g.bench_function("detections_into_warnings", |b| {
        b.iter_batched(
            || {
                (
                    Correlator::new(rules.clone(), EngineSettings::default(), 1),
                    detections.clone(),
                )
            },
            |(mut corr, ds)| {
                for d in ds {
                    corr.handle_detection(d);
                }
                corr.flush();
                let mut n = 0;
                while corr.poll_warning().is_some() {
                    n += 1;
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn routing(c: &mut Criterion) {
    let mut g = c.benchmark_group("routing");
    g.throughput(Throughput::Elements(BATCH as u64));
    let map = RegionMap::sample();
    let cells: Vec<u64> = events(BATCH, 10_000).iter().map(|e| e.cell).collect();
    g.bench_function("cell_to_street", |b| {
        b.iter(|| {
            cells
                .iter()
                .filter(|&&c| map.street_of(c).is_some())
                .count()
        })
    });
    g.bench_function("latlon_to_cell", |b| {
        b.iter(|| {
            (0..BATCH)
                .filter_map(|i| geo::cell_of(31.23 + i as f64 * 1e-4, 121.4))
                .count()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    codec,
    dedup,
    shard,
    checkpoint,
    correlation,
    routing
);
criterion_main!(benches);
