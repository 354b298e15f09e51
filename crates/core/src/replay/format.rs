//! The recording format, version 1 (docs/RECORDING.md): a segment file is
//! a 32-byte header and then records, one per accepted device batch, each
//! the batch's arrival time and its validated events in a fixed 80-byte
//! layout, little-endian, with a length and a checksum so a torn tail
//! (the hub killed mid-write) is recognised and stops the reader cleanly.
//! Pure codec: bytes in, bytes out; the shell owns the files.
//!
//! Invariant: `decode_record(encode_record(t, e)) == (t, e)` for every
//! validated event, and a record whose bytes were cut or changed is never
//! taken for a good one (its checksum or its length says so).

use crate::model::{CameraRef, Category, Event, Source};

/// The first 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"TGREC\0\0\0";
/// The format version this code writes and reads.
pub const VERSION: u16 = 1;
/// Bytes of a segment's header.
pub const HEADER_LEN: usize = 32;
/// Bytes before a record's body: its body's length and checksum.
pub const RECORD_PREFIX_LEN: usize = 8;
/// Bytes of a record body before its events: arrival ms, event count,
/// reserved.
pub const RECORD_HEAD_LEN: usize = 16;
/// Bytes of one event.
pub const EVENT_LEN: usize = 80;
/// Bytes of an index entry: arrival ms and the record's offset.
pub const INDEX_ENTRY_LEN: usize = 16;
/// Most events one record may say it holds (a device batch has at most
/// `limits.max_batch_events`; this bounds what a corrupt length can ask).
pub const MAX_RECORD_EVENTS: u32 = 1 << 20;

/// Why bytes are not a recording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The file does not start with the segment magic.
    #[error("not a tongguan recording segment (the first 8 bytes are not TGREC)")]
    NotASegment,
    /// A version this code cannot read.
    #[error("recording format version {found}; this tongguan reads version {VERSION}")]
    Version {
        /// The version in the header.
        found: u16,
    },
    /// A record's checksum does not match its body.
    #[error("record at byte {offset}: checksum mismatch (the file was changed or torn)")]
    Checksum {
        /// Where the record starts.
        offset: u64,
    },
    /// A record's fields do not fit together.
    #[error("record at byte {offset}: {what}")]
    Malformed {
        /// Where the record starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// A segment's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The hub's engine partitions (shards) when it wrote the segment: a
    /// replay runs as many, as the hub did.
    pub partitions: u16,
    /// When the segment was opened, Unix ms.
    pub created_ms: i64,
}

impl SegmentHeader {
    /// The header's 32 bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&VERSION.to_le_bytes());
        b[10..12].copy_from_slice(&self.partitions.to_le_bytes());
        b[16..24].copy_from_slice(&self.created_ms.to_le_bytes());
        b
    }

    /// Reads a header.
    pub fn decode(b: &[u8]) -> Result<SegmentHeader, FormatError> {
        if b.len() < HEADER_LEN || b[0..8] != MAGIC {
            return Err(FormatError::NotASegment);
        }
        let version = u16::from_le_bytes([b[8], b[9]]);
        if version != VERSION {
            return Err(FormatError::Version { found: version });
        }
        Ok(SegmentHeader {
            partitions: u16::from_le_bytes([b[10], b[11]]),
            created_ms: i64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
        })
    }
}

/// Bytes a record of `events` events takes, prefix included.
pub fn record_len(events: usize) -> usize {
    RECORD_PREFIX_LEN + RECORD_HEAD_LEN + events * EVENT_LEN
}

/// Appends one record (a batch that arrived at `arrival_ms`) to `out`.
pub fn encode_record(out: &mut Vec<u8>, arrival_ms: i64, events: &[Event]) {
    let start = out.len();
    let body_len = RECORD_HEAD_LEN + events.len() * EVENT_LEN;
    out.reserve(RECORD_PREFIX_LEN + body_len);
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&arrival_ms.to_le_bytes());
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    for e in events {
        encode_event(out, e);
    }
    let sum = checksum(&out[start + RECORD_PREFIX_LEN..]);
    out[start + 4..start + 8].copy_from_slice(&sum.to_le_bytes());
}

fn encode_event(out: &mut Vec<u8>, e: &Event) {
    // One fixed array, one copy: the recording thread encodes a million
    // events a second at full rate.
    let mut b = [0u8; EVENT_LEN];
    b[0..8].copy_from_slice(&e.device.to_le_bytes());
    b[8..16].copy_from_slice(&e.seq.to_le_bytes());
    b[16..24].copy_from_slice(&e.time_ms.to_le_bytes());
    b[24..32].copy_from_slice(&e.value.to_le_bytes());
    b[32..40].copy_from_slice(&e.lat.to_le_bytes());
    b[40..48].copy_from_slice(&e.lon.to_le_bytes());
    b[48..56].copy_from_slice(&e.cell.to_le_bytes());
    b[56..58].copy_from_slice(&e.category.code().to_le_bytes());
    b[58] = e.source.code();
    b[60..80].copy_from_slice(&e.camera.0);
    out.extend_from_slice(&b);
}

/// What [`decode_record`] found at the start of `bytes`.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// A whole record: its arrival time, and how many bytes it took.
    Record {
        /// Arrival time of the batch, Unix ms.
        arrival_ms: i64,
        /// Bytes taken, prefix included.
        len: usize,
    },
    /// The bytes end before the record does (a torn tail, or more to read).
    Incomplete,
}

/// Decodes the record at the start of `bytes` (found at `offset` in its
/// file, for errors), appending its events to `events`.
pub fn decode_record(
    bytes: &[u8],
    offset: u64,
    events: &mut Vec<Event>,
) -> Result<Decoded, FormatError> {
    if bytes.len() < RECORD_PREFIX_LEN {
        return Ok(Decoded::Incomplete);
    }
    let body_len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let sum = u64::from(u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")));
    let malformed = |what: String| FormatError::Malformed { offset, what };
    if body_len < RECORD_HEAD_LEN || !(body_len - RECORD_HEAD_LEN).is_multiple_of(EVENT_LEN) {
        return Err(malformed(format!(
            "body of {body_len} bytes is not a head and whole events"
        )));
    }
    let count = (body_len - RECORD_HEAD_LEN) / EVENT_LEN;
    if count > MAX_RECORD_EVENTS as usize {
        return Err(malformed(format!(
            "{count} events, more than {MAX_RECORD_EVENTS}"
        )));
    }
    let Some(body) = bytes.get(RECORD_PREFIX_LEN..RECORD_PREFIX_LEN + body_len) else {
        return Ok(Decoded::Incomplete);
    };
    if u64::from(checksum(body)) != sum {
        return Err(FormatError::Checksum { offset });
    }
    let arrival_ms = i64::from_le_bytes(body[0..8].try_into().expect("8 bytes"));
    let said = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
    if said != count {
        return Err(malformed(format!("says {said} events, holds {count}")));
    }
    events.reserve(count);
    for (i, raw) in body[RECORD_HEAD_LEN..].chunks_exact(EVENT_LEN).enumerate() {
        events.push(
            decode_event(raw)
                .ok_or_else(|| malformed(format!("event {i}: unknown category or source code")))?,
        );
    }
    Ok(Decoded::Record {
        arrival_ms,
        len: RECORD_PREFIX_LEN + body_len,
    })
}

fn decode_event(b: &[u8]) -> Option<Event> {
    let u = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let category = Category::from_code(u16::from_le_bytes([b[56], b[57]]))?;
    let source = Source::from_code(b[58])?;
    let mut camera = [0u8; 20];
    camera.copy_from_slice(&b[60..80]);
    Some(Event {
        device: u(0),
        seq: u(8),
        time_ms: u(16) as i64,
        value: f64::from_bits(u(24)),
        lat: f64::from_bits(u(32)),
        lon: f64::from_bits(u(40)),
        cell: u(48),
        category,
        source,
        camera: CameraRef(camera),
    })
}

/// An index entry: a record's arrival time and where it starts.
pub fn encode_index_entry(arrival_ms: i64, offset: u64) -> [u8; INDEX_ENTRY_LEN] {
    let mut b = [0u8; INDEX_ENTRY_LEN];
    b[0..8].copy_from_slice(&arrival_ms.to_le_bytes());
    b[8..16].copy_from_slice(&offset.to_le_bytes());
    b
}

/// The index entries in `bytes` (a torn last entry is left out).
pub fn decode_index(bytes: &[u8]) -> Vec<(i64, u64)> {
    bytes
        .chunks_exact(INDEX_ENTRY_LEN)
        .map(|c| {
            (
                i64::from_le_bytes(c[0..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(c[8..16].try_into().expect("8 bytes")),
            )
        })
        .collect()
}

/// The record checksum: FNV-1a over the body's 8-byte little-endian
/// words (the last word zero-padded), folded to 32 bits. Word-wise so
/// that checking costs little next to the replay itself.
pub fn checksum(body: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut words = body.chunks_exact(8);
    for w in &mut words {
        h ^= u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h ^= u64::from_le_bytes(last);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo;

    fn event(device: u64, seq: u64) -> Event {
        Event {
            device,
            seq,
            time_ms: 1_780_000_000_000 + seq as i64,
            value: 4.25,
            lat: 31.2575,
            lon: 121.4125,
            cell: geo::cell_of(31.2575, 121.4125).unwrap(),
            category: Category::Smoke,
            source: Source::Video,
            camera: CameraRef::parse("31010700001320000007").unwrap(),
        }
    }

    #[test]
    fn a_record_round_trips_exactly() {
        let events = vec![event(1, 0), event(2, 7)];
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 1_780_000_000_123, &events);
        assert_eq!(bytes.len(), record_len(2));
        let mut back = Vec::new();
        let got = decode_record(&bytes, 0, &mut back).unwrap();
        assert_eq!(
            got,
            Decoded::Record {
                arrival_ms: 1_780_000_000_123,
                len: bytes.len()
            }
        );
        assert_eq!(back, events);
    }

    #[test]
    fn a_torn_record_is_incomplete_and_a_changed_one_is_refused() {
        let mut bytes = Vec::new();
        encode_record(&mut bytes, 5, &[event(1, 0)]);
        let mut out = Vec::new();
        assert_eq!(
            decode_record(&bytes[..bytes.len() - 1], 0, &mut out).unwrap(),
            Decoded::Incomplete
        );
        bytes[30] ^= 1;
        assert_eq!(
            decode_record(&bytes, 64, &mut out),
            Err(FormatError::Checksum { offset: 64 })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_header_says_its_version_and_other_files_are_named() {
        let h = SegmentHeader {
            partitions: 4,
            created_ms: 99,
        };
        assert_eq!(SegmentHeader::decode(&h.encode()), Ok(h));
        let mut newer = h.encode();
        newer[8] = 2;
        assert_eq!(
            SegmentHeader::decode(&newer),
            Err(FormatError::Version { found: 2 })
        );
        assert_eq!(
            SegmentHeader::decode(b"{\"not\": \"a segment\"} padding...."),
            Err(FormatError::NotASegment)
        );
    }

    #[test]
    fn index_entries_round_trip_and_a_torn_one_is_left_out() {
        let mut b = encode_index_entry(10, 32).to_vec();
        b.extend_from_slice(&encode_index_entry(20, 500));
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode_index(&b), vec![(10, 32), (20, 500)]);
    }
}
