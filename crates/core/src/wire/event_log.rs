//! Validated events as the cluster's events stream carries them: what
//! ingest on one node checked, a partition's owner on another runs
//! without checking again. A version byte, the arrival time ingest
//! stamped on the batch (Unix ms, i64, little-endian: the time the engine
//! of whichever node runs the part takes as its `now`, so a replay on
//! another node decides as the first run did), then 80 bytes per event,
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
//!
//! A message of no events is a tick: a partition's owner writes one
//! while the partition is quiet, so that its watermark follows the time
//! in the log (the engine's `Shard::handle_partition_tick`).
//!
//! Format 1 (before the arrival time travelled) had no arrival field; its
//! messages still decode, with no arrival ([`Part::arrival_ms`] `None`):
//! the consumer then takes the time the stream stored the message.

use crate::model::{CameraRef, Category, Event, Source};

/// The format's version, the first byte.
pub const VERSION: u8 = 2;
/// The first format: no arrival time.
const VERSION_1: u8 = 1;
/// Bytes before the first event in this version: version, arrival.
const HEADER: usize = 9;
/// Bytes per event.
pub const EVENT_BYTES: usize = 80;

/// Why bytes are not a part of the events stream this node can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventLogError {
    /// Another version, or no version byte.
    #[error("events of format {0:?}, this node reads formats 1 and {VERSION}")]
    Version(Option<u8>),
    /// Not a whole number of events.
    #[error("{0} bytes are not a whole number of events")]
    Length(usize),
    /// A category or source code this node does not know.
    #[error("event {0}: unknown category or source code")]
    Code(usize),
}

/// What one message of the stream holds besides its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// When ingest took the batch, Unix ms by the ingesting node's clock;
    /// `None` in a message of format 1.
    pub arrival_ms: Option<i64>,
}

/// Appends `events`, which arrived at `arrival_ms` (Unix ms), to `out` in
/// the stream's format.
pub fn encode(arrival_ms: i64, events: &[Event], out: &mut Vec<u8>) {
    out.reserve(HEADER + events.len() * EVENT_BYTES);
    out.push(VERSION);
    out.extend_from_slice(&arrival_ms.to_le_bytes());
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

/// The events of `bytes`, appended to `out`, and what else the message
/// says.
pub fn decode(bytes: &[u8], out: &mut Vec<Event>) -> Result<Part, EventLogError> {
    let (&version, rest) = bytes.split_first().ok_or(EventLogError::Version(None))?;
    let (part, body) = match version {
        VERSION if rest.len() >= HEADER - 1 => {
            let (stamp, body) = rest.split_at(HEADER - 1);
            let stamp = i64::from_le_bytes(stamp.try_into().expect("8 bytes"));
            (
                Part {
                    arrival_ms: Some(stamp),
                },
                body,
            )
        }
        VERSION => return Err(EventLogError::Length(rest.len())),
        VERSION_1 => (Part { arrival_ms: None }, rest),
        other => return Err(EventLogError::Version(Some(other))),
    };
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
    Ok(part)
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
        encode(1_780_000_000_123, &events, &mut bytes);
        assert_eq!(bytes.len(), HEADER + 2 * EVENT_BYTES);
        let mut back = Vec::new();
        let part = decode(&bytes, &mut back).unwrap();
        assert_eq!(back, events);
        assert_eq!(part.arrival_ms, Some(1_780_000_000_123));
    }

    #[test]
    fn a_message_of_format_1_still_reads_with_no_arrival() {
        let mut bytes = Vec::new();
        encode(7, &[event(1)], &mut bytes);
        // Format 1: the same events with no arrival field.
        let mut old = vec![VERSION_1];
        old.extend_from_slice(&bytes[HEADER..]);
        let mut back = Vec::new();
        assert_eq!(decode(&old, &mut back), Ok(Part { arrival_ms: None }));
        assert_eq!(back, [event(1)]);
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
        encode(0, &[event(1)], &mut bytes);
        let mut out = Vec::new();
        assert_eq!(decode(&[], &mut out), Err(EventLogError::Version(None)));
        assert_eq!(decode(&[3], &mut out), Err(EventLogError::Version(Some(3))));
        assert_eq!(decode(&[2, 0], &mut out), Err(EventLogError::Length(1)));
        assert_eq!(
            decode(&bytes[..40], &mut out),
            Err(EventLogError::Length(31))
        );
        bytes[HEADER + 56] = 0xee;
        assert_eq!(decode(&bytes, &mut out), Err(EventLogError::Code(0)));
    }
}
