//! Structured batch fuzzing: `arbitrary` builds a list of events (with
//! positions biased into the valid WGS-84 range so the map-cell code is
//! reached), `tongguan::wire::BatchEncoder` encodes them, a few bytes chosen
//! by the input are overwritten, and the result goes through
//! `access_batch` + `validate` like a received batch.
//!
//! Properties checked besides "never panics":
//! - an unmodified encoding is always accepted and reads back the events
//!   that were encoded, and each validates exactly like the original;
//! - a modified one is either refused or yields events that validate or
//!   are rejected without panicking.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use rkyv::util::AlignedVec;
use tongguan::wire::batch::{access_batch, TimeBounds};
use tongguan::wire::{BatchEncoder, WireEvent};

const MAX_EVENTS: usize = 8192;

#[derive(Debug, Arbitrary)]
enum Coord {
    /// Any f64, NaN and infinities included.
    Raw(f64),
    /// A fraction of the valid range (lat -90..=90, lon -180..=180).
    Scaled(u32),
}

impl Coord {
    fn get(&self, half_range: f64) -> f64 {
        match *self {
            Coord::Raw(x) => x,
            Coord::Scaled(u) => (u as f64 / u32::MAX as f64) * 2.0 * half_range - half_range,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct Ev {
    device_id: u64,
    seq: u64,
    time_ms: i64,
    value: f64,
    lat: Coord,
    lon: Coord,
    /// Biased towards the protocol's codes, sometimes anything.
    category: u16,
    source: u8,
    flags: u8,
    camera: Option<[u8; 20]>,
    digits_camera: Option<u64>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    batch_seq: u64,
    events: Vec<Ev>,
    /// (position, xor mask) pairs, position taken modulo the archive length.
    flips: Vec<(u16, u8)>,
    bounds: Option<(i64, i64)>,
}

impl Ev {
    fn wire(&self) -> WireEvent {
        let camera = match (self.camera, self.digits_camera) {
            (_, Some(n)) => {
                let mut c = [0u8; 20];
                c.copy_from_slice(format!("{:020}", n).as_bytes());
                c
            }
            (Some(c), None) => c,
            (None, None) => [0u8; 20],
        };
        WireEvent {
            device_id: self.device_id,
            seq: self.seq,
            time_ms: self.time_ms,
            value: self.value,
            lat: self.lat.get(90.0),
            lon: self.lon.get(180.0),
            category: if self.category & 0x8000 == 0 { self.category % 32 } else { self.category },
            source: if self.source & 0x80 == 0 { self.source % 8 } else { self.source },
            flags: self.flags,
            camera,
        }
    }
}

/// Bitwise equality (NaN payloads included).
fn same(a: &WireEvent, b: &WireEvent) -> bool {
    a.device_id == b.device_id
        && a.seq == b.seq
        && a.time_ms == b.time_ms
        && a.value.to_bits() == b.value.to_bits()
        && a.lat.to_bits() == b.lat.to_bits()
        && a.lon.to_bits() == b.lon.to_bits()
        && a.category == b.category
        && a.source == b.source
        && a.flags == b.flags
        && a.camera == b.camera
}

fuzz_target!(|input: Input| {
    let events: Vec<WireEvent> = input.events.iter().take(MAX_EVENTS).map(Ev::wire).collect();
    let bounds = match input.bounds {
        Some((a, b)) => TimeBounds {
            min_ms: a.min(b),
            max_ms: a.max(b),
        },
        None => TimeBounds {
            min_ms: i64::MIN,
            max_ms: i64::MAX,
        },
    };
    let mut enc = BatchEncoder::new();
    let mut buf = AlignedVec::<16>::new();
    buf.extend_from_slice(enc.encode(input.batch_seq, &events));

    if input.flips.is_empty() {
        let batch = access_batch(&buf, MAX_EVENTS).expect("an encoded batch is accepted");
        assert_eq!(batch.batch_seq.to_native(), input.batch_seq);
        assert_eq!(batch.events.len(), events.len());
        for (archived, original) in batch.events.iter().zip(&events) {
            let got = WireEvent {
                device_id: archived.device_id.to_native(),
                seq: archived.seq.to_native(),
                time_ms: archived.time_ms.to_native(),
                value: archived.value.to_native(),
                lat: archived.lat.to_native(),
                lon: archived.lon.to_native(),
                category: archived.category.to_native(),
                source: archived.source,
                flags: archived.flags,
                camera: archived.camera,
            };
            assert!(same(&got, original), "{got:?} != {original:?}");
            let a = archived.validate(bounds).map(|e| e.cell);
            let b = original.validate(bounds).map(|e| e.cell);
            assert_eq!(a, b);
        }
        return;
    }

    let len = buf.len();
    for &(pos, mask) in input.flips.iter().take(8) {
        buf[pos as usize % len] ^= mask;
    }
    if let Ok(batch) = access_batch(&buf, MAX_EVENTS) {
        for e in batch.events.iter() {
            if let Ok(event) = e.validate(bounds) {
                let _ = tongguan::engine::pipeline::shard_of(event.cell, 3);
            }
        }
    }
});
