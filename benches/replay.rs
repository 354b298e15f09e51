//! Criterion benches of a replay (`tongguan replay`) on one core: a
//! steady district, 100,000 sensors reporting normal values, replayed
//! through the default rules, in events per second. `cargo bench --bench
//! replay`. `engine` is the pure replay (events already in memory);
//! `decode_and_engine` adds decoding the recording's records (what
//! `tongguan replay` does after reading a segment file).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use tongguan::engine::{EngineSettings, RuleSet};
use tongguan::geo::{self, RegionMap};
use tongguan::model::{CameraRef, Category, Event, Source};
use tongguan_core::replay::format::{decode_record, encode_record, Decoded};
use tongguan_core::replay::Replay;

const T0: i64 = 1_780_000_000_000;
const DEVICES: u64 = 100_000;
/// Readings per device: 2,000,000 events in all.
const READINGS: u64 = 20;
/// Events per recorded batch.
const BATCH: usize = 1024;

/// Every device reports every 10 s, in device order within a round; the
/// batches arrive as their last event happens.
fn steady() -> Vec<(i64, Vec<Event>)> {
    let cats = [Category::Smoke, Category::WaterLevel, Category::Gas];
    let mut events = Vec::with_capacity((DEVICES * READINGS) as usize);
    for round in 0..READINGS {
        for d in 0..DEVICES {
            let lat = 31.222 + 0.076 * (d % 997) as f64 / 997.0;
            let lon = 121.362 + 0.096 * (d % 991) as f64 / 991.0;
            let t = T0 + round as i64 * 10_000 + (d * 10_000 / DEVICES) as i64;
            events.push(Event {
                device: d,
                seq: round,
                time_ms: t,
                value: 0.3,
                lat,
                lon,
                cell: geo::cell_of(lat, lon).expect("in the district"),
                category: cats[(d % 3) as usize],
                source: Source::Sensor,
                camera: CameraRef::NONE,
            });
        }
    }
    events
        .chunks(BATCH)
        .map(|c| (c.last().expect("a batch").time_ms, c.to_vec()))
        .collect()
}

fn replay(c: &mut Criterion) {
    let batches = steady();
    let n: usize = batches.iter().map(|b| b.1.len()).sum();
    let rules = Arc::new(RuleSet::defaults());
    let map = Arc::new(RegionMap::sample());
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for shards in [1usize, 4] {
        g.bench_function(format!("engine_steady_100k_devices_{shards}_shards"), |b| {
            b.iter_batched(
                || {
                    Replay::new(
                        rules.clone(),
                        EngineSettings::default(),
                        shards,
                        map.clone(),
                    )
                },
                |mut r| {
                    for (arrival, events) in &batches {
                        r.handle_batch(*arrival, events);
                    }
                    assert!(r.orders().is_empty(), "a steady district orders nothing");
                    black_box(r.finish())
                },
                BatchSize::PerIteration,
            )
        });
    }
    let mut bytes = Vec::new();
    for (arrival, events) in &batches {
        encode_record(&mut bytes, *arrival, events);
    }
    g.bench_function("decode_and_engine_steady_100k_devices_1_shard", |b| {
        b.iter_batched(
            || Replay::new(rules.clone(), EngineSettings::default(), 1, map.clone()),
            |mut r| {
                let mut at = 0;
                let mut events = Vec::with_capacity(BATCH);
                while at < bytes.len() {
                    events.clear();
                    let Ok(Decoded::Record { arrival_ms, len }) =
                        decode_record(&bytes[at..], at as u64, &mut events)
                    else {
                        panic!("a whole record at {at}");
                    };
                    r.handle_batch(arrival_ms, &events);
                    at += len;
                }
                black_box(r.finish())
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
