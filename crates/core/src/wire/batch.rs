//! The event batch: an rkyv archive of [`WireBatch`], validated with
//! bytecheck before any field is read, then checked event by event.
//!
//! The archive layout (little-endian, 8-byte aligned, 32-bit relative
//! pointers) is pinned by the crate features in Cargo.toml and written out
//! in docs/PROTOCOL.md; `documented_layout_is_what_rkyv_writes` below keeps
//! the two in step.

pub use super::cell_cache::CellCache;
use crate::model::{CameraRef, Category, Event, Source};
use crate::vocabulary::vocabulary;
use rkyv::rancor;
use rkyv::util::AlignedVec;

/// One event as a device sends it. 72 bytes archived.
#[derive(Debug, Clone, Copy, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct WireEvent {
    /// The device's id, unique in the district.
    pub device_id: u64,
    /// Per-device sequence number: +1 per event, kept across reconnects.
    pub seq: u64,
    /// Event time, Unix milliseconds.
    pub time_ms: i64,
    /// Measurement or detection confidence (unit by category).
    pub value: f64,
    /// Latitude, degrees WGS-84.
    pub lat: f64,
    /// Longitude, degrees WGS-84.
    pub lon: f64,
    /// Category wire code.
    pub category: u16,
    /// Source wire code.
    pub source: u8,
    /// Reserved, must be zero.
    pub flags: u8,
    /// Camera code (20 ASCII digits) or 20 zero bytes.
    pub camera: [u8; 20],
}

/// A batch of events with the device's batch number (echoed in the ack).
#[derive(Debug, Clone, PartialEq, Default, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct WireBatch {
    /// Chosen by the sender, echoed in the [`BatchAck`].
    pub batch_seq: u64,
    /// The events, at most the hub's `max_batch_events`.
    pub events: Vec<WireEvent>,
}

vocabulary! {
    /// Why an event in an otherwise valid batch was rejected. The first reason
    /// in a batch is reported in its ack (by code); every rejection is
    /// counted (by name).
    pub enum RejectReason: u16 {
        /// Category code not in the protocol's table.
        UnknownCategory = 1 => "unknown_category",
        /// Source code not in the protocol's table.
        UnknownSource = 2 => "unknown_source",
        /// Value is NaN or infinite.
        ValueNotFinite = 3 => "value_not_finite",
        /// Latitude/longitude not a valid WGS-84 position.
        BadPosition = 4 => "bad_position",
        /// Event time too far ahead of the hub's clock.
        TimeInFuture = 5 => "time_in_future",
        /// Event time too far behind the hub's clock.
        TimeTooOld = 6 => "time_too_old",
        /// Reserved flags set, or a camera code that is not 20 digits.
        BadField = 7 => "bad_field",
        /// Over the device token's events-per-second limit: send it again
        /// later (same device and seq).
        RateLimited = 8 => "rate_limited",
    }
}

impl RejectReason {
    /// Whether the event may be sent again as it is, later (same device
    /// and seq): only [`RejectReason::RateLimited`]. Every other reason is
    /// the event's own fault and it is rejected again if resent.
    pub fn is_retryable(self) -> bool {
        self == RejectReason::RateLimited
    }
}

/// Why a batch as a whole was refused (the connection is closed with
/// [`crate::wire::ErrorCode::InvalidBatch`]).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// bytecheck found the archive malformed.
    #[error("batch archive failed validation: {0}")]
    Invalid(String),
    /// More events than the hub accepts in one batch.
    #[error("batch of {len} events is over the limit of {max}")]
    TooManyEvents {
        /// Events in the batch.
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

/// Validates the archive in `bytes` and returns a view of it. `bytes` must
/// start at an 8-byte aligned address (an [`AlignedVec`] does).
pub fn access_batch(bytes: &[u8], max_events: usize) -> Result<&ArchivedWireBatch, BatchError> {
    let batch = rkyv::access::<ArchivedWireBatch, rancor::Error>(bytes)
        .map_err(|e| BatchError::Invalid(e.to_string()))?;
    if batch.events.len() > max_events {
        return Err(BatchError::TooManyEvents {
            len: batch.events.len(),
            max: max_events,
        });
    }
    Ok(batch)
}

/// The window of event times the hub accepts, relative to its clock.
#[derive(Debug, Clone, Copy)]
pub struct TimeBounds {
    /// Earliest accepted event time, Unix ms.
    pub min_ms: i64,
    /// Latest accepted event time, Unix ms.
    pub max_ms: i64,
}

impl ArchivedWireEvent {
    /// Checks every field and turns the event into the hub's [`Event`],
    /// computing its map cell.
    #[inline]
    pub fn validate(&self, bounds: TimeBounds) -> Result<Event, RejectReason> {
        self.validate_cached(bounds, &mut CellCache::disabled())
    }

    /// As [`ArchivedWireEvent::validate`], with the map cell taken from
    /// `cache` when this position was seen before (a sensor does not
    /// move): H3 indexing is the dearest step of validation.
    #[inline]
    pub fn validate_cached(
        &self,
        bounds: TimeBounds,
        cache: &mut CellCache,
    ) -> Result<Event, RejectReason> {
        WireEvent {
            device_id: self.device_id.to_native(),
            seq: self.seq.to_native(),
            time_ms: self.time_ms.to_native(),
            value: self.value.to_native(),
            lat: self.lat.to_native(),
            lon: self.lon.to_native(),
            category: self.category.to_native(),
            source: self.source,
            flags: self.flags,
            camera: self.camera,
        }
        .validate_cached(bounds, cache)
    }
}

impl WireEvent {
    /// Checks every field and turns the event into the hub's [`Event`],
    /// computing its map cell. The one validation of every way in (QUIC
    /// batches, the JSON API).
    pub fn validate(&self, bounds: TimeBounds) -> Result<Event, RejectReason> {
        self.validate_cached(bounds, &mut CellCache::disabled())
    }

    /// As [`WireEvent::validate`], with map cells from `cache`.
    pub fn validate_cached(
        &self,
        bounds: TimeBounds,
        cache: &mut CellCache,
    ) -> Result<Event, RejectReason> {
        let category = Category::from_code(self.category).ok_or(RejectReason::UnknownCategory)?;
        let source = Source::from_code(self.source).ok_or(RejectReason::UnknownSource)?;
        if !self.value.is_finite() {
            return Err(RejectReason::ValueNotFinite);
        }
        if self.time_ms > bounds.max_ms {
            return Err(RejectReason::TimeInFuture);
        }
        if self.time_ms < bounds.min_ms {
            return Err(RejectReason::TimeTooOld);
        }
        let camera = CameraRef(self.camera);
        if self.flags != 0 || (camera.is_some() && camera.as_str().is_none()) {
            return Err(RejectReason::BadField);
        }
        let cell = cache
            .cell_of(self.lat, self.lon)
            .ok_or(RejectReason::BadPosition)?;
        Ok(Event {
            device: self.device_id,
            seq: self.seq,
            time_ms: self.time_ms,
            value: self.value,
            lat: self.lat,
            lon: self.lon,
            cell,
            category,
            source,
            camera,
        })
    }
}

/// Serializes batches into a reused buffer: one allocation per encoder,
/// not per batch.
#[derive(Default)]
pub struct BatchEncoder {
    batch: WireBatch,
    buf: AlignedVec,
}

impl BatchEncoder {
    /// A new encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The archive of a batch holding `events`, valid until the next call.
    pub fn encode(&mut self, batch_seq: u64, events: &[WireEvent]) -> &[u8] {
        self.batch.batch_seq = batch_seq;
        self.batch.events.clear();
        self.batch.events.extend_from_slice(events);
        let buf = std::mem::take(&mut self.buf);
        self.buf = rkyv::api::high::to_bytes_in::<_, rancor::Error>(&self.batch, reset(buf))
            .expect("serializing plain data cannot fail");
        &self.buf
    }
}

fn reset(mut buf: AlignedVec) -> AlignedVec {
    buf.clear();
    buf
}

/// The hub's answer to a batch: it is durable. Fixed 20 bytes:
/// `batch_seq` u64, `accepted` u32, `rejected` u32, `first_reject` u16
/// (0 = none), 2 reserved zero bytes; all little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchAck {
    /// The batch's `batch_seq`.
    pub batch_seq: u64,
    /// Events that passed validation and entered the pipeline.
    pub accepted: u32,
    /// Events rejected (counted by reason on the hub).
    pub rejected: u32,
    /// The first rejection's reason, if any.
    pub first_reject: Option<RejectReason>,
}

impl BatchAck {
    /// Size on the wire.
    pub const LEN: usize = 20;

    /// The payload bytes.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[0..8].copy_from_slice(&self.batch_seq.to_le_bytes());
        out[8..12].copy_from_slice(&self.accepted.to_le_bytes());
        out[12..16].copy_from_slice(&self.rejected.to_le_bytes());
        let code = self.first_reject.map_or(0, RejectReason::code);
        out[16..18].copy_from_slice(&code.to_le_bytes());
        out
    }

    /// Parses a payload; `None` if it is not exactly 20 bytes.
    pub fn decode(bytes: &[u8]) -> Option<BatchAck> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        let code = u16::from_le_bytes([bytes[16], bytes[17]]);
        Some(BatchAck {
            batch_seq: u64::from_le_bytes(bytes[0..8].try_into().ok()?),
            accepted: u32::from_le_bytes(bytes[8..12].try_into().ok()?),
            rejected: u32::from_le_bytes(bytes[12..16].try_into().ok()?),
            first_reject: RejectReason::from_code(code),
        })
    }
}

/// One rejected event in a [`BatchAckV2`]: its index in the batch and
/// the reason code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventReject {
    /// The event's index in the batch's `events` (0 = the first).
    pub index: u32,
    /// The reject reason's code (section 8 of docs/PROTOCOL.md); a code
    /// this build does not know reads as [`EventReject::reason`] `None`.
    pub code: u16,
}

impl EventReject {
    /// A reject of event `index` for `reason`.
    pub fn new(index: u32, reason: RejectReason) -> EventReject {
        EventReject {
            index,
            code: reason.code(),
        }
    }

    /// The reason, if this build knows its code.
    pub fn reason(&self) -> Option<RejectReason> {
        RejectReason::from_code(self.code)
    }

    /// Whether the event may be sent again later as it is (rate limited);
    /// an unknown code is not retryable.
    pub fn is_retryable(&self) -> bool {
        self.reason().is_some_and(RejectReason::is_retryable)
    }
}

/// The hub's answer to a batch for a device that asked for
/// `batch_ack_v2`: the [`BatchAck`] (its 20 bytes first, unchanged), then
/// a u32 count and, per rejected event in index order, its u32 index and
/// u16 reason code. All little-endian; `24 + 6 * count` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAckV2 {
    /// What BATCH_ACK would have said.
    pub ack: BatchAck,
    /// Every rejected event, in index order (`ack.rejected` of them).
    pub rejects: Vec<EventReject>,
}

impl BatchAckV2 {
    /// Bytes before the first reject entry.
    pub const HEAD_LEN: usize = BatchAck::LEN + 4;
    /// Bytes per reject entry.
    pub const ENTRY_LEN: usize = 6;

    /// The payload length for a batch with `rejects` rejected events.
    pub fn len_for(rejects: usize) -> usize {
        Self::HEAD_LEN + Self::ENTRY_LEN * rejects
    }

    /// The largest payload for batches of at most `max_events` events.
    pub fn max_len(max_events: u32) -> usize {
        Self::len_for(max_events as usize)
    }

    /// Appends the payload bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.reserve(Self::len_for(self.rejects.len()));
        out.extend_from_slice(&self.ack.encode());
        let count = u32::try_from(self.rejects.len()).expect("rejects fit a u32");
        out.extend_from_slice(&count.to_le_bytes());
        for r in &self.rejects {
            out.extend_from_slice(&r.index.to_le_bytes());
            out.extend_from_slice(&r.code.to_le_bytes());
        }
    }

    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Parses a payload; `None` unless it is 24 bytes plus exactly the
    /// 6-byte entries its count announces.
    pub fn decode(bytes: &[u8]) -> Option<BatchAckV2> {
        if bytes.len() < Self::HEAD_LEN {
            return None;
        }
        let ack = BatchAck::decode(&bytes[..BatchAck::LEN])?;
        let count = u32::from_le_bytes(bytes[BatchAck::LEN..Self::HEAD_LEN].try_into().ok()?);
        let entries = &bytes[Self::HEAD_LEN..];
        if entries.len() != Self::ENTRY_LEN.checked_mul(count as usize)? {
            return None;
        }
        let rejects = entries
            .chunks_exact(Self::ENTRY_LEN)
            .map(|e| EventReject {
                index: u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                code: u16::from_le_bytes([e[4], e[5]]),
            })
            .collect();
        Some(BatchAckV2 { ack, rejects })
    }

    /// The rejected events that may be sent again later (rate limited).
    pub fn retryable(&self) -> impl Iterator<Item = u32> + '_ {
        self.rejects
            .iter()
            .filter(|r| r.is_retryable())
            .map(|r| r.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(i: u64) -> WireEvent {
        let mut camera = [0u8; 20];
        camera.copy_from_slice(b"31010700001320000001");
        WireEvent {
            device_id: 0x0102_0304_0506_0708 + i,
            seq: 42 + i,
            time_ms: 1_780_000_000_000,
            value: 0.93,
            lat: 31.25,
            lon: 121.40,
            category: Category::Fire.code(),
            source: Source::Video.code(),
            flags: 0,
            camera,
        }
    }

    /// Builds a batch by hand from docs/PROTOCOL.md's layout and checks
    /// that rkyv writes exactly these bytes and reads them back.
    #[test]
    fn documented_layout_is_what_rkyv_writes() {
        let events = [sample(0), sample(1)];
        let mut by_hand = Vec::new();
        for e in &events {
            by_hand.extend_from_slice(&e.device_id.to_le_bytes()); // 0
            by_hand.extend_from_slice(&e.seq.to_le_bytes()); // 8
            by_hand.extend_from_slice(&e.time_ms.to_le_bytes()); // 16
            by_hand.extend_from_slice(&e.value.to_le_bytes()); // 24
            by_hand.extend_from_slice(&e.lat.to_le_bytes()); // 32
            by_hand.extend_from_slice(&e.lon.to_le_bytes()); // 40
            by_hand.extend_from_slice(&e.category.to_le_bytes()); // 48
            by_hand.push(e.source); // 50
            by_hand.push(e.flags); // 51
            by_hand.extend_from_slice(&e.camera); // 52..72
        }
        let root = by_hand.len();
        by_hand.extend_from_slice(&7u64.to_le_bytes()); // batch_seq
        let rel = -(root as i64 + 8) as i32; // events start at 0, pointer at root+8
        by_hand.extend_from_slice(&rel.to_le_bytes());
        by_hand.extend_from_slice(&(events.len() as u32).to_le_bytes());
        assert_eq!(by_hand.len(), 72 * 2 + 16);

        let mut enc = BatchEncoder::new();
        assert_eq!(enc.encode(7, &events), &by_hand[..]);

        let mut aligned = AlignedVec::<16>::new();
        aligned.extend_from_slice(&by_hand);
        let batch = access_batch(&aligned, 10).unwrap();
        assert_eq!(batch.batch_seq.to_native(), 7);
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.events[1].seq.to_native(), 43);
    }

    #[test]
    fn empty_batch_is_sixteen_bytes() {
        let mut enc = BatchEncoder::new();
        let bytes = enc.encode(1, &[]).to_vec();
        assert_eq!(bytes.len(), 16);
        // With no events rkyv points the offset at the start of the buffer
        // (-8 from the pointer at byte 8); readers ignore it when len is 0.
        assert_eq!(&bytes[8..12], &(-8i32).to_le_bytes());
        assert_eq!(&bytes[12..16], &[0, 0, 0, 0]);
    }

    #[test]
    fn corrupt_archives_are_refused() {
        let mut enc = BatchEncoder::new();
        let good = enc.encode(1, &[sample(0)]).to_vec();
        let mut bad = AlignedVec::<16>::new();
        bad.extend_from_slice(&good);
        let n = bad.len();
        bad[n - 8..n - 4].copy_from_slice(&(-4096i32).to_le_bytes());
        assert!(matches!(
            access_batch(&bad, 10),
            Err(BatchError::Invalid(_))
        ));
        let mut short = AlignedVec::<16>::new();
        short.extend_from_slice(&good[..10]);
        assert!(access_batch(&short, 10).is_err());
        let mut ok = AlignedVec::<16>::new();
        ok.extend_from_slice(&good);
        assert!(matches!(
            access_batch(&ok, 0),
            Err(BatchError::TooManyEvents { len: 1, max: 0 })
        ));
    }

    #[test]
    fn events_are_checked_field_by_field() {
        let bounds = TimeBounds {
            min_ms: 1_779_000_000_000,
            max_ms: 1_781_000_000_000,
        };
        let mut enc = BatchEncoder::new();
        let check = |e: WireEvent, enc: &mut BatchEncoder| {
            let mut buf = AlignedVec::<16>::new();
            buf.extend_from_slice(enc.encode(1, &[e]));
            let batch = access_batch(&buf, 10).unwrap();
            batch.events[0].validate(bounds).map(|e| e.cell)
        };
        assert!(check(sample(0), &mut enc).is_ok());
        let cases = [
            (
                WireEvent {
                    category: 999,
                    ..sample(0)
                },
                RejectReason::UnknownCategory,
            ),
            (
                WireEvent {
                    source: 9,
                    ..sample(0)
                },
                RejectReason::UnknownSource,
            ),
            (
                WireEvent {
                    value: f64::NAN,
                    ..sample(0)
                },
                RejectReason::ValueNotFinite,
            ),
            (
                WireEvent {
                    lat: 91.0,
                    ..sample(0)
                },
                RejectReason::BadPosition,
            ),
            (
                WireEvent {
                    lon: f64::INFINITY,
                    ..sample(0)
                },
                RejectReason::BadPosition,
            ),
            (
                WireEvent {
                    time_ms: 1_790_000_000_000,
                    ..sample(0)
                },
                RejectReason::TimeInFuture,
            ),
            (
                WireEvent {
                    time_ms: 0,
                    ..sample(0)
                },
                RejectReason::TimeTooOld,
            ),
            (
                WireEvent {
                    flags: 1,
                    ..sample(0)
                },
                RejectReason::BadField,
            ),
            (
                WireEvent {
                    camera: [b'x'; 20],
                    ..sample(0)
                },
                RejectReason::BadField,
            ),
        ];
        for (event, reason) in cases {
            assert_eq!(check(event, &mut enc), Err(reason), "{event:?}");
        }
    }

    #[test]
    fn ack_round_trips() {
        let ack = BatchAck {
            batch_seq: 9,
            accepted: 1000,
            rejected: 2,
            first_reject: Some(RejectReason::BadPosition),
        };
        assert_eq!(BatchAck::decode(&ack.encode()), Some(ack));
        assert_eq!(BatchAck::decode(&[0; 19]), None);
    }

    /// BATCH_ACK_V2 byte by byte as docs/PROTOCOL.md gives it.
    #[test]
    fn ack_v2_is_the_v1_ack_then_the_rejects() {
        let v2 = BatchAckV2 {
            ack: BatchAck {
                batch_seq: 7,
                accepted: 2,
                rejected: 2,
                first_reject: Some(RejectReason::BadPosition),
            },
            rejects: vec![
                EventReject::new(1, RejectReason::BadPosition),
                EventReject::new(3, RejectReason::RateLimited),
            ],
        };
        let bytes = v2.encode();
        assert_eq!(bytes.len(), BatchAckV2::len_for(2));
        assert_eq!(&bytes[..20], &v2.ack.encode(), "the v1 ack first");
        assert_eq!(
            &bytes[20..],
            &[
                2, 0, 0, 0, // count
                1, 0, 0, 0, 4, 0, // event 1: bad_position
                3, 0, 0, 0, 8, 0, // event 3: rate_limited
            ]
        );
        let back = BatchAckV2::decode(&bytes).unwrap();
        assert_eq!(back, v2);
        assert_eq!(back.retryable().collect::<Vec<_>>(), [3]);
        assert!(!back.rejects[0].is_retryable());
        // An unknown code reads back as such, and is not retryable.
        let mut odd = bytes.clone();
        odd[28] = 0xEE;
        let odd = BatchAckV2::decode(&odd).unwrap();
        assert_eq!(odd.rejects[0].reason(), None);
        assert!(!odd.rejects[0].is_retryable());
        // Lengths that disagree with the count are refused.
        assert_eq!(BatchAckV2::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(BatchAckV2::decode(&bytes[..23]), None);
        let mut short = bytes.clone();
        short.truncate(30);
        assert_eq!(BatchAckV2::decode(&short), None);
        let none = BatchAckV2 {
            ack: BatchAck {
                batch_seq: 1,
                accepted: 5,
                rejected: 0,
                first_reject: None,
            },
            rejects: Vec::new(),
        };
        assert_eq!(none.encode().len(), 24);
        assert_eq!(BatchAckV2::decode(&none.encode()), Some(none));
        assert_eq!(BatchAckV2::max_len(8192), 24 + 6 * 8192);
    }
}
