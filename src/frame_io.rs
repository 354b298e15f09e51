//! Frames over an async stream: the thin shell around the core's
//! [`FrameDecoder`]. The QUIC sessions and the client both read with it.

use rkyv::util::AlignedVec;
use tokio::io::{AsyncRead, AsyncReadExt};
use tongguan_core::wire::frame::{FrameDecoder, FrameError, FrameType};

/// Reads one frame into `payload` (resized to the payload length, 16-byte
/// aligned so an rkyv archive can be accessed in place); a length prefix
/// over `max_len` is refused before anything of the payload is read.
///
/// Returns `Ok(None)` when the stream ends cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_len: u32,
    payload: &mut AlignedVec,
) -> Result<Option<FrameType>, FrameError> {
    let mut decoder = FrameDecoder::with_buffer(max_len, std::mem::take(payload));
    let result = fill(reader, &mut decoder).await;
    *payload = decoder.into_payload();
    result
}

/// Feeds the decoder what it asks for until it has a frame.
async fn fill<R: AsyncRead + Unpin>(
    reader: &mut R,
    decoder: &mut FrameDecoder,
) -> Result<Option<FrameType>, FrameError> {
    loop {
        if let Some(ty) = decoder.poll_frame() {
            return Ok(Some(ty));
        }
        let n = reader.read(decoder.buffer()).await?;
        if n == 0 {
            decoder.finish()?;
            return Ok(None);
        }
        decoder.advance(n)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongguan_core::wire::frame::encode_frame;

    #[tokio::test]
    async fn frames_are_read_one_by_one_from_a_stream() {
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
}
