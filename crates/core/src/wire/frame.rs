//! Frames: a 5-byte header (payload length as u32 little-endian, then a
//! type byte) and the payload. Frames travel on the one bidirectional
//! stream a client opens; both directions use the same framing.
//!
//! [`FrameDecoder`] is sans-IO: the transport fills the bytes it asks for
//! and polls complete frames out. It checks a length prefix against the
//! limit *before* it allocates or asks for anything of the payload.

use crate::vocabulary::vocabulary;
use rkyv::util::AlignedVec;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 5;

vocabulary! {
    /// Frame types. Part of the protocol: add, never renumber. The names are
    /// docs/PROTOCOL.md's, as messages about frames spell them.
    pub enum FrameType: u8 {
        /// Client → hub, first frame: role and token (JSON).
        Hello = 0x01 => "HELLO",
        /// Hub → client: the hello was accepted, with the hub's limits (JSON).
        Welcome = 0x02 => "WELCOME",
        /// Device → hub: an event batch (rkyv archive).
        Batch = 0x10 => "BATCH",
        /// Hub → device: a batch is durable (20 bytes, fixed layout).
        BatchAck = 0x11 => "BATCH_ACK",
        /// Device → hub: "still here", empty payload.
        Heartbeat = 0x12 => "HEARTBEAT",
        /// Hub → device, instead of BATCH_ACK when the device asked for
        /// `batch_ack_v2` at HELLO: BATCH_ACK's 20 bytes, then every
        /// rejected event's index and reason.
        BatchAckV2 = 0x13 => "BATCH_ACK_V2",
        /// Subscriber → hub: which street, from which sequence (JSON).
        Subscribe = 0x20 => "SUBSCRIBE",
        /// Hub → subscriber: the subscription is live (JSON).
        Subscribed = 0x21 => "SUBSCRIBED",
        /// Hub → subscriber: a dispatch order or an update of one (JSON).
        Order = 0x22 => "ORDER",
        /// Subscriber → hub: an order was handled, with its outcome (JSON).
        OrderAck = 0x23 => "ORDER_ACK",
        /// Hub → subscriber that asked for `order_ack_result`: what became
        /// of an ORDER_ACK (JSON).
        OrderAckResult = 0x24 => "ORDER_ACK_RESULT",
        /// Hub → subscriber that asked for `backlog_end`: the backlog is
        /// sent, live orders follow (JSON).
        BacklogEnd = 0x25 => "BACKLOG_END",
        /// Subscriber → hub that was granted `order_steps`: a step of the
        /// disposal loop (accept, assign, ..., transfer) by a named person
        /// (JSON).
        OrderStep = 0x26 => "ORDER_STEP",
        /// Hub → subscriber that was granted `order_steps`: what became of
        /// an ORDER_STEP, once durable or refused (JSON).
        OrderStepResult = 0x27 => "ORDER_STEP_RESULT",
    }
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The header's type byte names no frame type.
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    /// The length prefix is over the limit; the payload was not read.
    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// What the prefix claimed.
        len: u32,
        /// The limit in force.
        max: u32,
    },
    /// The stream ended inside a frame.
    #[error("stream ended inside a frame ({0})")]
    Truncated(&'static str),
    /// The transport failed.
    #[error("stream read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The header for a frame of `ty` with `len` payload bytes.
pub fn encode_header(ty: FrameType, len: usize) -> [u8; HEADER_LEN] {
    let len = u32::try_from(len).expect("frame payload over 4 GiB");
    let l = len.to_le_bytes();
    [l[0], l[1], l[2], l[3], ty as u8]
}

/// A whole frame (header and payload) in one buffer, for small frames.
pub fn encode_frame(ty: FrameType, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&encode_header(ty, payload.len()));
    out.extend_from_slice(payload);
    out
}

/// Where a decoder is within its current frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Reading the header; this many bytes of it so far.
    Header(usize),
    /// Reading the payload of a frame of this type; this many bytes so far.
    Payload(FrameType, usize),
    /// A whole frame is ready for [`FrameDecoder::poll_frame`].
    Ready(FrameType),
}

/// A frame decoder over a buffer of its own: the transport writes into
/// [`FrameDecoder::buffer`] exactly what the decoder wants next (the rest
/// of a header, or the rest of a payload), says how much with
/// [`FrameDecoder::advance`], and takes complete frames with
/// [`FrameDecoder::poll_frame`]. It never asks for bytes past the end of
/// the current frame, so one decoder per stream needs no look-ahead
/// buffer; the payload is 16-byte aligned so an rkyv archive can be
/// accessed in place.
#[derive(Debug)]
pub struct FrameDecoder {
    max_len: u32,
    header: [u8; HEADER_LEN],
    payload: AlignedVec,
    stage: Stage,
}

impl FrameDecoder {
    /// A decoder refusing payloads over `max_len` bytes.
    pub fn new(max_len: u32) -> FrameDecoder {
        FrameDecoder::with_buffer(max_len, AlignedVec::new())
    }

    /// A decoder reusing `payload`'s allocation.
    pub fn with_buffer(max_len: u32, payload: AlignedVec) -> FrameDecoder {
        FrameDecoder {
            max_len,
            header: [0; HEADER_LEN],
            payload,
            stage: Stage::Header(0),
        }
    }

    /// Where the next bytes of the stream go. Empty while a frame waits
    /// to be polled.
    pub fn buffer(&mut self) -> &mut [u8] {
        match self.stage {
            Stage::Header(got) => &mut self.header[got..],
            Stage::Payload(_, got) => &mut self.payload[got..],
            Stage::Ready(_) => &mut [],
        }
    }

    /// `n` bytes were written at the start of [`FrameDecoder::buffer`].
    pub fn advance(&mut self, n: usize) -> Result<(), FrameError> {
        debug_assert!(n <= self.buffer().len(), "advanced past the buffer");
        match self.stage {
            Stage::Header(got) if got + n == HEADER_LEN => self.start_payload(),
            Stage::Header(got) => {
                self.stage = Stage::Header(got + n);
                Ok(())
            }
            Stage::Payload(ty, got) => {
                self.stage = if got + n == self.payload.len() {
                    Stage::Ready(ty)
                } else {
                    Stage::Payload(ty, got + n)
                };
                Ok(())
            }
            Stage::Ready(_) => Ok(()),
        }
    }

    /// Checks a complete header, then sizes the payload.
    fn start_payload(&mut self) -> Result<(), FrameError> {
        let h = self.header;
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let ty = FrameType::from_code(h[4]).ok_or(FrameError::UnknownType(h[4]))?;
        if len > self.max_len {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_len,
            });
        }
        self.payload.clear();
        self.payload.resize(len as usize, 0);
        self.stage = if len == 0 {
            Stage::Ready(ty)
        } else {
            Stage::Payload(ty, 0)
        };
        Ok(())
    }

    /// Copies what it wants of `bytes` in; returns how many it took (fewer
    /// than given once a frame is complete: poll it, then push the rest).
    pub fn push(&mut self, bytes: &[u8]) -> Result<usize, FrameError> {
        let mut taken = 0;
        while taken < bytes.len() {
            let want = self.buffer();
            if want.is_empty() {
                break;
            }
            let n = want.len().min(bytes.len() - taken);
            want[..n].copy_from_slice(&bytes[taken..taken + n]);
            taken += n;
            self.advance(n)?;
        }
        Ok(taken)
    }

    /// The complete frame, if there is one; its payload is
    /// [`FrameDecoder::payload`] until the next bytes are written.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<FrameType> {
        let Stage::Ready(ty) = self.stage else {
            return None;
        };
        self.stage = Stage::Header(0);
        Some(ty)
    }

    /// The payload of the frame last polled.
    pub fn payload(&self) -> &AlignedVec {
        &self.payload
    }

    /// Gives the payload buffer back (with the last frame's payload).
    pub fn into_payload(self) -> AlignedVec {
        self.payload
    }

    /// The stream ended: fine between frames, an error inside one.
    pub fn finish(&self) -> Result<(), FrameError> {
        match self.stage {
            Stage::Header(0) | Stage::Ready(_) => Ok(()),
            Stage::Header(_) => Err(FrameError::Truncated("header")),
            Stage::Payload(..) => Err(FrameError::Truncated("payload")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `bytes` pushed `step` bytes at a time.
    fn decode(
        bytes: &[u8],
        max: u32,
        step: usize,
    ) -> Result<Vec<(FrameType, Vec<u8>)>, FrameError> {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for chunk in bytes.chunks(step) {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = d.push(rest)?;
                rest = &rest[n..];
                if let Some(ty) = d.poll_frame() {
                    out.push((ty, d.payload().to_vec()));
                }
            }
            if let Some(ty) = d.poll_frame() {
                out.push((ty, d.payload().to_vec()));
            }
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn reads_back_what_was_written_however_the_bytes_are_split() {
        let mut bytes = encode_frame(FrameType::Hello, b"{}");
        bytes.extend(encode_frame(FrameType::Heartbeat, b""));
        bytes.extend(encode_frame(FrameType::OrderAck, b"{\"order_id\":\"x\"}"));
        for step in [1, 2, 3, 7, bytes.len()] {
            let frames = decode(&bytes, 64, step).unwrap();
            let types: Vec<_> = frames.iter().map(|f| f.0).collect();
            assert_eq!(
                types,
                [FrameType::Hello, FrameType::Heartbeat, FrameType::OrderAck],
                "step {step}"
            );
            assert_eq!(frames[0].1, b"{}");
            assert!(frames[1].1.is_empty());
        }
    }

    #[test]
    fn a_huge_length_is_refused_before_anything_is_allocated() {
        let bytes = encode_header(FrameType::Batch, u32::MAX as usize);
        let mut d = FrameDecoder::new(1 << 20);
        let err = d.push(&bytes).unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len: u32::MAX, .. }),
            "{err}"
        );
        assert_eq!(
            d.into_payload().capacity(),
            0,
            "nothing allocated for the claimed length"
        );
    }

    #[test]
    fn truncation_and_unknown_types_are_errors() {
        let mut bytes = encode_frame(FrameType::Hello, b"{\"a\":1}");
        bytes.truncate(8);
        let err = decode(&bytes, 64, 3).unwrap_err();
        assert!(matches!(err, FrameError::Truncated("payload")), "{err}");
        let err = decode(&bytes[..3], 64, 3).unwrap_err();
        assert!(matches!(err, FrameError::Truncated("header")), "{err}");
        let err = decode(&[0u8, 0, 0, 0, 0x7f], 64, 5).unwrap_err();
        assert!(matches!(err, FrameError::UnknownType(0x7f)), "{err}");
        assert!(
            decode(&[], 64, 1).unwrap().is_empty(),
            "an empty stream is no error"
        );
    }

    #[test]
    fn the_payload_is_aligned_for_rkyv() {
        let bytes = encode_frame(FrameType::Batch, &[7u8; 100]);
        let mut d = FrameDecoder::new(1024);
        assert_eq!(d.push(&bytes).unwrap(), bytes.len());
        assert_eq!(d.poll_frame(), Some(FrameType::Batch));
        assert_eq!(d.payload().as_ptr() as usize % 16, 0);
    }
}
