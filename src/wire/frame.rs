//! Frames: a 5-byte header (payload length as u32 little-endian, then a
//! type byte) and the payload. Frames travel on the one bidirectional
//! stream a client opens; both directions use the same framing.
//!
//! The reader checks a length prefix against the limit *before* it
//! allocates or reads anything of the payload.

use rkyv::util::AlignedVec;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 5;

/// Frame types. Part of the protocol: add, never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// Client → hub, first frame: role and token (JSON).
    Hello = 0x01,
    /// Hub → client: the hello was accepted, with the hub's limits (JSON).
    Welcome = 0x02,
    /// Device → hub: an event batch (rkyv archive).
    Batch = 0x10,
    /// Hub → device: a batch is in the pipeline (20 bytes, fixed layout).
    BatchAck = 0x11,
    /// Device → hub: "still here", empty payload.
    Heartbeat = 0x12,
    /// Subscriber → hub: which street, from which sequence (JSON).
    Subscribe = 0x20,
    /// Hub → subscriber: the subscription is live (JSON).
    Subscribed = 0x21,
    /// Hub → subscriber: a dispatch order or an update of one (JSON).
    Order = 0x22,
    /// Subscriber → hub: an order was handled, with its outcome (JSON).
    OrderAck = 0x23,
}

impl FrameType {
    /// The type with this code, if any.
    pub fn from_code(code: u8) -> Option<FrameType> {
        Some(match code {
            0x01 => FrameType::Hello,
            0x02 => FrameType::Welcome,
            0x10 => FrameType::Batch,
            0x11 => FrameType::BatchAck,
            0x12 => FrameType::Heartbeat,
            0x20 => FrameType::Subscribe,
            0x21 => FrameType::Subscribed,
            0x22 => FrameType::Order,
            0x23 => FrameType::OrderAck,
            _ => return None,
        })
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

/// Reads one frame into `payload` (resized to the payload length, 16-byte
/// aligned so an rkyv archive can be accessed in place).
///
/// Returns `Ok(None)` when the stream ends cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: u32,
    payload: &mut AlignedVec,
) -> Result<Option<FrameType>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    let mut got = 0;
    while got < HEADER_LEN {
        let n = reader.read(&mut header[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated("header"))
            };
        }
        got += n;
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let ty = FrameType::from_code(header[4]).ok_or(FrameError::UnknownType(header[4]))?;
    if len > max_len {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    payload.clear();
    payload.resize(len as usize, 0);
    match reader.read_exact(&mut payload[..]).await {
        Ok(_) => Ok(Some(ty)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err(FrameError::Truncated("payload"))
        }
        Err(e) => Err(FrameError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_back_what_was_written() {
        let mut bytes = encode_frame(FrameType::Hello, b"{}");
        bytes.extend(encode_frame(FrameType::Heartbeat, b""));
        let mut r = &bytes[..];
        let mut buf = AlignedVec::new();
        assert_eq!(
            read_frame(&mut r, 64, &mut buf).await.unwrap(),
            Some(FrameType::Hello)
        );
        assert_eq!(&buf[..], b"{}");
        assert_eq!(
            read_frame(&mut r, 64, &mut buf).await.unwrap(),
            Some(FrameType::Heartbeat)
        );
        assert!(buf.is_empty());
        assert_eq!(read_frame(&mut r, 64, &mut buf).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_huge_length_is_refused_before_reading() {
        let bytes = encode_header(FrameType::Batch, u32::MAX as usize);
        let mut r = &bytes[..];
        let mut buf = AlignedVec::new();
        let err = read_frame(&mut r, 1 << 20, &mut buf).await.unwrap_err();
        assert!(
            matches!(err, FrameError::TooLarge { len: u32::MAX, .. }),
            "{err}"
        );
        assert_eq!(
            buf.capacity(),
            0,
            "nothing allocated for the claimed length"
        );
    }

    #[tokio::test]
    async fn truncation_and_unknown_types_are_errors() {
        let mut bytes = encode_frame(FrameType::Hello, b"{\"a\":1}");
        bytes.truncate(8);
        let mut r = &bytes[..];
        let mut buf = AlignedVec::new();
        let err = read_frame(&mut r, 64, &mut buf).await.unwrap_err();
        assert!(matches!(err, FrameError::Truncated("payload")), "{err}");

        let bytes = [0u8, 0, 0, 0, 0x7f];
        let mut r = &bytes[..];
        let err = read_frame(&mut r, 64, &mut buf).await.unwrap_err();
        assert!(matches!(err, FrameError::UnknownType(0x7f)), "{err}");
    }
}
