//! Validated events as the cluster's events stream carries them: what
//! ingest on one node checked, a partition's owner on another runs
//! without checking again. A version byte, then 80 bytes per event,
//! little-endian, fixed offsets (no allocation per event either way):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | device (u64) |
//! | 8 | 8 | seq (u64) |
//! | 16 | 8 | time_ms (i64) |
//! | 24 | 8 | value (f64) |
//! | 32 | 8 | lat (f64) |
//! | 40 | 8 | lon (f64) |
//! | 48 | 8 | cell (u64) |
//! | 56 | 2 | category code (u16) |
//! | 58 | 1 | source code (u8) |
//! | 59 | 20 | camera code (ASCII digits, zeros for none) |
//! | 79 | 1 | zero |

use crate::model::{CameraRef, Category, Event, Source};

/// The format's version, the first byte.
pub const VERSION: u8 = 1;
/// Bytes per event.
pub const EVENT_BYTES: usize = 80;

/// Why bytes are not a part of the events stream this node can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// Another version, or no version byte.
    #[error("events of format {0:?}, this node reads format {VERSION}")]
    Version(Option<u8>),
    /// Not a whole number of events.
    #[error("{0} bytes are not a whole number of events")]
    Length(usize),
    /// A category or source code this node does not know.
    #[error("event {0}: unknown category or source code")]
    Code(usize),
}

/// Appends `events` to `out` in the stream's format.
pub fn encode(events: &[Event], out: &mut Vec<u8>) {
    out.reserve(1 + events.len() * EVENT_BYTES);
    out.push(VERSION);
    for e in events {
        out.extend_from_slice(&e.device.to_le_bytes());
        out.extend_from_slice(&e.seq.to_le_bytes());
        out.extend_from_slice(&e.time_ms.to_le_bytes());
        out.extend_from_slice(&e.value.to_le_bytes());
        out.extend_from_slice(&e.lat.to_le_bytes());
        out.extend_from_slice(&e.lon.to_le_bytes());
        out.extend_from_slice(&e.cell.to_le_bytes());
        out.extend_from_slice(&e.category.code().to_le_bytes());
        out.push(e.source.code());
        out.extend_from_slice(&e.camera.0);
        out.push(0);
    }
}

/// The events of `bytes`, appended to `out`.
pub fn decode(bytes: &[u8], out: &mut Vec<Event>) -> Result<(), EventLogError> {
    let (&version, body) = bytes.split_first().ok_or(EventLogError::Version(None))?;
    if version != VERSION {
        return Err(EventLogError::Version(Some(version)));
    }
    if body.len() % EVENT_BYTES != 0 {
        return Err(EventLogError::Length(body.len()));
    }
    out.reserve(body.len() / EVENT_BYTES);
    for (i, b) in body.chunks_exact(EVENT_BYTES).enumerate() {
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let f64_at = |at: usize| f64::from_bits(u64_at(at));
        let category = Category::from_code(u16::from_le_bytes([b[56], b[57]]));
        let source = Source::from_code(b[58]);
        let (Some(category), Some(source)) = (category, source) else {
            return Err(EventLogError::Code(i));
        };
        out.push(Event {
            device: u64_at(0),
            seq: u64_at(8),
            time_ms: u64_at(16) as i64,
            value: f64_at(24),
            lat: f64_at(32),
            lon: f64_at(40),
            cell: u64_at(48),
            category,
            source,
            camera: CameraRef(b[59..79].try_into().expect("20 bytes")),
        });
    }
    Ok(())
}

/// The message id of partition `partition`'s part of a batch: a digest of
/// its events' devices and sequence numbers, so that a retransmit of the
/// batch, or a re-publish by another node after one failed mid-batch,
/// carries the same id and the stream's dedup window drops it.
pub fn message_id(partition: usize, events: &[Event]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for e in events {
        for b in e
            .device
            .to_le_bytes()
            .into_iter()
            .chain(e.seq.to_le_bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("e{partition}-{h:016x}-{}", events.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(device: u64) -> Event {
        Event {
            device,
            seq: 7,
            time_ms: -5,
            value: 0.25,
            lat: 31.25,
            lon: 121.41,
            cell: 0x0893_0995_86d7_ffff,
            category: Category::Fire,
            source: Source::Video,
            camera: CameraRef::parse("31010700001320000001").unwrap(),
        }
    }

    #[test]
    fn events_read_back_as_written() {
        let events = [event(1), event(u64::MAX)];
        let mut bytes = Vec::new();
        encode(&events, &mut bytes);
        assert_eq!(bytes.len(), 1 + 2 * EVENT_BYTES);
        let mut back = Vec::new();
        decode(&bytes, &mut back).unwrap();
        assert_eq!(back, events);
    }

    #[test]
    fn a_resent_part_has_the_same_id_and_another_part_another() {
        let part = [event(1), event(2)];
        assert_eq!(message_id(3, &part), message_id(3, &part.clone()));
        assert_ne!(message_id(3, &part), message_id(3, &part[..1]));
        assert_ne!(message_id(3, &part), message_id(4, &part));
        let mut later = part;
        later[1].seq += 1;
        assert_ne!(message_id(3, &part), message_id(3, &later));
    }

    #[test]
    fn what_this_node_cannot_read_is_refused_with_why() {
        let mut bytes = Vec::new();
        encode(&[event(1)], &mut bytes);
        let mut out = Vec::new();
        assert_eq!(decode(&[], &mut out), Err(EventLogError::Version(None)));
        assert_eq!(decode(&[2], &mut out), Err(EventLogError::Version(Some(2))));
        assert_eq!(
            decode(&bytes[..40], &mut out),
            Err(EventLogError::Length(39))
        );
        bytes[1 + 56] = 0xee;
        assert_eq!(decode(&bytes, &mut out), Err(EventLogError::Code(0)));
    }
}
