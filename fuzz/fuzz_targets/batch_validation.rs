//! Batch validation: arbitrary bytes as a BATCH payload. They are copied
//! into an aligned buffer (as `read_frame` leaves them), checked by
//! `access_batch` (rkyv + bytecheck), and every event of an accepted archive
//! is validated field by field, then, if valid, its map cell is sharded the
//! way the ingest path does. Nothing may panic, read out of bounds (ASan)
//! or accept more events than the limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rkyv::util::AlignedVec;
use tongguan::wire::batch::{access_batch, BatchError, TimeBounds};

/// The hub's default `limits.max_batch_events`.
const MAX_EVENTS: usize = 8192;

fuzz_target!(|data: &[u8]| {
    let mut buf = AlignedVec::<16>::with_capacity(data.len());
    buf.extend_from_slice(data);
    let batch = match access_batch(&buf, MAX_EVENTS) {
        Ok(batch) => batch,
        Err(BatchError::TooManyEvents { len, max }) => {
            assert!(len > max);
            return;
        }
        Err(BatchError::Invalid(_)) => return,
    };
    assert!(batch.events.len() <= MAX_EVENTS);
    let _ = batch.batch_seq.to_native();
    // Wide bounds: every time is in range, so the other checks are reached.
    let bounds = TimeBounds {
        min_ms: i64::MIN,
        max_ms: i64::MAX,
    };
    for e in batch.events.iter() {
        if let Ok(event) = e.validate(bounds) {
            assert!(event.value.is_finite());
            let _ = tongguan::engine::pipeline::shard_of(event.cell, 7);
            assert!(tongguan::geo::neighbourhood(event.cell).count() >= 1);
        }
    }
});
