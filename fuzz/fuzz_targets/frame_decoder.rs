//! Frame decoder: arbitrary bytes as the stream a client sends, read frame
//! by frame with `tongguan::wire::frame::read_frame` until an error or the
//! end, exactly as a session does; each payload is then handed to the
//! parser the hub (or the client) uses for its frame type.
//!
//! Properties checked besides "never panics":
//! - a frame read is never longer than the limit, and a non-empty payload
//!   is 16-byte aligned (rkyv accesses batches in place);
//! - the framing does not depend on how the transport splits the stream:
//!   the same bytes delivered one byte per read give the same frames, the
//!   same payloads and the same final outcome.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rkyv::util::AlignedVec;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tongguan::wire::batch::{access_batch, TimeBounds};
use tongguan::wire::control::{Hello, OrderAck, Subscribe, Subscribed, Welcome};
use tongguan::wire::frame::{read_frame, FrameError, FrameType};
use tongguan::wire::BatchAck;

/// Small on purpose: large claimed lengths must be refused, not allocated.
const MAX_LEN: u32 = 4096;
/// The hub's default `limits.max_batch_events`.
const MAX_EVENTS: usize = 8192;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("current-thread runtime")
    })
}

/// Delivers at most `chunk` bytes per read, like a transport that splits
/// the stream anywhere.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.chunk.min(buf.remaining()).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = tail;
        Poll::Ready(Ok(()))
    }
}

/// How a read sequence ended, comparable across readers.
#[derive(Debug, PartialEq)]
enum End {
    Clean,
    UnknownType(u8),
    TooLarge(u32),
    Truncated(&'static str),
    Io(std::io::ErrorKind),
}

async fn read_all<R: AsyncRead + Unpin>(mut r: R) -> (Vec<(FrameType, Vec<u8>)>, End) {
    let mut frames = Vec::new();
    let mut payload = AlignedVec::new();
    loop {
        match read_frame(&mut r, MAX_LEN, &mut payload).await {
            Ok(Some(ty)) => {
                assert!(payload.len() <= MAX_LEN as usize, "frame over the limit");
                // An empty AlignedVec has never allocated: its dangling
                // pointer need not be aligned, and there is nothing to read.
                if !payload.is_empty() {
                    assert_eq!(payload.as_ptr() as usize % 16, 0, "payload not 16-byte aligned");
                }
                parse_payload(ty, &payload);
                frames.push((ty, payload.to_vec()));
            }
            Ok(None) => return (frames, End::Clean),
            Err(FrameError::UnknownType(t)) => return (frames, End::UnknownType(t)),
            Err(FrameError::TooLarge { len, max }) => {
                assert!(len > max && max == MAX_LEN);
                return (frames, End::TooLarge(len));
            }
            Err(FrameError::Truncated(what)) => return (frames, End::Truncated(what)),
            Err(FrameError::Io(e)) => return (frames, End::Io(e.kind())),
        }
    }
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
    let rt = runtime();
    let whole = rt.block_on(read_all(data));
    let trickled = rt.block_on(read_all(Trickle { data, chunk: 1 }));
    assert_eq!(whole, trickled, "framing depends on how reads are split");
});
