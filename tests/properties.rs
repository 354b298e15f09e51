//! Properties over arbitrary input: the decoders never panic, and the
//! engine accounts for every event exactly once.

use proptest::prelude::*;
use rkyv::util::AlignedVec;
use std::sync::Arc;
use tongguan::engine::pipeline::Pipeline;
use tongguan::engine::{EngineSettings, RuleSet};
use tongguan::frame_io::read_frame;
use tongguan::geo;
use tongguan::model::{CameraRef, Category, Event, Source};
use tongguan::wire::batch::{access_batch, TimeBounds};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn batch_validation_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = AlignedVec::<16>::new();
        buf.extend_from_slice(&bytes);
        if let Ok(batch) = access_batch(&buf, 8192) {
            let bounds = TimeBounds { min_ms: i64::MIN, max_ms: i64::MAX };
            for e in batch.events.iter() {
                let _ = e.validate(bounds);
            }
        }
    }

    #[test]
    fn frame_reading_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let mut r = &bytes[..];
            let mut buf = AlignedVec::new();
            while let Ok(Some(_)) = read_frame(&mut r, 256, &mut buf).await {}
        });
    }

    /// Retransmits, reordering, late and out-of-window events included.
    #[test]
    fn every_event_is_counted_exactly_once(
        raw in proptest::collection::vec((0u64..20, 0u64..200, -120_000i64..120_000, 0usize..11, 0.0f64..100.0, 0usize..4), 1..400),
        shards in 1usize..4,
    ) {
        let t0 = 1_780_000_000_000i64;
        let events: Vec<Event> = raw.iter().map(|&(device, seq, dt, cat, value, src)| {
            let (lat, lon) = (31.23 + (device % 7) as f64 * 0.01, 121.37 + (device % 5) as f64 * 0.02);
            Event {
                device, seq, time_ms: t0 + dt, value, lat, lon,
                cell: geo::cell_of(lat, lon).unwrap(),
                category: Category::ALL[cat],
                source: Source::ALL[src],
                camera: CameraRef::NONE,
            }
        }).collect();
        let mut p = Pipeline::new(Arc::new(RuleSet::defaults()), EngineSettings::default(), shards);
        for (i, chunk) in events.chunks(17).enumerate() {
            p.handle_events(t0 + i as i64 * 1000, 0, chunk);
            p.handle_timeout(t0 + i as i64 * 1000);
        }
        let (stats, _) = p.take_stats();
        prop_assert_eq!(stats.events(), events.len() as u64);
        let warnings = p.drain_warnings();
        let incidents: std::collections::HashSet<u64> = warnings.iter().map(|w| w.incident).collect();
        prop_assert!(incidents.len() as u64 <= stats.detections, "an incident needs a detection");
        for w in &warnings {
            prop_assert!(!w.detections.is_empty());
            prop_assert!(w.detections.len() as u64 <= w.detection_count);
        }
    }
}
