//! 预编码的批次帧 / Pre-encoded BATCH frames: each device's event is
//! encoded once, as the 72 bytes docs/PROTOCOL.md section 6.3 gives, and
//! a batch is built by copying those bytes and patching only what changes
//! per event (seq, time, value). The frame (5-byte header, events, 16-byte
//! root) lives in one buffer reused for every batch of a connection.
//!
//! Why not `BatchEncoder` and rkyv: serializing copies each event twice
//! more and costs more CPU than the hub spends on it; the generator must
//! cost a fraction of what it measures. The layout is fixed by the
//! protocol, and the tests below keep these bytes equal to what rkyv
//! writes.

use tongguan::wire::batch::WireEvent;
use tongguan::wire::frame::{encode_header, FrameType, HEADER_LEN};

/// Bytes of one archived event.
pub const EVENT_LEN: usize = 72;
/// Bytes of the archive's root (`batch_seq`, events pointer and length).
const ROOT_LEN: usize = 16;
/// Offsets of the patched fields inside an event (PROTOCOL.md 6.3).
const SEQ_AT: usize = 8;
const TIME_AT: usize = 16;
const VALUE_AT: usize = 24;

/// One event encoded as the archive holds it; `seq`, `time_ms` and
/// `value` are overwritten when it is put in a batch.
pub type Template = [u8; EVENT_LEN];

/// Encodes `e` as an archived `WireEvent`, little-endian, no padding.
pub fn template(e: &WireEvent) -> Template {
    let mut t = [0u8; EVENT_LEN];
    t[0..8].copy_from_slice(&e.device_id.to_le_bytes());
    t[8..16].copy_from_slice(&e.seq.to_le_bytes());
    t[16..24].copy_from_slice(&e.time_ms.to_le_bytes());
    t[24..32].copy_from_slice(&e.value.to_le_bytes());
    t[32..40].copy_from_slice(&e.lat.to_le_bytes());
    t[40..48].copy_from_slice(&e.lon.to_le_bytes());
    t[48..50].copy_from_slice(&e.category.to_le_bytes());
    t[50] = e.source;
    t[51] = e.flags;
    t[52..72].copy_from_slice(&e.camera);
    t
}

/// A BATCH frame being filled: the header's room, then the events; the
/// root and the header are written by [`BatchFrame::finish`].
pub struct BatchFrame {
    buf: Vec<u8>,
    events: usize,
}

impl BatchFrame {
    /// An empty frame with room for `max_events` without growing.
    pub fn with_capacity(max_events: usize) -> BatchFrame {
        let mut buf = Vec::with_capacity(HEADER_LEN + EVENT_LEN * max_events + ROOT_LEN);
        buf.resize(HEADER_LEN, 0);
        BatchFrame { buf, events: 0 }
    }

    /// Events in the frame.
    pub fn len(&self) -> usize {
        self.events
    }

    /// Whether the frame holds no event.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Appends an event: the template with its seq, time and value.
    #[inline]
    pub fn push(&mut self, t: &Template, seq: u64, time_ms: i64, value: f64) {
        debug_assert_eq!(self.buf.len(), HEADER_LEN + EVENT_LEN * self.events);
        let at = self.buf.len();
        self.buf.extend_from_slice(t);
        let e = &mut self.buf[at..at + EVENT_LEN];
        e[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_le_bytes());
        e[TIME_AT..TIME_AT + 8].copy_from_slice(&time_ms.to_le_bytes());
        e[VALUE_AT..VALUE_AT + 8].copy_from_slice(&value.to_le_bytes());
        self.events += 1;
    }

    /// Writes the root and the header and returns the whole frame. The
    /// events array is at payload offset 0, so the root's relative
    /// pointer is `-(72 n + 8)` (PROTOCOL.md 6.2).
    pub fn finish(&mut self, batch_seq: u64) -> &[u8] {
        let n = self.events;
        let payload = EVENT_LEN * n + ROOT_LEN;
        self.buf.truncate(HEADER_LEN + EVENT_LEN * n);
        let pointer = -((EVENT_LEN * n + 8) as i64) as i32;
        self.buf.extend_from_slice(&batch_seq.to_le_bytes());
        self.buf.extend_from_slice(&pointer.to_le_bytes());
        self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        self.buf[..HEADER_LEN].copy_from_slice(&encode_header(FrameType::Batch, payload));
        &self.buf
    }

    /// Empties the frame for the next batch (the buffer is kept).
    pub fn clear(&mut self) {
        self.buf.truncate(HEADER_LEN);
        self.events = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongguan::wire::batch::{access_batch, BatchEncoder};

    fn event(k: u64) -> WireEvent {
        WireEvent {
            device_id: 0x0102_0304_0506_0708 + k,
            seq: 42 + k,
            time_ms: 1_780_000_000_000 + k as i64,
            value: 0.93 * k as f64,
            lat: 31.25,
            lon: 121.40,
            category: 2,
            source: 2,
            flags: 0,
            camera: *b"31010700001320000001",
        }
    }

    /// The frame the client's rkyv encoder would send for `events`.
    fn rkyv_frame(batch_seq: u64, events: &[WireEvent]) -> Vec<u8> {
        let mut enc = BatchEncoder::new();
        let payload = enc.encode(batch_seq, events).to_vec();
        let mut frame = encode_header(FrameType::Batch, payload.len()).to_vec();
        frame.extend_from_slice(&payload);
        frame
    }

    #[test]
    fn patched_templates_are_byte_for_byte_what_rkyv_writes() {
        let mut frame = BatchFrame::with_capacity(4);
        for n in [0usize, 1, 3] {
            let events: Vec<WireEvent> = (0..n as u64).map(event).collect();
            frame.clear();
            for e in &events {
                // The template carries other seq/time/value: the patch wins.
                let t = template(&WireEvent {
                    seq: 0,
                    time_ms: 0,
                    value: -1.0,
                    ..*e
                });
                frame.push(&t, e.seq, e.time_ms, e.value);
            }
            assert_eq!(frame.len(), n);
            assert_eq!(
                frame.finish(7 + n as u64),
                &rkyv_frame(7 + n as u64, &events)[..]
            );
        }
    }

    #[test]
    fn a_frame_reused_after_clear_decodes_as_its_own_batch() {
        let mut frame = BatchFrame::with_capacity(2);
        let e = event(1);
        frame.push(&template(&e), 1, 2, 3.0);
        frame.push(&template(&e), 2, 2, 3.0);
        let _ = frame.finish(1);
        frame.clear();
        assert!(frame.is_empty());
        frame.push(&template(&e), 9, 10, 11.5);
        let bytes = frame.finish(2).to_vec();
        let mut payload = rkyv::util::AlignedVec::<16>::new();
        payload.extend_from_slice(&bytes[HEADER_LEN..]);
        let batch = access_batch(&payload, 8192).expect("a valid archive");
        assert_eq!(batch.batch_seq.to_native(), 2);
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.events[0].seq.to_native(), 9);
        assert_eq!(batch.events[0].time_ms.to_native(), 10);
        assert_eq!(batch.events[0].value.to_native(), 11.5);
        assert_eq!(batch.events[0].device_id.to_native(), e.device_id);
    }
}
