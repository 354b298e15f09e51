//! A device session: read BATCH frames, validate the archive and each
//! event, split the events among the shards by map cell, queue them, and
//! acknowledge each batch once it is durable: once its shards have run it
//! and every detection it made is in the outbox's journal. The reader and
//! the acknowledging writer are two tasks, so batches stay pipelined while
//! their acks wait, in order. When a shard queue is full the session stops
//! reading until there is room, so QUIC flow control pushes back on the
//! device: nothing is dropped. A bad frame closes the session only after
//! every batch read before it has been acknowledged.

use crate::engine::partition::shard_of;
use crate::frame_io::read_frame;
use crate::model::{Category, Source};
use crate::quic::close::Close;
use crate::runtime::clock;
use crate::runtime::threads::{ShardBatch, ShardMsg};
use crate::runtime::transport::EventTransport;
use crate::runtime::Shared;
use crate::wire::batch::{access_batch, BatchAck, CellCache, RejectReason, TimeBounds};
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
    parts: Vec<oneshot::Receiver<()>>,
}

/// Runs a device session until the stream ends or a frame is bad; either
/// way every batch read before is acknowledged first (if it became
/// durable).
pub async fn run(
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    shared: &Arc<Shared>,
    rate: Option<Arc<std::sync::Mutex<crate::auth::admission::Bucket>>>,
) -> Result<(), Close> {
    let (acks, pending) = mpsc::channel(ACKS_IN_FLIGHT);
    let writer = tokio::spawn(write_acks(send, pending));
    let read = read_batches(recv, shared, rate, acks).await;
    let written = writer
        .await
        .unwrap_or_else(|e| Err(Close::new(ErrorCode::NoError, e.to_string())));
    read.and(written)
}

/// Writes each batch's ack, in order, once it is durable; at the end waits
/// (briefly) for the device to have them.
async fn write_acks(
    mut send: quinn::SendStream,
    mut pending: mpsc::Receiver<PendingAck>,
) -> Result<(), Close> {
    while let Some(p) = pending.recv().await {
        for part in p.parts {
            if part.await.is_err() {
                // The hub stopped before it was durable: no ack, so the
                // device sends it again.
                return Err(Close::new(ErrorCode::GoingAway, "the hub is shutting down"));
            }
        }
        let mut frame = [0u8; 5 + BatchAck::LEN];
        frame[..5].copy_from_slice(&encode_header(FrameType::BatchAck, BatchAck::LEN));
        frame[5..].copy_from_slice(&p.ack.encode());
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

/// Reads, validates and queues batches until the stream ends or a frame
/// is bad, handing each batch's pending ack to the writer.
async fn read_batches(
    mut recv: quinn::RecvStream,
    shared: &Arc<Shared>,
    rate: Option<Arc<std::sync::Mutex<crate::auth::admission::Bucket>>>,
    acks: mpsc::Sender<PendingAck>,
) -> Result<(), Close> {
    let limits = &shared.config.limits;
    let max_events = limits.max_batch_events as usize;
    let max_future = limits.max_future.as_millis() as i64;
    let max_past = limits.max_past.as_millis() as i64;
    let shards = shared.runtime.partitions();
    let mut buf = AlignedVec::new();
    let mut parts: Vec<Vec<_>> = vec![Vec::new(); shards];
    let mut cells = CellCache::new(65_536);
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
        let mut first_reject = None;
        let mut accepted = 0u32;
        // Over the token's rate: the tail of the batch is refused, to be
        // sent again (the ack says how many and why).
        let allowed = match &rate {
            Some(bucket) => bucket
                .lock()
                .expect("bucket lock")
                .take(batch.events.len() as u32, clock::instant())
                as usize,
            None => usize::MAX,
        };
        for (i, e) in batch.events.iter().enumerate() {
            let checked = if i < allowed {
                e.validate_cached(bounds, &mut cells)
            } else {
                Err(RejectReason::RateLimited)
            };
            match checked {
                Ok(event) => {
                    received
                        [event.source.index() * Category::ALL.len() + event.category.index()] += 1;
                    accepted += 1;
                    parts[shard_of(event.cell, shards)].push(event);
                }
                Err(reason) => {
                    rejected[reason as usize - 1] += 1;
                    first_reject.get_or_insert(reason);
                }
            }
        }
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
            let (done, part_durable) = oneshot::channel();
            durable.push(part_durable);
            let batch = ShardMsg::Events(ShardBatch {
                arrival,
                events,
                done: Some(done),
            });
            shared.runtime.publish(i, batch).await?;
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
