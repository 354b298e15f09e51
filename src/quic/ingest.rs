//! A device session: read BATCH frames, validate the archive and each
//! event, split the events among the shards by map cell, queue them, and
//! acknowledge each batch once it is durable: once its shards have run it
//! and every detection it made is in the outbox's journal. The reader and
//! the acknowledging writer are two tasks, so batches stay pipelined while
//! their acks wait, in order. When a shard queue is full the session stops
//! reading until there is room, so QUIC flow control pushes back on the
//! device: nothing is dropped. A bad frame closes the session only after
//! every batch read before it has been acknowledged.
//!
//! Every event is checked first; the token's rate bucket is charged for
//! the valid ones only, and when it has fewer tokens than that, the last
//! valid events of the batch are refused as `rate_limited` (to be sent
//! again). A device that asked for `batch_ack_v2` at HELLO is answered
//! with BATCH_ACK_V2, which names every rejected event and its reason.

use crate::engine::partition::shard_of;
use crate::frame_io::read_frame;
use crate::model::{Category, Source};
use crate::quic::close::Close;
use crate::runtime::clock;
use crate::runtime::threads::ShardMsg;
use crate::runtime::Shared;
use crate::wire::batch::{
    access_batch, BatchAck, BatchAckV2, CellCache, EventReject, RejectReason, TimeBounds,
};
use crate::wire::control::{Feature, Features};
use crate::wire::frame::{encode_header, FrameType};
use crate::wire::ErrorCode;
use rkyv::util::AlignedVec;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

const RECEIVED_SLOTS: usize = Source::ALL.len() * Category::ALL.len();

/// Batches read and not yet acknowledged, at most: past this the reader
/// waits for the writer.
const ACKS_IN_FLIGHT: usize = 1024;

/// How long the acks written before a close may take to reach the device.
const FLUSH_BEFORE_CLOSE: std::time::Duration = std::time::Duration::from_secs(2);

/// A batch's answer, sent once every part of it is durable.
struct PendingAck {
    ack: BatchAck,
    /// Every rejected event, in index order: only for BATCH_ACK_V2.
    rejects: Vec<EventReject>,
    parts: Vec<oneshot::Receiver<()>>,
}

/// The token's events-per-second bucket, shared by its connections.
type RateBucket = Arc<std::sync::Mutex<crate::auth::admission::Bucket>>;

/// Runs a device session until the stream ends or a frame is bad; either
/// way every batch read before is acknowledged first (if it became
/// durable). `features` are those granted at HELLO.
pub async fn run(
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    shared: &Arc<Shared>,
    rate: Option<RateBucket>,
    features: Features,
) -> Result<(), Close> {
    let v2 = features.has(Feature::BatchAckV2);
    let (acks, pending) = mpsc::channel(ACKS_IN_FLIGHT);
    let writer = tokio::spawn(write_acks(send, pending, v2));
    let read = read_batches(recv, shared, rate, v2, acks).await;
    let written = writer
        .await
        .unwrap_or_else(|e| Err(Close::new(ErrorCode::NoError, e.to_string())));
    read.and(written)
}

/// Writes each batch's ack (BATCH_ACK, or BATCH_ACK_V2 when `v2`), in
/// order, once it is durable; at the end waits (briefly) for the device to
/// have them.
async fn write_acks(
    mut send: quinn::SendStream,
    mut pending: mpsc::Receiver<PendingAck>,
    v2: bool,
) -> Result<(), Close> {
    let mut frame = Vec::with_capacity(5 + BatchAckV2::HEAD_LEN);
    while let Some(p) = pending.recv().await {
        for part in p.parts {
            if part.await.is_err() {
                // Not durable: the hub stopped first, or (cluster mode)
                // the events stream did not take it in time. No ack, so
                // the device sends it again; the reason says both.
                return Err(Close::new(
                    ErrorCode::GoingAway,
                    "a batch was not stored (the hub is stopping, or the cluster's log is unreachable): reconnect and send it again",
                ));
            }
        }
        frame.clear();
        if v2 {
            let ack = BatchAckV2 {
                ack: p.ack,
                rejects: p.rejects,
            };
            let len = BatchAckV2::len_for(ack.rejects.len());
            frame.extend_from_slice(&encode_header(FrameType::BatchAckV2, len));
            ack.encode_into(&mut frame);
        } else {
            frame.extend_from_slice(&encode_header(FrameType::BatchAck, BatchAck::LEN));
            frame.extend_from_slice(&p.ack.encode());
        }
        send.write_all(&frame)
            .await
            .map_err(|e| Close::new(ErrorCode::NoError, e.to_string()))?;
    }
    // The reader is done (the stream ended, or a frame was bad and the
    // connection closes next): let the acks reach the device first.
    let _ = send.finish();
    let _ = tokio::time::timeout(FLUSH_BEFORE_CLOSE, send.stopped()).await;
    Ok(())
}

/// How many events ahead of validation a position's cache line is asked
/// for: the cache is larger than the CPU's and read in random order.
const CELL_LOOKAHEAD: usize = 8;

/// Reads, validates and queues batches until the stream ends or a frame
/// is bad, handing each batch's pending ack to the writer.
async fn read_batches(
    mut recv: quinn::RecvStream,
    shared: &Arc<Shared>,
    rate: Option<RateBucket>,
    v2: bool,
    acks: mpsc::Sender<PendingAck>,
) -> Result<(), Close> {
    let limits = &shared.config.limits;
    let max_events = limits.max_batch_events as usize;
    let max_future = limits.max_future.as_millis() as i64;
    let max_past = limits.max_past.as_millis() as i64;
    let shards = shared.event_partitions();
    let mut buf = AlignedVec::new();
    let mut parts: Vec<Vec<_>> = vec![Vec::new(); shards];
    let mut cells = CellCache::new(65_536);
    // With a rate limit: (index in the batch, shard) of each valid event,
    // so the last ones can be taken back when the bucket runs short.
    let mut valid: Vec<(u32, usize)> = Vec::new();
    loop {
        let Some(ty) = read_frame(&mut recv, limits.max_frame_bytes, &mut buf).await? else {
            return Ok(());
        };
        match ty {
            FrameType::Batch => {}
            FrameType::Heartbeat => {
                heartbeat(shared, &buf).await?;
                continue;
            }
            other => {
                return Err(Close::new(
                    ErrorCode::ProtocolViolation,
                    format!("{other:?} frame is not allowed from a device"),
                ))
            }
        }
        let arrival = clock::stamp_ns();
        let now = shared.clock.now_ms();
        let bounds = TimeBounds {
            min_ms: now - max_past,
            max_ms: now + max_future,
        };
        let batch = access_batch(&buf, max_events)
            .map_err(|e| Close::new(ErrorCode::InvalidBatch, e.to_string()))?;
        let batch_seq = batch.batch_seq.to_native();
        let mut received = [0u32; RECEIVED_SLOTS];
        let mut rejected = [0u32; RejectReason::ALL.len()];
        // The first invalid event: (index, reason).
        let mut first_invalid = None;
        let mut rejects = Vec::new();
        let mut accepted = 0u32;
        valid.clear();
        let events = &batch.events;
        for e in events.iter().take(CELL_LOOKAHEAD) {
            cells.prefetch(e.lat.to_native(), e.lon.to_native());
        }
        for (i, e) in events.iter().enumerate() {
            if let Some(later) = events.get(i + CELL_LOOKAHEAD) {
                cells.prefetch(later.lat.to_native(), later.lon.to_native());
            }
            match e.validate_cached(bounds, &mut cells) {
                Ok(event) => {
                    received[slot(&event)] += 1;
                    accepted += 1;
                    let shard = shard_of(event.cell, shards);
                    if rate.is_some() {
                        valid.push((i as u32, shard));
                    }
                    parts[shard].push(event);
                }
                Err(reason) => {
                    rejected[reason as usize - 1] += 1;
                    first_invalid.get_or_insert((i as u32, reason));
                    if v2 {
                        rejects.push(EventReject::new(i as u32, reason));
                    }
                }
            }
        }
        let mut first_reject = first_invalid;
        // The bucket is charged for valid events only. Over the token's
        // rate, the last valid events are refused, to be sent again (the
        // ack says how many and why).
        if let (Some(bucket), true) = (&rate, accepted > 0) {
            let allowed = bucket
                .lock()
                .expect("bucket lock")
                .take(accepted, clock::instant());
            if allowed < accepted {
                let over = &valid[allowed as usize..];
                // Last pushed, first popped: each is the last of its shard's.
                for &(_, shard) in over.iter().rev() {
                    let event = parts[shard]
                        .pop()
                        .expect("a valid event in its shard's part");
                    received[slot(&event)] -= 1;
                }
                let limited = RejectReason::RateLimited;
                rejected[limited as usize - 1] += accepted - allowed;
                accepted = allowed;
                let first_limited = over[0].0;
                if first_reject.is_none_or(|(i, _)| first_limited < i) {
                    first_reject = Some((first_limited, limited));
                }
                if v2 {
                    rejects.extend(over.iter().map(|&(i, _)| EventReject::new(i, limited)));
                    rejects.sort_unstable_by_key(|r| r.index);
                }
            }
        }
        let first_reject = first_reject.map(|(_, reason)| reason);
        shared.record(now, &parts);
        let mut durable = Vec::new();
        for (i, part) in parts.iter_mut().enumerate() {
            if part.is_empty() {
                continue;
            }
            if shared.sink {
                part.clear();
                continue;
            }
            let events = std::mem::replace(part, shared.buffers.take());
            durable.push(shared.publish_part(i, arrival, events).await?);
        }
        count(shared, &received, &rejected);
        shared.metrics.batches.inc();
        let ack = BatchAck {
            batch_seq,
            accepted,
            rejected: rejected.iter().sum(),
            first_reject,
        };
        let pending = PendingAck {
            ack,
            rejects,
            parts: durable,
        };
        if acks.send(pending).await.is_err() {
            // The writer stopped (the device went away): so do we.
            return Ok(());
        }
    }
}

/// A HEARTBEAT's payload: the device ids (u64 little-endian each) the
/// gateway vouches for; every shard hears it and updates the ones it
/// knows.
async fn heartbeat(shared: &Shared, payload: &[u8]) -> Result<(), Close> {
    if !payload.len().is_multiple_of(8) {
        return Err(Close::new(
            ErrorCode::ProtocolViolation,
            format!(
                "HEARTBEAT payload of {} bytes is not a list of u64 device ids",
                payload.len()
            ),
        ));
    }
    if payload.is_empty() {
        return Ok(());
    }
    let ids: Arc<[u64]> = payload
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    shared
        .runtime
        .submit_to_all(|| ShardMsg::Heartbeat(ids.clone()))
        .await?;
    Ok(())
}

/// An event's slot in the per-batch count of received events.
#[inline]
fn slot(event: &crate::model::Event) -> usize {
    event.source.index() * Category::ALL.len() + event.category.index()
}

fn count(shared: &Shared, received: &[u32; RECEIVED_SLOTS], rejected: &[u32]) {
    for (i, &n) in received.iter().enumerate() {
        if n > 0 {
            let source = Source::ALL[i / Category::ALL.len()];
            let category = Category::ALL[i % Category::ALL.len()];
            shared
                .metrics
                .received(source, category)
                .inc_by(u64::from(n));
        }
    }
    for (i, &n) in rejected.iter().enumerate() {
        if n > 0 {
            shared
                .metrics
                .rejected(RejectReason::ALL[i])
                .inc_by(u64::from(n));
        }
    }
}
