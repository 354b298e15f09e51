//! Frame decoder: arbitrary bytes as the stream a client sends, pushed into
//! the sans-IO `tongguan::wire::frame::FrameDecoder` (the decoder every
//! session reads with) and polled frame by frame until an error or the
//! end; each payload is then handed to the parser the hub (or the client)
//! uses for its frame type. No runtime, no reader: bytes in, frames out.
//!
//! Properties checked besides "never panics":
//! - a frame read is never longer than the limit, and a non-empty payload
//!   is 16-byte aligned (rkyv accesses batches in place);
//! - the framing does not depend on how the transport splits the stream:
//!   the same bytes pushed one byte at a time give the same frames, the
//!   same payloads and the same final outcome.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rkyv::util::AlignedVec;
use tongguan::wire::batch::{access_batch, TimeBounds};
use tongguan::wire::control::{Hello, OrderAck, Subscribe, Subscribed, Welcome};
use tongguan::wire::frame::{FrameDecoder, FrameError, FrameType};
use tongguan::wire::BatchAck;

/// Small on purpose: large claimed lengths must be refused, not allocated.
const MAX_LEN: u32 = 4096;
/// The hub's default `limits.max_batch_events`.
const MAX_EVENTS: usize = 8192;

/// How a decode ended, comparable across ways of splitting the input.
#[derive(Debug, PartialEq)]
enum End {
    Clean,
    UnknownType(u8),
    TooLarge(u32),
    Truncated(&'static str),
}

fn end_of(e: FrameError) -> End {
    match e {
        FrameError::UnknownType(t) => End::UnknownType(t),
        FrameError::TooLarge { len, max } => {
            assert!(len > max && max == MAX_LEN);
            End::TooLarge(len)
        }
        FrameError::Truncated(what) => End::Truncated(what),
        FrameError::Io(e) => panic!("the sans-IO decoder reported I/O: {e}"),
    }
}

/// Pushes `data` into a decoder `chunk` bytes at a time, polling frames.
fn decode_all(data: &[u8], chunk: usize) -> (Vec<(FrameType, Vec<u8>)>, End) {
    let mut decoder = FrameDecoder::new(MAX_LEN);
    let mut frames = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        let mut rest = piece;
        while !rest.is_empty() {
            match decoder.push(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) => return (frames, end_of(e)),
            }
            if let Some(ty) = decoder.poll_frame() {
                take(&decoder, ty, &mut frames);
            }
        }
        if let Some(ty) = decoder.poll_frame() {
            take(&decoder, ty, &mut frames);
        }
    }
    match decoder.finish() {
        Ok(()) => (frames, End::Clean),
        Err(e) => (frames, end_of(e)),
    }
}

fn take(decoder: &FrameDecoder, ty: FrameType, frames: &mut Vec<(FrameType, Vec<u8>)>) {
    let payload = decoder.payload();
    assert!(payload.len() <= MAX_LEN as usize, "frame over the limit");
    // An empty AlignedVec has never allocated: its dangling pointer need
    // not be aligned, and there is nothing to read.
    if !payload.is_empty() {
        assert_eq!(payload.as_ptr() as usize % 16, 0, "payload not 16-byte aligned");
    }
    parse_payload(ty, payload);
    frames.push((ty, payload.to_vec()));
}

/// What the hub and the client do with each payload (errors are fine).
fn parse_payload(ty: FrameType, bytes: &AlignedVec) {
    match ty {
        FrameType::Hello => drop(serde_json::from_slice::<Hello>(bytes)),
        FrameType::Welcome => drop(serde_json::from_slice::<Welcome>(bytes)),
        FrameType::Subscribe => drop(serde_json::from_slice::<Subscribe>(bytes)),
        FrameType::Subscribed => drop(serde_json::from_slice::<Subscribed>(bytes)),
        FrameType::Order => drop(serde_json::from_slice::<tongguan::dispatch::Order>(bytes)),
        FrameType::OrderAck => drop(serde_json::from_slice::<OrderAck>(bytes)),
        FrameType::BatchAck => {
            if let Some(ack) = BatchAck::decode(bytes) {
                let again = ack.encode();
                // Reserved bytes and unknown reject codes are not kept.
                assert_eq!(again[..16], bytes[..16]);
            } else {
                assert_ne!(bytes.len(), BatchAck::LEN);
            }
        }
        FrameType::Heartbeat => {
            let _ids: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
        }
        FrameType::Batch => {
            if let Ok(batch) = access_batch(bytes, MAX_EVENTS) {
                let bounds = TimeBounds {
                    min_ms: i64::MIN,
                    max_ms: i64::MAX,
                };
                for e in batch.events.iter() {
                    let _ = e.validate(bounds);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = decode_all(data, data.len());
    let trickled = decode_all(data, 1);
    assert_eq!(whole, trickled, "framing depends on how the bytes are split");
});
