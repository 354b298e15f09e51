//! The recording (`[record]`) of a live hub over real QUIC: off by
//! default; `sample` keeps whole devices (every event of a sampled
//! device, none of the others) and counts what it wrote; a recording
//! reads back by time range through its index, and a segment cut short
//! (a kill mid-write) ends at its last whole record, counted. A full
//! queue dropping and counting is a unit test of the recorder
//! (src/record/mod.rs), where the thread can be held still.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tongguan::model::{Category, Source};
use tongguan::record::reader::Recording;

/// Three batches, each with one normal reading of each of 200 devices.
async fn send_readings(hub: &TestHub) {
    let mut dev = device(hub).await;
    let here = point_in(CAOYANG);
    let t0 = now_ms() - 600_000;
    for seq in 1..=3u64 {
        let batch: Vec<_> = (0..200u64)
            .map(|d| {
                let t = t0 + seq as i64 * 1000;
                event(
                    1000 + d,
                    seq,
                    t,
                    Category::WaterLevel,
                    Source::Sensor,
                    2.0,
                    here,
                )
            })
            .collect();
        dev.send_and_wait(&batch).await.expect("batch acknowledged");
        // Batches a few ms apart on the hub's clock.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every recorded (arrival, device) of a recording directory.
fn read_all(dir: &Path) -> (Vec<i64>, BTreeMap<u64, usize>) {
    let rec = Recording::open(dir).expect("recording opens");
    let mut arrivals = Vec::new();
    let mut devices = BTreeMap::new();
    let stats = rec
        .read(None, None, |arrival, events, _| {
            arrivals.push(arrival);
            for e in events {
                *devices.entry(e.device).or_insert(0) += 1;
            }
        })
        .expect("recording reads");
    assert_eq!(stats.partitions, 2, "the test hub's shard count");
    (arrivals, devices)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_nothing_is_recorded() {
    let hub = start_hub("").await;
    send_readings(&hub).await;
    let (_, metrics) = http_get(hub.admin_addr, "/metrics").await;
    assert_eq!(metric(&metrics, "tongguan_record_batches_total", ""), 0.0);
    let dir = hub.stop_keeping_data().await;
    assert!(!dir.path().join("recordings").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_keeps_whole_devices_and_counts_what_it_wrote() {
    let hub = start_hub("[record]\nmode = \"sample\"\nsample = 0.5\n").await;
    send_readings(&hub).await;
    let addr = hub.admin_addr;
    eventually("three batches recorded", || async move {
        let (_, m) = http_get(addr, "/metrics").await;
        metric(&m, "tongguan_record_batches_total", "") == 3.0
    })
    .await;
    let (_, m) = http_get(addr, "/metrics").await;
    let recorded_events = metric(&m, "tongguan_record_events_total", "");
    assert!(metric(&m, "tongguan_record_bytes_total", "") > recorded_events * 80.0);
    assert_eq!(metric(&m, "tongguan_record_dropped_batches_total", ""), 0.0);
    let dir = hub.stop_keeping_data().await;
    let (arrivals, devices) = read_all(&dir.path().join("recordings"));
    assert_eq!(arrivals.len(), 3);
    assert!(
        (60..=140).contains(&devices.len()),
        "about half of 200 devices: {}",
        devices.len()
    );
    assert!(
        devices.values().all(|&n| n == 3),
        "each sampled device has all its events: {devices:?}"
    );
    assert_eq!(devices.values().sum::<usize>() as f64, recorded_events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_reads_back_by_time_and_a_torn_tail_is_counted_not_fatal() {
    let hub = start_hub("[record]\nmode = \"all\"\n").await;
    send_readings(&hub).await;
    let dir = hub.stop_keeping_data().await;
    let recordings = dir.path().join("recordings");
    let (arrivals, devices) = read_all(&recordings);
    assert_eq!((arrivals.len(), devices.len()), (3, 200));
    assert!(arrivals.windows(2).all(|w| w[0] < w[1]), "{arrivals:?}");
    let rec = Recording::open(&recordings).unwrap();
    let mut from_second = 0;
    rec.read(Some(arrivals[1]), None, |_, _, _| from_second += 1)
        .unwrap();
    assert_eq!(from_second, 2, "--from skips the first batch");
    let mut only_first = 0;
    rec.read(None, Some(arrivals[0]), |_, _, _| only_first += 1)
        .unwrap();
    assert_eq!(only_first, 1, "--to stops after the first batch");
    // The hub killed in the middle of the last record.
    let seg = &rec.segments()[0].path;
    let len = std::fs::metadata(seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(len - 100).unwrap();
    let mut batches = 0;
    let stats = Recording::open(&recordings)
        .unwrap()
        .read(None, None, |_, _, _| batches += 1)
        .unwrap();
    assert_eq!((batches, stats.torn), (2, 1));
    // A changed byte inside a record is an error naming the file.
    let mut bytes = std::fs::read(seg).unwrap();
    bytes[200] ^= 0xff;
    std::fs::write(seg, &bytes).unwrap();
    let err = Recording::open(&recordings)
        .unwrap()
        .read(None, None, |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("checksum") && err.contains(".tgrec"), "{err}");
}
